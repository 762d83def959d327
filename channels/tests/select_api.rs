//! The parts of crossbeam-channel's select API a user switching to greenchan relies on (issue
//! 12): `select_biased!`, `default()` and trailing commas, any expression as an operand (an
//! optional channel through `never()`), and the dynamic `Select`: `ready`, `try_ready`,
//! `ready_timeout`, `ready_deadline`, `new_biased`, `remove`, reuse of one builder, `Clone`.
//! Written for greenchan; each test runs in a coroutine and, where the wait differs, on a
//! plain thread too.

mod common;

use std::time::{Duration, Instant};

use channels::{
    after, bounded, never, select, select_biased, unbounded, Receiver, RecvError, Select,
    SendError, TryRecvError,
};
use common::{in_coroutine, on_thread, settle};

/// Runs `f` in a coroutine, then on a plain thread.
fn both(f: fn()) {
    in_coroutine(f);
    on_thread(f);
}

#[test]
fn select_biased_picks_the_first_ready_arm() {
    both(|| {
        let (tx1, rx1) = unbounded::<i32>();
        let (tx2, rx2) = unbounded::<i32>();
        let (tx3, rx3) = unbounded::<i32>();
        for _ in 0..200 {
            tx1.send(1).unwrap();
            tx2.send(2).unwrap();
            tx3.send(3).unwrap();
            let got = select_biased! {
                recv(rx1) -> v => v.unwrap(),
                recv(rx2) -> v => v.unwrap(),
                recv(rx3) -> v => v.unwrap(),
            };
            assert_eq!(got, 1, "the first ready arm wins every time");
            // Without the first, the second wins.
            let got = select_biased! {
                recv(rx2) -> v => v.unwrap(),
                recv(rx3) -> v => v.unwrap(),
                default => 0,
            };
            assert_eq!(got, 2);
            assert_eq!(rx3.try_recv(), Ok(3));
        }
        // Sends too, and mixed.
        let (stx, srx) = bounded::<i32>(1);
        tx2.send(2).unwrap();
        let which = select_biased! {
            send(stx, 9) -> r => { r.unwrap(); "send" },
            recv(rx2) -> _ => "recv",
        };
        assert_eq!(which, "send");
        assert_eq!(srx.try_recv(), Ok(9));
        assert_eq!(rx2.try_recv(), Ok(2), "the other arm did not run");
    });
}

/// `select!` (unbiased) is not `select_biased!`: with two arms always ready, both run.
#[test]
fn select_is_not_biased() {
    in_coroutine(|| {
        let (tx1, rx1) = unbounded::<i32>();
        let (tx2, rx2) = unbounded::<i32>();
        let mut firsts = 0;
        for _ in 0..200 {
            tx1.send(1).unwrap();
            tx2.send(2).unwrap();
            let got = select! {
                recv(rx1) -> v => v.unwrap(),
                recv(rx2) -> v => v.unwrap(),
            };
            firsts += usize::from(got == 1);
            let _ = rx1.try_recv();
            let _ = rx2.try_recv();
        }
        // Uniform choice: 200 fair coin flips all landing one way has probability 2^-199.
        assert!(
            firsts > 0 && firsts < 200,
            "first arm chosen {firsts} of 200 times"
        );
    });
}

#[test]
fn default_with_empty_parens_and_trailing_commas() {
    both(|| {
        let (tx, rx) = bounded::<i32>(1);
        let r = select! {
            recv(rx,) -> _ => "value",
            default() => "default",
        };
        assert_eq!(r, "default");
        let r = select! {
            send(tx, 1,) -> res => { res.unwrap(); "sent" }
            default() => { "default" }
        };
        assert_eq!(r, "sent");
        let r = select! {
            recv(rx) -> v => v.unwrap(),
            default(Duration::from_millis(1),) => -1,
        };
        assert_eq!(r, 1);
        let r = select_biased! {
            recv(rx) -> _ => 0,
            default(Duration::ZERO) => 7,
        };
        assert_eq!(r, 7);
        // Only a default, with parens.
        let r = select! { default() => 5 };
        assert_eq!(r, 5);
    });
}

