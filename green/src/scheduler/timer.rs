//! Per-worker timers: a binary min-heap of deadlines, each waking one coroutine's timed wait.
//!
//! A timer does not own the wait it ends. It carries the generation of the wait that armed it
//! and wakes the coroutine only if that wait is still the current one, so a wait that ended
//! early (it was unparked) leaves a stale entry that is discarded when it expires instead of
//! needing a search-and-remove. Each heap sits behind a mutex that is almost always taken by
//! its own worker; idle workers take it too when they steal expired timers from a busy one.
//!
//! Stale entries would pile up when waits with long timeouts keep ending early (a select loop
//! with a fresh one-hour timeout each turn, say), so the heap sweeps them out whenever it has
//! doubled since its last sweep: a sweep is linear, but it comes only after as many pushes as
//! the heap held, so each push pays for it in constant amortised time, and the heap stays
//! within about twice the number of live waits (Go's timers clean deleted entries the same
//! way).

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::time::Instant;

use super::TaskRef;

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

/// Heaps smaller than this are never swept.
const SWEEP_MIN: usize = 64;

/// A min-heap of timed waits.
#[derive(Default)]
pub(crate) struct TimerHeap {
    heap: BinaryHeap<Entry>,
    seq: u64,
    /// Length after the last sweep; the next sweep comes once the heap has doubled.
    swept_len: usize,
}

impl TimerHeap {
    pub(crate) fn push(&mut self, deadline: Instant, task: TaskRef, gen: u32) {
        if self.heap.len() >= SWEEP_MIN.max(2 * self.swept_len) {
            self.sweep();
        }
        self.seq += 1;
        self.heap.push(Entry {
            deadline,
            seq: self.seq,
            task,
            gen,
        });
    }

    /// Drops the entries whose wait has ended (stale generation).
    fn sweep(&mut self) {
        self.heap.retain(|e| e.task.wait_gen() == e.gen);
        self.swept_len = self.heap.len();
    }

    /// True if some entry belongs to a wait still in progress.
    pub(crate) fn has_live(&self) -> bool {
        self.heap.iter().any(|e| e.task.wait_gen() == e.gen)
    }

    /// Entries held, live or stale.
    pub(crate) fn len(&self) -> usize {
        self.heap.len()
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
