//! select! and the dynamic `Select`, against DESIGN §2: exactly one arm takes effect; ready arms
//! are chosen uniformly at random; closed channels are ready and `never()` is not; the same
//! channel may appear in several arms and in both directions; `default` and
//! `default(timeout)`; selects block and wake in coroutines and on threads. Themes from
//! crossbeam-channel's `select_macro.rs` and `select.rs` tests (smoke, disconnected, default,
//! timeout, unblocks, both_ready, duplicate_operations, send_recv_same_channel, fairness),
//! written for greenchan. The racing stress tests are in `stress.rs`.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use channels::{bounded, never, select, unbounded, RecvError, Select, SendError, TryRecvError};
use common::{in_coroutine, on_one_worker, on_thread, scale, settle};

#[test]
fn exactly_one_recv_arm_takes_effect() {
    in_coroutine(|| {
        for _ in 0..100 {
            let (tx1, rx1) = bounded::<i32>(1);
            let (tx2, rx2) = bounded::<i32>(1);
            tx1.send(1).unwrap();
            tx2.send(2).unwrap();
            let got = select! {
                recv(rx1) -> v => v.unwrap(),
                recv(rx2) -> v => v.unwrap(),
            };
            // The other value is still there: only one receive happened.
            let other = if got == 1 {
                rx2.try_recv()
            } else {
                rx1.try_recv()
            };
            assert_eq!(other, Ok(3 - got));
            assert!(rx1.is_empty() && rx2.is_empty());
        }
    });
}

#[test]
fn exactly_one_send_arm_takes_effect() {
    in_coroutine(|| {
        for _ in 0..100 {
            let (tx1, rx1) = bounded::<i32>(1);
            let (tx2, rx2) = unbounded::<i32>();
            let which = select! {
                send(tx1, 1) -> r => { r.unwrap(); 1 },
                send(tx2, 2) -> r => { r.unwrap(); 2 },
            };
            assert_eq!(rx1.len() + rx2.len(), 1, "one send, not two");
            match which {
                1 => assert_eq!(rx1.try_recv(), Ok(1)),
                _ => assert_eq!(rx2.try_recv(), Ok(2)),
            }
        }
    });
}

/// 4 always-ready arms × 40,000 selects: each arm is chosen within ±10% of the mean. (The
/// standard deviation of one count is about 87 here; 10% is 1,000, more than 11 of them.)
fn assert_uniform(counts: &[usize], total: usize) {
    let mean = total / counts.len();
    for &c in counts {
        assert!(
            c.abs_diff(mean) <= mean / 10,
            "unfair choice among ready arms: {counts:?}"
        );
    }
    assert_eq!(counts.iter().sum::<usize>(), total);
}

#[test]
fn ready_recv_arms_are_chosen_uniformly() {
    let n = 40_000;
    let counts = in_coroutine(move || {
        let chans: Vec<_> = (0..4).map(|_| unbounded::<()>()).collect();
        for (tx, _) in &chans {
            for _ in 0..n {
                tx.send(()).unwrap();
            }
        }
        let mut counts = [0usize; 4];
        for _ in 0..n {
            let i = select! {
                recv(chans[0].1) -> _ => 0,
                recv(chans[1].1) -> _ => 1,
                recv(chans[2].1) -> _ => 2,
                recv(chans[3].1) -> _ => 3,
            };
            counts[i] += 1;
        }
        for (i, (_, rx)) in chans.iter().enumerate() {
            assert_eq!(
                rx.len(),
                n - counts[i],
                "each choice received exactly one value"
            );
        }
        counts
    });
    assert_uniform(&counts, n);
}

#[test]
fn ready_send_and_closed_arms_are_chosen_uniformly() {
    let n = 40_000;
    let counts = in_coroutine(move || {
        let (tx0, _rx0) = unbounded::<u8>();
        let (tx1, _rx1) = bounded::<u8>(n);
        let (tx2, rx2) = unbounded::<u8>();
        tx2.close(); // ready: fails at once
        let (tx3, rx3) = unbounded::<u8>();
        tx3.send(0).unwrap();
        let mut counts = [0usize; 4];
        for _ in 0..n {
            let i = select! {
                send(tx0, 0) -> r => { r.unwrap(); 0 },
                send(tx1, 1) -> r => { r.unwrap(); 1 },
                send(tx2, 2) -> r => { assert_eq!(r, Err(SendError(2))); 2 },
                recv(rx3) -> v => { tx3.send(v.unwrap()).unwrap(); 3 },
            };
            counts[i] += 1;
        }
        assert_eq!(rx2.try_recv(), Err(TryRecvError::Closed));
        counts
    });
    assert_uniform(&counts, n);
}

