//! A statically linked global allocator with thread-local heaps, jemalloc (tikv-jemallocator), under
//! allocation-heavy coroutines (issue 10): vectors, boxes, strings and nested boxes of varied
//! sizes, filled with a pattern and verified before each free, some freed by another coroutine
//! (often on another thread). jemalloc assumes that only one flow of control uses a thread's
//! heap and that nothing interrupts it inside `malloc`/`free`: a coroutine switched inside the
//! allocator, or moved to another thread, breaks that. Checks: no crash, no corruption, no
//! deadlock, with default settings on 1 and 2 workers.
//!
//! This binary's own `#[global_allocator]` is jemalloc (`tests/mimalloc.rs` is the same with
//! mimalloc); the scenario is `greenchan_soundness::alloc_churn`.
//!
//! Fails on e8d6a5b (the scheduler before issue 10, which preempted coroutines with SIGURG after
//! 10 ms slices and moved started coroutines between workers; this file run there in a debug
//! build, with only `Runtime::run` renamed to its name then, `block_on`):
//! - 1 worker: hang (a deadlock inside the allocator), 2 runs of 2 (in an earlier series:
//!   also "allocation ... corrupted" then SIGABRT);
//! - 2 workers: hang, 2 of 2 (earlier: also SIGSEGV);
//! - with `GREENCHAN_ASYNCPREEMPT=0`: passes.

use std::time::Duration;

use greenchan_soundness::{alloc_churn, child};

#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

const COROUTINES: usize = 6;
const ROUNDS: usize = 3;
const WORK: Duration = Duration::from_millis(350);
/// jemalloc compiled without optimisation (the debug profile builds its C sources at `-O0`)
/// needs about 45 KiB of stack inside one `realloc` (32 KiB for `realloc`'s own frame): on a
/// 64 KiB coroutine stack (the default at the time of writing) that overflows, and the runtime
/// aborts, saying so. The churning coroutines get at least 256 KiB, which has nothing to do with
/// what this test checks.
const STACK: Option<usize> = Some(if greenchan::DEFAULT_STACK_SIZE > 256 << 10 {
    greenchan::DEFAULT_STACK_SIZE
} else {
    256 << 10
});

fn scenario(workers: usize) {
    let mut blocks = 0;
    for _ in 0..ROUNDS {
        blocks += alloc_churn(workers, COROUTINES, WORK, STACK);
    }
    assert!(blocks > 0);
}

#[test]
fn jemalloc_churn_1_worker() {
    child("jemalloc_churn_1_worker", || scenario(1));
}

#[test]
fn jemalloc_churn_2_workers() {
    child("jemalloc_churn_2_workers", || scenario(2));
}
