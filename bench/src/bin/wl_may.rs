//! The DESIGN §4 workloads on may 0.3: the other stackful Rust runtime, greenchan's closest peer.
//!
//! `may::config().set_workers(n)` sets the worker count before first use (the default is one per
//! CPU); the workload's body runs as a coroutine and `main` joins it (`stuck` runs from `main`,
//! since its fresh task must be spawned from a plain thread).
//!
//! What "one worker" means for may: one worker thread (may pins it to a core) runs the
//! coroutines, but may also has a timer thread that *resumes* a coroutine whose sleep or
//! timeout expired right there, on the timer thread. So a sleeper can run beside a busy worker
//! with no preemption at all; `starve` notes on which thread its sleeper woke. may's stacks keep their
//! default size (0x1000 words, 32 KiB). may has no bounded or rendezvous channel, so every
//! workload uses its unbounded `may::sync::mpsc` / `mpmc` channels (noted in the report), and
//! `select` would use `may::select!` (one helper coroutine per arm per select, cqueue), but it
//! hangs on this workload, so it is reported unsupported unless `BENCH_MAY_SELECT=1` is set.
//!
//! Usage and output: see `greenchan_bench` (`wl_may <workload> --workers N --size S`).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use greenchan_bench::*;
use may::coroutine;
use may::go;
use may::net::{TcpListener, TcpStream};
use may::sync::{mpmc, mpsc};

fn main() {
    let args = Args::parse();
    may::config().set_workers(args.worker_threads());
    let n = args.size;
    if args.workload == "stuck" {
        stuck(args.worker_threads(), n);
        std::process::exit(0);
    }
    let body = go!(move || match args.workload.as_str() {
        "spawn" => spawn(n),
        "spawn-wg" => spawn_wg(n),
        "skynet" => skynet_main(n),
        "pingpong" => pingpong(n),
        "mpmc" => mpmc_wl(n),
        "select" => select_wl(n),
        "yield" => yield_wl(n),
        "parked" => parked(n),
        "starve" => starve(n),
        "echo" => serve(echo_conn),
        "http" => serve(http_conn),
        _ => unreachable!(),
    });
    body.join().unwrap();
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

/// `spawn-wg`, Go's shape: detached coroutines, each holding a clone of a `may::sync::WaitGroup`
/// that it drops when done; the spawner waits on the group.
fn spawn_wg(n: u64) {
    note("detached coroutines and a may::sync::WaitGroup (a clone per coroutine, dropped when it ends)");
    let counter = Arc::new(AtomicU64::new(0));
    let t0 = Instant::now();
    let wg = may::sync::WaitGroup::new();
    for _ in 0..n {
        let (c, wg) = (counter.clone(), wg.clone());
        go!(move || {
            c.fetch_add(1, Ordering::Relaxed);
            drop(wg);
        });
    }
    wg.wait();
    let dt = t0.elapsed();
    check(counter.load(Ordering::Relaxed) == n, "spawn-wg count");
    report_ns_per("spawn-wg", "ns/task", dt, n);
}

fn skynet(tx: mpsc::Sender<u64>, num: u64, size: u64) {
    if size == 1 {
        tx.send(num).unwrap();
        return;
    }
    let (ctx, crx) = mpsc::channel();
    let step = size / SKYNET_FANOUT;
    for i in 0..SKYNET_FANOUT {
        let ctx = ctx.clone();
        go!(move || skynet(ctx, num + i * step, step));
    }
    let sum: u64 = crx.iter().take(SKYNET_FANOUT as usize).sum();
    tx.send(sum).unwrap();
}

fn skynet_main(leaves: u64) {
    note("may::sync::mpsc, unbounded (may has no rendezvous channel)");
    let t0 = Instant::now();
    let (tx, rx) = mpsc::channel();
    go!(move || skynet(tx, 0, leaves));
    let sum = rx.recv().unwrap();
    let dt = t0.elapsed();
    check(sum == skynet_expected(leaves), "skynet sum");
    report("skynet", "ms", dt.as_secs_f64() * 1e3);
}

fn pingpong(n: u64) {
    note("may::sync::mpsc, unbounded (may has no rendezvous channel)");
    let (ping_tx, ping_rx) = mpsc::channel::<u64>();
    let (pong_tx, pong_rx) = mpsc::channel::<u64>();
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

fn mpmc_wl(n: u64) {
    note("may::sync::mpmc, unbounded (may has no bounded channel): producers never wait");
    let (tx, rx) = mpmc::channel::<u64>();
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
    if std::env::var_os("BENCH_MAY_SELECT").is_none() {
        unsupported(
            "may::select! hangs here: once one arm's channel runs dry the next select never returns \
             (seen with may 0.3.51; set BENCH_MAY_SELECT=1 to try again)",
        );
        return;
    }
    note("may::select! over 4 unbounded may::sync::mpsc (one helper coroutine per arm per select)");
    let per = n / SELECT_ARMS as u64;
    let mut rxs = Vec::new();
    let mut keep_open = Vec::new(); // a finished producer must not close its channel mid-run
    for _ in 0..SELECT_ARMS {
        let (tx, rx) = mpsc::channel::<u64>();
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
        let (r0, r1, r2, r3) = (&rxs[0], &rxs[1], &rxs[2], &rxs[3]);
        may::select!(
            v = r0.recv() => { v.unwrap(); },
            v = r1.recv() => { v.unwrap(); },
            v = r2.recv() => { v.unwrap(); },
            v = r3.recv() => { v.unwrap(); }
        );
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
                    coroutine::yield_now();
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
    note("parked on a may::sync::mpmc receive; 32 KiB stacks (may's default)");
    let (tx, rx) = mpmc::channel::<()>();
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
        coroutine::sleep(Duration::from_millis(1));
    }
    coroutine::sleep(Duration::from_millis(100));
    let after = resident_bytes();
    drop(tx);
    hs.into_iter().for_each(|h| h.join().unwrap());
    report_parked(before, after, n);
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
            coroutine::sleep(Duration::from_millis(1));
            lat.record(Duration::from_millis(1), t.elapsed());
        }
        lat
    });
    let spinner = go!(move || {
        while !sleeping.load(Ordering::SeqCst) {
            coroutine::yield_now();
        }
        let me = std::thread::current().id();
        std::hint::black_box(spin(iters));
        me
    });
    let spinner_thread = spinner.join().unwrap();
    let lat = sleeper.join().unwrap();
    lat.note_threads(
        spinner_thread,
        "may's timer thread resumes a coroutine whose sleep expired: no preemption involved",
    );
    lat.report(spin_ms);
}