#[test]
fn closed_is_ready_never_is_not() {
    in_coroutine(|| {
        let (tx, rx) = bounded::<i32>(0);
        drop(tx);
        let nv = never::<i32>();
        for _ in 0..100 {
            let r = select! {
                recv(nv) -> _ => "never",
                recv(rx) -> v => { assert_eq!(v, Err(RecvError)); "closed" }
            };
            assert_eq!(r, "closed");
        }
        let (stx, srx) = bounded::<i32>(0);
        drop(srx);
        select! {
            send(stx, 4) -> res => assert_eq!(res.unwrap_err().into_inner(), 4),
        }
        // A closed channel with buffered values yields them first.
        let (btx, brx) = bounded::<i32>(2);
        btx.send(1).unwrap();
        btx.close();
        let r = select! { recv(nv) -> _ => None, recv(brx) -> v => Some(v) };
        assert_eq!(r, Some(Ok(1)));
        let r = select! { recv(nv) -> _ => None, recv(brx) -> v => Some(v) };
        assert_eq!(r, Some(Err(RecvError)));
        // never() with default(timeout) times out.
        for d in [Duration::ZERO, Duration::from_millis(10)] {
            let start = Instant::now();
            let r = select! {
                recv(nv) -> _ => "never",
                default(d) => "timeout",
            };
            assert_eq!(r, "timeout");
            assert!(start.elapsed() >= d);
        }
    });
}

#[test]
fn default_runs_only_when_nothing_is_ready() {
    in_coroutine(|| {
        let (tx, rx) = bounded::<i32>(1);
        let r = select! { recv(rx) -> _ => 1, default => 2 };
        assert_eq!(r, 2);
        tx.send(5).unwrap();
        let r = select! { recv(rx) -> v => v.unwrap(), default => 0 };
        assert_eq!(r, 5);
        tx.send(6).unwrap();
        let r = select! { send(tx, 7) -> _ => "sent", default => "full" };
        assert_eq!(r, "full");
        assert_eq!(rx.try_recv(), Ok(6), "default sent nothing");
        let only_default = select! { default => "d" };
        assert_eq!(only_default, "d");
        // Closed is ready: default does not run.
        drop(tx);
        let r = select! { recv(rx) -> v => v.is_err(), default => false };
        assert!(r);
    });
}

#[test]
fn default_timeout_waits_then_gives_up() {
    for run in [in_coroutine::<()>, on_thread::<()>] {
        run(|| {
            let (_tx, rx) = bounded::<i32>(0);
            let (stx, _srx) = bounded::<i32>(0);
            let d = Duration::from_millis(20);
            let start = Instant::now();
            let r = select! {
                recv(rx) -> _ => "recv",
                send(stx, 1) -> _ => "send",
                default(d) => "timeout",
            };
            assert_eq!(r, "timeout");
            assert!(start.elapsed() >= d, "default(timeout) ran early");
            // Nothing was left registered: a partner arriving now finds nobody.
            assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        });
    }
}

#[test]
fn default_timeout_is_woken_by_a_late_partner() {
    in_coroutine(|| {
        let (tx, rx) = bounded::<i32>(0);
        green::spawn(move || {
            green::sleep(Duration::from_millis(5));
            tx.send(3).unwrap();
        });
        let r = select! {
            recv(rx) -> v => v.unwrap(),
            default(Duration::from_secs(60)) => -1,
        };
        assert_eq!(r, 3);
        let (tx, rx) = bounded::<i32>(0);
        let h = green::spawn(move || {
            green::sleep(Duration::from_millis(5));
            rx.recv().unwrap()
        });
        let r = select! {
            send(tx, 4) -> res => res.is_ok(),
            default(Duration::from_secs(60)) => false,
        };
        assert!(r);
        assert_eq!(h.join().unwrap(), 4);
    });
}

