//! `Semaphore`: a counting semaphore whose permits release themselves when dropped.
//!
//! State is one word: the available permits, shifted left by one, and `PARKED` (bit 0) while
//! the wait queue is non-empty. Uncontended `try_acquire` and release are one compare-exchange.
//! Once anyone waits, the fast paths close and released permits are *handed* to waiters in
//! arrival order (FIFO: nobody starves, and a newcomer cannot snatch a permit from a waiter).
//!
//! `PARKED` is set exactly when the queue is non-empty and changes only under the queue lock.
//! A releaser that sees it goes to the queue and hands its permit to the first waiter; one that
//! does not adds the permit with a compare-exchange, which fails (and is retried the slow way)
//! if a waiter set `PARKED` in between. A waiter whose `acquire_timeout` runs out removes its
//! node under the queue lock; if the node is gone, a permit was handed to it concurrently and
//! it keeps it (returning success), so no permit is lost.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::waiter::WaitReason;
use super::waiter::{
    lock_queue, remove, AtomicUsize, Ordering, QueueLock, WaitQueue, Waiter, WAITING,
};

const PARKED: usize = 1;
const ONE: usize = 2;

/// A counting semaphore: at most `n` holders of a [`SemaphorePermit`] at a time. `acquire`
/// parks the coroutine (or blocks the thread) until a permit is free; dropping the permit
/// gives it back. Waiters are served in arrival order.
///
/// ```
/// use greenchan::sync::Semaphore;
/// use std::sync::Arc;
///
/// let sem = Arc::new(Semaphore::new(2)); // at most two at once
/// let hs: Vec<_> = (0..6)
///     .map(|i| {
///         let sem = sem.clone();
///         greenchan::spawn(move || {
///             let _permit = sem.acquire();
///             i * 2 // ... limited work ...
///         })
///     })
///     .collect();
/// let total: i32 = hs.into_iter().map(|h| h.join().unwrap()).sum();
/// assert_eq!(total, 30);
/// assert_eq!(sem.available_permits(), 2);
/// ```
pub struct Semaphore {
    state: AtomicUsize,
    queue: WaitQueue,
}

/// A permit from a [`Semaphore`]; dropping it returns the permit.
///
/// ```
/// let sem = greenchan::sync::Semaphore::new(1);
/// let p = sem.acquire();
/// assert!(sem.try_acquire().is_none());
/// drop(p);
/// assert!(sem.try_acquire().is_some());
/// ```
#[must_use = "dropping the permit releases it at once"]
pub struct SemaphorePermit<'a> {
    sem: &'a Semaphore,
}

impl Semaphore {
    /// The most permits a semaphore holds; larger counts are clamped to it.
    pub const MAX_PERMITS: usize = usize::MAX >> 1;

    /// A semaphore with `permits` permits (clamped to [`MAX_PERMITS`](Self::MAX_PERMITS)).
    ///
    /// ```
    /// assert_eq!(greenchan::sync::Semaphore::new(3).available_permits(), 3);
    /// ```
    pub fn new(permits: usize) -> Semaphore {
        Semaphore {
            state: AtomicUsize::new(permits.min(Self::MAX_PERMITS) * ONE),
            queue: QueueLock::new(VecDeque::new()),
        }
    }

    /// The number of permits free right now.
    ///
    /// ```
    /// let s = greenchan::sync::Semaphore::new(2);
    /// let _p = s.acquire();
    /// assert_eq!(s.available_permits(), 1);
    /// ```
    pub fn available_permits(&self) -> usize {
        self.state.load(Ordering::Relaxed) / ONE
    }

