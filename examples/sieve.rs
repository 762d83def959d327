//! Go's concurrent prime sieve: a chain of coroutines, one per prime found so far, each
//! filtering the multiples of its prime out of the stream it passes on over a rendezvous channel.
//!
//! `cargo run --release --example sieve [N]` prints the first N primes (default 100).

use greenchan::chan::{self, Receiver, Sender};
use greenchan::go;

/// Sends 2, 3, 4, ... until the receiving side goes away.
fn generate(tx: Sender<u64>) {
    for i in 2.. {
        if tx.send(i).is_err() {
            return;
        }
    }
}

/// Passes on the values from `rx` that `prime` does not divide.
fn filter(rx: Receiver<u64>, tx: Sender<u64>, prime: u64) {
    for i in &rx {
        if i % prime != 0 && tx.send(i).is_err() {
            return;
        }
    }
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(100);
    let primes = greenchan::run(move || {
        let (tx, mut rx) = chan::bounded::<u64>(0);
        go!(move || generate(tx));
        let mut primes = Vec::with_capacity(n);
        for _ in 0..n {
            let prime = rx.recv().expect("the sieve never closes");
            primes.push(prime);
            let (tx2, rx2) = chan::bounded(0);
            go!(move || filter(rx, tx2, prime));
            rx = rx2;
        }
        // Dropping the last receiver unwinds the chain: each filter's send fails in turn.
        primes
    });
    for p in &primes {
        println!("{p}");
    }
}
