//! Ports of the channel and select tests of Go's `src/runtime/chan_test.go` (golang/go):
//! TestChan (over capacities 0..N), TestNonblockRecvRace, TestNonblockSelectRace(2),
//! TestSelfSelect, TestSelectStress, TestChanSendInterface, TestPseudoRandomSend,
//! TestMultiConsumer, TestShrinkStackDuringBlockedSend, TestSelectFairness and
//! TestSelectDuplicateChannel.
//!
//! Where Go sleeps a millisecond to let another goroutine block, these ports yield a number of
//! times: the assertions that follow hold whether or not the other coroutine got to block, so
//! the waits only affect how much the test exercises, never whether a correct channel passes.
//! Where Go checks "not yet", these ports also check "and then, yes".

mod common;

use std::any::Any;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use channels::{
    bounded, never, select, Receiver, RecvError, Select, Sender, TryRecvError, TrySendError,
};
use common::{in_coroutine, on_one_worker, scale, settle};

fn test_chan(chan_cap: usize) {
    {
        // A receive from an empty channel blocks.
        let (tx, rx) = bounded::<i32>(chan_cap);
        let flags: Vec<_> = (0..2).map(|_| Arc::new(AtomicBool::new(false))).collect();
        let receivers: Vec<_> = flags
            .iter()
            .map(|f| {
                let (rx, f) = (rx.clone(), f.clone());
                green::spawn(move || {
                    let v = rx.recv();
                    f.store(true, Ordering::SeqCst);
                    v
                })
            })
            .collect();
        settle(50);
        for f in &flags {
            assert!(
                !f.load(Ordering::SeqCst),
                "chan[{chan_cap}]: receive from empty chan"
            );
        }
        // A non-blocking receive does not block.
        select! {
            recv(rx) -> _ => panic!("chan[{chan_cap}]: receive from empty chan"),
            default => {}
        }
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        tx.send(0).unwrap();
        tx.send(0).unwrap();
        for r in receivers {
            assert_eq!(r.join().unwrap(), Ok(0));
        }
        assert!(flags.iter().all(|f| f.load(Ordering::SeqCst)));
    }

    {
        // A send to a full channel blocks.
        let (tx, rx) = bounded::<usize>(chan_cap);
        for i in 0..chan_cap {
            tx.send(i).unwrap();
        }
        let sent = Arc::new(AtomicBool::new(false));
        let (t, s) = (tx.clone(), sent.clone());
        let sender = green::spawn(move || {
            t.send(usize::MAX).unwrap();
            s.store(true, Ordering::SeqCst);
        });
        settle(50);
        assert!(
            !sent.load(Ordering::SeqCst),
            "chan[{chan_cap}]: send to full chan"
        );
        // A non-blocking send does not block.
        select! {
            send(tx, 0) -> _ => panic!("chan[{chan_cap}]: send to full chan"),
            default => {}
        }
        assert!(matches!(tx.try_send(1), Err(TrySendError::Full(1))));
        let first = rx.recv().unwrap();
        assert_eq!(first, if chan_cap == 0 { usize::MAX } else { 0 });
        sender.join().unwrap();
        assert!(sent.load(Ordering::SeqCst));
        assert_eq!(rx.len(), chan_cap, "the blocked value took the freed slot");
    }

    {
        // Buffered values, then the close, from a closed channel.
        let (tx, rx) = bounded::<usize>(chan_cap);
        for i in 0..chan_cap {
            tx.send(i).unwrap();
        }
        assert!(tx.close());
        for i in 0..chan_cap {
            assert_eq!(rx.recv(), Ok(i), "chan[{chan_cap}]");
        }
        assert_eq!(rx.recv(), Err(RecvError));
        assert_eq!(rx.recv(), Err(RecvError));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    }

    {
        // A close unblocks a receive.
        let (tx, rx) = bounded::<i32>(chan_cap);
        let (done_tx, done_rx) = bounded(0);
        green::spawn(move || done_tx.send(rx.recv() == Err(RecvError)).unwrap());
        settle(20);
        tx.close();
        assert!(
            done_rx.recv().unwrap(),
            "chan[{chan_cap}]: received a value from closed chan"
        );
    }

    {
        // 100 integers arrive uncorrupted and in FIFO order, twice.
        let (tx, rx) = bounded::<usize>(chan_cap);
        for _ in 0..2 {
            let t = tx.clone();
            green::spawn(move || {
                for i in 0..100 {
                    t.send(i).unwrap();
                }
            });
            for i in 0..100 {
                assert_eq!(rx.recv(), Ok(i), "chan[{chan_cap}]");
            }
        }

        // 1000 integers from each of 4 coroutines, received by 4 coroutines: each value
        // exactly 4 times in all.
        const P: usize = 4;
        const L: usize = 1000;
        for _ in 0..P {
            let t = tx.clone();
            green::spawn(move || {
                for i in 0..L {
                    t.send(i).unwrap();
                }
            });
        }
        let (done_tx, done_rx) = bounded::<Vec<usize>>(0);
        for _ in 0..P {
            let (r, d) = (rx.clone(), done_tx.clone());
            green::spawn(move || {
                let mut recv = vec![0; L];
                for _ in 0..L {
                    recv[r.recv().unwrap()] += 1;
                }
                d.send(recv).unwrap();
            });
        }
        let mut recv = vec![0; L];
        for _ in 0..P {
            for (k, v) in done_rx.recv().unwrap().into_iter().enumerate() {
                recv[k] += v;
            }
        }
        assert!(recv.iter().all(|&v| v == P), "chan[{chan_cap}]: {recv:?}");
    }

    {
        // len and capacity.
        let (tx, rx) = bounded::<usize>(chan_cap);
        assert_eq!((rx.len(), rx.capacity()), (0, Some(chan_cap)));
        for i in 0..chan_cap {
            tx.send(i).unwrap();
        }
        assert_eq!((tx.len(), tx.capacity()), (chan_cap, Some(chan_cap)));
        assert!(tx.is_full() && rx.is_full());
    }
}

