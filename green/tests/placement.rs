//! Where coroutines run (DESIGN §3): a started coroutine stays on the thread it started on,
//! parallel work still spreads over every worker, and the `unsafe` opt-in `allow_migration`
//! brings Go's migration back.

mod common;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::thread::{self, ThreadId};

use common::within;
use green::Runtime;

/// The tests of this file run one at a time: each keeps both cores busy, and the balance test
/// is about where coroutines start, which a worker starved of a core by a neighbouring test
/// cannot show (on a loaded machine a worker may wait milliseconds for a core, and whoever has
/// one starts the work).
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Yields of each coroutine in the balance test: enough work (some tens of milliseconds in
/// all) that a sleeping worker surely wakes up while it lasts, even on a loaded machine.
const YIELDS: usize = if cfg!(debug_assertions) {
    5_000
} else {
    20_000
};
const TASKS: usize = 100;

/// Spawns `TASKS` coroutines that yield in a loop, with `spawn`, and returns how many of the
/// runtime's `workers` worker threads they ran on. (Spare workers may run some too: on a
/// loaded machine a worker that waits a whole slice for a core looks stuck to the monitor.)
fn yielders(
    workers: usize,
    spawn: impl Fn(Box<dyn FnOnce() + Send>) -> green::JoinHandle<()>,
) -> usize {
    let seen = Arc::new(Mutex::new(HashSet::<String>::new()));
    let handles: Vec<_> = (0..TASKS)
        .map(|_| {
            let seen = seen.clone();
            spawn(Box::new(move || {
                let me = thread::current().name().unwrap_or_default().to_owned();
                seen.lock().unwrap().insert(me);
                for _ in 0..YIELDS {
                    green::yield_now();
                }
            }))
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let seen = seen.lock().unwrap();
    (0..workers)
        .filter(|i| seen.contains(&format!("greenchan-worker-{i}")))
        .count()
}

/// 100 coroutines spawned together run on every worker, whether a coroutine or a plain
/// thread spawned them; twenty runs in a row. With two workers, and with one per core if
/// that is more (more workers than cores would leave some waiting for a core while the work
/// lasts).
#[test]
fn coroutines_spawned_together_run_on_every_worker() {
    let _serial = serial();
    within(|| {
        let cores = thread::available_parallelism().map_or(2, |n| n.get());
        let mut counts = vec![2, cores];
        counts.dedup();
        for workers in counts {
            for run in 0..20 {
                let rt = Arc::new(Runtime::builder().workers(workers).build().unwrap());
                let r2 = rt.clone();
                let from_thread = yielders(workers, |f| r2.spawn(f).unwrap());
                assert_eq!(
                    from_thread, workers,
                    "run {run}: spawned from a thread, they ran on {from_thread} of {workers} workers"
                );
                let from_coroutine = rt.run(move || yielders(workers, green::spawn));
                assert_eq!(
                    from_coroutine, workers,
                    "run {run}: spawned from a coroutine, they ran on {from_coroutine} of {workers} workers"
                );
                rt.shutdown().unwrap();
            }
        }
    });
}

/// What a coroutine woken many times from other threads saw: the threads it ran on.
fn threads_of_a_coroutine_woken_from_outside(rt: &Runtime) -> usize {
    let seen = Arc::new(Mutex::new(HashSet::<ThreadId>::new()));
    let (tx, rx) = std::sync::mpsc::channel();
    let s2 = seen.clone();
    let h = rt
        .spawn(move || {
            for _ in 0..500 {
                s2.lock().unwrap().insert(thread::current().id());
                tx.send(()).unwrap();
                green::park();
            }
        })
        .unwrap();
    // Busy neighbours keep both workers running, so the global queue is served by either.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let busy: Vec<_> = (0..4)
        .map(|_| {
            let stop = stop.clone();
            rt.spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    green::yield_now();
                }
            })
            .unwrap()
        })
        .collect();
    for _ in 0..500 {
        rx.recv().unwrap();
        h.coroutine().unpark();
    }
    h.join().unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for b in busy {
        b.join().unwrap();
    }
    let n = seen.lock().unwrap().len();
    n
}

/// By default a coroutine never changes threads, however it is woken.
#[test]
fn a_started_coroutine_stays_on_its_thread() {
    let _serial = serial();
    within(|| {
        let rt = Runtime::builder().workers(2).build().unwrap();
        assert_eq!(threads_of_a_coroutine_woken_from_outside(&rt), 1);
        rt.shutdown().unwrap();
    });
}

