//! `OnceLock<T>` and `Lazy<T, F>`: one-time initialisation where concurrent callers park (a
//! coroutine) or block (a thread) while one of them runs the initialiser.
//!
//! The state word goes `INCOMPLETE -> RUNNING -> COMPLETE`; `get` on an initialised cell is one
//! Acquire load. The transitions out of `INCOMPLETE` and `RUNNING` happen under the queue
//! lock, and a caller that finds `RUNNING` queues under that lock, so the initialiser's final
//! transition (which drains the queue under the same lock) always finds it: no lost wake-up.
//! If the initialiser panics, the cell goes back to `INCOMPLETE` and the queued callers are
//! woken to try again, one of them becoming the next initialiser (std's behaviour).

use std::cell::UnsafeCell;
use std::collections::VecDeque;
use std::fmt;
use std::mem::MaybeUninit;
use std::ops::Deref;

use super::waiter::WaitReason;
use super::waiter::{lock_queue, AtomicU8, Ordering, QueueLock, WaitQueue, Waiter, WOKEN};

const INCOMPLETE: u8 = 0;
const RUNNING: u8 = 1;
const COMPLETE: u8 = 2;

/// A cell written once. Concurrent [`get_or_init`](OnceLock::get_or_init) callers run the
/// initialiser exactly once between them; the others park until it is done. The API follows
/// `std::sync::OnceLock`.
///
/// Calling `get_or_init` on the same cell from inside its own initialiser never returns.
///
/// ```
/// use greenchan::sync::OnceLock;
///
/// static CONFIG: OnceLock<String> = OnceLock::new();
/// let hs: Vec<_> = (0..4)
///     .map(|_| greenchan::spawn(|| CONFIG.get_or_init(|| "loaded".to_string()).len()))
///     .collect();
/// for h in hs {
///     assert_eq!(h.join().unwrap(), 6);
/// }
/// ```
pub struct OnceLock<T> {
    state: AtomicU8,
    queue: WaitQueue,
    value: UnsafeCell<MaybeUninit<T>>,
}

// SAFETY: the value is written once, by one party, before `COMPLETE` is published (Release),
// and only read after `COMPLETE` is seen (Acquire): sharing needs `T: Sync` (shared reads from
// many threads) and `T: Send` (the initialiser may run on another thread than the dropper).
unsafe impl<T: Send + Sync> Sync for OnceLock<T> {}
// SAFETY: moving the cell moves the `T`.
unsafe impl<T: Send> Send for OnceLock<T> {}

impl<T> OnceLock<T> {
    /// An empty cell. `const`, so it can initialise a `static`.
    ///
    /// ```
    /// let c: greenchan::sync::OnceLock<u8> = greenchan::sync::OnceLock::new();
    /// assert!(c.get().is_none());
    /// ```
    #[cfg(not(loom))]
    pub const fn new() -> OnceLock<T> {
        OnceLock {
            state: AtomicU8::new(INCOMPLETE),
            queue: QueueLock::new(VecDeque::new()),
            value: UnsafeCell::new(MaybeUninit::uninit()),
        }
    }

    /// An empty cell.
    #[cfg(loom)]
    pub fn new() -> OnceLock<T> {
        OnceLock {
            state: AtomicU8::new(INCOMPLETE),
            queue: QueueLock::new(VecDeque::new()),
            value: UnsafeCell::new(MaybeUninit::uninit()),
        }
    }

    /// The value, if initialised; never waits.
    ///
    /// ```
    /// let c = greenchan::sync::OnceLock::new();
    /// c.set(1).unwrap();
    /// assert_eq!(c.get(), Some(&1));
    /// ```
    pub fn get(&self) -> Option<&T> {
        if self.state.load(Ordering::Acquire) == COMPLETE {
            // SAFETY: COMPLETE (seen with Acquire) means the value was written and published,
            // and it is never written again while shared.
            Some(unsafe { (*self.value.get()).assume_init_ref() })
        } else {
            None
        }
    }

    /// A mutable reference to the value, if initialised.
    ///
    /// ```
    /// let mut c = greenchan::sync::OnceLock::new();
    /// c.set(1).unwrap();
    /// *c.get_mut().unwrap() += 1;
    /// assert_eq!(c.get(), Some(&2));
    /// ```
    pub fn get_mut(&mut self) -> Option<&mut T> {
        if self.state.load(Ordering::Relaxed) == COMPLETE {
            // SAFETY: initialised, and `&mut self` makes this the only access.
            Some(unsafe { self.value.get_mut().assume_init_mut() })
        } else {
            None
        }
    }

