//! The few synchronisation primitives the channels and select use, from std and green in a
//! normal build and from loom in a `--cfg loom` build, so that the real wake-up code is what
//! loom model-checks.

#[cfg(loom)]
pub use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
#[cfg(loom)]
pub use loom::sync::{Arc, Mutex, MutexGuard};
#[cfg(not(loom))]
pub use spin::{SpinLock as Mutex, SpinLockGuard as MutexGuard};
#[cfg(not(loom))]
pub use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
#[cfg(not(loom))]
pub use std::sync::Arc;

use std::time::Instant;

/// Locks a channel's state. Under loom it is loom's mutex, poisoning ignored: channel critical
/// sections run no user code that could panic half-way through an update.
#[inline]
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    #[cfg(loom)]
    return match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    };
    #[cfg(not(loom))]
    m.lock()
}

#[cfg(not(loom))]
mod spin {
    //! A spin lock with exponential backoff for the channels' few-dozen-instruction critical
    //! sections, as crossbeam-channel's zero flavor uses. A contended `std::sync::Mutex`
    //! would put the whole worker thread to sleep in the kernel, taking every coroutine queued
    //! on it along; spinning then yielding the thread is cheaper for sections this short.

    use std::cell::UnsafeCell;
    use std::ops::{Deref, DerefMut};
    use std::sync::atomic::{AtomicBool, Ordering};

    use crossbeam_utils::Backoff;

    /// A lock around `T` that spins, then yields the thread, while contended.
    #[derive(Debug, Default)]
    pub struct SpinLock<T> {
        locked: AtomicBool,
        value: UnsafeCell<T>,
    }

    // SAFETY: the lock hands out access to `value` to one holder at a time, so it is as
    // thread-safe as a `Mutex<T>`: `Send` and `Sync` when `T: Send`.
    unsafe impl<T: Send> Send for SpinLock<T> {}
    // SAFETY: as above.
    unsafe impl<T: Send> Sync for SpinLock<T> {}

    impl<T> SpinLock<T> {
        /// A new unlocked lock.
        pub const fn new(value: T) -> SpinLock<T> {
            SpinLock {
                locked: AtomicBool::new(false),
                value: UnsafeCell::new(value),
            }
        }

        /// Takes the lock. The holder is not preempted asynchronously until it releases it.
        #[inline]
        pub fn lock(&self) -> SpinLockGuard<'_, T> {
            let no_preempt = green::preempt::disable();
            if self
                .locked
                .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_err()
            {
                self.lock_contended();
            }
            SpinLockGuard {
                lock: self,
                _no_preempt: no_preempt,
            }
        }

        #[cold]
        fn lock_contended(&self) {
            let backoff = Backoff::new();
            loop {
                while self.locked.load(Ordering::Relaxed) {
                    backoff.snooze();
                }
                if self
                    .locked
                    .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
                {
                    return;
                }
            }
        }
    }

    /// Access to the locked value; unlocks when dropped.
    ///
    /// While it lives, the holder is not preempted asynchronously (green's `NoPreempt`): a
    /// coroutine preempted inside a channel's critical section would keep the lock while
    /// pinned to its worker, and another coroutine on that worker spinning for the same lock
    /// would keep the worker, hence the holder, from ever running again.
    pub struct SpinLockGuard<'a, T> {
        lock: &'a SpinLock<T>,
        // Dropped after `Drop::drop` released the lock: preemption comes back last.
        _no_preempt: green::preempt::NoPreempt,
    }

    impl<T> std::fmt::Debug for SpinLockGuard<'_, T> {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("SpinLockGuard")
        }
    }

    impl<T> Deref for SpinLockGuard<'_, T> {
        type Target = T;
        #[inline]
        fn deref(&self) -> &T {
            // SAFETY: the guard proves the lock is held by us.
            unsafe { &*self.lock.value.get() }
        }
    }

    impl<T> DerefMut for SpinLockGuard<'_, T> {
        #[inline]
        fn deref_mut(&mut self) -> &mut T {
            // SAFETY: the guard proves the lock is held by us, and `&mut self` that this is
            // the only access through it.
            unsafe { &mut *self.lock.value.get() }
        }
    }

    impl<T> Drop for SpinLockGuard<'_, T> {
        #[inline]
        fn drop(&mut self) {
            self.lock.locked.store(false, Ordering::Release);
        }
    }

    #[cfg(test)]
    mod tests {
        use super::SpinLock;

        #[test]
        fn excludes_concurrent_holders() {
            let lock = SpinLock::new(0u64);
            std::thread::scope(|s| {
                for _ in 0..4 {
                    s.spawn(|| {
                        for _ in 0..10_000 {
                            *lock.lock() += 1;
                        }
                    });
                }
            });
            assert_eq!(*lock.lock(), 40_000);
        }
    }
}

/// A held channel lock (see [`lock`]).
pub type Locked<'a, T> = MutexGuard<'a, T>;

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

    /// True if it names the caller.
    pub fn is_current(&self) -> bool {
        #[cfg(not(loom))]
        return self.inner.is_current();
        #[cfg(loom)]
        false
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
