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

/// The pointer to a channel's shared state: green's [`green::CachedArc`] normally, whose block
/// the freeing thread keeps for its next allocation (a channel is often made on one worker and
/// dropped last on another); loom's `Arc` under loom.
#[cfg(not(loom))]
pub use green::CachedArc as ChanArc;
#[cfg(loom)]
pub use loom::sync::Arc as ChanArc;

use std::time::Instant;

/// A cell whose accesses loom checks for data races in a `--cfg loom` build (loom's
/// `UnsafeCell`); std's `UnsafeCell` otherwise. Only the closure form of access is offered, as
/// loom's is.
///
/// ```
/// let cell = select::sync::RaceCell::new(1);
/// // SAFETY: nobody else can reach the cell.
/// cell.with_mut(|v| unsafe { *v += 1 });
/// assert_eq!(cell.with_mut(|v| unsafe { *v }), 2);
/// ```
#[derive(Debug)]
pub struct RaceCell<T> {
    #[cfg(loom)]
    inner: loom::cell::UnsafeCell<T>,
    #[cfg(not(loom))]
    inner: std::cell::UnsafeCell<T>,
}

impl<T> RaceCell<T> {
    /// A cell holding `value`; see the type's example.
    pub fn new(value: T) -> RaceCell<T> {
        RaceCell {
            #[cfg(loom)]
            inner: loom::cell::UnsafeCell::new(value),
            #[cfg(not(loom))]
            inner: std::cell::UnsafeCell::new(value),
        }
    }

    /// Runs `f` with a pointer to the value. Dereferencing it is up to the caller, who must
    /// make sure nobody else accesses the value meanwhile. See the type's example.
    #[inline]
    pub fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        #[cfg(loom)]
        return self.inner.with_mut(f);
        #[cfg(not(loom))]
        f(self.inner.get())
    }
}

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

        /// Takes the lock.
        #[inline]
        pub fn lock(&self) -> SpinLockGuard<'_, T> {
            if self
                .locked
                .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_err()
            {
                self.lock_contended();
            }
            SpinLockGuard { lock: self }
        }

        #[cold]
        fn lock_contended(&self) {
            let backoff = Backoff::new();
            loop {
                while self.locked.load(Ordering::Relaxed) {
                    if backoff.is_completed() && green::in_coroutine() {
                        // Held for long: the holder may be a coroutine preempted inside its
                        // critical section and pinned to this very worker. Yield the
                        // coroutine, not just the thread, so the worker can resume it.
                        green::yield_now();
                    } else {
                        backoff.snooze();
                    }
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
    /// The holder may be preempted asynchronously: its critical section is a few dozen
    /// instructions, so that is rare, and a waiter that spins past its backoff yields its
    /// coroutine (see `lock_contended`), which lets a holder pinned to the same worker finish.
    /// Keeping the hot path free of the no-preempt counter saves two thread-local accesses
    /// per lock.
    pub struct SpinLockGuard<'a, T> {
        lock: &'a SpinLock<T>,
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

        /// A holder that loses its worker while holding the lock (as a coroutine preempted
        /// asynchronously inside a channel's critical section does) still gets to release it:
        /// on a single worker, a coroutine spinning for the lock must yield the coroutine, or
        /// the worker never runs the holder again.
        #[test]
        fn a_waiter_yields_to_a_holder_on_its_own_worker() {
            use std::sync::Arc;
            let rt = green::Runtime::builder().workers(1).build().unwrap();
            let lock = Arc::new(SpinLock::new(0u32));
            let (done_tx, done_rx) = std::sync::mpsc::channel();
            let l = lock.clone();
            rt.spawn(move || {
                let l2 = l.clone();
                let holder = green::spawn(move || {
                    let mut g = l2.lock();
                    green::yield_now(); // off the worker, lock held
                    *g += 1;
                });
                green::yield_now(); // let the holder take the lock first
                *l.lock() += 1; // spins, then must yield to the holder
                holder.join().unwrap();
                done_tx.send(*l.lock()).unwrap();
            })
            .unwrap();
            let Ok(got) = done_rx.recv_timeout(std::time::Duration::from_secs(60)) else {
                std::mem::forget(rt); // its worker spins for good: do not wait for it
                panic!("the waiter never let the holder run");
            };
            assert_eq!(got, 2);
        }
    }
}

/// Whoever is waiting: a coroutine or a thread (green's raw handle covers both; it holds no
/// reference to a coroutine, see `unpark`). In a loom build each waiter gets its own flag and
/// condition variable instead, because loom's thread unpark may wake a thread that is blocked
/// on a mutex, which real threads never see.
#[derive(Debug)]
pub struct Unparker {
    #[cfg(not(loom))]
    inner: green::RawUnparker,
    #[cfg(loom)]
    inner: Arc<(Mutex<bool>, loom::sync::Condvar)>,
}

impl Unparker {
    /// The caller.
    pub fn current() -> Unparker {
        #[cfg(not(loom))]
        let inner = green::RawUnparker::current();
        #[cfg(loom)]
        let inner = Arc::new((Mutex::new(false), loom::sync::Condvar::new()));
        Unparker { inner }
    }

    /// The coroutine's key (`green::Coroutine::key`), 0 for a thread or under loom.
    #[inline]
    pub fn key(&self) -> usize {
        #[cfg(not(loom))]
        return self.inner.key();
        #[cfg(loom)]
        0
    }

    /// Wakes it (or leaves it a token).
    ///
    /// # Safety
    /// The coroutine named is alive: it has not left the wait this handle serves, or
    /// `keep_alive` was called (see `green::RawUnparker::unpark`).
    pub unsafe fn unpark(&self) {
        // SAFETY: the caller's contract is the raw handle's.
        #[cfg(not(loom))]
        unsafe {
            self.inner.unpark()
        };
        #[cfg(loom)]
        {
            *lock(&self.inner.0) = true;
            self.inner.1.notify_one();
        }
    }

    /// Keeps the named coroutine's task allocated for good, so that a late `unpark` stays
    /// sound after the coroutine is gone.
    ///
    /// # Safety
    /// The coroutine is alive now.
    pub unsafe fn keep_alive(&self) {
        // SAFETY: the caller's contract is the raw handle's.
        #[cfg(not(loom))]
        unsafe {
            self.inner.keep_alive()
        };
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
            let mut token = lock(&self.inner.0);
            while !*token {
                token = self.inner.1.wait(token).unwrap();
            }
            *token = false;
        }
    }
}
