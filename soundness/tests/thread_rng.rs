//! `rand::thread_rng()` in busy coroutines (issue 10). `ThreadRng` is a handle (an `Rc`) to
//! one generator per thread, whose state (a buffer of output and an index into it) is updated
//! on every draw with nothing to guard it but the assumption that one flow of control runs on
//! the thread: two coroutines interleaved inside a draw, or a coroutine moved to another thread
//! with its handle, draw the same numbers. Checks, with default settings on 1 and 2 workers:
//! no 64-bit draw repeats across all coroutines (all draws collected, sorted, compared).
//!
//! Fails on e8d6a5b (the scheduler before issue 10, which preempted coroutines with SIGURG after
//! 10 ms slices and moved started coroutines between workers; this file run there in a debug
//! build, with only `Runtime::run` renamed to its name then, `block_on`):
//! - 1 worker: 2 runs of 2 fail: 36 and 60 repeated draws among about 230,000;
//! - 2 workers: 2 of 2: 120 and 142 repeats;
//! - with `GREENCHAN_ASYNCPREEMPT=0`: passes.

use std::time::{Duration, Instant};

use greenchan::go;
use greenchan_soundness::{assert_unique, child, on_fresh_runtime, spin_for};
use rand::Rng;

const COROUTINES: usize = 4;
const WORK: Duration = Duration::from_millis(200);
/// Draws per burst; bursts are separated by a little busy work.
const BURST: usize = 16;
/// Cap on each coroutine's draws (memory for the uniqueness check).
const MAX_DRAWS: usize = 300_000;

fn drawer() -> Vec<u64> {
    let start = Instant::now();
    let mut held = rand::thread_rng();
    let mut draws = Vec::with_capacity(MAX_DRAWS);
    while draws.len() < MAX_DRAWS && start.elapsed() < WORK {
        for i in 0..BURST {
            // Alternately through a handle held across the loop and a fresh one.
            if i % 2 == 0 {
                draws.push(held.gen::<u64>());
            } else {
                draws.push(rand::thread_rng().gen::<u64>());
            }
        }
        spin_for(Duration::from_micros(5));
        if draws.len() % (64 * BURST) == 0 {
            greenchan::preempt_point();
        }
    }
    draws
}

fn scenario(workers: usize) {
    let all = on_fresh_runtime(workers, || {
        let handles: Vec<_> = (0..COROUTINES).map(|_| go!(drawer)).collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect::<Vec<u64>>()
    });
    assert!(all.len() > COROUTINES * BURST);
    assert_unique(all);
}

#[test]
fn thread_rng_never_repeats_1_worker() {
    child("thread_rng_never_repeats_1_worker", || scenario(1));
}

#[test]
fn thread_rng_never_repeats_2_workers() {
    child("thread_rng_never_repeats_2_workers", || scenario(2));
}
