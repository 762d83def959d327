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
//!
//! A future waits the same way, with a [`WakerWaiter`]: the waiter wakes the task's [`Waker`]
//! instead of unparking a coroutine or a thread, and the future, not a stack frame, owns it and
//! its slot. Such a waiter is always exclusive (one queue, claimed under its lock), which is
//! what makes a pending future cheap to cancel: under that lock, either its entry is still
//! queued and removing it withdraws the operation, or a claim has happened and the future
//! settles it (see [`WakerWaiter`]). The waker is stored in the waiter; the future replaces it
//! under the queue's lock while unclaimed, the claimer moves it out before it publishes `done`
//! and wakes it after, so that no user code (a waker's `wake`) runs while the owner may be
//! waiting for `done`.

use std::cell::UnsafeCell;
use std::ptr::NonNull;
use std::task::Waker;
use std::time::Instant;

use crossbeam_utils::Backoff;

use crate::sync::{AtomicBool, AtomicUsize, Ordering, RaceCell, Unparker};

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
    notify: Notify,
    /// Under loom, a tracked cell read on every access through an entry and written when the
    /// owner lets the waiter go: loom then reports any claimer access that is not ordered
    /// before the owner's release (a use after free in the real build).
    #[cfg(loom)]
    alive: loom::cell::UnsafeCell<bool>,
}

