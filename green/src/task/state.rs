//! The scheduling state of a task, the wake-up logic every blocking call relies on, kept apart
//! from the task so that loom can model-check it (`RUSTFLAGS="--cfg loom" cargo test -p greenchan-runtime
//! --release --lib state`).
//!
//! The low two bits say where the task is: `ACTIVE` (in exactly one run queue, or running on a
//! worker), `PARKED` (nowhere) or `DONE`. `NOTIFIED` is the wake-up token of
//! `std::thread::park`. Queued and running are one state on purpose: an unpark treats them alike
//! (it leaves a token), and the queues themselves order what the worker that dequeues a task
//! sees, so moving a task between a queue and a worker (a yield, a dequeue) needs no atomic
//! instruction at all. A park is committed once the coroutine has switched out (`ACTIVE ->
//! PARKED`), by its worker or by the coroutine a direct switch went to, so an `unpark` that
//! arrives while the coroutine is still on its way out only sets the token and the commit
//! fails, which runs the coroutine again: a wake-up is never lost, and exactly one party (the
//! one whose compare-exchange moves `PARKED -> ACTIVE`) schedules a parked task.
//!
//! `BLOCKING` marks an active coroutine that waits by blocking its worker's thread instead of
//! switching out (a panicking coroutine does, see `coroutine::park`): an unpark that leaves it
//! a token must then also wake that thread, and `unpark` says so.

#[cfg(loom)]
use loom::sync::atomic::{AtomicU8, Ordering};
#[cfg(not(loom))]
use std::sync::atomic::{AtomicU8, Ordering};

const ACTIVE: u8 = 0;
const PARKED: u8 = 2;
const DONE: u8 = 3;
const SCHED_MASK: u8 = 3;
const NOTIFIED: u8 = 4;
const BLOCKING: u8 = 8;

/// Where a task is, for diagnostics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Queued or running.
    Active,
    /// Blocking its worker's thread while it waits (it is panicking).
    Blocking,
    /// Parked.
    Parked,
    /// Ended.
    Done,
}

/// What an unpark must do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wake {
    /// The task was parked and is active again: the caller schedules it.
    Schedule,
    /// A token was left (or the task has ended): nothing more to do.
    Token,
    /// A token was left for a coroutine that blocks its worker's thread: wake that thread.
    Unblock,
}

pub(crate) struct SchedState {
    state: AtomicU8,
}

impl SchedState {
    /// A new task starts active: it is queued as soon as it exists.
    pub(crate) fn new_queued() -> SchedState {
        SchedState {
            state: AtomicU8::new(ACTIVE),
        }
    }

    /// A worker dequeued the task and runs it. No state change: the queue it came from made
    /// the enqueuer's writes visible, and a pending token stays for the next park.
    #[inline]
    pub(crate) fn start_running(&self) {
        debug_assert_eq!(
            self.state.load(Ordering::Relaxed) & SCHED_MASK,
            ACTIVE,
            "task started from a non-active state"
        );
    }

    /// The task yielded and goes back to a queue, keeping a pending token: no state change.
    #[inline]
    pub(crate) fn requeue(&self) {
        debug_assert_eq!(self.state.load(Ordering::Relaxed) & SCHED_MASK, ACTIVE);
    }

    /// The task ended; later unparks do nothing.
    pub(crate) fn finish(&self) {
        self.state.store(DONE, Ordering::Release);
    }

    /// Consumes the running task's pending token; true if there was one.
    pub(crate) fn take_token(&self) -> bool {
        // Most parks find no token: skip the locked instruction then. A token that arrives
        // just after this load is found by `commit_park`, which then resumes the coroutine.
        if self.state.load(Ordering::Relaxed) & NOTIFIED == 0 {
            return false;
        }
        self.state
            .compare_exchange(
                ACTIVE | NOTIFIED,
                ACTIVE,
                Ordering::Acquire,
                Ordering::Relaxed,
            )
            .is_ok()
    }

