//! `Mutex<T>`: std's mutex, with poisoning, whose `lock` parks the coroutine instead of
//! blocking its worker.
//!
//! The lock is one word, `state`: `LOCKED` while held, `PARKED` while the wait queue is
//! non-empty. Locking an unheld, uncontended mutex is one compare-exchange (`0 -> LOCKED`), and
//! so is unlocking it (`LOCKED -> 0`). Contention takes the slow paths, which edit the wait
//! queue under its short queue lock. The rules that make them right:
//!
//! * `PARKED` is set exactly when the queue is non-empty, and only changed under the queue
//!   lock. So an unlocker whose fast compare-exchange fails (it saw `PARKED`) finds a waiter
//!   when it takes the queue lock.
//! * A waiter re-checks `LOCKED` under the queue lock, after setting `PARKED` with a
//!   compare-exchange: if the holder's fast unlock happened first, the waiter sees the lock free
//!   and takes it; if it happens after, the unlock fails and goes the slow way, where it finds
//!   the waiter. No wake-up is lost.
//! * Like Go's mutex, it runs in two modes. Normally the unlocker releases the lock and wakes the
//!   first waiter, which competes for it with newcomers (a newcomer already on a CPU usually wins,
//!   which is faster than handing the lock to a parked waiter). A waiter woken and beaten goes
//!   back to the *front* of the queue. Once the first waiter has waited for more than a
//!   millisecond (Go's starvation threshold) the unlocker hands it the lock directly, without
//!   ever releasing it, so no waiter starves.
//!
//! A guard may be dropped on another worker thread than the one that locked: a coroutine holding
//! it may migrate while parked. Unlike a pthread mutex, nothing here cares which thread unlocks,
//! so the guard is `Send` (when `T: Send`), unlike std's.

use std::cell::UnsafeCell;
use std::collections::VecDeque;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, LockResult, PoisonError, TryLockError, TryLockResult};

use super::poison;
use super::waiter::WaitReason;
use super::waiter::{lock_queue, AtomicUsize, Ordering, QueueLock, WaitQueue, Waiter, GRANTED};

const LOCKED: usize = 1;
const PARKED: usize = 2;

/// How many times a contended `lock` retries before it queues, when nobody is queued yet.
#[cfg(not(loom))]
const SPINS: u32 = 6;
#[cfg(loom)]
const SPINS: u32 = 0;

/// A waiter that has waited this long gets the lock handed to it (Go's starvation mode).
#[cfg(not(loom))]
const STARVATION: std::time::Duration = std::time::Duration::from_millis(1);

/// The lock without the data: the protocol the module docs describe.
pub(crate) struct RawMutex {
    state: AtomicUsize,
    queue: WaitQueue,
}

impl RawMutex {
    #[cfg(not(loom))]
    pub(crate) const fn new() -> RawMutex {
        RawMutex {
            state: AtomicUsize::new(0),
            queue: QueueLock::new(VecDeque::new()),
        }
    }

    #[cfg(loom)]
    pub(crate) fn new() -> RawMutex {
        RawMutex {
            state: AtomicUsize::new(0),
            queue: QueueLock::new(VecDeque::new()),
        }
    }

    #[inline]
    pub(crate) fn lock(&self) {
        if self
            .state
            .compare_exchange(0, LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            self.lock_slow();
        }
    }

    #[inline]
    pub(crate) fn try_lock(&self) -> bool {
        let mut s = self.state.load(Ordering::Relaxed);
        loop {
            if s & LOCKED != 0 {
                return false;
            }
            match self.state.compare_exchange_weak(
                s,
                s | LOCKED,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(actual) => s = actual,
            }
        }
    }