#[test]
fn blocked_select_unblocks_from_either_side() {
    for run in [
        in_coroutine::<()> as fn(fn()),
        on_thread::<()>,
        on_one_worker::<()>,
    ] {
        run(|| {
            for k in 0..2 {
                let (tx1, rx1) = bounded::<i32>(0);
                let (tx2, rx2) = bounded::<i32>(0);
                let h = green::spawn(move || {
                    settle(10);
                    if k == 0 {
                        tx1.send(1).unwrap();
                    } else {
                        tx2.send(2).unwrap();
                    }
                    (tx1, tx2)
                });
                let got = select! {
                    recv(rx1) -> v => v.unwrap(),
                    recv(rx2) -> v => v.unwrap(),
                };
                assert_eq!(got, k + 1);
                drop(h.join().unwrap());
            }
        });
    }
}

#[test]
fn same_channel_in_several_arms() {
    in_coroutine(|| {
        // TestSelectDuplicateChannel's shape, ready at once.
        let (tx, rx) = bounded::<i32>(1);
        let mut seen = [false; 2];
        for _ in 0..200 {
            tx.send(1).unwrap();
            let arm = select! {
                recv(rx) -> v => { assert_eq!(v, Ok(1)); 0 },
                recv(rx) -> v => { assert_eq!(v, Ok(1)); 1 },
            };
            seen[arm] = true;
            assert!(rx.is_empty(), "one value taken once");
        }
        assert_eq!(seen, [true, true], "both duplicate arms get chosen");
        // Blocked on duplicates, then woken once.
        let (tx, rx) = bounded::<i32>(0);
        let r = rx.clone();
        let h = green::spawn(move || {
            select! {
                recv(r) -> v => v.unwrap(),
                recv(r) -> v => v.unwrap() + 100,
                recv(r) -> v => v.unwrap() + 200,
            }
        });
        settle(10);
        tx.send(7).unwrap();
        assert_eq!(h.join().unwrap() % 100, 7);
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        // Duplicate send arms.
        let (tx, rx) = bounded::<i32>(1);
        select! {
            send(tx, 1) -> r => r.unwrap(),
            send(tx, 2) -> r => r.unwrap(),
        }
        let v = rx.try_recv().unwrap();
        assert!(v == 1 || v == 2);
        assert!(rx.is_empty());
    });
}

#[test]
fn same_channel_for_send_and_recv() {
    in_coroutine(|| {
        // A buffered channel: when empty only the send is ready, when full only the receive,
        // in between either.
        let (tx, rx) = bounded::<i32>(2);
        let r = select! { send(tx, 1) -> _ => "send", recv(rx) -> _ => "recv" };
        assert_eq!(r, "send");
        tx.send(2).unwrap();
        let r = select! { send(tx, 3) -> _ => "send", recv(rx) -> v => { assert_eq!(v, Ok(1)); "recv" } };
        assert_eq!(r, "recv");
        let mut seen = (false, false);
        for _ in 0..200 {
            assert_eq!(rx.len(), 1);
            select! {
                send(tx, 9) -> r => { r.unwrap(); seen.0 = true; rx.recv().unwrap(); },
                recv(rx) -> v => { tx.send(v.unwrap()).unwrap(); seen.1 = true; },
            }
        }
        assert_eq!(seen, (true, true));
        // A rendezvous channel: the select cannot pair with itself and times out.
        let (tx, rx) = bounded::<i32>(0);
        let r = select! {
            send(tx, 1) -> _ => "paired with itself",
            recv(rx) -> _ => "paired with itself",
            default(Duration::from_millis(10)) => "timeout",
        };
        assert_eq!(r, "timeout");
    });
}

/// TestSelfSelect in both directions at once, over rendezvous and buffered channels: two
/// coroutines select send and receive on one channel; over a rendezvous channel they must pair
/// with each other, never with themselves.
#[test]
fn self_select_pairs() {
    for cap in [0, 1, 10] {
        in_coroutine(move || {
            let (tx, rx) = bounded::<usize>(cap);
            let n = scale(10_000);
            let sent = Arc::new(AtomicUsize::new(0));
            let recvd = Arc::new(AtomicUsize::new(0));
            let hs: Vec<_> = (0..2)
                .map(|p| {
                    let (tx, rx) = (tx.clone(), rx.clone());
                    let (sent, recvd) = (sent.clone(), recvd.clone());
                    green::spawn(move || {
                        for i in 0..n {
                            select! {
                                send(tx, p) -> r => { r.unwrap(); sent.fetch_add(1, Ordering::SeqCst); },
                                recv(rx) -> v => {
                                    if cap == 0 {
                                        assert_ne!(v.unwrap(), p, "iteration {i} met itself");
                                    }
                                    recvd.fetch_add(1, Ordering::SeqCst);
                                },
                            }
                        }
                    })
                })
                .collect();
            for h in hs {
                h.join().unwrap();
            }
            let (s, r) = (sent.load(Ordering::SeqCst), recvd.load(Ordering::SeqCst));
            assert_eq!(s, r + rx.len(), "sent = received + buffered");
            assert_eq!(s + r, 2 * n);
        });
    }
}