    /// The value, initialising it with `f` if nobody has. If another caller is initialising
    /// it, parks until that finishes. If `f` panics, the panic propagates, the cell stays
    /// empty, and a waiting caller runs its own initialiser.
    ///
    /// ```
    /// let c = greenchan::sync::OnceLock::new();
    /// assert_eq!(*c.get_or_init(|| 1), 1);
    /// assert_eq!(*c.get_or_init(|| 2), 1); // already set
    /// ```
    pub fn get_or_init<F: FnOnce() -> T>(&self, f: F) -> &T {
        if let Some(v) = self.get() {
            return v;
        }
        self.initialize(f);
        self.get().expect("initialised above")
    }

    /// Sets the value if the cell is empty (waiting for a running initialiser first);
    /// `Err(value)` if it was already set.
    ///
    /// ```
    /// let c = greenchan::sync::OnceLock::new();
    /// assert_eq!(c.set(1), Ok(()));
    /// assert_eq!(c.set(2), Err(2));
    /// ```
    pub fn set(&self, value: T) -> Result<(), T> {
        let mut value = Some(value);
        if self.get().is_none() {
            self.initialize(|| value.take().expect("the initialiser runs once"));
        }
        match value {
            None => Ok(()),
            Some(v) => Err(v),
        }
    }

    /// Takes the value out, leaving the cell empty.
    ///
    /// ```
    /// let mut c = greenchan::sync::OnceLock::new();
    /// c.set("x").unwrap();
    /// assert_eq!(c.take(), Some("x"));
    /// assert!(c.get().is_none());
    /// ```
    pub fn take(&mut self) -> Option<T> {
        if self.state.load(Ordering::Relaxed) != COMPLETE {
            return None;
        }
        self.state.store(INCOMPLETE, Ordering::Relaxed);
        // SAFETY: it was initialised, and the state now says it is not, so it is read once.
        Some(unsafe { self.value.get_mut().assume_init_read() })
    }

    /// Consumes the cell and returns the value, if set.
    ///
    /// ```
    /// let c = greenchan::sync::OnceLock::new();
    /// c.set(3).unwrap();
    /// assert_eq!(c.into_inner(), Some(3));
    /// ```
    pub fn into_inner(mut self) -> Option<T> {
        self.take()
    }

    #[cold]
    fn initialize<F: FnOnce() -> T>(&self, f: F) {
        let mut f = Some(f);
        loop {
            let mut q = lock_queue(&self.queue);
            match self.state.load(Ordering::Acquire) {
                COMPLETE => return,
                INCOMPLETE => {
                    self.state.store(RUNNING, Ordering::Relaxed);
                    drop(q);
                    let reset = ResetOnPanic(self);
                    let value = (f.take().expect("runs at most once"))();
                    // SAFETY: RUNNING is ours alone: nobody reads or writes the value until we
                    // publish COMPLETE.
                    unsafe { (*self.value.get()).write(value) };
                    std::mem::forget(reset);
                    self.finish(COMPLETE);
                    return;
                }
                _ => {
                    let node = Waiter::new(0, WaitReason::Once);
                    q.push_back(node.clone());
                    drop(q);
                    node.wait();
                }
            }
        }
    }

    /// Publishes `state` (COMPLETE, or INCOMPLETE after a panic) and wakes every waiter.
    fn finish(&self, state: u8) {
        let mut q = lock_queue(&self.queue);
        self.state.store(state, Ordering::Release);
        let all = std::mem::take(&mut *q);
        drop(q);
        for w in all {
            w.wake(WOKEN);
        }
    }
}

/// Puts the cell back to `INCOMPLETE` if the initialiser unwinds.
struct ResetOnPanic<'a, T>(&'a OnceLock<T>);

impl<T> Drop for ResetOnPanic<'_, T> {
    fn drop(&mut self) {
        self.0.finish(INCOMPLETE);
    }
}

impl<T> Default for OnceLock<T> {
    fn default() -> OnceLock<T> {
        OnceLock::new()
    }
}