/// Under `allow_migration`, the same coroutine is resumed wherever a worker takes it.
#[test]
fn allow_migration_moves_started_coroutines() {
    let _serial = serial();
    within(|| {
        // SAFETY: the coroutines keep nothing thread-affine across their calls: the set of
        // thread ids is behind an `Arc<Mutex>` locked and released between calls.
        let builder = unsafe { Runtime::builder().workers(2).allow_migration() };
        let rt = builder.build().unwrap();
        let mut most = 0;
        for _ in 0..20 {
            most = most.max(threads_of_a_coroutine_woken_from_outside(&rt));
            if most > 1 {
                break;
            }
        }
        assert!(most > 1, "a migrating coroutine never changed threads");
        rt.shutdown().unwrap();
    });
}

/// A tree of coroutines that wait for their children (so each enters the shared registry of
/// migrating coroutines) and end on both workers at once. Found by the harness's skynet under
/// `allow_migration`: a removal read the task's registry position before taking the lock, while
/// another worker's removal was moving that task within the shared registry, and removed the
/// wrong entry (or indexed past the end).
#[test]
fn migrating_coroutines_that_end_together_leave_the_registry_consistent() {
    fn tree(depth: u32) -> u64 {
        if depth == 0 {
            return 1;
        }
        let children: Vec<_> = (0..10)
            .map(|_| green::spawn(move || tree(depth - 1)))
            .collect();
        children.into_iter().map(|h| h.join().unwrap()).sum()
    }
    let _serial = serial();
    within(|| {
        for _ in 0..5 {
            // SAFETY: the coroutines keep nothing thread-affine across their calls: they hold
            // only join handles and integers.
            let builder = unsafe { Runtime::builder().workers(2).allow_migration() };
            let rt = builder.build().unwrap();
            assert_eq!(rt.run(|| tree(4)), 10_000);
            let report = green::dump();
            assert!(
                !report
                    .lines()
                    .any(|l| l.trim_start().starts_with("coroutine ")),
                "ended coroutines are still listed:\n{report}"
            );
            rt.shutdown().unwrap();
        }
    });
}

/// Under `allow_migration` a yield still lets the other runnable coroutines of the worker run
/// first: the queue a runnable migrating coroutine waits in is first in, first out. (The queue
/// of unstarted coroutines is last in, first out, so that a fork-join tree runs depth first;
/// a yielder put back there would run again at once and starve the others.) One worker, three
/// coroutines yielding in a loop: when the first finishes, the others are nearly done too.
#[test]
fn migrating_coroutines_that_yield_take_turns() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    const ROUNDS: usize = 1_000;
    let _serial = serial();
    within(|| {
        // SAFETY: the coroutines keep nothing thread-affine across their calls: they hold
        // only `Arc`s of atomics.
        let builder = unsafe { Runtime::builder().workers(1).allow_migration() };
        let rt = builder.build().unwrap();
        let behind = rt.run(|| {
            let done: Arc<[AtomicUsize; 3]> = Arc::new(Default::default());
            let least_of_others_at_first_end = Arc::new(AtomicUsize::new(usize::MAX));
            let handles: Vec<_> = (0..3)
                .map(|me| {
                    let (done, seen) = (done.clone(), least_of_others_at_first_end.clone());
                    green::spawn(move || {
                        for _ in 0..ROUNDS {
                            done[me].fetch_add(1, Ordering::Relaxed);
                            green::yield_now();
                        }
                        let others = (0..3)
                            .filter(|&o| o != me)
                            .map(|o| done[o].load(Ordering::Relaxed))
                            .min()
                            .unwrap();
                        seen.fetch_min(others, Ordering::Relaxed);
                    })
                })
                .collect();
            handles.into_iter().for_each(|h| h.join().unwrap());
            least_of_others_at_first_end.load(Ordering::Relaxed)
        });
        // The last to start does so a few dozen turns late (a worker with a started
        // coroutine runnable starts an unstarted one every 32nd turn); starved, it would have
        // done none.
        assert!(
            behind >= ROUNDS * 9 / 10,
            "when the first yielder finished its {ROUNDS} rounds another had done {behind}"
        );
        rt.shutdown().unwrap();
    });
}
