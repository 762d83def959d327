//! `RwLock<T>`: std's reader-writer lock, with poisoning, parking coroutines.
//!
//! One word of state: `WRITER` while a writer holds it, `PARKED` while the wait queue is
//! non-empty, and the number of readers in the bits above. Uncontended `read` is one
//! compare-exchange (adding a reader when there is no writer and no waiter), uncontended
//! `write` one compare-exchange `0 -> WRITER`, and the unlocks one atomic op each.
//!
//! Once anyone waits (`PARKED`), the fast paths are closed and the lock becomes FIFO: waiters
//! are queued in arrival order and the lock is *handed* to them, a writer alone or the run of
//! readers at the front of the queue together. So writers never starve behind a stream of
//! readers, nor readers behind writers (Go's `RWMutex` makes the same promise).
//!
//! Races, and why nothing is lost: `PARKED` is set exactly when the queue is non-empty and only
//! changes under the queue lock. A would-be waiter sets it (compare-exchange) after seeing the
//! lock held, under the queue lock; the holder's release then sees `PARKED` (its own atomic op
//! returns the previous state), and whoever leaves the lock free with `PARKED` set (the writer,
//! or the last reader) takes the queue lock and hands the lock on. While the state is "free and
//! `PARKED`", no fast path can take the lock and every slow path needs the queue lock, so the
//! hand-off under that lock cannot be overtaken.
//!
//! Guards may be dropped on another thread than the one that locked (coroutines migrate); that
//! is fine here, so they are `Send` when `T: Send + Sync`.

use std::cell::UnsafeCell;
use std::collections::VecDeque;
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::{LockResult, PoisonError, TryLockError, TryLockResult};

use super::poison;
use super::waiter::WaitReason;
use super::waiter::{lock_queue, AtomicUsize, Ordering, QueueLock, WaitQueue, Waiter};

const WRITER: usize = 1;
const PARKED: usize = 2;
const ONE_READER: usize = 4;

const READ: u8 = 0;
const WRITE: u8 = 1;

pub(crate) struct RawRwLock {
    state: AtomicUsize,
    queue: WaitQueue,
}

impl RawRwLock {
    #[cfg(not(loom))]
    pub(crate) const fn new() -> RawRwLock {
        RawRwLock {
            state: AtomicUsize::new(0),
            queue: QueueLock::new(VecDeque::new()),
        }
    }

    #[cfg(loom)]
    pub(crate) fn new() -> RawRwLock {
        RawRwLock {
            state: AtomicUsize::new(0),
            queue: QueueLock::new(VecDeque::new()),
        }
    }

    pub(crate) fn try_read(&self) -> bool {
        let mut s = self.state.load(Ordering::Relaxed);
        loop {
            if s & (WRITER | PARKED) != 0 || s > usize::MAX - ONE_READER {
                return false;
            }
            match self.state.compare_exchange_weak(
                s,
                s + ONE_READER,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(actual) => s = actual,
            }
        }
    }

