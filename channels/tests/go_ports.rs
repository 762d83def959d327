//! Ports of Go's channel test programs (`test/chan/`: sieve, fifo, doubleselect, zerosize,
//! goroutines, nonblock, sendstmt) and the themes of `src/runtime/chan_test.go` (TestChan over
//! capacities, TestMultiConsumer, TestNonblockRecvRace), rewritten for greenchan.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use channels::{bounded, select, unbounded, Receiver, Sender, TryRecvError};
use common::{in_coroutine, scale};

/// test/chan/sieve1.go: the concurrent prime sieve.
#[test]
fn sieve() {
    in_coroutine(|| {
        fn filter(rx: Receiver<u64>, tx: Sender<u64>, p: u64) {
            for i in &rx {
                if i % p != 0 && tx.send(i).is_err() {
                    return;
                }
            }
        }
        let (tx, mut rx) = bounded::<u64>(0);
        green::spawn(move || {
            for i in 2.. {
                if tx.send(i).is_err() {
                    return;
                }
            }
        });
        let mut primes = Vec::new();
        for _ in 0..25 {
            let p = rx.recv().unwrap();
            primes.push(p);
            let (tx2, rx2) = bounded(0);
            green::spawn(move || filter(rx, tx2, p));
            rx = rx2;
        }
        assert_eq!(primes.last(), Some(&97));
        assert_eq!(primes[..5], [2, 3, 5, 7, 11]);
    });
}

/// test/chan/fifo.go: values come out in order, through a buffered channel and through a
/// chain of rendezvous channels where each link waits for its predecessor.
#[test]
fn fifo() {
    in_coroutine(|| {
        let (tx, rx) = bounded(100);
        for i in 0..100 {
            tx.send(i).unwrap();
        }
        for i in 0..100 {
            assert_eq!(rx.recv(), Ok(i));
        }
        // Synchronous chain: coroutine i sends i after coroutine i-1 has sent.
        let (data_tx, data_rx) = bounded::<usize>(0);
        let (mut prev_tx, mut prev_rx) = bounded::<()>(0);
        let first = prev_tx.clone();
        let n = 100;
        for i in 0..n {
            let (next_tx, next_rx) = bounded::<()>(0);
            let (data_tx, wait) = (data_tx.clone(), prev_rx);
            let done = next_tx.clone();
            green::spawn(move || {
                wait.recv().unwrap();
                data_tx.send(i).unwrap();
                done.send(()).unwrap();
            });
            prev_tx = next_tx;
            prev_rx = next_rx;
        }
        let last = prev_rx;
        drop(prev_tx);
        let collector =
            green::spawn(move || (0..n).map(|_| data_rx.recv().unwrap()).collect::<Vec<_>>());
        first.send(()).unwrap();
        last.recv().unwrap();
        assert_eq!(collector.join().unwrap(), (0..n).collect::<Vec<_>>());
    });
}

/// test/chan/doubleselect.go: several senders each select-send the same value on one of
/// several channels; multiplexed receivers must see every value exactly once.
#[test]
fn doubleselect() {
    in_coroutine(|| {
        let n = scale(10_000);
        let chans: Vec<_> = (0..4).map(|_| bounded::<usize>(0)).collect();
        let txs: Vec<_> = chans.iter().map(|c| c.0.clone()).collect();
        let sender = green::spawn(move || {
            for i in 0..n {
                select! {
                    send(txs[0], i) -> r => r.unwrap(),
                    send(txs[1], i) -> r => r.unwrap(),
                    send(txs[2], i) -> r => r.unwrap(),
                    send(txs[3], i) -> r => r.unwrap(),
                }
            }
        });
        let (mux_tx, mux_rx) = unbounded();
        for (_, rx) in &chans {
            let (rx, mux) = (rx.clone(), mux_tx.clone());
            green::spawn(move || {
                for v in &rx {
                    mux.send(v).unwrap();
                }
            });
        }
        drop(mux_tx);
        let mut seen = vec![false; n];
        for _ in 0..n {
            let v = mux_rx.recv().unwrap();
            assert!(!seen[v], "{v} delivered twice");
            seen[v] = true;
        }
        sender.join().unwrap();
        assert!(seen.iter().all(|&s| s));
    });
}

/// test/chan/zerosize.go: channels of zero-sized types work, buffered and not.
#[test]
fn zero_sized_types() {
    in_coroutine(|| {
        let (tx, rx) = bounded::<()>(3);
        for _ in 0..3 {
            tx.send(()).unwrap();
        }
        assert!(tx.try_send(()).unwrap_err().is_full());
        assert_eq!(rx.len(), 3);
        assert_eq!(rx.try_iter().count(), 3);
        let (tx, rx) = bounded::<[u8; 0]>(0);
        let h = green::spawn(move || tx.send([]).unwrap());
        assert_eq!(rx.recv(), Ok([]));
        h.join().unwrap();
        let (tx, rx) = unbounded::<()>();
        for _ in 0..1000 {
            tx.send(()).unwrap();
        }
        drop(tx);
        assert_eq!(rx.iter().count(), 1000);
    });
}

