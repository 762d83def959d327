//! Port of Go's `test/chan/doubleselect.go` (golang/go): flushes out a select in which two
//! cases both run.
//!
//! A sender selects over four rendezvous channels to send each counter value once; if two arms
//! took effect in one select, a value would go out twice. Four mux coroutines forward each
//! channel into one; the receiver checks for duplicates. This port also checks that no value
//! is lost (Go only checks duplicates), and runs the muxes as coroutines, as OS threads, and
//! on a one-worker runtime.

mod common;

use channels::{bounded, select, Receiver, Sender};
use common::{in_coroutine, on_one_worker, scale};

#[derive(Clone, Copy)]
enum Muxes {
    Coroutines,
    Threads,
}

fn sender(n: usize, c: [Sender<usize>; 4]) {
    for i in 0..n {
        select! {
            send(c[0], i) -> r => r.unwrap(),
            send(c[1], i) -> r => r.unwrap(),
            send(c[2], i) -> r => r.unwrap(),
            send(c[3], i) -> r => r.unwrap(),
        }
    }
    // Dropping the senders closes the four channels.
}

fn mux(out: Sender<usize>, input: Receiver<usize>) {
    for v in &input {
        out.send(v).unwrap();
    }
}

fn doubleselect(n: usize, muxes: Muxes) {
    let (txs, rxs): (Vec<_>, Vec<_>) = (0..4).map(|_| bounded::<usize>(0)).unzip();
    let txs: [Sender<usize>; 4] = txs.try_into().unwrap();
    let (cmux_tx, cmux_rx) = bounded(0);
    let s = green::spawn(move || sender(n, txs));
    for rx in rxs {
        let out = cmux_tx.clone();
        match muxes {
            Muxes::Coroutines => drop(green::spawn(move || mux(out, rx))),
            Muxes::Threads => drop(std::thread::spawn(move || mux(out, rx))),
        }
    }
    drop(cmux_tx); // the muxes hold the only senders: cmux closes when all four are done
    let mut seen = vec![false; n];
    let mut count = 0;
    for v in &cmux_rx {
        assert!(!seen[v], "got duplicate value: {v}");
        seen[v] = true;
        count += 1;
    }
    assert_eq!(count, n, "values lost");
    s.join().unwrap();
}

#[test]
fn doubleselect_coroutines() {
    let n = scale(100_000);
    in_coroutine(move || doubleselect(n, Muxes::Coroutines));
}

#[test]
fn doubleselect_muxes_on_threads() {
    let n = scale(20_000);
    in_coroutine(move || doubleselect(n, Muxes::Threads));
}

#[test]
fn doubleselect_one_worker() {
    let n = scale(50_000);
    on_one_worker(move || doubleselect(n, Muxes::Coroutines));
}
