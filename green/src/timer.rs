//! Per-worker timers: a binary min-heap of deadlines, each waking one coroutine's timed wait.
//!
//! A timer does not own the wait it ends. It carries the generation of the wait that armed it
//! and wakes the coroutine only if that wait is still the current one, so a wait that ended
//! early (it was unparked) leaves a stale entry that is discarded when it expires instead of
//! needing a search-and-remove. Each heap sits behind a mutex that is almost always taken by
//! its own worker; idle workers take it too when they steal expired timers from a busy one.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::time::Instant;

use crate::task::TaskRef;

struct Entry {
    deadline: Instant,
    seq: u64,
    task: TaskRef,
    gen: u32,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    // Reversed, so that `BinaryHeap` (a max-heap) yields the earliest deadline first; `seq`
    // keeps timers with equal deadlines in arming order.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.deadline, other.seq).cmp(&(self.deadline, self.seq))
    }
}

/// A min-heap of timed waits.
#[derive(Default)]
pub(crate) struct TimerHeap {
    heap: BinaryHeap<Entry>,
    seq: u64,
}

impl TimerHeap {
    pub(crate) fn push(&mut self, deadline: Instant, task: TaskRef, gen: u32) {
        self.seq += 1;
        self.heap.push(Entry {
            deadline,
            seq: self.seq,
            task,
            gen,
        });
    }

    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.heap.peek().map(|e| e.deadline)
    }

    /// Removes and returns the earliest timer if it has expired at `now`.
    pub(crate) fn pop_expired(&mut self, now: Instant) -> Option<(TaskRef, u32)> {
        if self.heap.peek()?.deadline > now {
            return None;
        }
        self.heap.pop().map(|e| (e.task, e.gen))
    }
}
