//! Balance (issue 10): W CPU-bound coroutines spawned together on a W-worker runtime should
//! finish in at most 1.15× the time one of them takes alone on the same runtime, W being the
//! machine's CPU count. Each coroutine does a fixed amount of pure arithmetic (about 20 ms,
//! calibrated at start) with no greenchan call, so it cannot yield: the figure says whether the
//! coroutines started on different workers, which is the only chance they have to run in
//! parallel now that a started coroutine stays on its thread.
//!
//! `cargo bench -p greenchan-runtime --bench balance`. Three cases: one coroutine alone,
//! W spawned together from a plain thread, and W spawned together from a coroutine (the harder
//! case: the spawner's own worker sees them first). After criterion's report the bench prints
//! the ratio of each "together" median to the "alone" median. On a machine with other load the
//! ratio says as much about the load as about the scheduler.

use std::hint::black_box;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode};

/// Each iteration's wall time, per case, for the ratio printed at the end.
static SAMPLES: Mutex<Vec<(&'static str, Duration)>> = Mutex::new(Vec::new());

/// Pure arithmetic, `iters` rounds, no calls.
fn work(iters: u64) -> u64 {
    let mut x = 0u64;
    for i in 0..iters {
        x = black_box(x.wrapping_mul(6364136223846793005).wrapping_add(i));
    }
    x
}

/// Rounds of [`work`] that take about `target` on this thread.
fn calibrate(target: Duration) -> u64 {
    let probe = 20_000_000u64;
    // The fastest of a few probes: the least disturbed by other load.
    let best = (0..3)
        .map(|_| {
            let t0 = Instant::now();
            black_box(work(probe));
            t0.elapsed()
        })
        .min()
        .unwrap();
    (target.as_secs_f64() / best.as_secs_f64() * probe as f64) as u64
}

fn record(case: &'static str, d: Duration) {
    SAMPLES.lock().unwrap().push((case, d));
}

fn median_of(case: &str) -> Option<Duration> {
    let mut v: Vec<Duration> = SAMPLES
        .lock()
        .unwrap()
        .iter()
        .filter(|(c, _)| *c == case)
        .map(|(_, d)| *d)
        .collect();
    if v.is_empty() {
        return None;
    }
    v.sort();
    Some(v[v.len() / 2])
}

fn balance(c: &mut Criterion) {
    let w = std::thread::available_parallelism().map_or(1, |n| n.get());
    let rounds = calibrate(Duration::from_millis(20));
    let rt = green::Runtime::builder().workers(w).build().unwrap();
    let mut g = c.benchmark_group("balance");
    // Each iteration takes tens of milliseconds: one iteration a sample.
    g.sampling_mode(SamplingMode::Flat)
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));

    g.bench_function(BenchmarkId::new("alone", w), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let t0 = Instant::now();
                rt.spawn(move || work(rounds)).unwrap().join().unwrap();
                let d = t0.elapsed();
                record("alone", d);
                total += d;
            }
            total
        })
    });

    g.bench_function(BenchmarkId::new("together_from_thread", w), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let t0 = Instant::now();
                let hs: Vec<_> = (0..w)
                    .map(|_| rt.spawn(move || work(rounds)).unwrap())
                    .collect();
                for h in hs {
                    black_box(h.join().unwrap());
                }
                let d = t0.elapsed();
                record("together_from_thread", d);
                total += d;
            }
            total
        })
    });

    g.bench_function(BenchmarkId::new("together_from_coroutine", w), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let t0 = Instant::now();
                rt.run(move || {
                    let hs: Vec<_> = (0..w).map(|_| green::spawn(move || work(rounds))).collect();
                    for h in hs {
                        black_box(h.join().unwrap());
                    }
                });
                let d = t0.elapsed();
                record("together_from_coroutine", d);
                total += d;
            }
            total
        })
    });
    g.finish();

    let spares = rt.metrics().spare_threads_started;
    drop(rt);
    let Some(alone) = median_of("alone") else {
        return; // filtered out by the command line
    };
    println!(
        "balance: W = {w} coroutines of {rounds} rounds of arithmetic each (~20 ms calibrated); alone: median {:.2} ms",
        alone.as_secs_f64() * 1e3
    );
    for case in ["together_from_thread", "together_from_coroutine"] {
        if let Some(m) = median_of(case) {
            let ratio = m.as_secs_f64() / alone.as_secs_f64();
            println!(
                "balance: {case}: median {:.2} ms = {ratio:.3}× alone (goal ≤ 1.15×){}",
                m.as_secs_f64() * 1e3,
                if ratio <= 1.15 {
                    ""
                } else {
                    "  ABOVE THE GOAL"
                }
            );
        }
    }
    println!("balance: spare threads started by the monitor during the bench: {spares}");
}

criterion_group!(benches, balance);
criterion_main!(benches);
