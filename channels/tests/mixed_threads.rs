//! Threads and coroutines mixed (DESIGN §2: "every blocking operation works in two contexts"):
//! a plain OS thread sends to a coroutine and the other way round, blocks on a receive that a
//! coroutine's send completes (and on a send a coroutine's receive completes), selects over
//! channels fed by coroutines, and times out; many threads and many coroutines share one
//! channel. Also channels used by threads alone, with no coroutine involved.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use channels::{bounded, select, unbounded, RecvError, RecvTimeoutError, Sender};
use common::{on_thread, scale, settle};

#[test]
fn thread_to_coroutine_and_back() {
    on_thread(|| {
        assert!(!green::in_coroutine());
        let (to_co, from_thread) = bounded::<u64>(0);
        let (to_thread, from_co) = bounded::<u64>(0);
        let h = green::spawn(move || {
            assert!(green::in_coroutine());
            for v in &from_thread {
                to_thread.send(v * 2).unwrap();
            }
        });
        for i in 0..scale(10_000) as u64 {
            to_co.send(i).unwrap();
            assert_eq!(from_co.recv(), Ok(i * 2));
        }
        drop(to_co);
        h.join().unwrap();
        assert_eq!(from_co.recv(), Err(RecvError));
    });
}

#[test]
fn a_thread_blocks_until_a_coroutine_sends() {
    on_thread(|| {
        for cap in [0, 1] {
            let (tx, rx) = bounded::<&str>(cap);
            let (go_tx, go_rx) = bounded::<()>(0);
            let h = green::spawn(move || {
                go_rx.recv().unwrap(); // send only after the thread is (likely) blocked
                tx.send("from a coroutine").unwrap();
            });
            let waiter = std::thread::spawn(move || rx.recv());
            std::thread::sleep(Duration::from_millis(5));
            go_tx.send(()).unwrap();
            assert_eq!(waiter.join().unwrap(), Ok("from a coroutine"));
            h.join().unwrap();
        }
    });
}

#[test]
fn a_thread_blocks_until_a_coroutine_receives() {
    on_thread(|| {
        let (tx, rx) = bounded::<u32>(0);
        let start = Instant::now();
        let h = green::spawn(move || {
            green::sleep(Duration::from_millis(5));
            rx.recv()
        });
        tx.send(42).unwrap(); // blocks this thread until the coroutine takes it
        assert!(
            start.elapsed() >= Duration::from_millis(5),
            "a rendezvous waits for the receiver"
        );
        assert_eq!(h.join().unwrap(), Ok(42));
    });
}

#[test]
fn a_coroutine_blocks_until_a_thread_sends() {
    on_thread(|| {
        let (tx, rx) = bounded::<u32>(0);
        let h = green::spawn(move || rx.recv_timeout(Duration::from_secs(60)));
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(5));
            tx.send(7).unwrap();
        });
        assert_eq!(h.join().unwrap(), Ok(7));
        t.join().unwrap();
    });
}

#[test]
fn a_thread_selects_over_coroutine_producers() {
    on_thread(|| {
        let n = scale(10_000);
        let (tx1, rx1) = bounded::<usize>(0);
        let (tx2, rx2) = bounded::<usize>(4);
        let producer = |tx: Sender<usize>, base: usize| {
            green::spawn(move || {
                for i in 0..n {
                    tx.send(base + i).unwrap();
                }
            })
        };
        let (p1, p2) = (producer(tx1, 0), producer(tx2, n));
        let (mut sum, mut open) = (0, 2);
        let (mut r1, mut r2) = (rx1, rx2);
        while open > 0 {
            select! {
                recv(r1) -> v => match v {
                    Ok(v) => sum += v,
                    Err(_) => { open -= 1; r1 = channels::never(); }
                },
                recv(r2) -> v => match v {
                    Ok(v) => sum += v,
                    Err(_) => { open -= 1; r2 = channels::never(); }
                },
            }
        }
        p1.join().unwrap();
        p2.join().unwrap();
        assert_eq!(sum, (2 * n) * (2 * n - 1) / 2);
    });
}

