//! The dynamic form of select: build a `Select` from any number of operations chosen at run
//! time, wait for one, then read its outcome from the `SelectedOperation`.

use std::fmt;
use std::time::{Duration, Instant};

use crate::engine::{run_ready, run_select, Case};
use crate::errors::{
    ReadyTimeoutError, RecvError, SelectTimeoutError, SendError, TryReadyError, TrySelectError,
};

/// A channel receiver that can take part in a select (implemented by `channels::Receiver`).
// Public for greenchan-channels and the `select!` expansion only; not part of the API.
// Hidden here, not only at the re-export, so that its impls on the channel ends are hidden too.
#[doc(hidden)]
pub trait SelectRecv {
    /// What it receives.
    type Item;
    /// The case it contributes, holding the received value once completed.
    type Case<'a>: Case + CaseOutcome<Output = Result<Self::Item, RecvError>>
    where
        Self: 'a;
    /// A receive case on this receiver.
    fn recv_case(&self) -> Self::Case<'_>;
    /// The identity of the channel (the same for all its handles), as in `Case::key`.
    fn channel_key(&self) -> usize;
}

/// A channel sender that can take part in a select (implemented by `channels::Sender`).
// Public for greenchan-channels and the `select!` expansion only; not part of the API.
// Hidden here, not only at the re-export, so that its impls on the channel ends are hidden too.
#[doc(hidden)]
pub trait SelectSend {
    /// What it sends.
    type Item;
    /// The case it contributes, holding the value until it is sent.
    type Case<'a>: Case + CaseOutcome<Output = Result<(), SendError<Self::Item>>>
    where
        Self: 'a;
    /// A send case of `value` on this sender.
    fn send_case(&self, value: Self::Item) -> Self::Case<'_>;
    /// The identity of the channel (the same for all its handles), as in `Case::key`.
    fn channel_key(&self) -> usize;
}

/// A reference to a receiver selects as the receiver does, so that `sel.recv(r)` takes a
/// `&&Receiver` (from iterating over a `Vec<&Receiver>`), as crossbeam-channel's does.
///
/// ```
/// let (tx, rx) = greenchan::chan::unbounded::<i32>();
/// let refs = vec![&rx];
/// let mut sel = greenchan::Select::new();
/// for r in &refs {
///     sel.recv(r);
/// }
/// tx.send(1).unwrap();
/// assert_eq!(sel.select().recv(refs[0]), Ok(1));
/// ```
impl<R: SelectRecv + ?Sized> SelectRecv for &R {
    type Item = R::Item;
    type Case<'a>
        = R::Case<'a>
    where
        Self: 'a;
    fn recv_case(&self) -> Self::Case<'_> {
        (**self).recv_case()
    }
    fn channel_key(&self) -> usize {
        (**self).channel_key()
    }
}

/// A reference to a sender selects as the sender does.
///
/// ```
/// let (tx, rx) = greenchan::chan::unbounded::<i32>();
/// let refs = vec![&tx];
/// let mut sel = greenchan::Select::new();
/// sel.send(&refs[0], 2);
/// sel.select().send(refs[0]).unwrap();
/// assert_eq!(rx.recv(), Ok(2));
/// ```
impl<S: SelectSend + ?Sized> SelectSend for &S {
    type Item = S::Item;
    type Case<'a>
        = S::Case<'a>
    where
        Self: 'a;
    fn send_case(&self, value: S::Item) -> Self::Case<'_> {
        (**self).send_case(value)
    }
    fn channel_key(&self) -> usize {
        (**self).channel_key()
    }
}

/// The outcome of a completed case, taken once.
// Public for greenchan-channels and the `select!` expansion only; not part of the API.
// Hidden here, not only at the re-export, so that its impls on the channel ends are hidden too.
#[doc(hidden)]
pub trait CaseOutcome {
    /// The operation's result.
    type Output;
    /// Takes the result of the completed case.
    ///
    /// # Panics
    /// If the case did not complete.
    fn take_outcome(&self) -> Self::Output;
}

trait AnyCase<'a>: Case {
    fn as_any_ptr(&self) -> *const ();
}

impl<'a, C: Case + 'a> AnyCase<'a> for C {
    fn as_any_ptr(&self) -> *const () {
        self as *const C as *const ()
    }
}

/// A receiver seen through the builder: makes fresh receive cases (for `Clone`).
trait RecvSource<'a> {
    fn fresh_case(&'a self) -> Box<dyn AnyCase<'a> + 'a>;
}

