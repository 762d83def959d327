//! Criterion benches of greenchan alone, for regression tracking between harness runs: the
//! DESIGN §4 workloads that fit a benchmark loop (spawn+join, yield, pingpong, mpmc, select,
//! and skynet at 10,000 leaves). The comparison with other runtimes is `compare`'s job; these
//! only watch greenchan's own numbers move. Each measurement runs inside `greenchan::run`, so
//! the timed code is on a coroutine, as in the harness.
//!
//! `cargo bench -p greenchan-bench` (set `GREENCHAN_WORKERS=1` for the one-worker figures).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use greenchan::chan::{self, Sender};
use greenchan::{go, select};

/// Times `iters` calls of `f` on a coroutine of the global runtime.
fn on_runtime(iters: u64, f: fn()) -> Duration {
    greenchan::run(move || {
        let t0 = Instant::now();
        for _ in 0..iters {
            f();
        }
        t0.elapsed()
    })
}

const SPAWN_N: u64 = 10_000;
fn spawn_join() {
    let counter = Arc::new(AtomicU64::new(0));
    let hs: Vec<_> = (0..SPAWN_N)
        .map(|_| {
            let c = counter.clone();
            go!(move || {
                c.fetch_add(1, Ordering::Relaxed);
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    assert_eq!(counter.load(Ordering::Relaxed), SPAWN_N);
}

const YIELD_TASKS: u64 = 10;
const YIELDS: u64 = 1_000;
fn yields() {
    let hs: Vec<_> = (0..YIELD_TASKS)
        .map(|_| {
            go!(|| {
                for _ in 0..YIELDS {
                    greenchan::yield_now();
                }
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
}

const ROUND_TRIPS: u64 = 10_000;
fn pingpong() {
    let (ping_tx, ping_rx) = chan::bounded::<u64>(0);
    let (pong_tx, pong_rx) = chan::bounded::<u64>(0);
    let echo = go!(move || {
        for v in ping_rx.iter() {
            pong_tx.send(v).unwrap();
        }
    });
    for i in 0..ROUND_TRIPS {
        ping_tx.send(i).unwrap();
        assert_eq!(pong_rx.recv().unwrap(), i);
    }
    drop(ping_tx);
    echo.join().unwrap();
}

const MPMC_MSGS: u64 = 100_000;
fn mpmc() {
    let (tx, rx) = chan::bounded::<u64>(128);
    let producers: Vec<_> = (0..4)
        .map(|_| {
            let tx = tx.clone();
            go!(move || {
                for i in 0..MPMC_MSGS / 4 {
                    tx.send(i).unwrap();
                }
            })
        })
        .collect();
    drop(tx);
    let consumers: Vec<_> = (0..4)
        .map(|_| {
            let rx = rx.clone();
            go!(move || rx.iter().count() as u64)
        })
        .collect();
    producers.into_iter().for_each(|h| h.join().unwrap());
    let got: u64 = consumers.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(got, MPMC_MSGS);
}

const SELECTS: u64 = 10_000;
fn select4() {
    let mut rxs = Vec::new();
    let mut keep_open = Vec::new();
    for _ in 0..4 {
        let (tx, rx) = chan::bounded::<u64>(0);
        keep_open.push(tx.clone());
        rxs.push(rx);
        go!(move || {
            for i in 0..SELECTS / 4 {
                tx.send(i).unwrap();
            }
        });
    }
    for _ in 0..SELECTS {
        select! {
            recv(rxs[0]) -> v => { v.unwrap(); }
            recv(rxs[1]) -> v => { v.unwrap(); }
            recv(rxs[2]) -> v => { v.unwrap(); }
            recv(rxs[3]) -> v => { v.unwrap(); }
        }
    }
    drop(keep_open);
}

const SKYNET_LEAVES: u64 = 10_000;
fn skynet_node(tx: Sender<u64>, num: u64, size: u64) {
    if size == 1 {
        tx.send(num).unwrap();
        return;
    }
    let (ctx, crx) = chan::bounded(0);
    for i in 0..10 {
        let ctx = ctx.clone();
        go!(move || skynet_node(ctx, num + i * (size / 10), size / 10));
    }
    let sum: u64 = crx.iter().take(10).sum();
    tx.send(sum).unwrap();
}
fn skynet() {
    let (tx, rx) = chan::bounded(0);
    go!(move || skynet_node(tx, 0, SKYNET_LEAVES));
    assert_eq!(rx.recv().unwrap(), SKYNET_LEAVES * (SKYNET_LEAVES - 1) / 2);
}

fn benches(c: &mut Criterion) {
    let cases: [(&str, fn(), u64); 6] = [
        ("spawn_join", spawn_join, SPAWN_N),
        ("yield", yields, YIELD_TASKS * YIELDS),
        ("pingpong", pingpong, ROUND_TRIPS),
        ("mpmc", mpmc, MPMC_MSGS),
        ("select", select4, SELECTS),
        ("skynet", skynet, SKYNET_LEAVES),
    ];
    let mut g = c.benchmark_group("greenchan");
    g.sample_size(10).measurement_time(Duration::from_secs(3));
    for (name, f, elements) in cases {
        g.throughput(Throughput::Elements(elements));
        g.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter_custom(|iters| on_runtime(iters, f))
        });
    }
    g.finish();
}

criterion_group!(greenchan_benches, benches);
criterion_main!(greenchan_benches);