/// test/chan/goroutines.go: a long chain of coroutines passing one value along.
#[test]
fn goroutines_chain() {
    in_coroutine(|| {
        let n = scale(10_000);
        let (first_tx, mut rx) = bounded::<usize>(0);
        for _ in 0..n {
            let (tx, next_rx) = bounded(0);
            let prev = rx;
            green::spawn(move || tx.send(prev.recv().unwrap() + 1).unwrap());
            rx = next_rx;
        }
        first_tx.send(0).unwrap();
        assert_eq!(rx.recv(), Ok(n));
    });
}

/// test/chan/nonblock.go and sendstmt.go: non-blocking operations on every capacity, in
/// select form and method form.
#[test]
fn nonblock() {
    in_coroutine(|| {
        for cap in [0, 1, 10] {
            let (tx, rx) = bounded::<i32>(cap);
            let r = select! { recv(rx) -> _ => "got", default => "empty" };
            assert_eq!(r, "empty");
            if cap == 0 {
                let r = select! { send(tx, 1) -> _ => "sent", default => "nobody" };
                assert_eq!(r, "nobody");
                // With a receiver parked, the non-blocking send succeeds.
                let rx2 = rx.clone();
                let h = green::spawn(move || rx2.recv().unwrap());
                loop {
                    let sent =
                        select! { send(tx, 7) -> r => { r.unwrap(); true }, default => false };
                    if sent {
                        break;
                    }
                    green::yield_now();
                }
                assert_eq!(h.join().unwrap(), 7);
            } else {
                for i in 0..cap as i32 {
                    assert!(tx.try_send(i).is_ok());
                }
                assert!(tx.try_send(99).unwrap_err().is_full());
                assert_eq!(rx.try_recv(), Ok(0));
            }
        }
    });
}

/// chan_test.go TestChan: for capacities 0..=N, receive blocks until a send, send blocks while
/// full, values keep FIFO order, and close semantics hold.
#[test]
fn chan_over_capacities() {
    in_coroutine(|| {
        for cap in 0..8usize {
            let (tx, rx) = bounded::<usize>(cap);
            // Buffered values come out in order after a burst.
            let h = {
                let tx = tx.clone();
                green::spawn(move || {
                    for i in 0..100 {
                        tx.send(i).unwrap();
                    }
                })
            };
            for i in 0..100 {
                assert_eq!(rx.recv(), Ok(i), "cap {cap}");
            }
            h.join().unwrap();
            // Closing wakes a parked receiver with an error.
            let rx2 = rx.clone();
            let waiter = green::spawn(move || rx2.recv());
            green::yield_now();
            tx.close();
            assert!(waiter.join().unwrap().is_err());
            assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
        }
    });
}

/// chan_test.go TestMultiConsumer: many consumers drain one channel; sums and counts match.
#[test]
fn multi_consumer() {
    in_coroutine(|| {
        let n = scale(100_000);
        let (tx, rx) = bounded::<usize>(8);
        let sum = Arc::new(AtomicUsize::new(0));
        let count = Arc::new(AtomicUsize::new(0));
        let consumers: Vec<_> = (0..5)
            .map(|_| {
                let (rx, sum, count) = (rx.clone(), sum.clone(), count.clone());
                green::spawn(move || {
                    for v in &rx {
                        sum.fetch_add(v, Ordering::Relaxed);
                        count.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        for i in 0..n {
            tx.send(i).unwrap();
        }
        drop(tx);
        for c in consumers {
            c.join().unwrap();
        }
        assert_eq!(count.load(Ordering::Relaxed), n);
        assert_eq!(sum.load(Ordering::Relaxed), n * (n - 1) / 2);
    });
}

/// chan_test.go TestNonblockRecvRace: a non-blocking receive racing a close sees either the
/// value or the close, never Empty once the value was sent.
#[test]
fn nonblock_recv_race() {
    in_coroutine(|| {
        for _ in 0..scale(10_000) {
            let (tx, rx) = bounded::<i32>(1);
            tx.send(1).unwrap();
            let h = green::spawn(move || tx.close());
            match rx.try_recv() {
                Ok(1) => {}
                other => panic!("try_recv after send saw {other:?}"),
            }
            h.join().unwrap();
        }
    });
}
