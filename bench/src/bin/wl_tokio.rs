//! The DESIGN §4 workloads on tokio 1 (stackless, work-stealing): the stackless peer.
//!
//! Each workload runs on a multi-thread runtime with `--workers` worker threads (the default is
//! one per CPU, as tokio's own default), and the workload's body is itself a spawned task, so
//! everything runs on the workers as in the other runtimes (`block_on` only waits for it).
//! "One worker" is therefore `new_multi_thread().worker_threads(1)`: one thread runs every task
//! and drives the timers and the I/O driver; the main thread only waits (`stuck` spawns its
//! tasks from the main thread instead, as the workload asks).
//! Channels are tokio's own where tokio has one: `tokio::sync::mpsc` with capacity 1 stands in for
//! a rendezvous channel (tokio has none); the MPMC workloads use `async-channel`, the usual MPMC
//! channel under tokio.
//!
//! Usage and output: see `greenchan_bench` (`wl_tokio <workload> --workers N --size S`).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use greenchan_bench::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

fn main() {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.worker_threads())
        .enable_all()
        .build()
        .expect("tokio runtime");
    let n = args.size;
    if args.workload == "stuck" {
        stuck(rt, args.worker_threads(), n);
        std::process::exit(0);
    }
    let body = async move {
        match args.workload.as_str() {
            "spawn" => spawn(n).await,
            "spawn-wg" => spawn_wg(n).await,
            "skynet" => skynet_main(n).await,
            "pingpong" => pingpong(n).await,
            "mpmc" => mpmc(n).await,
            "select" => select_wl(n).await,
            "yield" => yield_wl(n).await,
            "parked" => parked(n).await,
            "starve" => starve(n).await,
            "echo" => echo().await,
            "http" => http().await,
            _ => unreachable!(),
        }
    };
    rt.block_on(async move { tokio::spawn(body).await.unwrap() });
}

async fn spawn(n: u64) {
    let counter = Arc::new(AtomicU64::new(0));
    let t0 = Instant::now();
    let mut hs = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let c = counter.clone();
        hs.push(tokio::spawn(async move {
            c.fetch_add(1, Ordering::Relaxed);
        }));
    }
    for h in hs {
        h.await.unwrap();
    }
    let dt = t0.elapsed();
    check(counter.load(Ordering::Relaxed) == n, "spawn count");
    report_ns_per("spawn", "ns/task", dt, n);
}

/// `spawn-wg`, Go's shape in tokio's idiom: detached tasks, each holding a clone of one mpsc
/// `Sender` that it drops when done; the spawner's `recv` returns `None` once every clone is
/// gone (tokio's documented way to wait for a group of tasks).
async fn spawn_wg(n: u64) {
    note("detached tasks, each holding a tokio::sync::mpsc::Sender clone dropped when it ends; the spawner waits for recv() to return None (tokio's wait-group idiom)");
    let counter = Arc::new(AtomicU64::new(0));
    let t0 = Instant::now();
    let (done_tx, mut done_rx) = mpsc::channel::<()>(1);
    for _ in 0..n {
        let (c, done) = (counter.clone(), done_tx.clone());
        tokio::spawn(async move {
            c.fetch_add(1, Ordering::Relaxed);
            drop(done);
        });
    }
    drop(done_tx);
    let none = done_rx.recv().await;
    let dt = t0.elapsed();
    check(none.is_none(), "spawn-wg: nothing is sent");
    check(counter.load(Ordering::Relaxed) == n, "spawn-wg count");
    report_ns_per("spawn-wg", "ns/task", dt, n);
}

/// A recursive async fn has to box its future: one of the costs of the stackless model.
fn skynet(tx: mpsc::Sender<u64>, num: u64, size: u64) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(async move {
        if size == 1 {
            tx.send(num).await.unwrap();
            return;
        }
        let (ctx, mut crx) = mpsc::channel(1);
        let step = size / SKYNET_FANOUT;
        for i in 0..SKYNET_FANOUT {
            tokio::spawn(skynet(ctx.clone(), num + i * step, step));
        }
        let mut sum = 0;
        for _ in 0..SKYNET_FANOUT {
            sum += crx.recv().await.unwrap();
        }
        tx.send(sum).await.unwrap();
    })
}

async fn skynet_main(leaves: u64) {
    note("tokio::sync::mpsc capacity 1 per node (tokio has no rendezvous channel)");
    let t0 = Instant::now();
    let (tx, mut rx) = mpsc::channel(1);
    tokio::spawn(skynet(tx, 0, leaves));
    let sum = rx.recv().await.unwrap();
    let dt = t0.elapsed();
    check(sum == skynet_expected(leaves), "skynet sum");
    report("skynet", "ms", dt.as_secs_f64() * 1e3);
}

