//! Coroutines and async code in one program, with tokio as the async runtime: coroutines wait
//! for tokio futures with `greenchan::block_on`, tokio tasks `.await` coroutines' handles, and
//! the two sides talk over tokio channels, or over greenchan channels, whose ends have async
//! operations (`recv_async`, `send_async`, `stream`) that any executor can await.
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

use std::future::poll_fn;
use std::pin::Pin;
use std::time::{Duration, Instant};

use futures_core::Stream;
use greenchan::{chan, go};

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

    greenchan_channels(handle);
}

/// Tokio tasks and coroutines on greenchan channels: the task awaits the async operations, the
/// coroutine calls the blocking ones, and a rendezvous hands each value straight across.
fn greenchan_channels(handle: &tokio::runtime::Handle) {
    let (ping_tx, ping_rx) = chan::bounded::<u64>(0);
    let (pong_tx, pong_rx) = chan::bounded::<u64>(0);
    handle.spawn(async move {
        while let Ok(v) = ping_rx.recv_async().await {
            if pong_tx.send_async(v + 1).await.is_err() {
                break;
            }
        }
    });
    let rounds = 10_000;
    let start = Instant::now();
    let mut v = 0;
    for _ in 0..rounds {
        ping_tx.send(v).unwrap();
        v = pong_rx.recv().unwrap();
    }
    assert_eq!(v, rounds);
    drop(ping_tx); // closes: the task's loop ends
    println!(
        "a coroutine and a tokio task played {rounds} rounds over greenchan channels in {:?}",
        start.elapsed()
    );

    // Cancel-safe: a tokio task waits for a message with a timeout, and every receive the
    // timeout drops is withdrawn (or gives back a value already handed to it): nothing is lost.
    let (tx, rx) = chan::unbounded::<&str>();
    let waiter = handle.spawn(async move {
        let mut timeouts = 0;
        loop {
            tokio::select! {
                msg = rx.recv_async() => return (msg, timeouts),
                _ = tokio::time::sleep(Duration::from_millis(5)) => timeouts += 1,
            }
        }
    });
    greenchan::sleep(Duration::from_millis(20));
    tx.send("late, not lost").unwrap();
    let (msg, timeouts) = greenchan::block_on(waiter).unwrap();
    println!(
        "a tokio task timed out {timeouts} times, then received {:?}",
        msg.unwrap()
    );

    // A stream: a tokio task sums what coroutines send, until the last sender closes.
    let (tx, rx) = chan::bounded::<u64>(16);
    let summer = handle.spawn(async move {
        let mut stream = rx.into_stream();
        let mut sum = 0;
        while let Some(v) = poll_fn(|cx| Pin::new(&mut stream).poll_next(cx)).await {
            sum += v;
        }
        sum
    });
    let producers: Vec<_> = (0..4u64)
        .map(|p| {
            let tx = tx.clone();
            go!(move || {
                for i in 0..100 {
                    tx.send(p * 100 + i).unwrap();
                }
            })
        })
        .collect();
    drop(tx);
    for p in producers {
        p.join().unwrap();
    }
    let sum = greenchan::block_on(summer).unwrap();
    assert_eq!(sum, (0..400).sum::<u64>());
    println!("a tokio task streamed what 4 coroutines sent: the sum is {sum}");
}
