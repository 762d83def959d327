//! A task is one coroutine as the scheduler sees it: its corosensei context and stack, its
//! identity, and the small state machine that decides who may run it next.
//!
//! The state word is the heart of park/unpark. Its low two bits say where the task is
//! (`RUNNING` on a worker, `QUEUED` in exactly one run queue, `PARKED` nowhere, `DONE`), and the
//! `NOTIFIED` bit is the wake-up token of `std::thread::park`. A park is committed by the worker
//! *after* the coroutine has switched out (`RUNNING -> PARKED`), so an `unpark` that arrives
//! while the coroutine is still on its way out only sets `NOTIFIED` and the worker resumes it at
//! once: no wake-up is lost, and a parked task is never resumed twice.
//!
//! Ownership follows the state: every `QUEUED` task is owned by one queue entry, and a `PARKED`
//! task owns one reference to itself, which the unparker that moves it to `QUEUED` takes over.
//! A coroutine that parks and is never woken is therefore leaked, as a blocked goroutine is in Go.

use std::cell::UnsafeCell;
use std::ptr;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;

use corosensei::{Coroutine as Co, Yielder};

use crate::scheduler::Shared;
use crate::stack::GreenStack;

/// Why a coroutine handed control back to its worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Suspend {
    /// Runnable again at once; goes to the back of the queue.
    Yield,
    /// Waiting for `unpark`; the worker commits the park.
    Park,
}

pub(crate) type Context = Co<(), Suspend, (), GreenStack>;
pub(crate) type CoYielder = Yielder<(), Suspend>;

pub(crate) const RUNNING: u8 = 0;
pub(crate) const QUEUED: u8 = 1;
pub(crate) const PARKED: u8 = 2;
pub(crate) const DONE: u8 = 3;
const SCHED_MASK: u8 = 3;
pub(crate) const NOTIFIED: u8 = 4;

/// A shared reference to a task; run queues, timers and handles hold these.
pub(crate) type TaskRef = Arc<Task>;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Allocates a coroutine id; thread handles draw from the same sequence so ids never collide.
pub(crate) fn next_id() -> u64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

/// The part of a task only the worker currently running it may touch.
pub(crate) struct Exclusive {
    pub(crate) context: Option<Context>,
    /// Set by the coroutine on its first run: the handle it suspends through.
    pub(crate) yielder: *const CoYielder,
    /// Coroutine-local values, created on first use.
    pub(crate) locals: Option<Box<crate::local::Locals>>,
}

pub(crate) struct Task {
    state: AtomicU8,
    /// Generation of the current timed wait; a timer fires only if it still matches.
    wait_gen: AtomicU32,
    pub(crate) id: u64,
    pub(crate) name: Option<Box<str>>,
    pub(crate) stack_size: usize,
    /// The guard page of the coroutine's stack, for the overflow report.
    pub(crate) guard: (usize, usize),
    pub(crate) shared: Arc<Shared>,
    exclusive: UnsafeCell<Exclusive>,
}

// SAFETY: `exclusive` is only accessed by the one thread that owns the task in the `RUNNING`
// state (see `exclusive()`); every other field is immutable or atomic. The coroutine context
// itself may move between threads because a suspended coroutine's stack holds only data that
// was `Send` when the closure was spawned (the spawn bounds require `F: Send`) plus runtime
// frames that are thread-agnostic; thread-local caveats are documented on the crate.
unsafe impl Send for Task {}
// SAFETY: as above; shared access goes through atomics only.
unsafe impl Sync for Task {}

impl Task {
    pub(crate) fn new(
        shared: Arc<Shared>,
        name: Option<Box<str>>,
        stack_size: usize,
        guard: (usize, usize),
        context: Context,
    ) -> TaskRef {
        Arc::new(Task {
            state: AtomicU8::new(QUEUED),
            wait_gen: AtomicU32::new(0),
            id: next_id(),
            name,
            stack_size,
            guard,
            shared,
            exclusive: UnsafeCell::new(Exclusive {
                context: Some(context),
                yielder: ptr::null(),
                locals: None,
            }),
        })
    }

