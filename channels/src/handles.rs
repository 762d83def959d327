//! `Sender` and `Receiver`: the handles users hold, their blocking, non-blocking and timed
//! operations, and the close rules (any sender may close; the last sender's drop closes; the
//! last receiver's drop closes too, so senders stop with `Err` instead of filling a channel
//! nobody reads).
//!
//! A blocking operation first tries under the lock and, in the same critical section, parks a
//! waiter in the channel's queue if it cannot complete: one lock round trip for the common
//! case, as in Go.

use std::fmt;
use std::iter::FusedIterator;
use std::panic::{RefUnwindSafe, UnwindSafe};
use std::time::{Duration, Instant};

use green::CachedArc;
use select::sync::{ChanArc, Ordering};
use select::{
    OwnedWaiter, QueueKey, RecvError, RecvTimeoutError, SendError, SendTimeoutError, TryRecvError,
    TrySendError, Waiter,
};

use crate::chan::{wake, Chan, Received, Sent};
use crate::time::{At, Tick};

/// A parked operation's entry in a channel queue; dropping this removes it unless a claimer
/// took it (the waiter is done). Declared after the waiter and the slot, it runs first when
/// the frame ends, normally or by unwinding, so no entry outlives either.
struct Parked<'a, T> {
    chan: &'a Chan<T>,
    waiter: &'a Waiter,
    key: QueueKey,
    send: bool,
}

impl<T> Drop for Parked<'_, T> {
    fn drop(&mut self) {
        if self.waiter.is_done() {
            return; // the claimer removed the entry
        }
        let mut st = self.chan.lock();
        let queue = if self.send {
            &mut st.sendq
        } else {
            &mut st.recvq
        };
        queue.remove(self.key, self.waiter, 0);
    }
}

/// The sending half of a channel. Clone it for more senders.
///
/// ```
/// let (tx, rx) = greenchan::chan::unbounded();
/// let tx2 = tx.clone();
/// tx.send(1).unwrap();
/// tx2.send(2).unwrap();
/// assert_eq!(rx.recv(), Ok(1));
/// assert_eq!(rx.recv(), Ok(2));
/// ```
pub struct Sender<T> {
    pub(crate) chan: ChanArc<Chan<T>>,
}

/// The receiving half of a channel. Clone it for more receivers; each value goes to one.
///
/// ```
/// let (tx, rx) = greenchan::chan::bounded(2);
/// tx.send("a").unwrap();
/// drop(tx); // the last sender closes the channel
/// assert_eq!(rx.recv(), Ok("a"));
/// assert!(rx.recv().is_err());
/// ```
pub struct Receiver<T> {
    pub(crate) flavor: Flavor<T>,
}

/// What a receiver receives from.
pub(crate) enum Flavor<T> {
    /// A channel with senders.
    Chan(ChanArc<Chan<T>>),
    /// `after`/`at`: one instant, computed from the clock (see `time`).
    At(CachedArc<At<T>>),
    /// `tick`: an instant per period, computed from the clock.
    Tick(CachedArc<Tick<T>>),
    /// `never()`: nothing, ever (Go's nil channel).
    Never,
}

// Channels are unwind safe, as crossbeam-channel's: their critical sections run no user code
// that could panic half-way through an update (values are only moved under the lock, never
// dropped), so a panic elsewhere can never leave a channel inconsistent for others to see.
impl<T> UnwindSafe for Sender<T> {}
impl<T> RefUnwindSafe for Sender<T> {}
impl<T> UnwindSafe for Receiver<T> {}
impl<T> RefUnwindSafe for Receiver<T> {}

/// A channel with room for `cap` values; `bounded(0)` is a rendezvous channel (Go's
/// unbuffered channel): a send completes only when a receiver takes the value.
///
/// ```
/// let (tx, rx) = greenchan::chan::bounded(0);
/// let h = greenchan::spawn(move || tx.send(42).unwrap());
/// assert_eq!(rx.recv(), Ok(42));
/// h.join().unwrap();
/// ```
pub fn bounded<T>(cap: usize) -> (Sender<T>, Receiver<T>) {
    let chan = ChanArc::new(Chan::new(cap));
    (
        Sender { chan: chan.clone() },
        Receiver::from_flavor(Flavor::Chan(chan)),
    )
}

