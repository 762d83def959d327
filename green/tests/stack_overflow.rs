//! A coroutine that overflows its stack hits the guard page below it; the runtime names the
//! coroutine on stderr and aborts the process, instead of corrupting a neighbouring stack
//! (DESIGN §3). Each test re-runs this test binary with `SCENARIO` set, so the overflow kills
//! only the child; the parent checks the signal and the report.

use std::hint::black_box;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Output};

const SCENARIO: &str = "GREEN_STACK_OVERFLOW_SCENARIO";

/// Whether this process is the child for `test`; if so, no core dump when it dies.
fn is_child(test: &str) -> bool {
    if std::env::var(SCENARIO).as_deref() != Ok(test) {
        return false;
    }
    let none = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: setrlimit with a valid struct; it only lowers this process's core size limit.
    unsafe { libc::setrlimit(libc::RLIMIT_CORE, &none) };
    true
}

fn run_child(test: &str) -> Output {
    Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(SCENARIO, test)
        .output()
        .expect("re-executing the test binary")
}

/// Recurses without bound (the `black_box`es keep it a real, non-tail recursion with a
/// frame the optimiser cannot remove).
#[inline(never)]
fn recurse(depth: u64) -> u64 {
    let frame = black_box([depth; 32]);
    if black_box(depth) == u64::MAX {
        return 0;
    }
    recurse(depth + 1).wrapping_add(frame[(depth % 32) as usize])
}

fn assert_aborted_with(out: &Output, report: &[&str]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGABRT),
        "the child should abort; status {:?}, stderr:\n{stderr}",
        out.status
    );
    for needle in report {
        assert!(
            stderr.contains(needle),
            "stderr lacks {needle:?}:\n{stderr}"
        );
    }
}

#[test]
fn overflowing_coroutine_is_named_and_aborts() {
    let test = "overflowing_coroutine_is_named_and_aborts";
    if is_child(test) {
        let joined = green::Builder::new()
            .name("deep".into())
            .spawn(|| recurse(0))
            .unwrap()
            .join();
        // Unreachable: the overflow aborts the process.
        println!("joined: {:?}", joined.is_ok());
        std::process::exit(0);
    }
    let out = run_child(test);
    assert_aborted_with(
        &out,
        &[
            "greenchan: coroutine 'deep' (id ",
            "overflowed its stack of 65536 bytes; aborting",
        ],
    );
}

#[test]
fn overflow_report_gives_the_stack_size() {
    let test = "overflow_report_gives_the_stack_size";
    if is_child(test) {
        let joined = green::Builder::new()
            .name("deeper".into())
            .stack_size(256 * 1024)
            .spawn(|| recurse(0))
            .unwrap()
            .join();
        println!("joined: {:?}", joined.is_ok());
        std::process::exit(0);
    }
    let out = run_child(test);
    assert_aborted_with(
        &out,
        &["coroutine 'deeper'", "overflowed its stack of 262144 bytes"],
    );
}

#[test]
fn unnamed_coroutine_overflow_is_reported() {
    let test = "unnamed_coroutine_overflow_is_reported";
    if is_child(test) {
        let joined = green::spawn(|| recurse(0)).join();
        println!("joined: {:?}", joined.is_ok());
        std::process::exit(0);
    }
    let out = run_child(test);
    assert_aborted_with(
        &out,
        &[
            "greenchan: coroutine <unnamed> (id ",
            "overflowed its stack",
        ],
    );
}

#[test]
fn deep_but_bounded_recursion_fits() {
    // Recursion that fits is not mistaken for an overflow: 1,000 frames of ~300 bytes in a
    // 1 MiB stack, on a runtime in this process.
    let depth = green::Builder::new()
        .stack_size(1 << 20)
        .spawn(|| {
            #[inline(never)]
            fn bounded(n: u64) -> u64 {
                let frame = black_box([n; 32]);
                if n == 0 {
                    return 0;
                }
                1 + bounded(n - 1) + frame[(n % 32) as usize] - n
            }
            bounded(1_000)
        })
        .unwrap()
        .join()
        .unwrap();
    assert_eq!(depth, 1_000);
}