    pub(crate) fn try_write(&self) -> bool {
        self.state
            .compare_exchange(0, WRITER, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    pub(crate) fn read(&self) {
        if !self.try_read() {
            self.lock_slow(READ);
        }
    }

    pub(crate) fn write(&self) {
        if !self.try_write() {
            self.lock_slow(WRITE);
        }
    }

    #[cold]
    fn lock_slow(&self, kind: u8) {
        let mut q = lock_queue(&self.queue);
        let mut s = self.state.load(Ordering::Relaxed);
        loop {
            // Only take it here when nobody is queued (FIFO once anyone waits).
            let free = match kind {
                READ => s & (WRITER | PARKED) == 0 && s <= usize::MAX - ONE_READER,
                _ => s == 0,
            };
            let (next, acquires) = if free {
                (if kind == READ { s + ONE_READER } else { WRITER }, true)
            } else if s & PARKED != 0 {
                break;
            } else {
                (s | PARKED, false)
            };
            match self
                .state
                .compare_exchange_weak(s, next, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) if acquires => return,
                Ok(_) => break,
                Err(actual) => s = actual,
            }
        }
        let node = Waiter::new(kind, WaitReason::RwLock);
        q.push_back(node.clone());
        drop(q);
        // Only a grant dequeues a node here, so the outcome is the lock itself.
        node.wait();
    }

    /// # Safety
    ///
    /// The caller holds a read lock.
    pub(crate) unsafe fn read_unlock(&self) {
        let prev = self.state.fetch_sub(ONE_READER, Ordering::Release);
        if prev == ONE_READER | PARKED {
            self.hand_off();
        }
    }

    /// # Safety
    ///
    /// The caller holds the write lock.
    pub(crate) unsafe fn write_unlock(&self) {
        if self
            .state
            .compare_exchange(WRITER, 0, Ordering::Release, Ordering::Relaxed)
            .is_err()
        {
            // PARKED is set (nothing else can be, while we write): free it and hand it on.
            self.state.fetch_and(!WRITER, Ordering::Release);
            self.hand_off();
        }
    }

    /// The lock was just left free with `PARKED` set: grant it to the front of the queue.
    #[cold]
    fn hand_off(&self) {
        let mut q = lock_queue(&self.queue);
        let s = self.state.load(Ordering::Acquire);
        if s != PARKED {
            return; // already handed on (cannot happen with one releaser, but be safe)
        }
        let mut granted = Vec::new();
        let mut next = 0;
        if q.front().is_some_and(|w| w.kind == WRITE) {
            granted.push(q.pop_front().expect("front exists"));
            next = WRITER;
        } else {
            while q.front().is_some_and(|w| w.kind == READ) {
                granted.push(q.pop_front().expect("front exists"));
                next += ONE_READER;
            }
        }
        if !q.is_empty() {
            next |= PARKED;
        }
        // Stable: free and PARKED means no fast path can change the state, and every slow
        // path needs the queue lock we hold.
        self.state.store(next, Ordering::Release);
        drop(q);
        for w in granted {
            w.wake(super::waiter::GRANTED);
        }
    }
}

/// A reader-writer lock: any number of readers or one writer at a time, parking the coroutine
/// (or blocking the thread) while it waits. The API is `std::sync::RwLock`'s, poisoning
/// included (a panic while *writing* poisons it). Fair once contended: waiters are served in
/// arrival order, consecutive readers together. Because of that, a reader that takes a second
/// read lock while a writer is queued waits behind the writer, which waits for the first read
/// lock: do not take a lock you already hold (std's documentation warns the same).
///
/// ```
/// use greenchan::sync::RwLock;
///
/// let lock = RwLock::new(5);
/// {
///     let r1 = lock.read().unwrap();
///     let r2 = lock.read().unwrap(); // readers share
///     assert_eq!(*r1 + *r2, 10);
/// }
/// *lock.write().unwrap() += 1; // one writer
/// assert_eq!(*lock.read().unwrap(), 6);
/// ```
pub struct RwLock<T: ?Sized> {
    raw: RawRwLock,
    poison: poison::Flag,
    data: UnsafeCell<T>,
}

// SAFETY: readers share `&T` across threads (needs `T: Sync`), a writer gets `&mut T` on
// whichever thread it runs (needs `T: Send`), as std's.
unsafe impl<T: ?Sized + Send + Sync> Sync for RwLock<T> {}
// SAFETY: moving the lock moves the `T`.
unsafe impl<T: ?Sized + Send> Send for RwLock<T> {}

/// Shared read access to an [`RwLock`]'s data; releases it when dropped.
///
/// ```
/// let l = greenchan::sync::RwLock::new(1);
/// let g = l.read().unwrap();
/// assert_eq!(*g, 1);
/// ```
#[must_use = "if unused the RwLock will immediately unlock"]
pub struct RwLockReadGuard<'a, T: ?Sized + 'a> {
    lock: &'a RwLock<T>,
}

/// Exclusive write access to an [`RwLock`]'s data; releases it when dropped.
///
/// ```
/// let l = greenchan::sync::RwLock::new(1);
/// *l.write().unwrap() = 2;
/// assert_eq!(*l.read().unwrap(), 2);
/// ```
#[must_use = "if unused the RwLock will immediately unlock"]
pub struct RwLockWriteGuard<'a, T: ?Sized + 'a> {
    lock: &'a RwLock<T>,
    poison: poison::Guard,
}

impl<T> RwLock<T> {
    /// A new unlocked lock holding `value`. `const`, so it can initialise a `static`.
    ///
    /// ```
    /// static L: greenchan::sync::RwLock<u8> = greenchan::sync::RwLock::new(0);
    /// assert_eq!(*L.read().unwrap(), 0);
    /// ```
    #[cfg(not(loom))]
    pub const fn new(value: T) -> RwLock<T> {
        RwLock {
            raw: RawRwLock::new(),
            poison: poison::Flag::new(),
            data: UnsafeCell::new(value),
        }
    }

