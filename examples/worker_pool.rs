//! A bounded worker pool: a fixed number of worker coroutines fed by a bounded channel of
//! jobs, their results gathered over another channel, and a `WaitGroup` that closes the results
//! once every worker is done, as in Go's `sync.WaitGroup` pattern.
//!
//! `cargo run --release --example worker_pool` (stops by itself)
//!
//! The job is the length of the Collatz sequence of a number; the program reports the longest
//! below 100,000.

use greenchan::sync::WaitGroup;
use greenchan::{chan, go};

fn main() {
    let numbers: Vec<u64> = (1..100_000).collect();
    let results = greenchan::run(move || pool(numbers, 8));
    let (n, steps) = results
        .iter()
        .copied()
        .max_by_key(|&(n, steps)| (steps, std::cmp::Reverse(n)))
        .unwrap();
    println!(
        "{} jobs done by 8 workers; the longest Collatz sequence below 100000 starts at {n} ({steps} steps)",
        results.len()
    );
}

/// Runs `job` on every number with `workers` coroutines and returns `(number, result)` pairs,
/// in the order they finished.
pub fn pool(numbers: Vec<u64>, workers: usize) -> Vec<(u64, u64)> {
    // Bounded: the feeder blocks when the workers fall behind, so the queue never grows.
    let (jobs_tx, jobs_rx) = chan::bounded::<u64>(workers * 2);
    let (results_tx, results_rx) = chan::unbounded::<(u64, u64)>();
    let wg = WaitGroup::new();
    for _ in 0..workers {
        let (jobs, results, wg) = (jobs_rx.clone(), results_tx.clone(), wg.clone());
        go!(move || {
            for n in &jobs {
                results.send((n, job(n))).unwrap();
            }
            drop(wg); // this worker is done
        });
    }
    drop(jobs_rx);
    go!(move || {
        for n in numbers {
            jobs_tx.send(n).unwrap();
        }
        // Dropping the last sender closes `jobs`: the workers' loops end once it is drained.
    });
    // Closes the results once every worker has finished, Go's
    // `go func() { wg.Wait(); close(results) }()`: this coroutine holds a sender of its own,
    // so the results stay open until it says so.
    go!(move || {
        wg.wait();
        results_tx.close();
    });
    let gathered: Vec<(u64, u64)> = results_rx.iter().collect();
    gathered
}

/// The number of steps of the Collatz sequence from `n` to 1.
pub fn job(mut n: u64) -> u64 {
    let mut steps = 0;
    while n != 1 {
        n = if n % 2 == 0 { n / 2 } else { 3 * n + 1 };
        steps += 1;
        if steps % 256 == 0 {
            greenchan::preempt_point(); // a long job lets the others on its worker run
        }
    }
    steps
}
