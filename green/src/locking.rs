//! `lock`: a std mutex taken whatever its poison. The runtime's own critical sections never
//! leave data half updated when they panic, and a panicking coroutine must not take the
//! runtime down with it.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks a mutex, ignoring poisoning.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
