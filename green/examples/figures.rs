//! Prints the DESIGN §4 `spawn`, `yield` and `parked` figures for the green runtime alone:
//! `cargo run --release -p greenchan-runtime --example figures [spawn|yield|parked] [N]`.
//! The comparison harness (`bench/`) runs the same workloads beside other runtimes.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

fn rss_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// Memory the kernel spends on this process's page tables (`VmPTE`), which the resident
/// figure does not include: every stack's guard markers and touched pages need them, so it
/// grows with the address span the stacks are carved from.
fn page_table_bytes() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmPTE:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<usize>().ok())
        .unwrap_or(0)
        * 1024
}

fn spawn(n: usize) {
    let counter = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let c = counter.clone();
            green::spawn(move || {
                c.fetch_add(1, Ordering::Relaxed);
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let ns = start.elapsed().as_nanos() as f64 / n as f64;
    assert_eq!(counter.load(Ordering::Relaxed), n);
    println!("spawn: {n} coroutines, {ns:.0} ns per coroutine");
}

fn yields(tasks: usize, per: usize) {
    let start = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|_| {
            green::spawn(move || {
                for _ in 0..per {
                    green::yield_now();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let ns = start.elapsed().as_nanos() as f64 / (tasks * per) as f64;
    println!("yield: {tasks} coroutines x {per} yields, {ns:.1} ns per yield");
}

fn parked(n: usize) {
    let before = rss_bytes();
    let pte_before = page_table_bytes();
    let parked = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let p = parked.clone();
            green::spawn(move || {
                p.fetch_add(1, Ordering::Relaxed);
                green::park();
            })
        })
        .collect();
    while parked.load(Ordering::Relaxed) < n {
        green::sleep(std::time::Duration::from_millis(10));
    }
    green::sleep(std::time::Duration::from_millis(100));
    let after = rss_bytes();
    let per = (after - before) as f64 / n as f64;
    let pte = page_table_bytes().saturating_sub(pte_before) as f64 / n as f64;
    println!(
        "parked: {n} coroutines parked in {:?}, {per:.0} resident bytes per coroutine \
         (and {pte:.0} bytes of page tables)",
        start.elapsed()
    );
    for h in &handles {
        h.coroutine().unpark();
    }
    for h in handles {
        h.join().unwrap();
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let what = args.get(1).map(String::as_str).unwrap_or("all");
    let n: Option<usize> = args.get(2).and_then(|s| s.parse().ok());
    let what = what.to_owned();
    // The workloads run as a coroutine, as a greenchan program's main body does.
    green::run(move || {
        if what == "spawn" || what == "all" {
            spawn(n.unwrap_or(1_000_000));
        }
        if what == "yield" || what == "all" {
            yields(100, n.unwrap_or(100_000));
        }
        if what == "parked" || what == "all" {
            parked(n.unwrap_or(100_000));
        }
    });
}
