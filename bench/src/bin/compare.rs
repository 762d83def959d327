//! The comparison harness of DESIGN §4: runs every workload on greenchan, may, tokio, OS threads
//! and Go, with the default worker count and with one worker, several times each (the runs
//! alternate: run 1 of every cell of a workload, then run 2 of each, ...), and writes
//! `docs/compare.md` (the machine, what "one worker" means for each runtime, then one table per
//! workload with the median, the spread and the ratio to greenchan) and one SVG chart per
//! workload, `docs/compare-<workload>.svg`.
//!
//! greenchan runs twice: in its default, sound configuration (the headline column), and as
//! "greenchan (opt-ins)" with the `unsafe` opt-ins that can change the workload's figure
//! (`allow_migration`, `allow_async_preemption`), passed to `wl_greenchan` as flags. The
//! opt-in column runs only the workloads that name their opt-ins in [`workloads`].
//!
//! ```text
//! cargo run --release -p greenchan-bench --bin compare -- [--quick] [--runs N] [--only spawn,yield]
//!     [--runtimes greenchan,tokio] [--timeout SECS] [--out DIR] [--no-build] [--strict]
//!     [--strict-opt-ins]
//! ```
//!
//! It first brings the workload binaries up to date (`cargo build -p greenchan-bench --bins`
//! with the profile and target directory it was itself built with; when greenchan does not
//! compile it builds the peers alone and says so) and builds the Go program with `go build`
//! when a `go` toolchain is on the PATH. Every run is a child process with a time limit: a
//! crash, a hang or an out-of-memory-maps failure is recorded in the table and the harness goes
//! on. `--quick` runs each cell once on small sizes and writes to `<target>/compare-quick/`
//! unless `--out` says otherwise, so CI smoke runs never overwrite the committed report.
//! `--strict` (for CI) exits with status 1 when greenchan's binary was not built or one of its
//! default-configuration runs crashed, hung or failed; `--strict-opt-ins` does the same for the
//! "greenchan (opt-ins)" column, whose failures are otherwise printed as warnings (and shown in
//! the report). Peers' failures never fail the harness.
//!
//! This file owns the workload list (sizes, metrics, which are servers), the runner, the
//! statistics, the markdown report and the SVG charts (hand-written: a grouped bar chart needs
//! no plotting library).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How a workload is driven.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    /// The binary runs the workload and prints its result.
    Plain,
    /// The binary is an echo server; `echo_client` loads it with this many connections.
    Echo { conns: usize },
    /// The binary is an HTTP server; `wrk` loads it.
    Http,
}

/// One row of DESIGN §4's table, as run by the harness.
struct Workload {
    /// Name in the report and in `--only`; also the chart's file name.
    id: &'static str,
    /// The workload name the binaries take.
    arg: &'static str,
    /// What it does, for the report.
    what: &'static str,
    /// Unit of the figure.
    unit: &'static str,
    /// What the size counts, for chart titles ("tasks", "ms of spinning").
    noun: &'static str,
    /// Whether a bigger figure is better.
    higher_better: bool,
    size: u64,
    quick_size: u64,
    kind: Kind,
    /// Only run with one worker (starve).
    one_worker_only: bool,
    /// The flags `wl_greenchan` gets in the "greenchan (opt-ins)" column: the `unsafe` opt-ins
    /// that can change this workload's figure. Empty: that column skips the workload.
    opt_ins: &'static [&'static str],
}

/// The opt-in that matters for message passing: started coroutines move between workers.
const MIGRATION: &[&str] = &["--allow-migration"];

fn workloads() -> Vec<Workload> {
    let w = |id, arg, what, unit, noun, size, quick_size| Workload {
        id,
        arg,
        what,
        unit,
        noun,
        higher_better: false,
        size,
        quick_size,
        kind: Kind::Plain,
        one_worker_only: false,
        opt_ins: &[],
    };
    let m = |w: Workload| Workload {
        opt_ins: MIGRATION,
        ..w
    };
    vec![
        m(w("spawn", "spawn", "spawn {n} tasks that each increment an atomic; join all (by join handle; Go, which has none, with a `sync.WaitGroup`)", "ns/task", "tasks", 1_000_000, 10_000)),
        m(w("spawn-wg", "spawn-wg", "spawn {n} detached tasks that each increment an atomic and signal a wait group; the spawner waits on the group (Go's shape)", "ns/task", "tasks", 1_000_000, 10_000)),
        m(w("skynet", "skynet", "the skynet tree: {n} leaves, fan-out 10, each node sums its children over a channel", "ms", "leaves", 1_000_000, 10_000)),
        m(w("pingpong", "pingpong", "two tasks, two rendezvous (unbuffered) channels, {n} round trips", "ns/round trip", "round trips", 1_000_000, 20_000)),
        m(w("mpmc", "mpmc", "4 producers, 4 consumers, one channel of capacity 128, {n} messages", "ns/msg", "messages", 4_000_000, 100_000)),
        m(w("select", "select", "4 producers on 4 rendezvous channels, one consumer selecting over all 4, {n} receives", "ns/select", "receives", 1_000_000, 20_000)),
        m(w("yield", "yield", "100 tasks each yielding {n} times", "ns/yield", "yields per task", 100_000, 1_000)),
        w("parked-100k", "parked", "{n} tasks parked on a channel receive; resident memory growth (VmRSS) divided by the tasks", "bytes/task", "tasks", 100_000, 10_000),
        w("parked-1m", "parked", "{n} tasks parked on a channel receive; resident memory growth (VmRSS) divided by the tasks", "bytes/task", "tasks", 1_000_000, 20_000),
        w("timers", "timers", "a select loop, {n} times, between a channel of capacity 128 a producer feeds and a fresh `after(1h)` (Go: `time.After`), each timer set and dropped unfired", "ns/timer", "timers", 1_000_000, 20_000),
        w("timers-mem", "timers-mem", "the `timers` loop, {n} times; resident memory growth (VmRSS) over the loop", "bytes", "timers", 1_000_000, 20_000),
        w("timers-churn", "timers-churn", "10,000 tasks each select between a shared quit channel and a fresh `after(1ms)` until {n} timers have fired in all", "ns/timer", "timers", 1_000_000, 20_000),
        Workload {
            one_worker_only: true,
            opt_ins: &["--allow-async-preemption"],
            ..w("starve", "starve", "1 worker; one task spins for ~{n} ms in a loop with no calls, another sleeps 1 ms 20 times; worst sleep overshoot. DESIGN §4 runs greenchan with async preemption opted in (the opt-ins row); the default row shows what the sound default does, where nothing can interrupt a call-free loop", "ms", "ms of spinning", 1_000, 200)
        },
        Workload {
            opt_ins: &["--allow-async-preemption", "--allow-migration"],
            ..w("stuck", "stuck", "every worker held by a task spinning with no calls; then a fresh task, spawned from a plain thread, sleeps 1 ms 20 times; the worse of its start delay and its worst wake-up lateness. A run gives up {n} ms after the spawn and then says \"never ran\", releases the spinners and ends", "ms", "ms deadline", 5_000, 1_000)
        },
        Workload {
            higher_better: true,
            kind: Kind::Echo { conns: 50 },
            ..w("echo-50", "echo", "TCP echo server on loopback, 64-byte messages, 50 connections, fixed client (`echo_client`, tokio, 2 threads), {n} s", "req/s", "", 3, 0)
        },
        Workload {
            higher_better: true,
            kind: Kind::Echo { conns: 1000 },
            ..w("echo-1000", "echo", "TCP echo server on loopback, 64-byte messages, 1,000 connections, fixed client (`echo_client`, tokio, 2 threads), {n} s", "req/s", "", 3, 0)
        },
        Workload {
            higher_better: true,
            kind: Kind::Http,
            ..w("http", "http", "plaintext \"Hello, World!\" HTTP/1.1 keep-alive server, loaded with `wrk -t2 -c100 -d{n}s --latency`; its p99 latency has a column of its own", "req/s", "", 5, 1)
        },
    ]
}