    /// Called by the worker once the coroutine switched out to park. True if the task is now
    /// parked; false if a token arrived first (it is consumed: resume the coroutine).
    pub(crate) fn commit_park(&self) -> bool {
        match self
            .state
            .compare_exchange(ACTIVE, PARKED, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => true,
            Err(s) => {
                debug_assert_eq!(s, ACTIVE | NOTIFIED);
                self.state.store(ACTIVE, Ordering::Relaxed);
                false
            }
        }
    }

    /// Where the task is now (a racy snapshot, for diagnostics).
    pub(crate) fn phase(&self) -> Phase {
        let s = self.state.load(Ordering::Relaxed);
        match s & SCHED_MASK {
            PARKED => Phase::Parked,
            DONE => Phase::Done,
            _ if s & BLOCKING != 0 => Phase::Blocking,
            _ => Phase::Active,
        }
    }

    /// The running coroutine is about to block its thread until unparked. False if a token
    /// was pending (it is consumed: do not block); else `BLOCKING` is set and the caller
    /// blocks until `is_notified`, then calls `end_blocking`.
    pub(crate) fn begin_blocking(&self) -> bool {
        let mut s = self.state.load(Ordering::Acquire);
        loop {
            debug_assert_eq!(s & (SCHED_MASK | BLOCKING), ACTIVE);
            let (next, blocks) = if s & NOTIFIED != 0 {
                (ACTIVE, false)
            } else {
                (ACTIVE | BLOCKING, true)
            };
            match self
                .state
                .compare_exchange_weak(s, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return blocks,
                Err(actual) => s = actual,
            }
        }
    }

    /// Whether a token is pending (read by a blocked coroutine after its thread wakes).
    pub(crate) fn is_notified(&self) -> bool {
        self.state.load(Ordering::Acquire) & NOTIFIED != 0
    }

    /// Ends a blocking wait: clears `BLOCKING` and consumes the token if one came.
    pub(crate) fn end_blocking(&self) -> bool {
        self.state
            .fetch_and(!(BLOCKING | NOTIFIED), Ordering::AcqRel)
            & NOTIFIED
            != 0
    }

