//! The channel rules of DESIGN §2 (and issue 3's "what must be true"), one test or more each:
//! closing by a sender or by the last sender's drop, draining after close, values returned in
//! errors, every receiver gone, rendezvous, non-blocking and timed operations, iterators,
//! `len`/`capacity`/`same_channel`, `after`/`tick`/`never`, the error types, auto traits, and
//! a panicking coroutine next to a blocked one. Written for greenchan from the rules; the
//! themes follow crossbeam-channel's `array.rs`/`list.rs`/`zero.rs` tests (smoke, close wakes
//! senders and receivers, send after disconnect, timeouts, iterators).

mod common;

use std::cell::Cell;
use std::error::Error;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use channels::{
    after, bounded, never, select, tick, unbounded, Receiver, RecvError, RecvTimeoutError,
    SendError, SendTimeoutError, Sender, TryRecvError, TrySendError,
};
use common::{in_coroutine, on_thread, settle, wait_until};

/// Every flavour: rendezvous, small and larger buffers, unbounded.
const CAPS: [Option<usize>; 4] = [Some(0), Some(1), Some(5), None];

fn chan<T>(cap: Option<usize>) -> (Sender<T>, Receiver<T>) {
    match cap {
        Some(c) => bounded(c),
        None => unbounded(),
    }
}

#[derive(Clone, Copy, Debug)]
enum Ctx {
    Coroutine,
    Thread,
}

const CTXS: [Ctx; 2] = [Ctx::Coroutine, Ctx::Thread];

/// Runs `f` as a coroutine or on an OS thread, under the watchdog.
fn run_in<T: Send + 'static>(ctx: Ctx, f: impl FnOnce() -> T + Send + 'static) -> T {
    match ctx {
        Ctx::Coroutine => in_coroutine(f),
        Ctx::Thread => on_thread(f),
    }
}

/// Starts `f` as a coroutine or on an OS thread; the result comes back on a channel.
fn start<T: Send + 'static>(ctx: Ctx, f: impl FnOnce() -> T + Send + 'static) -> Receiver<T> {
    let (tx, rx) = bounded(1);
    let body = move || {
        let _ = tx.send(f());
    };
    match ctx {
        Ctx::Coroutine => drop(green::spawn(body)),
        Ctx::Thread => drop(std::thread::spawn(body)),
    }
    rx
}

#[test]
fn smoke_every_flavour() {
    for cap in CAPS {
        in_coroutine(move || {
            let (tx, rx) = chan::<i32>(cap);
            if cap == Some(0) {
                let h = green::spawn(move || tx.send(7));
                assert_eq!(rx.recv(), Ok(7));
                assert_eq!(h.join().unwrap(), Ok(()));
                assert_eq!(rx.try_recv(), Err(TryRecvError::Closed), "the sender left");
            } else {
                tx.send(7).unwrap();
                assert_eq!(rx.try_recv(), Ok(7));
                tx.try_send(8).unwrap();
                assert_eq!(rx.recv(), Ok(8));
                assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
            }
        });
    }
}

#[test]
fn close_by_a_sender_drains_then_errs() {
    for cap in [Some(4), None] {
        in_coroutine(move || {
            let (tx, rx) = chan(cap);
            tx.send(1).unwrap();
            tx.send(2).unwrap();
            assert!(!tx.is_closed() && !rx.is_closed());
            assert!(tx.close(), "the first close closes");
            assert!(!tx.close(), "a second close reports it was already closed");
            assert!(tx.is_closed() && rx.is_closed());
            assert_eq!(rx.len(), 2, "closing drops nothing");
            assert_eq!(rx.recv(), Ok(1));
            assert_eq!(rx.try_recv(), Ok(2));
            assert_eq!(rx.recv(), Err(RecvError));
            assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
            let start = Instant::now();
            assert_eq!(
                rx.recv_timeout(Duration::from_secs(100)),
                Err(RecvTimeoutError::Closed),
                "closed, not timed out"
            );
            assert!(
                start.elapsed() < Duration::from_secs(50),
                "returned without waiting"
            );
        });
    }
}