impl<'a, R: SelectRecv + 'a> RecvSource<'a> for R {
    fn fresh_case(&'a self) -> Box<dyn AnyCase<'a> + 'a> {
        Box::new(self.recv_case())
    }
}

/// One operation of a `Select`.
struct Op<'a> {
    /// The index `recv`/`send` returned; stays the same when others are removed.
    index: usize,
    /// `None` for a send operation copied by `Clone` (its value stays with the original).
    case: Option<Box<dyn AnyCase<'a> + 'a>>,
    /// Where a receive operation came from; `None` for a send.
    source: Option<&'a dyn RecvSource<'a>>,
}

/// A select over operations added at run time, with crossbeam-channel's `Select` API.
///
/// Ready operations are chosen uniformly at random ([`Select::new`]) or in the order they were
/// added ([`Select::new_biased`]). A `Select` can be used for many selects, and cloned.
///
/// As in Go (and unlike crossbeam-channel, whose `SelectedOperation::send` takes the value), a
/// send's value is given when the operation is added, and the select sends it: the chosen
/// operation has already taken effect when [`select`](Select::select) returns, and
/// [`SelectedOperation`] only hands over its outcome. A send operation sends its value once;
/// later selects on the same `Select` pass it over (it is never ready), so to send another
/// value, [`remove`](Select::remove) it and add it again. A value whose operation was not
/// chosen is dropped with the `Select`.
///
/// ```
/// use greenchan::Select;
/// let (tx1, rx1) = greenchan::chan::bounded::<i32>(1);
/// let (_tx2, rx2) = greenchan::chan::bounded::<i32>(1);
/// tx1.send(7).unwrap();
/// let mut sel = Select::new();
/// let a = sel.recv(&rx1);
/// let b = sel.recv(&rx2);
/// let op = sel.select();
/// assert_eq!(op.index(), a);
/// assert_ne!(op.index(), b);
/// assert_eq!(op.recv(&rx1), Ok(7));
/// // The same `Select` again.
/// tx1.send(8).unwrap();
/// let op = sel.select();
/// assert_eq!(op.recv(&rx1), Ok(8));
/// ```
pub struct Select<'a> {
    ops: Vec<Op<'a>>,
    next_index: usize,
    biased: bool,
}

impl Default for Select<'_> {
    fn default() -> Self {
        Select::new()
    }
}

impl<'a> Clone for Select<'a> {
    /// A `Select` with the same operations, indices and bias. Its receive operations are
    /// fresh copies. Its send operations have no value (the value is not cloned, it stays
    /// with the original): in the copy they are never ready, as after they have sent.
    ///
    /// ```
    /// use greenchan::Select;
    /// let (tx, rx) = greenchan::chan::unbounded::<i32>();
    /// let mut base = Select::new();
    /// let r = base.recv(&rx);
    /// tx.send(1).unwrap();
    /// let mut copy = base.clone();
    /// let op = copy.select();
    /// assert_eq!(op.index(), r);
    /// assert_eq!(op.recv(&rx), Ok(1));
    /// assert!(base.try_select().is_err()); // the one value is taken
    /// ```
    fn clone(&self) -> Select<'a> {
        Select {
            ops: self
                .ops
                .iter()
                .map(|op| Op {
                    index: op.index,
                    case: op.source.map(|s| s.fresh_case()),
                    source: op.source,
                })
                .collect(),
            next_index: self.next_index,
            biased: self.biased,
        }
    }
}

impl fmt::Debug for Select<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Select")
            .field("operations", &self.ops.len())
            .field("biased", &self.biased)
            .finish()
    }
}

/// How a select waits: not at all, until a deadline, or for good.
#[derive(Clone, Copy)]
enum Wait {
    Never,
    Until(Instant),
    Forever,
}

impl Wait {
    fn timeout(timeout: Duration) -> Wait {
        match Instant::now().checked_add(timeout) {
            Some(d) => Wait::Until(d),
            None => Wait::Forever,
        }
    }

    fn deadline(self) -> Option<Instant> {
        match self {
            Wait::Until(d) => Some(d),
            _ => None,
        }
    }
}