    /// The worker-private part of the task.
    ///
    /// # Safety
    /// The caller must be the thread that dequeued this task and is running it (state
    /// `RUNNING`, set by `start_running`), or the coroutine itself while it runs, and must not
    /// hold the reference across a point where another thread could start running the task.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn exclusive(&self) -> &mut Exclusive {
        // SAFETY: exclusivity is the caller's obligation, stated above.
        unsafe { &mut *self.exclusive.get() }
    }

    /// `QUEUED -> RUNNING`, keeping a pending wake-up token.
    pub(crate) fn start_running(&self) {
        let prev = self.state.fetch_and(NOTIFIED, Ordering::Acquire);
        debug_assert_eq!(
            prev & SCHED_MASK,
            QUEUED,
            "task started from a non-queued state"
        );
    }

    /// `RUNNING -> QUEUED` after a yield, keeping a pending wake-up token.
    pub(crate) fn requeue(&self) {
        let prev = self.state.fetch_or(QUEUED, Ordering::Release);
        debug_assert_eq!(prev & SCHED_MASK, RUNNING);
    }

    pub(crate) fn finish(&self) {
        self.state.store(DONE, Ordering::Release);
    }

    /// Consumes a pending wake-up token of the running task; true if there was one.
    pub(crate) fn take_token(&self) -> bool {
        self.state
            .compare_exchange(
                RUNNING | NOTIFIED,
                RUNNING,
                Ordering::Acquire,
                Ordering::Relaxed,
            )
            .is_ok()
    }

    /// Called by the worker once the coroutine has switched out with `Suspend::Park`.
    /// Returns true if the task is now parked, false if a wake-up arrived first (the token is
    /// consumed and the task must be resumed again).
    pub(crate) fn commit_park(&self) -> bool {
        match self
            .state
            .compare_exchange(RUNNING, PARKED, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => true,
            Err(s) => {
                debug_assert_eq!(s, RUNNING | NOTIFIED);
                self.state.store(RUNNING, Ordering::Relaxed);
                false
            }
        }
    }

    /// Makes the task runnable or leaves it a token. Returns the reference the caller must
    /// enqueue when the task was parked, else `None`.
    pub(crate) fn unpark(self: &Arc<Self>) -> Option<TaskRef> {
        let mut s = self.state.load(Ordering::Acquire);
        loop {
            if s & NOTIFIED != 0 || s == DONE {
                return None;
            }
            let (next, wakes) = if s == PARKED {
                (QUEUED, true)
            } else {
                (s | NOTIFIED, false)
            };
            match self
                .state
                .compare_exchange_weak(s, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) if wakes => {
                    // SAFETY: a parked task owns one strong count of itself, leaked by
                    // `Task::park_leak` when the park was committed; the CAS above made us the
                    // one unparker that takes it back, exactly once.
                    return Some(unsafe { Arc::from_raw(Arc::as_ptr(self)) });
                }
                Ok(_) => return None,
                Err(actual) => s = actual,
            }
        }
    }

    /// Hands the worker's reference to the parked state (see `unpark`).
    pub(crate) fn park_leak(this: TaskRef) {
        let _ = Arc::into_raw(this);
    }

    /// Starts a new timed wait and returns its generation.
    pub(crate) fn begin_timed_wait(&self) -> u32 {
        self.wait_gen.fetch_add(1, Ordering::AcqRel).wrapping_add(1)
    }

    /// Ends the current timed wait: its timer, if still pending, becomes stale.
    pub(crate) fn end_timed_wait(&self) {
        self.wait_gen.fetch_add(1, Ordering::AcqRel);
    }

    pub(crate) fn wait_gen(&self) -> u32 {
        self.wait_gen.load(Ordering::Acquire)
    }
}

/// Unwinds a coroutine that will never be resumed (never started: its closure is dropped;
/// started: its stack unwinds so its destructors run) and returns its stack to the pool.
fn release(shared: &Shared, mut context: Context) {
    if !context.done() {
        // No coroutine may be current while it unwinds on this thread, so that nothing its
        // destructors do suspends another coroutine.
        let _guard = crate::context::NoCurrentTask::enter();
        context.force_unwind();
    }
    shared.stacks.put(context.into_stack());
}

impl Task {
    /// Drops a queued task that will never run because its runtime shut down. The caller owns
    /// the queue entry, hence the exclusive part. Its joiner learns of it through the
    /// completion guard that the dropped closure carries.
    pub(crate) fn discard(self: TaskRef) {
        // SAFETY: a queued task's exclusive part belongs to whoever holds its queue entry.
        let context = unsafe { self.exclusive() }.context.take();
        if let Some(context) = context {
            release(&self.shared, context);
        }
        self.finish();
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        if let Some(context) = self.exclusive.get_mut().context.take() {
            release(&self.shared, context);
        }
    }
}
