//! Values are never leaked or dropped twice (DESIGN §5; crossbeam-channel's `drops` tests):
//! buffered values are dropped exactly once with the channel, unsent values come back in the
//! errors of every sending operation, values in flight through rendezvous and select are
//! accounted for exactly once, and a racing mix of sends, receives, timeouts and closes ends
//! with every value created also dropped once.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use channels::{bounded, select, unbounded, Receiver, SendTimeoutError, Sender, TrySendError};
use common::{in_coroutine, scale, settle, Counted, DropLedger};

fn chan<T>(cap: Option<usize>) -> (Sender<T>, Receiver<T>) {
    match cap {
        Some(c) => bounded(c),
        None => unbounded(),
    }
}

#[test]
fn buffered_values_drop_with_the_channel() {
    for cap in [Some(10), Some(1000), None] {
        let ledger = DropLedger::new();
        let (tx, rx) = chan(cap);
        for i in 0..10 {
            tx.send(ledger.make(i)).unwrap();
        }
        assert_eq!(rx.recv().unwrap().id, 0);
        assert_eq!(ledger.dropped(), 1);
        drop(tx);
        assert_eq!(ledger.dropped(), 1, "closing drops nothing");
        let rx2 = rx.clone();
        drop(rx);
        assert_eq!(ledger.dropped(), 1, "a receiver is left");
        drop(rx2);
        assert_eq!(
            ledger.dropped(),
            10,
            "each buffered value dropped once ({cap:?})"
        );
        assert_eq!(ledger.alive(), 0);
    }
}

#[test]
fn the_last_handle_to_go_drops_the_buffer_whichever_it_is() {
    let ledger = DropLedger::new();
    let (tx, rx) = bounded(4);
    for i in 0..4 {
        tx.send(ledger.make(i)).unwrap();
    }
    drop(rx); // closes; the buffer lives as long as a handle does
    assert!(tx.is_closed());
    let e = tx.send(ledger.make(99)).unwrap_err();
    assert_eq!(e.into_inner().id, 99);
    assert_eq!(ledger.dropped(), 1, "only the returned value so far");
    drop(tx);
    assert_eq!(ledger.dropped(), 5);
}

#[test]
fn unsent_values_come_back_not_dropped() {
    in_coroutine(|| {
        let ledger = DropLedger::new();
        let (tx, rx) = bounded::<Counted>(1);
        tx.send(ledger.make(0)).unwrap();
        // Full.
        let v = match tx.try_send(ledger.make(1)) {
            Err(TrySendError::Full(v)) => v,
            other => panic!("{other:?}"),
        };
        assert_eq!((v.id, ledger.dropped()), (1, 0));
        let v = match tx.send_timeout(v, Duration::from_millis(2)) {
            Err(SendTimeoutError::Timeout(v)) => v,
            other => panic!("{other:?}"),
        };
        assert_eq!((v.id, ledger.dropped()), (1, 0));
        let v = select! {
            send(tx, v) -> _ => unreachable!("full"),
            default => None::<Counted>,
        };
        assert!(v.is_none());
        assert_eq!(
            ledger.dropped(),
            1,
            "a send arm not chosen drops its value once"
        );
        // Closed.
        drop(rx);
        let v = tx.send(ledger.make(2)).unwrap_err().into_inner();
        let v = match tx.try_send(v) {
            Err(TrySendError::Closed(v)) => v,
            other => panic!("{other:?}"),
        };
        let v = match tx.send_timeout(v, Duration::from_secs(1)) {
            Err(SendTimeoutError::Closed(v)) => v,
            other => panic!("{other:?}"),
        };
        let v = select! { send(tx, v) -> r => r.unwrap_err().into_inner() };
        assert_eq!((v.id, ledger.dropped()), (2, 1));
        drop(v);
        drop(tx);
        assert_eq!(ledger.alive(), 0);
    });
}

#[test]
fn a_blocked_sender_gets_its_value_back_on_close() {
    in_coroutine(|| {
        let ledger = DropLedger::new();
        let (tx, rx) = bounded::<Counted>(0);
        let (t, l) = (tx.clone(), ledger.clone());
        let h = green::spawn(move || t.send(l.make(7)).map_err(|e| e.into_inner().id));
        settle(20);
        tx.close();
        assert_eq!(h.join().unwrap(), Err(7));
        assert_eq!(
            ledger.dropped(),
            1,
            "dropped by the caller, not by the channel"
        );
        drop((tx, rx));
        assert_eq!(ledger.alive(), 0);
    });
}

#[test]
fn values_through_rendezvous_and_select_are_dropped_once() {
    in_coroutine(|| {
        let ledger = DropLedger::new();
        let n = 1000;
        let (tx, rx) = bounded::<Counted>(0);
        let l = ledger.clone();
        let producer = green::spawn(move || {
            for i in 0..n {
                tx.send(l.make(i)).unwrap();
            }
        });
        let mut got = 0;
        while got < n {
            select! {
                recv(rx) -> v => { assert_eq!(v.unwrap().id, got); got += 1; }
            }
        }
        producer.join().unwrap();
        assert_eq!(ledger.dropped(), n);
        // A send arm not chosen drops its value (Go evaluates send values on entry); the
        // chosen one is in the channel.
        let (tx1, _rx1) = bounded::<Counted>(0);
        let (tx2, rx2) = bounded::<Counted>(1);
        select! {
            send(tx1, ledger.make(0)) -> _ => panic!("nobody receives on tx1"),
            send(tx2, ledger.make(1)) -> r => r.unwrap(),
        }
        assert_eq!(ledger.alive(), 1, "the unchosen value is dropped once");
        drop((rx2, tx2));
        assert_eq!(ledger.alive(), 0);
        assert_eq!(ledger.created(), n + 2);
    });
}