    /// Wakes the task: `Schedule` if it was parked and the caller must now schedule it;
    /// otherwise a token is left for its next park (or nothing, if it has ended), and
    /// `Unblock` if its thread must be woken too.
    pub(crate) fn unpark(&self) -> Wake {
        let mut s = self.state.load(Ordering::Acquire);
        loop {
            if s == DONE {
                return Wake::Token;
            }
            // Even when a token is already pending, write (the same value) with a
            // read-modify-write: the parker's acquire on the state must synchronise with
            // *this* unpark, or it could consume the old token, miss what the caller wrote
            // before unparking, and park for good (a lost wake-up found under load).
            let (next, wake) = if s & NOTIFIED != 0 {
                // Whoever set the token woke a blocked thread already.
                (s, Wake::Token)
            } else if s == PARKED {
                (ACTIVE, Wake::Schedule)
            } else if s & BLOCKING != 0 {
                (s | NOTIFIED, Wake::Unblock)
            } else {
                (s | NOTIFIED, Wake::Token)
            };
            match self
                .state
                .compare_exchange_weak(s, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return wake,
                Err(actual) => s = actual,
            }
        }
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::sync::atomic::AtomicUsize;
    use loom::sync::Arc;
    use loom::thread;

    /// The coroutine parks while another thread unparks it: it is resumed exactly once,
    /// either because the worker saw the token or because the unparker scheduled it.
    #[test]
    fn park_racing_unpark_is_never_lost_or_doubled() {
        loom::model(|| {
            let st = Arc::new(SchedState::new_queued());
            st.start_running();
            let resumed = Arc::new(AtomicUsize::new(0));
            let (s2, r2) = (st.clone(), resumed.clone());
            let unparker = thread::spawn(move || {
                if s2.unpark() == Wake::Schedule {
                    r2.fetch_add(1, Ordering::SeqCst); // scheduled by us
                }
            });
            // The coroutine: park (no token yet or token taken), then the worker commits.
            if st.take_token() || !st.commit_park() {
                resumed.fetch_add(1, Ordering::SeqCst); // resumed by its own worker
            }
            unparker.join().unwrap();
            assert_eq!(resumed.load(Ordering::SeqCst), 1);
        });
    }

    /// A stale token is pending when the waker publishes data and unparks: the parker must
    /// either see the data or be scheduled by this unpark, never consume the old token, miss
    /// the data and park for good.
    #[test]
    fn unpark_over_a_stale_token_publishes_its_writes() {
        loom::model(|| {
            let st = Arc::new(SchedState::new_queued());
            st.start_running();
            assert_eq!(st.unpark(), Wake::Token); // a stale token from some earlier wake-up
            let data = Arc::new(AtomicUsize::new(0));
            let (s2, d2) = (st.clone(), data.clone());
            let waker = thread::spawn(move || {
                d2.store(1, Ordering::Relaxed);
                s2.unpark() == Wake::Schedule
            });
            let mut parked = false;
            loop {
                if data.load(Ordering::Relaxed) == 1 {
                    break;
                }
                if st.take_token() {
                    continue;
                }
                if st.commit_park() {
                    parked = true;
                    break;
                }
            }
            let scheduled = waker.join().unwrap();
            assert!(!parked || scheduled, "parked with nobody to wake it");
        });
    }

    /// A coroutine blocks its thread (it is panicking) while another thread unparks it: it is
    /// either told not to block (the token came first) or its thread is woken, never left
    /// blocked with a token pending; and exactly one of the two consumes the token.
    #[test]
    fn a_blocking_wait_is_never_missed() {
        loom::model(|| {
            let st = Arc::new(SchedState::new_queued());
            st.start_running();
            let woken = Arc::new(AtomicUsize::new(0));
            let (s2, w2) = (st.clone(), woken.clone());
            let unparker = thread::spawn(move || {
                if s2.unpark() == Wake::Unblock {
                    w2.fetch_add(1, Ordering::SeqCst); // the thread would be unparked
                }
            });
            if st.begin_blocking() {
                // Blocked: wait for the token, as the thread would until unparked.
                while !st.is_notified() {
                    loom::thread::yield_now();
                }
                assert!(st.end_blocking());
                unparker.join().unwrap();
                assert_eq!(woken.load(Ordering::SeqCst), 1, "blocked, never unblocked");
            } else {
                unparker.join().unwrap();
                assert_eq!(woken.load(Ordering::SeqCst), 0);
            }
            assert!(!st.take_token(), "the token was consumed once");
        });
    }

    /// Two unparkers race for one parked task: exactly one schedules it.
    #[test]
    fn two_unparkers_schedule_once() {
        loom::model(|| {
            let st = Arc::new(SchedState::new_queued());
            st.start_running();
            assert!(st.commit_park());
            let wins = Arc::new(AtomicUsize::new(0));
            let handles: Vec<_> = (0..2)
                .map(|_| {
                    let (s, w) = (st.clone(), wins.clone());
                    thread::spawn(move || {
                        if s.unpark() == Wake::Schedule {
                            w.fetch_add(1, Ordering::SeqCst);
                        }
                    })
                })
                .collect();
            for h in handles {
                h.join().unwrap();
            }
            assert_eq!(wins.load(Ordering::SeqCst), 1);
        });
    }

    /// An unpark while the task sits in a run queue (after a yield) is kept as a token, so the
    /// task's next park returns at once instead of sleeping through it.
    #[test]
    fn unpark_while_queued_leaves_a_token() {
        loom::model(|| {
            let st = Arc::new(SchedState::new_queued());
            st.start_running();
            let s2 = st.clone();
            let unparker = thread::spawn(move || assert_eq!(s2.unpark(), Wake::Token));
            st.requeue();
            unparker.join().unwrap();
            st.start_running();
            assert!(st.take_token());
        });
    }

    /// A task that ended ignores late unparks.
    #[test]
    fn unpark_after_finish_does_nothing() {
        loom::model(|| {
            let st = Arc::new(SchedState::new_queued());
            st.start_running();
            let s2 = st.clone();
            let unparker = thread::spawn(move || s2.unpark());
            st.finish();
            // Either the unpark came while running (token, no schedule) or after the end.
            assert_eq!(unparker.join().unwrap(), Wake::Token);
        });
    }
}
