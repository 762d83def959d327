//! The DESIGN §4 workloads on greenchan, written as a greenchan user would: plain blocking code
//! in coroutines spawned with `go!`, Go-style channels (`bounded(0)` is a rendezvous channel, as
//! an unbuffered Go channel) and `select!`.
//!
//! The worker count is set the way a user sets it, through `GREENCHAN_WORKERS` (greenchan's
//! `GOMAXPROCS`) before the global runtime starts; the body runs inside `greenchan::run`.
//! The echo and http servers run on `greenchan::net` (the netpoller), behind the default
//! `greenchan-net` feature; without it they report "unsupported".
//!
//! Usage and output: see `greenchan_bench` (`wl_greenchan <workload> --workers N --size S`).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use greenchan::chan::{self, Receiver, Sender};
use greenchan::{go, select};
use greenchan_bench::*;

fn main() {
    let args = Args::parse();
    if args.workers > 0 {
        // Before any thread exists: the global runtime reads it when it starts.
        std::env::set_var("GREENCHAN_WORKERS", args.workers.to_string());
    }
    let n = args.size;
    greenchan::run(move || match args.workload.as_str() {
        "spawn" => spawn(n),
        "skynet" => skynet_main(n),
        "pingpong" => pingpong(n),
        "mpmc" => mpmc(n),
        "select" => select_wl(n),
        "yield" => yield_wl(n),
        "parked" => parked(n),
        "starve" => starve(n),
        "timers" => timers(n, false),
        "timers-mem" => timers(n, true),
        "timers-churn" => timers_churn(n),
        "echo" => net::echo(),
        "http" => net::http(),
        _ => unreachable!(),
    });
}

fn spawn(n: u64) {
    let counter = Arc::new(AtomicU64::new(0));
    let t0 = Instant::now();
    let mut hs = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let c = counter.clone();
        hs.push(go!(move || {
            c.fetch_add(1, Ordering::Relaxed);
        }));
    }
    for h in hs {
        h.join().unwrap();
    }
    let dt = t0.elapsed();
    check(counter.load(Ordering::Relaxed) == n, "spawn count");
    report_ns_per("spawn", "ns/task", dt, n);
}

fn skynet(tx: Sender<u64>, num: u64, size: u64) {
    if size == 1 {
        tx.send(num).unwrap();
        return;
    }
    let (ctx, crx) = chan::bounded(0);
    let step = size / SKYNET_FANOUT;
    for i in 0..SKYNET_FANOUT {
        let ctx = ctx.clone();
        go!(move || skynet(ctx, num + i * step, step));
    }
    let sum: u64 = crx.iter().take(SKYNET_FANOUT as usize).sum();
    tx.send(sum).unwrap();
}

fn skynet_main(leaves: u64) {
    let t0 = Instant::now();
    let (tx, rx) = chan::bounded(0);
    go!(move || skynet(tx, 0, leaves));
    let sum = rx.recv().unwrap();
    let dt = t0.elapsed();
    check(sum == skynet_expected(leaves), "skynet sum");
    report("skynet", "ms", dt.as_secs_f64() * 1e3);
}

fn pingpong(n: u64) {
    let (ping_tx, ping_rx) = chan::bounded::<u64>(0);
    let (pong_tx, pong_rx) = chan::bounded::<u64>(0);
    let echo = go!(move || {
        for v in ping_rx.iter() {
            pong_tx.send(v).unwrap();
        }
    });
    let t0 = Instant::now();
    for i in 0..n {
        ping_tx.send(i).unwrap();
        check(pong_rx.recv().unwrap() == i, "pingpong echo");
    }
    let dt = t0.elapsed();
    drop(ping_tx);
    echo.join().unwrap();
    report_ns_per("pingpong", "ns/roundtrip", dt, n);
}

fn mpmc(n: u64) {
    let (tx, rx) = chan::bounded::<u64>(MPMC_CAP);
    let per = n / MPMC_SIDES as u64;
    let t0 = Instant::now();
    let producers: Vec<_> = (0..MPMC_SIDES)
        .map(|_| {
            let tx = tx.clone();
            go!(move || {
                for i in 0..per {
                    tx.send(i).unwrap();
                }
            })
        })
        .collect();
    drop(tx);
    let consumers: Vec<_> = (0..MPMC_SIDES)
        .map(|_| {
            let rx = rx.clone();
            go!(move || rx.iter().count() as u64)
        })
        .collect();
    producers.into_iter().for_each(|h| h.join().unwrap());
    let got: u64 = consumers.into_iter().map(|h| h.join().unwrap()).sum();
    let dt = t0.elapsed();
    check(got == per * MPMC_SIDES as u64, "mpmc count");
    report_ns_per("mpmc", "ns/msg", dt, got);
}

fn select_wl(n: u64) {
    let per = n / SELECT_ARMS as u64;
    let mut rxs: Vec<Receiver<u64>> = Vec::new();
    let mut keep_open = Vec::new(); // a finished producer must not close its channel mid-run
    for _ in 0..SELECT_ARMS {
        let (tx, rx) = chan::bounded::<u64>(0);
        rxs.push(rx);
        keep_open.push(tx.clone());
        go!(move || {
            for i in 0..per {
                tx.send(i).unwrap();
            }
        });
    }
    let total = per * SELECT_ARMS as u64;
    let t0 = Instant::now();
    let mut got = 0u64;
    while got < total {
        select! {
            recv(rxs[0]) -> v => { v.unwrap(); }
            recv(rxs[1]) -> v => { v.unwrap(); }
            recv(rxs[2]) -> v => { v.unwrap(); }
            recv(rxs[3]) -> v => { v.unwrap(); }
        }
        got += 1;
    }
    let dt = t0.elapsed();
    drop(keep_open);
    report_ns_per("select", "ns/select", dt, got);
}

