//! `rand::thread_rng()` in busy coroutines (issue 10). `ThreadRng` is a handle (an `Rc`) to
//! one generator per thread, whose state (a buffer of output and an index into it) is updated
//! on every draw with nothing to guard it but the assumption that one flow of control runs on
//! the thread: two coroutines interleaved inside a draw, or a coroutine moved to another thread
//! with its handle, draw the same numbers (a run of them: the buffer's index goes back). Checks,
//! with default settings on 1 and 2 workers, that no 64-bit draw repeats across all coroutines.
//! The coroutines draw without pause, so much of their time is spent inside the generator, and
//! keep every draw (in release builds every draw whose low 4 bits are zero: a repeated draw
//! repeats those bits too, and keeping all would take hundreds of MB); the kept draws are sorted
//! and compared.
//!
//! Fails on e8d6a5b (the scheduler before issue 10, which preempted coroutines with SIGURG after
//! 10 ms slices and moved started coroutines between workers; this file run there in a debug
//! build, with only `Runtime::run` renamed to its name then, `block_on`):
//! - 1 worker: 4 runs of 4 fail: 36 to 108 repeated draws among 87,000 to 197,000;
//! - 2 workers: 4 of 4: 68 to 1,256 repeats;
//! - in a release build: 3 of 3 fail on each (6 to 429 repeats among the kept draws);
//! - with `GREENCHAN_ASYNCPREEMPT=0`: passes.

use std::time::{Duration, Instant};

use greenchan::go;
use greenchan_soundness::{assert_unique, child, on_fresh_runtime};
use rand::Rng;

const COROUTINES: usize = 4;
const WORK: Duration = Duration::from_millis(200);
/// Whether a draw is kept for the uniqueness check: every one in a debug build, whose
/// unoptimised generator draws a few hundred thousand a second; one in 16, by value, in release.
fn kept(draw: u64) -> bool {
    cfg!(debug_assertions) || draw % 16 == 0
}
/// Cap on each coroutine's kept draws (memory).
const MAX_KEPT: usize = 2_000_000;

fn drawer() -> Vec<u64> {
    let start = Instant::now();
    let mut held = rand::thread_rng();
    let mut kept_draws = Vec::new();
    let mut draws = 0u64;
    while draws % 1024 != 0 || start.elapsed() < WORK {
        // Alternately through a handle held across the loop and a fresh one.
        let v = if draws % 2 == 0 {
            held.gen::<u64>()
        } else {
            rand::thread_rng().gen::<u64>()
        };
        draws += 1;
        if kept(v) && kept_draws.len() < MAX_KEPT {
            kept_draws.push(v);
        }
        if draws % 4096 == 0 {
            greenchan::preempt_point();
        }
    }
    kept_draws
}

fn scenario(workers: usize) {
    let all = on_fresh_runtime(workers, || {
        let handles: Vec<_> = (0..COROUTINES).map(|_| go!(drawer)).collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect::<Vec<u64>>()
    });
    assert!(all.len() > COROUTINES);
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