    #[cold]
    // Under loom `SPINS` is 0 and the spin loop below is skipped on purpose.
    #[cfg_attr(loom, allow(clippy::absurd_extreme_comparisons))]
    fn lock_slow(&self) {
        let mut requeued = 0u32;
        #[cfg(not(loom))]
        let since = std::time::Instant::now();
        loop {
            // Spin a little while nobody is queued: the holder is likely on a CPU and about
            // to unlock, and a park costs two context switches.
            let mut spins = 0;
            while spins < SPINS {
                let s = self.state.load(Ordering::Relaxed);
                if s & PARKED != 0 {
                    break;
                }
                if s & LOCKED == 0 && self.try_lock() {
                    return;
                }
                for _ in 0..(1 << spins) {
                    std::hint::spin_loop();
                }
                spins += 1;
            }

            let mut q = lock_queue(&self.queue);
            let mut s = self.state.load(Ordering::Relaxed);
            loop {
                if s & LOCKED == 0 {
                    match self.state.compare_exchange_weak(
                        s,
                        s | LOCKED,
                        Ordering::Acquire,
                        Ordering::Relaxed,
                    ) {
                        Ok(_) => return,
                        Err(actual) => s = actual,
                    }
                } else if s & PARKED != 0 {
                    break;
                } else {
                    // Announce a waiter before parking: from here the holder's fast unlock
                    // fails and it comes to the queue, where it will find us.
                    match self.state.compare_exchange_weak(
                        s,
                        s | PARKED,
                        Ordering::Relaxed,
                        Ordering::Relaxed,
                    ) {
                        Ok(_) => break,
                        Err(actual) => s = actual,
                    }
                }
            }
            let mut node = Waiter::new(0, WaitReason::Mutex);
            {
                let n = Arc::get_mut(&mut node).expect("fresh node");
                n.requeued = requeued;
                #[cfg(not(loom))]
                {
                    n.since = since;
                }
            }
            if requeued > 0 {
                q.push_front(node.clone()); // keep its place: it was first when woken
            } else {
                q.push_back(node.clone());
            }
            drop(q);
            if node.wait() == GRANTED {
                return; // handed over: we hold the lock
            }
            requeued += 1;
        }
    }

    /// # Safety
    ///
    /// The caller holds the lock.
    #[inline]
    pub(crate) unsafe fn unlock(&self) {
        if self
            .state
            .compare_exchange(LOCKED, 0, Ordering::Release, Ordering::Relaxed)
            .is_err()
        {
            self.unlock_slow();
        }
    }

    #[cold]
    fn unlock_slow(&self) {
        let mut q = lock_queue(&self.queue);
        // We hold the lock and the queue lock, and `PARKED` is set (our fast unlock failed
        // and only the queue lock's holder clears it): nobody else can change the state now,
        // so plain stores are enough.
        let Some(w) = q.pop_front() else {
            // Unreachable by the invariant; release rather than wedge.
            self.state.store(0, Ordering::Release);
            return;
        };
        let parked = if q.is_empty() { 0 } else { PARKED };
        if starving(&w) {
            self.state.store(LOCKED | parked, Ordering::Relaxed);
            drop(q);
            w.wake(GRANTED); // the lock passes to `w` (its Acquire pairs with this Release)
        } else {
            self.state.store(parked, Ordering::Release);
            drop(q);
            w.wake(super::waiter::WOKEN);
        }
    }
}

#[cfg(not(loom))]
fn starving(w: &Waiter) -> bool {
    w.since.elapsed() >= STARVATION
}

/// Under loom, time is not modelled: a waiter that was woken and beaten once is starving.
#[cfg(loom)]
fn starving(w: &Waiter) -> bool {
    w.requeued > 0
}

/// A mutual exclusion lock whose [`lock`](Mutex::lock) parks the calling coroutine (its worker
/// runs others meanwhile), or blocks the calling thread outside coroutines. The API is
/// `std::sync::Mutex`'s, poisoning included.
///
/// ```
/// use greenchan::sync::Mutex;
/// use std::sync::Arc;
///
/// let count = Arc::new(Mutex::new(0));
/// let hs: Vec<_> = (0..8)
///     .map(|_| {
///         let count = count.clone();
///         greenchan::spawn(move || *count.lock().unwrap() += 1)
///     })
///     .collect();
/// for h in hs {
///     h.join().unwrap();
/// }
/// assert_eq!(*count.lock().unwrap(), 8);
/// ```
pub struct Mutex<T: ?Sized> {
    raw: RawMutex,
    poison: poison::Flag,
    data: UnsafeCell<T>,
}

// SAFETY: the mutex hands out access to `T` to one party at a time, so sharing it between
// threads needs only `T: Send` (as std's).
unsafe impl<T: ?Sized + Send> Sync for Mutex<T> {}
// SAFETY: moving the mutex moves the `T`.
unsafe impl<T: ?Sized + Send> Send for Mutex<T> {}

