//! Where coroutines that talk to each other start. A started coroutine never leaves its thread
//! (DESIGN §3), so producers and consumers spawned together should start next to each other,
//! on the spawner's worker, rather than be split across threads, where every hand-off crosses
//! cores. (Parallel work spreading out is `green/tests/placement.rs` and the balance bench.)

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;

use greenchan::{chan, go, Runtime};

/// One run of a producer-consumer burst on a 2-worker runtime: 4 producers and 4 consumers
/// on one buffered channel, spawned together by a coroutine that then joins them. Returns the
/// number of threads the eight ran on.
fn partner_threads(rt: &Runtime) -> usize {
    let threads: Arc<Mutex<HashSet<ThreadId>>> = Arc::default();
    let seen = threads.clone();
    rt.run(move || {
        let (tx, rx) = chan::bounded::<u64>(128);
        let note = |seen: &Arc<Mutex<HashSet<ThreadId>>>| {
            seen.lock().unwrap().insert(std::thread::current().id());
        };
        let producers: Vec<_> = (0..4)
            .map(|_| {
                let (tx, seen) = (tx.clone(), seen.clone());
                go!(move || {
                    note(&seen);
                    for i in 0..20_000 {
                        tx.send(i).unwrap();
                    }
                })
            })
            .collect();
        drop(tx);
        let consumers: Vec<_> = (0..4)
            .map(|_| {
                let (rx, seen) = (rx.clone(), seen.clone());
                go!(move || {
                    note(&seen);
                    rx.iter().count()
                })
            })
            .collect();
        producers.into_iter().for_each(|h| h.join().unwrap());
        let got: usize = consumers.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(got, 80_000);
    });
    let n = threads.lock().unwrap().len();
    n
}

// Placement is a matter of timing: an idle worker takes unstarted coroutines that have waited
// `STEAL_AGE` (100 µs). Unoptimized, starting eight coroutines takes longer than that, so the
// property holds for release builds only (CI runs the tests in both).
#[cfg_attr(
    debug_assertions,
    ignore = "placement timing holds for optimized builds only"
)]
#[test]
fn producers_and_consumers_spawned_together_start_side_by_side() {
    let rt = Runtime::builder().workers(2).build().unwrap();
    const RUNS: usize = 10;
    let together = (0..RUNS).filter(|_| partner_threads(&rt) == 1).count();
    // On a loaded machine a worker may lose its core for longer than an idle peer waits
    // before it takes unstarted coroutines, so an odd run may split; most must not.
    assert!(
        together * 2 > RUNS,
        "the partners shared one thread in only {together} of {RUNS} runs"
    );
}
