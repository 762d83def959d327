//! The channel itself: one lock around a ring buffer and the queues of parked receivers and
//! senders, as in Go's `hchan` (`chan.go`). Every flavor is this one structure: a rendezvous
//! channel has capacity 0 (its buffer stays empty and values pass from the parked sender's slot
//! to the receiver, or the other way round), an unbounded one has no capacity limit.
//!
//! All state changes happen under the lock, which is never held while parking or while
//! running user code other than moving values. A parked party is woken after the lock is
//! released, once its slot has been written (see `select::Waiter`).
//!
//! Beside the two queues of parties that want to *perform* an operation, two queues of
//! observers serve `Select::ready`: parties that want to *learn* when a receive (or a send)
//! may have become possible. Every change that can make one possible (a value buffered, a
//! party parked on the other side, a slot freed, the close) wakes them all, under the lock.

use std::collections::VecDeque;

use select::sync::{lock, AtomicBool, AtomicUsize, Mutex, MutexGuard, Ordering};
use select::{Entry, QueueKey, WaitQueue, Waiter};

pub(crate) struct State<T> {
    pub(crate) buf: VecDeque<T>,
    pub(crate) closed: bool,
    /// Parked receivers; their slots are `Option<T>` to fill.
    pub(crate) recvq: WaitQueue,
    /// Parked senders; their slots are `Option<T>` holding the value.
    pub(crate) sendq: WaitQueue,
    /// Observers waiting for a receive to become possible (no slots).
    pub(crate) recv_watchers: WaitQueue,
    /// Observers waiting for a send to become possible (no slots).
    pub(crate) send_watchers: WaitQueue,
}

impl<T> State<T> {
    /// Parks a receiver's entry; a send may now pair with it.
    #[inline]
    pub(crate) fn push_receiver(&mut self, entry: Entry) -> QueueKey {
        let key = self.recvq.push(entry);
        if !self.send_watchers.is_empty() {
            self.send_watchers.notify_all();
        }
        key
    }

    /// Parks a sender's entry; a receive may now pair with it.
    #[inline]
    pub(crate) fn push_sender(&mut self, entry: Entry) -> QueueKey {
        let key = self.sendq.push(entry);
        if !self.recv_watchers.is_empty() {
            self.recv_watchers.notify_all();
        }
        key
    }
}

pub(crate) struct Chan<T> {
    state: Mutex<State<T>>,
    /// 0 for rendezvous, `usize::MAX` for unbounded.
    pub(crate) cap: usize,
    pub(crate) senders: AtomicUsize,
    pub(crate) receivers: AtomicUsize,
    /// Mirrors `State::closed` for lock-free reads.
    closed: AtomicBool,
}

pub(crate) enum Received<T> {
    Value(T, Option<Entry>),
    Closed,
    Empty,
}

pub(crate) enum Sent<T> {
    Done(Option<Entry>),
    Closed(T),
    Full(T),
}

/// Wakes the party an operation completed with (see `Received` and `Sent`), once the lock is
/// released.
#[inline]
pub(crate) fn wake(woken: Option<Entry>) {
    if let Some(e) = woken {
        e.finish();
    }
}

/// Entries claimed together (by a close), finished one by one; any left when this is dropped
/// (a waker's `wake` panicked on the way) are finished then.
struct FinishRest(std::vec::IntoIter<Entry>);

impl Drop for FinishRest {
    fn drop(&mut self) {
        for e in self.0.by_ref() {
            e.finish();
        }
    }
}

/// Moves the value out of a parked sender's slot.
///
/// # Safety
/// `entry` was claimed by the caller from this channel's `sendq`, whose slots are `Option<T>`
/// in frames that stay alive until the entry is finished.
unsafe fn take_from<T>(entry: &Entry) -> T {
    // SAFETY: as stated; the sender put `Some(value)` there before registering.
    unsafe { (*(entry.slot as *mut Option<T>)).take() }.expect("a parked sender has a value")
}

/// Puts a value into a parked receiver's slot.
///
/// # Safety
/// `entry` was claimed by the caller from this channel's `recvq` (slots are `Option<T>`).
unsafe fn give_to<T>(entry: &Entry, value: T) {
    // SAFETY: as stated.
    unsafe { *(entry.slot as *mut Option<T>) = Some(value) };
}

impl<T> Drop for Chan<T> {
    /// Drops the values still buffered one at a time. If one's destructor panics, the ones
    /// after it are leaked rather than dropped while unwinding (a second panic there would
    /// abort the process), as crossbeam-channel does.
    fn drop(&mut self) {
        let mut buf = std::mem::ManuallyDrop::new(std::mem::take(&mut self.lock().buf));
        while let Some(v) = buf.pop_front() {
            drop(v);
        }
        drop(std::mem::ManuallyDrop::into_inner(buf));
    }
}

