//! A coroutine parked in a channel operation can be unwound without ever completing it: a
//! runtime that shuts down drops its queued coroutines by unwinding their stacks, and one that
//! was woken spuriously (an `unpark` that was not the channel's) is queued while its waiter is
//! still registered. The unwinding operation must take its registration with it: a later send
//! would otherwise hand its value to a frame that no longer exists, and the value would be lost.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use channels::{bounded, select, Receiver, TrySendError};
use common::on_thread;

/// Parks `op` on a one-worker runtime, wakes it spuriously while the worker is busy, shuts the
/// runtime down so that the woken coroutine is dropped from its queue, and returns after the
/// shutdown. `op` must park on a channel operation right after it is called.
fn unwind_while_registered(op: impl FnOnce() + Send + 'static) {
    let rt = Arc::new(green::Runtime::builder().workers(1).build().unwrap());
    let started = Arc::new(AtomicBool::new(false));
    let s = started.clone();
    let parked = rt
        .spawn(move || {
            s.store(true, Ordering::Release);
            op();
        })
        .unwrap();
    while !started.load(Ordering::Acquire) {
        std::thread::yield_now();
    }
    // The only worker runs `parked` until it parks (nothing preempts it), so once the blocker
    // runs, `parked` is registered in its channel and parked.
    let (gate, running) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let (g, r) = (gate.clone(), running.clone());
    let blocker = rt
        .spawn(move || {
            r.store(true, Ordering::Release);
            while !g.load(Ordering::Acquire) {
                std::hint::spin_loop();
            }
        })
        .unwrap();
    while !running.load(Ordering::Acquire) {
        std::thread::yield_now();
    }
    // A spurious wake-up: `parked` is queued, still inside its channel operation.
    parked.coroutine().unpark();
    let r2 = rt.clone();
    let stopper = std::thread::spawn(move || r2.shutdown());
    while !rt.is_shutdown() {
        std::thread::yield_now();
    }
    gate.store(true, Ordering::Release);
    stopper.join().unwrap().unwrap();
    blocker.join().unwrap();
    // It never resumed: it was unwound, and its joiner hears so.
    assert!(parked.join().is_err(), "the parked coroutine was dropped");
}

fn assert_nobody_receives(rx_alive: &Receiver<u32>, tx: &channels::Sender<u32>) {
    // The channel is open (a receiver handle is alive), and nobody waits on it any more:
    // the value must come back instead of vanishing into the unwound frame.
    assert!(!rx_alive.is_closed());
    match tx.try_send(42) {
        Err(TrySendError::Full(v)) => assert_eq!(v, 42),
        other => panic!("a send found a receiver that no longer exists: {other:?}"),
    }
}

#[test]
fn an_unwound_receive_leaves_no_registration_behind() {
    on_thread(|| {
        let (tx, rx) = bounded::<u32>(0);
        let rx2 = rx.clone();
        unwind_while_registered(move || {
            let _ = rx.recv();
        });
        assert_nobody_receives(&rx2, &tx);
    });
}

#[test]
fn an_unwound_select_leaves_no_registration_behind() {
    on_thread(|| {
        let (tx, rx) = bounded::<u32>(0);
        let (tx_b, rx_b) = bounded::<u32>(0);
        let (rx2, rx_b2) = (rx.clone(), rx_b.clone());
        unwind_while_registered(move || {
            select! {
                recv(rx) -> _ => {}
                recv(rx_b) -> _ => {}
            }
        });
        assert_nobody_receives(&rx2, &tx);
        assert_nobody_receives(&rx_b2, &tx_b);
    });
}

#[test]
fn an_unwound_send_leaves_no_registration_behind() {
    on_thread(|| {
        let (tx, rx) = bounded::<u32>(0);
        let tx2 = tx.clone();
        unwind_while_registered(move || {
            let _ = tx.send(7);
        });
        // Nobody sends any more: a receive finds nothing rather than a dead frame's value.
        assert!(!tx2.is_closed());
        assert!(rx.try_recv().unwrap_err().is_empty());
    });
}