/// The runtimes, in report order; greenchan first, the others are compared with it.
/// `greenchan-optin` is `wl_greenchan` with the workload's `unsafe` opt-ins.
const RUNTIMES: &[&str] = &[
    "greenchan",
    "greenchan-optin",
    "may",
    "tokio",
    "threads",
    "go",
];

/// The opt-in column's runtime name.
const OPTIN: &str = "greenchan-optin";

/// A runtime's name in the report.
fn label(name: &str) -> &str {
    if name == OPTIN {
        "greenchan (opt-ins)"
    } else {
        name
    }
}

/// Whether runtime `name` runs workload `w` at all (the opt-in column skips workloads no
/// opt-in changes).
fn runs(name: &str, w: &Workload) -> bool {
    name != OPTIN || !w.opt_ins.is_empty()
}

/// What "workers" means for each runtime, for the report's preamble and the README.
const WORKER_MEANING: &[(&str, &str)] = &[
    ("greenchan", "`Runtime::builder().workers(n)`: n worker threads run coroutines. Beside them runs the monitor thread, which runs no coroutine, and, only while a worker has been stuck inside one coroutine for longer than a time slice, spare worker threads that run coroutines that had not started yet and due timers (never a started coroutine: those stay on their thread). A run that started spares says so in its notes."),
    ("greenchan (opt-ins)", "the same runtime with `unsafe` opt-ins: `allow_migration` (started coroutines may move between workers, as goroutines do) for the message-passing workloads, `allow_async_preemption` (a signal interrupts a coroutine past its slice, even in a loop with no calls) for `starve`, both for `stuck`. Each row's notes list them."),
    ("may", "`may::config().set_workers(n)`: n worker threads (pinned to cores) run the coroutines. may also has a timer thread that resumes a coroutine whose sleep or timeout expired *on the timer thread itself*, so with one worker a sleeping coroutine can still run beside a busy worker: `starve`'s notes say on which thread its sleeper woke."),
    ("tokio", "`new_multi_thread().worker_threads(n)`: n worker threads run the tasks and drive the timers and I/O; the main thread only waits in `block_on` for the workload's task (no blocking-pool thread is used)."),
    ("threads", "one OS thread per task whatever n is. With one worker the process is pinned to one CPU (`taskset -c 0`), so the kernel time-slices every thread on it; with the default, it may use every CPU."),
    ("go", "`GOMAXPROCS=n`: n Ps, so at most n goroutines run Go code at once; other OS threads (sysmon, threads in system calls) run no goroutine."),
];

struct Options {
    quick: bool,
    runs: usize,
    only: Option<Vec<String>>,
    runtimes: Vec<String>,
    timeout: Option<Duration>,
    out: Option<PathBuf>,
    build: bool,
    strict: bool,
    strict_opt_ins: bool,
}

fn parse_options() -> Result<Options, String> {
    let mut o = Options {
        quick: false,
        runs: 0,
        only: None,
        runtimes: RUNTIMES.iter().map(|s| s.to_string()).collect(),
        timeout: None,
        out: None,
        build: true,
        strict: false,
        strict_opt_ins: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = || it.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--quick" => o.quick = true,
            "--no-build" => o.build = false,
            "--strict" => o.strict = true,
            "--strict-opt-ins" => o.strict_opt_ins = true,
            "--runs" => o.runs = value()?.parse().map_err(|_| "--runs: not a number")?,
            "--only" => o.only = Some(value()?.split(',').map(str::to_string).collect()),
            "--runtimes" => o.runtimes = value()?.split(',').map(str::to_string).collect(),
            "--timeout" => {
                let s: f64 = value()?.parse().map_err(|_| "--timeout: not a number")?;
                o.timeout = Some(Duration::from_secs_f64(s));
            }
            "--out" => o.out = Some(PathBuf::from(value()?)),
            "-h" | "--help" => {
                println!(
                    "usage: compare [--quick] [--runs N] [--only {}] [--runtimes {}] [--timeout SECS] [--out DIR] [--no-build] [--strict] [--strict-opt-ins]",
                    workloads().iter().map(|w| w.id).collect::<Vec<_>>().join(","),
                    RUNTIMES.join(",")
                );
                std::process::exit(0);
            }
            _ => return Err(format!("unknown argument {a:?} (try --help)")),
        }
    }
    if let Some(only) = &o.only {
        let all = workloads();
        for id in only {
            if !all.iter().any(|w| w.id == id || w.arg == id) {
                return Err(format!("--only: unknown workload {id:?}"));
            }
        }
    }
    for r in &o.runtimes {
        if !RUNTIMES.contains(&r.as_str()) {
            return Err(format!("--runtimes: unknown runtime {r:?}"));
        }
    }
    if o.runs == 0 {
        o.runs = if o.quick { 1 } else { 5 };
    }
    Ok(o)
}

/// A runtime's program, or why there is none.
struct Program {
    name: &'static str,
    path: Result<PathBuf, String>,
}

/// What one run produced.
#[derive(Clone, Debug)]
enum Outcome {
    Value { v: f64, p99_ms: Option<f64> },
    Unsupported(String),
    Failed(String),
}

/// The cells of one workload, by (runtime, workers); workers 0 is the default count.
type Cells = BTreeMap<(String, usize), Cell>;

#[derive(Default)]
struct Cell {
    values: Vec<f64>,
    p99s: Vec<f64>,
    failures: Vec<String>,
    unsupported: Option<String>,
    notes: Vec<String>,
}

impl Cell {
    fn median(&self) -> Option<f64> {
        median(&self.values)
    }
}