/// Senders, receivers (blocking, timed and select), a close in the middle, and channels
/// dropped with values left in them: at the end, every value created was dropped exactly once,
/// and every value a send reported as delivered was received or still buffered.
#[test]
fn racing_everything_leaks_nothing() {
    for cap in [Some(0), Some(3), None] {
        in_coroutine(move || {
            let ledger = DropLedger::new();
            let (tx, rx) = chan::<Counted>(cap);
            let n = scale(20_000);
            let senders: Vec<_> = (0..3)
                .map(|s| {
                    let (tx, l) = (tx.clone(), ledger.clone());
                    green::spawn(move || {
                        let mut ok = 0;
                        for i in 0..n {
                            let v = l.make(s * n + i);
                            let r = if i % 3 == 0 {
                                tx.send_timeout(v, Duration::from_micros(50))
                                    .map_err(|e| e.into_inner())
                            } else {
                                tx.send(v).map_err(|e| e.into_inner())
                            };
                            match r {
                                Ok(()) => ok += 1,
                                Err(v) => drop(v),
                            }
                        }
                        ok
                    })
                })
                .collect();
            let stop = Arc::new(AtomicBool::new(false));
            let receivers: Vec<_> = (0..3)
                .map(|k| {
                    let (rx, stop) = (rx.clone(), stop.clone());
                    green::spawn(move || {
                        let mut got = 0;
                        loop {
                            let v = match k {
                                0 => rx.recv().ok(),
                                1 => match rx.recv_timeout(Duration::from_micros(50)) {
                                    Err(e) if e.is_timeout() => continue,
                                    r => r.ok(),
                                },
                                _ => {
                                    if stop.load(Ordering::SeqCst) {
                                        return got;
                                    }
                                    select! {
                                        recv(rx) -> v => v.ok(),
                                        default(Duration::from_micros(50)) => continue,
                                    }
                                }
                            };
                            match v {
                                Some(v) => {
                                    drop(v);
                                    got += 1;
                                    // Two receivers stop early, leaving values to the others
                                    // and to the channel.
                                    if k < 2 && got == n / 2 {
                                        return got;
                                    }
                                }
                                None => return got,
                            }
                        }
                    })
                })
                .collect();
            let sent: usize = senders.into_iter().map(|h| h.join().unwrap()).sum();
            stop.store(true, Ordering::SeqCst);
            tx.close();
            let received: usize = receivers.into_iter().map(|h| h.join().unwrap()).sum();
            let buffered = rx.len();
            assert_eq!(
                sent,
                received + buffered,
                "delivered values lost or duplicated"
            );
            drop((tx, rx));
            assert_eq!(ledger.created(), 3 * n);
            assert_eq!(
                ledger.dropped(),
                3 * n,
                "leaked or double-dropped ({cap:?})"
            );
        });
    }
}

/// A value whose destructor panics, dropped with its channel's buffer: the panic comes out of
/// the drop of the last handle, and the values after it are leaked, not dropped while
/// unwinding (a second panic there would abort the whole process).
#[test]
fn a_panicking_destructor_in_the_buffer_leaks_the_rest() {
    struct PanicOnDrop(Arc<AtomicBool>);
    impl Drop for PanicOnDrop {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
            panic!("first drop");
        }
    }
    for cap in [Some(2), None] {
        let (tx, rx) = chan(cap);
        let (a, b) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicBool::new(false)),
        );
        tx.send(PanicOnDrop(a.clone())).unwrap();
        tx.send(PanicOnDrop(b.clone())).unwrap();
        drop(tx);
        let res = std::panic::catch_unwind(move || drop(rx));
        let msg = res.expect_err("the destructor's panic comes out");
        assert_eq!(msg.downcast_ref::<&str>(), Some(&"first drop"));
        assert!(a.load(Ordering::SeqCst), "the first value was dropped");
        assert!(!b.load(Ordering::SeqCst), "the one after it is leaked");
    }
}

/// Handles cross `catch_unwind` as crossbeam-channel's do, whatever they carry: a panic can
/// never leave a channel half-updated (its critical sections only move values).
#[test]
fn handles_are_unwind_safe() {
    fn unwind_safe<T: std::panic::UnwindSafe + std::panic::RefUnwindSafe>() {}
    unwind_safe::<Sender<std::cell::Cell<i32>>>();
    unwind_safe::<Receiver<std::cell::Cell<i32>>>();
    unwind_safe::<Receiver<std::time::Instant>>();
    let (tx, rx) = bounded::<i32>(1);
    let r = std::panic::catch_unwind(|| {
        tx.send(1).unwrap();
        panic!("after a send");
    });
    assert!(r.is_err());
    assert_eq!(rx.try_recv(), Ok(1), "the channel works on after the panic");
}
