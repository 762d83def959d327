//! Locking a std mutex inside the runtime.
//!
//! [`lock`] takes a mutex whatever its poison (the runtime's own critical sections never leave
//! data half updated when they panic, and a panicking coroutine must not take the runtime down
//! with it) and raises the no-preempt depth (`critical`) for as long as it is held: runtime
//! code that coroutines enter (spawning, timers, the blocking pool) must never be preempted
//! asynchronously while it holds a std lock, or another coroutine of the same worker that
//! takes the lock would block the thread the holder needs to resume on. That matters only
//! under the `unsafe` opt-in to asynchronous preemption, but the runtime's own code must be
//! sound under it. [`lock_plain`] is the bare version, for code that only worker and runtime
//! threads run (and that hands the guard to a condition variable).

use std::ops::{Deref, DerefMut};
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::critical::NoPreempt;

/// A held mutex, with asynchronous preemption of the holder off until it is released.
// Public (as `preempt::Locked`) for greenchan-netpoll only; not part of the API. Hidden here, not
// only at the re-export, so that greenchan's glob re-export (`greenchan::preempt`) hides it too.
#[doc(hidden)]
pub struct Locked<'a, T> {
    // Declared first: dropped (unlocked) before the no-preempt guard below is.
    guard: MutexGuard<'a, T>,
    _no_preempt: NoPreempt,
}

impl<T> Deref for Locked<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.guard
    }
}

impl<T> DerefMut for Locked<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.guard
    }
}

/// Locks a mutex, ignoring poisoning, with asynchronous preemption off while it is held.
// Public (as `preempt::lock_unpreempted`) for greenchan-netpoll only; hidden as `Locked` is.
#[doc(hidden)]
pub fn lock<T>(m: &Mutex<T>) -> Locked<'_, T> {
    // Raised before the lock is taken: there is no instant at which the lock is held and the
    // holder preemptible.
    let no_preempt = NoPreempt::new();
    Locked {
        guard: lock_plain(m),
        _no_preempt: no_preempt,
    }
}

/// Locks a mutex, ignoring poisoning. Only for code that coroutines never run.
pub(crate) fn lock_plain<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
