//! Who is idle, and how an idle worker is woken: the protocol behind every hand-over of work to
//! a worker that may be asleep, kept apart so that loom can model-check it
//! (`RUSTFLAGS="--cfg loom" cargo test -p greenchan-runtime --release --lib idle`).
//!
//! Three counts and a list: workers *starting* (thread not in its loop yet), *spinning*
//! (searching for work to steal; at most half the workers), *sleeping* (and which: the
//! `sleepers` list, under a mutex). Each worker also has two flags: `asleep`, set before its last
//! look at the queues, and `woken_to_search`, set by whoever woke it to search.
//!
//! Two hand-overs rely on it, and both are Dekker-style: the party that makes work visible and
//! the worker that goes to sleep each write, fence, then read what the other wrote, so at least
//! one of them sees the other.
//!
//! - *Work for anyone* (a spawn, the global queue, a stuck worker's unstarted coroutines the
//!   monitor rescues): after making it visible, [`Idle::pick_searcher`] wakes a sleeper as a
//!   searcher unless someone already searches. A worker going to sleep announces itself
//!   ([`Idle::announce_sleep`]), fences, and looks at the queues once more.
//! - *Work for one worker* (a started coroutine woken on another thread goes to its home's
//!   inbox): after the push, [`Idle::must_wake`] fences and reads the worker's `asleep` flag,
//!   and [`Idle::take_sleeper`] wakes it.
//!
//! A woken worker learns how it was woken from [`Idle::end_sleep`].

#[cfg(loom)]
use loom::sync::atomic::{fence, AtomicBool, AtomicUsize, Ordering};
#[cfg(loom)]
use loom::sync::{Condvar, Mutex, MutexGuard};
#[cfg(not(loom))]
use std::sync::atomic::{fence, AtomicBool, AtomicUsize, Ordering};
use std::sync::PoisonError;
#[cfg(not(loom))]
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Instant;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The idle-worker flags of one slot.
struct SlotFlags {
    asleep: AtomicBool,
    woken_to_search: AtomicBool,
}

/// Who is starting, searching and asleep, among the slots of one runtime.
pub(crate) struct Idle {
    starting: AtomicUsize,
    spinning: AtomicUsize,
    sleeping: AtomicUsize,
    sleepers: Mutex<Vec<usize>>,
    slots: Box<[SlotFlags]>,
}

/// How a worker's sleep ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Woke {
    /// By its deadline, or it did not sleep: nobody took it off the list.
    ByItself,
    /// Woken as a searcher: it was counted as spinning, and is one now.
    ToSearch,
    /// Woken for work in its own inbox.
    ForItsInbox,
}

impl Idle {
    pub(crate) fn new(slots: usize) -> Idle {
        Idle {
            starting: AtomicUsize::new(0),
            spinning: AtomicUsize::new(0),
            sleeping: AtomicUsize::new(0),
            sleepers: Mutex::new(Vec::new()),
            slots: (0..slots)
                .map(|_| SlotFlags {
                    asleep: AtomicBool::new(false),
                    woken_to_search: AtomicBool::new(false),
                })
                .collect(),
        }
    }

    pub(crate) fn spinning(&self) -> usize {
        self.spinning.load(Ordering::SeqCst)
    }

    pub(crate) fn sleeping(&self) -> usize {
        self.sleeping.load(Ordering::SeqCst)
    }

    /// Whether worker `index` sleeps (or is about to), for diagnostics.
    pub(crate) fn is_asleep(&self, index: usize) -> bool {
        self.slots[index].asleep.load(Ordering::Relaxed)
    }

    /// True while some worker is starting, searching or asleep (a cheap, racy look).
    pub(crate) fn any_idle(&self) -> bool {
        self.spinning.load(Ordering::Relaxed) != 0
            || self.sleeping.load(Ordering::Relaxed) != 0
            || self.starting.load(Ordering::Relaxed) != 0
    }