fn median(v: &[f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let m = s.len() / 2;
    Some(if s.len() % 2 == 1 {
        s[m]
    } else {
        (s[m - 1] + s[m]) / 2.0
    })
}

fn main() {
    let opts = match parse_options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("compare: {e}");
            std::process::exit(2);
        }
    };
    let started = Instant::now();
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let exe = std::env::current_exe().expect("current_exe");
    let bin_dir = exe.parent().expect("exe dir").to_path_buf();
    let profile = bin_dir
        .file_name()
        .and_then(|s| s.to_str())
        .unwrap_or("")
        .to_string();
    if profile != "release" {
        eprintln!("compare: warning: built with the {profile:?} profile; figures are only meaningful with --release");
    }

    let greenchan_built = if opts.build {
        build_bins(&manifest_dir, &bin_dir, &profile)
    } else {
        Ok(())
    };
    let go_bin = if opts.runtimes.iter().any(|r| r == "go") {
        build_go(&manifest_dir, &bin_dir)
    } else {
        Err("not selected".into())
    };
    let programs: Vec<Program> = opts
        .runtimes
        .iter()
        .map(|r| {
            let name = RUNTIMES.iter().find(|n| *n == r).copied().unwrap();
            let path = match name {
                "go" => go_bin.clone(),
                "greenchan" | OPTIN => greenchan_built
                    .clone()
                    .and_then(|_| existing(&bin_dir, "wl_greenchan")),
                other => existing(&bin_dir, &format!("wl_{other}")),
            };
            Program { name, path }
        })
        .collect();
    let echo_client = existing(&bin_dir, "echo_client");
    let wrk = which("wrk");

    let out_dir = opts.out.clone().unwrap_or_else(|| {
        if opts.quick {
            bin_dir.parent().unwrap_or(&bin_dir).join("compare-quick")
        } else {
            manifest_dir.join("..").join("docs")
        }
    });
    if let Err(e) = std::fs::create_dir_all(&out_dir) {
        eprintln!("compare: cannot create {}: {e}", out_dir.display());
        std::process::exit(1);
    }

    let default_workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let selected: Vec<Workload> = workloads()
        .into_iter()
        .filter(|w| {
            opts.only
                .as_ref()
                .is_none_or(|o| o.iter().any(|x| x == w.id || x == w.arg))
        })
        .collect();
    let worker_sets = |w: &Workload| -> Vec<usize> {
        if w.one_worker_only {
            vec![1]
        } else {
            vec![0, 1]
        }
    };
    let total: usize = selected
        .iter()
        .map(|w| {
            worker_sets(w).len()
                * programs
                    .iter()
                    .filter(|p| p.path.is_ok() && runs(p.name, w))
                    .count()
                * opts.runs
        })
        .sum();
    let machine = machine_info(&manifest_dir, &opts, wrk.is_some());

    let mut step = 0;
    let mut results: Vec<(String, Cells)> = Vec::new();
    for w in &selected {
        let size = if opts.quick { w.quick_size } else { w.size };
        let size = if size == 0 { 1 } else { size }; // echo in --quick: run_server picks 0.5 s
        let limit = opts.timeout.unwrap_or(if opts.quick {
            Duration::from_secs(10)
        } else {
            Duration::from_secs(180)
        });
        // The runs alternate: run 1 of every cell of the workload, then run 2 of each, and so
        // on, so a slow stretch of the machine (another process, a thermal or frequency
        // change) spreads over every runtime instead of landing on one runtime's cell.
        let mut cells: Cells = BTreeMap::new();
        let mut order: Vec<(&Program, &PathBuf, usize)> = Vec::new();
        for p in programs.iter().filter(|p| runs(p.name, w)) {
            for &workers in &worker_sets(w) {
                let mut cell = Cell::default();
                match &p.path {
                    Err(why) => cell.unsupported = Some(why.clone()),
                    Ok(path) => order.push((p, path, workers)),
                }
                cells.insert((p.name.to_string(), workers), cell);
            }
        }
        // Cells that stopped early: unsupported, or a failure that would repeat.
        let mut stopped = std::collections::HashSet::new();
        for run in 1..=opts.runs {
            for &(p, path, workers) in &order {
                if stopped.contains(&(p.name, workers)) {
                    continue;
                }
                let cell = cells
                    .get_mut(&(p.name.to_string(), workers))
                    .expect("every cell of the order was inserted");
                step += 1;
                eprintln!(
                    "[{step}/{total}] {:<12} {:<19} workers={:<7} run {run}/{}",
                    w.id,
                    label(p.name),
                    if workers == 0 {
                        "default".to_string()
                    } else {
                        workers.to_string()
                    },
                    opts.runs
                );
                let spec = RunSpec {
                    program: p.name,
                    path,
                    workload: w,
                    workers,
                    size,
                    limit,
                    quick: opts.quick,
                };
                let (outcome, notes) = match w.kind {
                    Kind::Plain => run_plain(&spec),
                    Kind::Echo { conns } => run_server(
                        &spec,
                        &Client::Echo {
                            bin: echo_client.clone(),
                            conns,
                        },
                    ),
                    Kind::Http => run_server(&spec, &Client::Wrk(wrk.clone())),
                };
                for n in notes {
                    if !cell.notes.contains(&n) {
                        cell.notes.push(n);
                    }
                }
                match outcome {
                    Outcome::Value { v, p99_ms } => {
                        cell.values.push(v);
                        cell.p99s.extend(p99_ms);
                    }
                    Outcome::Unsupported(why) => {
                        cell.unsupported = Some(why);
                        step += opts.runs - run; // the other runs would say the same
                        stopped.insert((p.name, workers));
                    }
                    Outcome::Failed(why) => {
                        eprintln!("    -> {why}");
                        // A hang, a resource limit or a task that cannot be scheduled
                        // repeats: do not spend the time again.
                        let repeats = why.starts_with("timed out")
                            || why.starts_with("cannot run")
                            || why.starts_with("never ran");
                        cell.failures.push(why);
                        if repeats && run < opts.runs {
                            cell.notes.push(format!(
                                "runs {}–{} skipped after this failure",
                                run + 1,
                                opts.runs
                            ));
                            step += opts.runs - run;
                            stopped.insert((p.name, workers));
                        }
                    }
                }
            }
        }
        let chart = chart_svg(w, size, &cells, &programs, default_workers);
        let chart_path = out_dir.join(format!("compare-{}.svg", w.id));
        if let Err(e) = std::fs::write(&chart_path, chart) {
            eprintln!("compare: cannot write {}: {e}", chart_path.display());
        }
        results.push((w.id.to_string(), cells));
    }

    let report = render_report(
        &machine,
        &selected,
        &results,
        &programs,
        &opts,
        default_workers,
        started.elapsed(),
    );
    let report_path = out_dir.join("compare.md");
    match std::fs::write(&report_path, report) {
        Ok(()) => eprintln!(
            "compare: wrote {} and its charts in {:.0} s",
            report_path.display(),
            started.elapsed().as_secs_f64()
        ),
        Err(e) => {
            eprintln!("compare: cannot write {}: {e}", report_path.display());
            std::process::exit(1);
        }
    }
    // greenchan's failures, default column and opt-in column apart.
    let mut bad: Vec<String> = Vec::new();
    let mut bad_opt_ins: Vec<String> = Vec::new();
    if let Some(Err(why)) = programs
        .iter()
        .find(|p| p.name == "greenchan")
        .map(|p| &p.path)
    {
        bad.push(why.clone());
    }
    for (id, cells) in &results {
        for ((rt, workers), cell) in cells {
            if rt.starts_with("greenchan")
                && !cell.failures.is_empty()
                && cell.unsupported.is_none()
            {
                let line = format!(
                    "{id} {} workers={workers}: {}",
                    label(rt),
                    cell.failures.join("; ")
                );
                if rt == OPTIN {
                    bad_opt_ins.push(line);
                } else {
                    bad.push(line);
                }
            }
        }
    }
    if !bad_opt_ins.is_empty() {
        eprintln!(
            "compare: warning: greenchan with its unsafe opt-ins failed{}:\n  {}",
            if opts.strict_opt_ins {
                ""
            } else {
                " (not counted by --strict; --strict-opt-ins counts it)"
            },
            bad_opt_ins.join("\n  ")
        );
    }
    if !bad.is_empty() {
        eprintln!("compare: greenchan failed:\n  {}", bad.join("\n  "));
    }
    if (opts.strict && !bad.is_empty()) || (opts.strict_opt_ins && !bad_opt_ins.is_empty()) {
        eprintln!("compare: --strict: failing the run");
        std::process::exit(1);
    }
}

