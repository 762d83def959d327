//! The parked party of a channel operation or a select, and the queue entries that point at it.
//!
//! A `Waiter` is registered in the wait queues of every channel it waits on. Exactly one party
//! may *claim* it, with a compare-exchange on its state: a channel operation that completes the
//! waiter's case (handing over a value, taking one, or reporting a close), or the waiter itself
//! when it gives up (timeout, or retrying because one of its cases became ready). The claimer
//! of a case then moves the value through the entry's slot, publishes `done` and unparks the
//! waiter, which only then reads its slot. Entries of a waiter that was claimed elsewhere are
//! stale: whoever finds one drops it.

use std::collections::VecDeque;
use std::time::Instant;

use crate::sync::{Arc, AtomicBool, AtomicUsize, Ordering, Unparker};

const WAITING: usize = 0;
const ABORTED: usize = 1;
const CASE_BASE: usize = 2;

/// A parked coroutine or thread waiting for one of its cases.
#[derive(Debug)]
pub struct Waiter {
    state: AtomicUsize,
    done: AtomicBool,
    unparker: Unparker,
}

/// Most waiters a thread keeps for reuse.
#[cfg(not(loom))]
const POOL_SIZE: usize = 4;

#[cfg(not(loom))]
thread_local! {
    /// Finished waiters nobody else references, ready for the next blocking operation on this
    /// thread: a blocking channel operation then allocates nothing.
    static POOL: std::cell::RefCell<Vec<Arc<Waiter>>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl Waiter {
    /// A waiter for the calling coroutine or thread.
    pub fn new() -> Arc<Waiter> {
        #[cfg(not(loom))]
        if let Some(w) = Self::reuse() {
            return w;
        }
        Arc::new(Waiter {
            state: AtomicUsize::new(WAITING),
            done: AtomicBool::new(false),
            unparker: Unparker::current(),
        })
    }

    /// A pooled waiter, preferably one already naming the caller (then no handle is cloned).
    #[cfg(not(loom))]
    fn reuse() -> Option<Arc<Waiter>> {
        // Coroutines only: a thread's waiter always gets a fresh handle (key 0 never matches).
        let me = green::running_key();
        let mut w = POOL.with(|p| {
            let Ok(mut pool) = p.try_borrow_mut() else {
                // Busy: a coroutine preempted asynchronously inside this very access is
                // pinned to this thread with the pool borrowed. Do without the pool.
                return None;
            };
            let last = pool.len().checked_sub(1)?;
            let i = pool
                .iter()
                .rposition(|w| me != 0 && w.unparker.key() == me)
                .unwrap_or(last);
            Some(pool.swap_remove(i))
        })?;
        // Only stale queue entries could still hold it; once they are gone nobody can clone
        // it again. The fence pairs with the release decrement of the last entry's drop, so
        // whatever that holder did to the waiter happens before the reset below.
        if Arc::strong_count(&w) != 1 {
            return None;
        }
        std::sync::atomic::fence(Ordering::Acquire);
        if me == 0 || w.unparker.key() != me {
            Arc::get_mut(&mut w)?.unparker = Unparker::current();
        }
        w.state.store(WAITING, Ordering::Relaxed);
        w.done.store(false, Ordering::Relaxed);
        Some(w)
    }

    /// Gives a waiter back for reuse once its operation is over. It is kept only if nobody
    /// else holds it (no queue entry, no claimer); otherwise it is simply dropped.
    pub fn recycle(this: Arc<Waiter>) {
        #[cfg(not(loom))]
        if Arc::strong_count(&this) == 1 {
            POOL.with(|p| {
                // Busy only if a coroutine was preempted inside a pool access: skip the pool.
                let Ok(mut pool) = p.try_borrow_mut() else {
                    return;
                };
                if pool.len() < POOL_SIZE {
                    pool.push(this);
                }
            });
        }
        #[cfg(loom)]
        drop(this);
    }

    /// Claims the waiter for its case `case`; true for exactly one claimer.
    pub fn try_claim(&self, case: usize) -> bool {
        self.state
            .compare_exchange(
                WAITING,
                CASE_BASE + case,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok()
    }

    /// The waiter gives up; false if a channel claimed it first (its operation completed).
    pub fn try_abort(&self) -> bool {
        self.state
            .compare_exchange(WAITING, ABORTED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// True while nobody has claimed the waiter.
    pub fn is_waiting(&self) -> bool {
        self.state.load(Ordering::Acquire) == WAITING
    }

    /// The case a channel claimed it for, once claimed.
    pub fn claimed_case(&self) -> Option<usize> {
        let s = self.state.load(Ordering::Acquire);
        (s >= CASE_BASE).then(|| s - CASE_BASE)
    }

    /// Called by the claimer once the slot is written: publishes and wakes the waiter.
    pub fn finish(&self) {
        self.done.store(true, Ordering::Release);
        self.unparker.unpark();
    }

    /// True once the claimer has finished.
    pub fn is_done(&self) -> bool {
        self.done.load(Ordering::Acquire)
    }

    /// Waits until claimed and finished; returns the case. With a deadline, gives up when it
    /// passes and returns `None`, unless a claim won the race, whose case is then returned.
    pub fn wait(&self, deadline: Option<Instant>) -> Option<usize> {
        loop {
            if self.is_done() {
                return self.claimed_case();
            }
            if let Some(d) = deadline {
                if Instant::now() >= d && self.try_abort() {
                    return None;
                }
                if self.claimed_case().is_some() {
                    // Claimed: the claimer is writing the slot; it will finish shortly.
                    self.unparker.park(None);
                    continue;
                }
            }
            self.unparker.park(deadline);
        }
    }

    /// True if both are the same waiter.
    pub fn same(a: &Arc<Waiter>, b: &Arc<Waiter>) -> bool {
        Arc::ptr_eq(a, b)
    }
}

/// One registration of a waiter in a channel's queue.
#[derive(Debug)]
pub struct Entry {
    /// Who waits.
    pub waiter: Arc<Waiter>,
    /// Which of its cases this entry is.
    pub case: usize,
    /// Where the value goes (a receiver's `Option<T>`) or comes from (a sender's), typed by the
    /// channel that owns the queue. Valid until the waiter is finished or has unregistered.
    pub slot: *mut (),
}

// SAFETY: `slot` points into the waiting party's frame, which outlives the entry (the waiter
// unregisters or is finished before it returns), and it is only dereferenced by the claimer,
// under the channel's lock, after winning the claim; the value types are `Send`.
unsafe impl Send for Entry {}

/// A FIFO of entries with the claiming rules above.
#[derive(Debug, Default)]
pub struct WaitQueue {
    entries: VecDeque<Entry>,
}

impl WaitQueue {
    /// An empty queue.
    pub const fn new() -> WaitQueue {
        WaitQueue {
            entries: VecDeque::new(),
        }
    }

    /// Appends an entry.
    pub fn push(&mut self, entry: Entry) {
        self.entries.push_back(entry);
    }

    /// Claims the oldest entry whose waiter is still waiting and is not `me`; stale entries
    /// found on the way are dropped, entries of `me` are kept.
    pub fn claim(&mut self, me: Option<&Arc<Waiter>>) -> Option<Entry> {
        // The common case: the oldest entry is someone else's and still waiting.
        while let Some(e) = self.entries.front() {
            if me.is_some_and(|m| Waiter::same(m, &e.waiter)) {
                break;
            }
            let entry = self.entries.pop_front().expect("front exists");
            if entry.waiter.try_claim(entry.case) {
                return Some(entry);
            }
        }
        let mut i = 0;
        while i < self.entries.len() {
            let e = &self.entries[i];
            if me.is_some_and(|m| Waiter::same(m, &e.waiter)) {
                i += 1;
                continue;
            }
            let entry = self.entries.remove(i).expect("index in range");
            if entry.waiter.try_claim(entry.case) {
                return Some(entry);
            }
        }
        None
    }

    /// True if some entry other than `me`'s is still waiting.
    pub fn has_waiting(&self, me: Option<&Arc<Waiter>>) -> bool {
        self.entries
            .iter()
            .any(|e| e.waiter.is_waiting() && !me.is_some_and(|m| Waiter::same(m, &e.waiter)))
    }

    /// Removes the entry of `waiter` for `case`.
    pub fn remove(&mut self, waiter: &Arc<Waiter>, case: usize) {
        // A waiter has at most one entry per case here, most often the newest.
        if let Some(i) = self
            .entries
            .iter()
            .rposition(|e| e.case == case && Waiter::same(&e.waiter, waiter))
        {
            if i + 1 == self.entries.len() {
                self.entries.pop_back();
            } else {
                self.entries.remove(i);
            }
        }
    }

    /// Claims every waiting entry (for a close), dropping stale ones.
    pub fn claim_all(&mut self) -> Vec<Entry> {
        self.entries
            .drain(..)
            .filter(|e| e.waiter.try_claim(e.case))
            .collect()
    }

    /// Number of entries, stale ones included.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True if there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}