#[test]
fn dynamic_select() {
    in_coroutine(|| {
        let (tx1, rx1) = bounded::<i32>(1);
        let (tx2, rx2) = bounded::<i32>(1);
        tx2.send(9).unwrap();
        let mut sel = Select::new();
        let a = sel.recv(&rx1);
        let b = sel.recv(&rx2);
        assert_ne!(a, b);
        let op = sel.select();
        assert_eq!(op.index(), b);
        assert_eq!(op.recv(&rx2), Ok(9));

        let mut sel = Select::new();
        sel.recv(&rx1);
        assert!(sel.try_select().is_err());
        let start = Instant::now();
        assert!(sel.select_timeout(Duration::from_millis(10)).is_err());
        assert!(start.elapsed() >= Duration::from_millis(10));

        let mut sel = Select::new();
        let s = sel.send(&tx1, 4);
        let op = sel.select();
        assert_eq!(op.index(), s);
        assert_eq!(op.send(&tx1), Ok(()));
        assert_eq!(rx1.recv(), Ok(4));
    });
}

#[test]
fn dynamic_select_over_many_channels() {
    in_coroutine(|| {
        let chans: Vec<_> = (0..100).map(|_| bounded::<usize>(1)).collect();
        for k in [0, 37, 99] {
            chans[k].0.send(k).unwrap();
            let mut sel = Select::new();
            let idx: Vec<usize> = chans.iter().map(|(_, rx)| sel.recv(rx)).collect();
            let op = sel.select();
            let i = idx.iter().position(|&x| x == op.index()).unwrap();
            assert_eq!(i, k, "only channel {k} is ready");
            assert_eq!(op.recv(&chans[i].1), Ok(k));
        }
        // Blocked over 100 channels, woken through one of them by another coroutine.
        let tx = chans[63].0.clone();
        let h = green::spawn(move || {
            settle(10);
            tx.send(630).unwrap();
        });
        let mut sel = Select::new();
        let idx: Vec<usize> = chans.iter().map(|(_, rx)| sel.recv(rx)).collect();
        let op = sel.select();
        let i = idx.iter().position(|&x| x == op.index()).unwrap();
        assert_eq!(op.recv(&chans[i].1), Ok(630));
        assert_eq!(i, 63);
        h.join().unwrap();
        // A dynamic select with only closed and never() receivers picks the closed one.
        let nv = never::<usize>();
        let (ctx, crx) = bounded::<usize>(0);
        drop(ctx);
        let mut sel = Select::new();
        let n1 = sel.recv(&nv);
        let c = sel.recv(&crx);
        let op = sel.select();
        assert_ne!(op.index(), n1);
        assert_eq!(op.index(), c);
        assert_eq!(op.recv(&crx), Err(RecvError));
    });
}

#[test]
fn nested_selects() {
    in_coroutine(|| {
        let (tx1, rx1) = bounded::<i32>(1);
        let (tx2, rx2) = bounded::<i32>(1);
        tx1.send(1).unwrap();
        let r = select! {
            recv(rx1) -> v => {
                let v = v.unwrap();
                select! {
                    send(tx2, v + 1) -> r => { r.unwrap(); "inner send" },
                    recv(rx2) -> _ => "inner recv",
                }
            },
            recv(rx2) -> _ => "outer rx2",
        };
        assert_eq!(r, "inner send");
        assert_eq!(rx2.try_recv(), Ok(2));
    });
}

/// Go's `select {}`: a select with no arms blocks forever. Checked from the outside: the
/// coroutine is still unfinished after a while (it is leaked, as a blocked goroutine is).
#[test]
fn empty_select_blocks() {
    let h = green::spawn(|| {
        select! {}
    });
    std::thread::sleep(Duration::from_millis(50));
    assert!(!h.is_finished());
}
