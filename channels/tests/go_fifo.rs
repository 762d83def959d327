//! Port of Go's `test/chan/fifo.go` (golang/go): channels are FIFO.
//!
//! AsynchFifo fills a buffered channel and reads it back in order. SynchFifo threads a daisy
//! chain of coroutines: link `i` waits for its turn on `in`, receives from the shared
//! rendezvous channel and checks that it got `i`, then passes the turn on `out`; the main body
//! sends 0..N on the shared channel. Any reordering of the rendezvous hand-offs fails a link.
//! Extended here with several capacities, many producers keeping per-producer order, and the
//! same chain run on one worker and from a plain thread.

mod common;

use channels::{bounded, unbounded, Receiver, Sender};
use common::{in_coroutine, on_one_worker, on_thread, scale};

const N: usize = 10;

fn asynch_fifo(n: usize) {
    let (tx, rx) = bounded(n);
    for i in 0..n {
        tx.send(i).unwrap();
    }
    assert!(tx.is_full());
    for i in 0..n {
        assert_eq!(rx.recv(), Ok(i), "bad receive");
    }
    assert!(rx.is_empty());
}

fn chain_link(ch: Receiver<usize>, val: usize, turn: Receiver<()>, next: Sender<()>) {
    turn.recv().unwrap();
    assert_eq!(ch.recv(), Ok(val), "link {val} received out of order");
    next.send(()).unwrap();
}

/// Returns how many links checked their value (all of them, or a link panicked).
fn synch_fifo(n: usize) -> usize {
    let (ch_tx, ch_rx) = bounded::<usize>(0);
    let (start, mut turn) = bounded::<()>(0);
    let mut links = Vec::new();
    for i in 0..n {
        let (next_tx, next_rx) = bounded(0);
        let (ch, this_turn) = (ch_rx.clone(), turn);
        links.push(green::spawn(move || chain_link(ch, i, this_turn, next_tx)));
        turn = next_rx;
    }
    start.send(()).unwrap();
    for i in 0..n {
        ch_tx.send(i).unwrap();
    }
    turn.recv().unwrap();
    links
        .into_iter()
        .map(|h| h.join())
        .filter(Result::is_ok)
        .count()
}

#[test]
fn asynch_fifo_go() {
    in_coroutine(|| asynch_fifo(N));
}

#[test]
fn asynch_fifo_many_capacities() {
    in_coroutine(|| {
        for cap in [1, 2, 3, 7, 64, 1000] {
            asynch_fifo(cap);
        }
    });
    on_thread(|| asynch_fifo(100));
}

#[test]
fn synch_fifo_go() {
    assert_eq!(in_coroutine(|| synch_fifo(N)), N);
}

#[test]
fn synch_fifo_long_chain() {
    let n = scale(5000);
    assert_eq!(in_coroutine(move || synch_fifo(n)), n);
}

#[test]
fn synch_fifo_on_one_worker() {
    assert_eq!(on_one_worker(|| synch_fifo(1000)), 1000);
}

#[test]
fn synch_fifo_from_a_thread() {
    // The main body (starter and sender) is a plain thread; the links are coroutines.
    assert_eq!(on_thread(|| synch_fifo(200)), 200);
}

/// Each producer's values arrive in the order it sent them, whatever the interleaving.
#[test]
fn per_producer_order_is_kept() {
    for cap in [Some(0), Some(1), Some(16), None] {
        in_coroutine(move || {
            let (tx, rx) = match cap {
                Some(c) => bounded::<(usize, usize)>(c),
                None => unbounded(),
            };
            let producers = 4;
            let per = scale(20_000);
            for p in 0..producers {
                let tx = tx.clone();
                green::spawn(move || {
                    for i in 0..per {
                        tx.send((p, i)).unwrap();
                    }
                });
            }
            drop(tx);
            let mut next = vec![0; producers];
            for (p, i) in &rx {
                assert_eq!(i, next[p], "producer {p} reordered (cap {cap:?})");
                next[p] += 1;
            }
            assert_eq!(next, vec![per; producers]);
        });
    }
}