#[test]
fn any_sender_clone_may_close() {
    in_coroutine(|| {
        let (tx, rx) = bounded::<i32>(3);
        let others: Vec<_> = (0..3).map(|_| tx.clone()).collect();
        others[0].send(10).unwrap();
        others[1].close();
        for (i, s) in others.iter().enumerate() {
            assert!(s.is_closed());
            assert_eq!(s.send(i as i32), Err(SendError(i as i32)));
        }
        assert_eq!(tx.try_send(5), Err(TrySendError::Closed(5)));
        assert!(!tx.close());
        assert_eq!(rx.iter().collect::<Vec<_>>(), [10]);
    });
}

#[test]
fn last_sender_drop_closes() {
    for cap in CAPS {
        in_coroutine(move || {
            let (tx, rx) = chan::<&str>(cap);
            let tx2 = tx.clone();
            drop(tx);
            assert!(!rx.is_closed(), "one sender is left");
            assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
            if cap != Some(0) {
                tx2.send("b").unwrap();
            }
            drop(tx2);
            assert!(rx.is_closed());
            let expect: &[&str] = if cap == Some(0) { &[] } else { &["b"] };
            assert_eq!(rx.iter().collect::<Vec<_>>(), expect);
            assert_eq!(rx.recv(), Err(RecvError));
        });
    }
}

#[test]
fn close_wakes_every_blocked_receiver() {
    for ctx in CTXS {
        for cap in CAPS {
            in_coroutine(move || {
                let (tx, rx) = chan::<i32>(cap);
                let waiters: Vec<_> = (0..4)
                    .map(|_| {
                        let rx = rx.clone();
                        start(ctx, move || rx.recv())
                    })
                    .collect();
                settle(20);
                assert!(tx.close());
                for w in waiters {
                    assert_eq!(w.recv().unwrap(), Err(RecvError), "{ctx:?} {cap:?}");
                }
            });
        }
    }
}

#[test]
fn last_sender_drop_wakes_a_blocked_receiver() {
    for ctx in CTXS {
        in_coroutine(move || {
            let (tx, rx) = bounded::<i32>(0);
            let w = start(ctx, move || rx.recv());
            settle(20);
            drop(tx);
            assert_eq!(w.recv().unwrap(), Err(RecvError));
        });
    }
}

#[test]
fn close_wakes_a_blocked_sender_with_its_value() {
    for ctx in CTXS {
        for cap in [0, 1, 3] {
            in_coroutine(move || {
                let (tx, rx) = bounded::<String>(cap);
                for i in 0..cap {
                    tx.send(format!("buffered {i}")).unwrap();
                }
                let t = tx.clone();
                let w = start(ctx, move || t.send("blocked".to_string()));
                settle(20);
                assert!(tx.close());
                assert_eq!(w.recv().unwrap(), Err(SendError("blocked".to_string())));
                // What was buffered before the close still comes out, then the close.
                let rest: Vec<String> = rx.iter().collect();
                assert_eq!(
                    rest,
                    (0..cap)
                        .map(|i| format!("buffered {i}"))
                        .collect::<Vec<_>>()
                );
            });
        }
    }
}

#[test]
fn every_receiver_gone_fails_sends() {
    for cap in CAPS {
        in_coroutine(move || {
            let (tx, rx) = chan::<i32>(cap);
            let rx2 = rx.clone();
            drop(rx);
            if cap != Some(0) {
                assert_eq!(tx.send(1), Ok(()), "one receiver is left");
            }
            drop(rx2);
            assert_eq!(tx.send(5), Err(SendError(5)));
            assert_eq!(tx.try_send(6), Err(TrySendError::Closed(6)));
            match tx.send_timeout(7, Duration::from_secs(100)) {
                Err(SendTimeoutError::Closed(7)) => {}
                other => panic!("{other:?}"),
            }
        });
    }
}

#[test]
fn last_receiver_drop_wakes_a_blocked_sender() {
    for ctx in CTXS {
        for cap in [0, 2] {
            in_coroutine(move || {
                let (tx, rx) = bounded::<u32>(cap);
                for i in 0..cap as u32 {
                    tx.send(i).unwrap();
                }
                let w = start(ctx, move || tx.send(99));
                settle(20);
                drop(rx);
                assert_eq!(w.recv().unwrap(), Err(SendError(99)), "{ctx:?} cap {cap}");
            });
        }
    }
}

