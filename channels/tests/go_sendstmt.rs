//! Port of Go's `test/chan/sendstmt.go` (golang/go): parsing cases of the send statement,
//! translated to what they check in Rust: a channel received from a channel of channels used
//! as a select send operand (`case <-cc <- 2`), and a send of a compound expression.
//! Extended with the Go spec rule sendstmt.go leans on: a select evaluates every channel
//! operand and every send value exactly once, in source order, on entry, whichever arm runs;
//! and crossbeam-channel's "channel through channel" theme.

mod common;

use std::cell::RefCell;

use channels::{bounded, never, select, unbounded, Receiver, Sender};
use common::in_coroutine;

#[test]
fn chanchan() {
    in_coroutine(|| {
        let (cc_tx, cc_rx) = bounded::<Sender<i32>>(1);
        let (c_tx, c_rx) = bounded::<i32>(1);
        cc_tx.send(c_tx).unwrap();
        let c = cc_rx.recv().unwrap();
        select! {
            send(c, 2) -> r => r.unwrap(),
            default => panic!("nonblock"),
        }
        assert_eq!(c_rx.recv(), Ok(2), "bad receive");
    });
}

#[test]
fn sendprec() {
    let (tx, rx) = bounded::<bool>(1);
    // Go's sendprec: `c <- false || true` sends the whole expression, not `false`.
    let (f, t) = (std::hint::black_box(false), std::hint::black_box(true));
    tx.send(f || t).unwrap();
    assert!(rx.recv().unwrap(), "sent false");
}

#[test]
fn select_operands_are_evaluated_once_in_source_order() {
    in_coroutine(|| {
        let log = RefCell::new(Vec::new());
        let note = |what: &'static str| log.borrow_mut().push(what);
        let (tx_full, _keep) = bounded::<i32>(0); // nobody receives: never ready
        let (tx_ready, rx_ready) = bounded::<i32>(1);
        let nv = never::<i32>();
        let r = select! {
            recv({ note("chan 1"); &nv }) -> _ => "never",
            send({ note("chan 2"); &tx_full }, { note("value 2"); 20 }) -> _ => "full",
            send({ note("chan 3"); &tx_ready }, { note("value 3"); 30 }) -> r => { r.unwrap(); "ready" }
        };
        assert_eq!(r, "ready");
        assert_eq!(
            *log.borrow(),
            ["chan 1", "chan 2", "value 2", "chan 3", "value 3"],
            "each operand once, in source order"
        );
        assert_eq!(rx_ready.try_recv(), Ok(30));
        log.borrow_mut().clear();
        let r = select! {
            send({ note("chan"); &tx_full }, { note("value"); 1 }) -> _ => "sent",
            default => "default",
        };
        assert_eq!(r, "default");
        assert_eq!(
            *log.borrow(),
            ["chan", "value"],
            "evaluated even when default runs"
        );
    });
}

/// crossbeam-channel's channel_through_channel: send a channel's handles through channels and
/// use them on the other side.
#[test]
fn channel_through_channel() {
    in_coroutine(|| {
        let n = 100;
        let (tx, rx) = bounded::<Receiver<usize>>(0);
        let h = green::spawn(move || {
            let mut sum = 0;
            for inner in &rx {
                sum += inner.recv().unwrap();
            }
            sum
        });
        for i in 0..n {
            let (itx, irx) = unbounded();
            itx.send(i).unwrap();
            tx.send(irx).unwrap();
        }
        drop(tx);
        assert_eq!(h.join().unwrap(), n * (n - 1) / 2);

        // A reply channel carried inside the request, as in Go servers.
        let (req_tx, req_rx) = bounded::<(u32, Sender<u32>)>(0);
        let server = green::spawn(move || {
            for (x, reply) in &req_rx {
                reply.send(x * x).unwrap();
            }
        });
        for x in 0..50 {
            let (rtx, rrx) = bounded(0);
            req_tx.send((x, rtx)).unwrap();
            assert_eq!(rrx.recv(), Ok(x * x));
        }
        drop(req_tx);
        server.join().unwrap();
    });
}
