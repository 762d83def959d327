//! The DESIGN §4 workloads on greenchan, written as a greenchan user would: plain blocking code
//! in coroutines spawned with `go!`, Go-style channels (`bounded(0)` is a rendezvous channel, as
//! an unbuffered Go channel) and `select!`.
//!
//! Each run builds one `greenchan::Runtime` with `--workers` workers (one per CPU when 0) and
//! otherwise the defaults: the sound configuration, where a started coroutine stays on its
//! thread and only greenchan calls switch it. The body runs inside `Runtime::run`; `go!` in it
//! lands on that runtime. `--allow-migration` and `--allow-async-preemption` turn on the
//! `unsafe` opt-ins (the harness's "greenchan (opt-ins)" column). `stuck` is driven from the
//! main thread instead, since its fresh task must be spawned from a plain thread.
//!
//! "One worker" here means one worker thread. The runtime also has its monitor thread, which
//! runs no coroutine, and starts spare worker threads when a worker has been stuck inside one
//! coroutine for longer than a time slice; a spare runs only coroutines that had not started
//! and due timers. Whenever spares were started during a run, the run says so in a note.
//!
//! The echo and http servers run on `greenchan::net` (the netpoller), behind the default
//! `greenchan-net` feature; without it they report "unsupported".
//!
//! Usage and output: see `greenchan_bench` (`wl_greenchan <workload> --workers N --size S`).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use greenchan::chan::{self, Receiver, Sender};
use greenchan::{go, select, Runtime};
use greenchan_bench::*;

