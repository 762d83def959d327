//! A task is one coroutine as the scheduler sees it: its corosensei context and stack, its
//! identity, and the small state machine that decides who may run it next.
//!
//! Its scheduling state (`state.rs`, model-checked with loom) is the heart of park/unpark: a
//! park is committed by the worker after the coroutine has switched out, so no wake-up is lost
//! and a parked task is never resumed twice.
//!
//! Ownership follows the state: every `QUEUED` task is owned by one queue entry, and a `PARKED`
//! task owns one reference to itself, which the unparker that moves it to `QUEUED` takes over.
//! A coroutine that parks and is never woken is therefore leaked, as a blocked goroutine is in Go.

use std::cell::UnsafeCell;
use std::ptr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

use corosensei::{Coroutine as Co, Yielder};

use crate::scheduler::Shared;
use crate::stack::GreenStack;
use crate::state::SchedState;

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
    state: SchedState,
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
            state: SchedState::new_queued(),
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

    /// `QUEUED -> RUNNING`; see `SchedState`.
    pub(crate) fn start_running(&self) {
        self.state.start_running();
    }

    /// `RUNNING -> QUEUED` after a yield.
    pub(crate) fn requeue(&self) {
        self.state.requeue();
    }

    pub(crate) fn finish(&self) {
        self.state.finish();
    }

    /// Consumes a pending wake-up token of the running task; true if there was one.
    pub(crate) fn take_token(&self) -> bool {
        self.state.take_token()
    }

    /// Called by the worker once the coroutine has switched out with `Suspend::Park`.
    /// Returns true if the task is now parked, false if a wake-up arrived first (the token is
    /// consumed and the task must be resumed again).
    pub(crate) fn commit_park(&self) -> bool {
        self.state.commit_park()
    }

    /// Makes the task runnable or leaves it a token. Returns the reference the caller must
    /// enqueue when the task was parked, else `None`.
    pub(crate) fn unpark(self: &Arc<Self>) -> Option<TaskRef> {
        if !self.state.unpark() {
            return None;
        }
        // SAFETY: a parked task owns one strong count of itself, leaked by `Task::park_leak`
        // when the park was committed; `SchedState::unpark` returned true to exactly one
        // unparker, which takes that count back here, once.
        Some(unsafe { Arc::from_raw(Arc::as_ptr(self)) })
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