    /// A new unlocked lock holding `value`.
    #[cfg(loom)]
    pub fn new(value: T) -> RwLock<T> {
        RwLock {
            raw: RawRwLock::new(),
            poison: poison::Flag::new(),
            data: UnsafeCell::new(value),
        }
    }

    /// Consumes the lock and returns the data; `Err` (still carrying it) if poisoned.
    ///
    /// ```
    /// assert_eq!(greenchan::sync::RwLock::new(3).into_inner().unwrap(), 3);
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

impl<T: ?Sized> RwLock<T> {
    /// Locks for reading, parking while a writer holds the lock or anyone waits for it.
    /// `Err` (carrying the guard) if poisoned.
    ///
    /// ```
    /// let l = greenchan::sync::RwLock::new("x");
    /// assert_eq!(*l.read().unwrap(), "x");
    /// ```
    pub fn read(&self) -> LockResult<RwLockReadGuard<'_, T>> {
        // A preemption point, as every runtime call (DESIGN §3): yields first if the
        // coroutine's time slice is over (never while holding what it takes here).
        crate::coroutine::preempt_point();
        self.raw.read();
        self.read_guard()
    }

    /// Takes a read lock if that needs no wait.
    ///
    /// ```
    /// let l = greenchan::sync::RwLock::new(0);
    /// let w = l.write().unwrap();
    /// assert!(l.try_read().is_err());
    /// drop(w);
    /// assert!(l.try_read().is_ok());
    /// ```
    pub fn try_read(&self) -> TryLockResult<RwLockReadGuard<'_, T>> {
        // A preemption point, as every runtime call (DESIGN §3): yields first if the
        // coroutine's time slice is over (never while holding what it takes here).
        crate::coroutine::preempt_point();
        if !self.raw.try_read() {
            return Err(TryLockError::WouldBlock);
        }
        self.read_guard().map_err(TryLockError::Poisoned)
    }

    fn read_guard(&self) -> LockResult<RwLockReadGuard<'_, T>> {
        let g = RwLockReadGuard { lock: self };
        self.poison.map_result(g)
    }

    /// Locks for writing, parking until no reader or writer holds it and earlier waiters
    /// were served. `Err` (carrying the guard) if poisoned.
    ///
    /// ```
    /// let l = greenchan::sync::RwLock::new(vec![]);
    /// l.write().unwrap().push(1);
    /// assert_eq!(l.read().unwrap().len(), 1);
    /// ```
    pub fn write(&self) -> LockResult<RwLockWriteGuard<'_, T>> {
        // A preemption point, as every runtime call (DESIGN §3): yields first if the
        // coroutine's time slice is over (never while holding what it takes here).
        crate::coroutine::preempt_point();
        self.raw.write();
        self.write_guard()
    }

    /// Takes the write lock if it is free right now.
    ///
    /// ```
    /// let l = greenchan::sync::RwLock::new(0);
    /// let r = l.read().unwrap();
    /// assert!(l.try_write().is_err());
    /// drop(r);
    /// assert!(l.try_write().is_ok());
    /// ```
    pub fn try_write(&self) -> TryLockResult<RwLockWriteGuard<'_, T>> {
        // A preemption point, as every runtime call (DESIGN §3): yields first if the
        // coroutine's time slice is over (never while holding what it takes here).
        crate::coroutine::preempt_point();
        if !self.raw.try_write() {
            return Err(TryLockError::WouldBlock);
        }
        self.write_guard().map_err(TryLockError::Poisoned)
    }

    fn write_guard(&self) -> LockResult<RwLockWriteGuard<'_, T>> {
        let g = RwLockWriteGuard {
            lock: self,
            poison: self.poison.guard(),
        };
        self.poison.map_result(g)
    }

    /// True if a writer panicked while holding the lock.
    ///
    /// ```
    /// assert!(!greenchan::sync::RwLock::new(0).is_poisoned());
    /// ```
    pub fn is_poisoned(&self) -> bool {
        self.poison.get()
    }

    /// Clears the poisoned flag.
    ///
    /// ```
    /// let l = greenchan::sync::RwLock::new(0);
    /// l.clear_poison();
    /// assert!(!l.is_poisoned());
    /// ```
    pub fn clear_poison(&self) {
        self.poison.clear();
    }

    /// A mutable reference to the data; no locking needed, as the borrow is exclusive.
    ///
    /// ```
    /// let mut l = greenchan::sync::RwLock::new(0);
    /// *l.get_mut().unwrap() = 9;
    /// assert_eq!(*l.read().unwrap(), 9);
    /// ```
    pub fn get_mut(&mut self) -> LockResult<&mut T> {
        let data = self.data.get_mut();
        self.poison.map_result(data)
    }
}