async fn pingpong(n: u64) {
    note("tokio::sync::mpsc capacity 1 (tokio has no rendezvous channel)");
    let (ping_tx, mut ping_rx) = mpsc::channel::<u64>(1);
    let (pong_tx, mut pong_rx) = mpsc::channel::<u64>(1);
    let echo = tokio::spawn(async move {
        while let Some(v) = ping_rx.recv().await {
            pong_tx.send(v).await.unwrap();
        }
    });
    let t0 = Instant::now();
    for i in 0..n {
        ping_tx.send(i).await.unwrap();
        check(pong_rx.recv().await.unwrap() == i, "pingpong echo");
    }
    let dt = t0.elapsed();
    drop(ping_tx);
    echo.await.unwrap();
    report_ns_per("pingpong", "ns/roundtrip", dt, n);
}

async fn mpmc(n: u64) {
    note("async-channel bounded(128) (tokio has no MPMC channel)");
    let (tx, rx) = async_channel::bounded::<u64>(MPMC_CAP);
    let per = n / MPMC_SIDES as u64;
    let t0 = Instant::now();
    let producers: Vec<_> = (0..MPMC_SIDES)
        .map(|_| {
            let tx = tx.clone();
            tokio::spawn(async move {
                for i in 0..per {
                    tx.send(i).await.unwrap();
                }
            })
        })
        .collect();
    drop(tx);
    let consumers: Vec<_> = (0..MPMC_SIDES)
        .map(|_| {
            let rx = rx.clone();
            tokio::spawn(async move {
                let mut got = 0u64;
                while rx.recv().await.is_ok() {
                    got += 1;
                }
                got
            })
        })
        .collect();
    for h in producers {
        h.await.unwrap();
    }
    let mut got = 0;
    for h in consumers {
        got += h.await.unwrap();
    }
    let dt = t0.elapsed();
    check(got == per * MPMC_SIDES as u64, "mpmc count");
    report_ns_per("mpmc", "ns/msg", dt, got);
}

async fn select_wl(n: u64) {
    note("tokio::select! over 4 tokio::sync::mpsc capacity 1");
    let per = n / SELECT_ARMS as u64;
    let mut rxs = Vec::new();
    let mut keep_open = Vec::new(); // a finished producer must not close its channel mid-run
    for _ in 0..SELECT_ARMS {
        let (tx, rx) = mpsc::channel::<u64>(1);
        rxs.push(rx);
        keep_open.push(tx.clone());
        tokio::spawn(async move {
            for i in 0..per {
                tx.send(i).await.unwrap();
            }
        });
    }
    let [mut r0, mut r1, mut r2, mut r3]: [mpsc::Receiver<u64>; 4] = rxs.try_into().unwrap();
    let total = per * SELECT_ARMS as u64;
    let t0 = Instant::now();
    let mut got = 0u64;
    while got < total {
        tokio::select! {
            v = r0.recv() => { v.unwrap(); }
            v = r1.recv() => { v.unwrap(); }
            v = r2.recv() => { v.unwrap(); }
            v = r3.recv() => { v.unwrap(); }
        }
        got += 1;
    }
    let dt = t0.elapsed();
    drop(keep_open);
    report_ns_per("select", "ns/select", dt, got);
}