/// How a claimer tells the waiting party.
#[derive(Debug)]
enum Notify {
    /// A parked coroutine or thread.
    Park(Unparker),
    /// A future's task. Written by the owner only while its entry is queued and unclaimed,
    /// under that queue's lock; moved out by the claimer between its claim and `done`.
    Waker(RaceCell<Option<Waker>>),
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
            unsafe { self.unparker().keep_alive() };
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
        if waiter.unparker().key() != 0 {
            drop(green::put_park_cache(
                waiter.unparker().key(),
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
        let w = Box::new(Waiter::with(exclusive, Notify::Park(Unparker::current())));
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

/// A future's pending channel operation: a waiter that wakes the task's [`Waker`] when claimed,
/// and the slot its queue entry points at (`S` is what the channel moves through it, an
/// `Option<T>` for channels: empty for a receive to fill, holding the value for a send), in one
/// heap block, so that the future may move between polls.
///
/// It is exclusive: its entry goes into one queue, and only a holder of that queue's lock
/// claims it, so under that lock [`is_waiting`](Waiter::is_waiting) is decisive. Its owner, a
/// future:
///
/// - registers [`entry`](WakerWaiter::entry) in one queue, under its lock;
/// - polled again, [`settle`](Waiter::settle)s it: once claimed, the slot holds the outcome
///   ([`finished_slot`](WakerWaiter::finished_slot)); while not, it takes the queue's lock
///   and, if the waiter is still waiting, replaces the waker with the poll's
///   ([`replace_waker`](WakerWaiter::replace_waker)), so the task that polled last is woken;
/// - cancelled (dropped while pending), takes the queue's lock: if the waiter is still
///   waiting, removing its entry withdraws the operation, which then never happens; if not,
///   it settles and deals with what the claimer did (a value handed to a receive that will
///   never return it has to be given back to the channel).
///
/// Dropping it first waits out a claimer that has claimed it but not yet finished (a few
/// instructions), but an unclaimed entry must have been removed from its queue by then, as
/// for [`OwnedWaiter`]. A finished waiter can serve another operation
/// ([`rearm`](WakerWaiter::rearm)), as a stream does for its next item.
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use std::task::{Wake, Waker};
/// use select::{WaitQueue, WakerWaiter};
///
/// struct Flag(AtomicBool);
/// impl Wake for Flag {
///     fn wake(self: Arc<Self>) {
///         self.0.store(true, Ordering::SeqCst);
///     }
/// }
/// let flag = Arc::new(Flag(AtomicBool::new(false)));
/// let waker = Waker::from(flag.clone());
///
/// let mut queue = WaitQueue::new(); // a channel's queue, behind its lock
/// let mut waiter = WakerWaiter::new(&waker, None::<u32>); // a receive's empty slot
/// queue.push(waiter.entry(0));
/// assert_eq!(waiter.settle(), None); // pending
///
/// let entry = queue.claim(None).unwrap(); // a sender, under the lock
/// // SAFETY: the slot is the receive's `Option<u32>`, alive until the entry is finished.
/// unsafe { *(entry.slot as *mut Option<u32>) = Some(7) };
/// entry.finish(); // publishes `done`, then wakes the task
///
/// assert!(flag.0.load(Ordering::SeqCst));
/// assert_eq!(waiter.settle(), Some(0));
/// assert_eq!(waiter.finished_slot().unwrap().take(), Some(7));
/// ```
pub struct WakerWaiter<S> {
    ptr: NonNull<WakerNode<S>>,
    _owns: std::marker::PhantomData<WakerNode<S>>,
}

struct WakerNode<S> {
    waiter: Waiter,
    slot: UnsafeCell<S>,
}

// SAFETY: the block is owned by this handle alone; what it holds (a `Waker`, and `S`) moves
// with it to another thread when `S: Send`.
unsafe impl<S: Send> Send for WakerWaiter<S> {}
// SAFETY: through `&self` only the waiter's atomics are read, and the waker replaced under the
// queue's lock (`replace_waker`'s contract); the slot is reached through `&mut self` only.
unsafe impl<S: Send> Sync for WakerWaiter<S> {}
// The block is on the heap: moving the handle never moves what entries point at.
impl<S> Unpin for WakerWaiter<S> {}

impl<S> std::fmt::Debug for WakerWaiter<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WakerWaiter")
            .field("waiting", &self.is_waiting())
            .field("done", &self.is_done())
            .finish_non_exhaustive()
    }
}

impl<S> std::ops::Deref for WakerWaiter<S> {
    type Target = Waiter;
    #[inline]
    fn deref(&self) -> &Waiter {
        &self.node().waiter
    }
}

impl<S> Drop for WakerWaiter<S> {
    fn drop(&mut self) {
        // A claimer between its claim and `finish` still writes the waiter: let it finish.
        self.settle();
        // SAFETY: from `Box::into_raw` in `new`; no entry points here any more (the owner
        // removed an unclaimed one, a claimer removed its own) and no claimer is inside
        // `finish`.
        let node = unsafe { Box::from_raw(self.ptr.as_ptr()) };
        // SAFETY: loom checks this write against every claimer's reads.
        #[cfg(loom)]
        node.waiter.alive.with_mut(|a| unsafe { *a = false });
        drop(node);
    }
}

impl<S> WakerWaiter<S> {
    /// A waiter that wakes `waker` when claimed, with `slot` as its slot.
    ///
    /// ```
    /// let waiter = select::WakerWaiter::new(std::task::Waker::noop(), Some("to send"));
    /// assert!(waiter.is_waiting());
    /// ```
    pub fn new(waker: &Waker, slot: S) -> WakerWaiter<S> {
        let node = Box::new(WakerNode {
            waiter: Waiter::with(true, Notify::Waker(RaceCell::new(Some(waker.clone())))),
            slot: UnsafeCell::new(slot),
        });
        WakerWaiter {
            ptr: NonNull::from(Box::leak(node)),
            _owns: std::marker::PhantomData,
        }
    }

    #[inline]
    fn node(&self) -> &WakerNode<S> {
        // SAFETY: from `Box::into_raw`, freed only by `drop`.
        unsafe { self.ptr.as_ref() }
    }

    /// The queue entry for this waiter's case `case`, pointing at its slot. Push it into one
    /// queue only, and only while the waiter is waiting (new, or rearmed).
    ///
    /// ```
    /// use select::{WaitQueue, WakerWaiter};
    /// let mut queue = WaitQueue::new();
    /// let waiter = WakerWaiter::new(std::task::Waker::noop(), None::<u8>);
    /// let key = queue.push(waiter.entry(0));
    /// queue.remove(key, &waiter, 0); // cancelled: withdrawn before anyone claimed it
    /// assert!(queue.is_empty());
    /// ```
    pub fn entry(&self, case: usize) -> Entry {
        let node = self.node();
        Entry {
            waiter: NonNull::from(&node.waiter),
            case,
            slot: node.slot.get() as *mut (),
        }
    }

    /// Makes `waker` the one a claimer wakes, unless the stored one would wake the same task
    /// ([`Waker::will_wake`]); returns the replaced waker, for the caller to drop once it has
    /// released the lock.
    ///
    /// # Safety
    /// The caller holds the lock of the queue that holds this waiter's entry, and has seen the
    /// waiter [waiting](Waiter::is_waiting) under it: no claimer touches the waker meanwhile.
    ///
    /// ```
    /// use std::task::Waker;
    /// use select::{WaitQueue, WakerWaiter};
    /// let mut queue = WaitQueue::new(); // behind a channel's lock, held here
    /// let waiter = WakerWaiter::new(Waker::noop(), None::<u8>);
    /// queue.push(waiter.entry(0));
    /// assert!(waiter.is_waiting());
    /// // SAFETY: we hold the queue (its lock) and saw the waiter waiting.
    /// let old = unsafe { waiter.replace_waker(Waker::noop()) };
    /// assert!(old.is_none()); // the same task: nothing replaced
    /// # queue.claim(None).unwrap().finish();
    /// ```
    pub unsafe fn replace_waker(&self, waker: &Waker) -> Option<Waker> {
        let Notify::Waker(cell) = &self.notify else {
            unreachable!("a WakerWaiter wakes a waker")
        };
        // SAFETY: by the caller's contract nobody else accesses the waker now.
        cell.with_mut(|w| {
            let w = unsafe { &mut *w };
            if w.as_ref().is_some_and(|old| old.will_wake(waker)) {
                None
            } else {
                w.replace(waker.clone())
            }
        })
    }

    /// The slot, once a claimer has claimed the waiter and finished; `None` before that.
    ///
    /// ```
    /// use select::{WaitQueue, WakerWaiter};
    /// let mut queue = WaitQueue::new();
    /// let mut waiter = WakerWaiter::new(std::task::Waker::noop(), Some(5u8)); // a send
    /// queue.push(waiter.entry(0));
    /// assert!(waiter.finished_slot().is_none()); // pending: the slot is not ours
    /// for e in queue.claim_all() {
    ///     e.finish(); // a close: the value stays in the slot
    /// }
    /// assert_eq!(waiter.finished_slot(), Some(&mut Some(5)));
    /// ```
    pub fn finished_slot(&mut self) -> Option<&mut S> {
        if !self.is_done() {
            return None;
        }
        // SAFETY: `done` (read with acquire) was published after the claimer's last access to
        // the slot, and the claim took the waiter's one entry out of its queue: nobody else
        // can reach the slot any more.
        Some(unsafe { &mut *self.node().slot.get() })
    }

    /// The slot of a waiter whose owner took its entry out of its queue before any claim.
    ///
    /// # Safety
    /// The waiter is not in any queue and was never claimed since it was last registered: its
    /// owner saw it [waiting](Waiter::is_waiting) under the queue's lock and removed its entry
    /// under that same lock (or never registered it).
    ///
    /// ```
    /// use select::{WaitQueue, WakerWaiter};
    /// let mut queue = WaitQueue::new();
    /// let mut waiter = WakerWaiter::new(std::task::Waker::noop(), Some(5u8)); // a send
    /// let key = queue.push(waiter.entry(0));
    /// assert!(waiter.is_waiting()); // under the queue's lock
    /// queue.remove(key, &waiter, 0); // withdrawn
    /// // SAFETY: removed before anyone claimed it.
    /// assert_eq!(unsafe { waiter.unclaimed_slot() }.take(), Some(5));
    /// ```
    pub unsafe fn unclaimed_slot(&mut self) -> &mut S {
        debug_assert!(self.is_waiting());
        // SAFETY: by the caller's contract no claimer can reach the slot, and `&mut self`
        // excludes the owner's other accesses.
        unsafe { &mut *self.node().slot.get() }
    }

    /// Makes a finished waiter wait again, for another operation, waking `waker` this time.
    /// The slot keeps what it holds.
    ///
    /// # Panics
    /// If the waiter has not been claimed and finished.
    ///
    /// ```
    /// use select::{WaitQueue, WakerWaiter};
    /// let mut queue = WaitQueue::new();
    /// let mut waiter = WakerWaiter::new(std::task::Waker::noop(), None::<u8>);
    /// queue.push(waiter.entry(0));
    /// queue.claim(None).unwrap().finish();
    /// waiter.rearm(std::task::Waker::noop()); // the next receive reuses the block
    /// assert!(waiter.is_waiting());
    /// queue.push(waiter.entry(0));
    /// # queue.claim(None).unwrap().finish();
    /// ```
    pub fn rearm(&mut self, waker: &Waker) {
        assert!(self.is_done(), "only a finished waiter can be rearmed");
        let waiter = &self.node().waiter;
        let Notify::Waker(cell) = &waiter.notify else {
            unreachable!("a WakerWaiter wakes a waker")
        };
        // SAFETY: finished, so no claimer and no queue reaches the waiter (see
        // `finished_slot`); `&mut self` excludes the owner's other accesses.
        cell.with_mut(|w| unsafe { *w = Some(waker.clone()) });
        waiter.state.store(WAITING, Ordering::Relaxed);
        waiter.done.store(false, Ordering::Relaxed);
    }
}

impl Waiter {
    /// A waiter in its initial state.
    fn with(exclusive: bool, notify: Notify) -> Waiter {
        Waiter {
            state: AtomicUsize::new(WAITING),
            done: AtomicBool::new(false),
            exclusive,
            notify,
            #[cfg(loom)]
            alive: loom::cell::UnsafeCell::new(true),
        }
    }

    /// The coroutine or thread a parking waiter names; only `OwnedWaiter`s park.
    #[inline]
    fn unparker(&self) -> &Unparker {
        match &self.notify {
            Notify::Park(u) => u,
            Notify::Waker(_) => unreachable!("a future's waiter never parks"),
        }
    }

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
    #[inline(always)]
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
            self.unparker().park(deadline);
        }
    }

