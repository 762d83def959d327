//! The channel rules of DESIGN §2, one test each: closing, draining, values returned in errors,
//! rendezvous, non-blocking and timed operations, iterators, and thread/coroutine mixing.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use channels::{
    bounded, never, unbounded, RecvError, RecvTimeoutError, SendError, SendTimeoutError,
    TryRecvError, TrySendError,
};
use common::{in_coroutine, on_thread};

#[test]
fn close_by_a_sender_drains_then_errs() {
    in_coroutine(|| {
        let (tx, rx) = bounded(4);
        tx.send(1).unwrap();
        tx.send(2).unwrap();
        assert!(tx.close());
        assert!(!tx.close(), "second close reports it was already closed");
        assert!(tx.is_closed() && rx.is_closed());
        assert_eq!(rx.recv(), Ok(1));
        assert_eq!(rx.try_recv(), Ok(2));
        assert_eq!(rx.recv(), Err(RecvError));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    });
}

#[test]
fn last_sender_drop_closes() {
    in_coroutine(|| {
        let (tx, rx) = unbounded();
        let tx2 = tx.clone();
        tx.send("a").unwrap();
        drop(tx);
        assert!(!rx.is_closed(), "one sender is left");
        tx2.send("b").unwrap();
        drop(tx2);
        assert!(rx.is_closed());
        assert_eq!(rx.iter().collect::<Vec<_>>(), vec!["a", "b"]);
    });
}

#[test]
fn send_after_close_returns_the_value() {
    in_coroutine(|| {
        let (tx, rx) = bounded::<String>(1);
        rx.close();
        let e = tx.send("kept".to_string()).unwrap_err();
        assert_eq!(e, SendError("kept".to_string()));
        assert_eq!(e.into_inner(), "kept");
        match tx.try_send("again".into()) {
            Err(TrySendError::Closed(v)) => assert_eq!(v, "again"),
            other => panic!("{other:?}"),
        }
        match tx.send_timeout("t".into(), Duration::from_secs(1)) {
            Err(SendTimeoutError::Closed(v)) => assert_eq!(v, "t"),
            other => panic!("{other:?}"),
        }
    });
}

#[test]
fn all_receivers_gone_fails_sends() {
    in_coroutine(|| {
        let (tx, rx) = bounded(10);
        drop(rx);
        assert_eq!(tx.send(5), Err(SendError(5)));
    });
}

#[test]
fn rendezvous_send_completes_only_when_taken() {
    in_coroutine(|| {
        let (tx, rx) = bounded(0);
        let sent = Arc::new(AtomicBool::new(false));
        let s = sent.clone();
        let h = green::spawn(move || {
            tx.send(7).unwrap();
            s.store(true, Ordering::SeqCst);
        });
        // Give the sender every chance to (wrongly) complete without a receiver.
        for _ in 0..100 {
            green::yield_now();
        }
        assert!(
            !sent.load(Ordering::SeqCst),
            "rendezvous send completed alone"
        );
        assert!(
            rx.is_empty() && rx.is_full(),
            "a rendezvous channel buffers nothing"
        );
        assert_eq!(rx.recv(), Ok(7));
        h.join().unwrap();
        assert!(sent.load(Ordering::SeqCst));
    });
}

#[test]
fn try_operations_never_block() {
    in_coroutine(|| {
        let (tx, rx) = bounded(1);
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        assert!(tx.try_send(1).is_ok());
        assert!(matches!(tx.try_send(2), Err(TrySendError::Full(2))));
        let (tx0, rx0) = bounded::<i32>(0);
        assert!(matches!(tx0.try_send(3), Err(TrySendError::Full(3))));
        assert_eq!(rx0.try_recv(), Err(TryRecvError::Empty));
        assert_eq!(rx.try_recv(), Ok(1));
    });
}

