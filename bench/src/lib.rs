//! Shared pieces of the comparison harness's workload binaries.
//!
//! Every runtime has its own binary (`wl_greenchan`, `wl_may`, `wl_tokio`, `wl_threads`, plus the
//! Go program in `bench/go/`) so that a crash or hang in one runtime cannot take the others down.
//! They all speak the same tiny protocol, defined here and read by `compare`:
//!
//! ```text
//! wl_X <workload> --workers N --size S [--allow-migration] [--allow-async-preemption]
//! RESULT <workload> <metric> <value>     one line on stdout when the workload finished
//! UNSUPPORTED <reason>                   the runtime cannot express this workload
//! NOTE <text>                            a remark for the report's notes column
//! NEVERRAN <text>                        the measured task never ran within the workload's
//!                                        own deadline (`stuck` on a runtime that cannot preempt)
//! LISTENING <port>                       servers (echo, http): ready on 127.0.0.1:<port>
//! ```
//!
//! The two `--allow-*` flags are for `wl_greenchan` alone (the harness's "greenchan (opt-ins)"
//! column): they turn on greenchan's `unsafe` opt-ins; the other binaries ignore them.
//!
//! This module owns the argument parsing, the workload sizes' meaning, the output lines, the
//! resident-memory probe used by `parked`, the calibrated busy loop used by `starve`, the
//! call-free spinner and the report of `stuck`, and the HTTP/1.1 request splitter shared by
//! the Rust http servers. The workloads themselves are
//! written out in each binary, idiomatically for its runtime, so a reader can compare them.

use std::hint::black_box;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

/// The workload names every binary accepts (DESIGN §4).
pub const WORKLOADS: &[&str] = &[
    "spawn",
    "spawn-wg",
    "skynet",
    "pingpong",
    "mpmc",
    "select",
    "yield",
    "parked",
    "starve",
    "stuck",
    "echo",
    "http",
    "timers",
    "timers-mem",
    "timers-churn",
];

/// Workloads a binary has no fair equivalent for: `(binary name, workload, reason)`.
/// [`Args::parse`] answers them with `UNSUPPORTED` before the binary's own dispatch runs.
pub const NOT_APPLICABLE: &[(&str, &str, &str)] = &[
    ("wl_tokio", "timers", TIMERS_NA),
    ("wl_tokio", "timers-mem", TIMERS_NA),
    ("wl_tokio", "timers-churn", TIMERS_NA),
    ("wl_may", "timers", TIMERS_NA),
    ("wl_may", "timers-mem", TIMERS_NA),
    ("wl_may", "timers-churn", TIMERS_NA),
];
const TIMERS_NA: &str = "not applicable: no port of the timers workloads for this runtime";

/// Capacity of the channel the `timers` and `timers-mem` producer feeds.
pub const TIMERS_CAP: usize = 128;
/// Timers alive at once in `timers-churn` (one task each).
pub const TIMERS_LIVE: u64 = 10_000;

/// Fan-out of the skynet tree.
pub const SKYNET_FANOUT: u64 = 10;
/// Number of producers and of consumers in `mpmc`.
pub const MPMC_SIDES: usize = 4;
/// Capacity of the `mpmc` channel.
pub const MPMC_CAP: usize = 128;
/// Number of producers (and channels) in `select`.
pub const SELECT_ARMS: usize = 4;
/// Number of tasks in `yield`.
pub const YIELD_TASKS: usize = 100;
/// Number of 1 ms sleeps in `starve`, and of the fresh task in `stuck`.
pub const STARVE_SLEEPS: u32 = 20;
/// Size of one `echo` message.
pub const ECHO_MSG: usize = 64;
/// The whole `http` response, "Hello, World!" as in the TechEmpower plaintext test.
pub const HTTP_RESPONSE: &[u8] =
    b"HTTP/1.1 200 OK\r\nServer: bench\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!";

/// What one workload binary was asked to do.
#[derive(Clone, Debug)]
pub struct Args {
    /// One of [`WORKLOADS`].
    pub workload: String,
    /// Worker threads of the runtime; 0 means the runtime's default (one per CPU).
    pub workers: usize,
    /// The workload's size: tasks (spawn, spawn-wg, parked), leaves (skynet), round trips
    /// (pingpong), messages (mpmc), receives (select), yields per task (yield), spin
    /// milliseconds (starve), the deadline in milliseconds by which the fresh task must have
    /// finished (stuck), timers (timers, timers-mem, timers-churn).
    /// Servers ignore it.
    pub size: u64,
    /// `--allow-migration`: greenchan's `unsafe` opt-in (wl_greenchan only).
    pub allow_migration: bool,
    /// `--allow-async-preemption`: greenchan's `unsafe` opt-in (wl_greenchan only).
    pub allow_async_preemption: bool,
}

