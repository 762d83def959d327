//! Deadlock detection (issue 11), as Go's "all goroutines are asleep - deadlock!": when every
//! coroutine of a runtime is parked on something only another coroutine could end, and
//! nothing else in the process could wake them, `run` panics with a report that says
//! `deadlock` and lists them. And no false positives: a coroutine waiting on a timer, on a
//! socket, or on a plain thread that sends later is not a deadlock.
//!
//! Detection counts the process's threads (any thread that is not greenchan's own might still
//! send), so each scenario runs in a child process whose main thread is the one in `run`;
//! this file is its own test binary without libtest's harness (`harness = false`), whose
//! threads would otherwise count. Linux only (elsewhere the thread count is unknown and
//! detection stays off).

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use greenchan::chan;
use greenchan::sync::{Barrier, Mutex, WaitGroup};

const CHILD: &str = "GREENCHAN_DEADLOCK_SCENARIO";
/// A scenario that hangs is killed after this (generous: CI is a loaded 2-core machine).
const BOUND: Duration = Duration::from_secs(60);
/// How long the "later" events of the no-false-positive scenarios wait: well past the time
/// detection takes (two looks 100 ms apart), so a false positive would show.
const LATER: Duration = Duration::from_millis(1500);

/// The scenarios: name, and whether it deadlocks.
const SCENARIOS: &[(&str, bool)] = &[
    ("recv_nobody_sends", true),
    ("two_wait_for_each_other", true),
    ("join_of_a_parked_coroutine", true),
    ("locks_in_opposite_order", true),
    ("wait_group_never_done", true),
    ("select_over_silent_channels", true),
    ("timer_ends_the_wait", false),
    ("plain_thread_sends_later", false),
    ("socket_wakes_it", false),
];

fn scenario(name: &str) {
    match name {
        "recv_nobody_sends" => {
            greenchan::run(|| {
                let (tx, rx) = chan::bounded::<u32>(0);
                let _keep = tx;
                let _ = rx.recv();
            });
        }
        "two_wait_for_each_other" => {
            greenchan::run(|| {
                let (tx_a, rx_a) = chan::bounded::<u32>(0);
                let (tx_b, rx_b) = chan::bounded::<u32>(0);
                let a = greenchan::Builder::new()
                    .name("a".into())
                    .spawn(move || {
                        let _ = rx_b.recv();
                        tx_a.send(1)
                    })
                    .unwrap();
                let b = greenchan::Builder::new()
                    .name("b".into())
                    .spawn(move || {
                        let _ = rx_a.recv();
                        tx_b.send(2)
                    })
                    .unwrap();
                let _ = a.join();
                let _ = b.join();
            });
        }
        "join_of_a_parked_coroutine" => {
            greenchan::run(|| {
                let h = greenchan::spawn(|| loop {
                    greenchan::park();
                });
                let _ = h.join();
            });
        }
        "locks_in_opposite_order" => {
            greenchan::run(|| {
                let (m1, m2) = (Arc::new(Mutex::new(())), Arc::new(Mutex::new(())));
                // Both hold their first lock before either takes its second.
                let both = Arc::new(Barrier::new(2));
                let spawn = |first: Arc<Mutex<()>>, second: Arc<Mutex<()>>| {
                    let both = both.clone();
                    greenchan::spawn(move || {
                        let _a = first.lock().unwrap();
                        both.wait();
                        let _b = second.lock().unwrap();
                    })
                };
                let x = spawn(m1.clone(), m2.clone());
                let y = spawn(m2, m1);
                let _ = x.join();
                let _ = y.join();
            });
        }
        "wait_group_never_done" => {
            greenchan::run(|| {
                let wg = WaitGroup::new();
                wg.add(1); // nobody calls `done`
                wg.wait();
            });
        }
        "select_over_silent_channels" => {
            greenchan::run(|| {
                let (_t1, r1) = chan::unbounded::<u32>();
                let (_t2, r2) = chan::bounded::<u32>(0);
                greenchan::select! {
                    recv(r1) -> _ => {},
                    recv(r2) -> _ => {},
                }
            });
        }
        "timer_ends_the_wait" => {
            greenchan::run(|| {
                let (tx, rx) = chan::bounded::<u32>(0);
                greenchan::spawn(move || {
                    greenchan::sleep(LATER);
                    tx.send(1).unwrap();
                });
                assert_eq!(rx.recv().unwrap(), 1);
            });
            println!("done");
        }
        "plain_thread_sends_later" => {
            let (tx, rx) = chan::bounded::<u32>(0);
            std::thread::spawn(move || {
                std::thread::sleep(LATER);
                tx.send(1).unwrap();
            });
            greenchan::run(move || assert_eq!(rx.recv().unwrap(), 1));
            println!("done");
        }
        "socket_wakes_it" => {
            // The parent connects after `LATER`; meanwhile the only coroutine parks in accept.
            let listener = greenchan::net::TcpListener::bind("127.0.0.1:0").unwrap();
            println!("{}", listener.local_addr().unwrap());
            std::io::stdout().flush().unwrap();
            greenchan::run(move || {
                let (mut conn, _) = listener.accept().unwrap();
                let mut byte = [0u8; 1];
                conn.read_exact(&mut byte).unwrap();
            });
            println!("done");
        }
        other => panic!("no scenario {other}"),
    }
}