#[test]
fn timeouts_wake_on_time() {
    for run in [in_coroutine::<()> as fn(_) -> _, on_thread::<()>] {
        run(Box::new(|| {
            let (tx, rx) = bounded::<u8>(0);
            let start = Instant::now();
            assert_eq!(
                rx.recv_timeout(Duration::from_millis(20)),
                Err(RecvTimeoutError::Timeout)
            );
            assert!(start.elapsed() >= Duration::from_millis(20));
            let start = Instant::now();
            match tx.send_timeout(9, Duration::from_millis(20)) {
                Err(SendTimeoutError::Timeout(9)) => {}
                other => panic!("{other:?}"),
            }
            assert!(start.elapsed() >= Duration::from_millis(20));
            // The timed-out operations left nothing behind.
            assert!(rx.is_empty());
        }) as Box<dyn FnOnce() + Send>);
    }
}

#[test]
fn iter_ends_at_close() {
    in_coroutine(|| {
        let (tx, rx) = bounded(2);
        let h = green::spawn(move || {
            for i in 0..100 {
                tx.send(i).unwrap();
            }
        });
        let got: Vec<i32> = (&rx).into_iter().collect();
        assert_eq!(got, (0..100).collect::<Vec<_>>());
        h.join().unwrap();
        let (tx, rx) = unbounded();
        tx.send(1).unwrap();
        tx.send(2).unwrap();
        assert_eq!(rx.try_iter().count(), 2);
        drop(tx);
        assert_eq!(rx.into_iter().count(), 0);
    });
}

#[test]
fn len_capacity_and_identity() {
    let (tx, rx) = bounded::<u8>(3);
    assert_eq!(tx.capacity(), Some(3));
    tx.send(1).unwrap();
    assert_eq!((tx.len(), rx.len()), (1, 1));
    assert!(!rx.is_empty() && !rx.is_full());
    let (utx, urx) = unbounded::<u8>();
    assert_eq!((utx.capacity(), urx.capacity()), (None, None));
    assert!(tx.same_channel(&tx.clone()));
    assert!(rx.same_channel(&rx.clone()));
    assert!(!rx.same_channel(&urx));
}

#[test]
fn never_is_never_ready() {
    in_coroutine(|| {
        let rx = never::<i32>();
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        assert_eq!(
            rx.recv_timeout(Duration::from_millis(5)),
            Err(RecvTimeoutError::Timeout)
        );
        assert!(!rx.is_closed());
    });
}

#[test]
fn after_and_tick_deliver_on_time() {
    in_coroutine(|| {
        let start = Instant::now();
        let at = channels::after(Duration::from_millis(15)).recv().unwrap();
        assert!(at >= start + Duration::from_millis(15));
        let ticks = channels::tick(Duration::from_millis(2));
        let mut last = start;
        for _ in 0..5 {
            let t = ticks.recv().unwrap();
            assert!(t > last);
            last = t;
        }
    });
}

#[test]
fn threads_and_coroutines_talk_both_ways() {
    on_thread(|| {
        // Thread -> coroutine over a rendezvous channel, coroutine -> thread back.
        let (to_co, from_thread) = bounded::<u64>(0);
        let (to_thread, from_co) = bounded::<u64>(0);
        let h = green::spawn(move || {
            for v in &from_thread {
                to_thread.send(v * 2).unwrap();
            }
        });
        for i in 0..1000 {
            to_co.send(i).unwrap();
            assert_eq!(from_co.recv(), Ok(i * 2));
        }
        drop(to_co);
        h.join().unwrap();
        assert_eq!(from_co.recv(), Err(RecvError));
    });
}

#[test]
fn a_panicking_coroutine_disturbs_no_channel() {
    in_coroutine(|| {
        let (tx, rx) = bounded::<u32>(0);
        let waiter = green::spawn(move || rx.recv());
        let bad = green::spawn(|| -> u32 { panic!("unrelated failure") });
        assert!(bad.join().is_err());
        tx.send(11).unwrap();
        assert_eq!(waiter.join().unwrap(), Ok(11));
    });
}