impl Args {
    /// Parses `<workload> --workers N --size S` from the process arguments; exits with a usage
    /// message on anything else.
    pub fn parse() -> Args {
        let argv: Vec<String> = std::env::args().collect();
        match Args::parse_from(&argv[1..]) {
            Ok(a) => {
                let me = argv
                    .first()
                    .and_then(|p| std::path::Path::new(p).file_name())
                    .and_then(|n| n.to_str())
                    .unwrap_or("");
                if let Some((_, _, why)) = NOT_APPLICABLE
                    .iter()
                    .find(|(bin, w, _)| *bin == me && *w == a.workload)
                {
                    unsupported(why);
                    std::process::exit(0);
                }
                a
            }
            Err(e) => {
                eprintln!("{e}");
                eprintln!(
                    "usage: {} <{}> [--workers N] [--size S] [--allow-migration] [--allow-async-preemption]",
                    argv.first().map(String::as_str).unwrap_or("wl"),
                    WORKLOADS.join("|")
                );
                std::process::exit(2);
            }
        }
    }

    /// Parses the arguments after the program name.
    pub fn parse_from(args: &[String]) -> Result<Args, String> {
        let mut it = args.iter();
        let workload = it.next().ok_or("missing workload")?.clone();
        if !WORKLOADS.contains(&workload.as_str()) {
            return Err(format!("unknown workload {workload:?}"));
        }
        let mut a = Args {
            workload,
            workers: 0,
            size: 0,
            allow_migration: false,
            allow_async_preemption: false,
        };
        while let Some(flag) = it.next() {
            match flag.as_str() {
                "--allow-migration" => {
                    a.allow_migration = true;
                    continue;
                }
                "--allow-async-preemption" => {
                    a.allow_async_preemption = true;
                    continue;
                }
                _ => {}
            }
            let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
            let n: u64 = value
                .parse()
                .map_err(|_| format!("{flag}: not a number: {value:?}"))?;
            match flag.as_str() {
                "--workers" => a.workers = n as usize,
                "--size" => a.size = n,
                _ => return Err(format!("unknown flag {flag:?}")),
            }
        }
        if a.size == 0 {
            a.size = default_size(&a.workload);
        }
        Ok(a)
    }

    /// The worker count to configure: `workers`, or one per CPU when it is 0.
    pub fn worker_threads(&self) -> usize {
        if self.workers > 0 {
            self.workers
        } else {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        }
    }
}

/// DESIGN §4's size of each workload.
pub fn default_size(workload: &str) -> u64 {
    match workload {
        "spawn" | "spawn-wg" | "skynet" | "pingpong" | "select" => 1_000_000,
        "timers" | "timers-mem" | "timers-churn" => 1_000_000,
        "mpmc" => 4_000_000,
        "yield" => 100_000,
        "parked" => 100_000,
        "starve" => 1_000,
        "stuck" => 5_000,
        _ => 0,
    }
}

/// Prints the one result line and flushes it.
pub fn report(workload: &str, metric: &str, value: f64) {
    println!("RESULT {workload} {metric} {value:.3}");
    let _ = std::io::stdout().flush();
}

/// Prints a nanoseconds-per-operation result for `ops` operations that took `elapsed`.
pub fn report_ns_per(workload: &str, metric: &str, elapsed: Duration, ops: u64) {
    report(
        workload,
        metric,
        elapsed.as_nanos() as f64 / ops.max(1) as f64,
    );
}

/// Says the runtime cannot run this workload, and why; the caller then exits.
pub fn unsupported(reason: &str) {
    println!("UNSUPPORTED {reason}");
    let _ = std::io::stdout().flush();
}

/// Says the measured task never ran (or never finished) within the workload's own deadline;
/// the harness shows the cell as "never ran" with this text.
pub fn never_ran(text: &str) {
    println!("NEVERRAN {text}");
    let _ = std::io::stdout().flush();
}