/// Runs scenario `name` in a child process; returns its exit success, stdout and stderr. A
/// child that runs past `BOUND` is killed (a hang: detection failed).
fn in_child(name: &str) -> (bool, String, String) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .env(CHILD, name)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    if name == "socket_wakes_it" {
        stdout.read_line(&mut first).unwrap();
        std::thread::sleep(LATER);
        let mut conn = std::net::TcpStream::connect(first.trim()).unwrap();
        conn.write_all(b"x").unwrap();
    }
    let out_reader = std::thread::spawn(move || {
        let mut out = String::new();
        let _ = stdout.read_to_string(&mut out);
        out
    });
    let mut stderr = child.stderr.take().unwrap();
    let err_reader = std::thread::spawn(move || {
        let mut err = String::new();
        let _ = stderr.read_to_string(&mut err);
        err
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if start.elapsed() > BOUND {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = first + &out_reader.join().unwrap();
    let mut err = err_reader.join().unwrap();
    if status.is_none() {
        err.push_str("\n(killed after the bound: a hang)");
    }
    (status.is_some_and(|s| s.success()), out, err)
}

fn main() {
    if let Ok(name) = std::env::var(CHILD) {
        scenario(&name);
        return;
    }
    if !cfg!(target_os = "linux") {
        println!("deadlock detection needs /proc: skipped");
        println!("0 passed, 0 failed");
        return;
    }
    // The parts of libtest's command line that cargo test and cargo nextest use: name
    // filters, `--exact`, and `--list` (nextest lists with `--list --format terse`, once
    // more with `--ignored`; none of these tests is ignored).
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |f: &str| args.iter().any(|a| a == f);
    let (exact, list, ignored) = (flag("--exact"), flag("--list"), flag("--ignored"));
    let filter: Vec<&str> = args
        .iter()
        .filter(|a| !a.starts_with('-') && !matches!(a.as_str(), "terse" | "pretty" | "json"))
        .map(String::as_str)
        .collect();
    let selected = |name: &str| {
        filter.is_empty()
            || filter
                .iter()
                .any(|f| if exact { name == *f } else { name.contains(f) })
    };
    if list {
        if !ignored {
            for &(name, _) in SCENARIOS.iter().filter(|(n, _)| selected(n)) {
                println!("{name}: test");
            }
        }
        return;
    }
    let (mut passed, mut failed) = (0, 0);
    for &(name, deadlocks) in SCENARIOS {
        if !selected(name) || ignored {
            continue;
        }
        let (ok, out, err) = in_child(name);
        let verdict = if deadlocks {
            !ok && err.contains("deadlock") && err.contains("coroutine")
        } else {
            ok && out.contains("done") && !err.contains("deadlock")
        };
        if verdict {
            passed += 1;
            println!("test {name} ... ok");
            if deadlocks && std::env::var_os("GREENCHAN_SHOW_REPORTS").is_some() {
                println!("{err}");
            }
        } else {
            failed += 1;
            println!("test {name} ... FAILED\n--- stdout\n{out}\n--- stderr\n{err}");
        }
    }
    println!(
        "\ntest result: {}. {passed} passed; {failed} failed",
        if failed == 0 { "ok" } else { "FAILED" }
    );
    println!("{passed} passed, {failed} failed");
    if failed > 0 {
        std::process::exit(1);
    }
}
