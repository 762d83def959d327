//! Stress: many producers and consumers, coroutines and threads, racing on shared channels of
//! every flavour, through plain operations, timed operations and selects, with closes in the
//! middle. Each test counts every value (sums and counts, or a seen-set) so that a lost or
//! duplicated message fails it; none relies on timing. Sizes are small in debug builds; set
//! `GREENCHAN_STRESS=1`, or build with `--release`, for the full size. Themes: Go's
//! TestSelectStress and TestMultiConsumer, crossbeam-channel's `mpmc`, `stress_iter`,
//! `stress_timeout_two_threads`, `linearizable` and select `stress_*` tests.

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use channels::{bounded, select, unbounded, Receiver, Sender, TryRecvError};
use common::{in_coroutine, on_one_worker, on_thread, scale};

fn chan<T>(cap: Option<usize>) -> (Sender<T>, Receiver<T>) {
    match cap {
        Some(c) => bounded(c),
        None => unbounded(),
    }
}

/// P producers and C consumers, half of each coroutines and half threads, over one channel.
fn mpmc(cap: Option<usize>, producers: usize, consumers: usize, per: usize) {
    let (tx, rx) = chan::<usize>(cap);
    let seen = Arc::new(Mutex::new(vec![false; producers * per]));
    let mut coros = Vec::new();
    let mut threads = Vec::new();
    for p in 0..producers {
        let tx = tx.clone();
        let body = move || {
            for i in 0..per {
                tx.send(p * per + i).unwrap();
            }
        };
        if p % 2 == 0 {
            coros.push(green::spawn(body));
        } else {
            threads.push(std::thread::spawn(body));
        }
    }
    for c in 0..consumers {
        let (rx, seen) = (rx.clone(), seen.clone());
        let body = move || {
            let mut mine = Vec::new();
            for v in &rx {
                mine.push(v);
            }
            // A std lock held by a coroutine: keep it from being preempted asynchronously
            // meanwhile (see green::preempt), or a coroutine pinned with the lock held could
            // block its worker's other coroutines for good.
            let _no_preempt = green::preempt::disable();
            let mut seen = seen.lock().unwrap();
            for v in mine {
                assert!(!seen[v], "value {v} received twice");
                seen[v] = true;
            }
        };
        if c % 2 == 0 {
            coros.push(green::spawn(body));
        } else {
            threads.push(std::thread::spawn(body));
        }
    }
    drop((tx, rx));
    for h in coros {
        h.join().unwrap();
    }
    for t in threads {
        t.join().unwrap();
    }
    assert!(
        seen.lock().unwrap().iter().all(|&s| s),
        "values lost ({cap:?})"
    );
}

#[test]
fn mpmc_every_flavour() {
    for cap in [Some(0), Some(1), Some(16), None] {
        let per = scale(50_000);
        on_thread(move || mpmc(cap, 4, 4, per));
    }
}

#[test]
fn mpmc_from_a_coroutine_one_worker() {
    let per = scale(20_000);
    on_one_worker(move || {
        // On one worker, only the coroutines share it; the threads run beside it.
        mpmc(Some(0), 2, 2, per);
        mpmc(Some(3), 2, 2, per);
    });
}

/// Many coroutines and threads select-send and select-receive over shared channels of every
/// kind; every value arrives exactly once.
#[test]
fn racing_selects_lose_and_duplicate_nothing() {
    on_thread(|| {
        let n = scale(40_000);
        let senders = 4;
        let chans = [bounded::<usize>(0), bounded(1), bounded(16), unbounded()];
        let seen = Arc::new(Mutex::new(HashSet::new()));
        let received = Arc::new(AtomicUsize::new(0));
        let mut handles = Vec::new();
        let mut threads = Vec::new();
        for s in 0..senders {
            let txs: Vec<_> = chans.iter().map(|c| c.0.clone()).collect();
            let body = move || {
                for i in 0..n {
                    let v = s * n + i;
                    select! {
                        send(txs[0], v) -> r => r.unwrap(),
                        send(txs[1], v) -> r => r.unwrap(),
                        send(txs[2], v) -> r => r.unwrap(),
                        send(txs[3], v) -> r => r.unwrap(),
                    }
                }
            };
            if s == 0 {
                threads.push(std::thread::spawn(body));
            } else {
                handles.push(green::spawn(body));
            }
        }
        let total = senders * n;
        let receiver = |rxs: Vec<Receiver<usize>>| {
            let seen = seen.clone();
            let received = received.clone();
            move || loop {
                if received.load(Ordering::SeqCst) >= total {
                    return;
                }
                let v = select! {
                    recv(rxs[0]) -> v => v,
                    recv(rxs[1]) -> v => v,
                    recv(rxs[2]) -> v => v,
                    recv(rxs[3]) -> v => v,
                    default(Duration::from_millis(5)) => continue,
                };
                let v = v.expect("no channel closes during the race");
                let _no_preempt = green::preempt::disable(); // std lock: see above
                assert!(seen.lock().unwrap().insert(v), "value {v} received twice");
                received.fetch_add(1, Ordering::SeqCst);
            }
        };
        let rxs = || chans.iter().map(|c| c.1.clone()).collect::<Vec<_>>();
        for _ in 0..2 {
            handles.push(green::spawn(receiver(rxs())));
            threads.push(std::thread::spawn(receiver(rxs())));
        }
        for h in handles {
            h.join().unwrap();
        }
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(received.load(Ordering::SeqCst), total);
        assert_eq!(seen.lock().unwrap().len(), total);
        for (_, rx) in &chans {
            assert_eq!(rx.try_recv(), Err(TryRecvError::Empty), "nothing left over");
        }
    });
}