#[test]
fn timeouts_on_threads_with_coroutine_partners() {
    on_thread(|| {
        let (tx, rx) = bounded::<u8>(0);
        let d = Duration::from_millis(10);
        let start = Instant::now();
        assert_eq!(rx.recv_timeout(d), Err(RecvTimeoutError::Timeout));
        assert!(start.elapsed() >= d);
        let t = tx.clone();
        let h = green::spawn(move || {
            settle(10);
            t.send(1)
        });
        assert_eq!(rx.recv_timeout(Duration::from_secs(60)), Ok(1));
        assert_eq!(h.join().unwrap(), Ok(()));
        let h = green::spawn(move || {
            green::sleep(Duration::from_millis(2));
            rx.recv()
        });
        assert!(tx.send_timeout(2, Duration::from_secs(60)).is_ok());
        assert_eq!(h.join().unwrap(), Ok(2));
    });
}

/// Threads only, no coroutine anywhere: the channels work as crossbeam's do.
#[test]
fn threads_alone() {
    on_thread(|| {
        let (tx, rx) = bounded::<usize>(0);
        let n = scale(10_000);
        let consumers: Vec<_> = (0..3)
            .map(|_| {
                let rx = rx.clone();
                std::thread::spawn(move || rx.iter().sum::<usize>())
            })
            .collect();
        let producers: Vec<_> = (0..3)
            .map(|p| {
                let tx = tx.clone();
                std::thread::spawn(move || {
                    for i in 0..n {
                        tx.send(p * n + i).unwrap();
                    }
                })
            })
            .collect();
        drop((tx, rx));
        for p in producers {
            p.join().unwrap();
        }
        let sum: usize = consumers.into_iter().map(|c| c.join().unwrap()).sum();
        assert_eq!(sum, 3 * n * (3 * n - 1) / 2);
    });
}

/// Many threads and many coroutines on one channel, both sending and receiving.
#[test]
fn many_threads_and_coroutines_share_a_channel() {
    for cap in [0, 8] {
        on_thread(move || {
            let n = scale(5_000);
            let (tx, rx) = bounded::<usize>(cap);
            let sum = Arc::new(AtomicUsize::new(0));
            let count = Arc::new(AtomicUsize::new(0));
            let mut threads = Vec::new();
            let mut coros = Vec::new();
            for p in 0..4 {
                let tx = tx.clone();
                let body = move || {
                    for i in 0..n {
                        tx.send(p * n + i).unwrap();
                    }
                };
                if p % 2 == 0 {
                    threads.push(std::thread::spawn(body));
                } else {
                    coros.push(green::spawn(body));
                }
            }
            for c in 0..4 {
                let (rx, sum, count) = (rx.clone(), sum.clone(), count.clone());
                let body = move || {
                    for v in &rx {
                        sum.fetch_add(v, Ordering::Relaxed);
                        count.fetch_add(1, Ordering::Relaxed);
                    }
                };
                if c % 2 == 0 {
                    threads.push(std::thread::spawn(body));
                } else {
                    coros.push(green::spawn(body));
                }
            }
            drop((tx, rx));
            for t in threads {
                t.join().unwrap();
            }
            for c in coros {
                c.join().unwrap();
            }
            let m = 4 * n;
            assert_eq!(count.load(Ordering::Relaxed), m);
            assert_eq!(sum.load(Ordering::Relaxed), m * (m - 1) / 2);
        });
    }
}

/// A coroutine and a thread ping-pong over two rendezvous channels: every hand-off crosses
/// between the runtime and a plain thread.
#[test]
fn ping_pong_across_the_boundary() {
    on_thread(|| {
        let (ping_tx, ping_rx) = bounded::<usize>(0);
        let (pong_tx, pong_rx) = unbounded::<usize>();
        let rounds = scale(20_000);
        let co = green::spawn(move || {
            for v in &ping_rx {
                pong_tx.send(v + 1).unwrap();
            }
        });
        let mut v = 0;
        for _ in 0..rounds {
            ping_tx.send(v).unwrap();
            v = pong_rx.recv().unwrap();
        }
        assert_eq!(v, rounds);
        drop(ping_tx);
        co.join().unwrap();
    });
}