/// The value in the error is the very value passed in (same heap allocation), for every
/// sending operation.
#[test]
fn send_after_close_returns_the_same_value() {
    in_coroutine(|| {
        for cap in CAPS {
            let (tx, rx) = chan::<Box<u64>>(cap);
            tx.close();
            let b = Box::new(1);
            let p: *const u64 = &*b;
            let back = tx.send(b).unwrap_err().into_inner();
            assert!(std::ptr::eq(&*back, p), "send returned another value");
            let back = match tx.try_send(back) {
                Err(TrySendError::Closed(v)) => v,
                other => panic!("{other:?}"),
            };
            assert!(std::ptr::eq(&*back, p));
            let back = match tx.send_timeout(back, Duration::from_secs(1)) {
                Err(SendTimeoutError::Closed(v)) => v,
                other => panic!("{other:?}"),
            };
            assert!(std::ptr::eq(&*back, p));
            let back = select! { send(tx, back) -> r => r.unwrap_err().0 };
            assert!(
                std::ptr::eq(&*back, p),
                "select send returned another value"
            );
            assert_eq!(*back, 1);
            assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
        }
    });
}

#[test]
fn rendezvous_send_completes_only_when_taken() {
    for ctx in CTXS {
        in_coroutine(move || {
            let (tx, rx) = bounded(0);
            let sent = Arc::new(AtomicBool::new(false));
            let s = sent.clone();
            let done = start(ctx, move || {
                tx.send(7).unwrap();
                s.store(true, Ordering::SeqCst);
            });
            // Give the sender every chance to (wrongly) complete without a receiver.
            settle(100);
            assert!(
                !sent.load(Ordering::SeqCst),
                "{ctx:?}: a rendezvous send completed alone"
            );
            assert!(
                rx.is_empty() && rx.is_full(),
                "a rendezvous channel buffers nothing"
            );
            assert_eq!(rx.len(), 0);
            assert_eq!(rx.recv(), Ok(7));
            done.recv().unwrap();
            assert!(sent.load(Ordering::SeqCst));
        });
    }
}

#[test]
fn rendezvous_try_operations_need_a_waiting_partner() {
    in_coroutine(|| {
        let (tx, rx) = bounded::<i32>(0);
        assert_eq!(
            tx.try_send(1),
            Err(TrySendError::Full(1)),
            "nobody receives"
        );
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty), "nobody sends");
        let r = rx.clone();
        let h = green::spawn(move || r.recv());
        wait_until("try_send to a parked receiver", || tx.try_send(2).is_ok());
        assert_eq!(h.join().unwrap(), Ok(2));
        let t = tx.clone();
        let h = green::spawn(move || t.send(3));
        let mut got = Err(TryRecvError::Empty);
        wait_until("try_recv from a parked sender", || {
            got = rx.try_recv();
            got.is_ok()
        });
        assert_eq!(got, Ok(3));
        assert_eq!(h.join().unwrap(), Ok(()));
    });
}

#[test]
fn try_operations_never_block() {
    for ctx in CTXS {
        run_in(ctx, || {
            let (tx, rx) = bounded(1);
            assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
            assert!(tx.try_send(1).is_ok());
            assert_eq!(tx.try_send(2), Err(TrySendError::Full(2)));
            assert_eq!(rx.try_recv(), Ok(1));
            assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
            let (utx, urx) = unbounded();
            for i in 0..1000 {
                assert!(utx.try_send(i).is_ok(), "unbounded is never full");
            }
            assert!(!utx.is_full());
            assert_eq!(urx.try_iter().count(), 1000);
            // Zero timeouts are non-blocking too, and report Timeout, not Empty/Full.
            assert_eq!(
                rx.recv_timeout(Duration::ZERO),
                Err(RecvTimeoutError::Timeout)
            );
            tx.send(3).unwrap();
            match tx.send_timeout(4, Duration::ZERO) {
                Err(SendTimeoutError::Timeout(4)) => {}
                other => panic!("{other:?}"),
            }
            assert_eq!(rx.recv_timeout(Duration::ZERO), Ok(3));
        });
    }
}

