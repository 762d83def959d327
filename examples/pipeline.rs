//! A pipeline with fan-out and fan-in: a producer, a pool of workers squaring numbers, and a
//! collector, connected by bounded channels; `select!` with a ticker reports progress, and
//! closing the input channel shuts the whole pipeline down in order.
//!
//! `cargo run --release --example pipeline`

use std::time::Duration;

use greenchan::{chan, go, select};

fn main() {
    let total = greenchan::run(|| {
        let (jobs_tx, jobs_rx) = chan::bounded::<u64>(64);
        let (results_tx, results_rx) = chan::bounded::<u64>(64);

        // Stage 1: produce 1..=100_000, then close the channel.
        go!(move || {
            for i in 1..=100_000u64 {
                jobs_tx.send(i).unwrap();
            }
            jobs_tx.close();
        });

        // Stage 2: eight workers square what they receive until the input is drained.
        for _ in 0..8 {
            let jobs = jobs_rx.clone();
            let results = results_tx.clone();
            go!(move || {
                for n in &jobs {
                    results.send(n * n % 1_000_003).unwrap();
                }
            });
        }
        // The collector's loop ends when the last worker's sender is dropped.
        drop(results_tx);

        // Stage 3: collect, with a progress report from a ticker.
        let ticker = chan::tick(Duration::from_millis(20));
        let (mut sum, mut count) = (0u64, 0u64);
        loop {
            select! {
                recv(results_rx) -> r => match r {
                    Ok(v) => {
                        sum = sum.wrapping_add(v);
                        count += 1;
                    }
                    Err(_) => break,
                },
                recv(ticker) -> _ => println!("... {count} results so far"),
            }
        }
        println!("collected {count} results");
        sum
    });
    println!("checksum {total}");
}