    /// If a claimer has claimed the waiter, waits until it has finished and returns the case;
    /// `None` while nobody has claimed it. For the owner of a waiter that does not park (a
    /// [`WakerWaiter`]), before it reads its slot or lets the waiter go.
    ///
    /// ```
    /// use select::{OwnedWaiter, WaitQueue};
    /// let mut queue = WaitQueue::new();
    /// let waiter = OwnedWaiter::new(true);
    /// queue.push(waiter.entry(3, std::ptr::null_mut()));
    /// assert_eq!(waiter.settle(), None); // still queued
    /// queue.claim(None).unwrap().finish();
    /// assert_eq!(waiter.settle(), Some(3));
    /// ```
    pub fn settle(&self) -> Option<usize> {
        let case = self.claimed_case()?;
        if !self.is_done() {
            self.await_finish();
        }
        Some(case)
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
        match &waiter.notify {
            Notify::Park(unparker) => {
                // SAFETY: the waiter's coroutine is inside its wait until `done` is published
                // below (or, unwinding, it kept its task alive for us).
                unsafe { unparker.unpark() };
                waiter.touch();
                waiter.done.store(true, Ordering::Release);
            }
            Notify::Waker(cell) => {
                // SAFETY: we claimed the waiter, so its owner no longer touches the waker
                // (it replaces it only while unclaimed, under the lock we claimed under), and
                // the waiter is alive until `done` below.
                let waker = cell.with_mut(|w| unsafe { (*w).take() });
                waiter.touch();
                waiter.done.store(true, Ordering::Release);
                // Woken after `done`, with our own waker: the owner may free the waiter now,
                // and never waits on user code.
                if let Some(w) = waker {
                    w.wake();
                }
            }
        }
    }
}