/// A channel without a capacity limit: `send` never blocks.
///
/// ```
/// let (tx, rx) = greenchan::chan::unbounded();
/// for i in 0..1000 {
///     tx.send(i).unwrap();
/// }
/// assert_eq!(rx.len(), 1000);
/// ```
pub fn unbounded<T>() -> (Sender<T>, Receiver<T>) {
    bounded(usize::MAX)
}

/// A receiver that never receives anything and never closes: Go's nil channel, for disabling
/// a select arm. It costs nothing (no allocation).
///
/// ```
/// use std::time::Duration;
/// use greenchan::chan::{never, unbounded};
/// use greenchan::select;
/// let rx = never::<i32>();
/// assert!(rx.recv_timeout(Duration::from_millis(1)).unwrap_err().is_timeout());
///
/// // An optional channel in a select: a missing one never fires.
/// let (tx, r1) = unbounded::<i32>();
/// let r2: Option<greenchan::chan::Receiver<i32>> = None;
/// tx.send(1).unwrap();
/// let got = select! {
///     recv(r1) -> v => v.unwrap(),
///     recv(r2.as_ref().unwrap_or(&never())) -> _ => unreachable!(),
/// };
/// assert_eq!(got, 1);
/// ```
pub const fn never<T>() -> Receiver<T> {
    Receiver {
        flavor: Flavor::Never,
    }
}

