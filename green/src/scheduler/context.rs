//! The thread-local facts a worker thread publishes for the code it runs: which worker this is
//! and which coroutine is running on it.
//!
//! A coroutine that opted in to migration (`allow_migration`) may resume on another worker
//! thread after any switch, and this runtime code runs in every coroutine, so it must not let
//! the compiler cache a thread-local's address across a switch. Every accessor here is
//! `#[inline(never)]` and returns a plain pointer: callers read the thread-local afresh after
//! each switch.

use std::cell::Cell;
use std::ptr;
use std::sync::atomic::{AtomicBool, Ordering};

use super::{Task, Worker};

thread_local! {
    static CURRENT_TASK: Cell<*const Task> = const { Cell::new(ptr::null()) };
    static WORKER: Cell<*const Worker> = const { Cell::new(ptr::null()) };
    /// The worker's "slice over" flag (`SliceState::preempt`), which `preempt_point` reads on
    /// every runtime call: one thread-local and one load instead of the walk from the worker.
    static SLICE_FLAG: Cell<*const AtomicBool> = const { Cell::new(ptr::null()) };
}

/// Whether this thread's worker has been asked to yield (a racy read; the request is consumed
/// by `slice_expired`). False on a thread that is not a worker.
#[inline(never)]
pub(crate) fn slice_flag_raised() -> bool {
    let flag = SLICE_FLAG.with(Cell::get);
    // SAFETY: a non-null flag was published by `Worker::run` on this thread and lies in the
    // worker's slot of its runtime's shared state, which lives as long as any coroutine or
    // worker of that runtime (each holds a reference to it), so it is alive even if the caller
    // was moved to another thread between the read above and this one (the opt-ins allow
    // that): it then reads another worker's flag, which costs a spurious or a missed yield.
    !flag.is_null() && unsafe { (*flag).load(Ordering::Relaxed) }
}

/// Publishes (or, with null, withdraws) the flag `slice_flag_raised` reads on this thread.
#[inline(never)]
pub(crate) fn set_slice_flag(flag: *const AtomicBool) {
    SLICE_FLAG.with(|c| c.set(flag));
}

/// The coroutine running on this thread, or null on a plain thread (or between coroutines).
#[inline(never)]
pub(crate) fn current_task() -> *const Task {
    CURRENT_TASK.with(Cell::get)
}

#[inline(never)]
pub(crate) fn set_current_task(task: *const Task) {
    CURRENT_TASK.with(|c| c.set(task));
}

/// The worker this thread is, or null on a thread that is not a worker.
#[inline(never)]
pub(crate) fn worker() -> *const Worker {
    WORKER.with(Cell::get)
}

#[inline(never)]
pub(crate) fn set_worker(worker: *const Worker) {
    WORKER.with(|c| c.set(worker));
}

/// Clears the current coroutine for a scope (while a dropped coroutine unwinds on this thread),
/// so that code running there blocks the thread instead of suspending an unrelated coroutine.
/// The no-preempt depth is saved too and held at one meanwhile: the unwinding coroutine's
/// guards may lower it, which must not leak into the code around.
pub(crate) struct NoCurrentTask {
    saved: *const Task,
    depth: u32,
}

impl NoCurrentTask {
    pub(crate) fn enter() -> NoCurrentTask {
        let saved = current_task();
        let depth = crate::critical::depth();
        crate::critical::set_depth(depth.max(1));
        set_current_task(ptr::null());
        NoCurrentTask { saved, depth }
    }
}

impl Drop for NoCurrentTask {
    fn drop(&mut self) {
        set_current_task(self.saved);
        crate::critical::set_depth(self.depth);
    }
}