    /// A worker thread is about to start.
    pub(crate) fn worker_starting(&self) {
        self.starting.fetch_add(1, Ordering::SeqCst);
    }

    /// A worker thread began its loop (or never started).
    pub(crate) fn worker_started(&self) {
        self.starting.fetch_sub(1, Ordering::SeqCst);
    }

    /// A worker asks to search (steal): granted while fewer than half of `active` workers do.
    pub(crate) fn try_begin_search(&self, active: usize) -> bool {
        if 2 * self.spinning.load(Ordering::SeqCst) >= active {
            return false;
        }
        self.spinning.fetch_add(1, Ordering::SeqCst);
        true
    }

    /// A searcher stops searching (it found work, or exits). True if it was the last one:
    /// the caller then wakes another in case there is more work.
    pub(crate) fn end_search(&self) -> bool {
        self.spinning.fetch_sub(1, Ordering::SeqCst) == 1
    }

    /// Worker `index` announces that it goes to sleep (it stops searching first if it
    /// was). Returns how many workers sleep now. The caller then looks at the queues once
    /// more before it sleeps, and calls `end_sleep` in any case.
    pub(crate) fn announce_sleep(&self, index: usize, was_searching: bool) -> usize {
        let sleeping = {
            let mut sleepers = lock(&self.sleepers);
            sleepers.push(index);
            self.slots[index].asleep.store(true, Ordering::SeqCst);
            let before = self.sleeping.fetch_add(1, Ordering::SeqCst);
            if was_searching {
                self.spinning.fetch_sub(1, Ordering::SeqCst);
            }
            before + 1
        };
        // Against the fences of `pick_searcher` and `must_wake`: either the waker sees the
        // announcement, or the caller's look at the queues sees the work.
        fence(Ordering::SeqCst);
        sleeping
    }

    /// Worker `index` is awake again (or never slept): how was it woken?
    pub(crate) fn end_sleep(&self, index: usize) -> Woke {
        let mut sleepers = lock(&self.sleepers);
        self.slots[index].asleep.store(false, Ordering::SeqCst);
        if let Some(pos) = sleepers.iter().position(|&i| i == index) {
            sleepers.swap_remove(pos);
            self.sleeping.fetch_sub(1, Ordering::SeqCst);
            return Woke::ByItself;
        }
        drop(sleepers);
        if self.slots[index]
            .woken_to_search
            .swap(false, Ordering::SeqCst)
        {
            Woke::ToSearch
        } else {
            Woke::ForItsInbox
        }
    }

    /// After making work visible to any worker: the sleeper to wake as a searcher, if nobody
    /// searches already; it is counted as spinning from now on, so that concurrent pushes do
    /// not wake a second one for the same work. The caller notifies its sleeper.
    pub(crate) fn pick_searcher(&self) -> Option<usize> {
        fence(Ordering::SeqCst);
        self.pick_searcher_relaxed()
    }

    /// `pick_searcher` without the fence, for work pushed to the pushing worker's own queue:
    /// if the wake-up is missed, that worker runs the task itself (or, with the task left to
    /// others, wakes one with the fenced version), so only parallelism is at stake, never
    /// liveness (Go's `wakep` after `runqput` makes the same trade).
    pub(crate) fn pick_searcher_relaxed(&self) -> Option<usize> {
        if self.spinning.load(Ordering::SeqCst) != 0 || self.sleeping.load(Ordering::SeqCst) == 0 {
            return None;
        }
        let mut sleepers = lock(&self.sleepers);
        if self.spinning.load(Ordering::SeqCst) != 0 {
            return None;
        }
        let index = sleepers.pop()?;
        self.sleeping.fetch_sub(1, Ordering::SeqCst);
        self.spinning.fetch_add(1, Ordering::SeqCst);
        self.slots[index]
            .woken_to_search
            .store(true, Ordering::SeqCst);
        Some(index)
    }

