//! The parked party of a channel operation or a select, and the queue entries that point at it.
//!
//! A `Waiter` is registered in the wait queues of every channel it waits on. Exactly one party
//! may *claim* it: a channel operation that completes the waiter's case (handing over a value,
//! taking one, or reporting a close), or the waiter itself when it gives up (timeout, or
//! retrying because one of its cases became ready). A waiter on one operation without a
//! deadline (*exclusive*) can only be claimed by the holder of its one channel's lock, so that
//! claim is a plain store; any other waiter is claimed with a compare-exchange. The claimer
//! moves the value through the entry's slot under the channel's lock, then wakes the waiter
//! and, last, publishes `done`; the waiter reads its slot, and may return, only once `done` is
//! set, so a claimer never touches a waiter (or the task it names) that has gone.
//!
//! Entries hold plain pointers, not counted references: the waiting party owns its waiter
//! ([`OwnedWaiter`]) and removes its unclaimed entries, under each channel's lock, before it
//! lets the waiter go, so every entry in a queue points at a live waiter. Entries of a waiter
//! claimed elsewhere are stale until their owner removes them; a claimer that finds one skips
//! it. Should the owner unwind while claimed but not yet finished (a coroutine force-unwound
//! by a runtime shutting down), the waiter is leaked rather than freed under the claimer.

use std::collections::VecDeque;
use std::ptr::NonNull;
use std::time::Instant;

use crossbeam_utils::Backoff;

use crate::sync::{AtomicBool, AtomicUsize, Ordering, Unparker};

const WAITING: usize = 0;
const ABORTED: usize = 1;
const CASE_BASE: usize = 2;

/// A parked coroutine or thread waiting for one of its cases.
#[derive(Debug)]
pub struct Waiter {
    state: AtomicUsize,
    done: AtomicBool,
    /// Only holders of its one channel's lock can claim it (see the module doc).
    exclusive: bool,
    unparker: Unparker,
    /// Under loom, a tracked cell read on every access through an entry and written when the
    /// owner lets the waiter go: loom then reports any claimer access that is not ordered
    /// before the owner's release (a use after free in the real build).
    #[cfg(loom)]
    alive: loom::cell::UnsafeCell<bool>,
}

/// The waiting party's ownership of its waiter, for one blocking operation.
///
/// The waiter lives on the heap at a fixed address, as queue entries point at it. A
/// coroutine's waiter is cached in its task between operations (`green::take_park_cache`),
/// so a blocking operation allocates nothing and names its coroutine without touching a
/// reference count; a thread's is allocated per operation. Dropping the owner caches the
/// waiter again, unless a claimer might still touch it (claimed, not yet finished: only
/// possible while unwinding), in which case the waiter and its coroutine's task are leaked.
/// Before dropping it, its owner must have removed its unclaimed entries from every queue.
///
/// A receive's whole hand-off, with the claimer's side written out (a channel does it under
/// its lock, from whichever coroutine or thread sends):
///
/// ```
/// use select::{OwnedWaiter, WaitQueue};
/// let mut queue = WaitQueue::new();
/// let mut slot: Option<u32> = None;
/// let waiter = OwnedWaiter::new(true); // one queue, no deadline
/// queue.push(waiter.entry(0, &mut slot as *mut Option<u32> as *mut ()));
///
/// let entry = queue.claim(None).expect("a waiting receiver");
/// // SAFETY: the slot is the receiver's `Option<u32>`, alive until it is finished.
/// unsafe { *(entry.slot as *mut Option<u32>) = Some(7) };
/// entry.finish(); // wakes the waiter, then publishes `done`
///
/// assert_eq!(waiter.wait(None), Some(0)); // claimed for case 0
/// drop(waiter);
/// assert_eq!(slot, Some(7));
/// ```
#[derive(Debug)]
pub struct OwnedWaiter {
    ptr: NonNull<Waiter>,
}

impl std::ops::Deref for OwnedWaiter {
    type Target = Waiter;
    #[inline]
    fn deref(&self) -> &Waiter {
        // SAFETY: `ptr` comes from `Box::into_raw` and is freed only by `drop`.
        unsafe { self.ptr.as_ref() }
    }
}

