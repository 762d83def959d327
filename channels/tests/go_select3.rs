//! Port of Go's `test/chan/select3.go` (golang/go): which channel operations and selects
//! block, which never do, and which fail ("panic" in Go).
//!
//! Go's `testBlock(always, f)` runs `f` and checks it is still blocked after 0.1 s; here a
//! probe runs `f` (in a coroutine, or on a plain thread) and checks it has not finished after a
//! short wait, which a correct channel never fails, however loaded the machine. Where Go stops
//! there, this port then makes the operation possible (sends, receives, closes) and checks the
//! probe finishes: a blocked operation must also wake up. `testBlock(never, f)` waits for `f`
//! with a generous bound. Go's panics on a closed channel are errors carrying the value here.
//! Go's nil channel is `never()`; there is no nil *sender* in this API, so the nil-send cases
//! are covered by their receive counterparts only.

mod common;

use std::time::Duration;

use channels::{
    bounded, never, select, unbounded, Receiver, RecvError, RecvTimeoutError, SendError,
    TryRecvError,
};
use common::{in_coroutine, WATCHDOG};

/// How long a probe must stay blocked to count as blocked.
const BLOCKED_FOR: Duration = Duration::from_millis(50);

#[derive(Clone, Copy, Debug)]
enum Ctx {
    Coroutine,
    Thread,
}

/// Runs a function elsewhere and observes whether it has finished.
struct Probe {
    done: Receiver<()>,
}

impl Probe {
    fn start(ctx: Ctx, f: impl FnOnce() + Send + 'static) -> Probe {
        let (tx, done) = bounded(1);
        let body = move || {
            f();
            tx.send(()).unwrap();
        };
        match ctx {
            Ctx::Coroutine => drop(green::spawn(body)),
            Ctx::Thread => drop(std::thread::spawn(body)),
        }
        Probe { done }
    }

    /// The function is still running (blocked) after [`BLOCKED_FOR`].
    fn assert_blocked(&self, what: &str) {
        match self.done.recv_timeout(BLOCKED_FOR) {
            Err(RecvTimeoutError::Timeout) => {}
            Ok(()) => panic!("{what}: did not block"),
            Err(RecvTimeoutError::Closed) => panic!("{what}: panicked"),
        }
    }

    /// The function finishes (within the watchdog bound).
    fn assert_finishes(&self, what: &str) {
        match self.done.recv_timeout(WATCHDOG / 2) {
            Ok(()) => {}
            Err(RecvTimeoutError::Timeout) => panic!("{what}: blocked"),
            Err(RecvTimeoutError::Closed) => panic!("{what}: panicked"),
        }
    }
}

fn always_blocks(ctx: Ctx, what: &str, f: impl FnOnce() + Send + 'static) {
    Probe::start(ctx, f).assert_blocked(what);
}

fn never_blocks(ctx: Ctx, what: &str, f: impl FnOnce() + Send + 'static) {
    Probe::start(ctx, f).assert_finishes(what);
}

fn closed_channel() -> (channels::Sender<i32>, Receiver<i32>) {
    let (tx, rx) = bounded(0);
    assert!(tx.close());
    (tx, rx)
}

