//! The dynamic form of select: build a `Select` from any number of operations chosen at run
//! time, wait for one, then read its outcome from the `SelectedOperation`.

use std::fmt;
use std::time::{Duration, Instant};

use crate::engine::{run_select, Case};
use crate::errors::{RecvError, SelectTimeoutError, SendError, TrySelectError};

/// A channel receiver that can take part in a select (implemented by `channels::Receiver`).
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

/// The outcome of a completed case, taken once.
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

/// A select over operations added at run time.
///
/// As in Go, a send's value is given when the operation is added; if another operation is
/// chosen, the value is dropped with the `Select`.
///
/// ```
/// use select::Select;
/// let (tx1, rx1) = channels::bounded::<i32>(1);
/// let (_tx2, rx2) = channels::bounded::<i32>(1);
/// tx1.send(7).unwrap();
/// let mut sel = Select::new();
/// let a = sel.recv(&rx1);
/// let b = sel.recv(&rx2);
/// let op = sel.select();
/// assert_eq!(op.index(), a);
/// assert_ne!(op.index(), b);
/// assert_eq!(op.recv(&rx1), Ok(7));
/// ```
#[derive(Default)]
pub struct Select<'a> {
    cases: Vec<Box<dyn AnyCase<'a> + 'a>>,
}

impl fmt::Debug for Select<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Select")
            .field("operations", &self.cases.len())
            .finish()
    }
}

impl<'a> Select<'a> {
    /// An empty select.
    pub fn new() -> Select<'a> {
        Select { cases: Vec::new() }
    }

    /// Adds a receive; returns its index.
    pub fn recv<R: SelectRecv>(&mut self, r: &'a R) -> usize {
        self.cases.push(Box::new(r.recv_case()));
        self.cases.len() - 1
    }

    /// Adds a send of `value`; returns its index.
    pub fn send<S: SelectSend>(&mut self, s: &'a S, value: S::Item) -> usize {
        self.cases.push(Box::new(s.send_case(value)));
        self.cases.len() - 1
    }

    fn run(&mut self, deadline: Option<Instant>, nonblocking: bool) -> Option<usize> {
        let cases: Vec<&dyn Case> = self.cases.iter().map(|c| &**c as &dyn Case).collect();
        run_select(&cases, deadline, nonblocking)
    }

    fn selected(&mut self, index: usize) -> SelectedOperation<'_, 'a> {
        SelectedOperation {
            case: &*self.cases[index],
            index,
        }
    }

    /// Blocks until one operation completes and returns it. With no operations, blocks forever.
    pub fn select(&mut self) -> SelectedOperation<'_, 'a> {
        let i = self
            .run(None, false)
            .expect("a select without deadline always completes");
        self.selected(i)
    }

    /// Completes a ready operation if there is one, without blocking.
    pub fn try_select(&mut self) -> Result<SelectedOperation<'_, 'a>, TrySelectError> {
        match self.run(None, true) {
            Some(i) => Ok(self.selected(i)),
            None => Err(TrySelectError),
        }
    }

    /// Like `select`, giving up after `timeout`.
    pub fn select_timeout(
        &mut self,
        timeout: Duration,
    ) -> Result<SelectedOperation<'_, 'a>, SelectTimeoutError> {
        self.select_deadline(Instant::now().checked_add(timeout))
    }

    /// Like `select`, giving up at `deadline` (`None`: never).
    pub fn select_deadline(
        &mut self,
        deadline: Option<Instant>,
    ) -> Result<SelectedOperation<'_, 'a>, SelectTimeoutError> {
        match self.run(deadline, false) {
            Some(i) => Ok(self.selected(i)),
            None => Err(SelectTimeoutError),
        }
    }
}

/// The operation a select completed; read its outcome with `recv` or `send`.
pub struct SelectedOperation<'s, 'a> {
    case: &'s (dyn AnyCase<'a> + 'a),
    index: usize,
}

impl fmt::Debug for SelectedOperation<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SelectedOperation")
            .field("index", &self.index)
            .finish()
    }
}

impl<'s, 'a> SelectedOperation<'s, 'a> {
    /// The index `Select::recv`/`Select::send` returned for this operation.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The received value (or `Err` if the channel was closed).
    ///
    /// # Panics
    /// If `r` is not the receiver of the selected operation.
    pub fn recv<R: SelectRecv>(self, r: &'a R) -> Result<R::Item, RecvError> {
        assert!(
            self.case.key() == (r.channel_key(), false),
            "SelectedOperation::recv called with the wrong receiver"
        );
        // SAFETY: the keys match: same channel (hence same item type) and a receive, so the
        // selected case was built by `R::recv_case` and has type `R::Case<'a>`.
        let case = unsafe { &*(self.case.as_any_ptr() as *const R::Case<'a>) };
        case.take_outcome()
    }

    /// The send's result (`Err` with the value if the channel was closed).
    ///
    /// # Panics
    /// If `s` is not the sender of the selected operation.
    pub fn send<S: SelectSend>(self, s: &'a S) -> Result<(), SendError<S::Item>> {
        assert!(
            self.case.key() == (s.channel_key(), true),
            "SelectedOperation::send called with the wrong sender"
        );
        // SAFETY: as in `recv`: same channel and a send, so the case is an `S::Case<'a>`.
        let case = unsafe { &*(self.case.as_any_ptr() as *const S::Case<'a>) };
        case.take_outcome()
    }
}