impl<T> Chan<T> {
    pub(crate) fn new(cap: usize) -> Chan<T> {
        Chan {
            state: Mutex::new(State {
                buf: VecDeque::with_capacity(if cap == usize::MAX { 16 } else { cap.min(1024) }),
                closed: false,
                recvq: WaitQueue::new(),
                sendq: WaitQueue::new(),
                recv_watchers: WaitQueue::new(),
                send_watchers: WaitQueue::new(),
            }),
            cap,
            senders: AtomicUsize::new(1),
            receivers: AtomicUsize::new(1),
            closed: AtomicBool::new(false),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State<T>> {
        lock(&self.state)
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Receives if possible now. `me` excludes the caller's own parked entries (a select with
    /// the same channel in a send arm must not meet itself).
    #[inline]
    pub(crate) fn recv_locked(&self, st: &mut State<T>, me: Option<&Waiter>) -> Received<T> {
        if let Some(v) = st.buf.pop_front() {
            if !st.send_watchers.is_empty() {
                st.send_watchers.notify_all();
            }
            // A slot freed up: move a parked sender's value into the buffer. (The buffer may
            // hold more than `cap` values after `give_back`: then no slot is free yet, and a
            // rendezvous sender stays parked until a receiver takes its value.)
            let woken = if st.buf.len() < self.cap {
                st.sendq.claim(me).inspect(|e| {
                    // SAFETY: claimed from this channel's sendq just now.
                    let moved = unsafe { take_from::<T>(e) };
                    st.buf.push_back(moved);
                })
            } else {
                None
            };
            return Received::Value(v, woken);
        }
        if let Some(e) = st.sendq.claim(me) {
            // SAFETY: claimed from this channel's sendq just now.
            let v = unsafe { take_from::<T>(&e) };
            return Received::Value(v, Some(e));
        }
        if st.closed {
            Received::Closed
        } else {
            Received::Empty
        }
    }

    /// Sends if possible now; see `recv_locked` for `me`.
    #[inline]
    pub(crate) fn send_locked(&self, st: &mut State<T>, value: T, me: Option<&Waiter>) -> Sent<T> {
        if st.closed {
            return Sent::Closed(value);
        }
        if let Some(e) = st.recvq.claim(me) {
            // SAFETY: claimed from this channel's recvq just now.
            unsafe { give_to(&e, value) };
            return Sent::Done(Some(e));
        }
        if st.buf.len() < self.cap {
            st.buf.push_back(value);
            if !st.recv_watchers.is_empty() {
                st.recv_watchers.notify_all();
            }
            Sent::Done(None)
        } else {
            Sent::Full(value)
        }
    }

    /// Gives back a value that a receive took but will not return: a cancelled receive future
    /// to which a sender (or the buffer) handed it. The value goes to the oldest parked receiver,
    /// or else to the front of the buffer, where the next receive finds it first. That may hold
    /// the buffer above its capacity (a rendezvous channel's too) until it is received; sends
    /// wait meanwhile, as for a full buffer. After a close it is drained like any buffered
    /// value, and dropped with the channel if nobody receives it.
    pub(crate) fn give_back(&self, value: T) {
        let woken = {
            let mut st = self.lock();
            match st.recvq.claim(None) {
                Some(e) => {
                    // SAFETY: claimed from this channel's recvq just now.
                    unsafe { give_to(&e, value) };
                    Some(e)
                }
                None => {
                    st.buf.push_front(value);
                    if !st.recv_watchers.is_empty() {
                        st.recv_watchers.notify_all();
                    }
                    None
                }
            }
        };
        wake(woken);
    }

    /// Whether a receive could complete now, for `me` (a select registering: its own entries
    /// do not count) or for anyone (`None`).
    pub(crate) fn recv_ready(st: &State<T>, me: Option<&Waiter>) -> bool {
        !st.buf.is_empty() || st.closed || st.sendq.has_waiting(me)
    }

    /// Whether a send could complete now; see `recv_ready` for `me`.
    pub(crate) fn send_ready(&self, st: &State<T>, me: Option<&Waiter>) -> bool {
        st.closed || st.recvq.has_waiting(me) || st.buf.len() < self.cap
    }

    /// Closes the channel; false if it already was. Parked receivers wake to `Err` (there is
    /// nothing buffered, or they would not be parked); parked senders wake with their value.
    pub(crate) fn close(&self) -> bool {
        let woken = {
            let mut st = self.lock();
            if st.closed {
                return false;
            }
            st.closed = true;
            self.closed.store(true, Ordering::Release);
            let mut woken = st.recvq.claim_all();
            woken.extend(st.sendq.claim_all());
            st.recv_watchers.notify_all();
            st.send_watchers.notify_all();
            woken
        };
        // Should a future's waker panic in `wake`, the guard still finishes the others while
        // unwinding, so none of them waits for `done` forever.
        let mut rest = FinishRest(woken.into_iter());
        for e in rest.0.by_ref() {
            e.finish();
        }
        true
    }
}