impl<T> Sender<T> {
    /// Sends `value`, blocking (parking the coroutine) while the channel is full. Returns the
    /// value in the error if the channel is closed or every receiver is gone.
    ///
    /// ```
    /// let (tx, rx) = greenchan::chan::bounded(1);
    /// tx.send(1).unwrap();
    /// tx.close();
    /// assert_eq!(tx.send(2).unwrap_err().into_inner(), 2);
    /// assert_eq!(rx.recv(), Ok(1));
    /// ```
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        match self.send_until(value, None) {
            Ok(()) => Ok(()),
            Err(SendTimeoutError::Closed(v)) => Err(SendError(v)),
            Err(SendTimeoutError::Timeout(_)) => unreachable!("no deadline"),
        }
    }

    /// Sends without blocking.
    ///
    /// ```
    /// let (tx, _rx) = greenchan::chan::bounded(1);
    /// assert!(tx.try_send(1).is_ok());
    /// assert!(tx.try_send(2).unwrap_err().is_full());
    /// ```
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        preempt_point();
        let (outcome, woken) = {
            let mut st = self.chan.lock();
            match self.chan.send_locked(&mut st, value, None) {
                Sent::Done(w) => (Ok(()), w),
                Sent::Closed(v) => (Err(TrySendError::Closed(v)), None),
                Sent::Full(v) => (Err(TrySendError::Full(v)), None),
            }
        };
        wake(woken);
        outcome
    }

    /// Sends, waiting at most `timeout`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let (tx, _rx) = greenchan::chan::bounded(0);
    /// let e = tx.send_timeout(5, Duration::from_millis(2)).unwrap_err();
    /// assert!(e.is_timeout());
    /// assert_eq!(e.into_inner(), 5);
    /// ```
    pub fn send_timeout(&self, value: T, timeout: Duration) -> Result<(), SendTimeoutError<T>> {
        self.send_until(value, Instant::now().checked_add(timeout))
    }

    /// Sends, waiting until `deadline` at the latest.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let (tx, rx) = greenchan::chan::bounded(1);
    /// let soon = Instant::now() + Duration::from_millis(2);
    /// assert!(tx.send_deadline(1, soon).is_ok());
    /// assert!(tx.send_deadline(2, soon).unwrap_err().is_timeout()); // full
    /// assert_eq!(rx.recv(), Ok(1));
    /// ```
    pub fn send_deadline(&self, value: T, deadline: Instant) -> Result<(), SendTimeoutError<T>> {
        self.send_until(value, Some(deadline))
    }

    fn send_until(&self, value: T, deadline: Option<Instant>) -> Result<(), SendTimeoutError<T>> {
        let mut slot = Some(value);
        let (waiter, key) = {
            let mut st = self.chan.lock();
            let value = slot.take().expect("just put");
            match self.chan.send_locked(&mut st, value, None) {
                Sent::Done(w) => {
                    drop(st);
                    wake(w);
                    preempt_point();
                    return Ok(());
                }
                Sent::Closed(v) => {
                    drop(st);
                    preempt_point();
                    return Err(SendTimeoutError::Closed(v));
                }
                Sent::Full(v) => {
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        drop(st);
                        preempt_point();
                        return Err(SendTimeoutError::Timeout(v));
                    }
                    slot = Some(v);
                    let waiter = OwnedWaiter::new(deadline.is_none());
                    let key =
                        st.push_sender(waiter.entry(0, &mut slot as *mut Option<T> as *mut ()));
                    (waiter, key)
                }
            }
        };
        let parked = Parked {
            chan: &self.chan,
            waiter: &waiter,
            key,
            send: true,
        };
        #[cfg(not(loom))]
        let _waiting = green::waiting_on(green::WaitReason::ChanSend);
        let claimed = waiter.wait(deadline).is_some();
        drop(parked);
        if claimed {
            // A receiver took it, or a close left it with us.
            match slot.take() {
                None => Ok(()),
                Some(v) => Err(SendTimeoutError::Closed(v)),
            }
        } else {
            Err(SendTimeoutError::Timeout(
                slot.take().expect("an unclaimed send keeps its value"),
            ))
        }
    }

    /// Closes the channel: receivers drain what is buffered, then get `Err`; sends fail.
    /// Returns false if it was already closed (closing twice is harmless).
    ///
    /// ```
    /// let (tx, rx) = greenchan::chan::unbounded::<()>();
    /// assert!(tx.close());
    /// assert!(!tx.close());
    /// assert!(rx.is_closed());
    /// ```
    pub fn close(&self) -> bool {
        self.chan.close()
    }

    /// True once the channel is closed.
    ///
    /// ```
    /// let (tx, rx) = greenchan::chan::unbounded::<i32>();
    /// assert!(!tx.is_closed());
    /// drop(rx); // the last receiver's drop closes it too
    /// assert!(tx.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.chan.is_closed()
    }

    /// Values buffered now.
    ///
    /// ```
    /// let (tx, _rx) = greenchan::chan::bounded(2);
    /// tx.send(1).unwrap();
    /// assert_eq!(tx.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.chan.lock().buf.len()
    }

    /// True if nothing is buffered.
    ///
    /// ```
    /// let (tx, _rx) = greenchan::chan::bounded::<i32>(2);
    /// assert!(tx.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True if a send would block now for lack of room (always true for rendezvous).
    ///
    /// ```
    /// let (tx, _rx) = greenchan::chan::bounded(1);
    /// assert!(!tx.is_full());
    /// tx.send(1).unwrap();
    /// assert!(tx.is_full());
    /// assert!(greenchan::chan::bounded::<i32>(0).0.is_full());
    /// ```
    pub fn is_full(&self) -> bool {
        self.len() >= self.chan.cap
    }

    /// The capacity; `None` for unbounded.
    ///
    /// ```
    /// assert_eq!(greenchan::chan::bounded::<i32>(3).0.capacity(), Some(3));
    /// assert_eq!(greenchan::chan::unbounded::<i32>().0.capacity(), None);
    /// ```
    pub fn capacity(&self) -> Option<usize> {
        (self.chan.cap != usize::MAX).then_some(self.chan.cap)
    }

    /// True if both handles belong to the same channel.
    ///
    /// ```
    /// let (tx, _rx) = greenchan::chan::unbounded::<i32>();
    /// assert!(tx.same_channel(&tx.clone()));
    /// assert!(!tx.same_channel(&greenchan::chan::unbounded().0));
    /// ```
    pub fn same_channel(&self, other: &Sender<T>) -> bool {
        ChanArc::ptr_eq(&self.chan, &other.chan)
    }
}

impl<T> Receiver<T> {
    /// Receives a value, blocking (parking the coroutine) while the channel is empty. After a
    /// close, buffered values still come out; then `Err(RecvError)`.
    ///
    /// ```
    /// let (tx, rx) = greenchan::chan::bounded(1);
    /// greenchan::spawn(move || tx.send(9).unwrap());
    /// assert_eq!(rx.recv(), Ok(9));
    /// ```
    pub fn recv(&self) -> Result<T, RecvError> {
        self.recv_until(None).map_err(|_| RecvError)
    }

