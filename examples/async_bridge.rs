//! Coroutines and async code in one program, with tokio as the async runtime: coroutines wait
//! for tokio futures with `greenchan::block_on`, tokio tasks `.await` coroutines' handles, and
//! the two sides talk over tokio channels.
//!
//! `cargo run --release --example async_bridge` (stops by itself)
//!
//! greenchan has no executor of its own: `block_on` polls the future on the coroutine and
//! parks the coroutine while it is pending; tokio's threads drive tokio's timers and I/O and
//! wake it. Two rules keep it sound:
//!
//! - create a tokio future that needs tokio's context (a timer, a socket) inside
//!   `handle.enter()`, and drop the guard before any greenchan call, as here; or run the async
//!   code as a tokio task (`handle.spawn`) and wait for its `JoinHandle` with `block_on`;
//! - never call `block_on` (or any blocking call) from inside a tokio task: await instead.

use std::time::{Duration, Instant};

use greenchan::go;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let handle = rt.handle().clone();
    greenchan::run(move || demo(&handle));
    // A tokio task awaits coroutines.
    let sum = rt.block_on(async {
        let handles: Vec<_> = (1..=10u64).map(|i| go!(move || i * i)).collect();
        let mut sum = 0;
        for h in handles {
            sum += h.await.unwrap(); // `JoinHandle` is `IntoFuture`
        }
        sum
    });
    println!("a tokio task awaited 10 coroutines: the sum of their squares is {sum}");
}

/// Coroutines awaiting tokio, and a coroutine playing ping-pong with a tokio task.
pub fn demo(handle: &tokio::runtime::Handle) {
    // 1,000 coroutines each wait on a tokio timer; the coroutines park, their workers are free.
    let start = Instant::now();
    let sleepers: Vec<_> = (0..1_000)
        .map(|_| {
            let handle = handle.clone();
            go!(move || {
                let sleep = {
                    let _enter = handle.enter(); // only while the future is created
                    tokio::time::sleep(Duration::from_millis(50))
                };
                greenchan::block_on(sleep);
            })
        })
        .collect();
    for s in sleepers {
        s.join().unwrap();
    }
    println!(
        "1000 coroutines waited on 50 ms tokio timers, together, in {:?}",
        start.elapsed()
    );

    // Any async code, as a tokio task, awaited from a coroutine through its JoinHandle.
    let answer = go!({
        let handle = handle.clone();
        move || {
            let task = handle.spawn(async {
                tokio::time::sleep(Duration::from_millis(1)).await;
                42
            });
            greenchan::block_on(task).unwrap()
        }
    });
    println!(
        "a coroutine awaited a tokio task: {}",
        answer.join().unwrap()
    );

    // Ping-pong between a coroutine and a tokio task over two tokio channels.
    let (ping_tx, mut ping_rx) = tokio::sync::mpsc::channel::<u64>(1);
    let (pong_tx, mut pong_rx) = tokio::sync::mpsc::channel::<u64>(1);
    handle.spawn(async move {
        while let Some(v) = ping_rx.recv().await {
            if pong_tx.send(v + 1).await.is_err() {
                break;
            }
        }
    });
    let rounds = 10_000;
    let start = Instant::now();
    let last = go!(move || {
        let mut v = 0;
        for _ in 0..rounds {
            greenchan::block_on(ping_tx.send(v)).unwrap();
            v = greenchan::block_on(pong_rx.recv()).unwrap();
        }
        v
    })
    .join()
    .unwrap();
    assert_eq!(last, rounds);
    println!(
        "a coroutine and a tokio task played {rounds} rounds of ping-pong in {:?}",
        start.elapsed()
    );
}
