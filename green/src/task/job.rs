//! What a task runs and what its joiner waits on: the user's closure and the result slot
//! (`Packet`) of its `JoinHandle`, in one block shared by the task and the handle.
//!
//! The slot is written once by the finishing coroutine and read once by the joiner, so a
//! three-state word replaces a lock: `RUNNING` (nobody waits), `WAITING` (the joiner stored its
//! waker), `DONE` (the result is published). The coroutine publishes and then wakes the waiter
//! only if one registered; the joiner registers only while the coroutine still runs. The waiter
//! is a `std::task::Waker`: a parked coroutine's, a blocked thread's or an async task's, so this
//! layer needs to know none of them.
//!
//! The block lies in the task's own slot when it fits (the task is reused, so a spawn allocates
//! nothing for it), else it comes from the spawning thread's cache (`mcache`) and goes back to
//! the cache of whichever thread drops the last reference; neither end takes a lock of the
//! system allocator.

use std::any::Any;
use std::cell::UnsafeCell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::{Poll, Waker};
use std::thread;

const RUNNING: u8 = 0;
const WAITING: u8 = 1;
const DONE: u8 = 2;

/// The result slot of a coroutine (or of a `spawn_blocking` job) and its one waiter.
pub(crate) struct Packet<T> {
    state: AtomicU8,
    result: UnsafeCell<Option<thread::Result<T>>>,
    waiter: UnsafeCell<Option<Waker>>,
}

// SAFETY: `result` is written only by the finishing coroutine before `state` becomes `DONE`
// (release) and read only by the joiner after it saw `DONE` (acquire); `waiter` is written only
// by the joiner while the state is `RUNNING` and read only by the finisher after it saw
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

    /// Publishes the result and wakes the joiner. Called exactly once.
    pub(crate) fn complete(&self, result: thread::Result<T>) {
        // SAFETY: only the finisher writes `result`, once, before publishing.
        unsafe { *self.result.get() = Some(result) };
        if self.state.swap(DONE, Ordering::AcqRel) == WAITING {
            // SAFETY: the joiner wrote `waiter` before publishing `WAITING`, which we acquired;
            // it touches the slot again only after taking `WAITING` back (`poll_result`), which
            // our swap has made impossible.
            if let Some(waker) = unsafe { (*self.waiter.get()).take() } {
                waker.wake();
            }
        }
    }

    /// True once the result is published.
    pub(crate) fn is_done(&self) -> bool {
        self.state.load(Ordering::Acquire) == DONE
    }

    /// The result once published, else `Pending` with `waker` registered (replacing the one
    /// of an earlier poll, unless it would wake the same party). The registration is taken
    /// back (`WAITING -> RUNNING`) before the slot is touched, so the finisher, which reads the
    /// slot only after swapping `WAITING` out, never races with the replacement. Only the one
    /// joiner (the owner of the handle) calls it.
    pub(crate) fn poll_result(&self, waker: &Waker) -> Poll<thread::Result<T>> {
        let owned = matches!(
            self.state
                .compare_exchange(WAITING, RUNNING, Ordering::AcqRel, Ordering::Acquire),
            Ok(_) | Err(RUNNING)
        );
        if owned {
            {
                // SAFETY: the state is `RUNNING`, so the finisher does not read `waiter`, and
                // the only joiner is this one.
                let slot = unsafe { &mut *self.waiter.get() };
                if !slot.as_ref().is_some_and(|w| w.will_wake(waker)) {
                    *slot = Some(waker.clone());
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

/// Why a joiner gets `Err` for a coroutine its runtime's shutdown dropped (unwound, or never
/// started).
pub(crate) const SHUT_DOWN: &str =
    "coroutine was dropped before it finished: its runtime shut down";

/// Why a joiner gets `Err` for a coroutine that could not start.
pub(crate) const NO_STACK: &str = "coroutine never ran: no stack could be allocated for it";

/// What a task runs, as the scheduler sees it: a closure and its packet.
pub(crate) trait Job: Send + Sync {
    /// Runs the closure, catching a panic (a forced unwind of a coroutine its runtime dropped
    /// becomes the `SHUT_DOWN` error), calls `before_complete`, and publishes the result.
    ///
    /// # Safety
    /// Only the task's own coroutine calls it, at most once.
    unsafe fn run(&self, before_complete: &mut dyn FnMut());

    /// Drops the closure if it never ran, publishing `why` as the joiner's error, or the
    /// panic of the closure's destructor if it panics (as tokio reports a future that panics
    /// when cancelled): it runs on a worker's own stack, which must never unwind.
    ///
    /// # Safety
    /// Only the task's current owner calls it, never while `run` is on the stack.
    unsafe fn abandon(&self, why: &'static str);
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

/// Publishes an error if `run` is left without publishing (an unwind out of `before_complete`).
struct Unfinished<'a, T>(&'a Packet<T>);

impl<T> Drop for Unfinished<'_, T> {
    fn drop(&mut self) {
        let why: Box<dyn Any + Send> = Box::new(SHUT_DOWN);
        self.0.complete(Err(why));
    }
}

impl<F, T> Job for JobCell<F, T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    unsafe fn run(&self, before_complete: &mut dyn FnMut()) {
        // SAFETY: the caller is the task's coroutine, its owner while it runs.
        let Some(f) = (unsafe { &mut *self.f.get() }).take() else {
            return;
        };
        let unfinished = Unfinished(&self.packet);
        let result = panic::catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
            // A runtime that shut down unwound the coroutine: say so, as for one that never ran,
            // whichever fiber backend's payload it carries.
            if crate::fiber::unwinding_forcibly() {
                Box::new(SHUT_DOWN)
            } else {
                payload
            }
        });
        before_complete();
        std::mem::forget(unfinished);
        self.packet.complete(result);
    }

    unsafe fn abandon(&self, why: &'static str) {
        // SAFETY: the caller owns the task and `run` is not running.
        if let Some(f) = (unsafe { &mut *self.f.get() }).take() {
            let error = match panic::catch_unwind(AssertUnwindSafe(move || drop(f))) {
                Ok(()) => Box::new(why),
                Err(payload) => payload,
            };
            self.packet.complete(Err(error));
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