#[test]
fn timeouts_wake_on_time() {
    for ctx in CTXS {
        for cap in [0, 1] {
            run_in(ctx, move || {
                let d = Duration::from_millis(20);
                let (tx, rx) = bounded::<u8>(cap);
                if cap == 1 {
                    tx.send(0).unwrap(); // full
                }
                let start = Instant::now();
                match tx.send_timeout(9, d) {
                    Err(SendTimeoutError::Timeout(9)) => {}
                    other => panic!("{other:?}"),
                }
                assert!(start.elapsed() >= d, "send_timeout returned early");
                if cap == 1 {
                    assert_eq!(rx.recv(), Ok(0));
                }
                let start = Instant::now();
                assert_eq!(rx.recv_timeout(d), Err(RecvTimeoutError::Timeout));
                assert!(start.elapsed() >= d, "recv_timeout returned early");
                // The timed-out operations left nothing behind: no value, no waiter that
                // could later swallow one.
                assert!(rx.is_empty());
                assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
                if cap == 0 {
                    assert_eq!(tx.try_send(1), Err(TrySendError::Full(1)));
                }
            });
        }
    }
}

#[test]
fn timed_operations_complete_when_a_partner_arrives() {
    for ctx in CTXS {
        in_coroutine(move || {
            let (tx, rx) = bounded::<i32>(0);
            let r = rx.clone();
            let got = start(ctx, move || r.recv_timeout(Duration::from_secs(60)));
            green::sleep(Duration::from_millis(5));
            tx.send(1).unwrap();
            assert_eq!(got.recv().unwrap(), Ok(1));

            let t = tx.clone();
            let sent = start(ctx, move || t.send_timeout(2, Duration::from_secs(60)));
            green::sleep(Duration::from_millis(5));
            assert_eq!(rx.recv(), Ok(2));
            assert!(sent.recv().unwrap().is_ok());

            // A timeout too large for `Instant` means "no deadline", not a panic.
            let r = rx.clone();
            let got = start(ctx, move || r.recv_timeout(Duration::MAX));
            settle(10);
            tx.send(3).unwrap();
            assert_eq!(got.recv().unwrap(), Ok(3));
            let t = tx.clone();
            let sent = start(ctx, move || t.send_timeout(4, Duration::MAX));
            assert_eq!(rx.recv(), Ok(4));
            assert!(sent.recv().unwrap().is_ok());
        });
    }
}

#[test]
fn iter_ends_at_close() {
    for cap in CAPS {
        in_coroutine(move || {
            let (tx, rx) = chan(cap);
            let h = green::spawn(move || {
                for i in 0..100 {
                    tx.send(i).unwrap();
                }
            });
            let got: Vec<i32> = (&rx).into_iter().collect();
            assert_eq!(got, (0..100).collect::<Vec<_>>());
            h.join().unwrap();
            assert_eq!(rx.iter().next(), None, "still ended");
        });
    }
    in_coroutine(|| {
        let (tx, rx) = unbounded();
        tx.send(1).unwrap();
        tx.send(2).unwrap();
        assert_eq!(
            rx.try_iter().collect::<Vec<_>>(),
            [1, 2],
            "try_iter stops when empty"
        );
        assert_eq!(rx.try_iter().next(), None, "and does not block");
        tx.send(3).unwrap();
        tx.close();
        assert_eq!(
            rx.into_iter().collect::<Vec<_>>(),
            [3],
            "the owning iterator drains"
        );
    });
}

#[test]
fn len_capacity_and_identity() {
    let (tx, rx) = bounded::<u8>(3);
    assert_eq!((tx.capacity(), rx.capacity()), (Some(3), Some(3)));
    assert!(tx.is_empty() && rx.is_empty() && !rx.is_full());
    tx.send(1).unwrap();
    assert_eq!((tx.len(), rx.len()), (1, 1));
    assert!(!rx.is_empty() && !rx.is_full());
    tx.send(2).unwrap();
    tx.send(3).unwrap();
    assert!(tx.is_full() && rx.is_full());
    assert_eq!(bounded::<u8>(0).0.capacity(), Some(0));
    let (utx, urx) = unbounded::<u8>();
    assert_eq!((utx.capacity(), urx.capacity()), (None, None));
    assert!(tx.same_channel(&tx.clone()));
    assert!(rx.same_channel(&rx.clone()));
    assert!(!tx.same_channel(&utx));
    assert!(!rx.same_channel(&urx));
}