/// Where an entry sits in its [`WaitQueue`], returned by [`WaitQueue::push`], so that its owner
/// can remove it in constant time.
///
/// ```
/// use select::{OwnedWaiter, WaitQueue};
/// let mut queue = WaitQueue::new();
/// let waiter = OwnedWaiter::new(false);
/// let key = queue.push(waiter.entry(0, std::ptr::null_mut()));
/// assert_eq!(queue.len(), 1);
/// queue.remove(key, &waiter, 0); // the owner gives up its unclaimed entry
/// assert!(queue.is_empty());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueKey(u32);

/// No node: the end of a list.
const NIL: u32 = u32::MAX;

/// A slot of a queue: an entry linked to its neighbours, or a free slot (`entry` is `None`,
/// `next` links the free list).
#[derive(Debug)]
struct Node {
    entry: Option<Entry>,
    prev: u32,
    next: u32,
}

/// A FIFO of entries with the claiming rules above.
///
/// A doubly linked list threaded through a vector of slots (Go's `waitq` of sudogs, without
/// the pointers): pushing, claiming the oldest and removing any entry by its [`QueueKey`] all
/// take constant time, however many parties wait, so a thousand tasks timing out of selects on
/// one shared channel do not each scan the others. Freed slots are reused; the vector keeps the
/// size of the longest queue the channel has had, and is emptied whenever the queue empties
/// through a close.
#[derive(Debug)]
pub struct WaitQueue {
    nodes: Vec<Node>,
    head: u32,
    tail: u32,
    /// First free slot.
    free: u32,
    len: usize,
}

