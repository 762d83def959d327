//! The DESIGN §4 workloads on plain OS threads and crossbeam-channel: the baseline every green
//! runtime has to beat. One task is one `std::thread`; "one worker" is the same program pinned
//! to one CPU by the harness (`taskset -c 0`), since threads have no worker count of their own.
//!
//! Usage and output: see `greenchan_bench` (`wl_threads <workload> --workers N --size S`).

use std::collections::VecDeque;
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, select, Receiver, Sender};
use greenchan_bench::*;

fn main() {
    let args = Args::parse();
    let n = args.size;
    match args.workload.as_str() {
        "spawn" => spawn(n),
        "spawn-wg" => spawn_wg(n),
        "skynet" => skynet_main(n),
        "pingpong" => pingpong(n),
        "mpmc" => mpmc(n),
        "select" => select_wl(n),
        "yield" => yield_wl(n),
        "parked" => parked(n),
        "starve" => starve(n),
        "stuck" => stuck(n),
        "timers" => timers(n, false),
        "timers-mem" => timers(n, true),
        "timers-churn" => timers_churn(n),
        "echo" => echo(),
        "http" => http(),
        _ => unreachable!(),
    }
}

/// Spawns a thread or exits with "cannot run" when the kernel refuses (thread or map limits).
fn spawn_or_exit<F: FnOnce() + Send + 'static>(f: F, live: u64) -> thread::JoinHandle<()> {
    match thread::Builder::new().spawn(f) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("cannot run: thread spawn failed after {live} threads: {e}");
            std::process::exit(1);
        }
    }
}

fn spawn(n: u64) {
    const WINDOW: usize = 1024;
    note("joined in a rolling window of 1,024 threads: a million unjoined threads exceed the kernel's limits");
    let counter = Arc::new(AtomicU64::new(0));
    let t0 = Instant::now();
    let mut live = VecDeque::with_capacity(WINDOW);
    for _ in 0..n {
        let c = counter.clone();
        live.push_back(spawn_or_exit(
            move || {
                c.fetch_add(1, Ordering::Relaxed);
            },
            live.len() as u64,
        ));
        if live.len() >= WINDOW {
            live.pop_front().unwrap().join().unwrap();
        }
    }
    for h in live {
        h.join().unwrap();
    }
    let dt = t0.elapsed();
    check(counter.load(Ordering::Relaxed) == n, "spawn count");
    report_ns_per("spawn", "ns/task", dt, n);
}

/// `spawn-wg`, Go's shape: detached threads, each holding a clone of a crossbeam-utils
/// `WaitGroup` that it drops when done; the spawner waits on the group.
fn spawn_wg(n: u64) {
    note("detached threads and a crossbeam_utils::sync::WaitGroup (a clone per thread, dropped when it ends)");
    let counter = Arc::new(AtomicU64::new(0));
    let t0 = Instant::now();
    let wg = crossbeam_utils::sync::WaitGroup::new();
    for i in 0..n {
        let (c, wg) = (counter.clone(), wg.clone());
        drop(spawn_or_exit(
            move || {
                c.fetch_add(1, Ordering::Relaxed);
                drop(wg);
            },
            i - counter.load(Ordering::Relaxed),
        ));
    }
    wg.wait();
    let dt = t0.elapsed();
    check(counter.load(Ordering::Relaxed) == n, "spawn-wg count");
    report_ns_per("spawn-wg", "ns/task", dt, n);
}

fn skynet(tx: Sender<u64>, num: u64, size: u64, alive: Arc<AtomicU64>) {
    if size == 1 {
        tx.send(num).unwrap();
        return;
    }
    let (ctx, crx) = bounded(0);
    let step = size / SKYNET_FANOUT;
    for i in 0..SKYNET_FANOUT {
        let (ctx, alive) = (ctx.clone(), alive.clone());
        let live = alive.fetch_add(1, Ordering::Relaxed);
        spawn_or_exit(move || skynet(ctx, num + i * step, step, alive), live);
    }
    let sum: u64 = crx.iter().take(SKYNET_FANOUT as usize).sum();
    tx.send(sum).unwrap();
}

