//! Port of Go's `test/chan/goroutines.go` (golang/go): makes a lot of coroutines threaded
//! together by rendezvous channels (each one does `left <- <-right`), passes a value from the
//! rightmost to the leftmost, and tears them down cleanly. Extended: each link adds one, so the
//! value proves it went through every link exactly once; every coroutine is joined; the chain
//! also runs on one worker and over buffered channels.

mod common;

use channels::{bounded, Receiver, Sender};
use common::{in_coroutine, on_one_worker, scale};

fn link(left: Sender<usize>, right: Receiver<usize>) {
    left.send(right.recv().unwrap() + 1).unwrap();
}

fn chain(n: usize, cap: usize) -> usize {
    let (leftmost_tx, leftmost) = bounded(cap);
    let mut left = leftmost_tx;
    let mut links = Vec::with_capacity(n);
    for _ in 0..n {
        let (right_tx, right) = bounded(cap);
        links.push(green::spawn(move || link(left, right)));
        left = right_tx;
    }
    let feeder = green::spawn(move || left.send(1).unwrap());
    let v = leftmost.recv().unwrap();
    feeder.join().unwrap();
    for h in links {
        h.join().expect("a link failed");
    }
    v
}

#[test]
fn goroutines_10000() {
    let n = 10_000;
    assert_eq!(in_coroutine(move || chain(n, 0)), n + 1);
}

#[test]
fn goroutines_one_worker() {
    let n = scale(10_000);
    assert_eq!(on_one_worker(move || chain(n, 0)), n + 1);
}

#[test]
fn goroutines_buffered() {
    let n = scale(10_000);
    assert_eq!(in_coroutine(move || chain(n, 1)), n + 1);
}

#[test]
fn goroutines_from_a_thread() {
    // The test thread itself feeds and reads the chain.
    let n = scale(10_000);
    assert_eq!(common::on_thread(move || chain(n, 0)), n + 1);
}