fn yield_wl(per_task: u64) {
    let t0 = Instant::now();
    let hs: Vec<_> = (0..YIELD_TASKS)
        .map(|_| {
            go!(move || {
                for _ in 0..per_task {
                    greenchan::yield_now();
                }
            })
        })
        .collect();
    hs.into_iter().for_each(|h| h.join().unwrap());
    report_ns_per(
        "yield",
        "ns/yield",
        t0.elapsed(),
        per_task * YIELD_TASKS as u64,
    );
}

fn parked(n: u64) {
    let (tx, rx) = chan::bounded::<()>(0);
    let ready = Arc::new(AtomicU64::new(0));
    go!(|| ()).join().unwrap(); // warm up the runtime so its fixed costs are not counted per task
    let before = resident_bytes();
    let mut hs = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let (rx, ready) = (rx.clone(), ready.clone());
        hs.push(go!(move || {
            ready.fetch_add(1, Ordering::SeqCst);
            let _ = rx.recv();
        }));
    }
    while ready.load(Ordering::SeqCst) < n {
        greenchan::sleep(Duration::from_millis(1));
    }
    greenchan::sleep(Duration::from_millis(100));
    let after = resident_bytes();
    drop(tx); // closes the channel: every receiver wakes with Err(RecvError)
    hs.into_iter().for_each(|h| h.join().unwrap());
    report_parked(before, after, n);
}

/// `timers` and `timers-mem`: a consumer selects `n` times between a channel a producer feeds
/// and a fresh `after(1h)`; every timer is set and then dropped unfired. Reports the time per
/// iteration, or (`mem`) the growth of resident memory over the loop.
fn timers(n: u64, mem: bool) {
    let (tx, rx) = chan::bounded::<u64>(TIMERS_CAP);
    let producer = go!(move || {
        for i in 0..n {
            tx.send(i).unwrap();
        }
    });
    let before = resident_bytes();
    let t0 = Instant::now();
    let mut sum = 0u64;
    for _ in 0..n {
        select! {
            recv(rx) -> v => sum += v.unwrap(),
            recv(chan::after(Duration::from_secs(3600))) -> _ => unreachable!("an hour passed"),
        }
    }
    let dt = t0.elapsed();
    let after = resident_bytes();
    producer.join().unwrap();
    check(sum == n * (n.max(1) - 1) / 2, "timers sum");
    if mem {
        report("timers-mem", "bytes", after.saturating_sub(before) as f64);
    } else {
        report_ns_per("timers", "ns/timer", dt, n);
    }
}

/// `timers-churn`: `TIMERS_LIVE` tasks each select between a quit channel and a fresh
/// `after(1ms)` until `n` timers have fired in all: 10,000 timers alive at any moment, each
/// set, fired and replaced. Reports wall time per timer.
fn timers_churn(n: u64) {
    let per = (n / TIMERS_LIVE).max(1);
    let (_quit_tx, quit_rx) = chan::bounded::<()>(0);
    let fired = Arc::new(AtomicU64::new(0));
    let t0 = Instant::now();
    let hs: Vec<_> = (0..TIMERS_LIVE)
        .map(|_| {
            let (quit, fired) = (quit_rx.clone(), fired.clone());
            go!(move || {
                for _ in 0..per {
                    select! {
                        recv(quit) -> _ => return,
                        recv(chan::after(Duration::from_millis(1))) -> _ => {
                            fired.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    let dt = t0.elapsed();
    let total = per * TIMERS_LIVE;
    check(fired.load(Ordering::Relaxed) == total, "timers fired");
    report_ns_per("timers-churn", "ns/timer", dt, total);
}

fn starve(spin_ms: u64) {
    let iters = calibrate_spin(Duration::from_millis(spin_ms));
    let sleeping = Arc::new(AtomicBool::new(false));
    let s = sleeping.clone();
    let sleeper = go!(move || {
        let mut lat = WakeLatency::default();
        s.store(true, Ordering::SeqCst);
        for _ in 0..STARVE_SLEEPS {
            let t = Instant::now();
            greenchan::sleep(Duration::from_millis(1));
            lat.record(Duration::from_millis(1), t.elapsed());
        }
        lat
    });
    let spinner = go!(move || {
        while !sleeping.load(Ordering::SeqCst) {
            greenchan::yield_now();
        }
        spin(iters)
    });
    spinner.join().unwrap();
    sleeper.join().unwrap().report(spin_ms);
}

/// The servers, on `greenchan::net`: one coroutine per connection, plain blocking reads and
/// writes.
#[cfg(feature = "greenchan-net")]
mod net {

    use greenchan::go;
    use greenchan::net::{TcpListener, TcpStream};
    use greenchan_bench::{echo_loop, http_loop, listening};

    fn echo_conn(s: TcpStream) {
        let _ = s.set_nodelay(true);
        echo_loop(s);
    }

    fn http_conn(s: TcpStream) {
        let _ = s.set_nodelay(true);
        http_loop(s);
    }

    fn serve(conn: fn(TcpStream)) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listening(listener.local_addr().unwrap().port());
        for s in listener.incoming().flatten() {
            go!(move || conn(s));
        }
    }

    pub fn echo() {
        serve(echo_conn)
    }

    pub fn http() {
        serve(http_conn)
    }
}

/// The stand-ins when built without the `greenchan-net` feature.
#[cfg(not(feature = "greenchan-net"))]
mod net {
    const REASON: &str = "built without the greenchan-net feature";

    pub fn echo() {
        greenchan_bench::unsupported(REASON);
    }

    pub fn http() {
        greenchan_bench::unsupported(REASON);
    }
}