/// Selects mixing send and receive arms on the same channels, as relays: values hop between
/// channels until they reach the sink; all arrive once.
#[test]
fn mixed_send_recv_selects() {
    in_coroutine(|| {
        let n = scale(20_000);
        let (a_tx, a_rx) = bounded::<usize>(0);
        let (b_tx, b_rx) = bounded::<usize>(2);
        let (sink_tx, sink_rx) = unbounded::<usize>();
        // Relays: take from a and pass on to b, or take from b and pass on to the sink. A
        // relay holding a value for b keeps serving b's receive arm while it waits, so the
        // relays never all block sending to a full b.
        let relays: Vec<_> = (0..4)
            .map(|_| {
                let (a_rx, b_tx, b_rx, sink) =
                    (a_rx.clone(), b_tx.clone(), b_rx.clone(), sink_tx.clone());
                green::spawn(move || {
                    let mut pending: Option<usize> = None;
                    loop {
                        match pending.take() {
                            None => select! {
                                recv(a_rx) -> v => match v {
                                    Ok(v) => pending = Some(v),
                                    Err(_) => return,
                                },
                                recv(b_rx) -> v => sink.send(v.unwrap()).unwrap(),
                            },
                            Some(p) => select! {
                                send(b_tx, p) -> r => r.unwrap(),
                                recv(b_rx) -> v => {
                                    sink.send(v.unwrap()).unwrap();
                                    pending = Some(p);
                                }
                            },
                        }
                    }
                })
            })
            .collect();
        drop((b_tx, sink_tx));
        for i in 0..n {
            a_tx.send(i).unwrap();
        }
        let mut seen = vec![false; n];
        for _ in 0..n {
            let v = sink_rx.recv().unwrap();
            assert!(!seen[v], "{v} twice");
            seen[v] = true;
        }
        drop(a_tx); // the relays stop once a closes
        for r in relays {
            r.join().unwrap();
        }
        assert_eq!(sink_rx.try_recv(), Err(TryRecvError::Closed));
    });
}

/// crossbeam's stress_timeout_two_threads: a sender and a receiver both use short timeouts and
/// retry; every value arrives once and in order.
#[test]
fn timeouts_racing_deliveries() {
    for cap in [0, 2] {
        on_thread(move || {
            let n = scale(2_000);
            let (tx, rx) = bounded::<usize>(cap);
            let t = green::spawn(move || {
                for i in 0..n {
                    let mut v = i;
                    loop {
                        match tx.send_timeout(v, Duration::from_micros(100)) {
                            Ok(()) => break,
                            Err(e) => {
                                assert!(e.is_timeout());
                                v = e.into_inner();
                                assert_eq!(v, i, "the value came back");
                            }
                        }
                    }
                    if i % 3 == 0 {
                        green::yield_now();
                    }
                }
            });
            let mut next = 0;
            while next < n {
                match rx.recv_timeout(Duration::from_micros(100)) {
                    Ok(v) => {
                        assert_eq!(v, next, "lost, duplicated or reordered");
                        next += 1;
                    }
                    Err(e) => assert!(e.is_timeout()),
                }
            }
            t.join().unwrap();
            assert!(rx.recv().is_err(), "the sender finished, nothing more");
        });
    }
}

/// Senders race a close: every send either succeeds (and its value is received exactly once)
/// or fails and returns its own value.
#[test]
fn sends_racing_a_close() {
    for cap in [Some(0), Some(4), None] {
        on_thread(move || {
            for _ in 0..scale(200) {
                let (tx, rx) = chan::<usize>(cap);
                let per = 50;
                let senders: Vec<_> = (0..3)
                    .map(|s| {
                        let tx = tx.clone();
                        green::spawn(move || {
                            let mut ok = Vec::new();
                            for i in 0..per {
                                let v = s * per + i;
                                match tx.send(v) {
                                    Ok(()) => ok.push(v),
                                    Err(e) => assert_eq!(e.into_inner(), v),
                                }
                            }
                            ok
                        })
                    })
                    .collect();
                let r = rx.clone();
                let receiver = green::spawn(move || r.iter().take(40).collect::<Vec<_>>());
                let mut got = receiver.join().unwrap();
                tx.close();
                let mut sent: Vec<usize> = senders
                    .into_iter()
                    .flat_map(|h| h.join().unwrap())
                    .collect();
                got.extend(rx.try_iter());
                got.sort_unstable();
                sent.sort_unstable();
                assert_eq!(got, sent, "every successful send received once ({cap:?})");
            }
        });
    }
}

/// Go's TestMultiConsumer shape at size, with threads among the workers.
#[test]
fn fan_out_fan_in() {
    on_thread(|| {
        let niter = scale(200_000);
        let (q_tx, q_rx) = bounded::<usize>(32);
        let (r_tx, r_rx) = bounded::<usize>(32);
        let mut coros = Vec::new();
        let mut threads = Vec::new();
        for w in 0..12 {
            let (q, r) = (q_rx.clone(), r_tx.clone());
            let body = move || {
                for v in &q {
                    r.send(v * 2).unwrap();
                }
            };
            if w % 4 == 0 {
                threads.push(std::thread::spawn(body));
            } else {
                coros.push(green::spawn(body));
            }
        }
        drop((q_rx, r_tx));
        let feeder = green::spawn(move || {
            for i in 0..niter {
                q_tx.send(i).unwrap();
            }
        });
        let (mut n, mut s) = (0, 0);
        for v in &r_rx {
            n += 1;
            s += v;
        }
        feeder.join().unwrap();
        coros.into_iter().for_each(|h| h.join().unwrap());
        threads.into_iter().for_each(|t| t.join().unwrap());
        assert_eq!((n, s), (niter, niter * (niter - 1)));
    });
}
