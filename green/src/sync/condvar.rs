//! `Condvar`: std's condition variable for this module's [`Mutex`], parking coroutines.
//!
//! A waiter puts its node in the condvar's queue *before* it unlocks the mutex. A notifier
//! changes the condition under the mutex, so it either ran before the waiter locked (and the
//! waiter saw the new condition and did not wait) or after the waiter unlocked, by which time
//! the node is queued and counted in `waiters`: `notify_*` cannot miss it. `notify_*` with no
//! waiter is one atomic load. A timed-out waiter removes its own node under the queue lock; if
//! the node is gone, a notifier took it first, and the wait counts as notified (the
//! notification is consumed, not lost).

use std::collections::VecDeque;
use std::fmt;
use std::sync::{LockResult, PoisonError};
use std::time::{Duration, Instant};

use super::mutex::MutexGuard;
use super::waiter::WaitReason;
use super::waiter::{
    lock_queue, remove, AtomicUsize, Ordering, QueueLock, WaitQueue, Waiter, WAITING, WOKEN,
};

/// A condition variable: coroutines (or threads) wait on it, holding a [`Mutex`] guard, until
/// another notifies them. The API is `std::sync::Condvar`'s. Wake-ups may be spurious: wait in
/// a loop on the condition, or use [`wait_while`](Condvar::wait_while).
///
/// ```
/// use greenchan::sync::{Condvar, Mutex};
/// use std::sync::Arc;
///
/// let pair = Arc::new((Mutex::new(false), Condvar::new()));
/// let pair2 = pair.clone();
/// greenchan::spawn(move || {
///     *pair2.0.lock().unwrap() = true;
///     pair2.1.notify_one();
/// });
/// let (lock, cvar) = &*pair;
/// let ready = cvar.wait_while(lock.lock().unwrap(), |r| !*r).unwrap();
/// assert!(*ready);
/// ```
///
/// [`Mutex`]: super::Mutex
pub struct Condvar {
    waiters: AtomicUsize,
    queue: WaitQueue,
}

/// Whether a timed wait on a [`Condvar`] ended because its time ran out.
///
/// ```
/// use greenchan::sync::{Condvar, Mutex};
/// use std::time::Duration;
/// let (m, c) = (Mutex::new(()), Condvar::new());
/// let (_g, r) = c.wait_timeout(m.lock().unwrap(), Duration::from_millis(1)).unwrap();
/// assert!(r.timed_out());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitTimeoutResult(bool);

impl WaitTimeoutResult {
    /// True if the wait ended because the timeout elapsed.
    pub fn timed_out(&self) -> bool {
        self.0
    }
}

impl Condvar {
    /// A condition variable nobody waits on.
    ///
    /// ```
    /// static C: greenchan::sync::Condvar = greenchan::sync::Condvar::new();
    /// C.notify_all(); // nobody to wake
    /// ```
    #[cfg(not(loom))]
    pub const fn new() -> Condvar {
        Condvar {
            waiters: AtomicUsize::new(0),
            queue: QueueLock::new(VecDeque::new()),
        }
    }

    /// A condition variable nobody waits on.
    #[cfg(loom)]
    pub fn new() -> Condvar {
        Condvar {
            waiters: AtomicUsize::new(0),
            queue: QueueLock::new(VecDeque::new()),
        }
    }