fn existing(dir: &Path, name: &str) -> Result<PathBuf, String> {
    let p = dir.join(name);
    if p.is_file() {
        Ok(p)
    } else {
        Err(format!("not built: {} missing", p.display()))
    }
}

fn which(prog: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(prog))
        .find(|p| p.is_file())
}

/// Brings the workload binaries up to date. `Err` says greenchan's binary could not be built
/// (the peers were then built without it).
fn build_bins(manifest_dir: &Path, bin_dir: &Path, profile: &str) -> Result<(), String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let target_dir = bin_dir.parent().unwrap_or(bin_dir);
    let build = |extra: &[&str]| -> bool {
        let mut c = Command::new(&cargo);
        c.arg("build")
            .arg("--manifest-path")
            .arg(manifest_dir.join("Cargo.toml"));
        c.args(["-p", "greenchan-bench", "--bins", "--target-dir"])
            .arg(target_dir);
        if profile == "release" {
            c.arg("--release");
        } else if profile != "debug" {
            c.args(["--profile", profile]);
        }
        c.args(extra);
        eprintln!(
            "compare: building the workload binaries ({})",
            if extra.is_empty() {
                "all"
            } else {
                "without greenchan"
            }
        );
        c.status().map(|s| s.success()).unwrap_or(false)
    };
    if build(&[]) {
        Ok(())
    } else if build(&["--no-default-features"]) {
        Err("not built: `cargo build -p greenchan-bench` fails (greenchan or wl_greenchan does not compile)".into())
    } else {
        eprintln!("compare: the workload binaries do not build; running whatever binaries exist");
        Err("not built: `cargo build -p greenchan-bench` fails".into())
    }
}

/// Builds `bench/go` into `gobench` next to the other binaries.
fn build_go(manifest_dir: &Path, bin_dir: &Path) -> Result<PathBuf, String> {
    if which("go").is_none() {
        return Err("no `go` toolchain on the PATH".into());
    }
    let out = bin_dir.join("gobench");
    eprintln!("compare: building the Go workloads (go build)");
    let r = Command::new("go")
        .arg("build")
        .arg("-o")
        .arg(&out)
        .arg(".")
        .current_dir(manifest_dir.join("go"))
        .env("GOFLAGS", "")
        .env("GOPROXY", "off")
        .env("GOTOOLCHAIN", "local")
        .output();
    match r {
        Ok(o) if o.status.success() => Ok(out),
        Ok(o) => Err(format!(
            "not built: go build failed: {}",
            last_line(&String::from_utf8_lossy(&o.stderr))
        )),
        Err(e) => Err(format!("not built: cannot run go: {e}")),
    }
}

struct RunSpec<'a> {
    program: &'a str,
    path: &'a Path,
    workload: &'a Workload,
    workers: usize,
    size: u64,
    limit: Duration,
    quick: bool,
}

impl RunSpec<'_> {
    /// The workload binary's command line and environment for this run.
    fn command(&self) -> (Command, Vec<String>) {
        let mut notes = Vec::new();
        let pin = self.program == "threads" && self.workers == 1;
        let mut c = if pin && which("taskset").is_some() {
            notes.push("one worker = the process pinned to one CPU (`taskset -c 0`)".to_string());
            let mut c = Command::new("taskset");
            c.args(["-c", "0"]).arg(self.path);
            c
        } else {
            if pin {
                notes
                    .push("one worker requested, but `taskset` is missing: not pinned".to_string());
            }
            Command::new(self.path)
        };
        c.arg(self.workload.arg);
        c.args([
            "--workers",
            &self.workers.to_string(),
            "--size",
            &self.size.to_string(),
        ]);
        if self.program == OPTIN {
            c.args(self.workload.opt_ins);
        }
        if self.workers > 0 {
            c.env("GREENCHAN_WORKERS", self.workers.to_string())
                .env("GOMAXPROCS", self.workers.to_string());
        } else {
            c.env_remove("GREENCHAN_WORKERS").env_remove("GOMAXPROCS");
        }
        c.env("RUST_BACKTRACE", "0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        (c, notes)
    }
}

/// Collects a child's output on threads so a chatty child never blocks on a full pipe.
fn drain<R: Read + Send + 'static>(r: Option<R>) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(mut r) = r {
            let _ = r.read_to_string(&mut s);
        }
        let _ = tx.send(s);
    });
    rx
}

/// Waits for `child` at most `limit`; kills it past that. `None` means it timed out.
fn wait_limited(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let t0 = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(st)) => return Some(st),
            Ok(None) if t0.elapsed() < limit => std::thread::sleep(Duration::from_millis(5)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
}

fn run_plain(spec: &RunSpec) -> (Outcome, Vec<String>) {
    let (mut cmd, mut notes) = spec.command();
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return (Outcome::Failed(format!("cannot start: {e}")), notes),
    };
    let out = drain(child.stdout.take());
    let err = drain(child.stderr.take());
    let status = wait_limited(&mut child, spec.limit);
    let stdout = out.recv().unwrap_or_default();
    let stderr = err.recv().unwrap_or_default();
    let outcome = classify(status, &stdout, &stderr, spec.limit, &mut notes);
    (outcome, notes)
}

/// Turns a finished (or killed) child's status and output into an outcome.
fn classify(
    status: Option<ExitStatus>,
    stdout: &str,
    stderr: &str,
    limit: Duration,
    notes: &mut Vec<String>,
) -> Outcome {
    let mut value = None;
    let mut never = None;
    for line in stdout.lines() {
        if let Some(n) = line.strip_prefix("NOTE ") {
            notes.push(n.to_string());
        } else if let Some(r) = line.strip_prefix("UNSUPPORTED ") {
            return Outcome::Unsupported(r.to_string());
        } else if let Some(r) = line.strip_prefix("NEVERRAN ") {
            never = Some(r.to_string());
        } else if let Some(r) = line.strip_prefix("RESULT ") {
            value = r
                .split_whitespace()
                .nth(2)
                .and_then(|v| v.parse::<f64>().ok());
        }
    }
    let Some(status) = status else {
        return Outcome::Failed(format!("timed out after {:.0} s", limit.as_secs_f64()));
    };
    if let Some(why) = never {
        return Outcome::Failed(format!("never ran: {why}"));
    }
    match (status.success(), value) {
        (true, Some(v)) => Outcome::Value { v, p99_ms: None },
        (true, None) => Outcome::Failed("no result printed".into()),
        (false, _) => Outcome::Failed(failure_reason(status, stderr)),
    }
}

fn signal_name(sig: i32) -> String {
    match sig {
        4 => "SIGILL".into(),
        5 => "SIGTRAP".into(),
        6 => "SIGABRT".into(),
        7 => "SIGBUS".into(),
        8 => "SIGFPE".into(),
        9 => "SIGKILL".into(),
        11 => "SIGSEGV".into(),
        15 => "SIGTERM".into(),
        n => format!("signal {n}"),
    }
}