    /// Takes a permit if one is free and nobody is queued for one.
    ///
    /// ```
    /// let s = greenchan::sync::Semaphore::new(0);
    /// assert!(s.try_acquire().is_none());
    /// ```
    pub fn try_acquire(&self) -> Option<SemaphorePermit<'_>> {
        // A preemption point, as every runtime call (DESIGN §3): yields first if the
        // coroutine's time slice is over (never while holding what it takes here). Every other
        // acquisition starts with this one.
        crate::coroutine::preempt_point();
        let mut s = self.state.load(Ordering::Relaxed);
        loop {
            if s & PARKED != 0 || s < ONE {
                return None;
            }
            match self
                .state
                .compare_exchange_weak(s, s - ONE, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => return Some(SemaphorePermit { sem: self }),
                Err(actual) => s = actual,
            }
        }
    }

    /// Takes a permit, parking the coroutine (or blocking the thread) until one is free.
    ///
    /// ```
    /// let s = greenchan::sync::Semaphore::new(1);
    /// let p = s.acquire();
    /// drop(p);
    /// ```
    pub fn acquire(&self) -> SemaphorePermit<'_> {
        match self.try_acquire() {
            Some(p) => p,
            None => {
                self.acquire_slow(None);
                SemaphorePermit { sem: self }
            }
        }
    }

    /// Takes a permit, waiting at most `timeout`; `None` if none came in time (the waiter
    /// leaves the queue cleanly).
    ///
    /// ```
    /// use std::time::Duration;
    /// let s = greenchan::sync::Semaphore::new(0);
    /// assert!(s.acquire_timeout(Duration::from_millis(2)).is_none());
    /// s.add_permits(1);
    /// assert!(s.acquire_timeout(Duration::from_millis(2)).is_some());
    /// ```
    pub fn acquire_timeout(&self, timeout: Duration) -> Option<SemaphorePermit<'_>> {
        if let Some(p) = self.try_acquire() {
            return Some(p);
        }
        let deadline = Instant::now().checked_add(timeout);
        if self.acquire_slow(Some(deadline)) {
            Some(SemaphorePermit { sem: self })
        } else {
            None
        }
    }

    /// Like [`acquire`](Semaphore::acquire), for a shared semaphore: the permit owns an `Arc`
    /// of it, so it can move into a spawned coroutine.
    ///
    /// ```
    /// use std::sync::Arc;
    /// let sem = Arc::new(greenchan::sync::Semaphore::new(1));
    /// let permit = sem.clone().acquire_owned();
    /// let h = greenchan::spawn(move || drop(permit)); // released by the coroutine
    /// h.join().unwrap();
    /// assert_eq!(sem.available_permits(), 1);
    /// ```
    pub fn acquire_owned(self: Arc<Self>) -> OwnedSemaphorePermit {
        self.acquire().forget();
        OwnedSemaphorePermit { sem: self }
    }

    /// Like [`try_acquire`](Semaphore::try_acquire), returning an owned permit.
    ///
    /// ```
    /// use std::sync::Arc;
    /// let sem = Arc::new(greenchan::sync::Semaphore::new(0));
    /// assert!(sem.try_acquire_owned().is_none());
    /// ```
    pub fn try_acquire_owned(self: Arc<Self>) -> Option<OwnedSemaphorePermit> {
        self.try_acquire()?.forget();
        Some(OwnedSemaphorePermit { sem: self })
    }

    /// Adds `n` permits (giving them to waiters first); the total is clamped to
    /// [`MAX_PERMITS`](Self::MAX_PERMITS).
    ///
    /// ```
    /// let s = greenchan::sync::Semaphore::new(0);
    /// s.add_permits(2);
    /// assert_eq!(s.available_permits(), 2);
    /// ```
    pub fn add_permits(&self, n: usize) {
        let mut left = n;
        let mut s = self.state.load(Ordering::Relaxed);
        while left > 0 {
            if s & PARKED != 0 {
                // Waiters first, one permit each, in order.
                self.release();
                left -= 1;
                s = self.state.load(Ordering::Relaxed);
                continue;
            }
            let permits = (s / ONE).saturating_add(left).min(Self::MAX_PERMITS);
            match self.state.compare_exchange_weak(
                s,
                permits * ONE,
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(actual) => s = actual,
            }
        }
    }

    /// Returns one permit.
    fn release(&self) {
        let mut s = self.state.load(Ordering::Relaxed);
        loop {
            if s & PARKED != 0 {
                return self.release_slow();
            }
            let permits = (s / ONE + 1).min(Self::MAX_PERMITS);
            match self.state.compare_exchange_weak(
                s,
                permits * ONE,
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(actual) => s = actual,
            }
        }
    }

    #[cold]
    fn release_slow(&self) {
        let mut q = lock_queue(&self.queue);
        match q.pop_front() {
            Some(w) => {
                if q.is_empty() {
                    self.state.fetch_and(!PARKED, Ordering::Relaxed);
                }
                drop(q);
                w.wake(super::waiter::GRANTED); // the permit goes to `w`
            }
            None => {
                // The last waiter timed out and cleared PARKED before we got here.
                drop(q);
                self.release();
            }
        }
    }

    /// Queues for a permit; true once one was handed over, false on timeout.
    #[cold]
    fn acquire_slow(&self, deadline: Option<Option<Instant>>) -> bool {
        let mut q = lock_queue(&self.queue);
        let mut s = self.state.load(Ordering::Relaxed);
        loop {
            let (next, acquires) = if s & PARKED == 0 && s >= ONE {
                (s - ONE, true)
            } else if s & PARKED != 0 {
                break;
            } else {
                (s | PARKED, false)
            };
            match self
                .state
                .compare_exchange_weak(s, next, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) if acquires => return true,
                Ok(_) => break,
                Err(actual) => s = actual,
            }
        }
        let node = Waiter::new(0, WaitReason::Semaphore);
        q.push_back(node.clone());
        drop(q);
        let Some(Some(deadline)) = deadline else {
            node.wait();
            return true;
        };
        if node.wait_deadline(deadline) != WAITING {
            return true;
        }
        let mut q = lock_queue(&self.queue);
        if remove(&mut q, &node) {
            if q.is_empty() {
                self.state.fetch_and(!PARKED, Ordering::Relaxed);
            }
            return false;
        }
        drop(q);
        node.wait(); // dequeued concurrently: a permit is being handed to us
        true
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Semaphore")
            .field("available_permits", &self.available_permits())
            .finish_non_exhaustive()
    }
}