/// Adds a remark to the report's notes column.
pub fn note(text: &str) {
    println!("NOTE {text}");
    let _ = std::io::stdout().flush();
}

/// Announces a server's port to the harness.
pub fn listening(port: u16) {
    println!("LISTENING {port}");
    let _ = std::io::stdout().flush();
}

/// The process's resident set size in bytes, from `/proc/self/status` (`VmRSS`).
pub fn resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Reports `parked`: resident bytes per parked task, from the RSS before spawning and the RSS
/// once all `tasks` are parked.
pub fn report_parked(before: u64, after: u64, tasks: u64) {
    report(
        "parked",
        "bytes/task",
        after.saturating_sub(before) as f64 / tasks.max(1) as f64,
    );
}

/// A busy loop of `iters` iterations that makes no calls at all: nothing in it can check a
/// preemption flag, so only asynchronous preemption (or the OS scheduler) can interrupt it.
#[inline(always)]
pub fn spin(iters: u64) -> u64 {
    let mut x = 0u64;
    let mut i = 0u64;
    while i < iters {
        x = black_box(x.wrapping_mul(6364136223846793005).wrapping_add(i));
        i += 1;
    }
    x
}

/// The number of [`spin`] iterations that take about `target` on this machine, measured on the
/// calling thread before any runtime starts.
pub fn calibrate_spin(target: Duration) -> u64 {
    let probe = 20_000_000u64;
    let t0 = Instant::now();
    black_box(spin(probe));
    let per_iter = t0.elapsed().as_secs_f64() / probe as f64;
    (target.as_secs_f64() / per_iter.max(1e-12)) as u64
}

/// Tracks the worst overshoot of `starve`'s 1 ms sleeps, and the threads the sleeper woke on.
#[derive(Default, Debug, Clone)]
pub struct WakeLatency {
    worst: Duration,
    woke_on: Vec<ThreadId>,
}

impl WakeLatency {
    /// Records one sleep of `asked` that actually took `took`, and the thread the sleeper woke
    /// on (the calling thread).
    pub fn record(&mut self, asked: Duration, took: Duration) {
        self.worst = self.worst.max(took.saturating_sub(asked));
        self.woke_on.push(std::thread::current().id());
    }

    /// The worst overshoot so far.
    pub fn worst(&self) -> Duration {
        self.worst
    }

    /// Adds a note saying where the sleeper woke, relative to the spinner's thread: a sleeper
    /// that woke on another thread did not wait for the busy worker, so the figure says nothing
    /// about preemption.
    pub fn note_threads(&self, spinner: ThreadId, other: &str) {
        if self.woke_on.is_empty() {
            return;
        }
        let same = self.woke_on.iter().filter(|t| **t == spinner).count();
        let n = self.woke_on.len();
        if same == n {
            note(&format!(
                "the sleeper woke on the spinner's thread after all {n} sleeps"
            ));
        } else {
            note(&format!(
                "the sleeper woke on another thread than the spinner's after {} of {n} sleeps ({other})",
                n - same
            ));
        }
    }

    /// Prints the `starve` result and a note on how long the spinner ran.
    pub fn report(&self, spin_ms: u64) {
        note(&format!(
            "spinner runs ~{spin_ms} ms with no calls; a figure near it means the sleeper never woke while it ran"
        ));
        report("starve", "ms", self.worst.as_secs_f64() * 1e3);
    }
}

/// The spinner of `stuck`: a loop with no calls at all (the flag's load and `black_box` are
/// inline) until `stop` is set. Only asynchronous preemption or the OS can interrupt it.
#[inline(always)]
pub fn spin_until(stop: &AtomicBool) -> u64 {
    let mut x = 0u64;
    while !stop.load(Ordering::Relaxed) {
        x = black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
    }
    x
}

/// What the fresh task of `stuck` measured: its start delay (from the spawn call to its first
/// instruction) and the worst lateness of its 1 ms sleeps.
#[derive(Debug, Clone, Copy, Default)]
pub struct StuckTiming {
    /// From just before the spawn call to the task's first instruction.
    pub start_delay: Duration,
    /// The worst overshoot of its [`STARVE_SLEEPS`] sleeps of 1 ms.
    pub worst_late: Duration,
}