#[test]
fn optional_channels_through_never() {
    both(|| {
        let (tx, rx) = unbounded::<i32>();
        let present: Option<Receiver<i32>> = Some(rx);
        let absent: Option<Receiver<i32>> = None;
        tx.send(4).unwrap();
        // The examples crossbeam-channel's docs give for optional channels.
        let got = select! {
            recv(absent.as_ref().unwrap_or(&never())) -> _ => unreachable!("never() never fires"),
            recv(present.as_ref().unwrap_or(&never())) -> v => v.unwrap(),
        };
        assert_eq!(got, 4);
        let r: Option<&Receiver<i32>> = present.as_ref();
        tx.send(5).unwrap();
        let got = select! {
            recv(r.unwrap_or(&never())) -> v => v.unwrap(),
        };
        assert_eq!(got, 5);
        // An optional timeout: `never()` when there is none.
        let timeout: Option<Duration> = None;
        let got = select! {
            recv(present.as_ref().unwrap()) -> _ => "value",
            recv(timeout.map(after).unwrap_or(never())) -> _ => "timeout",
            default(Duration::from_millis(5)) => "default",
        };
        assert_eq!(got, "default");
        let timeout = Some(Duration::from_millis(2));
        let got = select! {
            recv(present.as_ref().unwrap()) -> _ => "value",
            recv(timeout.map(after).unwrap_or(never())) -> _ => "timeout",
        };
        assert_eq!(got, "timeout");
        // A method chain as a send's operand.
        let chans = [unbounded::<u8>()];
        let got = select! {
            send(chans.first().map(|c| &c.0).unwrap(), 3) -> r => r.is_ok(),
        };
        assert!(got);
        assert_eq!(chans[0].1.try_recv(), Ok(3));
    });
}

#[test]
fn ready_reports_without_completing() {
    both(|| {
        let (tx1, rx1) = unbounded::<i32>();
        let (tx2, rx2) = bounded::<i32>(0);
        let mut sel = Select::new();
        let a = sel.recv(&rx1);
        let b = sel.recv(&rx2);
        assert!(sel.try_ready().is_err());
        assert!(sel.ready_timeout(Duration::from_millis(2)).is_err());
        assert!(sel
            .ready_deadline(Instant::now() + Duration::from_millis(2))
            .is_err());
        tx1.send(1).unwrap();
        assert_eq!(sel.try_ready(), Ok(a));
        assert_eq!(sel.ready(), a);
        assert_eq!(sel.ready_timeout(Duration::from_secs(60)), Ok(a));
        assert_eq!(rx1.try_recv(), Ok(1), "ready() took nothing");
        // A rendezvous receive is ready once a sender waits; ready() wakes when one arrives.
        let h = std::thread::spawn(move || tx2.send(2).unwrap());
        assert_eq!(sel.ready(), b);
        assert_eq!(rx2.recv(), Ok(2));
        h.join().unwrap();
        // The sender is gone: a closed channel is ready.
        assert_eq!(sel.ready(), b);
        assert_eq!(rx2.try_recv(), Err(TryRecvError::Closed));
    });
}

#[test]
fn ready_wakes_on_each_kind_of_change() {
    both(|| {
        // A receive becomes ready: a value is buffered.
        let (tx, rx) = bounded::<i32>(1);
        let mut sel = Select::new();
        let r = sel.recv(&rx);
        let h = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(5));
            tx.send(1).unwrap();
            tx
        });
        assert_eq!(sel.ready(), r);
        let tx = h.join().unwrap();
        assert_eq!(rx.try_recv(), Ok(1));
        // A send becomes ready: a slot frees up.
        tx.send(2).unwrap();
        let mut sel = Select::new();
        let s = sel.send(&tx, 3);
        let rx2 = rx.clone();
        let h = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(5));
            assert_eq!(rx2.recv(), Ok(2));
        });
        assert_eq!(sel.ready(), s);
        h.join().unwrap();
        // ready() performed nothing: the send is still to be done.
        assert!(rx.is_empty());
        assert_eq!(sel.select().send(&tx), Ok(()));
        assert_eq!(rx.try_recv(), Ok(3));
        // A send on a rendezvous channel becomes ready: a select parks to receive.
        let (ztx, zrx) = bounded::<i32>(0);
        let mut sel = Select::new();
        let s = sel.send(&ztx, 4);
        let h = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(5));
            select! { recv(zrx) -> v => v.unwrap() }
        });
        assert_eq!(sel.ready(), s);
        assert_eq!(sel.select().send(&ztx), Ok(()));
        assert_eq!(h.join().unwrap(), 4);
        // Close makes both directions ready.
        let (ctx, crx) = bounded::<i32>(0);
        let mut sel = Select::new();
        let r = sel.recv(&crx);
        let h = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(5));
            drop(ctx);
        });
        assert_eq!(sel.ready(), r);
        h.join().unwrap();
        // Timers are ready when due.
        let timer = after(Duration::from_millis(3));
        let mut sel = Select::new();
        let t = sel.recv(&timer);
        sel.recv(&rx);
        assert_eq!(sel.ready(), t);
        assert!(
            timer.try_recv().is_ok(),
            "ready() left the instant in place"
        );
    });
}

