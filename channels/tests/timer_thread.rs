//! The helper thread that wakes futures waiting on timer channels runs only while such a
//! future waits (plus about a second): started by the first, ended once none waits, also when
//! the last one is cancelled long before its deadline. Alone in its test binary, so that no
//! other test's timer futures keep the thread alive. Linux only: threads are counted by name
//! in `/proc/self/task`.
#![cfg(target_os = "linux")]

mod common;

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Waker};
use std::time::Duration;

use common::WATCHDOG;

/// Threads of this process named `greenchan-timer`.
fn timer_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|name| name.trim_end() == "greenchan-timer")
        .count()
}

/// Waits (bounded) until `n` timer threads run; a new thread names itself once it has
/// started, so even a count of one is an event to wait for.
fn wait_for_timer_threads(n: usize, what: &str) {
    let start = std::time::Instant::now();
    while timer_threads() != n {
        assert!(
            start.elapsed() < WATCHDOG,
            "{what}: {} timer threads, not {n}",
            timer_threads()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn the_timer_thread_lives_only_while_a_future_waits() {
    assert_eq!(timer_threads(), 0, "no timer future yet, no thread");

    // A future that completes: the thread starts with it and ends after it.
    let at = channels::after(Duration::from_millis(5));
    let got = green::block_on(at.recv_async());
    assert!(got.is_ok());
    wait_for_timer_threads(0, "after a completed wait");

    // A far timer, waited on once, then cancelled: the thread must not wait for its deadline.
    let far = channels::after(Duration::from_secs(3600));
    let mut fut = far.recv_async();
    let waker = Waker::noop();
    assert!(Pin::new(&mut fut)
        .poll(&mut Context::from_waker(waker))
        .is_pending());
    wait_for_timer_threads(1, "while a timer future waits");
    drop(fut);
    wait_for_timer_threads(0, "after the only waiting future was cancelled");

    // Futures that are ready at the first poll never start it.
    let due = channels::after(Duration::ZERO);
    assert!(green::block_on(due.recv_async()).is_ok());
    assert_eq!(timer_threads(), 0);
}
