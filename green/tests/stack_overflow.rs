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

fn assert_aborted_with<S: AsRef<str>>(out: &Output, report: &[S]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGABRT),
        "the child should abort; status {:?}, stderr:\n{stderr}",
        out.status
    );
    for needle in report.iter().map(AsRef::as_ref) {
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
            "greenchan: coroutine 'deep' (id ".to_owned(),
            format!(
                "overflowed its stack of {} bytes; aborting",
                green::DEFAULT_STACK_SIZE
            ),
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

/// 100 KiB of locals on a coroutine spawned with the defaults: in a debug build (how `cargo
/// test` builds this), where every temporary gets a stack slot of its own, this needs more than
/// the old 64 KiB default. Run in a child so that, were the stack too small, the overflow
/// report would fail this test instead of aborting the whole test binary.
#[test]
fn hundred_kib_of_locals_fit_the_default_stack() {
    let test = "hundred_kib_of_locals_fit_the_default_stack";
    if is_child(test) {
        #[inline(never)]
        fn big_locals(seed: u8) -> u64 {
            let mut buf = [seed; 100 * 1024];
            // The optimiser (were there one) cannot shrink what `black_box` may read or write.
            black_box(&mut buf);
            for (i, b) in buf.iter_mut().enumerate().step_by(4096) {
                *b = b.wrapping_add(i as u8);
            }
            let copy = black_box(buf); // a second 100 KiB temporary in a debug build
            copy.iter().map(|&b| b as u64).sum()
        }
        let spawned = green::spawn(|| big_locals(1)).join().unwrap();
        let on_go = green::Builder::new()
            .name("big-locals".into())
            .spawn(|| big_locals(2))
            .unwrap()
            .join()
            .unwrap();
        let on_run = green::run(|| big_locals(3));
        println!("sums: {spawned} {on_go} {on_run}");
        std::process::exit(0);
    }
    let out = run_child(test);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("sums: "),
        "the child failed: {:?}\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}