    /// Receives without blocking.
    ///
    /// ```
    /// let (tx, rx) = greenchan::chan::unbounded();
    /// assert!(rx.try_recv().unwrap_err().is_empty());
    /// tx.send(1).unwrap();
    /// assert_eq!(rx.try_recv(), Ok(1));
    /// ```
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        preempt_point();
        let chan = match &self.flavor {
            Flavor::Chan(chan) => chan,
            Flavor::At(at) => return at.try_take().ok_or(TryRecvError::Empty),
            Flavor::Tick(tick) => return tick.try_take().ok_or(TryRecvError::Empty),
            Flavor::Never => return Err(TryRecvError::Empty),
        };
        let outcome = chan.recv_locked(&mut chan.lock(), None);
        match outcome {
            Received::Value(v, w) => {
                wake(w);
                Ok(v)
            }
            Received::Closed => Err(TryRecvError::Closed),
            Received::Empty => Err(TryRecvError::Empty),
        }
    }

    /// Receives, waiting at most `timeout`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let (_tx, rx) = greenchan::chan::bounded::<i32>(1);
    /// assert!(rx.recv_timeout(Duration::from_millis(2)).unwrap_err().is_timeout());
    /// ```
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        self.recv_until(Instant::now().checked_add(timeout))
    }

    /// Receives, waiting until `deadline` at the latest.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let (tx, rx) = greenchan::chan::unbounded();
    /// let soon = Instant::now() + Duration::from_millis(2);
    /// assert!(rx.recv_deadline(soon).unwrap_err().is_timeout());
    /// tx.send(1).unwrap();
    /// assert_eq!(rx.recv_deadline(soon), Ok(1));
    /// ```
    pub fn recv_deadline(&self, deadline: Instant) -> Result<T, RecvTimeoutError> {
        self.recv_until(Some(deadline))
    }

    fn recv_until(&self, deadline: Option<Instant>) -> Result<T, RecvTimeoutError> {
        let chan = match &self.flavor {
            Flavor::Chan(chan) => chan,
            Flavor::At(at) => {
                let received = at.recv_until(deadline);
                preempt_point();
                return received;
            }
            Flavor::Tick(tick) => {
                let received = tick.recv_until(deadline);
                preempt_point();
                return received;
            }
            Flavor::Never => {
                // Wait out the deadline, or forever.
                let waiter = OwnedWaiter::new(false);
                waiter.wait(deadline);
                preempt_point();
                return Err(RecvTimeoutError::Timeout);
            }
        };
        let mut slot: Option<T> = None;
        let (waiter, key) = {
            let mut st = chan.lock();
            match chan.recv_locked(&mut st, None) {
                Received::Value(v, w) => {
                    drop(st);
                    wake(w);
                    preempt_point();
                    return Ok(v);
                }
                Received::Closed => {
                    drop(st);
                    preempt_point();
                    return Err(RecvTimeoutError::Closed);
                }
                Received::Empty => {
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        drop(st);
                        preempt_point();
                        return Err(RecvTimeoutError::Timeout);
                    }
                    let waiter = OwnedWaiter::new(deadline.is_none());
                    let key =
                        st.push_receiver(waiter.entry(0, &mut slot as *mut Option<T> as *mut ()));
                    (waiter, key)
                }
            }
        };
        let parked = Parked {
            chan,
            waiter: &waiter,
            key,
            send: false,
        };
        #[cfg(not(loom))]
        let _waiting = green::waiting_on(green::WaitReason::ChanReceive);
        let claimed = waiter.wait(deadline).is_some();
        drop(parked);
        if claimed {
            // A sender filled the slot, or a close left it empty.
            slot.take().ok_or(RecvTimeoutError::Closed)
        } else {
            Err(RecvTimeoutError::Timeout)
        }
    }

    /// A blocking iterator over received values; it ends when the channel is closed and
    /// drained.
    ///
    /// ```
    /// let (tx, rx) = greenchan::chan::unbounded();
    /// for i in 0..3 {
    ///     tx.send(i).unwrap();
    /// }
    /// drop(tx);
    /// assert_eq!(rx.iter().collect::<Vec<_>>(), vec![0, 1, 2]);
    /// ```
    pub fn iter(&self) -> Iter<'_, T> {
        Iter { rx: self }
    }

    /// An iterator over the values available now.
    ///
    /// ```
    /// let (tx, rx) = greenchan::chan::unbounded();
    /// tx.send(1).unwrap();
    /// tx.send(2).unwrap();
    /// assert_eq!(rx.try_iter().sum::<i32>(), 3);
    /// ```
    pub fn try_iter(&self) -> TryIter<'_, T> {
        TryIter { rx: self }
    }

    /// Closes the channel (as `Sender::close`); false if it already was. Timer channels
    /// (`after`, `at`, `tick`) and `never()` have nothing to close: false, nothing changes.
    ///
    /// ```
    /// let (tx, rx) = greenchan::chan::unbounded::<i32>();
    /// assert!(rx.close());
    /// assert!(tx.send(1).is_err());
    /// assert!(!greenchan::chan::never::<i32>().close());
    /// ```
    pub fn close(&self) -> bool {
        match &self.flavor {
            Flavor::Chan(c) => c.close(),
            _ => false,
        }
    }

    /// True once the channel is closed (never for timers and `never()`).
    ///
    /// ```
    /// let (tx, rx) = greenchan::chan::unbounded::<i32>();
    /// drop(tx); // the last sender's drop closes it
    /// assert!(rx.is_closed());
    /// assert!(!greenchan::chan::after(std::time::Duration::ZERO).is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        match &self.flavor {
            Flavor::Chan(c) => c.is_closed(),
            _ => false,
        }
    }

    /// Values buffered now; for a timer channel, 1 if an instant is ready to be received.
    ///
    /// ```
    /// let (tx, rx) = greenchan::chan::unbounded();
    /// tx.send(1).unwrap();
    /// assert_eq!(rx.len(), 1);
    /// assert_eq!(greenchan::chan::after(std::time::Duration::ZERO).len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        match &self.flavor {
            Flavor::Chan(c) => c.lock().buf.len(),
            Flavor::At(at) => usize::from(at.is_ready()),
            Flavor::Tick(tick) => usize::from(tick.is_ready()),
            Flavor::Never => 0,
        }
    }

    /// True if nothing is buffered (or no instant is ready).
    ///
    /// ```
    /// let (_tx, rx) = greenchan::chan::unbounded::<i32>();
    /// assert!(rx.is_empty());
    /// assert!(greenchan::chan::after(std::time::Duration::from_secs(60)).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True if the buffer is full (always for rendezvous and `never()`; for a timer channel,
    /// when an instant is ready).
    ///
    /// ```
    /// let (tx, rx) = greenchan::chan::bounded(1);
    /// tx.send(1).unwrap();
    /// assert!(rx.is_full());
    /// assert!(greenchan::chan::after(std::time::Duration::ZERO).is_full());
    /// ```
    pub fn is_full(&self) -> bool {
        match &self.flavor {
            Flavor::Chan(c) => c.lock().buf.len() >= c.cap,
            Flavor::At(at) => at.is_ready(),
            Flavor::Tick(tick) => tick.is_ready(),
            Flavor::Never => true,
        }
    }

    /// The capacity; `None` for unbounded, 1 for timer channels, 0 for `never()`.
    ///
    /// ```
    /// assert_eq!(greenchan::chan::unbounded::<i32>().1.capacity(), None);
    /// assert_eq!(greenchan::chan::tick(std::time::Duration::from_secs(1)).capacity(), Some(1));
    /// assert_eq!(greenchan::chan::never::<i32>().capacity(), Some(0));
    /// ```
    pub fn capacity(&self) -> Option<usize> {
        match &self.flavor {
            Flavor::Chan(c) => (c.cap != usize::MAX).then_some(c.cap),
            Flavor::At(_) | Flavor::Tick(_) => Some(1),
            Flavor::Never => Some(0),
        }
    }

    /// True if both handles belong to the same channel (all `never()` receivers are one).
    ///
    /// ```
    /// let rx = greenchan::chan::after(std::time::Duration::from_secs(1));
    /// assert!(rx.same_channel(&rx.clone()));
    /// assert!(!rx.same_channel(&greenchan::chan::after(std::time::Duration::from_secs(1))));
    /// ```
    pub fn same_channel(&self, other: &Receiver<T>) -> bool {
        match (&self.flavor, &other.flavor) {
            (Flavor::Chan(a), Flavor::Chan(b)) => ChanArc::ptr_eq(a, b),
            (Flavor::At(a), Flavor::At(b)) => CachedArc::ptr_eq(a, b),
            (Flavor::Tick(a), Flavor::Tick(b)) => CachedArc::ptr_eq(a, b),
            (Flavor::Never, Flavor::Never) => true,
            _ => false,
        }
    }

    pub(crate) fn from_flavor(flavor: Flavor<T>) -> Receiver<T> {
        Receiver { flavor }
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.chan.senders.fetch_add(1, Ordering::Relaxed);
        Sender {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        if self.chan.senders.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.chan.close();
        }
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        let flavor = match &self.flavor {
            Flavor::Chan(c) => {
                c.receivers.fetch_add(1, Ordering::Relaxed);
                Flavor::Chan(c.clone())
            }
            Flavor::At(at) => Flavor::At(at.clone()),
            Flavor::Tick(tick) => Flavor::Tick(tick.clone()),
            Flavor::Never => Flavor::Never,
        };
        Receiver { flavor }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        if let Flavor::Chan(c) = &self.flavor {
            if c.receivers.fetch_sub(1, Ordering::AcqRel) == 1 {
                c.close();
            }
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad("Sender { .. }")
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad("Receiver { .. }")
    }
}

