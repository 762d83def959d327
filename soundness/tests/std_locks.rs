//! std's own locks from many busy coroutines (issue 10): a `static LazyLock` with a slow
//! initialiser hit by many coroutines at once, `Backtrace::force_capture()` (std's backtrace
//! lock, the unwinder's and the symboliser's), and a `std::sync::Mutex` held over a busy loop
//! with no greenchan call inside. These locks block the *thread*: if the runtime switched away
//! from a coroutine holding one, another coroutine of the same worker waiting for it would block
//! the very thread the holder needs to finish, and the runtime deadlocks. Checks, with default
//! settings on 1 and 2 workers: no deadlock, and the values are right (each `LazyLock`
//! initialised once, the mutex's count exact, every backtrace names its caller).
//!
//! Fails on e8d6a5b (the scheduler before issue 10, which preempted coroutines with SIGURG after
//! 10 ms slices and moved started coroutines between workers; this file run there in a debug
//! build, with only `Runtime::run` renamed to its name then, `block_on`):
//! - `LazyLock`, 1 and 2 workers: hang, 2 runs of 2 each;
//! - `Backtrace`, 1 and 2 workers: hang, 2 of 2 each (2 workers: 4 of 4 more in another
//!   series);
//! - std `Mutex`, 1 and 2 workers: hang, 2 of 2 each;
//! - with `GREENCHAN_ASYNCPREEMPT=0`: all pass.

use std::backtrace::Backtrace;
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use greenchan::go;
use greenchan_soundness::{child, mix, on_fresh_runtime, spin_for};

const COROUTINES: usize = 8;

// ---- LazyLock ----

const LAZIES: usize = 8;
static INITS: AtomicUsize = AtomicUsize::new(0);
static LAZY: [LazyLock<u64>; LAZIES] = [const { LazyLock::new(slow_value) }; LAZIES];

/// Takes about 50 ms, with no greenchan call.
fn slow_value() -> u64 {
    INITS.fetch_add(1, Ordering::Relaxed);
    spin_for(Duration::from_millis(50));
    expected_value()
}

fn expected_value() -> u64 {
    (0..1000u64).fold(0, |acc, i| acc ^ mix(i))
}

fn lazy_lock(workers: usize) {
    on_fresh_runtime(workers, || {
        for lazy in &LAZY {
            let handles: Vec<_> = (0..COROUTINES)
                .map(|i| {
                    go!(move || {
                        spin_for(Duration::from_micros(200 * i as u64));
                        assert_eq!(**lazy, expected_value());
                    })
                })
                .collect();
            for h in handles {
                h.join().unwrap();
            }
        }
    });
    assert_eq!(
        INITS.load(Ordering::Relaxed),
        LAZIES,
        "a LazyLock ran twice"
    );
}

#[test]
fn lazy_lock_1_worker() {
    child("lazy_lock_1_worker", || lazy_lock(1));
}

#[test]
fn lazy_lock_2_workers() {
    child("lazy_lock_2_workers", || lazy_lock(2));
}

// ---- Backtrace ----

/// How long each coroutine keeps capturing backtraces.
const CAPTURE_FOR: Duration = Duration::from_millis(300);
/// Frames between the coroutine's entry and the capture: more frames to unwind and resolve.
const DEPTH: usize = 16;

#[inline(never)]
fn capturing_coroutine_body(id: usize) -> usize {
    let start = Instant::now();
    let mut captures = 0;
    while captures < 4 || start.elapsed() < CAPTURE_FOR {
        let bt = Backtrace::force_capture();
        let text = bt.to_string();
        assert!(
            text.contains("capturing_coroutine_body") && text.contains("deeper"),
            "coroutine {id}: the backtrace does not name its callers:\n{text}"
        );
        captures += 1;
        spin_for(Duration::from_micros(10));
        if captures % 8 == 0 {
            greenchan::preempt_point();
        }
    }
    captures
}

/// Calls `capturing_coroutine_body` `depth` frames down.
#[inline(never)]
fn deeper(depth: usize, id: usize) -> usize {
    let n = if depth == 0 {
        capturing_coroutine_body(id)
    } else {
        deeper(depth - 1, id)
    };
    // Used after the call, so the recursion is no tail call.
    black_box(n) + 1
}

fn backtraces(workers: usize) {
    on_fresh_runtime(workers, || {
        let handles: Vec<_> = (0..COROUTINES)
            .map(|id| go!(move || deeper(DEPTH, id)))
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    });
}

#[test]
fn backtrace_capture_1_worker() {
    child("backtrace_capture_1_worker", || backtraces(1));
}

#[test]
fn backtrace_capture_2_workers() {
    child("backtrace_capture_2_workers", || backtraces(2));
}

// ---- std::sync::Mutex held over a busy loop ----

const HOLDS: usize = 25;

fn std_mutex(workers: usize) {
    let total = on_fresh_runtime(workers, || {
        let counter = Arc::new(Mutex::new(0u64));
        let handles: Vec<_> = (0..COROUTINES)
            .map(|_| {
                let counter = counter.clone();
                go!(move || {
                    for _ in 0..HOLDS {
                        let mut guard = counter.lock().unwrap();
                        // Busy with the lock held, no greenchan call.
                        let before = *guard;
                        spin_for(Duration::from_millis(1));
                        assert_eq!(*guard, before, "the mutex let another holder in");
                        *guard += 1;
                        drop(guard);
                        greenchan::preempt_point();
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let total = *counter.lock().unwrap();
        total
    });
    assert_eq!(total, (COROUTINES * HOLDS) as u64);
}

#[test]
fn std_mutex_held_while_busy_1_worker() {
    child("std_mutex_held_while_busy_1_worker", || std_mutex(1));
}

#[test]
fn std_mutex_held_while_busy_2_workers() {
    child("std_mutex_held_while_busy_2_workers", || std_mutex(2));
}
