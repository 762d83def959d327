//! A statically linked global allocator with thread-local heaps, mimalloc, under
//! allocation-heavy coroutines (issue 10): vectors, boxes, strings and nested boxes of varied
//! sizes, filled with a pattern and verified before each free, some freed by another coroutine
//! (often on another thread). mimalloc assumes that only one flow of control uses a thread's
//! heap and that nothing interrupts it inside `malloc`/`free`: a coroutine switched inside the
//! allocator, or moved to another thread, breaks that. Checks: no crash, no corruption, no
//! deadlock, with default settings on 1 and 2 workers.
//!
//! This binary's own `#[global_allocator]` is mimalloc (`tests/jemalloc.rs` is the same with
//! jemalloc); the scenario is `greenchan_soundness::alloc_churn`.
//!
//! Fails on e8d6a5b (the scheduler before issue 10, which preempted coroutines with SIGURG after
//! 10 ms slices and moved started coroutines between workers; this file run there in a debug
//! build, with only `Runtime::run` renamed to its name then, `block_on`):
//! - 1 worker: SIGSEGV, 2 runs of 2 (4 of 4 in an earlier series);
//! - 2 workers: SIGSEGV, 2 of 2 (in an earlier series also "allocation ... corrupted" before
//!   the crash, and a hang);
//! - with `GREENCHAN_ASYNCPREEMPT=0`: passes.

use std::time::Duration;

use greenchan_soundness::{alloc_churn, child};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const COROUTINES: usize = 6;
const ROUNDS: usize = 3;
const WORK: Duration = Duration::from_millis(350);

fn scenario(workers: usize) {
    let mut blocks = 0;
    for _ in 0..ROUNDS {
        blocks += alloc_churn(workers, COROUTINES, WORK, None);
    }
    assert!(blocks > 0);
}

#[test]
fn mimalloc_churn_1_worker() {
    child("mimalloc_churn_1_worker", || scenario(1));
}

#[test]
fn mimalloc_churn_2_workers() {
    child("mimalloc_churn_2_workers", || scenario(2));
}