/// The proof that a [`Mutex`] is locked; unlocks it when dropped. Dereferences to the data.
///
/// Unlike std's, it is `Send` when `T: Send`: a coroutine holding it may migrate to another
/// worker thread while parked, and this mutex may be unlocked from any thread.
///
/// ```
/// let m = greenchan::sync::Mutex::new(vec![1]);
/// m.lock().unwrap().push(2);
/// assert_eq!(*m.lock().unwrap(), [1, 2]);
/// ```
#[must_use = "if unused the Mutex will immediately unlock"]
pub struct MutexGuard<'a, T: ?Sized + 'a> {
    lock: &'a Mutex<T>,
    poison: poison::Guard,
    // Send iff T: Send, Sync iff T: Send + Sync (the guard hands out `&T` and `&mut T`).
    _marker: PhantomData<&'a mut T>,
}

impl<T> Mutex<T> {
    /// A new unlocked mutex holding `value`. `const`, so it can initialise a `static`.
    ///
    /// ```
    /// static M: greenchan::sync::Mutex<u32> = greenchan::sync::Mutex::new(0);
    /// *M.lock().unwrap() += 1;
    /// ```
    #[cfg(not(loom))]
    pub const fn new(value: T) -> Mutex<T> {
        Mutex {
            raw: RawMutex::new(),
            poison: poison::Flag::new(),
            data: UnsafeCell::new(value),
        }
    }

    /// A new unlocked mutex holding `value`.
    #[cfg(loom)]
    pub fn new(value: T) -> Mutex<T> {
        Mutex {
            raw: RawMutex::new(),
            poison: poison::Flag::new(),
            data: UnsafeCell::new(value),
        }
    }

    /// Consumes the mutex and returns the data; `Err` (still carrying it) if poisoned.
    ///
    /// ```
    /// let m = greenchan::sync::Mutex::new(5);
    /// assert_eq!(m.into_inner().unwrap(), 5);
    /// ```
    pub fn into_inner(self) -> LockResult<T> {
        let poisoned = self.poison.get();
        let data = self.data.into_inner();
        if poisoned {
            Err(PoisonError::new(data))
        } else {
            Ok(data)
        }
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Locks the mutex, parking the coroutine (or blocking the thread) until it is free.
    ///
    /// Returns `Err` carrying the guard if a holder panicked while holding it (the lock is
    /// held either way). Locking a mutex the caller already holds never returns.
    ///
    /// ```
    /// let m = greenchan::sync::Mutex::new(1);
    /// *m.lock().unwrap() += 1;
    /// assert_eq!(*m.lock().unwrap(), 2);
    /// ```
    pub fn lock(&self) -> LockResult<MutexGuard<'_, T>> {
        // A preemption point, as every runtime call (DESIGN §3): yields first if the
        // coroutine's time slice is over (never while holding what it takes here).
        crate::coroutine::preempt_point();
        self.raw.lock();
        // SAFETY: we just took the lock.
        unsafe { self.guard() }
    }

    /// Takes the lock if it is free right now.
    ///
    /// ```
    /// use std::sync::TryLockError;
    /// let m = greenchan::sync::Mutex::new(());
    /// let g = m.try_lock().unwrap();
    /// assert!(matches!(m.try_lock(), Err(TryLockError::WouldBlock)));
    /// drop(g);
    /// assert!(m.try_lock().is_ok());
    /// ```
    pub fn try_lock(&self) -> TryLockResult<MutexGuard<'_, T>> {
        // A preemption point, as every runtime call (DESIGN §3): yields first if the
        // coroutine's time slice is over (never while holding what it takes here).
        crate::coroutine::preempt_point();
        if !self.raw.try_lock() {
            return Err(TryLockError::WouldBlock);
        }
        // SAFETY: we just took the lock.
        match unsafe { self.guard() } {
            Ok(g) => Ok(g),
            Err(e) => Err(TryLockError::Poisoned(e)),
        }
    }

    /// # Safety
    ///
    /// The caller holds the lock; the guard made here will release it.
    unsafe fn guard(&self) -> LockResult<MutexGuard<'_, T>> {
        let guard = MutexGuard {
            lock: self,
            poison: self.poison.guard(),
            _marker: PhantomData,
        };
        self.poison.map_result(guard)
    }

    /// True if a holder panicked while holding the lock.
    ///
    /// ```
    /// let m = std::sync::Arc::new(greenchan::sync::Mutex::new(0));
    /// let m2 = m.clone();
    /// let _ = greenchan::spawn(move || {
    ///     let _g = m2.lock().unwrap();
    ///     panic!("poison it");
    /// })
    /// .join();
    /// assert!(m.is_poisoned());
    /// ```
    pub fn is_poisoned(&self) -> bool {
        self.poison.get()
    }

    /// Clears the poisoned flag, once the caller has made the data consistent again.
    ///
    /// ```
    /// let m = greenchan::sync::Mutex::new(0);
    /// m.clear_poison();
    /// assert!(!m.is_poisoned());
    /// ```
    pub fn clear_poison(&self) {
        self.poison.clear();
    }

    /// A mutable reference to the data; no locking needed, as the borrow is exclusive.
    ///
    /// ```
    /// let mut m = greenchan::sync::Mutex::new(1);
    /// *m.get_mut().unwrap() = 2;
    /// assert_eq!(*m.lock().unwrap(), 2);
    /// ```
    pub fn get_mut(&mut self) -> LockResult<&mut T> {
        let data = self.data.get_mut();
        self.poison.map_result(data)
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Mutex<T> {
        Mutex::new(T::default())
    }
}

