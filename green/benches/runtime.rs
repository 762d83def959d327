//! Criterion benches of the runtime's hot paths: spawn+join, yield, park/unpark hand-off, and
//! the cost of holding parked coroutines. `cargo bench -p greenchan-runtime`.
//! The DESIGN §4 figures themselves (ns per task at 1M, resident bytes per parked coroutine)
//! come from `cargo run --release -p greenchan-runtime --example figures` and the comparison harness.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

fn spawn_join(c: &mut Criterion) {
    let mut g = c.benchmark_group("spawn_join");
    for workers in [1usize, 2] {
        let rt = green::Runtime::builder().workers(workers).build().unwrap();
        let batch = 10_000;
        g.throughput(Throughput::Elements(batch as u64));
        g.bench_with_input(BenchmarkId::new("workers", workers), &batch, |b, &n| {
            b.iter(|| {
                let counter = Arc::new(AtomicUsize::new(0));
                let c2 = counter.clone();
                rt.run(move || {
                    let hs: Vec<_> = (0..n)
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
                assert_eq!(counter.load(Ordering::Relaxed), n);
            })
        });
        rt.shutdown().unwrap();
    }
    g.finish();
}

fn yield_now(c: &mut Criterion) {
    let mut g = c.benchmark_group("yield");
    for workers in [1usize, 2] {
        let rt = green::Runtime::builder().workers(workers).build().unwrap();
        let (tasks, per) = (100usize, 1_000usize);
        g.throughput(Throughput::Elements((tasks * per) as u64));
        g.bench_function(BenchmarkId::new("workers", workers), |b| {
            b.iter(|| {
                rt.run(move || {
                    let hs: Vec<_> = (0..tasks)
                        .map(|_| {
                            green::spawn(move || {
                                for _ in 0..per {
                                    green::yield_now();
                                }
                            })
                        })
                        .collect();
                    for h in hs {
                        h.join().unwrap();
                    }
                })
            })
        });
        rt.shutdown().unwrap();
    }
    g.finish();
}

/// Two coroutines hand a turn back and forth with park/unpark: the wake-up path channels use.
fn park_unpark_handoff(c: &mut Criterion) {
    let mut g = c.benchmark_group("park_unpark_handoff");
    for workers in [1usize, 2] {
        let rt = green::Runtime::builder().workers(workers).build().unwrap();
        g.bench_function(BenchmarkId::new("workers", workers), |b| {
            b.iter_custom(|iters| {
                rt.run(move || {
                    let turn = Arc::new(AtomicUsize::new(0));
                    let me = green::current();
                    let t2 = turn.clone();
                    let start = Instant::now();
                    let partner = green::spawn(move || {
                        for i in 0..iters as usize {
                            while t2.load(Ordering::Acquire) != 2 * i + 1 {
                                green::park();
                            }
                            t2.store(2 * i + 2, Ordering::Release);
                            me.unpark();
                        }
                    });
                    let p = partner.coroutine().clone();
                    for i in 0..iters as usize {
                        turn.store(2 * i + 1, Ordering::Release);
                        p.unpark();
                        while turn.load(Ordering::Acquire) != 2 * i + 2 {
                            green::park();
                        }
                    }
                    partner.join().unwrap();
                    start.elapsed()
                })
            })
        });
        rt.shutdown().unwrap();
    }
    g.finish();
}

/// Parks a batch of coroutines and wakes them all: the cost side of the `parked` workload.
fn parked(c: &mut Criterion) {
    let mut g = c.benchmark_group("parked");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    let rt = green::Runtime::builder().build().unwrap();
    let n = 100_000usize;
    g.throughput(Throughput::Elements(n as u64));
    g.bench_function("park_and_wake_100k", |b| {
        b.iter(|| {
            let parked = Arc::new(AtomicUsize::new(0));
            let hs: Vec<_> = (0..n)
                .map(|_| {
                    let p = parked.clone();
                    rt.spawn(move || {
                        p.fetch_add(1, Ordering::Release);
                        green::park();
                    })
                    .unwrap()
                })
                .collect();
            while parked.load(Ordering::Acquire) < n {
                std::thread::yield_now();
            }
            for h in &hs {
                h.coroutine().unpark();
            }
            for h in hs {
                h.join().unwrap();
            }
        })
    });
    rt.shutdown().unwrap();
    g.finish();
}

criterion_group!(benches, spawn_join, yield_now, park_unpark_handoff, parked);
criterion_main!(benches);