impl<'a> Select<'a> {
    /// An empty select; when several operations are ready, one is chosen uniformly at random.
    ///
    /// ```
    /// let mut sel = greenchan::Select::new();
    /// assert!(sel.try_select().is_err()); // nothing to select
    /// ```
    pub fn new() -> Select<'a> {
        Select {
            ops: Vec::new(),
            next_index: 0,
            biased: false,
        }
    }

    /// An empty biased select: when several operations are ready, the one added first is
    /// chosen.
    ///
    /// ```
    /// let (tx1, rx1) = greenchan::chan::unbounded::<i32>();
    /// let (tx2, rx2) = greenchan::chan::unbounded::<i32>();
    /// tx1.send(1).unwrap();
    /// tx2.send(2).unwrap();
    /// let mut sel = greenchan::Select::new_biased();
    /// let first = sel.recv(&rx1);
    /// sel.recv(&rx2);
    /// let op = sel.select();
    /// assert_eq!(op.index(), first);
    /// assert_eq!(op.recv(&rx1), Ok(1));
    /// ```
    pub fn new_biased() -> Select<'a> {
        Select {
            biased: true,
            ..Select::new()
        }
    }

    /// Adds a receive; returns its index.
    ///
    /// ```
    /// let (_tx, rx) = greenchan::chan::unbounded::<i32>();
    /// let mut sel = greenchan::Select::new();
    /// assert_eq!(sel.recv(&rx), 0);
    /// assert_eq!(sel.recv(&rx), 1);
    /// ```
    pub fn recv<R: SelectRecv>(&mut self, r: &'a R) -> usize {
        let index = self.next_index;
        self.next_index += 1;
        self.ops.push(Op {
            index,
            case: Some(Box::new(r.recv_case())),
            source: Some(r),
        });
        index
    }

    /// Adds a send of `value`; returns its index. The value is sent by the select that chooses
    /// this operation, and dropped with the `Select` if none does.
    ///
    /// ```
    /// let (tx, rx) = greenchan::chan::bounded::<i32>(1);
    /// let mut sel = greenchan::Select::new();
    /// let s = sel.send(&tx, 5);
    /// let op = sel.select();
    /// assert_eq!(op.index(), s);
    /// assert_eq!(op.send(&tx), Ok(()));
    /// assert_eq!(rx.recv(), Ok(5));
    /// ```
    pub fn send<S: SelectSend>(&mut self, s: &'a S, value: S::Item) -> usize {
        let index = self.next_index;
        self.next_index += 1;
        self.ops.push(Op {
            index,
            case: Some(Box::new(s.send_case(value))),
            source: None,
        });
        index
    }

    /// Removes the operation with index `index` (its send value, if unsent, is dropped). The
    /// other operations keep their indices.
    ///
    /// # Panics
    /// If there is no operation with that index (never added, or removed already).
    ///
    /// ```
    /// let (tx1, rx1) = greenchan::chan::unbounded::<i32>();
    /// let (tx2, rx2) = greenchan::chan::unbounded::<i32>();
    /// tx1.send(1).unwrap();
    /// tx2.send(2).unwrap();
    /// let mut sel = greenchan::Select::new();
    /// let a = sel.recv(&rx1);
    /// let b = sel.recv(&rx2);
    /// sel.remove(a);
    /// let op = sel.select();
    /// assert_eq!(op.index(), b);
    /// assert_eq!(op.recv(&rx2), Ok(2));
    /// ```
    pub fn remove(&mut self, index: usize) {
        assert!(
            index < self.next_index,
            "index out of bounds; {index} >= {}",
            self.next_index
        );
        let pos = self
            .ops
            .iter()
            .position(|op| op.index == index)
            .expect("no operation with this index");
        // Keep the order: a biased select chooses by it.
        self.ops.remove(pos);
    }

    /// Runs the select; returns the position in `ops` of the chosen operation.
    fn run(&mut self, wait: Wait, ready_only: bool) -> Option<usize> {
        let mut positions = Vec::with_capacity(self.ops.len());
        let mut cases: Vec<&dyn Case> = Vec::with_capacity(self.ops.len());
        for (pos, op) in self.ops.iter().enumerate() {
            if let Some(case) = &op.case {
                positions.push(pos);
                cases.push(&**case as &dyn Case);
            }
        }
        let (deadline, nonblocking) = (wait.deadline(), matches!(wait, Wait::Never));
        let chosen = if ready_only {
            run_ready(&cases, deadline, nonblocking, self.biased)
        } else {
            run_select(&cases, deadline, nonblocking, self.biased)
        };
        chosen.map(|i| positions[i])
    }

    fn selected(&mut self, pos: usize) -> SelectedOperation<'_, 'a> {
        let op = &self.ops[pos];
        SelectedOperation {
            case: &**op.case.as_ref().expect("a chosen operation has a case"),
            index: op.index,
            consumed: false,
        }
    }

    /// Blocks until one operation completes and returns it; read its outcome with
    /// [`SelectedOperation::recv`] or [`SelectedOperation::send`]. With no operations (or
    /// only spent sends), blocks forever, as Go's empty `select {}`.
    ///
    /// ```
    /// let (tx, rx) = greenchan::chan::bounded::<i32>(0);
    /// let h = greenchan::spawn(move || tx.send(3).unwrap());
    /// let mut sel = greenchan::Select::new();
    /// sel.recv(&rx);
    /// assert_eq!(sel.select().recv(&rx), Ok(3));
    /// h.join().unwrap();
    /// ```
    pub fn select(&mut self) -> SelectedOperation<'_, 'a> {
        let pos = self
            .run(Wait::Forever, false)
            .expect("a select without deadline always completes");
        self.selected(pos)
    }

    /// Completes a ready operation if there is one, without blocking.
    ///
    /// ```
    /// let (tx, rx) = greenchan::chan::unbounded::<i32>();
    /// let mut sel = greenchan::Select::new();
    /// sel.recv(&rx);
    /// assert!(sel.try_select().is_err());
    /// tx.send(1).unwrap();
    /// assert_eq!(sel.try_select().unwrap().recv(&rx), Ok(1));
    /// ```
    pub fn try_select(&mut self) -> Result<SelectedOperation<'_, 'a>, TrySelectError> {
        match self.run(Wait::Never, false) {
            Some(pos) => Ok(self.selected(pos)),
            None => Err(TrySelectError),
        }
    }

    /// Like [`select`](Select::select), giving up after `timeout`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let (_tx, rx) = greenchan::chan::unbounded::<i32>();
    /// let mut sel = greenchan::Select::new();
    /// sel.recv(&rx);
    /// assert!(sel.select_timeout(Duration::from_millis(2)).is_err());
    /// ```
    pub fn select_timeout(
        &mut self,
        timeout: Duration,
    ) -> Result<SelectedOperation<'_, 'a>, SelectTimeoutError> {
        match self.run(Wait::timeout(timeout), false) {
            Some(pos) => Ok(self.selected(pos)),
            None => Err(SelectTimeoutError),
        }
    }

    /// Like [`select`](Select::select), giving up at `deadline`.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let (_tx, rx) = greenchan::chan::unbounded::<i32>();
    /// let mut sel = greenchan::Select::new();
    /// sel.recv(&rx);
    /// let deadline = Instant::now() + Duration::from_millis(2);
    /// assert!(sel.select_deadline(deadline).is_err());
    /// ```
    pub fn select_deadline(
        &mut self,
        deadline: Instant,
    ) -> Result<SelectedOperation<'_, 'a>, SelectTimeoutError> {
        match self.run(Wait::Until(deadline), false) {
            Some(pos) => Ok(self.selected(pos)),
            None => Err(SelectTimeoutError),
        }
    }

    /// The index of an operation that is ready now (it would complete, or report a closed
    /// channel, without blocking), completing nothing; `Err` if none is.
    ///
    /// ```
    /// let (tx, rx) = greenchan::chan::unbounded::<i32>();
    /// let mut sel = greenchan::Select::new();
    /// let r = sel.recv(&rx);
    /// assert!(sel.try_ready().is_err());
    /// tx.send(1).unwrap();
    /// assert_eq!(sel.try_ready(), Ok(r));
    /// assert_eq!(rx.try_recv(), Ok(1)); // still there: `ready` receives nothing
    /// ```
    pub fn try_ready(&mut self) -> Result<usize, TryReadyError> {
        match self.run(Wait::Never, true) {
            Some(pos) => Ok(self.ops[pos].index),
            None => Err(TryReadyError),
        }
    }

    /// Blocks until an operation is ready and returns its index, completing nothing. The
    /// operation may have stopped being ready by the time the caller acts (another party took
    /// the value): try it without blocking, and ask again if it is not. With no operations,
    /// blocks forever.
    ///
    /// ```
    /// let (tx, rx) = greenchan::chan::bounded::<i32>(0);
    /// let h = greenchan::spawn(move || tx.send(4).unwrap());
    /// let mut sel = greenchan::Select::new();
    /// sel.recv(&rx);
    /// let got = loop {
    ///     sel.ready();
    ///     if let Ok(v) = rx.try_recv() {
    ///         break v;
    ///     }
    /// };
    /// assert_eq!(got, 4);
    /// h.join().unwrap();
    /// ```
    pub fn ready(&mut self) -> usize {
        let pos = self
            .run(Wait::Forever, true)
            .expect("a wait without deadline always ends ready");
        self.ops[pos].index
    }

    /// Like [`ready`](Select::ready), giving up after `timeout`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let (_tx, rx) = greenchan::chan::unbounded::<i32>();
    /// let mut sel = greenchan::Select::new();
    /// sel.recv(&rx);
    /// assert!(sel.ready_timeout(Duration::from_millis(2)).is_err());
    /// ```
    pub fn ready_timeout(&mut self, timeout: Duration) -> Result<usize, ReadyTimeoutError> {
        match self.run(Wait::timeout(timeout), true) {
            Some(pos) => Ok(self.ops[pos].index),
            None => Err(ReadyTimeoutError),
        }
    }

    /// Like [`ready`](Select::ready), giving up at `deadline`.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let (_tx, rx) = greenchan::chan::unbounded::<i32>();
    /// let mut sel = greenchan::Select::new();
    /// sel.recv(&rx);
    /// let deadline = Instant::now() + Duration::from_millis(2);
    /// assert!(sel.ready_deadline(deadline).is_err());
    /// ```
    pub fn ready_deadline(&mut self, deadline: Instant) -> Result<usize, ReadyTimeoutError> {
        match self.run(Wait::Until(deadline), true) {
            Some(pos) => Ok(self.ops[pos].index),
            None => Err(ReadyTimeoutError),
        }
    }
}

