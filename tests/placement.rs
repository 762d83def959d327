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

/// A node of a fan-out tree (skynet's shape): spawns `FAN_OUT` children, sums what they send
/// back on a rendezvous channel and sends the sum, with the thread it ran on, to its parent.
/// Counts, in `crossed`, the children that ran on another thread than their parent.
fn tree(
    tx: greenchan::chan::Sender<(u64, ThreadId)>,
    first: u64,
    leaves: u64,
    crossed: Arc<std::sync::atomic::AtomicUsize>,
) {
    const FAN_OUT: u64 = 10;
    let me = std::thread::current().id();
    if leaves == 1 {
        tx.send((first, me)).unwrap();
        return;
    }
    let (ctx, crx) = chan::bounded(0);
    let step = leaves / FAN_OUT;
    for i in 0..FAN_OUT {
        let (ctx, crossed) = (ctx.clone(), crossed.clone());
        go!(move || tree(ctx, first + i * step, step, crossed));
    }
    let mut sum = 0;
    for (part, thread) in crx.iter().take(FAN_OUT as usize) {
        sum += part;
        if thread != me {
            crossed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
    tx.send((sum, me)).unwrap();
}

/// A worker runs the coroutine it spawned last first (depth first), and an idle worker takes
/// the oldest unstarted ones: in a fan-out tree those are the biggest subtrees, so the tree is
/// split near its root and almost every child reports to a parent on its own thread. Started
/// breadth first instead, the queue of unstarted coroutines grows to the width of a level,
/// spills to the global queue and is shared out a batch of leaves at a time, and a large
/// share of the results cross threads.
#[test]
fn a_fan_out_tree_is_split_near_its_root() {
    const LEAVES: u64 = 100_000;
    let rt = Runtime::builder().workers(2).build().unwrap();
    for _ in 0..3 {
        let crossed = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = crossed.clone();
        let sum = rt.run(move || {
            let (tx, rx) = chan::bounded(0);
            go!(move || tree(tx, 0, LEAVES, counted));
            rx.recv().unwrap().0
        });
        assert_eq!(sum, LEAVES * (LEAVES - 1) / 2);
        // 111,110 children in all; only those an idle worker stole start away from their
        // parent: 90-450 per run here, against about 20,000 when a worker started its
        // unstarted coroutines oldest first.
        let crossed = crossed.load(std::sync::atomic::Ordering::Relaxed);
        assert!(
            crossed < 2_000,
            "{crossed} of 111,110 children ran on another thread than their parent"
        );
    }
}
