//! The few synchronisation primitives the channels and select use, from std and green in a
//! normal build and from loom in a `--cfg loom` build, so that the real wake-up code is what
//! loom model-checks.

#[cfg(loom)]
pub use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
#[cfg(loom)]
pub use loom::sync::{Arc, Mutex, MutexGuard};
#[cfg(not(loom))]
pub use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
#[cfg(not(loom))]
pub use std::sync::{Arc, Mutex, MutexGuard};

use std::time::Instant;

/// Locks, ignoring poisoning: channel critical sections run no user code that could panic
/// half-way through an update.
///
/// The holder is not preempted asynchronously while it holds the lock (green's
/// `preempt::NoPreempt`): a coroutine preempted inside a channel's critical section would
/// keep the lock while pinned to its worker, and another coroutine on that worker taking
/// the same lock would block the worker thread, hence the holder, for good.
pub fn lock<T>(m: &Mutex<T>) -> Locked<'_, T> {
    let no_preempt = green::preempt::disable();
    let guard = match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    };
    Locked {
        guard,
        _no_preempt: no_preempt,
    }
}

/// A held lock (see [`lock`]); preemption comes back after the lock is released.
pub struct Locked<'a, T> {
    // Dropped first: the lock is released before preemption is enabled again.
    guard: MutexGuard<'a, T>,
    _no_preempt: green::preempt::NoPreempt,
}

impl<T> std::ops::Deref for Locked<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.guard
    }
}

impl<T> std::ops::DerefMut for Locked<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.guard
    }
}

/// Whoever is waiting: a coroutine or a thread (green's handle covers both). In a loom build
/// each waiter gets its own flag and condition variable instead, because loom's thread
/// unpark may wake a thread that is blocked on a mutex, which real threads never see.
#[derive(Clone, Debug)]
pub struct Unparker {
    #[cfg(not(loom))]
    inner: green::Coroutine,
    #[cfg(loom)]
    inner: Arc<(Mutex<bool>, loom::sync::Condvar)>,
}

impl Unparker {
    /// The caller.
    pub fn current() -> Unparker {
        #[cfg(not(loom))]
        let inner = green::current();
        #[cfg(loom)]
        let inner = Arc::new((Mutex::new(false), loom::sync::Condvar::new()));
        Unparker { inner }
    }

    /// Wakes it (or leaves it a token).
    pub fn unpark(&self) {
        #[cfg(not(loom))]
        self.inner.unpark();
        #[cfg(loom)]
        {
            *lock(&self.inner.0) = true;
            self.inner.1.notify_one();
        }
    }

    /// Parks the caller, which must be the party this handle names, until unparked (or
    /// spuriously), or until `deadline`.
    pub fn park(&self, deadline: Option<Instant>) {
        #[cfg(not(loom))]
        match deadline {
            Some(d) => green::park_deadline(d),
            None => green::park(),
        }
        #[cfg(loom)]
        {
            // Models never use timeouts.
            let _ = deadline;
            // A plain guard: the condition variable needs one (models have no preemption).
            let mut token = self.inner.0.lock().unwrap();
            while !*token {
                token = self.inner.1.wait(token).unwrap();
            }
            *token = false;
        }
    }
}