/// Says why a run failed, from its exit status and what it printed on stderr.
fn failure_reason(status: ExitStatus, stderr: &str) -> String {
    use std::os::unix::process::ExitStatusExt;
    let low = stderr.to_lowercase();
    let maps = low.contains("max_map_count")
        || low.contains("memory map")
        || (low.contains("stack")
            && (low.contains("cannot allocate memory") || low.contains("os error 12")))
        || ((low.contains("mmap") || low.contains("mprotect"))
            && (low.contains("cannot allocate memory")
                || low.contains("enomem")
                || low.contains("os error 12")));
    if maps {
        return "cannot run: out of memory maps (vm.max_map_count)".into();
    }
    if let Some(l) = stderr.lines().find(|l| l.contains("cannot run:")) {
        return l[l.find("cannot run:").unwrap()..]
            .trim()
            .chars()
            .take(140)
            .collect();
    }
    if low.contains("memory allocation") && low.contains("failed") || low.contains("out of memory")
    {
        return "cannot run: out of memory".into();
    }
    if low.contains("has overflowed its stack") || low.contains("stack overflow") {
        return "crashed: stack overflow".into();
    }
    let panic = stderr
        .lines()
        .skip_while(|l| !l.contains("panicked at"))
        .nth(1)
        .map(str::trim);
    let what = match status.signal() {
        Some(sig) => format!("crashed: {}", signal_name(sig)),
        None if panic.is_some() => "panicked".to_string(),
        None => format!("failed: exit {}", status.code().unwrap_or(-1)),
    };
    let detail = panic
        .map(str::to_string)
        .unwrap_or_else(|| last_line(stderr));
    if detail.is_empty() {
        what
    } else {
        format!("{what}: {}", detail.chars().take(120).collect::<String>())
    }
}

fn last_line(s: &str) -> String {
    s.lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
        .to_string()
}

enum Client {
    Echo {
        bin: Result<PathBuf, String>,
        conns: usize,
    },
    Wrk(Option<PathBuf>),
}

/// Starts the server, waits for its port, loads it with the fixed client, then stops it.
fn run_server(spec: &RunSpec, client: &Client) -> (Outcome, Vec<String>) {
    let (mut cmd, mut notes) = spec.command();
    match client {
        Client::Wrk(None) => {
            return (
                Outcome::Unsupported("not run: `wrk` is not installed".into()),
                notes,
            )
        }
        Client::Echo { bin: Err(e), .. } => {
            return (
                Outcome::Unsupported(format!("not run: echo_client {e}")),
                notes,
            )
        }
        _ => {}
    }
    let mut server = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return (Outcome::Failed(format!("cannot start: {e}")), notes),
    };
    let err = drain(server.stderr.take());
    // Read the server's first lines on a thread: LISTENING, NOTE or UNSUPPORTED.
    let (line_tx, line_rx) = mpsc::channel::<String>();
    let stdout = server.stdout.take();
    std::thread::spawn(move || {
        if let Some(s) = stdout {
            for line in BufReader::new(s).lines().map_while(Result::ok) {
                if line_tx.send(line).is_err() {
                    break;
                }
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(10).min(spec.limit);
    let mut port = None;
    while port.is_none() && Instant::now() < deadline {
        match line_rx.recv_timeout(Duration::from_millis(20)) {
            Ok(l) => {
                if let Some(p) = l.strip_prefix("LISTENING ") {
                    port = p.trim().parse::<u16>().ok();
                } else if let Some(n) = l.strip_prefix("NOTE ") {
                    notes.push(n.to_string());
                } else if let Some(r) = l.strip_prefix("UNSUPPORTED ") {
                    let _ = wait_limited(&mut server, Duration::from_secs(5));
                    return (Outcome::Unsupported(r.to_string()), notes);
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if let Ok(Some(st)) = server.try_wait() {
                    let stderr = err.recv().unwrap_or_default();
                    return (Outcome::Failed(failure_reason(st, &stderr)), notes);
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    let Some(port) = port else {
        let status = wait_limited(&mut server, Duration::from_millis(100));
        let stderr = err.recv().unwrap_or_default();
        let why = match status {
            Some(st) => failure_reason(st, &stderr),
            None => "server never announced its port".into(),
        };
        return (Outcome::Failed(why), notes);
    };

    let secs = spec.size as f64;
    let (mut c, is_wrk) = match client {
        Client::Echo {
            bin: Ok(bin),
            conns,
        } => {
            let mut c = Command::new(bin);
            let secs = if spec.quick { 0.5 } else { secs };
            c.arg(port.to_string())
                .arg(conns.to_string())
                .arg(format!("{secs}"));
            (c, false)
        }
        Client::Wrk(Some(wrk)) => {
            let mut c = Command::new(wrk);
            c.args([
                "-t2",
                "-c100",
                &format!("-d{}s", spec.size),
                "--latency",
                &format!("http://127.0.0.1:{port}/"),
            ]);
            (c, true)
        }
        _ => unreachable!(),
    };
    c.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let outcome = match c.spawn() {
        Err(e) => Outcome::Failed(format!("cannot start the client: {e}")),
        Ok(mut child) => {
            let cout = drain(child.stdout.take());
            let cerr = drain(child.stderr.take());
            let status = wait_limited(&mut child, spec.limit);
            let stdout = cout.recv().unwrap_or_default();
            let stderr = cerr.recv().unwrap_or_default();
            if is_wrk {
                parse_wrk(status, &stdout, &stderr, &mut notes)
            } else {
                classify(status, &stdout, &stderr, spec.limit, &mut notes)
            }
        }
    };
    // A server that died under load is a crash, whatever the client managed to count.
    let outcome = match server.try_wait() {
        Ok(Some(st)) => Outcome::Failed(failure_reason(st, &err.recv().unwrap_or_default())),
        _ => {
            let _ = server.kill();
            let _ = server.wait();
            match outcome {
                Outcome::Failed(why) => Outcome::Failed(format!("client: {why}")),
                o => o,
            }
        }
    };
    (outcome, notes)
}

/// Reads requests/s and the p99 latency (in ms) from `wrk --latency`'s output.
fn parse_wrk(
    status: Option<ExitStatus>,
    stdout: &str,
    stderr: &str,
    notes: &mut Vec<String>,
) -> Outcome {
    if status.is_none() {
        return Outcome::Failed("wrk timed out".into());
    }
    let rps = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse::<f64>().ok());
    let p99 = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("99%"))
        .and_then(|v| parse_duration_ms(v.trim()));
    if let Some(errs) = stdout
        .lines()
        .find(|l| l.trim().starts_with("Socket errors"))
    {
        notes.push(format!("wrk: {}", errs.trim()));
    }
    match rps {
        Some(v) => Outcome::Value { v, p99_ms: p99 },
        None => Outcome::Failed(format!(
            "wrk printed no rate: {}",
            last_line(if stderr.trim().is_empty() {
                stdout
            } else {
                stderr
            })
        )),
    }
}

/// "712.00us", "1.23ms", "2.01s" -> milliseconds.
fn parse_duration_ms(s: &str) -> Option<f64> {
    let split = s.find(|c: char| c.is_ascii_alphabetic())?;
    let (num, unit) = s.split_at(split);
    let v: f64 = num.parse().ok()?;
    Some(match unit {
        "us" => v / 1e3,
        "ms" => v,
        "s" => v * 1e3,
        "m" => v * 60e3,
        _ => return None,
    })
}

// ---------------------------------------------------------------------------------------------
// Machine description

fn command_line(prog: &str, args: &[&str]) -> String {
    Command::new(prog)
        .args(args)
        .output()
        .ok()
        .map(|o| {
            let s = String::from_utf8_lossy(&o.stdout).to_string()
                + &String::from_utf8_lossy(&o.stderr);
            s.lines().next().unwrap_or("").trim().to_string()
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "not installed".into())
}

fn read_trim(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "?".into())
}

/// The version of `name` recorded in the workspace's Cargo.lock.
fn locked_version(lock: &str, name: &str) -> String {
    let needle = format!("name = \"{name}\"\nversion = \"");
    lock.find(&needle)
        .map(|i| {
            let rest = &lock[i + needle.len()..];
            rest[..rest.find('"').unwrap_or(0)].to_string()
        })
        .unwrap_or_else(|| "?".into())
}

/// Today's date and time (UTC) from the system clock, without a date library.
fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60
    )
}

fn machine_info(manifest_dir: &Path, opts: &Options, has_wrk: bool) -> Vec<(String, String)> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .and_then(|r| r.split(':').nth(1))
        })
        .map_or("?".to_string(), |s| s.trim().to_string());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .map(|v| v.trim().to_string())
        })
        .and_then(|v| v.trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or("?".into(), |kb| format!("{:.1} GiB", kb / 1024.0 / 1024.0));
    let lock =
        std::fs::read_to_string(manifest_dir.join("..").join("Cargo.lock")).unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    vec![
        ("date".into(), utc_now()),
        (
            "mode".into(),
            if opts.quick {
                format!(
                    "--quick (small sizes, {} run per cell): a smoke test, not a measurement",
                    opts.runs
                )
            } else {
                format!(
                    "full sizes, {} run{} per cell",
                    opts.runs,
                    if opts.runs == 1 { "" } else { "s" }
                )
            },
        ),
        (
            "cores".into(),
            format!("{cores} (default worker count of every runtime)"),
        ),
        ("CPU".into(), model),
        ("memory".into(), mem),
        ("kernel".into(), read_trim("/proc/sys/kernel/osrelease")),
        (
            "vm.max_map_count".into(),
            read_trim("/proc/sys/vm/max_map_count"),
        ),
        ("load average at start".into(), read_trim("/proc/loadavg")),
        ("rustc".into(), command_line("rustc", &["-V"])),
        ("go".into(), command_line("go", &["version"])),
        ("greenchan".into(), locked_version(&lock, "greenchan")),
        ("may".into(), locked_version(&lock, "may")),
        ("tokio".into(), locked_version(&lock, "tokio")),
        (
            "async-channel".into(),
            locked_version(&lock, "async-channel"),
        ),
        (
            "crossbeam-channel".into(),
            locked_version(&lock, "crossbeam-channel"),
        ),
        (
            "wrk".into(),
            if has_wrk {
                command_line("wrk", &["-v"])
            } else {
                "not installed".into()
            },
        ),
    ]
}