#[test]
fn never_is_never_ready() {
    for ctx in CTXS {
        run_in(ctx, || {
            let rx = never::<i32>();
            assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
            let start = Instant::now();
            let d = Duration::from_millis(10);
            assert_eq!(rx.recv_timeout(d), Err(RecvTimeoutError::Timeout));
            assert!(start.elapsed() >= d);
            assert!(!rx.is_closed());
            assert!(rx.is_empty());
            assert_eq!(rx.try_iter().count(), 0);
            let r2 = rx.clone();
            assert_eq!(
                r2.recv_timeout(Duration::ZERO),
                Err(RecvTimeoutError::Timeout)
            );
        });
    }
}

#[test]
fn after_delivers_once_after_the_delay() {
    for ctx in CTXS {
        run_in(ctx, || {
            let d = Duration::from_millis(15);
            let start = Instant::now();
            let rx = after(d);
            let at = rx.recv().unwrap();
            assert!(at >= start + d, "fired early");
            assert!(Instant::now() >= at);
            assert_eq!(rx.try_recv().ok(), None, "one instant only");
            // In a select, it is the usual way to bound a wait.
            let (_tx, nothing) = bounded::<i32>(0);
            let start = Instant::now();
            let timer = after(d);
            let r = select! {
                recv(nothing) -> _ => "value",
                recv(timer) -> t => { assert!(t.unwrap() >= start + d); "after" }
            };
            assert_eq!(r, "after");
            // An after(0) is ready at once (eventually).
            assert!(after(Duration::ZERO).recv().is_ok());
        });
    }
}

#[test]
fn tick_delivers_periodically() {
    for ctx in CTXS {
        run_in(ctx, || {
            let d = Duration::from_millis(3);
            let start = Instant::now();
            let ticks = tick(d);
            let mut last = start;
            for n in 1..=5u32 {
                let t = ticks.recv().unwrap();
                assert!(t > last, "ticks are increasing");
                assert!(t >= start + d, "first tick after one period");
                // n ticks received means n periods have passed (missed ticks are dropped,
                // never delivered early).
                assert!(Instant::now() >= start + d * n);
                last = t;
            }
        });
    }
}

#[derive(PartialEq)]
struct NoDebug(u8);

#[test]
fn error_types() {
    fn is_error<E: Error + Send + Sync + 'static>(_: &E) {}
    let (tx, rx) = bounded::<i32>(0);
    let full = tx.try_send(1).unwrap_err();
    assert!(full.is_full() && !full.is_closed());
    assert_eq!(full.into_inner(), 1);
    let empty = rx.try_recv().unwrap_err();
    assert!(empty.is_empty() && !empty.is_closed());
    let timeout = rx.recv_timeout(Duration::ZERO).unwrap_err();
    assert!(timeout.is_timeout() && !timeout.is_closed());
    let stimeout = tx.send_timeout(2, Duration::ZERO).unwrap_err();
    assert!(stimeout.is_timeout() && !stimeout.is_closed());
    assert_eq!(stimeout.into_inner(), 2);
    tx.close();
    let errs: Vec<Box<dyn Error>> = vec![
        Box::new(tx.send(3).unwrap_err()),
        Box::new(tx.try_send(4).unwrap_err()),
        Box::new(tx.send_timeout(5, Duration::ZERO).unwrap_err()),
        Box::new(rx.recv().unwrap_err()),
        Box::new(rx.try_recv().unwrap_err()),
        Box::new(rx.recv_timeout(Duration::ZERO).unwrap_err()),
        Box::new(full),
        Box::new(empty),
        Box::new(timeout),
    ];
    for e in &errs {
        assert!(!e.to_string().is_empty(), "every error has a message");
    }
    let closed = tx.try_send(6).unwrap_err();
    assert!(closed.is_closed() && !closed.is_full());
    is_error(&closed);
    assert!(tx.send_timeout(7, Duration::ZERO).unwrap_err().is_closed());
    assert!(rx.try_recv().unwrap_err().is_closed());
    assert!(rx.recv_timeout(Duration::ZERO).unwrap_err().is_closed());
    // Conversions, as crossbeam-channel.
    assert_eq!(TrySendError::from(SendError(8)), TrySendError::Closed(8));
    assert!(matches!(
        SendTimeoutError::from(SendError(9)),
        SendTimeoutError::Closed(9)
    ));
    assert_eq!(TryRecvError::from(RecvError), TryRecvError::Closed);
    assert_eq!(RecvTimeoutError::from(RecvError), RecvTimeoutError::Closed);
    // `?` into a boxed error.
    fn uses_question_mark(tx: &Sender<i32>, rx: &Receiver<i32>) -> Result<i32, Box<dyn Error>> {
        tx.send(1)?;
        Ok(rx.recv()?)
    }
    let (t, r) = unbounded();
    assert_eq!(uses_question_mark(&t, &r).unwrap(), 1);
    t.close();
    assert!(uses_question_mark(&t, &r).is_err());
    // The errors are Debug even when the value is not, so `unwrap` works on any channel.
    let (t, r) = bounded::<NoDebug>(1);
    t.send(NoDebug(1)).unwrap();
    assert!(!format!("{:?}", t.try_send(NoDebug(2)).unwrap_err()).is_empty());
    assert!(r.recv().unwrap() == NoDebug(1));
}

