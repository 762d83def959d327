//! A C function with a 96 KiB frame, compiled without stack probes, called near the top of a
//! 64 KiB coroutine stack: its first write lands 32 KiB below the end of the stack. With a
//! one-page guard that write went into the neighbouring stack, silently; with the 64 KiB guard
//! region it faults in this stack's guard and the runtime names the coroutine and aborts.
//!
//! The fatal scenarios run in a child copy of this test binary (`SCENARIO` names the one to
//! run); the parent checks how the child died and what it printed.

use std::hint::black_box;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};

use greenchan_ctest::{big_frame, big_frame_bytes};

const SCENARIO: &str = "GREENCHAN_CTEST_SCENARIO";

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

/// Bytes of canary the neighbour keeps live on its stack while the C frame runs: deep enough
/// that a write 32 KiB below the next stack's end, through a one-page guard, lands in it.
const CANARY: usize = 48 * 1024;
const STACK: usize = 64 * 1024;

/// The scenario: a neighbour coroutine with a 64 KiB stack holds 48 KiB of canary bytes
/// parked; then a coroutine named `c-frame`, with a 64 KiB stack carved right after the
/// neighbour's (so lying just above it), calls the C function. Prints what happened, in case
/// the process survives.
fn c_frame_beside_a_neighbour() {
    let (ready_tx, ready_rx) = mpsc::channel();
    let go_on = Arc::new(AtomicBool::new(false));
    let go_flag = go_on.clone();
    let neighbour = green::Builder::new()
        .name("neighbour".into())
        .stack_size(STACK)
        .spawn(move || {
            // Filled in place, not passed by value: a debug build would copy it.
            let mut canary = [0x5Au8; CANARY];
            black_box(&mut canary);
            ready_tx.send(canary.as_ptr() as usize).unwrap();
            while !go_flag.load(Ordering::Acquire) {
                green::park();
            }
            let intact = black_box(&canary).iter().all(|&b| b == 0x5A);
            println!("neighbour canary intact: {intact}");
            intact
        })
        .unwrap();
    let canary_at = ready_rx.recv().unwrap();
    let c_frame = green::Builder::new()
        .name("c-frame".into())
        .stack_size(STACK)
        .spawn(move || {
            let here = black_box(0u8);
            eprintln!(
                "c-frame near {:#x}, neighbour's canary at {canary_at:#x}; calling a {} KiB C frame",
                &here as *const u8 as usize,
                big_frame_bytes() >> 10
            );
            let r = big_frame(7);
            println!("the C frame returned {r}");
        })
        .unwrap();
    let joined = c_frame.join();
    println!("c-frame joined: ok = {}", joined.is_ok());
    go_on.store(true, Ordering::Release);
    neighbour.coroutine().unpark();
    println!("neighbour joined: {:?}", neighbour.join());
}

#[test]
fn c_frame_past_the_end_of_the_stack_is_reported_by_name() {
    let test = "c_frame_past_the_end_of_the_stack_is_reported_by_name";
    if is_child(test) {
        c_frame_beside_a_neighbour();
        std::process::exit(0);
    }
    let out = run_child(test);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let what = format!(
        "status {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    assert!(
        !stdout.contains("the C frame returned"),
        "the C frame stepped over the guard and returned: {what}"
    );
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGABRT),
        "the overflow handler should abort: {what}"
    );
    assert!(
        stderr.contains("greenchan: coroutine 'c-frame' (id ")
            && stderr.contains(&format!("overflowed its stack of {STACK} bytes; aborting")),
        "the report should name the coroutine: {what}"
    );
}

/// The same C function on a default-sized stack has room to run.
#[test]
fn c_frame_fits_a_default_stack() {
    assert!(green::DEFAULT_STACK_SIZE >= 2 * big_frame_bytes());
    let r = green::spawn(|| big_frame(7)).join().unwrap();
    assert_eq!(r, 7 + 8);
}
