//! The bookkeeping bench's three cases (`bookkeeping.rs`: spawn, park/unpark round trips, a
//! join-based skynet) as a fixed-iteration program on one worker, for *instruction counts*
//! under cachegrind. On a shared machine wall time moves by tens of percent from run to run;
//! the instruction count of these runs repeats to 0.01% (spawn to a few percent), so a cost of
//! a few percent shows. Instructions are not time, but a path that executes 10% more of them
//! rarely runs faster. The file uses only API the code before the diagnostics bookkeeping has
//! too, so it can be copied to an older worktree.
//!
//! ```text
//! cargo bench -p greenchan-runtime --bench bookkeeping_count --no-run   # prints the executable
//! valgrind --tool=cachegrind --cache-sim=no <executable> pingpong 5      # "I refs"
//! ```
//!
//! `<case> <reps>`: case `spawn` (10,000 spawned and joined), `pingpong` (10,000 round trips) or
//! `skynet` (10,000 leaves), repeated `reps` times; the count of `reps` 0 is the fixed cost to
//! subtract. Run by `cargo bench` without a case it does nothing.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

const SPAWN: usize = 10_000;
const ROUND_TRIPS: usize = 10_000;
const LEAVES: u64 = 10_000;

fn skynet_node(num: u64, size: u64) -> u64 {
    if size == 1 {
        return num;
    }
    let step = size / 10;
    let hs: Vec<_> = (0..10)
        .map(|i| green::spawn(move || skynet_node(num + i * step, step)))
        .collect();
    hs.into_iter().map(|h| h.join().unwrap()).sum()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let case = args.get(1).cloned().unwrap_or_default();
    if !["spawn", "pingpong", "skynet"].contains(&case.as_str()) {
        eprintln!("usage: {} <spawn|pingpong|skynet> <reps>", args[0]);
        return;
    }
    let reps: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1);
    let rt = green::Runtime::builder().workers(1).build().unwrap();
    let r = rt.run(move || {
        let mut acc = 0u64;
        for _ in 0..reps {
            match case.as_str() {
                "spawn" => {
                    let counter = Arc::new(AtomicUsize::new(0));
                    let hs: Vec<_> = (0..SPAWN)
                        .map(|_| {
                            let c = counter.clone();
                            green::spawn(move || {
                                c.fetch_add(1, Ordering::Relaxed);
                            })
                        })
                        .collect();
                    for h in hs {
                        h.join().unwrap();
                    }
                    acc += counter.load(Ordering::Relaxed) as u64;
                }
                "pingpong" => {
                    let turn = Arc::new(AtomicUsize::new(0));
                    let me = green::current();
                    let t2 = turn.clone();
                    let partner = green::spawn(move || {
                        for i in 0..ROUND_TRIPS {
                            while t2.load(Ordering::Acquire) != 2 * i + 1 {
                                green::park();
                            }
                            t2.store(2 * i + 2, Ordering::Release);
                            me.unpark();
                        }
                    });
                    let p = partner.coroutine().clone();
                    for i in 0..ROUND_TRIPS {
                        turn.store(2 * i + 1, Ordering::Release);
                        p.unpark();
                        while turn.load(Ordering::Acquire) != 2 * i + 2 {
                            green::park();
                        }
                    }
                    partner.join().unwrap();
                    acc += 1;
                }
                "skynet" => acc += skynet_node(0, LEAVES),
                _ => {}
            }
        }
        acc
    });
    println!("{r}");
    std::process::exit(0);
}
