//! Poisoning, as std does it: a guard remembers whether its thread (or coroutine) was already
//! panicking when it locked; if a panic starts while it is held, dropping it poisons the lock.
//!
//! `std::thread::panicking` is per thread, and a coroutine unwinds on the thread that runs it,
//! so it answers for the coroutine too.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{LockResult, PoisonError};
use std::thread;

/// The poisoned flag of a `Mutex` or `RwLock`.
pub(crate) struct Flag(AtomicBool);

/// Whether the locking party was panicking when it took the guard.
pub(crate) struct Guard {
    panicking: bool,
}

impl Flag {
    pub(crate) const fn new() -> Flag {
        Flag(AtomicBool::new(false))
    }

    pub(crate) fn get(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// `Ok(value)`, or `Err` carrying it if the lock is poisoned: what every access hands out.
    pub(crate) fn map_result<G>(&self, value: G) -> LockResult<G> {
        if self.get() {
            Err(PoisonError::new(value))
        } else {
            Ok(value)
        }
    }

    pub(crate) fn clear(&self) {
        self.0.store(false, Ordering::Relaxed)
    }

    pub(crate) fn guard(&self) -> Guard {
        Guard {
            panicking: thread::panicking(),
        }
    }

    /// Called as a guard is dropped: a panic that began while it was held poisons the lock.
    pub(crate) fn done(&self, guard: &Guard) {
        if !guard.panicking && thread::panicking() {
            self.0.store(true, Ordering::Relaxed);
        }
    }
}