/// Blocking iterator of [`Receiver::iter`].
///
/// ```
/// let (tx, rx) = greenchan::chan::unbounded();
/// tx.send(1).unwrap();
/// drop(tx);
/// let mut it = rx.iter();
/// assert_eq!(it.next(), Some(1));
/// assert_eq!(it.next(), None); // closed and drained, and it stays so
/// assert_eq!(it.next(), None);
/// ```
pub struct Iter<'a, T> {
    rx: &'a Receiver<T>,
}

impl<T> Iterator for Iter<'_, T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.rx.recv().ok()
    }
}

/// Non-blocking iterator of [`Receiver::try_iter`].
///
/// ```
/// let (tx, rx) = greenchan::chan::unbounded();
/// tx.send(1).unwrap();
/// assert_eq!(rx.try_iter().collect::<Vec<_>>(), vec![1]);
/// ```
pub struct TryIter<'a, T> {
    rx: &'a Receiver<T>,
}

impl<T> Iterator for TryIter<'_, T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.rx.try_recv().ok()
    }
}

/// Owning blocking iterator of `Receiver::into_iter`.
///
/// ```
/// let (tx, rx) = greenchan::chan::unbounded();
/// tx.send(1).unwrap();
/// drop(tx);
/// assert_eq!(rx.into_iter().collect::<Vec<_>>(), vec![1]);
/// ```
pub struct IntoIter<T> {
    rx: Receiver<T>,
}

