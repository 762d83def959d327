//! Go's `context` pattern: a done channel, closed to cancel a whole tree of coroutines, and a
//! deadline that closes it by itself.
//!
//! `cargo run --release --example cancel` (stops by itself)
//!
//! A `Context` carries a `done` receiver. Nobody ever sends on it: it is *closed* when the
//! context is cancelled, and a closed channel is ready for every receiver at once, so one close
//! wakes every coroutine that waits on it, in any `select!`. A child context closes its own
//! done when its parent's closes, when its own cancel is called, or at its deadline: cancelling
//! a node cancels its whole subtree and nothing above it.
//!
//! The program starts a search: three searchers, each with three workers that never finish on
//! their own. One searcher is cancelled by hand; the deadline on the root stops all the rest.

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use greenchan::chan::{self, Receiver, Sender};
use greenchan::{go, select, JoinHandle};

fn main() {
    let report = greenchan::run(|| search(Duration::from_millis(200), true));
    println!("{report}");
}

/// Why a context is done, as Go's `ctx.Err()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CtxError {
    Canceled,
    DeadlineExceeded,
}

/// A node of the cancellation tree.
#[derive(Clone)]
pub struct Context {
    /// Never sent on; closed when the context is done.
    done: Receiver<()>,
    /// Why, set just before `done` closes.
    why: Arc<OnceLock<CtxError>>,
}

/// Cancels its context (and so the subtree under it). Cancelling twice is harmless, and
/// dropping it cancels too: Go's `defer cancel()` is the end of its scope.
pub struct CancelFn(Sender<()>);

impl CancelFn {
    pub fn cancel(&self) {
        self.0.close();
    }
}

impl Context {
    /// A root that is never done, as `context.Background()`.
    pub fn background() -> Context {
        Context {
            done: chan::never(),
            why: Arc::new(OnceLock::new()),
        }
    }

    /// The channel that closes when this context is done: put it in a `select!`.
    pub fn done(&self) -> &Receiver<()> {
        &self.done
    }

    /// `None` while the context is live, else why it ended (`ctx.Err()`).
    pub fn err(&self) -> Option<CtxError> {
        if self.done.is_closed() {
            self.why.get().copied()
        } else {
            None
        }
    }

    /// Why the context is done; call it once `done()` fired.
    fn reason(&self) -> CtxError {
        self.err().unwrap_or(CtxError::Canceled)
    }

    /// A child cancelled by its parent or by the returned [`CancelFn`].
    pub fn with_cancel(&self) -> (Context, CancelFn) {
        self.child(None)
    }

    /// A child that is also done at `deadline` (`context.WithDeadline`).
    pub fn with_deadline(&self, deadline: Instant) -> (Context, CancelFn) {
        self.child(Some(deadline))
    }

    /// A child that is also done after `timeout` (`context.WithTimeout`).
    pub fn with_timeout(&self, timeout: Duration) -> (Context, CancelFn) {
        self.with_deadline(Instant::now() + timeout)
    }

    fn child(&self, deadline: Option<Instant>) -> (Context, CancelFn) {
        let (cancel_tx, cancel_rx) = chan::bounded::<()>(0);
        let (done_tx, done_rx) = chan::bounded::<()>(0);
        let why = Arc::new(OnceLock::new());
        let (parent, reason) = (self.clone(), why.clone());
        let timer = match deadline {
            Some(d) => chan::after(d.saturating_duration_since(Instant::now())),
            None => chan::never(),
        };
        // The propagator: one coroutine per child, parked until one of the three happens.
        go!(move || {
            let why = select! {
                recv(parent.done) -> _ => parent.reason(),
                recv(cancel_rx) -> _ => CtxError::Canceled,
                recv(timer) -> _ => CtxError::DeadlineExceeded,
            };
            let _ = reason.set(why);
            done_tx.close(); // wakes every coroutine waiting on this context, and its children
        });
        (Context { done: done_rx, why }, CancelFn(cancel_tx))
    }
}

/// What the search ended with.
#[derive(Debug, Default)]
pub struct Report {
    /// Workers stopped because their searcher was cancelled by hand.
    pub canceled: usize,
    /// Workers stopped by the root's deadline.
    pub deadline_exceeded: usize,
    /// Steps the workers made in all before they stopped.
    pub steps: u64,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} workers cancelled by hand, {} stopped by the deadline, after {} steps in all",
            self.canceled, self.deadline_exceeded, self.steps
        )
    }
}

/// A worker that would run for ever: it makes a step every millisecond until its context is
/// done, then returns why it stopped and how many steps it made.
fn worker(ctx: Context) -> (CtxError, u64) {
    let tick = chan::tick(Duration::from_millis(1));
    let mut steps = 0;
    loop {
        select! {
            recv(ctx.done()) -> _ => return (ctx.reason(), steps),
            recv(tick) -> _ => steps += 1,
        }
    }
}

/// Three searchers of three workers each under a root with a `deadline`; with `cancel_one`,
/// the first searcher is cancelled by hand as soon as its workers have started.
pub fn search(deadline: Duration, cancel_one: bool) -> Report {
    let (root, _cancel_root) = Context::background().with_timeout(deadline);
    let mut workers: Vec<JoinHandle<(CtxError, u64)>> = Vec::new();
    let mut cancels = Vec::new();
    for _ in 0..3 {
        let (ctx, cancel) = root.with_cancel();
        for _ in 0..3 {
            let ctx = ctx.clone();
            workers.push(go!(move || worker(ctx)));
        }
        cancels.push(cancel);
    }
    if cancel_one {
        cancels[0].cancel(); // the first subtree only
    }
    let mut report = Report::default();
    for w in workers {
        let (why, steps) = w.join().unwrap();
        match why {
            CtxError::Canceled => report.canceled += 1,
            CtxError::DeadlineExceeded => report.deadline_exceeded += 1,
        }
        report.steps += steps;
    }
    report
}