/// `stuck`: every worker held by a coroutine spinning with no calls; then a fresh coroutine,
/// spawned from this plain thread, sleeps 1 ms twenty times. may cannot preempt, so the fresh
/// coroutine cannot start while the spinners hold every worker: after the deadline the run says
/// so, releases the spinners, and ends.
fn stuck(workers: usize, deadline_ms: u64) {
    let stop = Arc::new(AtomicBool::new(false));
    let holding = Arc::new(AtomicU64::new(0));
    let spinners: Vec<_> = (0..workers)
        .map(|_| {
            let (stop, holding) = (stop.clone(), holding.clone());
            go!(move || {
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
        return;
    }
    let (tx, rx) = std::sync::mpsc::channel::<StuckTiming>();
    let started = Arc::new(AtomicBool::new(false));
    let s = started.clone();
    let t_spawn = Instant::now();
    let fresh = go!(move || {
        let start_delay = t_spawn.elapsed();
        s.store(true, Ordering::SeqCst);
        let mut worst_late = Duration::ZERO;
        for _ in 0..STARVE_SLEEPS {
            let t = Instant::now();
            coroutine::sleep(Duration::from_millis(1));
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
    let threads: Vec<_> = spinners.into_iter().map(|h| h.join().unwrap()).collect();
    note_spinner_threads(&threads);
    match got {
        Ok(timing) => {
            fresh.join().unwrap();
            timing.report();
        }
        Err(_) => never_ran(&format!(
            "the fresh coroutine {} {deadline_ms} ms after its spawn, while the spinners held every worker (may cannot preempt a coroutine that makes no calls)",
            if had_started {
                "had started but not finished its sleeps"
            } else {
                "had not started"
            }
        )),
    }
}

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
