//! What green's integration tests share: the watchdog every test body runs under, and a
//! runtime whose only worker is kept busy, and its shutdown.

#![allow(dead_code)] // each test file uses its own part

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use green::{JoinHandle, Runtime};

/// The bound on every wait in these tests: generous, as CI is a loaded 2-core machine. A test
/// that hits it has hung.
pub const WATCHDOG: Duration = Duration::from_secs(120);

/// Runs `f` on a helper thread and fails the test if it does not finish within `WATCHDOG`.
pub fn within<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        let _ = tx.send(r);
    });
    match rx.recv_timeout(WATCHDOG) {
        Ok(Ok(v)) => v,
        Ok(Err(p)) => std::panic::resume_unwind(p),
        Err(_) => panic!("test body did not finish within {WATCHDOG:?}: hang"),
    }
}

/// Shuts `rt` down from another thread while a coroutine keeps its worker busy until `gate`
/// opens, opens it once the shutdown has begun, and waits for both. Coroutines queued behind
/// the busy one are then dropped without running again. The busy coroutine must not be
/// preempted asynchronously (the default), or a preemption would let the queued ones run
/// first.
pub fn shut_down_while_busy(rt: &Arc<Runtime>, gate: &AtomicBool) {
    let r2 = rt.clone();
    let stopper = std::thread::spawn(move || r2.shutdown());
    while !rt.is_shutdown() {
        std::thread::yield_now();
    }
    gate.store(true, Ordering::Release);
    stopper.join().unwrap().unwrap();
}

/// Occupies `rt`'s only worker with a coroutine that spins, making no greenchan call, until
/// the returned gate is set; returns once that coroutine runs, so that what is spawned next
/// stays queued (see `shut_down_while_busy`).
pub fn occupy_only_worker(rt: &Runtime) -> (Arc<AtomicBool>, JoinHandle<()>) {
    let gate = Arc::new(AtomicBool::new(false));
    let running = Arc::new(AtomicBool::new(false));
    let (g, r) = (gate.clone(), running.clone());
    let blocker = rt
        .spawn(move || {
            r.store(true, Ordering::Release);
            while !g.load(Ordering::Acquire) {
                std::hint::spin_loop();
            }
        })
        .unwrap();
    while !running.load(Ordering::Acquire) {
        std::thread::yield_now();
    }
    (gate, blocker)
}

/// Asserts that `h`'s coroutine was dropped by its runtime before it finished.
pub fn assert_dropped<T: std::fmt::Debug>(h: JoinHandle<T>) {
    let err = h.join().unwrap_err();
    let msg = err.downcast_ref::<&str>().copied().unwrap_or_default();
    assert!(msg.contains("dropped before it finished"), "{msg}");
}