impl Default for WaitQueue {
    fn default() -> Self {
        WaitQueue::new()
    }
}

impl WaitQueue {
    /// An empty queue.
    pub const fn new() -> WaitQueue {
        WaitQueue {
            nodes: Vec::new(),
            head: NIL,
            tail: NIL,
            free: NIL,
            len: 0,
        }
    }

    /// Appends an entry; the key removes it again.
    #[inline(always)]
    pub fn push(&mut self, entry: Entry) -> QueueKey {
        let node = Node {
            entry: Some(entry),
            prev: self.tail,
            next: NIL,
        };
        let i = if self.free != NIL {
            let i = self.free;
            self.free = self.nodes[i as usize].next;
            self.nodes[i as usize] = node;
            i
        } else {
            let i = u32::try_from(self.nodes.len())
                .ok()
                .filter(|&i| i != NIL)
                .expect("fewer than 2^32 - 1 parties wait on one channel");
            self.nodes.push(node);
            i
        };
        match self.tail {
            NIL => self.head = i,
            t => self.nodes[t as usize].next = i,
        }
        self.tail = i;
        self.len += 1;
        QueueKey(i)
    }

    /// Unlinks slot `i`, which holds an entry, and frees it.
    #[inline(always)]
    fn unlink(&mut self, i: u32) -> Entry {
        let node = &mut self.nodes[i as usize];
        let (prev, next) = (node.prev, node.next);
        let entry = node.entry.take().expect("a linked slot holds an entry");
        node.next = self.free;
        self.free = i;
        match prev {
            NIL => self.head = next,
            p => self.nodes[p as usize].next = next,
        }
        match next {
            NIL => self.tail = prev,
            n => self.nodes[n as usize].prev = prev,
        }
        self.len -= 1;
        entry
    }

    /// The entries from oldest to newest, with their slots.
    fn iter(&self) -> impl Iterator<Item = (u32, &Entry)> {
        let mut i = self.head;
        std::iter::from_fn(move || {
            if i == NIL {
                return None;
            }
            let node = &self.nodes[i as usize];
            let at = i;
            i = node.next;
            Some((
                at,
                node.entry.as_ref().expect("a linked slot holds an entry"),
            ))
        })
    }

    /// Claims the oldest entry whose waiter is still waiting and is not `me`; stale entries
    /// found on the way are dropped, entries of `me` are kept.
    #[inline(always)]
    pub fn claim(&mut self, me: Option<&Waiter>) -> Option<Entry> {
        let mut i = self.head;
        while i != NIL {
            let node = &self.nodes[i as usize];
            let next = node.next;
            if !node.entry.as_ref().is_some_and(|e| e.is(me)) {
                let entry = self.unlink(i);
                if entry.waiter().try_claim(entry.case) {
                    return Some(entry);
                }
            }
            i = next;
        }
        None
    }

    /// True if some entry other than `me`'s is still waiting.
    pub fn has_waiting(&self, me: Option<&Waiter>) -> bool {
        self.iter()
            .any(|(_, e)| !e.is(me) && e.waiter().is_waiting())
    }

    /// Removes the entry `key` names if it is still the entry of `waiter` for `case` (a
    /// claimer may have taken it, and its slot may hold someone else's entry since).
    #[inline]
    pub fn remove(&mut self, key: QueueKey, waiter: &Waiter, case: usize) {
        let mine = self
            .nodes
            .get(key.0 as usize)
            .and_then(|n| n.entry.as_ref())
            .is_some_and(|e| e.case == case && e.is(Some(waiter)));
        if mine {
            self.unlink(key.0);
        }
    }