fn skynet_main(leaves: u64) {
    let t0 = Instant::now();
    let (tx, rx) = bounded(0);
    let alive = Arc::new(AtomicU64::new(0));
    thread::spawn(move || skynet(tx, 0, leaves, alive));
    let sum = rx.recv().unwrap();
    let dt = t0.elapsed();
    check(sum == skynet_expected(leaves), "skynet sum");
    report("skynet", "ms", dt.as_secs_f64() * 1e3);
}

fn pingpong(n: u64) {
    let (ping_tx, ping_rx) = bounded::<u64>(0);
    let (pong_tx, pong_rx) = bounded::<u64>(0);
    let echo = thread::spawn(move || {
        for v in ping_rx {
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
    let (tx, rx) = bounded::<u64>(MPMC_CAP);
    let per = n / MPMC_SIDES as u64;
    let t0 = Instant::now();
    let producers: Vec<_> = (0..MPMC_SIDES)
        .map(|_| {
            let tx = tx.clone();
            thread::spawn(move || {
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
            thread::spawn(move || rx.iter().count() as u64)
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
    let mut producers = Vec::new();
    let mut keep_open = Vec::new(); // a finished producer must not close its channel mid-run
    for _ in 0..SELECT_ARMS {
        let (tx, rx) = bounded::<u64>(0);
        rxs.push(rx);
        keep_open.push(tx.clone());
        producers.push(thread::spawn(move || {
            for i in 0..per {
                tx.send(i).unwrap();
            }
        }));
    }
    let t0 = Instant::now();
    let total = per * SELECT_ARMS as u64;
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
    producers.into_iter().for_each(|h| h.join().unwrap());
    report_ns_per("select", "ns/select", dt, got);
}

fn yield_wl(per_task: u64) {
    let t0 = Instant::now();
    let hs: Vec<_> = (0..YIELD_TASKS)
        .map(|_| {
            thread::spawn(move || {
                for _ in 0..per_task {
                    thread::yield_now();
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
    let (tx, rx) = bounded::<()>(0);
    let ready = Arc::new(AtomicU64::new(0));
    let before = resident_bytes();
    let mut hs = Vec::with_capacity(n as usize);
    for i in 0..n {
        let (rx, ready) = (rx.clone(), ready.clone());
        match thread::Builder::new().spawn(move || {
            ready.fetch_add(1, Ordering::SeqCst);
            let _ = rx.recv();
        }) {
            Ok(h) => hs.push(h),
            Err(e) => {
                eprintln!("cannot run: thread spawn failed with {i} threads parked: {e}");
                drop(tx);
                hs.into_iter().for_each(|h| h.join().unwrap());
                std::process::exit(1);
            }
        }
    }
    while ready.load(Ordering::SeqCst) < n {
        thread::sleep(Duration::from_millis(1));
    }
    thread::sleep(Duration::from_millis(100)); // the last ones reach their recv
    let after = resident_bytes();
    drop(tx);
    hs.into_iter().for_each(|h| h.join().unwrap());
    report_parked(before, after, n);
}

/// `timers` and `timers-mem`: a consumer thread selects `n` times between a channel a producer
/// thread feeds and a fresh crossbeam-channel `after(1h)`; every timer is set and dropped
/// unfired. Reports the time per iteration, or (`mem`) the growth of resident memory.
fn timers(n: u64, mem: bool) {
    let (tx, rx) = bounded::<u64>(TIMERS_CAP);
    let producer = thread::spawn(move || {
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
            recv(crossbeam_channel::after(Duration::from_secs(3600))) -> _ => unreachable!("an hour passed"),
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

/// `timers-churn`: `TIMERS_LIVE` threads (64 KiB stacks) each select between a quit channel
/// and a fresh crossbeam-channel `after(1ms)` until `n` timers have fired in all. Reports wall
/// time per timer.
fn timers_churn(n: u64) {
    let per = (n / TIMERS_LIVE).max(1);
    let (_quit_tx, quit_rx) = bounded::<()>(0);
    let fired = Arc::new(AtomicU64::new(0));
    let t0 = Instant::now();
    let mut hs = Vec::with_capacity(TIMERS_LIVE as usize);
    for i in 0..TIMERS_LIVE {
        let (quit, fired) = (quit_rx.clone(), fired.clone());
        let body = move || {
            for _ in 0..per {
                select! {
                    recv(quit) -> _ => return,
                    recv(crossbeam_channel::after(Duration::from_millis(1))) -> _ => {
                        fired.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        };
        match thread::Builder::new().stack_size(64 << 10).spawn(body) {
            Ok(h) => hs.push(h),
            Err(e) => {
                eprintln!("cannot run: thread spawn failed after {i} threads: {e}");
                std::process::exit(1);
            }
        }
    }
    hs.into_iter().for_each(|h| h.join().unwrap());
    let dt = t0.elapsed();
    let total = per * TIMERS_LIVE;
    check(fired.load(Ordering::Relaxed) == total, "timers fired");
    report_ns_per("timers-churn", "ns/timer", dt, total);
}

fn starve(spin_ms: u64) {
    let iters = calibrate_spin(Duration::from_millis(spin_ms));
    let sleeping = Arc::new(AtomicBool::new(false));
    let s = sleeping.clone();
    let sleeper = thread::spawn(move || {
        let mut lat = WakeLatency::default();
        s.store(true, Ordering::SeqCst);
        for _ in 0..STARVE_SLEEPS {
            let t = Instant::now();
            thread::sleep(Duration::from_millis(1));
            lat.record(Duration::from_millis(1), t.elapsed());
        }
        lat
    });
    let spinner = thread::spawn(move || {
        while !sleeping.load(Ordering::SeqCst) {
            thread::yield_now();
        }
        std::hint::black_box(spin(iters));
        thread::current().id()
    });
    let spinner_thread = spinner.join().unwrap();
    let lat = sleeper.join().unwrap();
    lat.note_threads(
        spinner_thread,
        "every task is its own thread; the kernel time-slices them",
    );
    lat.report(spin_ms);
}

/// `stuck`: one spinning thread per CPU the process may use (the harness pins "one worker" to
/// one CPU), then a fresh thread sleeps 1 ms twenty times. Trivially fine: the kernel
/// preempts the spinners. Reports the same figure as the runtimes do.
fn stuck(deadline_ms: u64) {
    let cpus = thread::available_parallelism().map_or(1, |n| n.get());
    note(&format!(
        "{cpus} spinning thread{} (one per CPU the process may use); the kernel time-slices them with the fresh thread",
        if cpus == 1 { "" } else { "s" }
    ));
    let stop = Arc::new(AtomicBool::new(false));
    let holding = Arc::new(AtomicU64::new(0));
    let spinners: Vec<_> = (0..cpus)
        .map(|_| {
            let (stop, holding) = (stop.clone(), holding.clone());
            thread::spawn(move || {
                holding.fetch_add(1, Ordering::SeqCst);
                spin_until(&stop);
            })
        })
        .collect();
    let limit = Duration::from_millis(deadline_ms);
    let all = wait_until(limit, || holding.load(Ordering::SeqCst) == cpus as u64);
    let (tx, rx) = crossbeam_channel::bounded::<StuckTiming>(1);
    let t_spawn = Instant::now();
    let fresh = thread::spawn(move || {
        let start_delay = t_spawn.elapsed();
        let mut worst_late = Duration::ZERO;
        for _ in 0..STARVE_SLEEPS {
            let t = Instant::now();
            thread::sleep(Duration::from_millis(1));
            worst_late = worst_late.max(t.elapsed().saturating_sub(Duration::from_millis(1)));
        }
        let _ = tx.send(StuckTiming {
            start_delay,
            worst_late,
        });
    });
    let got = rx.recv_timeout(limit.saturating_sub(t_spawn.elapsed()));
    stop.store(true, Ordering::Relaxed);
    spinners.into_iter().for_each(|h| h.join().unwrap());
    match (all, got) {
        (false, _) => never_ran("the spinning threads never all started"),
        (true, Ok(timing)) => {
            fresh.join().unwrap();
            timing.report();
        }
        (true, Err(_)) => never_ran(&format!(
            "the fresh thread had not finished {deadline_ms} ms after its spawn"
        )),
    }
}

fn echo_conn(s: TcpStream) {
    let _ = s.set_nodelay(true);
    echo_loop(s);
}

fn echo() {
    note("one thread per connection");
    serve(echo_conn);
}

fn http_conn(s: TcpStream) {
    let _ = s.set_nodelay(true);
    http_loop(s);
}

fn http() {
    note("one thread per connection");
    serve(http_conn);
}

fn serve(conn: fn(TcpStream)) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listening(listener.local_addr().unwrap().port());
    for s in listener.incoming().flatten() {
        thread::spawn(move || conn(s));
    }
}
