//! `WaitGroup`: wait until a group of coroutines is done, in crossbeam-utils' style (every
//! handle is a member; clone to add one, drop to mark it done) and in Go's (`add(n)` then
//! `done()` n times), or both at once.
//!
//! One 64-bit counter holds both: live handles in the high half, outstanding `add`s in the low
//! half. The group is finished when the whole word is zero. Whoever brings it to zero (a
//! handle's drop, a `done`, or `wait` giving up its own handle) takes the queue lock and wakes
//! every waiter. A waiter checks for zero under that same lock before queueing, so it either
//! sees zero or is in the queue before the last decrement's wake-up looks: no lost wake-up.
//! Once zero, the word stays zero: `add` needs a live handle, and there are none left.

use std::collections::VecDeque;
use std::fmt;
use std::mem::ManuallyDrop;
use std::sync::Arc;

use super::waiter::WaitReason;
use super::waiter::{lock_queue, AtomicU64, Ordering, QueueLock, WaitQueue, Waiter};

const HANDLE: u64 = 1 << 32;
const ADDS: u64 = HANDLE - 1;

struct Inner {
    count: AtomicU64,
    queue: WaitQueue,
}

/// Waits for a group of coroutines (or threads) to finish. Two ways to count, which mix
/// freely:
///
/// * crossbeam-utils' way: each `WaitGroup` handle is a member of the group. Clone it for each
///   worker and drop the clone when the worker is done; [`wait`](WaitGroup::wait) gives up the
///   waiter's own handle and returns once every other handle is dropped.
/// * Go's way: [`add(n)`](WaitGroup::add) announces `n` pieces of work and each
///   [`done()`](WaitGroup::done) retires one; `wait` also waits for every `add` to be matched by
///   a `done`.
///
/// `wait` returns when there are no other handles *and* no outstanding adds. In Go's style the
/// clones you move into the workers are dropped when they end anyway, so the two conditions
/// agree. `wait` takes `self`: a finished group is not reused (make a new one).
///
/// ```
/// use greenchan::sync::WaitGroup;
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
///
/// let hits = Arc::new(AtomicUsize::new(0));
///
/// // crossbeam-utils style
/// let wg = WaitGroup::new();
/// for _ in 0..4 {
///     let (wg, hits) = (wg.clone(), hits.clone());
///     greenchan::spawn(move || {
///         hits.fetch_add(1, Ordering::Relaxed);
///         drop(wg);
///     });
/// }
/// wg.wait();
/// assert_eq!(hits.load(Ordering::Relaxed), 4);
///
/// // Go style
/// let wg = WaitGroup::new();
/// wg.add(4);
/// for _ in 0..4 {
///     let (wg, hits) = (wg.clone(), hits.clone());
///     greenchan::spawn(move || {
///         hits.fetch_add(1, Ordering::Relaxed);
///         wg.done();
///     });
/// }
/// wg.wait();
/// assert_eq!(hits.load(Ordering::Relaxed), 8);
/// ```
pub struct WaitGroup {
    inner: Arc<Inner>,
}

impl WaitGroup {
    /// A group with one member: this handle.
    ///
    /// ```
    /// greenchan::sync::WaitGroup::new().wait(); // nobody else: returns at once
    /// ```
    pub fn new() -> WaitGroup {
        WaitGroup {
            inner: Arc::new(Inner {
                count: AtomicU64::new(HANDLE),
                queue: QueueLock::new(VecDeque::new()),
            }),
        }
    }

    /// Adds `n` outstanding pieces of work, each retired by one [`done`](WaitGroup::done)
    /// (Go's `Add` with a positive delta).
    ///
    /// # Panics
    ///
    /// If more than 2³² − 1 adds would be outstanding at once.
    ///
    /// ```
    /// let wg = greenchan::sync::WaitGroup::new();
    /// wg.add(1);
    /// let wg2 = wg.clone();
    /// greenchan::spawn(move || wg2.done());
    /// wg.wait();
    /// ```
    pub fn add(&self, n: usize) {
        let mut c = self.inner.count.load(Ordering::Relaxed);
        loop {
            let adds = (c & ADDS) as usize;
            assert!(
                n <= ADDS as usize - adds,
                "WaitGroup::add: more than 2^32 - 1 outstanding adds"
            );
            match self.inner.count.compare_exchange_weak(
                c,
                c + n as u64,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(actual) => c = actual,
            }
        }
    }