#[test]
fn test_chan_over_capacities() {
    let n = scale(200);
    in_coroutine(move || {
        for chan_cap in 0..n {
            test_chan(chan_cap);
        }
    });
}

#[test]
fn test_chan_one_worker() {
    on_one_worker(|| {
        for chan_cap in [0, 1, 2, 5, 17] {
            test_chan(chan_cap);
        }
    });
}

#[test]
fn nonblock_recv_race() {
    in_coroutine(|| {
        for _ in 0..scale(10_000) {
            let (tx, rx) = bounded::<i32>(1);
            tx.send(1).unwrap();
            let r = rx.clone();
            let h = green::spawn(move || {
                select! {
                    recv(r) -> v => v == Ok(1) || v == Err(RecvError),
                    default => false,
                }
            });
            tx.close();
            let _ = rx.recv(); // the value or the close, whoever wins
            assert!(h.join().unwrap(), "chan is not ready");
        }
    });
}

/// A select acts on the state of the channels at one moment: from the time the coroutine is
/// created, c1 or c2 is always ready, so the non-blocking select must never take `default`.
#[test]
fn nonblock_select_race() {
    in_coroutine(|| {
        let (done_tx, done_rx) = bounded::<bool>(1);
        for _ in 0..scale(100_000) {
            let (c1_tx, c1) = bounded::<i32>(1);
            let (c2_tx, c2) = bounded::<i32>(1);
            c1_tx.send(1).unwrap();
            let (a, b, d) = (c1.clone(), c2.clone(), done_tx.clone());
            green::spawn(move || {
                let ok = select! {
                    recv(a) -> _ => true,
                    recv(b) -> _ => true,
                    default => false,
                };
                d.send(ok).unwrap();
            });
            c2_tx.send(1).unwrap();
            select! { recv(c1) -> _ => {}, default => {} }
            assert!(done_rx.recv().unwrap(), "no chan is ready");
        }
    });
}

