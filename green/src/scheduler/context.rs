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

use super::{Task, Worker};

thread_local! {
    static CURRENT_TASK: Cell<*const Task> = const { Cell::new(ptr::null()) };
    static WORKER: Cell<*const Worker> = const { Cell::new(ptr::null()) };
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
