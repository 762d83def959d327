//! Rate limiting with `tick`, as in Go by Example: requests served at a steady pace, then
//! requests served by a limiter that allows bursts.
//!
//! `cargo run --release --example rate_limit` (stops by itself, in about two seconds)
//!
//! The steady limiter is a ticker: each request waits for the next tick. The bursty one is a
//! buffered channel of tokens that starts full (the burst) and that a ticker refills, one
//! token a tick, up to its capacity: a request takes a token, so idle time builds up credit
//! for a later burst, and a steady stream of requests is paced by the ticker.

use std::time::{Duration, Instant};

use greenchan::chan::{self, Receiver};
use greenchan::go;

fn main() {
    let start = Instant::now();
    greenchan::run(move || {
        println!("steady: one request every 200 ms");
        for (i, at) in steady(5, Duration::from_millis(200)).iter().enumerate() {
            println!(
                "  request {i} served at {:>4} ms",
                (*at - start).as_millis()
            );
        }
        println!("bursty: bursts of 3, then one every 200 ms");
        let mid = Instant::now();
        for (i, at) in bursty(5, 3, Duration::from_millis(200)).iter().enumerate() {
            println!("  request {i} served at {:>4} ms", (*at - mid).as_millis());
        }
    });
}

/// Serves `requests` requests, each one after the next tick of a `tick(every)` ticker, and
/// returns when each was served.
pub fn steady(requests: usize, every: Duration) -> Vec<Instant> {
    let incoming = enqueue(requests);
    let limiter = chan::tick(every);
    let mut served = Vec::with_capacity(requests);
    for _request in &incoming {
        limiter.recv().unwrap(); // blocks until the next tick
        served.push(Instant::now());
    }
    served
}

/// Serves `requests` requests through a token bucket of `burst` tokens, refilled one token a
/// tick of `tick(every)`, and returns when each was served.
pub fn bursty(requests: usize, burst: usize, every: Duration) -> Vec<Instant> {
    let (tokens_tx, tokens) = chan::bounded::<Instant>(burst);
    for _ in 0..burst {
        tokens_tx.send(Instant::now()).unwrap(); // the bucket starts full
    }
    let refill = go!(move || {
        let ticker = chan::tick(every);
        for at in &ticker {
            // Blocks while the bucket is full; ends once nobody takes tokens any more.
            if tokens_tx.send(at).is_err() {
                return;
            }
        }
    });
    let incoming = enqueue(requests);
    let mut served = Vec::with_capacity(requests);
    for _request in &incoming {
        tokens.recv().unwrap(); // a token, or wait for the next refill
        served.push(Instant::now());
    }
    drop(tokens); // the refiller's next send fails and it returns
    refill.join().unwrap();
    served
}

/// `n` requests, all waiting at once in a channel that is closed behind them.
fn enqueue(n: usize) -> Receiver<usize> {
    let (tx, rx) = chan::bounded(n);
    for i in 0..n {
        tx.send(i).unwrap();
    }
    rx // `tx` is dropped: the channel is closed, and drains
}
