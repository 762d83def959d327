//! Ports of Go's `test/chan/sieve1.go` and `test/chan/sieve2.go` (golang/go): prime sieves
//! built from chains of coroutines and channels, checked against the primes below 100.
//!
//! sieve1 is the classic daisy chain of filters over rendezvous channels. sieve2 is the
//! Eratosthenes variant: a heap merges channels of multiples into a stream of composites, and a
//! "send proxy" coroutine buffers without bound by selecting between receiving more input and
//! sending its oldest value, with the send arm present only while it has something to send
//! (Go disables it with a nil channel; here it is left out of a dynamic `Select`).

mod common;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use channels::{bounded, Receiver, Select, Sender};
use common::{in_coroutine, on_one_worker, on_thread};

const PRIMES_BELOW_100: [u64; 25] = [
    2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97,
];

/// Sends 2, 3, 4, ... until nobody listens.
fn generate(tx: Sender<u64>) {
    for i in 2.. {
        if tx.send(i).is_err() {
            return;
        }
    }
}

/// Copies values from `rx` to `tx`, leaving out multiples of `prime`.
fn filter(rx: Receiver<u64>, tx: Sender<u64>, prime: u64) {
    for i in &rx {
        if i % prime != 0 && tx.send(i).is_err() {
            return;
        }
    }
}

/// sieve1.go: the first `n` primes from a chain of filter coroutines.
fn sieve1(n: usize) -> Vec<u64> {
    let (tx, mut rx) = bounded(0);
    green::spawn(move || generate(tx));
    let mut primes = Vec::new();
    for _ in 0..n {
        let prime = rx.recv().expect("the generator never stops");
        primes.push(prime);
        let (tx2, rx2) = bounded(0);
        green::spawn(move || filter(rx, tx2, prime));
        rx = rx2;
    }
    // Dropping the last receiver makes the last filter's send fail; it returns and drops its
    // receiver, and so on down the chain: every coroutine ends.
    primes
}

#[test]
fn sieve1_first_25_primes() {
    assert_eq!(in_coroutine(|| sieve1(25)), PRIMES_BELOW_100);
}

#[test]
fn sieve1_on_one_worker() {
    assert_eq!(on_one_worker(|| sieve1(25)), PRIMES_BELOW_100);
}

#[test]
fn sieve1_driven_from_a_thread() {
    // The consumer is a plain thread; the chain of filters are coroutines.
    assert_eq!(on_thread(|| sieve1(25)), PRIMES_BELOW_100);
}

#[test]
fn sieve1_longer_chain() {
    let primes = in_coroutine(|| sieve1(300));
    assert_eq!(primes.len(), 300);
    assert_eq!(primes[299], 1987, "the 300th prime");
    assert!(primes.windows(2).all(|w| w[0] < w[1]));
}

/// Odd numbers from 5 on, buffered.
fn odds() -> Receiver<u64> {
    let (tx, rx) = bounded(50);
    green::spawn(move || {
        let mut n = 5;
        while tx.send(n).is_ok() {
            n += 2;
        }
    });
    rx
}

/// Odd multiples of `p` from `p*p` on, buffered.
fn multiples(p: u64) -> Receiver<u64> {
    let (tx, rx) = bounded(10);
    green::spawn(move || {
        let mut n = p * p;
        while tx.send(n).is_ok() {
            n += 2 * p;
        }
    });
    rx
}

/// A sender whose sends never block: a coroutine buffers everything sent to it and forwards
/// it to `out`. It selects between taking input and sending its oldest buffered value; the
/// send arm exists only while the buffer is non-empty.
fn send_proxy(out: Sender<u64>) -> Sender<u64> {
    let (proxy_tx, proxy_rx) = bounded::<u64>(10);
    green::spawn(move || {
        let mut buf = VecDeque::new();
        loop {
            let mut sel = Select::new();
            let input = sel.recv(&proxy_rx);
            // greenchan's dynamic select takes a send's value when the arm is added (Go's
            // rule); if the input arm wins instead, the copy offered here is simply dropped.
            let output = (!buf.is_empty()).then(|| sel.send(&out, buf[0]));
            let op = sel.select();
            let i = op.index();
            if i == input {
                match op.recv(&proxy_rx) {
                    Ok(v) => buf.push_back(v),
                    Err(_) => return,
                }
            } else {
                assert_eq!(Some(i), output, "only the arms added can be chosen");
                if op.send(&out).is_err() {
                    return;
                }
                buf.pop_front();
            }
        }
    });
    proxy_tx
}

/// sieve2.go: the primes, as a channel.
fn sieve2() -> Receiver<u64> {
    let (out, primes_out) = bounded(10);
    out.send(2).unwrap();
    out.send(3).unwrap();
    // Composites to eliminate, in increasing order.
    let (composites_tx, composites) = bounded::<u64>(50);
    // The feedback loop of primes whose multiples must be merged in.
    let (feedback_tx, feedback) = bounded::<u64>(10);
    feedback_tx.send(3).unwrap();

    // Merge the channels of multiples of each fed-back prime into `composites`.
    green::spawn(move || {
        let mut heap: BinaryHeap<(Reverse<u64>, usize)> = BinaryHeap::new();
        let mut chans: Vec<Receiver<u64>> = Vec::new();
        let mut min = 15;
        let pop_min = |heap: &mut BinaryHeap<(Reverse<u64>, usize)>,
                       chans: &[Receiver<u64>]|
         -> Option<u64> {
            let (Reverse(head), i) = heap.pop().expect("the heap is never empty here");
            heap.push((Reverse(chans[i].recv().ok()?), i));
            Some(head)
        };
        let mut run = || -> Option<()> {
            loop {
                let m = multiples(feedback.recv().ok()?);
                let head = m.recv().ok()?;
                while min < head {
                    composites_tx.send(min).ok()?;
                    min = pop_min(&mut heap, &chans)?;
                }
                while min == head {
                    min = pop_min(&mut heap, &chans)?;
                }
                composites_tx.send(head).ok()?;
                heap.push((Reverse(m.recv().ok()?), chans.len()));
                chans.push(m);
            }
        };
        run();
    });

    // Sieve the composites out of the odd candidates.
    green::spawn(move || {
        let primes = send_proxy(feedback_tx);
        let candidates = odds();
        let run = || -> Option<()> {
            let mut p = candidates.recv().ok()?;
            loop {
                let c = composites.recv().ok()?;
                while p < c {
                    primes.send(p).ok()?;
                    out.send(p).ok()?;
                    p = candidates.recv().ok()?;
                }
                if p == c {
                    p = candidates.recv().ok()?;
                }
            }
        };
        run();
    });
    primes_out
}

#[test]
fn sieve2_primes_below_100() {
    let got = in_coroutine(|| {
        let primes = sieve2();
        (0..25).map(|_| primes.recv().unwrap()).collect::<Vec<_>>()
    });
    assert_eq!(got, PRIMES_BELOW_100);
}

#[test]
fn sieve2_on_one_worker_further() {
    let got = on_one_worker(|| {
        let primes = sieve2();
        (0..200).map(|_| primes.recv().unwrap()).collect::<Vec<_>>()
    });
    assert_eq!(&got[..25], PRIMES_BELOW_100);
    assert_eq!(got[199], 1223, "the 200th prime");
}