// ---------------------------------------------------------------------------------------------
// Report

fn fmt_value(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 {
        "0".into()
    } else if a >= 10_000.0 {
        let s = format!("{:.0}", v);
        // thousands separators
        let mut out = String::new();
        for (i, ch) in s.chars().enumerate() {
            if i > 0 && (s.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(ch);
        }
        out
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn workers_label(workers: usize, default_workers: usize) -> String {
    if workers == 0 {
        format!("default ({default_workers})")
    } else {
        workers.to_string()
    }
}

/// What a cell says in place of a figure when it has none.
fn status_text(cell: &Cell) -> String {
    if let Some(u) = &cell.unsupported {
        return u.clone();
    }
    if cell.values.is_empty() && !cell.failures.is_empty() {
        let mut f = cell.failures.clone();
        f.dedup();
        return f.join("; ");
    }
    "no result".into()
}

fn short_status(cell: &Cell) -> String {
    if let Some(u) = &cell.unsupported {
        for short in ["not yet", "not built", "not run"] {
            if u.starts_with(short) {
                return short.into();
            }
        }
        return "unsupported".into();
    }
    let s = status_text(cell);
    let s = s.split(':').next().unwrap_or("").trim();
    let s = s.strip_suffix(" after").unwrap_or(s);
    if s.starts_with("timed out") {
        "timed out".into()
    } else if s.chars().count() > 18 {
        s.chars().take(16).collect::<String>() + "…"
    } else {
        s.to_string()
    }
}

fn render_report(
    machine: &[(String, String)],
    selected: &[Workload],
    results: &[(String, Cells)],
    programs: &[Program],
    opts: &Options,
    default_workers: usize,
    took: Duration,
) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# greenchan compared: stackful and stackless runtimes on the same workloads\n"
    );
    let _ = writeln!(
        s,
        "Written by `cargo run --release -p greenchan-bench --bin compare{}` in {:.0} s; do not edit by hand. \
         The workloads are DESIGN §4's; each runtime is its own binary (`bench/src/bin/wl_*.rs`, `bench/go/main.go`), \
         run as a child process with a time limit. Every figure is the median of the runs, with the spread (min–max) beside it. \
         \"vs greenchan\" is the runtime's median divided by greenchan's with the same workers: below 1 the peer is better \
         where lower is better, above 1 it is better where higher is better. \
         The **greenchan** column is greenchan's default, sound configuration (a started coroutine stays on its thread; \
         only greenchan calls switch it); **greenchan (opt-ins)** is the same program with the `unsafe` opt-ins that can \
         change the workload's figure, so the price of soundness is visible (its \"vs greenchan\" compares it with the default). \
         See [stackful-vs-stackless.md](stackful-vs-stackless.md) for what the figures mean.\n",
        if opts.quick { " -- --quick" } else { "" },
        took.as_secs_f64()
    );
    let _ = writeln!(s, "## Machine\n\n| | |\n| --- | --- |");
    for (k, v) in machine {
        let _ = writeln!(s, "| {k} | {} |", v.replace('|', "\\|"));
    }
    let _ = writeln!(
        s,
        "\n## What \"workers\" means\n\nEvery workload runs with each runtime's default worker count \
         (one per CPU) and with one worker. What runs where:\n"
    );
    for (rt, meaning) in WORKER_MEANING {
        if programs.iter().any(|p| label(p.name) == *rt) {
            let _ = writeln!(s, "- **{rt}**: {meaning}");
        }
    }

    // Summary: default workers (one worker for starve).
    let _ = writeln!(
        s,
        "\n## Summary (median; default workers, starve with one)\n"
    );
    let _ = write!(s, "| workload | metric |");
    for p in programs {
        let _ = write!(s, " {} |", label(p.name));
    }
    let _ = write!(s, "\n| --- | --- |");
    for _ in programs {
        let _ = write!(s, " ---: |");
    }
    let _ = writeln!(s);
    for (w, (_, cells)) in selected.iter().zip(results) {
        let workers = if w.one_worker_only { 1 } else { 0 };
        let _ = write!(
            s,
            "| [{}](#{}) | {} ({}) |",
            w.id,
            w.id,
            w.unit,
            if w.higher_better {
                "higher is better"
            } else {
                "lower is better"
            }
        );
        for p in programs {
            let cell = cells.get(&(p.name.to_string(), workers));
            let _ = match cell.and_then(Cell::median) {
                Some(m) => write!(s, " {} |", fmt_value(m)),
                None => write!(
                    s,
                    " {} |",
                    cell.map(short_status).unwrap_or_else(|| "–".into())
                ),
            };
        }
        let _ = writeln!(s);
    }

    for (w, (_, cells)) in selected.iter().zip(results) {
        let size = if opts.quick { w.quick_size } else { w.size };
        let size_text = if matches!(w.kind, Kind::Echo { .. }) && opts.quick {
            "0.5".to_string()
        } else {
            fmt_count(size)
        };
        let _ = writeln!(s, "\n## {}\n", w.id);
        let _ = writeln!(
            s,
            "{}. Figure: {}, {}.{}\n",
            capitalise(&w.what.replace("{n}", &size_text)),
            w.unit,
            if w.higher_better {
                "higher is better"
            } else {
                "lower is better"
            },
            if w.one_worker_only {
                " One worker only: the point is what a busy worker does to a sleeper on the same worker."
            } else {
                ""
            }
        );
        let _ = writeln!(s, "![{} chart](compare-{}.svg)\n", w.id, w.id);
        let _ = writeln!(
            s,
            "| runtime | workers | median | spread (min–max) | vs greenchan | {}notes |",
            if w.kind == Kind::Http {
                "p99 latency | "
            } else {
                ""
            }
        );
        let _ = writeln!(
            s,
            "| --- | --- | ---: | --- | ---: | {}--- |",
            if w.kind == Kind::Http { "---: | " } else { "" }
        );
        let worker_sets: &[usize] = if w.one_worker_only { &[1] } else { &[0, 1] };
        for p in programs {
            for &workers in worker_sets {
                let Some(cell) = cells.get(&(p.name.to_string(), workers)) else {
                    continue;
                };
                let base = cells
                    .get(&("greenchan".to_string(), workers))
                    .and_then(Cell::median);
                let (med, spread, ratio) = match cell.median() {
                    Some(m) => {
                        let lo = cell.values.iter().copied().fold(f64::INFINITY, f64::min);
                        let hi = cell
                            .values
                            .iter()
                            .copied()
                            .fold(f64::NEG_INFINITY, f64::max);
                        let spread = if cell.values.len() > 1 {
                            format!("{} – {}", fmt_value(lo), fmt_value(hi))
                        } else {
                            "one run".into()
                        };
                        let ratio = match base {
                            Some(_) if p.name == "greenchan" => "1.00×".into(),
                            Some(b) if b > 0.0 => format!("{:.2}×", m / b),
                            _ => "–".into(),
                        };
                        (fmt_value(m), spread, ratio)
                    }
                    None => ("–".into(), "–".into(), "–".into()),
                };
                let mut notes: Vec<String> = Vec::new();
                if cell.median().is_none() {
                    notes.push(format!("**{}**", status_text(cell)));
                } else if !cell.failures.is_empty() {
                    let mut f = cell.failures.clone();
                    f.dedup();
                    notes.push(format!(
                        "**{} of {} runs failed: {}**",
                        cell.failures.len(),
                        cell.failures.len() + cell.values.len(),
                        f.join("; ")
                    ));
                }
                notes.extend(cell.notes.iter().cloned());
                let p99 = if w.kind == Kind::Http {
                    format!(
                        "{} | ",
                        median(&cell.p99s).map_or("–".into(), |v| format!("{} ms", fmt_value(v)))
                    )
                } else {
                    String::new()
                };
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} | {} | {}{} |",
                    label(p.name),
                    workers_label(workers, default_workers),
                    med,
                    spread,
                    ratio,
                    p99,
                    notes.join("; ").replace('|', "\\|")
                );
            }
        }
    }
    s
}