#[test]
fn new_biased_and_remove() {
    both(|| {
        let (tx1, rx1) = unbounded::<i32>();
        let (tx2, rx2) = unbounded::<i32>();
        let (tx3, rx3) = unbounded::<i32>();
        let mut sel = Select::new_biased();
        let a = sel.recv(&rx1);
        let b = sel.recv(&rx2);
        let c = sel.recv(&rx3);
        for _ in 0..50 {
            tx1.send(1).unwrap();
            tx2.send(2).unwrap();
            tx3.send(3).unwrap();
            let op = sel.select();
            assert_eq!(op.index(), a);
            assert_eq!(op.recv(&rx1), Ok(1));
            assert_eq!(sel.try_ready(), Ok(b), "biased readiness too");
            let _ = rx2.try_recv();
            let _ = rx3.try_recv();
        }
        // Removing keeps the other indices, and the order.
        sel.remove(a);
        tx1.send(1).unwrap();
        tx2.send(2).unwrap();
        tx3.send(3).unwrap();
        let op = sel.select();
        assert_eq!(op.index(), b);
        assert_eq!(op.recv(&rx2), Ok(2));
        sel.remove(b);
        let op = sel.select();
        assert_eq!(op.index(), c);
        assert_eq!(op.recv(&rx3), Ok(3));
        assert_eq!(rx1.try_recv(), Ok(1), "a removed operation takes nothing");
        // Indices keep counting after removals.
        let d = sel.recv(&rx1);
        assert_eq!(d, 3);
    });
}

/// `Select::recv` takes a `&&Receiver` too, as from iterating over a `Vec<&Receiver>`.
#[test]
fn receivers_by_reference() {
    both(|| {
        let chans: Vec<_> = (0..3).map(|_| unbounded::<usize>()).collect();
        let refs: Vec<&Receiver<usize>> = chans.iter().map(|(_, r)| r).collect();
        chans[2].0.send(2).unwrap();
        let mut sel = Select::new();
        for r in &refs {
            sel.recv(r);
        }
        let op = sel.select();
        let i = op.index();
        assert_eq!(i, 2);
        assert_eq!(op.recv(&refs[i]), Ok(2));
        let senders: Vec<_> = chans.iter().map(|(s, _)| s).collect();
        let mut sel = Select::new();
        sel.send(&senders[0], 7);
        sel.select().send(&senders[0]).unwrap();
        assert_eq!(chans[0].1.try_recv(), Ok(7));
    });
}

#[test]
#[should_panic(expected = "no operation with this index")]
fn remove_twice_panics() {
    let (_tx, rx) = unbounded::<i32>();
    let mut sel = Select::new();
    let a = sel.recv(&rx);
    sel.remove(a);
    sel.remove(a);
}

#[test]
fn one_select_many_times() {
    both(|| {
        let (tx1, rx1) = bounded::<usize>(0);
        let (tx2, rx2) = bounded::<usize>(0);
        let n = 1000;
        let h = std::thread::spawn(move || {
            for i in 0..n {
                if i % 2 == 0 {
                    tx1.send(i).unwrap();
                } else {
                    tx2.send(i).unwrap();
                }
            }
        });
        let mut sel = Select::new();
        let a = sel.recv(&rx1);
        let b = sel.recv(&rx2);
        let mut got = Vec::new();
        for _ in 0..n {
            let op = sel.select();
            let v = match op.index() {
                i if i == a => op.recv(&rx1).unwrap(),
                i if i == b => op.recv(&rx2).unwrap(),
                _ => unreachable!(),
            };
            got.push(v);
        }
        h.join().unwrap();
        assert_eq!(got, (0..n).collect::<Vec<_>>(), "in order, none lost");
        // Both closed now: each select reports a close.
        let op = sel.select();
        let res = if op.index() == a {
            op.recv(&rx1)
        } else {
            op.recv(&rx2)
        };
        assert_eq!(res, Err(RecvError));
    });
}