    /// Unlocks the guard's mutex, parks until notified (or spuriously), and locks it again.
    /// `Err` if the mutex is poisoned when relocked (the guard comes back inside it).
    ///
    /// ```
    /// use greenchan::sync::{Condvar, Mutex};
    /// use std::sync::Arc;
    /// let pair = Arc::new((Mutex::new(0), Condvar::new()));
    /// let p = pair.clone();
    /// greenchan::spawn(move || {
    ///     *p.0.lock().unwrap() = 1;
    ///     p.1.notify_all();
    /// });
    /// let mut g = pair.0.lock().unwrap();
    /// while *g == 0 {
    ///     g = pair.1.wait(g).unwrap();
    /// }
    /// ```
    pub fn wait<'a, T: ?Sized>(&self, guard: MutexGuard<'a, T>) -> LockResult<MutexGuard<'a, T>> {
        let mutex = guard.mutex();
        let node = self.enqueue();
        drop(guard); // unlock only now that the node is queued
        node.wait();
        mutex.lock()
    }

    /// Waits until `condition` is false, re-checking it after every wake-up, with the lock
    /// held.
    ///
    /// ```
    /// use greenchan::sync::{Condvar, Mutex};
    /// use std::sync::Arc;
    /// let pair = Arc::new((Mutex::new(3), Condvar::new()));
    /// for _ in 0..3 {
    ///     let p = pair.clone();
    ///     greenchan::spawn(move || {
    ///         *p.0.lock().unwrap() -= 1;
    ///         p.1.notify_one();
    ///     });
    /// }
    /// let g = pair.1.wait_while(pair.0.lock().unwrap(), |n| *n > 0).unwrap();
    /// assert_eq!(*g, 0);
    /// ```
    pub fn wait_while<'a, T: ?Sized, F>(
        &self,
        mut guard: MutexGuard<'a, T>,
        mut condition: F,
    ) -> LockResult<MutexGuard<'a, T>>
    where
        F: FnMut(&mut T) -> bool,
    {
        while condition(&mut *guard) {
            guard = self.wait(guard)?;
        }
        Ok(guard)
    }

    /// Like [`wait`](Condvar::wait), but gives up after `dur`; the result says whether it
    /// timed out. A notification that races with the timeout is consumed by this waiter and
    /// reported as not timed out, so it is never lost.
    ///
    /// ```
    /// use greenchan::sync::{Condvar, Mutex};
    /// use std::time::Duration;
    /// let (m, c) = (Mutex::new(()), Condvar::new());
    /// let (_g, r) = c.wait_timeout(m.lock().unwrap(), Duration::from_millis(2)).unwrap();
    /// assert!(r.timed_out());
    /// ```
    pub fn wait_timeout<'a, T: ?Sized>(
        &self,
        guard: MutexGuard<'a, T>,
        dur: Duration,
    ) -> LockResult<(MutexGuard<'a, T>, WaitTimeoutResult)> {
        let Some(deadline) = Instant::now().checked_add(dur) else {
            return self
                .wait(guard)
                .map(|g| (g, WaitTimeoutResult(false)))
                .map_err(|e| PoisonError::new((e.into_inner(), WaitTimeoutResult(false))));
        };
        let mutex = guard.mutex();
        let node = self.enqueue();
        drop(guard);
        let timed_out = node.wait_deadline(deadline) == WAITING && self.dequeue(&node);
        let result = WaitTimeoutResult(timed_out);
        match mutex.lock() {
            Ok(g) => Ok((g, result)),
            Err(e) => Err(PoisonError::new((e.into_inner(), result))),
        }
    }

    /// Waits while `condition` holds, for at most `dur` in total; the result says whether it
    /// still held when the time ran out.
    ///
    /// ```
    /// use greenchan::sync::{Condvar, Mutex};
    /// use std::time::Duration;
    /// let (m, c) = (Mutex::new(false), Condvar::new());
    /// let (g, r) = c
    ///     .wait_timeout_while(m.lock().unwrap(), Duration::from_millis(2), |ready| !*ready)
    ///     .unwrap();
    /// assert!(r.timed_out() && !*g);
    /// ```
    pub fn wait_timeout_while<'a, T: ?Sized, F>(
        &self,
        mut guard: MutexGuard<'a, T>,
        dur: Duration,
        mut condition: F,
    ) -> LockResult<(MutexGuard<'a, T>, WaitTimeoutResult)>
    where
        F: FnMut(&mut T) -> bool,
    {
        let start = Instant::now();
        loop {
            if !condition(&mut *guard) {
                return Ok((guard, WaitTimeoutResult(false)));
            }
            let Some(left) = dur.checked_sub(start.elapsed()) else {
                return Ok((guard, WaitTimeoutResult(true)));
            };
            guard = match self.wait_timeout(guard, left) {
                Ok((g, _)) => g,
                Err(e) => {
                    let (g, r) = e.into_inner();
                    return Err(PoisonError::new((g, r)));
                }
            };
        }
    }

    /// Wakes one waiter, if any (the longest-waiting one).
    ///
    /// ```
    /// greenchan::sync::Condvar::new().notify_one(); // nobody waits: nothing happens
    /// ```
    pub fn notify_one(&self) {
        if self.waiters.load(Ordering::Acquire) == 0 {
            return;
        }
        let mut q = lock_queue(&self.queue);
        let w = q.pop_front();
        if w.is_some() {
            self.waiters.fetch_sub(1, Ordering::Relaxed);
        }
        drop(q);
        if let Some(w) = w {
            w.wake(WOKEN);
        }
    }

    /// Wakes every waiter.
    ///
    /// ```
    /// greenchan::sync::Condvar::new().notify_all(); // nobody waits: nothing happens
    /// ```
    pub fn notify_all(&self) {
        if self.waiters.load(Ordering::Acquire) == 0 {
            return;
        }
        let mut q = lock_queue(&self.queue);
        let all: VecDeque<_> = std::mem::take(&mut *q);
        self.waiters.store(0, Ordering::Relaxed);
        drop(q);
        for w in all {
            w.wake(WOKEN);
        }
    }

    fn enqueue(&self) -> std::sync::Arc<Waiter> {
        let node = Waiter::new(0, WaitReason::Condvar);
        let mut q = lock_queue(&self.queue);
        q.push_back(node.clone());
        self.waiters.fetch_add(1, Ordering::Relaxed);
        node
    }

    /// Takes a timed-out waiter's node out; false if a notifier dequeued it first (then its
    /// outcome is being published: wait for it, briefly, so the node's wake is not left
    /// dangling as a token for some later park).
    fn dequeue(&self, node: &std::sync::Arc<Waiter>) -> bool {
        let mut q = lock_queue(&self.queue);
        if remove(&mut q, node) {
            self.waiters.fetch_sub(1, Ordering::Relaxed);
            return true;
        }
        drop(q);
        node.wait();
        false
    }
}