    /// After pushing work into worker `index`'s inbox: true if it may be asleep and must be
    /// woken (with `take_sleeper`).
    pub(crate) fn must_wake(&self, index: usize) -> bool {
        fence(Ordering::SeqCst);
        self.slots[index].asleep.load(Ordering::Relaxed)
    }

    /// Takes worker `index` off the sleepers; true if the caller must notify its sleeper
    /// (false: it is awake, or woken already, and looks at its inbox before it sleeps again).
    pub(crate) fn take_sleeper(&self, index: usize) -> bool {
        let mut sleepers = lock(&self.sleepers);
        let Some(pos) = sleepers.iter().position(|&i| i == index) else {
            return false;
        };
        sleepers.swap_remove(pos);
        self.sleeping.fetch_sub(1, Ordering::SeqCst);
        true
    }
}

/// What one worker's sleep waits on: a flag and a condition variable (or, outside this module,
/// the I/O driver's poll, which `polling` announces).
#[derive(Default)]
pub(crate) struct Sleeper {
    notified: Mutex<bool>,
    condvar: Condvar,
    /// Set while this worker sleeps inside the I/O driver's poll instead of on `condvar`.
    polling: AtomicBool,
}

impl Sleeper {
    /// Wakes the sleeper (or makes its next sleep return at once). True if it is polling
    /// the I/O driver, which the caller must then break.
    pub(crate) fn notify(&self) -> bool {
        *lock(&self.notified) = true;
        self.condvar.notify_one();
        // Ordered after the flag by the mutex: a poller that set `polling` before checking
        // the flag either saw the flag or is seen here (see `begin_poll`).
        self.polling.load(Ordering::SeqCst)
    }

    /// Before polling the I/O driver instead of sleeping: false if a notification is
    /// already here (then do not poll). Pair with `end_poll`.
    pub(crate) fn begin_poll(&self) -> bool {
        self.polling.store(true, Ordering::SeqCst);
        !*lock(&self.notified)
    }

    /// Not polling after all (there was nothing to poll): the notification, if one came,
    /// stays for the `sleep` that follows.
    pub(crate) fn stop_polling(&self) {
        self.polling.store(false, Ordering::SeqCst);
    }

    /// After polling: consumes a notification.
    pub(crate) fn end_poll(&self) {
        self.polling.store(false, Ordering::SeqCst);
        *lock(&self.notified) = false;
    }

