//! How channel operations take part in a select: a receive or a send as a `select::Case`,
//! holding its outcome (the received value, or the unsent value after a close) in a slot
//! that the channel's queue entry points at while the select is parked.

use std::cell::{Cell, UnsafeCell};
use std::time::Instant;

use select::{
    Case, CaseOutcome, OwnedWaiter, QueueKey, RecvError, SelectRecv, SelectSend, SendError, Waiter,
};

use crate::chan::{wake, Chan, Received, Sent};
use crate::handles::{Flavor, Receiver, Sender};
use crate::time::{At, Tick};

/// What a receive case receives from (a borrowed `Flavor`).
enum Source<'a, T> {
    Chan(&'a Chan<T>),
    At(&'a At<T>),
    Tick(&'a Tick<T>),
    Never,
}

impl<T> Source<'_, T> {
    fn key(&self) -> usize {
        match self {
            Source::Chan(c) => *c as *const Chan<T> as usize,
            Source::At(a) => *a as *const At<T> as usize,
            Source::Tick(t) => *t as *const Tick<T> as usize,
            Source::Never => 0,
        }
    }
}

/// A receive in a select.
// Public only as the `select!` expansion's case type; not part of the API. Hidden here, not only
// at the re-export, so that greenchan's glob re-export (`greenchan::chan`) hides it too.
#[doc(hidden)]
pub struct RecvCase<'a, T> {
    source: Source<'a, T>,
    /// The received value; stays `None` if the case completed because the channel closed.
    slot: UnsafeCell<Option<T>>,
    /// Where `register` (or `watch`) put its entry, for `unregister` (`unwatch`).
    key: Cell<Option<QueueKey>>,
}

/// A send in a select.
// Public only as the `select!` expansion's case type; not part of the API (hidden as `RecvCase`).
#[doc(hidden)]
pub struct SendCase<'a, T> {
    chan: &'a Chan<T>,
    /// The value until it is sent; still here after a close.
    value: UnsafeCell<Option<T>>,
    /// Where `register` (or `watch`) put its entry, for `unregister` (`unwatch`).
    key: Cell<Option<QueueKey>>,
}

impl<T> RecvCase<'_, T> {
    /// Puts a received value in the slot.
    fn put(&self, v: T) {
        // SAFETY: the case is not registered anywhere while it polls, so nobody else touches
        // the slot.
        unsafe { *self.slot.get() = Some(v) };
    }
}

impl<T> Case for RecvCase<'_, T> {
    fn try_complete(&self) -> bool {
        let chan = match &self.source {
            Source::Chan(chan) => chan,
            Source::At(at) => return at.try_take().map(|v| self.put(v)).is_some(),
            Source::Tick(tick) => return tick.try_take().map(|v| self.put(v)).is_some(),
            Source::Never => return false,
        };
        let outcome = chan.recv_locked(&mut chan.lock(), None);
        match outcome {
            Received::Value(v, w) => {
                self.put(v);
                wake(w);
                true
            }
            Received::Closed => true,
            Received::Empty => false,
        }
    }

    fn register(&self, waiter: &OwnedWaiter, case: usize) -> bool {
        let Source::Chan(chan) = &self.source else {
            // Timers need no registration: the select parks until their deadline.
            return self.is_ready();
        };
        let mut st = chan.lock();
        if Chan::recv_ready(&st, Some(waiter)) {
            return true;
        }
        let key = st.push_receiver(waiter.entry(case, self.slot.get() as *mut ()));
        self.key.set(Some(key));
        false
    }

    fn unregister(&self, waiter: &Waiter, case: usize) {
        if let (Source::Chan(chan), Some(key)) = (&self.source, self.key.take()) {
            chan.lock().recvq.remove(key, waiter, case);
        }
    }

    fn key(&self) -> (usize, bool) {
        (self.source.key(), false)
    }

    fn is_ready(&self) -> bool {
        match &self.source {
            Source::Chan(chan) => Chan::recv_ready(&chan.lock(), None),
            Source::At(at) => at.is_ready(),
            Source::Tick(tick) => tick.is_ready(),
            Source::Never => false,
        }
    }

    fn watch(&self, waiter: &OwnedWaiter, case: usize) -> bool {
        let Source::Chan(chan) = &self.source else {
            return self.is_ready();
        };
        let mut st = chan.lock();
        if Chan::recv_ready(&st, None) {
            return true;
        }
        let key = st
            .recv_watchers
            .push(waiter.entry(case, std::ptr::null_mut()));
        self.key.set(Some(key));
        false
    }

    fn unwatch(&self, waiter: &Waiter, case: usize) {
        if let (Source::Chan(chan), Some(key)) = (&self.source, self.key.take()) {
            chan.lock().recv_watchers.remove(key, waiter, case);
        }
    }

    fn deadline(&self) -> Option<Instant> {
        match &self.source {
            Source::At(at) => at.deadline(),
            Source::Tick(tick) => tick.deadline(),
            Source::Chan(_) | Source::Never => None,
        }
    }
}

