//! `JoinHandle`: the result slot a coroutine fills when it ends, and the one party waiting for it.
//!
//! The slot is written once by the finishing coroutine and read once by `join(self)`, so a
//! three-state word replaces a lock: `RUNNING` (nobody waits), `WAITING` (the joiner stored its
//! handle and parks), `DONE` (the result is published). The coroutine publishes and then wakes
//! the waiter only if one registered; the joiner registers only while the coroutine still runs.

use std::any::Any;
use std::cell::UnsafeCell;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::{Poll, Waker};
use std::thread;

use crate::coroutine::{self, Coroutine};
use crate::mcache::CachedArc;

const RUNNING: u8 = 0;
const WAITING: u8 = 1;
const DONE: u8 = 2;

pub(crate) struct Packet<T> {
    state: AtomicU8,
    result: UnsafeCell<Option<thread::Result<T>>>,
    waiter: UnsafeCell<Option<Joiner>>,
}

/// Who waits for the result: a coroutine or thread in `join`, or an async task awaiting the
/// handle (`bridge::JoinFuture`). Same size as a bare `Option<Coroutine>`.
enum Joiner {
    Parked(Coroutine),
    Task(Waker),
}

// SAFETY: `result` is written only by the finishing coroutine before `state` becomes `DONE`
// (release) and read only by the joiner after it saw `DONE` (acquire); `waiter` is written only
// by the joiner before it publishes `WAITING` and read only by the finisher after it saw
// `WAITING`. `T: Send` because the result crosses threads.
unsafe impl<T: Send> Sync for Packet<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Send for Packet<T> {}

impl<T> Packet<T> {
    pub(crate) fn new() -> Packet<T> {
        Packet {
            state: AtomicU8::new(RUNNING),
            result: UnsafeCell::new(None),
            waiter: UnsafeCell::new(None),
        }
    }

    /// Publishes the coroutine's result and wakes the joiner. Called exactly once.
    pub(crate) fn complete(&self, result: thread::Result<T>) {
        // SAFETY: only the finishing coroutine writes `result`, once, before publishing.
        unsafe { *self.result.get() = Some(result) };
        if self.state.swap(DONE, Ordering::AcqRel) == WAITING {
            // SAFETY: the joiner wrote `waiter` before publishing `WAITING`, which we acquired;
            // it touches the slot again only after taking `WAITING` back (`poll_result`), which
            // our swap has made impossible.
            match unsafe { (*self.waiter.get()).take() } {
                Some(Joiner::Parked(waiter)) => waiter.unpark(),
                Some(Joiner::Task(waker)) => waker.wake(),
                None => {}
            }
        }
    }

    fn is_done(&self) -> bool {
        self.state.load(Ordering::Acquire) == DONE
    }

    fn wait(&self) -> thread::Result<T> {
        if !self.is_done() {
            // SAFETY: the state is not `WAITING` yet, so the finisher does not read `waiter`.
            unsafe { *self.waiter.get() = Some(Joiner::Parked(coroutine::current())) };
            if self
                .state
                .compare_exchange(RUNNING, WAITING, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                while !self.is_done() {
                    coroutine::park();
                }
            }
        }
        self.take_result()
    }

    /// `join` for a future: the result once published, else `Pending` with `waker`
    /// registered (replacing the one of an earlier poll). The registration is taken back
    /// (`WAITING -> RUNNING`) before the slot is touched, so the finisher, which reads the slot
    /// only after swapping `WAITING` out, never races with the replacement.
    pub(crate) fn poll_result(&self, waker: &Waker) -> Poll<thread::Result<T>> {
        let owned = matches!(
            self.state
                .compare_exchange(WAITING, RUNNING, Ordering::AcqRel, Ordering::Acquire),
            Ok(_) | Err(RUNNING)
        );
        if owned {
            {
                // SAFETY: the state is `RUNNING`, so the finisher does not read `waiter`, and
                // the only joiner is this one (the future owns the handle).
                let slot = unsafe { &mut *self.waiter.get() };
                if !matches!(slot, Some(Joiner::Task(w)) if w.will_wake(waker)) {
                    *slot = Some(Joiner::Task(waker.clone()));
                }
            }
            if self
                .state
                .compare_exchange(RUNNING, WAITING, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                return Poll::Pending;
            }
        }
        Poll::Ready(self.take_result())
    }

    /// Takes the published result. Only after `DONE` was seen, once.
    fn take_result(&self) -> thread::Result<T> {
        // SAFETY: `DONE` was observed with acquire ordering, so the write of `result` is
        // visible, and the finisher never touches it again.
        unsafe { (*self.result.get()).take() }.expect("a finished coroutine leaves its result")
    }
}

/// Why a joiner gets `Err` for a coroutine that never ran to its end without panicking.
const DROPPED: &str = "coroutine was dropped before it finished: its runtime shut down or no stack could be allocated for it";

/// What a task runs, as the scheduler sees it: the user's closure and the result slot of its
/// `JoinHandle`, in one block shared by the task and the handle. The block lies in the task's
/// own slot when it fits (the task is reused, so a spawn allocates nothing for it), else it
/// comes from the spawning thread's cache (`mcache`) and goes back to the cache of whichever
/// thread drops the last reference; neither end takes a lock of the system allocator.
pub(crate) trait Job: Send + Sync {
    /// Runs the closure, catching a panic, and publishes the result.
    ///
    /// # Safety
    /// Only the task's own coroutine calls it, at most once.
    unsafe fn run(&self);