/// The operation a select completed; read its outcome with `recv` or `send`.
///
/// The operation has already taken effect: the value was received or sent when the select
/// chose it. Dropping this without calling `recv` or `send` panics (as crossbeam-channel's
/// does), because a received value would be lost.
pub struct SelectedOperation<'s, 'a> {
    case: &'s (dyn AnyCase<'a> + 'a),
    index: usize,
    consumed: bool,
}

impl fmt::Debug for SelectedOperation<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SelectedOperation")
            .field("index", &self.index)
            .finish()
    }
}

impl Drop for SelectedOperation<'_, '_> {
    fn drop(&mut self) {
        if !self.consumed && !std::thread::panicking() {
            panic!("dropped `SelectedOperation` without reading its outcome with `recv` or `send`");
        }
    }
}

impl<'s, 'a> SelectedOperation<'s, 'a> {
    /// The index `Select::recv`/`Select::send` returned for this operation.
    ///
    /// ```
    /// let (tx, rx) = greenchan::chan::unbounded::<i32>();
    /// tx.send(1).unwrap();
    /// let mut sel = greenchan::Select::new();
    /// let r = sel.recv(&rx);
    /// let op = sel.select();
    /// assert_eq!(op.index(), r);
    /// op.recv(&rx).unwrap();
    /// ```
    pub fn index(&self) -> usize {
        self.index
    }