/// As `nonblock_select_race`, with a close of c2 instead of a send on it.
#[test]
fn nonblock_select_race2() {
    in_coroutine(|| {
        let (done_tx, done_rx) = bounded::<bool>(1);
        for _ in 0..scale(100_000) {
            let (c1_tx, c1) = bounded::<i32>(1);
            let (c2_tx, c2) = bounded::<i32>(0);
            c1_tx.send(1).unwrap();
            let (a, b, d) = (c1.clone(), c2.clone(), done_tx.clone());
            green::spawn(move || {
                let ok = select! {
                    recv(a) -> _ => true,
                    recv(b) -> _ => true,
                    default => false,
                };
                d.send(ok).unwrap();
            });
            c2_tx.close();
            select! { recv(c1) -> _ => {}, default => {} }
            assert!(done_rx.recv().unwrap(), "no chan is ready");
        }
    });
}

/// Send and receive on the same channel in one select neither crash nor deadlock, and on a
/// rendezvous channel a coroutine never receives its own value.
#[test]
fn self_select() {
    in_coroutine(|| {
        for chan_cap in [0, 10] {
            let (tx, rx) = bounded::<usize>(chan_cap);
            let hs: Vec<_> = (0..2)
                .map(|p| {
                    let (c_tx, c_rx) = (tx.clone(), rx.clone());
                    green::spawn(move || {
                        for i in 0..1000 {
                            let got = if p == 0 || i % 2 == 0 {
                                select! {
                                    send(c_tx, p) -> r => { r.unwrap(); None },
                                    recv(c_rx) -> v => Some(v.unwrap()),
                                }
                            } else {
                                select! {
                                    recv(c_rx) -> v => Some(v.unwrap()),
                                    send(c_tx, p) -> r => { r.unwrap(); None },
                                }
                            };
                            if chan_cap == 0 {
                                assert_ne!(got, Some(p), "self receive");
                            }
                        }
                    })
                })
                .collect();
            for h in hs {
                h.join().unwrap();
            }
        }
    });
}

/// 4 coroutines send N values on each of 4 channels, 4 receive N from each, one sends N on
/// each in a single select (dropping a channel's arm once it has sent N there), and one
/// receives N from each in a single select (replacing a drained channel by `never()`). All of
/// it interacts chaotically; it must not deadlock, and every value must arrive once.
#[test]
fn select_stress() {
    let n = scale(100_000);
    in_coroutine(move || {
        let chans = [bounded::<usize>(0), bounded(0), bounded(2), bounded(3)];
        let total = Arc::new(AtomicUsize::new(0));
        let mut hs = Vec::new();
        for (k, (tx, rx)) in chans.iter().enumerate() {
            let tx = tx.clone();
            hs.push(green::spawn(move || {
                for i in 0..n {
                    tx.send(k * n + i).unwrap();
                }
            }));
            let (rx, total) = (rx.clone(), total.clone());
            hs.push(green::spawn(move || {
                for _ in 0..n {
                    total.fetch_add(rx.recv().unwrap(), Ordering::Relaxed);
                }
            }));
        }
        let txs: Vec<Sender<usize>> = chans.iter().map(|c| c.0.clone()).collect();
        hs.push(green::spawn(move || {
            let mut sent = [0usize; 4];
            for _ in 0..4 * n {
                let mut sel = Select::new();
                let mut arms = Vec::new();
                // Go's order: c[3], c[2], c[0], c[1].
                for k in [3, 2, 0, 1] {
                    if sent[k] < n {
                        arms.push((sel.send(&txs[k], 4 * n + k * n + sent[k]), k));
                    }
                }
                let op = sel.select();
                let k = arms.iter().find(|(i, _)| *i == op.index()).unwrap().1;
                op.send(&txs[k]).unwrap();
                sent[k] += 1;
            }
        }));
        let rxs: Vec<Receiver<usize>> = chans.iter().map(|c| c.1.clone()).collect();
        let t = total.clone();
        hs.push(green::spawn(move || {
            let mut got = [0usize; 4];
            let mut c = rxs.clone();
            for _ in 0..4 * n {
                let (k, v) = select! {
                    recv(c[0]) -> v => (0, v),
                    recv(c[1]) -> v => (1, v),
                    recv(c[2]) -> v => (2, v),
                    recv(c[3]) -> v => (3, v),
                };
                t.fetch_add(v.unwrap(), Ordering::Relaxed);
                got[k] += 1;
                if got[k] == n {
                    c[k] = never();
                }
            }
        }));
        for h in hs {
            h.join().unwrap();
        }
        let m = 8 * n;
        assert_eq!(
            total.load(Ordering::Relaxed),
            m * (m - 1) / 2,
            "values lost or duplicated"
        );
        for (_, rx) in &chans {
            assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        }
    });
}

