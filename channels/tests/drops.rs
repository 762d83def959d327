//! Values are never leaked or dropped twice: buffered values are dropped with the channel,
//! unsent values come back in errors, and values in flight through rendezvous and select are
//! accounted for exactly once.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use channels::{bounded, select, unbounded};
use common::in_coroutine;

#[derive(Debug)]
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn buffered_values_drop_with_the_channel() {
    let drops = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = unbounded();
    for _ in 0..10 {
        tx.send(Counted(drops.clone())).unwrap();
    }
    drop(rx.recv().unwrap());
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    drop(tx);
    assert_eq!(drops.load(Ordering::SeqCst), 1, "closing drops nothing");
    drop(rx);
    assert_eq!(
        drops.load(Ordering::SeqCst),
        10,
        "each buffered value dropped once"
    );
}

#[test]
fn unsent_values_come_back_not_dropped() {
    in_coroutine(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = bounded::<Counted>(0);
        let e = tx
            .send_timeout(Counted(drops.clone()), Duration::from_millis(2))
            .unwrap_err();
        assert_eq!(drops.load(Ordering::SeqCst), 0);
        let v = e.into_inner();
        assert_eq!(drops.load(Ordering::SeqCst), 0);
        drop(rx);
        let e = tx.send(v).unwrap_err();
        assert_eq!(drops.load(Ordering::SeqCst), 0);
        drop(e);
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    });
}

#[test]
fn values_through_rendezvous_and_select_are_dropped_once() {
    in_coroutine(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let n = 1000;
        let (tx, rx) = bounded::<Counted>(0);
        let d = drops.clone();
        let producer = green::spawn(move || {
            for _ in 0..n {
                tx.send(Counted(d.clone())).unwrap();
            }
        });
        let mut got = 0;
        while got < n {
            select! {
                recv(rx) -> v => { drop(v.unwrap()); got += 1; }
            }
        }
        producer.join().unwrap();
        assert_eq!(drops.load(Ordering::SeqCst), n);
        // A send arm not chosen drops its value (Go evaluates send values on entry).
        let (tx1, _rx1) = bounded::<Counted>(0);
        let (tx2, rx2) = bounded::<Counted>(1);
        select! {
            send(tx1, Counted(drops.clone())) -> _ => panic!("nobody receives on tx1"),
            send(tx2, Counted(drops.clone())) -> r => r.unwrap(),
        }
        assert_eq!(
            drops.load(Ordering::SeqCst),
            n + 1,
            "the unchosen value is dropped once"
        );
        drop(rx2);
        drop(tx2);
        assert_eq!(drops.load(Ordering::SeqCst), n + 2);
    });
}