    /// Sleeps until notified or `deadline`; consumes the notification.
    pub(crate) fn sleep(&self, deadline: Option<Instant>) {
        let mut notified = lock(&self.notified);
        while !*notified {
            match deadline {
                None => {
                    notified = self
                        .condvar
                        .wait(notified)
                        .unwrap_or_else(PoisonError::into_inner)
                }
                #[cfg(not(loom))]
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        break;
                    }
                    notified = self
                        .condvar
                        .wait_timeout(notified, d - now)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                }
                #[cfg(loom)]
                Some(_) => unreachable!("the models sleep without deadlines"),
            }
        }
        *notified = false;
    }

    /// Forgets a notification that came while the worker stayed awake.
    pub(crate) fn clear(&self) {
        *lock(&self.notified) = false;
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;
    use loom::thread;

    /// A worker going to sleep, as `Worker::sleep` does: announce, look at the work once
    /// more, sleep unless it is there, and end the sleep. Returns how it was woken.
    fn go_to_sleep(idle: &Idle, sleeper: &Sleeper, index: usize, work: &AtomicUsize) -> Woke {
        idle.announce_sleep(index, false);
        if work.load(Ordering::SeqCst) == 0 {
            sleeper.sleep(None);
        }
        let woke = idle.end_sleep(index);
        if woke != Woke::ByItself {
            sleeper.clear();
        }
        woke
    }

    /// The inbox hand-over: a coroutine woken on another thread is pushed into its home
    /// worker's inbox while that worker goes to sleep. The worker either sees it before it
    /// sleeps or is woken for it; it never sleeps through it (loom reports a sleep nobody
    /// ends as a deadlock).
    #[test]
    fn a_task_sent_home_never_waits_for_a_sleeping_worker() {
        loom::model(|| {
            let idle = Arc::new(Idle::new(1));
            let sleeper = Arc::new(Sleeper::default());
            let inbox = Arc::new(AtomicUsize::new(0));
            let (i2, s2, n2) = (idle.clone(), sleeper.clone(), inbox.clone());
            let sender = thread::spawn(move || {
                n2.fetch_add(1, Ordering::SeqCst);
                if i2.must_wake(0) && i2.take_sleeper(0) {
                    s2.notify();
                }
            });
            go_to_sleep(&idle, &sleeper, 0, &inbox);
            sender.join().unwrap();
            assert_eq!(inbox.load(Ordering::SeqCst), 1);
            assert_eq!(idle.sleeping(), 0);
        });
    }

    /// The rescue of a stuck worker's movable work: worker 0 is stuck (it never looks for
    /// work), worker 1 goes to sleep, and work that may move appears (a coroutine queued on
    /// the stuck worker, or in the global queue) with no wake-up from its pusher (as when the
    /// relaxed wake-up is skipped). The monitor's rescue pass, which runs after the work is
    /// there, wakes worker 1 as a searcher unless it saw the work itself: the work is never
    /// left with worker 1 asleep, and the spinning count ends balanced.
    #[test]
    fn a_stuck_workers_movable_work_is_handed_to_a_sleeper() {
        loom::model(|| {
            let idle = Arc::new(Idle::new(2));
            let sleeper = Arc::new(Sleeper::default());
            let movable = Arc::new(AtomicUsize::new(0));
            let (i2, s2, m2) = (idle.clone(), sleeper.clone(), movable.clone());
            let monitor = thread::spawn(move || {
                m2.store(1, Ordering::SeqCst); // the work appears...
                                               // ... and the monitor's pass (`Shared::rescue`) finds it with nobody searching.
                if let Some(index) = i2.pick_searcher() {
                    assert_eq!(index, 1);
                    s2.notify();
                }
            });
            let woke = go_to_sleep(&idle, &sleeper, 1, &movable);
            monitor.join().unwrap();
            if woke == Woke::ToSearch {
                // It searches now; it takes the work, then stops searching.
                assert!(idle.end_search());
            }
            assert_eq!(
                movable.load(Ordering::SeqCst),
                1,
                "the work is there to take"
            );
            assert_eq!(idle.spinning(), 0);
            assert_eq!(idle.sleeping(), 0);
        });
    }

    /// Two pushes of work for anyone race with one sleeper: it is woken at most once as a
    /// searcher (the second push sees a searcher), and the counts end balanced.
    #[test]
    fn concurrent_pushes_wake_one_searcher() {
        // Three threads: bounded preemptions keep the model to a minute's work.
        let mut builder = loom::model::Builder::new();
        builder.preemption_bound = Some(3);
        builder.check(|| {
            let idle = Arc::new(Idle::new(1));
            let sleeper = Arc::new(Sleeper::default());
            let work = Arc::new(AtomicUsize::new(0));
            let pushers: Vec<_> = (0..2)
                .map(|_| {
                    let (i2, s2, w2) = (idle.clone(), sleeper.clone(), work.clone());
                    thread::spawn(move || {
                        w2.fetch_add(1, Ordering::SeqCst);
                        if i2.pick_searcher().is_some() {
                            s2.notify();
                            1
                        } else {
                            0
                        }
                    })
                })
                .collect();
            let woke = go_to_sleep(&idle, &sleeper, 0, &work);
            let wakes: usize = pushers.into_iter().map(|p| p.join().unwrap()).sum();
            assert!(wakes <= 1);
            assert_eq!(wakes == 1, woke == Woke::ToSearch);
            if woke == Woke::ToSearch {
                idle.end_search();
            }
            assert_eq!(idle.spinning(), 0);
            assert_eq!(idle.sleeping(), 0);
        });
    }
}