    /// Retires one piece of work announced with [`add`](WaitGroup::add) (Go's `Done`).
    ///
    /// # Panics
    ///
    /// If there is no outstanding `add` (Go panics with "negative WaitGroup counter" too):
    /// it would otherwise retire some other member's handle.
    ///
    /// ```
    /// let wg = greenchan::sync::WaitGroup::new();
    /// wg.add(2);
    /// wg.done();
    /// wg.done();
    /// wg.wait();
    /// ```
    pub fn done(&self) {
        let mut c = self.inner.count.load(Ordering::Relaxed);
        loop {
            assert!(c & ADDS != 0, "WaitGroup::done without a matching add");
            match self.inner.count.compare_exchange_weak(
                c,
                c - 1,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(actual) => c = actual,
            }
        }
        // Our handle is alive, so this cannot have reached zero: nobody to wake yet.
    }

    /// Gives up this handle and waits, parking the coroutine (or blocking the thread), until
    /// every other handle is dropped and every `add` is matched by a `done`.
    ///
    /// ```
    /// let wg = greenchan::sync::WaitGroup::new();
    /// let wg2 = wg.clone();
    /// greenchan::spawn(move || drop(wg2));
    /// wg.wait();
    /// ```
    pub fn wait(self) {
        let this = ManuallyDrop::new(self);
        // SAFETY: `this` is never used or dropped again; we move the Arc out exactly once.
        let inner = unsafe { std::ptr::read(&this.inner) };
        if release(&inner, HANDLE) {
            return;
        }
        let mut q = lock_queue(&inner.queue);
        if inner.count.load(Ordering::Acquire) == 0 {
            return;
        }
        let node = Waiter::new(0, WaitReason::WaitGroup);
        q.push_back(node.clone());
        drop(q);
        node.wait();
    }
}

/// Subtracts `units`; if that finished the group, wakes every waiter. True if it finished.
fn release(inner: &Inner, units: u64) -> bool {
    if inner.count.fetch_sub(units, Ordering::AcqRel) != units {
        return false;
    }
    let mut q = lock_queue(&inner.queue);
    let all = std::mem::take(&mut *q);
    drop(q);
    for w in all {
        w.wake(super::waiter::WOKEN);
    }
    true
}

impl Default for WaitGroup {
    fn default() -> WaitGroup {
        WaitGroup::new()
    }
}

impl Clone for WaitGroup {
    /// A new member of the group.
    fn clone(&self) -> WaitGroup {
        let prev = self.inner.count.fetch_add(HANDLE, Ordering::Relaxed);
        assert!(prev < u64::MAX - HANDLE, "WaitGroup: too many handles");
        WaitGroup {
            inner: self.inner.clone(),
        }
    }
}

impl Drop for WaitGroup {
    /// This member is done.
    fn drop(&mut self) {
        release(&self.inner, HANDLE);
    }
}

impl fmt::Debug for WaitGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = self.inner.count.load(Ordering::Relaxed);
        f.debug_struct("WaitGroup")
            .field("handles", &(c >> 32))
            .field("outstanding_adds", &(c & ADDS))
            .finish()
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::WaitGroup;
    use loom::sync::atomic::{AtomicUsize, Ordering};
    use loom::sync::Arc;
    use loom::thread;

    /// Both styles at once: `wait` returns only after the other member is dropped and the
    /// add is done, and always returns (no lost wake-up), whichever of the two comes last.
    #[test]
    fn sync_wait_group_waits_for_both_styles() {
        loom::model(|| {
            let wg = WaitGroup::new();
            let work = Arc::new(AtomicUsize::new(0));
            wg.add(1);
            let (a, wa) = (wg.clone(), work.clone());
            let t = thread::spawn(move || {
                wa.fetch_add(1, Ordering::Relaxed);
                a.done();
                wa.fetch_add(1, Ordering::Relaxed);
                drop(a);
            });
            wg.wait();
            assert_eq!(work.load(Ordering::Relaxed), 2);
            t.join().unwrap();
        });
    }
}
