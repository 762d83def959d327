//! Helpers shared by the channel integration tests.
//!
//! - A watchdog: every test body runs on a helper thread (as a coroutine or as a plain thread)
//!   and the test thread waits for it with a generous bound, so a lost wake-up fails the test
//!   with a clear message instead of hanging CI forever.
//! - `scale`: loop sizes for debug builds (a tenth) and release builds (full size). Setting
//!   `GREENCHAN_STRESS=1` runs the full size in debug builds too.
//! - `DropLedger` and `Counted`: values that count their creations and drops, for the
//!   "nothing leaks, nothing is dropped twice" checks.
//! - `wait_until`: waits for an event by yielding (coroutine) or spinning politely (thread).
#![allow(dead_code)] // each test file uses a different subset

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Generous bound for any single test body on a loaded 2-core CI machine.
pub const WATCHDOG: Duration = Duration::from_secs(120);

/// Runs `f` as a coroutine on the global runtime (via `green::run`, from a helper thread) and
/// fails the test if it does not finish within [`WATCHDOG`]. A panic in `f` fails the test.
pub fn in_coroutine<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    on_thread(move || {
        assert!(!green::in_coroutine());
        green::run(move || {
            assert!(
                green::in_coroutine(),
                "green::run runs its body as a coroutine"
            );
            f()
        })
    })
}

/// Runs `f` as a coroutine on a fresh runtime with a single worker (Go's `GOMAXPROCS(1)`):
/// every hand-off must go through the scheduler, never through a second worker that happens to
/// be awake. Coroutines `f` spawns land on the same runtime.
pub fn on_one_worker<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    on_thread(move || {
        let rt = green::Runtime::builder()
            .workers(1)
            .build()
            .expect("a one-worker runtime");
        let v = rt.run(f);
        rt.shutdown().unwrap();
        v
    })
}

/// Runs `f` on a plain OS thread and fails the test if it does not finish within
/// [`WATCHDOG`].
pub fn on_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        let _ = tx.send(r);
    });
    match rx.recv_timeout(WATCHDOG) {
        Ok(Ok(v)) => v,
        Ok(Err(p)) => std::panic::resume_unwind(p),
        Err(_) => panic!("watchdog: the test body did not finish within {WATCHDOG:?}; it hangs"),
    }
}

/// Loop sizes: a tenth in debug builds (at least 1), full size in release builds or with
/// `GREENCHAN_STRESS` set.
pub fn scale(n: usize) -> usize {
    if cfg!(debug_assertions) && std::env::var_os("GREENCHAN_STRESS").is_none() {
        (n / 10).max(1)
    } else {
        n
    }
}

/// Waits until `cond` holds, yielding the coroutine (or the thread) between checks. Bounded by
/// [`WATCHDOG`]: panics with `what` rather than spinning forever.
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < WATCHDOG,
            "waited {WATCHDOG:?} for: {what}"
        );
        green::yield_now();
    }
}

/// Yields `n` times: gives other coroutines every chance to run (and to wrongly complete).
pub fn settle(n: usize) {
    for _ in 0..n {
        green::yield_now();
    }
}

/// Counts how many [`Counted`] values were created and dropped.
#[derive(Debug, Default)]
pub struct DropLedger {
    created: AtomicUsize,
    dropped: AtomicUsize,
}

impl DropLedger {
    pub fn new() -> Arc<DropLedger> {
        Arc::new(DropLedger::default())
    }

    /// A new counted value carrying `id`.
    pub fn make(self: &Arc<Self>, id: usize) -> Counted {
        self.created.fetch_add(1, Ordering::SeqCst);
        Counted {
            id,
            ledger: self.clone(),
        }
    }

    pub fn created(&self) -> usize {
        self.created.load(Ordering::SeqCst)
    }

    pub fn dropped(&self) -> usize {
        self.dropped.load(Ordering::SeqCst)
    }

    /// Values alive now (created and not yet dropped).
    pub fn alive(&self) -> usize {
        self.created() - self.dropped()
    }
}

/// A value that records its drop in its ledger; dropping one twice would show as
/// `dropped > created`.
#[derive(Debug)]
pub struct Counted {
    pub id: usize,
    ledger: Arc<DropLedger>,
}

impl Drop for Counted {
    fn drop(&mut self) {
        // No assertion here: a panic inside a channel's own drop path would hide the bug.
        // The tests compare `dropped()` with `created()`.
        self.ledger.dropped.fetch_add(1, Ordering::SeqCst);
    }
}