impl<T> Iterator for IntoIter<T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.rx.recv().ok()
    }
}

// Once `recv` fails the channel is closed and drained, and stays so.
impl<T> FusedIterator for Iter<'_, T> {}
impl<T> FusedIterator for IntoIter<T> {}

impl<T> fmt::Debug for Iter<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad("Iter { .. }")
    }
}

impl<T> fmt::Debug for TryIter<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad("TryIter { .. }")
    }
}

impl<T> fmt::Debug for IntoIter<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad("IntoIter { .. }")
    }
}

impl<'a, T> IntoIterator for &'a Receiver<T> {
    type Item = T;
    type IntoIter = Iter<'a, T>;
    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}

impl<T> IntoIterator for Receiver<T> {
    type Item = T;
    type IntoIter = IntoIter<T>;
    fn into_iter(self) -> IntoIter<T> {
        IntoIter { rx: self }
    }
}

/// Every runtime call is a preemption point (DESIGN §3): an operation that completes without
/// parking yields here if its coroutine's time slice is over, so a loop of operations that
/// never block cannot keep the other coroutines of its worker waiting. (One that parked has
/// just switched; checking again there would only cost.)
#[inline(always)]
fn preempt_point() {
    #[cfg(not(loom))]
    green::preempt_point();
}