    /// Takes every entry out, oldest first, and resets the slots, keeping their memory
    /// (outstanding keys may then name a reused slot, which `remove` checks).
    fn drain(&mut self) -> Vec<Entry> {
        let mut out = Vec::with_capacity(self.len);
        let mut i = self.head;
        while i != NIL {
            let node = &mut self.nodes[i as usize];
            i = node.next;
            out.extend(node.entry.take());
        }
        self.nodes.clear();
        self.head = NIL;
        self.tail = NIL;
        self.free = NIL;
        self.len = 0;
        out
    }

    /// Claims every waiting entry (for a close), dropping stale ones.
    pub fn claim_all(&mut self) -> Vec<Entry> {
        let mut all = self.drain();
        all.retain(|e| e.waiter().try_claim(e.case));
        all
    }

    /// Wakes every observer in a queue of watches (`Case::watch`): each entry still waiting is
    /// claimed for its case and finished at once, nothing moved through its slot; stale
    /// entries are dropped. Called under the channel's lock, unlike the finishing of a value
    /// hand-off: watches are rare (`Select::ready`) and this keeps the hot paths free of a
    /// second list of entries to finish. Finishing under the lock is safe: the woken party's
    /// next step on this channel (removing its entry) just waits for the lock.
    pub fn notify_all(&mut self) {
        for entry in self.drain() {
            if entry.waiter().try_claim(entry.case) {
                entry.finish();
            }
        }
    }

    /// Number of entries, stale ones included.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True if there are no entries.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::{OwnedWaiter, WaitQueue};

    /// Claims the oldest waiting entry and finishes it; returns its case.
    fn claim_case(q: &mut WaitQueue) -> Option<usize> {
        let e = q.claim(None)?;
        let case = e.case;
        e.finish();
        Some(case)
    }

    #[test]
    fn fifo_with_removal_by_key_anywhere() {
        let mut q = WaitQueue::new();
        let ws: Vec<OwnedWaiter> = (0..5).map(|_| OwnedWaiter::new(false)).collect();
        let keys: Vec<_> = ws
            .iter()
            .enumerate()
            .map(|(i, w)| q.push(w.entry(i, std::ptr::null_mut())))
            .collect();
        assert_eq!(q.len(), 5);
        // From the middle, the back and the front.
        q.remove(keys[2], &ws[2], 2);
        q.remove(keys[4], &ws[4], 4);
        q.remove(keys[0], &ws[0], 0);
        assert_eq!(q.len(), 2);
        // A key with the wrong waiter or case removes nothing.
        q.remove(keys[1], &ws[3], 1);
        q.remove(keys[1], &ws[1], 7);
        assert_eq!(q.len(), 2);
        // Freed slots are reused, behind the entries already there.
        let late = OwnedWaiter::new(false);
        let late_key = q.push(late.entry(9, std::ptr::null_mut()));
        assert!(keys.contains(&late_key), "a freed slot is reused");
        assert_eq!(claim_case(&mut q), Some(1));
        assert_eq!(claim_case(&mut q), Some(3));
        assert_eq!(claim_case(&mut q), Some(9));
        assert_eq!(claim_case(&mut q), None);
        assert!(q.is_empty());
    }

    #[test]
    fn a_stale_key_never_removes_the_slots_next_entry() {
        let mut q = WaitQueue::new();
        let a = OwnedWaiter::new(false);
        let b = OwnedWaiter::new(false);
        let a_key = q.push(a.entry(0, std::ptr::null_mut()));
        assert_eq!(claim_case(&mut q), Some(0)); // a claimer took a's entry
        let b_key = q.push(b.entry(0, std::ptr::null_mut()));
        assert_eq!(a_key, b_key, "b's entry reuses the slot");
        q.remove(a_key, &a, 0); // a's owner cleans up late
        assert_eq!(q.len(), 1, "b's entry is still there");
        // Entries of the claimer itself are kept, others are claimed past them.
        let c = OwnedWaiter::new(false);
        q.push(c.entry(5, std::ptr::null_mut()));
        let e = q.claim(Some(&b)).expect("c's entry");
        assert_eq!(e.case, 5);
        e.finish();
        assert_eq!(q.len(), 1);
        // A close drains everything; old keys then name nothing.
        let all = q.claim_all();
        assert_eq!(all.len(), 1);
        all.into_iter().for_each(|e| e.finish());
        q.remove(b_key, &b, 0);
        assert!(q.is_empty());
    }
}