impl<T> From<T> for Mutex<T> {
    fn from(value: T) -> Mutex<T> {
        Mutex::new(value)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Mutex");
        match self.try_lock() {
            Ok(g) => d.field("data", &&*g),
            Err(TryLockError::Poisoned(e)) => d.field("data", &&*e.into_inner()),
            Err(TryLockError::WouldBlock) => d.field("data", &format_args!("<locked>")),
        };
        d.field("poisoned", &self.poison.get())
            .finish_non_exhaustive()
    }
}

impl<'a, T: ?Sized> MutexGuard<'a, T> {
    pub(crate) fn mutex(&self) -> &'a Mutex<T> {
        self.lock
    }
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard proves the lock is held, so no one else touches the data.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard proves the lock is held, and `&mut self` that this is the only use.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.poison.done(&self.poison);
        // SAFETY: the guard's existence proves the lock is held, and it is released once, here.
        unsafe { self.lock.raw.unlock() }
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::RawMutex;
    use loom::sync::atomic::{AtomicUsize, Ordering};
    use loom::sync::Arc;
    use loom::thread;

    /// Three parties contend, one of them twice: mutual exclusion holds and every lock is
    /// eventually granted (loom fails a model that deadlocks, i.e. a lost wake-up), through
    /// both the normal wake-and-compete path and the starvation hand-off (under loom a waiter
    /// woken and beaten once is starving, so the second unlock after that hands over).
    #[test]
    fn sync_mutex_excludes_and_never_loses_a_wakeup() {
        let mut b = loom::model::Builder::new();
        b.preemption_bound = Some(3);
        b.check(|| {
            let m = Arc::new(RawMutex::new());
            let inside = Arc::new(AtomicUsize::new(0));
            let critical = |m: &RawMutex, inside: &AtomicUsize| {
                m.lock();
                assert_eq!(inside.fetch_add(1, Ordering::Relaxed), 0, "two holders");
                inside.fetch_sub(1, Ordering::Relaxed);
                // SAFETY: locked just above.
                unsafe { m.unlock() };
            };
            let hs: Vec<_> = (0..2)
                .map(|_| {
                    let (m, inside) = (m.clone(), inside.clone());
                    thread::spawn(move || critical(&m, &inside))
                })
                .collect();
            critical(&m, &inside);
            critical(&m, &inside);
            for h in hs {
                h.join().unwrap();
            }
        });
    }

    /// `try_lock` racing a blocked `lock` and an unlock: never two holders, nobody stranded.
    #[test]
    fn sync_mutex_try_lock_races_unlock() {
        loom::model(|| {
            let m = Arc::new(RawMutex::new());
            m.lock();
            let m2 = m.clone();
            let waiter = thread::spawn(move || {
                m2.lock();
                // SAFETY: locked just above.
                unsafe { m2.unlock() };
            });
            // SAFETY: locked above.
            unsafe { m.unlock() };
            if m.try_lock() {
                // SAFETY: locked by try_lock.
                unsafe { m.unlock() };
            }
            waiter.join().unwrap();
        });
    }
}