impl<T> CaseOutcome for RecvCase<'_, T> {
    type Output = Result<T, RecvError>;
    fn take_outcome(&self) -> Result<T, RecvError> {
        // SAFETY: the select has finished, so no claimer writes the slot any more.
        unsafe { (*self.slot.get()).take() }.ok_or(RecvError)
    }
}

impl<T> SendCase<'_, T> {
    /// True once the value has gone (sent, or handed back after a close and taken): a spent
    /// operation of a reused `Select`, never ready again.
    fn is_spent(&self) -> bool {
        // SAFETY: read while the case is not registered anywhere (it polls, or registers).
        unsafe { (*self.value.get()).is_none() }
    }
}

impl<T> Case for SendCase<'_, T> {
    fn try_complete(&self) -> bool {
        // SAFETY: not registered anywhere now: the slot is ours.
        let Some(value) = (unsafe { (*self.value.get()).take() }) else {
            return false;
        };
        let outcome = {
            let mut st = self.chan.lock();
            self.chan.send_locked(&mut st, value, None)
        };
        match outcome {
            Sent::Done(w) => {
                wake(w);
                true
            }
            Sent::Closed(v) => {
                // SAFETY: as above.
                unsafe { *self.value.get() = Some(v) };
                true
            }
            Sent::Full(v) => {
                // SAFETY: as above.
                unsafe { *self.value.get() = Some(v) };
                false
            }
        }
    }

    fn register(&self, waiter: &OwnedWaiter, case: usize) -> bool {
        if self.is_spent() {
            // Nothing to send: never ready, and no entry a receiver would find empty.
            return false;
        }
        let mut st = self.chan.lock();
        if self.chan.send_ready(&st, Some(waiter)) {
            return true;
        }
        let key = st.push_sender(waiter.entry(case, self.value.get() as *mut ()));
        self.key.set(Some(key));
        false
    }

    fn unregister(&self, waiter: &Waiter, case: usize) {
        if let Some(key) = self.key.take() {
            self.chan.lock().sendq.remove(key, waiter, case);
        }
    }

    fn key(&self) -> (usize, bool) {
        (self.chan as *const Chan<T> as usize, true)
    }

    fn is_ready(&self) -> bool {
        !self.is_spent() && self.chan.send_ready(&self.chan.lock(), None)
    }

    fn watch(&self, waiter: &OwnedWaiter, case: usize) -> bool {
        if self.is_spent() {
            return false;
        }
        let mut st = self.chan.lock();
        if self.chan.send_ready(&st, None) {
            return true;
        }
        let key = st
            .send_watchers
            .push(waiter.entry(case, std::ptr::null_mut()));
        self.key.set(Some(key));
        false
    }

    fn unwatch(&self, waiter: &Waiter, case: usize) {
        if let Some(key) = self.key.take() {
            self.chan.lock().send_watchers.remove(key, waiter, case);
        }
    }
}

impl<T> CaseOutcome for SendCase<'_, T> {
    type Output = Result<(), SendError<T>>;
    fn take_outcome(&self) -> Result<(), SendError<T>> {
        // SAFETY: the select has finished, so no claimer reads the slot any more.
        match unsafe { (*self.value.get()).take() } {
            None => Ok(()),
            Some(v) => Err(SendError(v)),
        }
    }
}

impl<T> Receiver<T> {
    fn source(&self) -> Source<'_, T> {
        match &self.flavor {
            Flavor::Chan(c) => Source::Chan(c),
            Flavor::At(a) => Source::At(a),
            Flavor::Tick(t) => Source::Tick(t),
            Flavor::Never => Source::Never,
        }
    }
}

impl<T> SelectRecv for Receiver<T> {
    type Item = T;
    type Case<'a>
        = RecvCase<'a, T>
    where
        T: 'a;

    fn recv_case(&self) -> RecvCase<'_, T> {
        RecvCase {
            source: self.source(),
            slot: UnsafeCell::new(None),
            key: Cell::new(None),
        }
    }

    fn channel_key(&self) -> usize {
        self.source().key()
    }
}

impl<T> SelectSend for Sender<T> {
    type Item = T;
    type Case<'a>
        = SendCase<'a, T>
    where
        T: 'a;

    fn send_case(&self, value: T) -> SendCase<'_, T> {
        SendCase {
            chan: &self.chan,
            value: UnsafeCell::new(Some(value)),
            key: Cell::new(None),
        }
    }

    fn channel_key(&self) -> usize {
        &*self.chan as *const Chan<T> as usize
    }
}