fn fmt_count(n: u64) -> String {
    if n < 10_000 {
        n.to_string()
    } else {
        fmt_value(n as f64)
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next().map_or(String::new(), |f| {
        f.to_uppercase().collect::<String>() + c.as_str()
    })
}

// ---------------------------------------------------------------------------------------------
// Charts: one grouped bar chart per workload, a group per runtime, a bar per worker count.

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn chart_svg(
    w: &Workload,
    size: u64,
    cells: &Cells,
    programs: &[Program],
    default_workers: usize,
) -> String {
    const W: f64 = 760.0;
    const H: f64 = 420.0;
    let (left, right, top, bottom) = (80.0, 20.0, 56.0, 70.0);
    let plot_w = W - left - right;
    let plot_h = H - top - bottom;
    let worker_sets: Vec<usize> = if w.one_worker_only {
        vec![1]
    } else {
        vec![0, 1]
    };
    let colours = ["#2b6cb0", "#dd6b20"];

    let values: Vec<f64> = cells
        .values()
        .filter_map(Cell::median)
        .filter(|v| *v > 0.0)
        .collect();
    let max = values.iter().copied().fold(0.0, f64::max);
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    // A log scale when the figures span more than two decades, else the small bars vanish.
    let log = max > 0.0 && min.is_finite() && max / min > 100.0;
    let (lo, hi) = if log {
        (
            10f64.powf(min.log10().floor()),
            10f64.powf(max.log10().ceil()),
        )
    } else {
        (0.0, nice_ceiling(max.max(1e-9) * 1.1))
    };
    let y_of = |v: f64| -> f64 {
        let frac = if log {
            (v.max(lo).log10() - lo.log10()) / (hi.log10() - lo.log10())
        } else {
            v / hi
        };
        top + plot_h * (1.0 - frac.clamp(0.0, 1.0))
    };

    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let size_text = if matches!(w.kind, Kind::Echo { .. } | Kind::Http) {
        String::new()
    } else {
        format!(", {} {}", fmt_count(size), w.noun)
    };
    let _ = writeln!(
        s,
        r#"<text x="{}" y="22" font-size="16" font-weight="bold" text-anchor="middle">{}{} — {}, {}</text>"#,
        W / 2.0,
        esc(w.id),
        esc(&size_text),
        esc(w.unit),
        if w.higher_better {
            "higher is better"
        } else {
            "lower is better"
        }
    );
    // Axis and grid.
    let ticks: Vec<f64> = if log {
        let mut t = Vec::new();
        let mut v = lo;
        while v <= hi * 1.0001 {
            t.push(v);
            v *= 10.0;
        }
        t
    } else {
        (0..=5).map(|i| hi * i as f64 / 5.0).collect()
    };
    for t in &ticks {
        let y = y_of(*t);
        let _ = writeln!(
            s,
            r##"<line x1="{left}" y1="{y:.1}" x2="{}" y2="{y:.1}" stroke="#e2e8f0"/>"##,
            W - right
        );
        let _ = writeln!(
            s,
            r##"<text x="{}" y="{:.1}" text-anchor="end" fill="#4a5568">{}</text>"##,
            left - 6.0,
            y + 4.0,
            esc(&fmt_value(*t))
        );
    }
    let _ = writeln!(
        s,
        r##"<line x1="{left}" y1="{top}" x2="{left}" y2="{}" stroke="#2d3748"/>"##,
        top + plot_h
    );
    let _ = writeln!(
        s,
        r##"<line x1="{left}" y1="{}" x2="{}" y2="{}" stroke="#2d3748"/>"##,
        top + plot_h,
        W - right,
        top + plot_h
    );
    let _ = writeln!(
        s,
        r#"<text transform="translate(18,{:.1}) rotate(-90)" text-anchor="middle">{}{}</text>"#,
        top + plot_h / 2.0,
        esc(w.unit),
        if log { " (log scale)" } else { "" }
    );
    // Bars.
    let shown: Vec<&Program> = programs.iter().filter(|p| runs(p.name, w)).collect();
    let group_w = plot_w / shown.len().max(1) as f64;
    let bar_w = (group_w * 0.7 / worker_sets.len() as f64).min(60.0);
    for (gi, p) in shown.iter().enumerate() {
        let gx = left + group_w * gi as f64 + group_w / 2.0;
        // "greenchan (opt-ins)" on two lines, so neighbouring labels do not overlap.
        for (li, part) in label(p.name).splitn(2, " (").enumerate() {
            let text = if li == 0 {
                part.to_string()
            } else {
                format!("({part}")
            };
            let _ = writeln!(
                s,
                r#"<text x="{gx:.1}" y="{:.1}" text-anchor="middle" font-weight="bold">{}</text>"#,
                top + plot_h + 18.0 + 14.0 * li as f64,
                esc(&text)
            );
        }
        for (bi, &workers) in worker_sets.iter().enumerate() {
            let x = gx - bar_w * worker_sets.len() as f64 / 2.0 + bar_w * bi as f64;
            let cell = cells.get(&(p.name.to_string(), workers));
            match cell.and_then(Cell::median) {
                Some(v) => {
                    let y = y_of(v);
                    let _ = writeln!(
                        s,
                        r#"<rect x="{:.1}" y="{y:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{} workers={}: {} {}</title></rect>"#,
                        x + 2.0,
                        bar_w - 4.0,
                        (top + plot_h - y).max(0.5),
                        colours[bi % 2],
                        esc(label(p.name)),
                        workers_label(workers, default_workers),
                        fmt_value(v),
                        esc(w.unit)
                    );
                    let _ = writeln!(
                        s,
                        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="10">{}</text>"#,
                        x + bar_w / 2.0,
                        y - 4.0,
                        esc(&fmt_value(v))
                    );
                }
                None => {
                    let why = cell.map(short_status).unwrap_or_else(|| "not run".into());
                    let _ = writeln!(
                        s,
                        r##"<text transform="translate({:.1},{:.1}) rotate(-90)" font-size="10" fill="#a0aec0">{}</text>"##,
                        x + bar_w / 2.0 + 3.0,
                        top + plot_h - 4.0,
                        esc(&why)
                    );
                }
            }
        }
    }
    // Legend.
    for (bi, &workers) in worker_sets.iter().enumerate() {
        let x = left + 10.0 + 170.0 * bi as f64;
        let y = H - 22.0;
        let _ = writeln!(
            s,
            r#"<rect x="{x}" y="{}" width="12" height="12" fill="{}"/>"#,
            y - 10.0,
            colours[bi % 2]
        );
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{y}">workers: {}</text>"#,
            x + 18.0,
            esc(&workers_label(workers, default_workers))
        );
    }
    let _ = writeln!(
        s,
        r##"<text x="{}" y="{}" text-anchor="end" fill="#718096" font-size="10">median of the runs; see compare.md for spreads and notes</text>"##,
        W - right,
        H - 12.0
    );
    s.push_str("</svg>\n");
    s
}