#[test]
fn handles_are_clone_send_sync() {
    fn check<T: Clone + Send + Sync + 'static>() {}
    // `Cell` is Send but not Sync: the handles still are both, as DESIGN §2 asks.
    check::<Sender<Cell<i32>>>();
    check::<Receiver<Cell<i32>>>();
    check::<Sender<Box<dyn std::any::Any + Send>>>();
    // And they work from several threads at once through shared references.
    let (tx, rx) = unbounded::<Cell<i32>>();
    std::thread::scope(|s| {
        for i in 0..4 {
            let tx = &tx;
            s.spawn(move || tx.send(Cell::new(i)).unwrap());
        }
    });
    let mut got: Vec<i32> = rx.try_iter().map(Cell::into_inner).collect();
    got.sort();
    assert_eq!(got, [0, 1, 2, 3]);
}

#[test]
fn a_panicking_coroutine_disturbs_no_channel() {
    in_coroutine(|| {
        let (tx, rx) = bounded::<u32>(0);
        let r = rx.clone();
        let waiter = green::spawn(move || r.recv());
        settle(10);
        // The panicker holds a sender of the same channel: its unwinding drops it, which must
        // neither close the channel (another sender is left) nor wake the waiter.
        let t = tx.clone();
        let bad = green::spawn(move || -> u32 {
            let _held = t;
            panic!("unrelated failure")
        });
        let err = bad.join().unwrap_err();
        assert_eq!(err.downcast_ref::<&str>(), Some(&"unrelated failure"));
        assert!(!tx.is_closed());
        assert!(!waiter.is_finished());
        tx.send(11).unwrap();
        assert_eq!(waiter.join().unwrap(), Ok(11));
        // The channel keeps working afterwards, from anyone.
        let h = green::spawn(move || rx.iter().sum::<u32>());
        for i in 0..10 {
            tx.send(i).unwrap();
        }
        drop(tx);
        assert_eq!(h.join().unwrap(), 45);
    });
}

#[test]
fn a_panic_dropping_the_last_sender_closes_the_channel() {
    in_coroutine(|| {
        let (tx, rx) = bounded::<u32>(1);
        let waiter = green::spawn(move || rx.recv());
        let bad = green::spawn(move || {
            tx.send(1).unwrap();
            let _last = tx;
            panic!("sender failed")
        });
        assert!(bad.join().is_err());
        // The value sent before the panic arrives; a waiter for a second one would be told
        // that the channel closed rather than hang.
        assert_eq!(waiter.join().unwrap(), Ok(1));
    });
}

#[test]
fn a_panic_in_a_select_arm_leaves_the_channels_working() {
    in_coroutine(|| {
        let (tx, rx) = bounded::<i32>(1);
        tx.send(1).unwrap();
        let (t, r) = (tx.clone(), rx.clone());
        let bad = green::spawn(move || {
            select! {
                recv(r) -> v => panic!("arm body panicked with {v:?}"),
                send(t, 2) -> _ => unreachable!("the buffer is full"),
            }
        });
        assert!(bad.join().is_err());
        assert!(
            rx.is_empty(),
            "the arm's receive took effect before the panic"
        );
        tx.send(3).unwrap();
        assert_eq!(rx.recv(), Ok(3));
    });
}