/// A send operation sends its value once; reused, the builder passes it over, and the value
/// of a send that never ran is dropped with the builder (never sent twice, never lost).
#[test]
fn reused_select_sends_each_value_once() {
    both(|| {
        let (tx, rx) = unbounded::<String>();
        let (_otx, orx) = unbounded::<i32>();
        let mut sel = Select::new();
        let s = sel.send(&tx, "once".to_string());
        let r = sel.recv(&orx);
        let op = sel.select();
        assert_eq!(op.index(), s);
        assert_eq!(op.send(&tx), Ok(()));
        // Spent: now nothing is ready.
        assert!(sel.try_select().is_err());
        assert!(sel.select_timeout(Duration::from_millis(2)).is_err());
        assert_eq!(rx.try_recv(), Ok("once".to_string()));
        assert!(rx.try_recv().is_err(), "sent exactly once");
        // While the reused select waits, a receiver on the spent send's channel finds nothing
        // there to take (the spent operation registers no empty slot).
        let rx2 = rx.clone();
        let h = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(5)); // most likely after the select parks
            rx2.recv_timeout(Duration::from_millis(20))
        });
        assert!(sel.select_timeout(Duration::from_millis(50)).is_err());
        assert!(h.join().unwrap().unwrap_err().is_timeout());
        // To send again, remove and add with a new value.
        sel.remove(s);
        let s2 = sel.send(&tx, "twice".to_string());
        let op = sel.select();
        assert_eq!(op.index(), s2);
        op.send(&tx).unwrap();
        assert_eq!(rx.try_recv(), Ok("twice".to_string()));
        let _ = r;
        // A closed channel hands the value back, once.
        drop(rx);
        let mut sel = Select::new();
        sel.send(&tx, "back".to_string());
        let err: SendError<String> = sel.select().send(&tx).unwrap_err();
        assert_eq!(err.into_inner(), "back");
        assert!(
            sel.try_select().is_err(),
            "the value came back: nothing left to send"
        );
    });
}

#[test]
fn cloned_select() {
    both(|| {
        let (tx1, rx1) = unbounded::<i32>();
        let (tx2, rx2) = unbounded::<i32>();
        let (tx3, rx3) = unbounded::<i32>();
        let mut base = Select::new_biased();
        let a = base.recv(&rx1);
        let b = base.recv(&rx2);
        let mut copy = base.clone();
        // The copy can grow without touching the base.
        let c = copy.recv(&rx3);
        assert_eq!(c, 2);
        tx3.send(3).unwrap();
        assert!(base.try_select().is_err());
        let op = copy.select();
        assert_eq!(op.index(), c);
        assert_eq!(op.recv(&rx3), Ok(3));
        // Both select independently, with the same indices and bias.
        tx1.send(1).unwrap();
        tx2.send(2).unwrap();
        let op = copy.select();
        assert_eq!(op.index(), a);
        assert_eq!(op.recv(&rx1), Ok(1));
        let op = base.select();
        assert_eq!(op.index(), b);
        assert_eq!(op.recv(&rx2), Ok(2));
        // A clone's send operations carry no value: never ready there, still in the base.
        let (stx, srx) = bounded::<i32>(1);
        let mut with_send = Select::new();
        let s = with_send.send(&stx, 8);
        let mut send_copy = with_send.clone();
        assert!(send_copy.try_select().is_err());
        let op = with_send.select();
        assert_eq!(op.index(), s);
        op.send(&stx).unwrap();
        assert_eq!(srx.try_recv(), Ok(8));
    });
}

#[test]
#[should_panic(expected = "without reading its outcome")]
fn dropping_a_selected_operation_unread_panics() {
    let (tx, rx) = unbounded::<i32>();
    tx.send(1).unwrap();
    let mut sel = Select::new();
    sel.recv(&rx);
    let _index = sel.select().index(); // the received value would be lost
}

#[test]
fn select_over_timers_and_channels() {
    both(|| {
        // The dynamic select parks until the earliest timer.
        let (_tx, rx) = unbounded::<i32>();
        let late = after(Duration::from_secs(3600));
        let soon = after(Duration::from_millis(3));
        let mut sel = Select::new();
        sel.recv(&rx);
        sel.recv(&late);
        let s = sel.recv(&soon);
        let start = Instant::now();
        let op = sel.select();
        assert_eq!(op.index(), s);
        let at = op.recv(&soon).unwrap();
        assert!(at <= Instant::now() && at >= start);
        // Spent: the `after` is not ready again, the select times out.
        let mut sel = Select::new();
        sel.recv(&soon);
        assert!(sel.select_timeout(Duration::from_millis(5)).is_err());
        settle(1);
    });
}
