//! The cost of the async bridge over channels, in time per round trip (criterion's time per
//! iteration; one iteration is one round trip):
//!
//! - `tokio_coroutine/greenchan(cap)`: a tokio task echoes with `recv_async`/`send_async`, a
//!   coroutine leads with the blocking `send`/`recv`, over two greenchan channels;
//! - `tokio_coroutine/tokio_mpsc_block_on(1)`: the same pair over two `tokio::sync::mpsc`
//!   channels of capacity 1, the coroutine awaiting tokio's futures with `green::block_on` (the
//!   bridge without greenchan's channels);
//! - `tokio_tokio/greenchan(cap)`: two tokio tasks, both with the async operations, over two
//!   greenchan channels (the async operations' own cost, with no coroutine);
//! - `tokio_tokio/tokio_mpsc(1)`: two tokio tasks over two `tokio::sync::mpsc` channels of
//!   capacity 1 (tokio has no rendezvous channel), the stackless baseline.
//!
//! Tokio runs a multi-thread runtime with 2 workers, greenchan its global runtime (one worker
//! per CPU unless `GREENCHAN_WORKERS` says otherwise).
//!
//! `cargo bench -p greenchan-channels --bench async_bridge`

use std::time::{Duration, Instant};

use channels::bounded;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

fn tokio_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A tokio task echoes `v + 1`; a coroutine times `iters` round trips.
fn tokio_coroutine(rt: &tokio::runtime::Runtime, cap: usize, iters: u64) -> Duration {
    let (ping_tx, ping_rx) = bounded::<u64>(cap);
    let (pong_tx, pong_rx) = bounded::<u64>(cap);
    let echo = rt.spawn(async move {
        while let Ok(v) = ping_rx.recv_async().await {
            if pong_tx.send_async(v + 1).await.is_err() {
                break;
            }
        }
    });
    let elapsed = green::run(move || {
        let t0 = Instant::now();
        let mut v = 0;
        for _ in 0..iters {
            ping_tx.send(v).unwrap();
            v = pong_rx.recv().unwrap();
        }
        assert_eq!(v, iters);
        t0.elapsed()
    });
    rt.block_on(echo).unwrap();
    elapsed
}

/// A tokio task echoes over tokio channels; a coroutine leads through `block_on`.
fn tokio_coroutine_block_on(rt: &tokio::runtime::Runtime, iters: u64) -> Duration {
    let (ping_tx, mut ping_rx) = tokio::sync::mpsc::channel::<u64>(1);
    let (pong_tx, mut pong_rx) = tokio::sync::mpsc::channel::<u64>(1);
    let echo = rt.spawn(async move {
        while let Some(v) = ping_rx.recv().await {
            if pong_tx.send(v + 1).await.is_err() {
                break;
            }
        }
    });
    let elapsed = green::run(move || {
        let t0 = Instant::now();
        let mut v = 0;
        for _ in 0..iters {
            green::block_on(ping_tx.send(v)).unwrap();
            v = green::block_on(pong_rx.recv()).unwrap();
        }
        assert_eq!(v, iters);
        t0.elapsed()
    });
    rt.block_on(echo).unwrap();
    elapsed
}

/// Two tokio tasks over greenchan channels.
fn tokio_tokio_greenchan(rt: &tokio::runtime::Runtime, cap: usize, iters: u64) -> Duration {
    let (ping_tx, ping_rx) = bounded::<u64>(cap);
    let (pong_tx, pong_rx) = bounded::<u64>(cap);
    let echo = rt.spawn(async move {
        while let Ok(v) = ping_rx.recv_async().await {
            if pong_tx.send_async(v + 1).await.is_err() {
                break;
            }
        }
    });
    let lead = rt.spawn(async move {
        let t0 = Instant::now();
        let mut v = 0;
        for _ in 0..iters {
            ping_tx.send_async(v).await.unwrap();
            v = pong_rx.recv_async().await.unwrap();
        }
        assert_eq!(v, iters);
        t0.elapsed()
    });
    let elapsed = rt.block_on(lead).unwrap();
    rt.block_on(echo).unwrap();
    elapsed
}

/// Two tokio tasks over tokio's mpsc channels.
fn tokio_tokio_mpsc(rt: &tokio::runtime::Runtime, iters: u64) -> Duration {
    let (ping_tx, mut ping_rx) = tokio::sync::mpsc::channel::<u64>(1);
    let (pong_tx, mut pong_rx) = tokio::sync::mpsc::channel::<u64>(1);
    let echo = rt.spawn(async move {
        while let Some(v) = ping_rx.recv().await {
            if pong_tx.send(v + 1).await.is_err() {
                break;
            }
        }
    });
    let lead = rt.spawn(async move {
        let t0 = Instant::now();
        let mut v = 0;
        for _ in 0..iters {
            ping_tx.send(v).await.unwrap();
            v = pong_rx.recv().await.unwrap();
        }
        assert_eq!(v, iters);
        t0.elapsed()
    });
    let elapsed = rt.block_on(lead).unwrap();
    rt.block_on(echo).unwrap();
    elapsed
}

fn benches(c: &mut Criterion) {
    let rt = tokio_runtime();
    let mut g = c.benchmark_group("async_bridge");
    g.throughput(Throughput::Elements(1));
    g.sample_size(20);
    for cap in [0, 1] {
        g.bench_with_input(
            BenchmarkId::new("tokio_coroutine/greenchan", cap),
            &cap,
            |b, &cap| b.iter_custom(|iters| tokio_coroutine(&rt, cap, iters)),
        );
    }
    g.bench_function(
        BenchmarkId::new("tokio_coroutine/tokio_mpsc_block_on", 1),
        |b| b.iter_custom(|iters| tokio_coroutine_block_on(&rt, iters)),
    );
    for cap in [0, 1] {
        g.bench_with_input(
            BenchmarkId::new("tokio_tokio/greenchan", cap),
            &cap,
            |b, &cap| b.iter_custom(|iters| tokio_tokio_greenchan(&rt, cap, iters)),
        );
    }
    g.bench_function(BenchmarkId::new("tokio_tokio/tokio_mpsc", 1), |b| {
        b.iter_custom(|iters| tokio_tokio_mpsc(&rt, iters))
    });
    g.finish();
}

criterion_group!(async_bridge, benches);
criterion_main!(async_bridge);
