//! select! and Select: one arm takes effect, fair random choice, closed channels ready,
//! never() not, duplicate channels and self-select, default and default(timeout), and races
//! that must lose or duplicate nothing.

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use channels::{bounded, never, select, unbounded, Select};
use common::{in_coroutine, on_thread, scale};

#[test]
fn exactly_one_arm_takes_effect() {
    in_coroutine(|| {
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
        assert_eq!(other.unwrap(), 3 - got);
        assert!(rx1.is_empty() && rx2.is_empty());
    });
}

#[test]
fn ready_arms_are_chosen_uniformly() {
    in_coroutine(|| {
        let chans: Vec<_> = (0..4).map(|_| unbounded::<()>()).collect();
        let n = scale(40_000);
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
        let mean = n / 4;
        for c in counts {
            assert!(
                c.abs_diff(mean) <= mean / 10,
                "unfair choice among ready arms: {counts:?}"
            );
        }
    });
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
                recv(rx) -> v => { assert!(v.is_err()); "closed" }
            };
            assert_eq!(r, "closed");
        }
        let (stx, srx) = bounded::<i32>(0);
        srx.close();
        select! {
            send(stx, 4) -> res => assert_eq!(res.unwrap_err().into_inner(), 4),
        }
        let start = Instant::now();
        let r = select! {
            recv(nv) -> _ => "never",
            default(Duration::from_millis(10)) => "timeout",
        };
        assert_eq!(r, "timeout");
        assert!(start.elapsed() >= Duration::from_millis(10));
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
        let only_default = select! { default => "d" };
        assert_eq!(only_default, "d");
    });
}

#[test]
fn default_timeout_is_woken_by_a_late_sender() {
    in_coroutine(|| {
        let (tx, rx) = bounded::<i32>(0);
        green::spawn(move || {
            green::sleep(Duration::from_millis(5));
            tx.send(3).unwrap();
        });
        let r = select! {
            recv(rx) -> v => v.unwrap(),
            default(Duration::from_secs(30)) => -1,
        };
        assert_eq!(r, 3);
    });
}

#[test]
fn same_channel_in_several_arms_and_both_directions() {
    in_coroutine(|| {
        // TestSelectDuplicateChannel: the same channel twice.
        let (tx, rx) = bounded::<i32>(1);
        tx.send(1).unwrap();
        let v = select! {
            recv(rx) -> v => v.unwrap(),
            recv(rx) -> v => v.unwrap() + 100,
        };
        assert!(v == 1 || v == 101);
        // TestSelfSelect: send and receive on one rendezvous channel in one select, in two
        // coroutines: they must pair with each other, never with themselves.
        let (tx, rx) = bounded::<usize>(0);
        let n = scale(10_000);
        let hs: Vec<_> = (0..2)
            .map(|p| {
                let (tx, rx) = (tx.clone(), rx.clone());
                green::spawn(move || {
                    for i in 0..n {
                        select! {
                            send(tx, p) -> r => r.unwrap(),
                            recv(rx) -> v => assert_ne!(v.unwrap(), p, "iteration {i} met itself"),
                        }
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
    });
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
        let op = sel.select();
        assert_eq!(op.index(), b);
        assert_ne!(a, b);
        assert_eq!(op.recv(&rx2), Ok(9));
        let mut sel = Select::new();
        sel.recv(&rx1);
        assert!(sel.try_select().is_err());
        assert!(sel.select_timeout(Duration::from_millis(5)).is_err());
        let mut sel = Select::new();
        let s = sel.send(&tx1, 4);
        let op = sel.select();
        assert_eq!(op.index(), s);
        assert_eq!(op.send(&tx1), Ok(()));
        assert_eq!(rx1.recv(), Ok(4));
    });
}

/// TestSelectStress and the DESIGN's race rule: many coroutines and threads select-send and
/// select-receive over shared channels of every kind; every value arrives exactly once.
#[test]
fn racing_selects_lose_and_duplicate_nothing() {
    on_thread(|| {
        let n = scale(20_000);
        let senders = 4;
        let chans = [bounded::<usize>(0), bounded(1), bounded(16), unbounded()];
        let seen = Arc::new(std::sync::Mutex::new(HashSet::new()));
        let received = Arc::new(AtomicUsize::new(0));
        let mut handles = Vec::new();
        for s in 0..senders {
            let txs: Vec<_> = chans.iter().map(|c| c.0.clone()).collect();
            handles.push(green::spawn(move || {
                for i in 0..n {
                    let v = s * n + i;
                    select! {
                        send(txs[0], v) -> r => r.unwrap(),
                        send(txs[1], v) -> r => r.unwrap(),
                        send(txs[2], v) -> r => r.unwrap(),
                        send(txs[3], v) -> r => r.unwrap(),
                    }
                }
            }));
        }
        let total = senders * n;
        let receiver = |rxs: Vec<channels::Receiver<usize>>| {
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
                    default(Duration::from_millis(20)) => continue,
                };
                let v = v.expect("no channel closes during the race");
                assert!(seen.lock().unwrap().insert(v), "value {v} received twice");
                received.fetch_add(1, Ordering::SeqCst);
            }
        };
        let rxs = || chans.iter().map(|c| c.1.clone()).collect::<Vec<_>>();
        let mut threads = Vec::new();
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