/// Sends of boxed trait objects, in selects that must fall through to default when full.
#[test]
fn chan_send_interface() {
    in_coroutine(|| {
        let m: Arc<dyn Any + Send + Sync> = Arc::new(());
        let (tx, rx) = bounded::<Arc<dyn Any + Send + Sync>>(1);
        tx.send(m.clone()).unwrap();
        let r = select! { send(tx, m.clone()) -> _ => "sent", default => "full" };
        assert_eq!(r, "full");
        let r = select! {
            send(tx, m.clone()) -> _ => "sent m",
            send(tx, Arc::new(5u8)) -> _ => "sent new",
            default => "full",
        };
        assert_eq!(r, "full");
        assert_eq!(Arc::strong_count(&m), 2, "the unsent clones were dropped");
        assert!(Arc::ptr_eq(&rx.recv().unwrap(), &m));
    });
}

/// A select over two ready send arms picks both, pseudo-randomly.
#[test]
fn pseudo_random_send() {
    in_coroutine(|| {
        let n = 100;
        for chan_cap in [0, n] {
            let (tx, rx) = bounded::<usize>(chan_cap);
            let h = green::spawn(move || {
                (0..n)
                    .map(|_| {
                        green::yield_now();
                        rx.recv().unwrap()
                    })
                    .collect::<Vec<_>>()
            });
            for _ in 0..n {
                select! {
                    send(tx, 1) -> r => r.unwrap(),
                    send(tx, 0) -> r => r.unwrap(),
                }
            }
            let l = h.join().unwrap();
            let n1: usize = l.iter().sum();
            let n0 = n - n1;
            assert!(
                n0 > n / 10 && n1 > n / 10,
                "want pseudorandom, got {n0} zeros and {n1} ones (chan cap {chan_cap})"
            );
        }
    });
}

#[test]
fn multi_consumer() {
    const NWORK: usize = 23;
    let niter = scale(271_828);
    let pn = [2, 3, 7, 11, 13, 17, 19, 23, 27, 31];
    let (n, s, expect) = in_coroutine(move || {
        let (q_tx, q_rx) = bounded::<usize>(NWORK * 3);
        let (r_tx, r_rx) = bounded::<usize>(NWORK * 3);
        let workers: Vec<_> = (0..NWORK)
            .map(|w| {
                let (q, r) = (q_rx.clone(), r_tx.clone());
                green::spawn(move || {
                    for v in &q {
                        // Mess with the FIFO-ish nature of the range.
                        if pn[w % pn.len()] == v {
                            green::yield_now();
                        }
                        r.send(v).unwrap();
                    }
                })
            })
            .collect();
        drop((q_rx, r_tx));
        // Feeder and closer.
        let feeder = green::spawn(move || {
            let mut expect = 0;
            for i in 0..niter {
                let v = pn[i % pn.len()];
                expect += v;
                q_tx.send(v).unwrap();
            }
            q_tx.close(); // no more work
            for w in workers {
                w.join().unwrap(); // workers done: their result senders are gone, r closes
            }
            expect
        });
        let (mut n, mut s) = (0, 0);
        for v in &r_rx {
            n += 1;
            s += v;
        }
        (n, s, feeder.join().unwrap())
    });
    assert_eq!(
        (n, s),
        (niter, expect),
        "expected sum {expect} from {niter} iterations"
    );
}

#[inline(never)]
fn use_stack(depth: usize) -> u64 {
    let mut buf = [0u8; 1024];
    buf[depth % 1024] = depth as u8;
    let buf = std::hint::black_box(buf);
    if depth == 0 {
        buf.iter().map(|&b| b as u64).sum()
    } else {
        use_stack(depth - 1) + buf[depth % 1024] as u64
    }
}