impl StuckTiming {
    /// Prints the `stuck` result (the worse of the two, in ms) and a note with both.
    pub fn report(&self) {
        note(&format!(
            "start delay {:.2} ms, worst wake-up lateness {:.2} ms",
            self.start_delay.as_secs_f64() * 1e3,
            self.worst_late.as_secs_f64() * 1e3
        ));
        report(
            "stuck",
            "ms",
            self.start_delay.max(self.worst_late).as_secs_f64() * 1e3,
        );
    }
}

/// How many distinct threads a set of spinners ran on, for `stuck`'s note.
pub fn note_spinner_threads(threads: &[ThreadId]) {
    let mut distinct = threads.to_vec();
    distinct.sort_by_key(|t| format!("{t:?}"));
    distinct.dedup();
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    note(&format!(
        "{} spinner{} held {} distinct thread{}",
        threads.len(),
        plural(threads.len()),
        distinct.len(),
        plural(distinct.len())
    ));
}

/// Waits on the calling (plain) thread until `cond` holds or `limit` passes; says which.
pub fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let t0 = Instant::now();
    while !cond() {
        if t0.elapsed() >= limit {
            return false;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    true
}

/// Moves every complete HTTP/1.1 request (head ending in a blank line; the load generator sends
/// no bodies) out of `inbuf` and appends one [`HTTP_RESPONSE`] per request to `out`.
/// Returns the number of requests answered.
pub fn http_answer(inbuf: &mut Vec<u8>, out: &mut Vec<u8>) -> usize {
    let mut answered = 0;
    let mut start = 0;
    while let Some(pos) = find(&inbuf[start..], b"\r\n\r\n") {
        start += pos + 4;
        out.extend_from_slice(HTTP_RESPONSE);
        answered += 1;
    }
    inbuf.drain(..start);
    answered
}

/// Serves one echo connection until the peer closes it or an error ends it: every byte read
/// is written back. The blocking-style servers (greenchan, may, threads) share it.
pub fn echo_loop(mut s: impl Read + Write) {
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(k) => {
                if s.write_all(&buf[..k]).is_err() {
                    return;
                }
            }
        }
    }
}

/// Serves one keep-alive HTTP connection until the peer closes it or an error ends it,
/// answering each complete request with [`HTTP_RESPONSE`] (see [`http_answer`]).
pub fn http_loop(mut s: impl Read + Write) {
    let (mut inbuf, mut out, mut buf) = (Vec::new(), Vec::new(), [0u8; 4096]);
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(k) => {
                inbuf.extend_from_slice(&buf[..k]);
                if http_answer(&mut inbuf, &mut out) > 0 {
                    if s.write_all(&out).is_err() {
                        return;
                    }
                    out.clear();
                }
            }
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The skynet sum of a tree with `leaves` leaves numbered from 0: `leaves * (leaves - 1) / 2`.
pub fn skynet_expected(leaves: u64) -> u64 {
    leaves * (leaves - 1) / 2
}

/// Exits with a message on stderr when a workload computed a wrong answer.
pub fn check(ok: bool, what: &str) {
    if !ok {
        eprintln!("wrong result: {what}");
        std::process::exit(3);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_arguments() {
        let v: Vec<String> = ["skynet", "--workers", "1", "--size", "1000"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let a = Args::parse_from(&v).unwrap();
        assert_eq!(
            (a.workload.as_str(), a.workers, a.size),
            ("skynet", 1, 1000)
        );
        assert!(Args::parse_from(&["nope".to_string()]).is_err());
        assert_eq!(
            Args::parse_from(&["mpmc".to_string()]).unwrap().size,
            4_000_000
        );
        let v: Vec<String> = ["stuck", "--allow-migration", "--workers", "2"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let a = Args::parse_from(&v).unwrap();
        assert!(a.allow_migration && !a.allow_async_preemption);
        assert_eq!((a.workers, a.size), (2, 5_000));
    }

    #[test]
    fn answers_pipelined_requests() {
        let mut inbuf = b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\n\r\nGET /".to_vec();
        let mut out = Vec::new();
        assert_eq!(http_answer(&mut inbuf, &mut out), 2);
        assert_eq!(inbuf, b"GET /");
        assert_eq!(out.len(), 2 * HTTP_RESPONSE.len());
    }

    #[test]
    fn skynet_sum() {
        assert_eq!(skynet_expected(1_000_000), 499_999_500_000);
    }
}