    /// The received value (or `Err` if the channel was closed).
    ///
    /// # Panics
    /// If `r` is not the receiver of the selected operation.
    ///
    /// ```
    /// let (tx, rx) = greenchan::chan::unbounded::<i32>();
    /// drop(tx);
    /// let mut sel = greenchan::Select::new();
    /// sel.recv(&rx);
    /// assert!(sel.select().recv(&rx).is_err()); // closed
    /// ```
    pub fn recv<R: SelectRecv + 'a>(mut self, r: &R) -> Result<R::Item, RecvError> {
        assert!(
            self.case.key() == (r.channel_key(), false),
            "SelectedOperation::recv called with the wrong receiver"
        );
        self.consumed = true;
        // SAFETY: the keys match: same channel (hence same item type) and a receive, so the
        // selected case was built by `R::recv_case` and has type `R::Case<'a>`.
        let case = unsafe { &*(self.case.as_any_ptr() as *const R::Case<'a>) };
        case.take_outcome()
    }

    /// The send's result (`Err` with the value if the channel was closed).
    ///
    /// # Panics
    /// If `s` is not the sender of the selected operation.
    ///
    /// ```
    /// let (tx, rx) = greenchan::chan::unbounded::<i32>();
    /// drop(rx);
    /// let mut sel = greenchan::Select::new();
    /// sel.send(&tx, 9);
    /// assert_eq!(sel.select().send(&tx).unwrap_err().into_inner(), 9);
    /// ```
    pub fn send<S: SelectSend + 'a>(mut self, s: &S) -> Result<(), SendError<S::Item>> {
        assert!(
            self.case.key() == (s.channel_key(), true),
            "SelectedOperation::send called with the wrong sender"
        );
        self.consumed = true;
        // SAFETY: as in `recv`: same channel and a send, so the case is an `S::Case<'a>`.
        let case = unsafe { &*(self.case.as_any_ptr() as *const S::Case<'a>) };
        case.take_outcome()
    }
}