impl Drop for OwnedWaiter {
    fn drop(&mut self) {
        if self.claimed_case().is_some() && !self.is_done() {
            // A claimer is between its claim and `finish`; it will still wake the coroutine
            // and write `done`. SAFETY: the coroutine is alive: it is the one unwinding.
            unsafe { self.unparker.keep_alive() };
            return;
        }
        // SAFETY: from `Box::into_raw`; no entry points here any more (the owner removed its
        // unclaimed ones, claimers removed theirs) and no claimer is inside `finish`.
        let waiter = unsafe { Box::from_raw(self.ptr.as_ptr()) };
        // SAFETY: loom checks this write against every claimer's reads.
        #[cfg(loom)]
        waiter.alive.with_mut(|a| unsafe { *a = false });
        // Kept if still on its own coroutine (not unwinding on the worker's stack), else freed.
        #[cfg(not(loom))]
        if waiter.unparker.key() != 0 {
            drop(green::put_park_cache(
                waiter.unparker.key(),
                green::ParkCache::new(waiter),
            ));
        }
    }
}

impl OwnedWaiter {
    /// A waiter for the calling coroutine or thread. `exclusive` promises that it will be
    /// registered in one queue only and will never abort (no deadline, not a select): then
    /// claiming it takes no compare-exchange.
    pub fn new(exclusive: bool) -> OwnedWaiter {
        #[cfg(not(loom))]
        if let Some(Ok(mut w)) = green::take_park_cache().map(|c| c.downcast::<Waiter>()) {
            // Cached by this coroutine, so it already names it (see `drop`).
            w.exclusive = exclusive;
            *w.state.get_mut() = WAITING;
            *w.done.get_mut() = false;
            return OwnedWaiter {
                ptr: NonNull::from(Box::leak(w)),
            };
        }
        let w = Box::new(Waiter {
            state: AtomicUsize::new(WAITING),
            done: AtomicBool::new(false),
            exclusive,
            unparker: Unparker::current(),
            #[cfg(loom)]
            alive: loom::cell::UnsafeCell::new(true),
        });
        OwnedWaiter {
            ptr: NonNull::from(Box::leak(w)),
        }
    }

    /// A queue entry for this waiter's case `case`, whose value lives at `slot`.
    pub fn entry(&self, case: usize, slot: *mut ()) -> Entry {
        Entry {
            waiter: self.ptr,
            case,
            slot,
        }
    }
}

impl Waiter {
    /// Marks an access by a claimer (see `alive`); nothing outside loom.
    #[inline]
    fn touch(&self) {
        // SAFETY: loom checks this read against the owner's final write.
        #[cfg(loom)]
        self.alive
            .with(|a| assert!(unsafe { *a }, "waiter used after its owner let it go"));
    }

    /// Claims the waiter for its case `case`; true for exactly one claimer. Called with the
    /// lock of the channel whose queue holds the entry.
    fn try_claim(&self, case: usize) -> bool {
        if self.exclusive {
            // Only the holder of this queue's lock claims an exclusive waiter, and it removes
            // the one entry as it does: nobody can have claimed it before.
            debug_assert_eq!(self.state.load(Ordering::Relaxed), WAITING);
            self.state.store(CASE_BASE + case, Ordering::Relaxed);
            return true;
        }
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
    /// Not for exclusive waiters.
    pub fn try_abort(&self) -> bool {
        debug_assert!(!self.exclusive, "an exclusive waiter never aborts");
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
            if self.claimed_case().is_some() {
                // The claimer has woken us or is about to, and publishes `done` right after.
                self.await_finish();
                continue;
            }
            if let Some(d) = deadline {
                if Instant::now() >= d && self.try_abort() {
                    return None;
                }
                if self.claimed_case().is_some() {
                    continue;
                }
            }
            self.unparker.park(deadline);
        }
    }

    /// Spins until a claimer that has claimed this waiter publishes `done`. Its few
    /// instructions are normally over at once; if it was preempted in between, a coroutine
    /// yields so that the claimer can finish on this worker.
    #[cold]
    fn await_finish(&self) {
        let backoff = Backoff::new();
        while !self.is_done() {
            #[cfg(not(loom))]
            if backoff.is_completed() && green::in_coroutine() {
                green::yield_now();
                continue;
            }
            #[cfg(loom)]
            loom::thread::yield_now();
            backoff.snooze();
        }
    }
}

