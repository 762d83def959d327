//! The one waiting device every primitive in `sync` shares: a [`Waiter`] node a blocked party
//! puts in its primitive's queue before parking, and the `park`/`unpark` shim the primitives go
//! through (green's coroutine-aware park normally, loom's thread park under `--cfg loom`).
//!
//! A node is an `Arc` so the waker can keep it alive while it wakes it, even after the waiter
//! has returned and dropped its own reference. The waker first publishes the outcome in `state`
//! (Release), then unparks; the waiter re-reads `state` (Acquire) before every park and loops on
//! it, so a spurious return from `park` never counts as a wake-up, and an unpark that lands
//! between the waiter's check and its park leaves a token that makes that park return at once
//! (green's and std's park contract): no wake-up is lost.

use std::collections::VecDeque;
use std::sync::{Arc, PoisonError};
use std::time::Instant;

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
#[cfg(loom)]
pub(crate) use loom::sync::Mutex as QueueLock;
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
#[cfg(not(loom))]
pub(crate) use std::sync::Mutex as QueueLock;

#[cfg(loom)]
type Handle = loom::thread::Thread;
#[cfg(not(loom))]
type Handle = crate::coroutine::Coroutine;

/// Still waiting: nobody has dequeued this node.
pub(crate) const WAITING: u8 = 0;
/// Dequeued and woken; the waiter must try again for what it wanted.
pub(crate) const WOKEN: u8 = 1;
/// Dequeued and handed what it waited for (the lock, a permit): the waiter owns it now.
pub(crate) const GRANTED: u8 = 2;

/// A queue of waiters, guarded by a lock held only while the queue is edited, never across a
/// park.
pub(crate) type WaitQueue = QueueLock<VecDeque<Arc<Waiter>>>;

/// Locks a wait queue. Nothing panics while one is held, but a poisoned queue lock (a panic in
/// the allocator, say) must not wedge every later caller, so poisoning is ignored.
///
/// The holder is not preempted asynchronously while it holds the queue lock: a coroutine
/// preempted here would stay pinned to its worker with the lock held, and another coroutine on
/// that worker taking the same lock would block the worker thread, hence the holder, for good.
pub(crate) fn lock_queue(q: &WaitQueue) -> QueueGuard<'_> {
    #[cfg(not(loom))]
    let no_preempt = crate::critical::disable();
    QueueGuard {
        guard: q.lock().unwrap_or_else(PoisonError::into_inner),
        #[cfg(not(loom))]
        _no_preempt: no_preempt,
    }
}

/// A held wait-queue lock; preemption comes back after the lock is released.
pub(crate) struct QueueGuard<'a> {
    // Dropped first: the lock is released before preemption is enabled again.
    guard: MutexGuardOf<'a>,
    #[cfg(not(loom))]
    _no_preempt: crate::critical::NoPreempt,
}

impl std::ops::Deref for QueueGuard<'_> {
    type Target = VecDeque<Arc<Waiter>>;
    fn deref(&self) -> &Self::Target {
        &self.guard
    }
}

impl std::ops::DerefMut for QueueGuard<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.guard
    }
}

#[cfg(not(loom))]
pub(crate) type MutexGuardOf<'a> = std::sync::MutexGuard<'a, VecDeque<Arc<Waiter>>>;
#[cfg(loom)]
pub(crate) type MutexGuardOf<'a> = loom::sync::MutexGuard<'a, VecDeque<Arc<Waiter>>>;

/// Removes `w` from `q` if it is still there; true if it was (the waiter gave up before anyone
/// dequeued it).
pub(crate) fn remove(q: &mut VecDeque<Arc<Waiter>>, w: &Arc<Waiter>) -> bool {
    match q.iter().position(|x| Arc::ptr_eq(x, w)) {
        Some(i) => {
            q.remove(i);
            true
        }
        None => false,
    }
}

/// One blocked coroutine or thread, as its primitive's queue holds it.
pub(crate) struct Waiter {
    handle: Handle,
    state: AtomicU8,
    /// What the waiter wants (a reader or a writer, for `RwLock`); free for each primitive.
    pub(crate) kind: u8,
    /// When it first started waiting, for the `Mutex`'s starvation hand-off.
    #[cfg(not(loom))]
    pub(crate) since: Instant,
    /// How many times it was woken and had to queue again (loom's stand-in for `since`).
    pub(crate) requeued: u32,
    /// What the waiter waits on, for diagnostics.
    #[cfg(not(loom))]
    reason: WaitReason,
}

/// What a waiter of `sync` waits on (a stand-in under loom, which has no diagnostics).
#[cfg(not(loom))]
pub(crate) use crate::diagnostics::WaitReason;
#[cfg(loom)]
#[derive(Clone, Copy)]
#[allow(dead_code)]
pub(crate) enum WaitReason {
    Barrier,
    Condvar,
    Mutex,
    Once,
    RwLock,
    Semaphore,
    WaitGroup,
}

impl Waiter {
    /// A node for the calling coroutine or thread.
    pub(crate) fn new(kind: u8, reason: WaitReason) -> Arc<Waiter> {
        #[cfg(loom)]
        let _ = reason;
        Arc::new(Waiter {
            #[cfg(loom)]
            handle: loom::thread::current(),
            #[cfg(not(loom))]
            handle: crate::coroutine::current(),
            state: AtomicU8::new(WAITING),
            kind,
            #[cfg(not(loom))]
            since: Instant::now(),
            requeued: 0,
            #[cfg(not(loom))]
            reason,
        })
    }

    /// Publishes `outcome` and wakes the waiter. The caller must have dequeued the node (so it
    /// is the only waker) and should not hold its queue lock (the unpark may schedule).
    pub(crate) fn wake(&self, outcome: u8) {
        self.state.store(outcome, Ordering::Release);
        self.handle.unpark();
    }

    /// Parks until woken; returns the outcome ([`WOKEN`] or [`GRANTED`]).
    pub(crate) fn wait(&self) -> u8 {
        loop {
            let s = self.state.load(Ordering::Acquire);
            if s != WAITING {
                return s;
            }
            #[cfg(not(loom))]
            let _waiting = crate::diagnostics::waiting_on(self.reason);
            park();
        }
    }

    /// Parks until woken or until `deadline`; returns the outcome, or [`WAITING`] if the
    /// deadline passed first. On `WAITING` the caller must take its node out of the queue
    /// under the queue lock, and if it is no longer there, a waker dequeued it concurrently:
    /// the caller then calls [`Waiter::wait`] to collect the outcome (it is being published).
    pub(crate) fn wait_deadline(&self, deadline: Instant) -> u8 {
        #[cfg(loom)]
        {
            let _ = deadline;
            // A loom "timeout" expires after one look: the models explore every interleaving of
            // the wake-up with it.
            let s = self.state.load(Ordering::Acquire);
            if s != WAITING {
                return s;
            }
            loom::thread::yield_now();
            self.state.load(Ordering::Acquire)
        }
        #[cfg(not(loom))]
        loop {
            let s = self.state.load(Ordering::Acquire);
            if s != WAITING || Instant::now() >= deadline {
                return s;
            }
            let _waiting = crate::diagnostics::waiting_on(self.reason);
            crate::coroutine::park_deadline(deadline);
        }
    }
}

fn park() {
    #[cfg(loom)]
    loom::thread::park();
    #[cfg(not(loom))]
    crate::coroutine::park();
}