fn main() {
    let args = Args::parse();
    let n = args.size;
    let rt = build_runtime(&args);
    if args.workload == "stuck" {
        stuck(&rt, args.worker_threads(), n);
    } else {
        let workload = args.workload.clone();
        rt.run(move || match workload.as_str() {
            "spawn" => spawn(n),
            "spawn-wg" => spawn_wg(n),
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
    note_runtime(&rt);
    // The process ends here with the runtime still up, as a Go program's does.
    std::process::exit(0);
}

/// The runtime of this run: the defaults with `--workers` workers, plus the `unsafe` opt-ins
/// the flags ask for.
fn build_runtime(args: &Args) -> Runtime {
    let mut b = Runtime::builder().workers(args.worker_threads());
    let mut opted = Vec::new();
    if args.allow_migration {
        // SAFETY: no coroutine of these workloads keeps thread-affine state across a greenchan
        // call: they hold only `Send` values (Arcs, atomics, channel ends, join handles,
        // `Instant`s, plain numbers and vectors), take no `std::sync` lock, borrow no
        // thread-local and cache no thread identity across a call (the thread ids `starve` and
        // `stuck` record are read fresh after each call and only compared); `println!` runs
        // between calls, never across one.
        b = unsafe { b.allow_migration() };
        opted.push("allow_migration");
    }
    if args.allow_async_preemption {
        // SAFETY: while they may be preempted, the coroutines of these workloads hold no
        // thread-affine state: no `std::sync` lock or guard (results come back through join
        // handles and atomics), no thread-local borrow (`thread::current()` on a worker reads
        // the handle std set when the thread started: no lazy initialisation), no lazily
        // initialised static being initialised; they allocate only through the system
        // allocator (libc's malloc, whose code the handler never interrupts: it preempts only
        // in this executable's own text); and the only printing (`report`, `note`) is done
        // by one coroutine at a time (the body, once the workload's other coroutines are done
        // or idle in a channel operation), so no two coroutines are ever inside stdout's lock.
        // The servers (echo, http) are not run with this opt-in by the harness.
        b = unsafe { b.allow_async_preemption() };
        opted.push("allow_async_preemption");
    }
    if !opted.is_empty() {
        note(&format!("unsafe opt-ins: {}", opted.join(", ")));
    }
    b.build().unwrap_or_else(|e| {
        eprintln!("cannot run: greenchan runtime: {e}");
        std::process::exit(1)
    })
}

/// Says what ran besides the workers: spare threads the monitor started for stuck workers, and
/// asynchronous preemptions (the opt-in).
fn note_runtime(rt: &Runtime) {
    let m = rt.metrics();
    if m.spare_threads_started > 0 {
        note(&format!(
            "the monitor started {} spare thread{} while workers were stuck (spares run only coroutines that had not started, and due timers)",
            m.spare_threads_started,
            if m.spare_threads_started == 1 { "" } else { "s" }
        ));
    }
    if m.async_preemptions > 0 {
        note(&format!("{} asynchronous preemptions", m.async_preemptions));
    }
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

/// `spawn-wg`, Go's shape: detached coroutines, each holding a clone of one `WaitGroup`
/// (crossbeam-utils' style: the clone adds a member, its drop marks it done); the spawner waits
/// on the group.
fn spawn_wg(n: u64) {
    note("detached coroutines and a greenchan::sync::WaitGroup (a clone per coroutine, dropped when it ends)");
    let counter = Arc::new(AtomicU64::new(0));
    let t0 = Instant::now();
    let wg = greenchan::sync::WaitGroup::new();
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
        let me = std::thread::current().id();
        std::hint::black_box(spin(iters));
        me
    });
    let spinner_thread = spinner.join().unwrap();
    let lat = sleeper.join().unwrap();
    lat.note_threads(
        spinner_thread,
        "a spare thread, the sleeper having started there",
    );
    lat.report(spin_ms);
}

/// `stuck`: every worker held by a coroutine spinning with no calls at all; then a fresh
/// coroutine, spawned from this plain thread, sleeps 1 ms twenty times. Reports the worse of
/// its start delay and its wake-up lateness. By default the monitor rescues the fresh
/// coroutine onto a spare thread; with async preemption (opt-in) a worker can run it too.
fn stuck(rt: &Runtime, workers: usize, deadline_ms: u64) {
    let stop = Arc::new(AtomicBool::new(false));
    let holding = Arc::new(AtomicU64::new(0));
    let spinners: Vec<_> = (0..workers)
        .map(|_| {
            let (stop, holding) = (stop.clone(), holding.clone());
            rt.spawn(move || {
                let me = std::thread::current().id();
                holding.fetch_add(1, Ordering::SeqCst);
                spin_until(&stop);
                me
            })
            .expect("spawn a spinner")
        })
        .collect();
    let limit = Duration::from_millis(deadline_ms);
    let release = |why: Option<String>| {
        stop.store(true, Ordering::Relaxed);
        if let Some(why) = why {
            never_ran(&why);
        }
    };
    if !wait_until(limit, || holding.load(Ordering::SeqCst) == workers as u64) {
        release(Some(format!(
            "only {} of {workers} spinners started within {deadline_ms} ms",
            holding.load(Ordering::SeqCst)
        )));
        return;
    }
    // The fresh coroutine hands its timing back through its join handle, polled from here:
    // no lock is shared with it (see the SAFETY comments of `build_runtime`).
    let started = Arc::new(AtomicBool::new(false));
    let s = started.clone();
    let t_spawn = Instant::now();
    let fresh = rt
        .spawn(move || {
            let start_delay = t_spawn.elapsed();
            s.store(true, Ordering::SeqCst);
            let mut worst_late = Duration::ZERO;
            for _ in 0..STARVE_SLEEPS {
                let t = Instant::now();
                greenchan::sleep(Duration::from_millis(1));
                worst_late = worst_late.max(t.elapsed().saturating_sub(Duration::from_millis(1)));
            }
            StuckTiming {
                start_delay,
                worst_late,
            }
        })
        .expect("spawn the fresh coroutine");
    let finished = wait_until(limit.saturating_sub(t_spawn.elapsed()), || {
        fresh.is_finished()
    });
    // Read before the spinners are released, after which it starts anyway.
    let had_started = started.load(Ordering::SeqCst);
    release(None);
    let threads: Vec<_> = spinners.into_iter().map(|h| h.join().unwrap()).collect();
    note_spinner_threads(&threads);
    if finished {
        fresh.join().unwrap().report();
    } else {
        never_ran(&format!(
            "the fresh coroutine {} {deadline_ms} ms after its spawn, while the spinners held every worker",
            if had_started {
                "had started but not finished its sleeps"
            } else {
                "had not started"
            }
        ));
    }
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