/// The smallest 1, 2 or 5 × 10^k at or above `v`.
fn nice_ceiling(v: f64) -> f64 {
    let p = 10f64.powf(v.log10().floor());
    for m in [1.0, 2.0, 5.0, 10.0] {
        if m * p >= v {
            return m * p;
        }
    }
    10.0 * p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_wrk_output() {
        let out = "Running 1s test @ http://127.0.0.1:1/\n  Latency Distribution\n     50%  741.00us\n     99%    6.97ms\n  93547 requests in 1.01s, 8.30MB read\nRequests/sec:  92943.24\n";
        let mut notes = Vec::new();
        use std::os::unix::process::ExitStatusExt;
        match parse_wrk(Some(ExitStatus::from_raw(0)), out, "", &mut notes) {
            Outcome::Value { v, p99_ms } => {
                assert_eq!(v, 92943.24);
                assert_eq!(p99_ms, Some(6.97));
            }
            o => panic!("{o:?}"),
        }
        assert_eq!(parse_duration_ms("712.00us"), Some(0.712));
        assert_eq!(parse_duration_ms("2.00s"), Some(2000.0));
    }

    #[test]
    fn names_failures() {
        use std::os::unix::process::ExitStatusExt;
        let segv = ExitStatus::from_raw(11);
        assert_eq!(failure_reason(segv, ""), "crashed: SIGSEGV");
        let abort = ExitStatus::from_raw(6);
        let msg =
            "failed to set up alternative stack guard page: Cannot allocate memory (os error 12)";
        assert!(failure_reason(abort, msg).contains("out of memory maps"));
        let may = "panicked at may/src/coroutine_impl.rs:1:1:\nfailed to alloc sys stack: IoError(Os { code: 12, kind: OutOfMemory, message: \"Cannot allocate memory\" })";
        assert!(failure_reason(ExitStatus::from_raw(101 << 8), may).contains("out of memory maps"));
        let exit1 = ExitStatus::from_raw(1 << 8);
        let msg =
            "cannot run: thread spawn failed after 32000 threads: Resource temporarily unavailable";
        assert!(failure_reason(exit1, msg).starts_with("cannot run: thread spawn failed"));
    }

    #[test]
    fn reads_never_ran() {
        use std::os::unix::process::ExitStatusExt;
        let ok = ExitStatus::from_raw(0);
        let mut notes = Vec::new();
        let out =
            "NOTE 2 spinners held 2 distinct threads\nNEVERRAN the fresh task had not started\n";
        match classify(Some(ok), out, "", Duration::from_secs(1), &mut notes) {
            Outcome::Failed(why) => assert_eq!(why, "never ran: the fresh task had not started"),
            o => panic!("{o:?}"),
        }
        assert_eq!(notes, ["2 spinners held 2 distinct threads"]);
        let w = workloads();
        let stuck = w.iter().find(|w| w.id == "stuck").unwrap();
        let parked = w.iter().find(|w| w.id == "parked-100k").unwrap();
        assert!(runs(OPTIN, stuck) && !runs(OPTIN, parked) && runs("go", parked));
        assert_eq!(label(OPTIN), "greenchan (opt-ins)");
    }

    #[test]
    fn statistics_and_formatting() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
        assert_eq!(fmt_value(1234567.0), "1,234,567");
        assert_eq!(fmt_value(12.345), "12.3");
        assert_eq!(nice_ceiling(730.0), 1000.0);
        assert_eq!(nice_ceiling(130.0), 200.0);
        assert!(utc_now().ends_with("UTC"));
    }
}