impl Default for Condvar {
    fn default() -> Condvar {
        Condvar::new()
    }
}

impl fmt::Debug for Condvar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Condvar").finish_non_exhaustive()
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::super::Mutex;
    use super::Condvar;
    use loom::sync::Arc;
    use loom::thread;
    use std::time::Duration;

    /// A flag set under the mutex then notified: the waiter always sees it (no lost wake-up).
    #[test]
    fn sync_condvar_notify_is_never_lost() {
        loom::model(|| {
            let pair = Arc::new((Mutex::new(false), Condvar::new()));
            let p = pair.clone();
            let t = thread::spawn(move || {
                *p.0.lock().unwrap() = true;
                p.1.notify_one();
            });
            let g = pair.1.wait_while(pair.0.lock().unwrap(), |r| !*r).unwrap();
            assert!(*g);
            drop(g);
            t.join().unwrap();
        });
    }

    /// A timed wait racing a notify: either it timed out and its node is gone, or it was
    /// notified; the queue ends empty either way.
    #[test]
    fn sync_condvar_timeout_races_notify() {
        loom::model(|| {
            let pair = Arc::new((Mutex::new(()), Condvar::new()));
            let p = pair.clone();
            let t = thread::spawn(move || p.1.notify_one());
            let (_g, _r) = pair
                .1
                .wait_timeout(pair.0.lock().unwrap(), Duration::from_millis(1))
                .unwrap();
            t.join().unwrap();
            assert_eq!(
                pair.1.waiters.load(super::Ordering::Relaxed),
                0,
                "a timed-out waiter left its node behind"
            );
        });
    }
}