fn select3(ctx: Ctx) {
    // Receiving from a nil channel blocks, forever: nothing can wake it.
    always_blocks(ctx, "recv on never()", || {
        let _ = never::<i32>().recv();
    });

    // An operation on a nil channel inside a select is never selected.
    let nilch = never::<i32>();
    let r = select! { recv(nilch) -> _ => "nil arm", default => "default" };
    assert_eq!(r, "default");

    // Sending to a buffered channel with free space never blocks.
    never_blocks(ctx, "send with room", || {
        let (tx, _rx) = bounded(1);
        tx.send(7).unwrap();
    });

    // Receiving from a closed channel never blocks, and always reports the close.
    never_blocks(ctx, "recv from closed", || {
        let (_tx, closed) = closed_channel();
        for _ in 0..10 {
            assert_eq!(closed.recv(), Err(RecvError));
            assert_eq!(closed.try_recv(), Err(TryRecvError::Closed));
        }
    });

    // Sending to a closed channel fails (Go panics), handing the value back.
    let (tx, _rx) = closed_channel();
    assert_eq!(tx.send(7), Err(SendError(7)));

    // Receiving from a non-ready channel blocks, until a value arrives.
    let (tx, rx) = bounded::<i32>(0);
    let p = Probe::start(ctx, move || assert_eq!(rx.recv(), Ok(1)));
    p.assert_blocked("recv from an empty channel");
    tx.send(1).unwrap();
    p.assert_finishes("recv after a send");

    // ... or until the channel closes.
    let (tx, rx) = bounded::<i32>(3);
    let p = Probe::start(ctx, move || assert_eq!(rx.recv(), Err(RecvError)));
    p.assert_blocked("recv from an empty buffered channel");
    drop(tx);
    p.assert_finishes("recv after the last sender left");

    // Empty selects always block.
    always_blocks(ctx, "empty select", || select! {});

    // Selects with only nil channels always block.
    always_blocks(ctx, "select on never()", || {
        let nilch = never::<i32>();
        select! { recv(nilch) -> _ => unreachable!("never() is never ready") }
    });
    always_blocks(ctx, "select on two never()", || {
        let (a, b) = (never::<i32>(), never::<String>());
        select! {
            recv(a) -> _ => unreachable!("never() is never ready"),
            recv(b) -> _ => unreachable!("never() is never ready"),
        }
    });

    // Selects with non-ready non-nil channels block, until one becomes ready.
    let (tx, rx) = bounded::<i32>(0);
    let p = Probe::start(ctx, move || {
        let nilch = never::<i32>();
        select! {
            recv(rx) -> v => assert_eq!(v, Ok(5)),
            recv(nilch) -> _ => unreachable!("never() is never ready"),
        }
    });
    p.assert_blocked("select on an empty channel");
    tx.send(5).unwrap();
    p.assert_finishes("select after a send");

    // Selects with default cases don't block.
    never_blocks(
        ctx,
        "select with only default",
        || select! { default => () },
    );
    never_blocks(ctx, "select on never() with default", || {
        let nilch = never::<i32>();
        select! { recv(nilch) -> _ => unreachable!("never() is never ready"), default => () }
    });

    // Selects with ready channels don't block, and pick the ready arm over default.
    never_blocks(ctx, "select send with room", || {
        let (tx, rx) = bounded(1);
        select! { send(tx, 7) -> r => r.unwrap(), default => unreachable!("room") }
        assert_eq!(rx.try_recv(), Ok(7));
    });
    never_blocks(ctx, "select recv with a value", || {
        let (tx, rx) = bounded(1);
        tx.send(7).unwrap();
        select! { recv(rx) -> v => assert_eq!(v, Ok(7)), default => unreachable!("ready") }
    });

    // Selects with closed channels behave like the ordinary operations.
    never_blocks(ctx, "select recv on closed", || {
        let (_tx, closed) = closed_channel();
        select! { recv(closed) -> v => assert_eq!(v, Err(RecvError)) }
    });
    never_blocks(ctx, "select send on closed", || {
        let (tx, _rx) = closed_channel();
        select! { send(tx, 7) -> r => assert_eq!(r, Err(SendError(7))) }
    });
    never_blocks(ctx, "select send on closed unbounded", || {
        let (tx, rx) = unbounded::<i32>();
        drop(rx); // no receiver left: sends fail
        select! { send(tx, 8) -> r => assert_eq!(r.unwrap_err().into_inner(), 8) }
    });

    // A select must not get confused if it sees itself: send and receive on one rendezvous
    // channel cannot pair with each other, so it blocks, until someone else takes part.
    let (tx, rx) = bounded::<i32>(0);
    let (t, r) = (tx.clone(), rx.clone());
    let p = Probe::start(ctx, move || {
        select! {
            send(t, 1) -> res => res.unwrap(),
            recv(r) -> v => assert_eq!(v, Ok(2)),
        }
    });
    p.assert_blocked("self-select");
    // Either arm may pair with us now; both outcomes are checked above or here.
    select! {
        recv(rx) -> v => assert_eq!(v, Ok(1)),
        send(tx, 2) -> res => res.unwrap(),
    }
    p.assert_finishes("self-select after a partner arrived");
}

#[test]
fn select3_probes_in_coroutines() {
    in_coroutine(|| select3(Ctx::Coroutine));
}

#[test]
fn select3_probes_on_threads() {
    in_coroutine(|| select3(Ctx::Thread));
}

#[test]
fn select3_main_on_a_thread_probes_in_coroutines() {
    common::on_thread(|| select3(Ctx::Coroutine));
}