impl<T: Default> Default for RwLock<T> {
    fn default() -> RwLock<T> {
        RwLock::new(T::default())
    }
}

impl<T> From<T> for RwLock<T> {
    fn from(value: T) -> RwLock<T> {
        RwLock::new(value)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("RwLock");
        match self.try_read() {
            Ok(g) => d.field("data", &&*g),
            Err(TryLockError::Poisoned(e)) => d.field("data", &&*e.into_inner()),
            Err(TryLockError::WouldBlock) => d.field("data", &format_args!("<locked>")),
        };
        d.field("poisoned", &self.poison.get())
            .finish_non_exhaustive()
    }
}

impl<T: ?Sized> Deref for RwLockReadGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: a read lock is held: no writer exists while this guard lives.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for RwLockReadGuard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: this guard holds one read lock, released once, here.
        unsafe { self.lock.raw.read_unlock() }
    }
}

impl<T: ?Sized> Deref for RwLockWriteGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the write lock is held: nobody else accesses the data.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> DerefMut for RwLockWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the write lock is held and `&mut self` makes this the only access.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for RwLockWriteGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.poison.done(&self.poison);
        // SAFETY: this guard holds the write lock, released once, here.
        unsafe { self.lock.raw.write_unlock() }
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockWriteGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::RawRwLock;
    use loom::sync::atomic::{AtomicUsize, Ordering};
    use loom::sync::Arc;
    use loom::thread;

    /// A reader and a writer contend with a main-thread writer: no reader overlaps a writer,
    /// no two writers overlap, and every party gets the lock (no lost hand-off).
    #[test]
    fn sync_rwlock_excludes_and_hands_off() {
        let mut b = loom::model::Builder::new();
        b.preemption_bound = Some(3);
        b.check(|| {
            let l = Arc::new(RawRwLock::new());
            let writers = Arc::new(AtomicUsize::new(0));
            let (l2, w2) = (l.clone(), writers.clone());
            let reader = thread::spawn(move || {
                l2.read();
                assert_eq!(w2.load(Ordering::Relaxed), 0);
                // SAFETY: read-locked above.
                unsafe { l2.read_unlock() };
            });
            let (l3, w3) = (l.clone(), writers.clone());
            let writer = thread::spawn(move || {
                l3.write();
                assert_eq!(w3.fetch_add(1, Ordering::Relaxed), 0);
                w3.fetch_sub(1, Ordering::Relaxed);
                // SAFETY: write-locked above.
                unsafe { l3.write_unlock() };
            });
            l.write();
            assert_eq!(writers.fetch_add(1, Ordering::Relaxed), 0);
            writers.fetch_sub(1, Ordering::Relaxed);
            // SAFETY: write-locked above.
            unsafe { l.write_unlock() };
            reader.join().unwrap();
            writer.join().unwrap();
        });
    }
}
