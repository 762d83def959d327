//! Criterion benches of the async bridge: what `block_on` costs a coroutine, and a coroutine
//! talking to a tokio task beside two tokio tasks doing the same. `cargo bench -p
//! greenchan-runtime --bench bridge`.
//!
//! - `bridge/ready`: a coroutine awaits a future that is ready at once (the floor: a waker,
//!   one poll).
//! - `bridge/oneshot/*`: the waiter makes a tokio oneshot, hands its sender to a tokio task over
//!   a tokio channel, and awaits it; the task fires it. From a coroutine (`block_on`) and from a
//!   tokio task (`.await`).
//! - `bridge/pingpong/*`: one round trip over two tokio channels of capacity 1, between a
//!   coroutine and a tokio task, and between two tokio tasks.
//!
//! greenchan's global runtime and the tokio runtime each have two workers.

use std::future::ready;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use tokio::sync::{mpsc, oneshot};

fn tokio_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A tokio task that fires every oneshot sender it is handed.
fn firer(rt: &tokio::runtime::Runtime) -> mpsc::UnboundedSender<oneshot::Sender<u64>> {
    let (tx, mut rx) = mpsc::unbounded_channel::<oneshot::Sender<u64>>();
    rt.spawn(async move {
        while let Some(s) = rx.recv().await {
            let _ = s.send(1);
        }
    });
    tx
}

/// A tokio task that answers every value with the value plus one, for one ping-pong pair.
fn echo(rt: &tokio::runtime::Runtime) -> (mpsc::Sender<u64>, mpsc::Receiver<u64>) {
    let (ping_tx, mut ping_rx) = mpsc::channel::<u64>(1);
    let (pong_tx, pong_rx) = mpsc::channel::<u64>(1);
    rt.spawn(async move {
        while let Some(v) = ping_rx.recv().await {
            if pong_tx.send(v + 1).await.is_err() {
                break;
            }
        }
    });
    (ping_tx, pong_rx)
}

fn bridge(c: &mut Criterion) {
    let rt = tokio_runtime();
    let mut g = c.benchmark_group("bridge");
    g.measurement_time(Duration::from_secs(3));

    g.bench_function("ready", |b| {
        b.iter_custom(|iters| {
            green::run(move || {
                let start = Instant::now();
                for i in 0..iters {
                    black_box(green::block_on(ready(black_box(i))));
                }
                start.elapsed()
            })
        })
    });

    let fire = firer(&rt);
    g.bench_function("oneshot/coroutine", |b| {
        b.iter_custom(|iters| {
            let fire = fire.clone();
            green::run(move || {
                let start = Instant::now();
                for _ in 0..iters {
                    let (tx, rx) = oneshot::channel();
                    fire.send(tx).unwrap();
                    black_box(green::block_on(rx).unwrap());
                }
                start.elapsed()
            })
        })
    });
    g.bench_function("oneshot/tokio", |b| {
        b.iter_custom(|iters| {
            let fire = fire.clone();
            rt.block_on(rt.spawn(async move {
                let start = Instant::now();
                for _ in 0..iters {
                    let (tx, rx) = oneshot::channel();
                    fire.send(tx).unwrap();
                    black_box(rx.await.unwrap());
                }
                start.elapsed()
            }))
            .unwrap()
        })
    });

    g.bench_function("pingpong/coroutine_tokio", |b| {
        b.iter_custom(|iters| {
            let (ping, mut pong) = echo(&rt);
            green::run(move || {
                let start = Instant::now();
                for i in 0..iters {
                    green::block_on(ping.send(i)).unwrap();
                    black_box(green::block_on(pong.recv()).unwrap());
                }
                start.elapsed()
            })
        })
    });
    // The reference for any cross-thread round trip of a coroutine: a plain thread echoing
    // over std channels, the coroutine blocking on them through `block_on`-free park/unpark.
    g.bench_function("pingpong/coroutine_thread", |b| {
        b.iter_custom(|iters| {
            let (ping_tx, ping_rx) = std::sync::mpsc::sync_channel::<(u64, green::Coroutine)>(1);
            let (pong_tx, pong_rx) = std::sync::mpsc::sync_channel::<u64>(1);
            let echo = std::thread::spawn(move || {
                for (v, who) in ping_rx {
                    pong_tx.send(v + 1).unwrap();
                    who.unpark();
                }
            });
            let elapsed = green::run(move || {
                let me = green::current();
                let start = Instant::now();
                for i in 0..iters {
                    ping_tx.send((i, me.clone())).unwrap();
                    let v = loop {
                        match pong_rx.try_recv() {
                            Ok(v) => break v,
                            Err(_) => green::park(),
                        }
                    };
                    black_box(v);
                }
                start.elapsed()
            });
            echo.join().unwrap();
            elapsed
        })
    });
    g.bench_function("pingpong/tokio_tokio", |b| {
        b.iter_custom(|iters| {
            let (ping, mut pong) = echo(&rt);
            rt.block_on(rt.spawn(async move {
                let start = Instant::now();
                for i in 0..iters {
                    ping.send(i).await.unwrap();
                    black_box(pong.recv().await.unwrap());
                }
                start.elapsed()
            }))
            .unwrap()
        })
    });
    g.finish();
}

criterion_group!(benches, bridge);
criterion_main!(benches);