/// Go's TestShrinkStackDuringBlockedSend: a coroutine that uses a lot of stack between sends
/// on a rendezvous channel keeps delivering intact values.
#[test]
fn stack_use_between_blocked_sends() {
    in_coroutine(|| {
        const N: usize = 10;
        let (tx, rx) = bounded::<usize>(0);
        let h = green::Builder::new()
            .name("stack-user".into())
            .stack_size(512 << 10)
            .spawn(move || {
                for i in 0..N {
                    tx.send(i).unwrap();
                    assert_eq!(use_stack(100), 5050, "1 + 2 + ... + 100");
                }
            })
            .unwrap();
        for i in 0..N {
            assert_eq!(rx.recv(), Ok(i), "bad channel read");
            green::sleep(Duration::from_millis(1));
        }
        h.join().unwrap();
    });
}

/// A select over always-ready channels is fair: over many trials, each is chosen about half
/// the time (within 10 standard deviations, as Go's test).
#[test]
fn select_fairness() {
    const TRIALS: usize = 10_000;
    let (cnt1, cnt2) = in_coroutine(|| {
        let (c1_tx, c1) = bounded::<u8>(TRIALS + 1);
        let (c2_tx, c2) = bounded::<u8>(TRIALS + 1);
        for _ in 0..=TRIALS {
            c1_tx.send(1).unwrap();
            c2_tx.send(2).unwrap();
        }
        let (_c3_tx, c3) = bounded::<u8>(0);
        let (_c4_tx, c4) = bounded::<u8>(0);
        let (out_tx, out) = bounded::<u8>(0);
        let (done_tx, done) = bounded::<()>(0);
        let h = green::spawn(move || loop {
            let b = select! {
                recv(c3) -> b => b.unwrap(),
                recv(c4) -> b => b.unwrap(),
                recv(c1) -> b => b.unwrap(),
                recv(c2) -> b => b.unwrap(),
            };
            select! {
                send(out_tx, b) -> r => r.unwrap(),
                recv(done) -> _ => return,
            }
        });
        let (mut cnt1, mut cnt2) = (0, 0);
        for _ in 0..TRIALS {
            match out.recv().unwrap() {
                1 => cnt1 += 1,
                2 => cnt2 += 1,
                b => panic!("unexpected value {b} on channel"),
            }
        }
        drop(done_tx);
        h.join().unwrap();
        (cnt1, cnt2)
    });
    let mean = TRIALS as f64 * 0.5;
    let stddev = (TRIALS as f64 * 0.25).sqrt();
    assert!(
        (cnt1 as f64 - mean).abs() <= 10.0 * stddev,
        "unfair select: in {TRIALS} trials, results were {cnt1}, {cnt2}"
    );
}

/// A coroutine can be queued on the same channel several times (two arms on c); when it is
/// woken through another channel (d), it must leave c's queue intact for the next waiter.
#[test]
fn select_duplicate_channel() {
    in_coroutine(|| {
        let (c_tx, c) = bounded::<i32>(0);
        let (d_tx, d) = bounded::<i32>(0);
        let (e_tx, e) = bounded::<i32>(0);
        let c2 = c.clone();
        // Coroutine A.
        let a = green::spawn(move || {
            let got = select! {
                recv(c2) -> v => ("c", v),
                recv(c2) -> v => ("c", v),
                recv(d) -> v => ("d", v),
            };
            e_tx.send(9).unwrap();
            got
        });
        green::sleep(Duration::from_millis(1)); // A gets queued first on c (likely)
                                                // Coroutine B.
        let b = green::spawn(move || c.recv());
        green::sleep(Duration::from_millis(1)); // B gets queued on c before we go on
        d_tx.send(7).unwrap(); // wakes A, which leaves c's queue
        assert_eq!(e.recv(), Ok(9)); // A is done
        c_tx.send(8).unwrap(); // wakes B, not the departed A
        assert_eq!(a.join().unwrap(), ("d", Ok(7)));
        assert_eq!(b.join().unwrap(), Ok(8));
    });
}
