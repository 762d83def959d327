//! Helpers shared by the channel tests: a watchdog so a hang fails the test instead of CI.

use std::time::Duration;

/// Generous bound for any single test body on a loaded 2-core CI machine.
pub const WATCHDOG: Duration = Duration::from_secs(120);

#[allow(dead_code)]
/// Runs `f` as a coroutine on the global runtime and fails if it does not finish in time.
pub fn in_coroutine<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    on_thread(move || green::run(f))
}

/// Runs `f` on a helper thread and fails if it does not finish in time.
pub fn on_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
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

#[allow(dead_code)] // not every test file scales its loops
/// Scales loop sizes: smaller in debug builds, full size in release.
pub fn scale(n: usize) -> usize {
    if cfg!(debug_assertions) {
        n / 10
    } else {
        n
    }
}