async fn yield_wl(per_task: u64) {
    let t0 = Instant::now();
    let hs: Vec<_> = (0..YIELD_TASKS)
        .map(|_| {
            tokio::spawn(async move {
                for _ in 0..per_task {
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    for h in hs {
        h.await.unwrap();
    }
    report_ns_per(
        "yield",
        "ns/yield",
        t0.elapsed(),
        per_task * YIELD_TASKS as u64,
    );
}

async fn parked(n: u64) {
    note("parked on an async-channel receive");
    let (tx, rx) = async_channel::bounded::<()>(1);
    let ready = Arc::new(AtomicU64::new(0));
    // Warm the runtime up so its own fixed costs are not counted per task.
    tokio::spawn(async {}).await.unwrap();
    let before = resident_bytes();
    let mut hs = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let (rx, ready) = (rx.clone(), ready.clone());
        hs.push(tokio::spawn(async move {
            ready.fetch_add(1, Ordering::SeqCst);
            let _ = rx.recv().await;
        }));
    }
    while ready.load(Ordering::SeqCst) < n {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let after = resident_bytes();
    drop(tx);
    for h in hs {
        h.await.unwrap();
    }
    report_parked(before, after, n);
}

async fn starve(spin_ms: u64) {
    let iters = calibrate_spin(Duration::from_millis(spin_ms));
    let sleeping = Arc::new(AtomicBool::new(false));
    let s = sleeping.clone();
    let sleeper = tokio::spawn(async move {
        let mut lat = WakeLatency::default();
        s.store(true, Ordering::SeqCst);
        for _ in 0..STARVE_SLEEPS {
            let t = Instant::now();
            tokio::time::sleep(Duration::from_millis(1)).await;
            lat.record(Duration::from_millis(1), t.elapsed());
        }
        lat
    });
    let spinner = tokio::spawn(async move {
        while !sleeping.load(Ordering::SeqCst) {
            tokio::task::yield_now().await;
        }
        let me = std::thread::current().id();
        std::hint::black_box(spin(iters));
        me
    });
    let spinner_thread = spinner.await.unwrap();
    let lat = sleeper.await.unwrap();
    lat.note_threads(spinner_thread, "another worker");
    lat.report(spin_ms);
}

/// `stuck`: every worker held by a task spinning with no `.await`; then a fresh task, spawned
/// from this plain thread, sleeps 1 ms twenty times. tokio cannot preempt a task that does not
/// await, so the fresh task cannot start while the spinners hold every worker: after the
/// deadline the run says so, releases the spinners, and ends.
fn stuck(rt: tokio::runtime::Runtime, workers: usize, deadline_ms: u64) {
    let stop = Arc::new(AtomicBool::new(false));
    let holding = Arc::new(AtomicU64::new(0));
    let spinners: Vec<_> = (0..workers)
        .map(|_| {
            let (stop, holding) = (stop.clone(), holding.clone());
            rt.spawn(async move {
                let me = std::thread::current().id();
                holding.fetch_add(1, Ordering::SeqCst);
                spin_until(&stop);
                me
            })
        })
        .collect();
    let limit = Duration::from_millis(deadline_ms);
    if !wait_until(limit, || holding.load(Ordering::SeqCst) == workers as u64) {
        stop.store(true, Ordering::Relaxed);
        never_ran(&format!(
            "only {} of {workers} spinners started within {deadline_ms} ms",
            holding.load(Ordering::SeqCst)
        ));
        rt.shutdown_timeout(Duration::from_secs(1));
        return;
    }
    let (tx, rx) = std::sync::mpsc::channel::<StuckTiming>();
    let started = Arc::new(AtomicBool::new(false));
    let s = started.clone();
    let t_spawn = Instant::now();
    let fresh = rt.spawn(async move {
        let start_delay = t_spawn.elapsed();
        s.store(true, Ordering::SeqCst);
        let mut worst_late = Duration::ZERO;
        for _ in 0..STARVE_SLEEPS {
            let t = Instant::now();
            tokio::time::sleep(Duration::from_millis(1)).await;
            worst_late = worst_late.max(t.elapsed().saturating_sub(Duration::from_millis(1)));
        }
        let _ = tx.send(StuckTiming {
            start_delay,
            worst_late,
        });
    });
    let got = rx.recv_timeout(limit.saturating_sub(t_spawn.elapsed()));
    // Read before the spinners are released, after which it starts anyway.
    let had_started = started.load(Ordering::SeqCst);
    stop.store(true, Ordering::Relaxed);
    let threads: Vec<_> = rt.block_on(async {
        let mut v = Vec::new();
        for h in spinners {
            v.push(h.await.unwrap());
        }
        v
    });
    note_spinner_threads(&threads);
    match got {
        Ok(timing) => {
            rt.block_on(fresh).unwrap();
            timing.report();
        }
        Err(_) => never_ran(&format!(
            "the fresh task {} {deadline_ms} ms after its spawn, while the spinners held every worker (tokio cannot preempt a task that does not await)",
            if had_started {
                "had started but not finished its sleeps"
            } else {
                "had not started"
            }
        )),
    }
    rt.shutdown_timeout(Duration::from_secs(1));
}

async fn echo_conn(mut s: TcpStream) {
    let _ = s.set_nodelay(true);
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(k) => {
                if s.write_all(&buf[..k]).await.is_err() {
                    return;
                }
            }
        }
    }
}

async fn echo() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listening(listener.local_addr().unwrap().port());
    loop {
        if let Ok((s, _)) = listener.accept().await {
            tokio::spawn(echo_conn(s));
        }
    }
}

async fn http_conn(mut s: TcpStream) {
    let _ = s.set_nodelay(true);
    let (mut inbuf, mut out, mut buf) = (Vec::new(), Vec::new(), [0u8; 4096]);
    loop {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(k) => {
                inbuf.extend_from_slice(&buf[..k]);
                if http_answer(&mut inbuf, &mut out) > 0 {
                    if s.write_all(&out).await.is_err() {
                        return;
                    }
                    out.clear();
                }
            }
        }
    }
}

async fn http() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listening(listener.local_addr().unwrap().port());
    loop {
        if let Ok((s, _)) = listener.accept().await {
            tokio::spawn(http_conn(s));
        }
    }
}
