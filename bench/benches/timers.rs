//! Criterion benches of timers (issue 12), greenchan beside crossbeam-channel on OS threads:
//!
//! - `select_fresh_after`: a consumer selects between a channel a producer feeds (capacity
//!   128) and a fresh `after(1h)`, each timer set and dropped unfired; one element is one
//!   select. greenchan's consumer and producer are coroutines, crossbeam's are threads.
//! - `churn_10k`: 10,000 tasks (coroutines; threads with 64 KiB stacks for crossbeam) each
//!   select between a shared quit channel and a fresh `after(1ms)`; one iteration is one round
//!   in which every task's timer fires, so one element is one timer set and fired.
//!
//! The comparison with Go's `time.After` is the harness's `timers*` workloads (`compare`).
//!
//! `cargo bench -p greenchan-bench --bench timers`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use greenchan::{chan, go, select};

const CAP: usize = 128;
const LIVE: u64 = 10_000;
const HOUR: Duration = Duration::from_secs(3600);
const MS: Duration = Duration::from_millis(1);

fn select_fresh_after_greenchan(iters: u64) -> Duration {
    greenchan::run(move || {
        let (tx, rx) = chan::bounded::<u64>(CAP);
        let producer = go!(move || {
            for i in 0..iters {
                tx.send(i).unwrap();
            }
        });
        let t0 = Instant::now();
        for _ in 0..iters {
            select! {
                recv(rx) -> v => { v.unwrap(); }
                recv(chan::after(HOUR)) -> _ => unreachable!(),
            }
        }
        let dt = t0.elapsed();
        producer.join().unwrap();
        dt
    })
}

fn select_fresh_after_crossbeam(iters: u64) -> Duration {
    let (tx, rx) = crossbeam_channel::bounded::<u64>(CAP);
    let producer = std::thread::spawn(move || {
        for i in 0..iters {
            tx.send(i).unwrap();
        }
    });
    let t0 = Instant::now();
    for _ in 0..iters {
        crossbeam_channel::select! {
            recv(rx) -> v => { v.unwrap(); }
            recv(crossbeam_channel::after(HOUR)) -> _ => unreachable!(),
        }
    }
    let dt = t0.elapsed();
    producer.join().unwrap();
    dt
}

fn churn_greenchan(rounds: u64) -> Duration {
    greenchan::run(move || {
        let (_quit_tx, quit_rx) = chan::bounded::<()>(0);
        let fired = Arc::new(AtomicU64::new(0));
        let t0 = Instant::now();
        let hs: Vec<_> = (0..LIVE)
            .map(|_| {
                let (quit, fired) = (quit_rx.clone(), fired.clone());
                go!(move || {
                    for _ in 0..rounds {
                        select! {
                            recv(quit) -> _ => return,
                            recv(chan::after(MS)) -> _ => { fired.fetch_add(1, Ordering::Relaxed); }
                        }
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        let dt = t0.elapsed();
        assert_eq!(fired.load(Ordering::Relaxed), rounds * LIVE);
        dt
    })
}

fn churn_crossbeam(rounds: u64) -> Duration {
    let (_quit_tx, quit_rx) = crossbeam_channel::bounded::<()>(0);
    let fired = Arc::new(AtomicU64::new(0));
    let t0 = Instant::now();
    let hs: Vec<_> = (0..LIVE)
        .map(|_| {
            let (quit, fired) = (quit_rx.clone(), fired.clone());
            std::thread::Builder::new()
                .stack_size(64 << 10)
                .spawn(move || {
                    for _ in 0..rounds {
                        crossbeam_channel::select! {
                            recv(quit) -> _ => return,
                            recv(crossbeam_channel::after(MS)) -> _ => { fired.fetch_add(1, Ordering::Relaxed); }
                        }
                    }
                })
                .expect("a thread")
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    let dt = t0.elapsed();
    assert_eq!(fired.load(Ordering::Relaxed), rounds * LIVE);
    dt
}

fn benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("select_fresh_after");
    g.sample_size(10).measurement_time(Duration::from_secs(3));
    g.throughput(Throughput::Elements(1));
    g.bench_function(BenchmarkId::from_parameter("greenchan"), |b| {
        b.iter_custom(select_fresh_after_greenchan)
    });
    g.bench_function(BenchmarkId::from_parameter("crossbeam-threads"), |b| {
        b.iter_custom(select_fresh_after_crossbeam)
    });
    g.finish();

    let mut g = c.benchmark_group("churn_10k");
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    g.throughput(Throughput::Elements(LIVE));
    g.bench_function(BenchmarkId::from_parameter("greenchan"), |b| {
        b.iter_custom(churn_greenchan)
    });
    g.bench_function(BenchmarkId::from_parameter("crossbeam-threads"), |b| {
        b.iter_custom(churn_crossbeam)
    });
    g.finish();
}

criterion_group!(timer_benches, benches);
criterion_main!(timer_benches);
