//! The cost of the diagnostics bookkeeping (issue 11: the registry of suspended coroutines,
//! the `waiting_on` records, the per-worker counters behind `dump()` and `metrics()`) on the
//! paths it touches: spawn, a park/unpark round trip, and skynet. Small sizes, so a run takes
//! about a minute. The issue's bar: at most 5% against the code before the bookkeeping
//! landed. The same file builds on that older code (it uses only API both have), so it can be
//! run there with `-- --save-baseline pre` and here with `-- --baseline pre`:
//!
//! ```text
//! cargo bench -p greenchan-runtime --bench bookkeeping
//! ```
//!
//! `green` has no channels (they live in a crate above it), so the round trip is the park and
//! unpark hand-off channels are built on, and skynet sums its children through their join
//! handles; `bench/benches/bookkeeping.rs` measures the same three over the facade's channels.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

const SPAWN: usize = 10_000;
const ROUND_TRIPS: usize = 10_000;
const LEAVES: u64 = 10_000;

fn config(c: &mut Criterion) -> criterion::BenchmarkGroup<'_, criterion::measurement::WallTime> {
    let mut g = c.benchmark_group("bookkeeping");
    g.sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    g
}

/// `SPAWN` coroutines that each increment a counter, joined by their handles.
fn spawn(c: &mut Criterion) {
    let mut g = config(c);
    g.throughput(Throughput::Elements(SPAWN as u64));
    for workers in [1usize, 2] {
        let rt = green::Runtime::builder().workers(workers).build().unwrap();
        g.bench_function(BenchmarkId::new("spawn", workers), |b| {
            b.iter(|| {
                let counter = Arc::new(AtomicUsize::new(0));
                let c2 = counter.clone();
                rt.run(move || {
                    let hs: Vec<_> = (0..SPAWN)
                        .map(|_| {
                            let c = c2.clone();
                            green::spawn(move || {
                                c.fetch_add(1, Ordering::Relaxed);
                            })
                        })
                        .collect();
                    for h in hs {
                        h.join().unwrap();
                    }
                });
                assert_eq!(counter.load(Ordering::Relaxed), SPAWN);
            })
        });
        drop(rt);
    }
    g.finish();
}

/// Two coroutines pass a turn back and forth `ROUND_TRIPS` times with park and unpark.
fn pingpong(c: &mut Criterion) {
    let mut g = config(c);
    g.throughput(Throughput::Elements(ROUND_TRIPS as u64));
    for workers in [1usize, 2] {
        let rt = green::Runtime::builder().workers(workers).build().unwrap();
        g.bench_function(BenchmarkId::new("pingpong", workers), |b| {
            b.iter_custom(|iters| {
                rt.run(move || {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let turn = Arc::new(AtomicUsize::new(0));
                        let me = green::current();
                        let t2 = turn.clone();
                        let start = Instant::now();
                        let partner = green::spawn(move || {
                            for i in 0..ROUND_TRIPS {
                                while t2.load(Ordering::Acquire) != 2 * i + 1 {
                                    green::park();
                                }
                                t2.store(2 * i + 2, Ordering::Release);
                                me.unpark();
                            }
                        });
                        let p = partner.coroutine().clone();
                        for i in 0..ROUND_TRIPS {
                            turn.store(2 * i + 1, Ordering::Release);
                            p.unpark();
                            while turn.load(Ordering::Acquire) != 2 * i + 2 {
                                green::park();
                            }
                        }
                        partner.join().unwrap();
                        total += start.elapsed();
                    }
                    total
                })
            })
        });
        drop(rt);
    }
    g.finish();
}

/// The skynet tree with fan-out 10: every node spawns its children and sums the values their
/// join handles return.
fn skynet_node(num: u64, size: u64) -> u64 {
    if size == 1 {
        return num;
    }
    let step = size / 10;
    let hs: Vec<_> = (0..10)
        .map(|i| green::spawn(move || skynet_node(num + i * step, step)))
        .collect();
    hs.into_iter().map(|h| h.join().unwrap()).sum()
}

fn skynet(c: &mut Criterion) {
    let mut g = config(c);
    for workers in [1usize, 2] {
        let rt = green::Runtime::builder().workers(workers).build().unwrap();
        g.bench_function(BenchmarkId::new("skynet", workers), |b| {
            b.iter(|| {
                let sum = rt.run(|| skynet_node(0, LEAVES));
                assert_eq!(sum, LEAVES * (LEAVES - 1) / 2);
            })
        });
        drop(rt);
    }
    g.finish();
}

criterion_group!(benches, spawn, pingpong, skynet);
criterion_main!(benches);
