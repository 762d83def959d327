//! The registry of a worker's coroutines: every coroutine that has suspended at least once and
//! has not ended, so that diagnostics (`dump`, deadlock detection) can list them and a runtime
//! that shuts down can find and unwind the parked ones, which no queue holds.
//!
//! A coroutine enters at its first suspension, not at its spawn: one that runs to its end
//! without ever blocking (most short-lived coroutines: a skynet leaf, a spawn benchmark's
//! task) never costs a registry update, and one that runs is visible anyway as its worker's
//! running coroutine. Each worker keeps the registry of its own coroutines, which only it
//! updates (a started coroutine never leaves its worker), behind a mutex nobody else takes
//! except for a diagnostic or a shutdown; coroutines that opted in to migration share one
//! registry per runtime. The task records its position, so removal is a swap, in O(1).

use std::sync::Mutex;

use super::{Task, TaskRef};
use crate::locking::lock;
use crate::task::NOT_REGISTERED;

#[derive(Default)]
pub(crate) struct Registry {
    tasks: Mutex<Vec<TaskRef>>,
}

impl Registry {
    /// Adds `task`, which is in no registry yet (the caller checked, see `Shared::register`).
    #[cold]
    pub(crate) fn insert_slow(&self, task: &TaskRef) {
        debug_assert_eq!(task.registry_index(), NOT_REGISTERED);
        let mut tasks = lock(&self.tasks);
        task.set_registry_index(tasks.len() as u32);
        tasks.push(task.clone());
    }

    /// Removes `task` if it is in this registry.
    #[inline]
    pub(crate) fn remove(&self, task: &Task) {
        if task.registry_index() == NOT_REGISTERED {
            return;
        }
        let mut tasks = lock(&self.tasks);
        // Read again under the lock: in the shared registry of migrating coroutines another
        // worker's removal may have moved this task to a new position since the read above
        // (a task's position changes only under the lock; whether it is registered changes
        // only on its own worker, so the early return above cannot go stale).
        let index = task.registry_index() as usize;
        debug_assert!(std::ptr::eq(&*tasks[index], task));
        let removed = tasks.swap_remove(index);
        if let Some(moved) = tasks.get(index) {
            moved.set_registry_index(index as u32);
        }
        drop(tasks);
        removed.set_registry_index(NOT_REGISTERED);
    }

    /// Calls `f` with every registered task (the registry is locked meanwhile).
    pub(crate) fn for_each(&self, mut f: impl FnMut(&TaskRef)) {
        for task in lock(&self.tasks).iter() {
            f(task);
        }
    }

    /// The registered tasks, for a shutdown that unwinds them.
    pub(crate) fn snapshot(&self) -> Vec<TaskRef> {
        lock(&self.tasks).clone()
    }
}