    /// Drops the closure if it never ran, publishing an error for the joiner.
    ///
    /// # Safety
    /// Only the task's current owner calls it, never while `run` is on the stack.
    unsafe fn abandon(&self);
}

/// The closure of a spawned coroutine and the packet its joiner waits on.
pub(crate) struct JobCell<F, T> {
    f: UnsafeCell<Option<F>>,
    packet: Packet<T>,
}

// SAFETY: `f` is touched only by the task's owner (`run` by its coroutine, `abandon` by whoever
// owns the unstarted task), one at a time, as the task's ownership rules guarantee; `packet` is
// `Sync` on its own. `F: Send` and `T: Send` because both cross threads.
unsafe impl<F: Send, T: Send> Sync for JobCell<F, T> {}

impl<F, T> JobCell<F, T> {
    pub(crate) fn new(f: F) -> JobCell<F, T> {
        JobCell {
            f: UnsafeCell::new(Some(f)),
            packet: Packet::new(),
        }
    }
}

/// Publishes an error if the closure unwinds out of `run` without finishing (a coroutine
/// force-unwound by a shut-down runtime).
struct Unfinished<'a, T>(&'a Packet<T>);

impl<T> Drop for Unfinished<'_, T> {
    fn drop(&mut self) {
        let why: Box<dyn Any + Send> = Box::new(DROPPED);
        self.0.complete(Err(why));
    }
}

impl<F, T> Job for JobCell<F, T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    unsafe fn run(&self) {
        // SAFETY: the caller is the task's coroutine, its owner while it runs.
        let Some(f) = (unsafe { &mut *self.f.get() }).take() else {
            return;
        };
        let task = crate::context::current_task();
        // SAFETY: `run` runs as the current coroutine (its caller's contract), alive while
        // it runs.
        crate::preempt::coroutine_started(unsafe { (*task).async_preemptible() });
        let unfinished = Unfinished(&self.packet);
        let result = panic::catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
            // A runtime that shut down unwound the coroutine: say so, as for one that never ran.
            // Only that unwind runs with no current coroutine (`task::release`), whichever
            // backend's payload it carries.
            if crate::context::current_task().is_null() {
                Box::new(DROPPED)
            } else {
                payload
            }
        });
        // Coroutine-locals die with the coroutine, in it, before its joiner hears of the end.
        // (No coroutine is current when a shut-down runtime unwinds a dropped coroutine; its
        // locals then go with the task.)
        let task = crate::context::current_task();
        if !task.is_null() {
            // SAFETY: this runs as the current coroutine, which owns its locals cell; the
            // reference is not held across the drop.
            let locals = unsafe { (*task).locals() }.take();
            drop(locals);
        }
        std::mem::forget(unfinished);
        // Not preemptible from here on: a joiner that hears of the end has seen every
        // asynchronous preemption this coroutine took.
        crate::preempt::coroutine_finished();
        self.packet.complete(result);
    }

    unsafe fn abandon(&self) {
        // SAFETY: the caller owns the task and `run` is not running.
        if let Some(f) = (unsafe { &mut *self.f.get() }).take() {
            drop(f);
            let why: Box<dyn Any + Send> = Box::new(DROPPED);
            self.packet.complete(Err(why));
        }
    }
}

/// Typed access to a job's packet, for its `JoinHandle`.
pub(crate) trait PacketOf<T>: Send + Sync {
    fn packet(&self) -> &Packet<T>;
}

impl<F, T> PacketOf<T> for JobCell<F, T>
where
    F: Send,
    T: Send,
{
    fn packet(&self) -> &Packet<T> {
        &self.packet
    }
}

/// An owned permission to join a coroutine (wait for it to end), as
/// [`std::thread::JoinHandle`]. Dropping it detaches the coroutine.
///
/// ```
/// let h = green::spawn(|| 6 * 7);
/// assert_eq!(h.join().unwrap(), 42);
///
/// let h = green::spawn(|| panic!("boom"));
/// assert!(h.join().is_err()); // the panic comes back; the runtime carries on
/// ```
pub struct JoinHandle<T> {
    /// Declared (hence dropped) before `coroutine`: the job may lie in the task's slot, which
    /// the task reference keeps alive.
    pub(crate) job: CachedArc<dyn PacketOf<T>>,
    pub(crate) coroutine: Coroutine,
}

impl<T> JoinHandle<T> {
    /// Waits for the coroutine to finish and returns its value, or the payload of its panic.
    /// Parks the caller if it is a coroutine, blocks it if it is a thread.
    ///
    /// ```
    /// let h = green::spawn(|| "done");
    /// assert_eq!(h.join().unwrap(), "done");
    /// ```
    pub fn join(self) -> thread::Result<T> {
        self.job.packet().wait()
    }

    /// True once the coroutine has finished (returned or panicked).
    ///
    /// ```
    /// let h = green::spawn(|| ());
    /// while !h.is_finished() {
    ///     std::thread::yield_now();
    /// }
    /// h.join().unwrap();
    /// ```
    pub fn is_finished(&self) -> bool {
        self.job.packet().is_done()
    }

    /// The handle of the coroutine, to read its id or name or to unpark it.
    ///
    /// ```
    /// let h = green::Builder::new().name("n".into()).spawn(|| ()).unwrap();
    /// assert_eq!(h.coroutine().name(), Some("n"));
    /// h.join().unwrap();
    /// ```
    pub fn coroutine(&self) -> &Coroutine {
        &self.coroutine
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("coroutine", &self.coroutine)
            .field("finished", &self.is_finished())
            .finish()
    }
}