/// One registration of a waiter in a channel's queue.
#[derive(Debug)]
pub struct Entry {
    /// Who waits; see the module doc for why it is alive while the entry is queued.
    waiter: NonNull<Waiter>,
    /// Which of its cases this entry is.
    pub case: usize,
    /// Where the value goes (a receiver's `Option<T>`) or comes from (a sender's), typed by the
    /// channel that owns the queue. Valid until the waiter is finished or has unregistered.
    pub slot: *mut (),
}

// SAFETY: `waiter` and `slot` point at the waiting party's waiter and frame, which outlive the
// entry (the party removes its unclaimed entries, under the queue's lock, before it lets
// either go, and waits for `done` on a claimed one); they are dereferenced by a claimer under
// that lock, or in `finish` before `done` is published; the value types are `Send`.
unsafe impl Send for Entry {}

impl Entry {
    #[inline]
    fn waiter(&self) -> &Waiter {
        // SAFETY: a queued entry's waiter is alive (module doc); so is a claimed entry's,
        // until `finish` publishes `done`, after which the entry is gone (`finish` takes it).
        let waiter = unsafe { self.waiter.as_ref() };
        waiter.touch();
        waiter
    }

    #[inline]
    fn is(&self, me: Option<&Waiter>) -> bool {
        me.is_some_and(|m| std::ptr::eq(m, self.waiter.as_ptr()))
    }

    /// Called by the claimer once the slot is written and the channel's lock released: wakes
    /// the waiter, then publishes `done`, after which the waiter may go at any moment.
    #[inline]
    pub fn finish(self) {
        let waiter = self.waiter();
        // SAFETY: the waiter's coroutine is inside its wait until `done` is published below
        // (or, unwinding, it kept its task alive for us).
        unsafe { waiter.unparker.unpark() };
        waiter.touch();
        waiter.done.store(true, Ordering::Release);
    }
}

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
    #[inline]
    pub fn push(&mut self, entry: Entry) {
        self.entries.push_back(entry);
    }

    /// Claims the oldest entry whose waiter is still waiting and is not `me`; stale entries
    /// found on the way are dropped, entries of `me` are kept.
    #[inline]
    pub fn claim(&mut self, me: Option<&Waiter>) -> Option<Entry> {
        // The common case: the oldest entry is someone else's and still waiting.
        let front = self.entries.front()?;
        if !front.is(me) {
            let entry = self.entries.pop_front().expect("front exists");
            if entry.waiter().try_claim(entry.case) {
                return Some(entry);
            }
        }
        self.claim_slow(me)
    }

    /// `claim` past a stale front entry or one of `me`'s.
    #[cold]
    #[inline(never)]
    fn claim_slow(&mut self, me: Option<&Waiter>) -> Option<Entry> {
        let mut i = 0;
        while i < self.entries.len() {
            let e = &self.entries[i];
            if e.is(me) {
                i += 1;
                continue;
            }
            let entry = self.entries.remove(i).expect("index in range");
            if entry.waiter().try_claim(entry.case) {
                return Some(entry);
            }
        }
        None
    }

    /// True if some entry other than `me`'s is still waiting.
    pub fn has_waiting(&self, me: Option<&Waiter>) -> bool {
        self.entries
            .iter()
            .any(|e| !e.is(me) && e.waiter().is_waiting())
    }

    /// Removes the entry of `waiter` for `case`.
    pub fn remove(&mut self, waiter: &Waiter, case: usize) {
        // A waiter has at most one entry per case here, most often the newest.
        if let Some(i) = self
            .entries
            .iter()
            .rposition(|e| e.case == case && e.is(Some(waiter)))
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
            .filter(|e| e.waiter().try_claim(e.case))
            .collect()
    }

    /// Wakes every observer in a queue of watches (`Case::watch`): each entry still waiting is
    /// claimed for its case and finished at once, nothing moved through its slot; stale
    /// entries are dropped. Called under the channel's lock, unlike the finishing of a value
    /// hand-off: watches are rare (`Select::ready`) and this keeps the hot paths free of a
    /// second list of entries to finish. Finishing under the lock is safe: the woken party's
    /// next step on this channel (removing its entry) just waits for the lock.
    pub fn notify_all(&mut self) {
        for entry in self.entries.drain(..) {
            if entry.waiter().try_claim(entry.case) {
                entry.finish();
            }
        }
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