impl SemaphorePermit<'_> {
    /// Gives the permit up for good: the semaphore has one permit fewer.
    ///
    /// ```
    /// let s = greenchan::sync::Semaphore::new(1);
    /// s.acquire().forget();
    /// assert_eq!(s.available_permits(), 0);
    /// ```
    pub fn forget(self) {
        std::mem::forget(self);
    }
}

impl Drop for SemaphorePermit<'_> {
    fn drop(&mut self) {
        self.sem.release();
    }
}

impl fmt::Debug for SemaphorePermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphorePermit").finish_non_exhaustive()
    }
}

/// A permit from a shared [`Semaphore`] that owns an `Arc` of it (see
/// [`Semaphore::acquire_owned`]); dropping it returns the permit.
///
/// ```
/// use std::sync::Arc;
/// let sem = Arc::new(greenchan::sync::Semaphore::new(1));
/// let p = sem.clone().acquire_owned();
/// assert_eq!(sem.available_permits(), 0);
/// drop(p);
/// assert_eq!(sem.available_permits(), 1);
/// ```
#[must_use = "dropping the permit releases it at once"]
pub struct OwnedSemaphorePermit {
    sem: Arc<Semaphore>,
}

impl OwnedSemaphorePermit {
    /// The semaphore this permit belongs to.
    ///
    /// ```
    /// use std::sync::Arc;
    /// let sem = Arc::new(greenchan::sync::Semaphore::new(1));
    /// let p = sem.clone().acquire_owned();
    /// assert!(Arc::ptr_eq(p.semaphore(), &sem));
    /// ```
    pub fn semaphore(&self) -> &Arc<Semaphore> {
        &self.sem
    }
}

impl Drop for OwnedSemaphorePermit {
    fn drop(&mut self) {
        self.sem.release();
    }
}

impl fmt::Debug for OwnedSemaphorePermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedSemaphorePermit")
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::Semaphore;
    use loom::sync::Arc;
    use loom::thread;
    use std::time::Duration;

    /// One permit, a blocking acquirer and a timed acquirer: the permit ends back in the
    /// semaphore whatever the interleaving (a timed-out waiter never swallows it) and the
    /// blocking acquirer always gets it.
    #[test]
    fn sync_semaphore_timeout_never_loses_a_permit() {
        let mut b = loom::model::Builder::new();
        b.preemption_bound = Some(3);
        b.check(|| {
            let s = Arc::new(Semaphore::new(1));
            let held = s.acquire();
            let s2 = s.clone();
            let timed = thread::spawn(move || {
                if let Some(p) = s2.acquire_timeout(Duration::from_millis(1)) {
                    drop(p);
                }
            });
            let s3 = s.clone();
            let blocking = thread::spawn(move || drop(s3.acquire()));
            drop(held);
            timed.join().unwrap();
            blocking.join().unwrap();
            assert_eq!(s.available_permits(), 1);
        });
    }
}
