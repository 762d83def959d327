//! spawn, pingpong and skynet over the facade's channels (the shapes of `greenchan.rs`, at
//! 10,000 tasks, round trips and leaves) as a fixed-iteration program on one worker, for
//! *instruction counts* under cachegrind, which repeat to 0.01% where wall time on a shared
//! machine moves by tens of percent. See `green/benches/bookkeeping_count.rs` for how to run it
//! (`cargo bench -p greenchan-bench --bench facade_count --no-run`, then
//! `valgrind --tool=cachegrind --cache-sim=no <executable> <case> <reps>`). Run by
//! `cargo bench` without a case it does nothing.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use greenchan::chan::{self, Sender};
use greenchan::go;

fn skynet_node(tx: Sender<u64>, num: u64, size: u64) {
    if size == 1 {
        tx.send(num).unwrap();
        return;
    }
    let (ctx, crx) = chan::bounded(0);
    let step = size / 10;
    for i in 0..10 {
        let ctx = ctx.clone();
        go!(move || skynet_node(ctx, num + i * step, step));
    }
    let sum: u64 = crx.iter().take(10).sum();
    tx.send(sum).unwrap();
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let case = args.get(1).cloned().unwrap_or_default();
    if !["spawn", "pingpong", "skynet"].contains(&case.as_str()) {
        eprintln!("usage: {} <spawn|pingpong|skynet> <reps>", args[0]);
        return;
    }
    let reps: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1);
    let rt = greenchan::Runtime::builder().workers(1).build().unwrap();
    let r = rt.run(move || {
        let mut acc = 0u64;
        for _ in 0..reps {
            match case.as_str() {
                "spawn" => {
                    let counter = Arc::new(AtomicU64::new(0));
                    let hs: Vec<_> = (0..10_000)
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
                    acc += counter.load(Ordering::Relaxed);
                }
                "pingpong" => {
                    let (ptx, prx) = chan::bounded::<u64>(0);
                    let (qtx, qrx) = chan::bounded::<u64>(0);
                    let echo = go!(move || {
                        for v in prx.iter() {
                            qtx.send(v).unwrap();
                        }
                    });
                    for i in 0..10_000u64 {
                        ptx.send(i).unwrap();
                        acc += qrx.recv().unwrap();
                    }
                    drop(ptx);
                    echo.join().unwrap();
                }
                "skynet" => {
                    let (tx, rx) = chan::bounded(0);
                    go!(move || skynet_node(tx, 0, 10_000));
                    acc += rx.recv().unwrap();
                }
                _ => {}
            }
        }
        acc
    });
    println!("{r}");
    std::process::exit(0);
}