impl<T> From<T> for OnceLock<T> {
    fn from(value: T) -> OnceLock<T> {
        let c = OnceLock::new();
        let _ = c.set(value);
        c
    }
}

impl<T: fmt::Debug> fmt::Debug for OnceLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_tuple("OnceLock");
        match self.get() {
            Some(v) => d.field(v),
            None => d.field(&format_args!("<uninit>")),
        };
        d.finish()
    }
}

impl<T> Drop for OnceLock<T> {
    fn drop(&mut self) {
        if self.state.load(Ordering::Relaxed) == COMPLETE {
            // SAFETY: initialised, dropped once, here.
            unsafe { self.value.get_mut().assume_init_drop() }
        }
    }
}

/// A value computed on first use by `F`, with concurrent first users parking while one of them
/// computes it. Like `std::sync::LazyLock`.
///
/// ```
/// use greenchan::sync::Lazy;
///
/// static TABLE: Lazy<Vec<u32>> = Lazy::new(|| (0..10).map(|i| i * i).collect());
/// assert_eq!(greenchan::spawn(|| TABLE[3]).join().unwrap(), 9);
/// ```
pub struct Lazy<T, F = fn() -> T> {
    cell: OnceLock<T>,
    init: UnsafeCell<Option<F>>,
}

// SAFETY: `init` is touched only by the one caller that runs the cell's initialiser (the
// OnceLock makes it exclusive), possibly on another thread: it needs `F: Send`. The value is
// shared as through `OnceLock`.
unsafe impl<T: Send + Sync, F: Send> Sync for Lazy<T, F> {}

impl<T, F: FnOnce() -> T> Lazy<T, F> {
    /// A lazy value computed by `f` on first use.
    ///
    /// ```
    /// let l = greenchan::sync::Lazy::new(|| 2 + 2);
    /// assert_eq!(*l, 4);
    /// ```
    #[cfg(not(loom))]
    pub const fn new(f: F) -> Lazy<T, F> {
        Lazy {
            cell: OnceLock::new(),
            init: UnsafeCell::new(Some(f)),
        }
    }

    /// A lazy value computed by `f` on first use.
    #[cfg(loom)]
    pub fn new(f: F) -> Lazy<T, F> {
        Lazy {
            cell: OnceLock::new(),
            init: UnsafeCell::new(Some(f)),
        }
    }

    /// Computes the value if needed and returns it.
    ///
    /// # Panics
    ///
    /// If the initialiser panicked on an earlier call (it is gone; std's `LazyLock` panics
    /// too).
    ///
    /// ```
    /// let l = greenchan::sync::Lazy::new(|| "v");
    /// assert_eq!(*greenchan::sync::Lazy::force(&l), "v");
    /// ```
    pub fn force(this: &Lazy<T, F>) -> &T {
        this.cell.get_or_init(|| {
            // SAFETY: we are the cell's one running initialiser, so nobody else touches `init`.
            match unsafe { (*this.init.get()).take() } {
                Some(f) => f(),
                None => panic!("Lazy instance has previously been poisoned"),
            }
        })
    }
}

impl<T, F: FnOnce() -> T> Deref for Lazy<T, F> {
    type Target = T;
    fn deref(&self) -> &T {
        Lazy::force(self)
    }
}

impl<T: fmt::Debug, F> fmt::Debug for Lazy<T, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Lazy").field(&self.cell).finish()
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::OnceLock;
    use loom::sync::atomic::{AtomicUsize, Ordering};
    use loom::sync::Arc;
    use loom::thread;

    /// Two racing initialisers: the init runs once and both see its value.
    #[test]
    fn sync_once_lock_inits_once() {
        loom::model(|| {
            let cell = Arc::new(OnceLock::new());
            let runs = Arc::new(AtomicUsize::new(0));
            let (c2, r2) = (cell.clone(), runs.clone());
            let t = thread::spawn(move || {
                *c2.get_or_init(|| {
                    r2.fetch_add(1, Ordering::Relaxed);
                    7
                })
            });
            let mine = *cell.get_or_init(|| {
                runs.fetch_add(1, Ordering::Relaxed);
                7
            });
            assert_eq!(mine, 7);
            assert_eq!(t.join().unwrap(), 7);
            assert_eq!(runs.load(Ordering::Relaxed), 1);
        });
    }
}
