//! How channel operations take part in a select: a receive or a send as a `select::Case`,
//! holding its outcome (the received value, or the unsent value after a close) in a slot
//! that the channel's queue entry points at while the select is parked.

use std::cell::UnsafeCell;

use select::{
    Case, CaseOutcome, OwnedWaiter, RecvError, SelectRecv, SelectSend, SendError, Waiter,
};

use crate::chan::{wake, Chan, Received, Sent};
use crate::handles::{Receiver, Sender};

/// A receive in a select.
pub struct RecvCase<'a, T> {
    chan: Option<&'a Chan<T>>,
    /// The received value; stays `None` if the case completed because the channel closed.
    slot: UnsafeCell<Option<T>>,
}

/// A send in a select.
pub struct SendCase<'a, T> {
    chan: &'a Chan<T>,
    /// The value until it is sent; still here after a close.
    value: UnsafeCell<Option<T>>,
}

impl<T> Case for RecvCase<'_, T> {
    fn try_complete(&self) -> bool {
        let Some(chan) = self.chan else {
            return false;
        };
        let outcome = Chan::recv_locked(&mut chan.lock(), None);
        match outcome {
            Received::Value(v, w) => {
                // SAFETY: the case is not registered anywhere now, so nobody else touches
                // the slot.
                unsafe { *self.slot.get() = Some(v) };
                wake(w);
                true
            }
            Received::Closed => true,
            Received::Empty => false,
        }
    }

    fn register(&self, waiter: &OwnedWaiter, case: usize) -> bool {
        let Some(chan) = self.chan else {
            return false;
        };
        let mut st = chan.lock();
        if Chan::recv_ready(&st, waiter) {
            return true;
        }
        st.recvq
            .push(waiter.entry(case, self.slot.get() as *mut ()));
        false
    }

    fn unregister(&self, waiter: &Waiter, case: usize) {
        if let Some(chan) = self.chan {
            chan.lock().recvq.remove(waiter, case);
        }
    }

    fn key(&self) -> (usize, bool) {
        (self.chan.map_or(0, |c| c as *const Chan<T> as usize), false)
    }
}

impl<T> CaseOutcome for RecvCase<'_, T> {
    type Output = Result<T, RecvError>;
    fn take_outcome(&self) -> Result<T, RecvError> {
        // SAFETY: the select has finished, so no claimer writes the slot any more.
        unsafe { (*self.slot.get()).take() }.ok_or(RecvError)
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
        let mut st = self.chan.lock();
        if self.chan.send_ready(&st, waiter) {
            return true;
        }
        st.sendq
            .push(waiter.entry(case, self.value.get() as *mut ()));
        false
    }

    fn unregister(&self, waiter: &Waiter, case: usize) {
        self.chan.lock().sendq.remove(waiter, case);
    }

    fn key(&self) -> (usize, bool) {
        (self.chan as *const Chan<T> as usize, true)
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

impl<T> SelectRecv for Receiver<T> {
    type Item = T;
    type Case<'a>
        = RecvCase<'a, T>
    where
        T: 'a;

    fn recv_case(&self) -> RecvCase<'_, T> {
        RecvCase {
            chan: self.chan.as_deref(),
            slot: UnsafeCell::new(None),
        }
    }

    fn channel_key(&self) -> usize {
        self.chan
            .as_deref()
            .map_or(0, |c| c as *const Chan<T> as usize)
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
        }
    }

    fn channel_key(&self) -> usize {
        &*self.chan as *const Chan<T> as usize
    }
}
