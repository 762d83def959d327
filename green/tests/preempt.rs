//! Asynchronous preemption (DESIGN §3), the `unsafe` opt-in: nothing is preempted by default;
//! opted in, a loop with no preemption point is preempted by the monitor's signal, the
//! interrupted registers survive, and the opt-outs hold. Each test runs
//! its scenario in a child process of its own (this binary re-run with one test selected), so
//! the process-wide preemption counter and the signals belong to that scenario alone, and a
//! scenario that hangs is killed by its own bound instead of stalling the suite.
//!
//! Preemption is observed through `green::preempt::async_preemptions()`, never through timing.

use std::hint::black_box;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use green::Runtime;

const CHILD: &str = "GREEN_PREEMPT_CHILD";
/// How long a scenario may take before it is declared hung (generous: CI is a loaded 2-core
/// machine).
const BOUND: Duration = Duration::from_secs(30);

/// Runs `body` in a child process (re-running test `name` of this binary), or runs it here if
/// this is that child.
fn in_child(name: &str, envs: &[(&str, &str)], body: fn()) {
    if std::env::var(CHILD).as_deref() == Ok(name) {
        body();
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let mut cmd = Command::new(exe);
    cmd.args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, name)
        .env_remove("GREENCHAN_ASYNCPREEMPT");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "child {name} failed: {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Waits for `rx` within `BOUND`; on timeout the child exits at once (a spinning coroutine
/// would keep the runtime's shutdown from ever finishing).
fn expect_within<T>(rx: &mpsc::Receiver<T>, what: &str) -> T {
    match rx.recv_timeout(BOUND) {
        Ok(v) => v,
        Err(_) => {
            eprintln!("timed out after {BOUND:?} waiting for: {what}");
            std::process::exit(3);
        }
    }
}

/// One worker, opted in to asynchronous preemption.
fn one_worker(slice_ms: u64) -> Runtime {
    let builder = Runtime::builder()
        .workers(1)
        .time_slice(Duration::from_millis(slice_ms));
    // SAFETY: the coroutines of these scenarios spin on plain arithmetic and atomics, and use
    // nothing thread-affine (std locks, stdio, thread-locals) while they may be preempted:
    // their one `mpsc` send or panic comes after the spinning, or under `disable`.
    unsafe { builder.allow_async_preemption() }.build().unwrap()
}

/// One worker in the default configuration.
fn one_default_worker(slice_ms: u64) -> Runtime {
    Runtime::builder()
        .workers(1)
        .time_slice(Duration::from_millis(slice_ms))
        .build()
        .unwrap()
}

/// The action installed for `SIGURG` in this process.
#[cfg(target_os = "linux")]
fn sigurg_action() -> usize {
    // SAFETY: a query only (null new action), into a zeroed struct of the right type.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        assert_eq!(libc::sigaction(libc::SIGURG, std::ptr::null(), &mut old), 0);
        old.sa_sigaction
    }
}

#[test]
fn by_default_nothing_is_preempted_and_no_signal_handler_is_installed() {
    in_child(
        "by_default_nothing_is_preempted_and_no_signal_handler_is_installed",
        &[],
        || {
            let rt = one_default_worker(2);
            assert_eq!(
                preemptions_while_spinning(&rt, green::Builder::new(), false),
                0
            );
            // The spinner overran its slice many times over, and still no handler exists:
            // no signal was ever meant for a worker.
            #[cfg(target_os = "linux")]
            assert_eq!(sigurg_action(), libc::SIG_DFL);
            rt.shutdown().unwrap();
        },
    );
}

/// Whether this target preempts asynchronously; it must on Linux x86-64. Elsewhere the
/// scenarios that need it are skipped and the rest check that nothing is preempted.
fn supported() -> bool {
    let supported = green::preempt::is_supported();
    if cfg!(all(target_os = "linux", target_arch = "x86_64")) {
        assert!(supported, "x86-64 Linux without XSAVE?");
    }
    supported
}

/// Spins with no call that could yield until `flag` is set.
fn spin_until(flag: &AtomicBool) {
    while !black_box(flag.load(Ordering::Relaxed)) {}
}

#[test]
fn a_loop_without_calls_is_preempted() {
    in_child("a_loop_without_calls_is_preempted", &[], || {
        if !supported() {
            return;
        }
        let rt = one_worker(2);
        let flag = Arc::new(AtomicBool::new(false));
        let (done, finished) = mpsc::channel();
        let spin_flag = flag.clone();
        let spin_done = done.clone();
        let before = green::preempt::async_preemptions();
        // One worker: the setter only runs if the spinner is preempted.
        rt.spawn(move || {
            spin_until(&spin_flag);
            spin_done.send("spinner").unwrap();
        })
        .unwrap();
        rt.spawn(move || {
            flag.store(true, Ordering::Relaxed);
            done.send("setter").unwrap();
        })
        .unwrap();
        let mut seen = [expect_within(&finished, "the setter to run"), ""];
        seen[1] = expect_within(&finished, "the spinner to see the flag");
        seen.sort();
        assert_eq!(seen, ["setter", "spinner"]);
        assert!(green::preempt::async_preemptions() > before);
        rt.shutdown().unwrap();
    });
}

/// One round of integer work in several registers.
#[inline(always)]
fn int_round(s: &mut [u64; 6], iterations: u32) {
    for _ in 0..iterations {
        s[0] ^= s[0] << 13;
        s[0] ^= s[0] >> 7;
        s[0] ^= s[0] << 17;
        s[1] = s[1].wrapping_mul(6364136223846793005).wrapping_add(s[0]);
        s[2] = s[2].rotate_left(5) ^ s[1];
        s[3] = s[3].wrapping_add(s[2] >> 3);
        s[4] = s[4].wrapping_sub(s[3]).wrapping_mul(3);
        s[5] ^= s[4].wrapping_add(s[0]);
    }
}

/// One round of floating-point work: scalar f64 and eight lanes the compiler keeps in vector
/// registers, plus explicit SSE2 on x86-64. Exactly reproducible: same operations, same order.
#[inline(always)]
fn float_round(x: &mut f64, lanes: &mut [f64; 8], iterations: u32) {
    for _ in 0..iterations {
        *x = *x * 0.999_999_9 + 1.25;
        for (i, lane) in lanes.iter_mut().enumerate() {
            *lane = *lane * 0.999_999 + (i as f64 + 0.5);
        }
    }
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::*;
        // SAFETY: SSE2 is part of the x86-64 baseline.
        unsafe {
            let mut a = _mm_loadu_pd(lanes.as_ptr());
            let mut b = _mm_loadu_pd(lanes.as_ptr().add(2));
            let k = _mm_set1_pd(0.999_97);
            for _ in 0..iterations / 4 {
                a = _mm_add_pd(_mm_mul_pd(a, k), b);
                b = _mm_sub_pd(_mm_mul_pd(b, k), _mm_set1_pd(0.125));
            }
            _mm_storeu_pd(lanes.as_mut_ptr(), a);
            _mm_storeu_pd(lanes.as_mut_ptr().add(2), b);
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
struct Work {
    ints: [u64; 6],
    x: f64,
    lanes: [f64; 8],
}

impl Work {
    fn new(seed: u64) -> Work {
        Work {
            ints: [seed | 1, seed ^ 0xABCD, 7, 11, 13, seed.rotate_left(17)],
            x: seed as f64,
            lanes: [0.5; 8],
        }
    }

    fn round(&mut self) {
        int_round(&mut self.ints, 1 << 14);
        float_round(&mut self.x, &mut self.lanes, 1 << 12);
    }
}

#[test]
fn registers_and_vector_state_survive_preemption() {
    in_child("registers_and_vector_state_survive_preemption", &[], || {
        if !supported() {
            return;
        }
        const COROUTINES: u64 = 3;
        const WANTED: u64 = 30;
        let rt = one_worker(1);
        let before = green::preempt::async_preemptions();
        let (tx, rx) = mpsc::channel();
        for seed in 1..=COROUTINES {
            let tx = tx.clone();
            rt.spawn(move || {
                let start = Instant::now();
                let mut work = Work::new(seed * 0x9E37_79B9);
                let mut rounds = 0u32;
                // Work until enough preemptions happened in this process (counted across all
                // three coroutines), at least 20 rounds, at most a few seconds.
                while rounds < 20
                    || (green::preempt::async_preemptions() - before < WANTED
                        && start.elapsed() < Duration::from_secs(8))
                {
                    work.round();
                    rounds += 1;
                }
                tx.send((seed, rounds, work)).unwrap();
            })
            .unwrap();
        }
        drop(tx);
        let mut results = Vec::new();
        for _ in 0..COROUTINES {
            results.push(expect_within(&rx, "the arithmetic coroutines"));
        }
        let preemptions = green::preempt::async_preemptions() - before;
        assert!(
            preemptions >= WANTED,
            "only {preemptions} asynchronous preemptions"
        );
        // The same work on this plain thread, never preempted, must agree bit for bit.
        for (seed, rounds, got) in results {
            let mut want = Work::new(seed * 0x9E37_79B9);
            for _ in 0..rounds {
                want.round();
            }
            assert_eq!(got.ints, want.ints, "integer state of coroutine {seed}");
            assert_eq!(got.x.to_bits(), want.x.to_bits(), "f64 of coroutine {seed}");
            let bits = |l: [f64; 8]| l.map(f64::to_bits);
            assert_eq!(
                bits(got.lanes),
                bits(want.lanes),
                "lanes of coroutine {seed}"
            );
        }
        rt.shutdown().unwrap();
    });
}

/// Spins for `dur` on one worker, alone, and returns how many asynchronous preemptions the
/// process saw meanwhile.
fn preemptions_while_spinning(rt: &Runtime, builder: green::Builder, guard: bool) -> u64 {
    let dur = Duration::from_millis(200);
    let before = green::preempt::async_preemptions();
    let (tx, rx) = mpsc::channel();
    let spinner = builder
        .spawn_on(rt, move || {
            let _guard = guard.then(green::preempt::disable);
            let start = Instant::now();
            let mut x = 0u64;
            while start.elapsed() < dur {
                for i in 0..10_000u64 {
                    x = black_box(x.wrapping_mul(31).wrapping_add(i));
                }
            }
            tx.send(x).unwrap();
        })
        .unwrap();
    expect_within(&rx, "the spinner");
    // The spinner may still be preempted between its send and its end; the join counts that
    // preemption here rather than against the next scenario.
    spinner.join().unwrap();
    green::preempt::async_preemptions() - before
}

#[test]
fn opt_ins_and_opt_outs_of_async_preemption() {
    in_child("opt_ins_and_opt_outs_of_async_preemption", &[], || {
        // The control: a spinner on a runtime opted in to asynchronous preemption is preempted.
        let rt = one_worker(2);
        let control = preemptions_while_spinning(&rt, green::Builder::new(), false);
        assert_eq!(control > 0, supported());
        // A section under a guard is not.
        assert_eq!(
            preemptions_while_spinning(&rt, green::Builder::new(), true),
            0
        );
        rt.shutdown().unwrap();
        // On a default runtime: a coroutine that did not opt in is not preempted, one whose
        // builder opted in is.
        let rt = one_default_worker(2);
        assert_eq!(
            preemptions_while_spinning(&rt, green::Builder::new(), false),
            0
        );
        // SAFETY: the spinner computes on integers and sends once after it stops spinning.
        let opted = unsafe { green::Builder::new().allow_async_preemption() };
        assert_eq!(
            preemptions_while_spinning(&rt, opted, false) > 0,
            supported()
        );
        rt.shutdown().unwrap();
    });
}

#[test]
fn the_environment_variable_disables_async_preemption() {
    in_child(
        "the_environment_variable_disables_async_preemption",
        &[("GREENCHAN_ASYNCPREEMPT", "0")],
        || {
            let rt = one_worker(2);
            assert_eq!(
                preemptions_while_spinning(&rt, green::Builder::new(), false),
                0
            );
            // Cooperative preemption still works: a spinner that calls preempt_point lets
            // the setter run on the single worker.
            let flag = Arc::new(AtomicBool::new(false));
            let (tx, rx) = mpsc::channel();
            let spin_flag = flag.clone();
            rt.spawn(move || {
                while !spin_flag.load(Ordering::Relaxed) {
                    green::preempt_point();
                }
                tx.send(()).unwrap();
            })
            .unwrap();
            rt.spawn(move || flag.store(true, Ordering::Relaxed))
                .unwrap();
            expect_within(&rx, "the cooperative spinner");
            rt.shutdown().unwrap();
        },
    );
}

#[test]
fn a_preempted_coroutine_at_shutdown_is_left_alone() {
    in_child(
        "a_preempted_coroutine_at_shutdown_is_left_alone",
        &[],
        || {
            if !supported() {
                return;
            }
            // Two spinners on one worker: one of them is pinned (preempted) at any moment after
            // the first slice. Shutdown must neither hang on it nor unwind it.
            let rt = one_worker(1);
            let stop = Arc::new(AtomicBool::new(false));
            let before = green::preempt::async_preemptions();
            for _ in 0..2 {
                let stop = stop.clone();
                rt.spawn(move || spin_until(&stop)).unwrap();
            }
            let start = Instant::now();
            while green::preempt::async_preemptions() - before < 4 {
                assert!(start.elapsed() < BOUND, "no preemption");
                std::thread::sleep(Duration::from_millis(1));
            }
            // The spinner running now sees the flag and ends; the pinned one is dropped.
            stop.store(true, Ordering::Relaxed);
            rt.shutdown().unwrap();
        },
    );
}

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
#[test]
fn other_sigurgs_reach_the_previous_handler() {
    use std::sync::atomic::AtomicUsize;
    static CALLS: AtomicUsize = AtomicUsize::new(0);
    extern "C" fn previous(_: libc::c_int) {
        CALLS.fetch_add(1, Ordering::SeqCst);
    }
    in_child("other_sigurgs_reach_the_previous_handler", &[], || {
        // SAFETY: installing a plain handler (async-signal-safe: one atomic add) for SIGURG
        // before the runtime installs its own, which must chain to it.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = previous as *const () as usize;
            libc::sigemptyset(&mut action.sa_mask);
            assert_eq!(
                libc::sigaction(libc::SIGURG, &action, std::ptr::null_mut()),
                0
            );
        }
        // Building a runtime that opts in installs the handler.
        let rt = one_worker(2);
        assert_eq!(rt.run(|| 1), 1);
        let wait_for = |n: usize| {
            let start = Instant::now();
            while CALLS.load(Ordering::SeqCst) < n {
                assert!(
                    start.elapsed() < BOUND,
                    "the previous handler was not called"
                );
                std::thread::yield_now();
            }
        };
        // A SIGURG from outside (kill: SI_USER), e.g. a socket's out-of-band data.
        // SAFETY: signalling our own process; the handler is installed.
        unsafe { libc::kill(libc::getpid(), libc::SIGURG) };
        wait_for(1);
        // A thread-directed one to a thread that is not a worker.
        // SAFETY: signalling this (live) thread.
        unsafe { libc::pthread_kill(libc::pthread_self(), libc::SIGURG) };
        wait_for(2);
        // And the runtime still preempts.
        let before = green::preempt::async_preemptions();
        assert!(preemptions_while_spinning(&rt, green::Builder::new(), false) > 0);
        assert!(green::preempt::async_preemptions() > before);
        rt.shutdown().unwrap();
    });
}

/// A coroutine is never preempted while it panics: std keeps per-thread panic state (whether
/// the thread is inside the panic hook), and a second coroutine that panicked on the same
/// thread meanwhile would abort the process ("thread panicked while processing panic").
#[test]
fn a_panicking_coroutine_is_not_preempted() {
    in_child("a_panicking_coroutine_is_not_preempted", &[], || {
        if !supported() {
            return;
        }
        let rt = one_worker(2);
        // A slow panic hook: it spins far past the 2 ms slice, so the monitor asks for a
        // preemption while the first coroutine is inside it.
        std::panic::set_hook(Box::new(|_| {
            let start = Instant::now();
            while start.elapsed() < Duration::from_millis(60) {
                black_box(());
            }
        }));
        let first = rt.spawn(|| panic!("first")).unwrap();
        let second = rt.spawn(|| panic!("second")).unwrap();
        assert!(first.join().is_err());
        assert!(second.join().is_err());
        let _ = std::panic::take_hook();
    });
}

/// Spawns a coroutine that runs whole slices until the returned flag is set (a loop with a
/// preemption point in it if `cooperative`, `spin_until` with no call at all otherwise), and
/// returns once it runs.
fn spawn_spinner(rt: &Runtime, cooperative: bool) -> (Arc<AtomicBool>, green::JoinHandle<()>) {
    let stop = Arc::new(AtomicBool::new(false));
    let (spinning, spinner_started) = mpsc::channel();
    let flag = stop.clone();
    let spinner = rt
        .spawn(move || {
            {
                let _no_preempt = green::preempt::disable();
                spinning.send(()).unwrap();
            }
            if cooperative {
                while !black_box(flag.load(Ordering::Relaxed)) {
                    green::preempt_point();
                }
            } else {
                spin_until(&flag);
            }
        })
        .unwrap();
    expect_within(&spinner_started, "the spinner to start");
    (stop, spinner)
}

/// The worst lateness of ten 1 ms sleeps of a coroutine that shares its one worker with a
/// coroutine running whole slices (with a preemption point in its loop if `cooperative`, with
/// no call at all otherwise). The sleeper starts first, so both are started on that worker.
fn sleeper_beside_a_spinner(rt: &Runtime, cooperative: bool) -> Duration {
    let (started, sleeper_started) = mpsc::channel();
    let sleeper = rt
        .spawn(move || {
            started.send(()).unwrap();
            green::sleep(Duration::from_millis(1));
            let mut worst = Duration::ZERO;
            for _ in 0..10 {
                let t = Instant::now();
                green::sleep(Duration::from_millis(1));
                worst = worst.max(t.elapsed().saturating_sub(Duration::from_millis(1)));
            }
            worst
        })
        .unwrap();
    expect_within(&sleeper_started, "the sleeper to start");
    let (stop, spinner) = spawn_spinner(rt, cooperative);
    let worst = sleeper.join().unwrap();
    stop.store(true, Ordering::Relaxed);
    spinner.join().unwrap();
    worst
}

/// The slice of the two tests below, and their bound on a wake-up's lateness: a timer that
/// falls due while the other coroutine runs fires when that coroutine's slice ends, and its
/// coroutine runs next, so the lateness is at most about one slice; two leave room for a
/// loaded machine. Before the fix the worker looked at its timers only every 16th turn, and a
/// slice-long coroutine alone beside the sleeper made that 16 slices (with async preemption,
/// the monitor's rescue of the "stuck" worker cut it to about four).
const SLICE_MS: u64 = 25;

/// The scenario of the four tests below: `measure` on one worker beside a spinner that has a
/// preemption point in its loop (`cooperative`, the default configuration) or none at all
/// (opted in to asynchronous preemption; skipped where that is unsupported) must come out
/// under two slices. `before` and `after` word the failure around the figure.
fn within_two_slices(
    cooperative: bool,
    measure: fn(&Runtime, bool) -> Duration,
    before: &str,
    after: &str,
) {
    if !cooperative && !supported() {
        return;
    }
    let rt = if cooperative {
        one_default_worker(SLICE_MS)
    } else {
        one_worker(SLICE_MS)
    };
    let took = measure(&rt, cooperative);
    assert!(
        took < Duration::from_millis(2 * SLICE_MS),
        "{before} {took:?} {after} beside a spinner with {SLICE_MS} ms slices"
    );
    rt.shutdown().unwrap();
}

#[test]
fn a_sleeper_beside_a_cooperative_spinner_wakes_within_a_slice() {
    in_child(
        "a_sleeper_beside_a_cooperative_spinner_wakes_within_a_slice",
        &[],
        || within_two_slices(true, sleeper_beside_a_spinner, "a 1 ms sleep ended", "late"),
    );
}

#[test]
fn a_sleeper_beside_a_preempted_spinner_wakes_within_a_slice() {
    in_child(
        "a_sleeper_beside_a_preempted_spinner_wakes_within_a_slice",
        &[],
        || {
            within_two_slices(
                false,
                sleeper_beside_a_spinner,
                "a 1 ms sleep ended",
                "late",
            )
        },
    );
}

/// How long a coroutine spawned from this plain thread waits to start while the one worker
/// runs a slice-long coroutine (with a preemption point in its loop if `cooperative`, with no
/// call at all otherwise).
fn start_delay_beside_a_spinner(rt: &Runtime, cooperative: bool) -> Duration {
    let (stop, spinner) = spawn_spinner(rt, cooperative);
    let (started, fresh_started) = mpsc::channel();
    let spawned = Instant::now();
    let fresh = rt
        .spawn(move || started.send(Instant::now()).unwrap())
        .unwrap();
    let delay = expect_within(&fresh_started, "the fresh coroutine to start") - spawned;
    fresh.join().unwrap();
    stop.store(true, Ordering::Relaxed);
    spinner.join().unwrap();
    delay
}

// A coroutine spawned from a plain thread waits in the global queue, which a worker used to
// look at only every 61st pick: beside a slice-long coroutine, 61 slices. (Before 8eb5906 the
// monitor's rescue of the "stuck" worker happened to start a spare thread that took it; with
// the rescue waiting a tick for the requested yield, the harness's `stuck` under the opt-ins
// saw start delays of 600 ms with 10 ms slices.)

#[test]
fn a_coroutine_spawned_beside_a_cooperative_spinner_starts_within_a_slice() {
    in_child(
        "a_coroutine_spawned_beside_a_cooperative_spinner_starts_within_a_slice",
        &[],
        || {
            within_two_slices(
                true,
                start_delay_beside_a_spinner,
                "started",
                "after its spawn",
            )
        },
    );
}

#[test]
fn a_coroutine_spawned_beside_a_preempted_spinner_starts_within_a_slice() {
    in_child(
        "a_coroutine_spawned_beside_a_preempted_spinner_starts_within_a_slice",
        &[],
        || {
            within_two_slices(
                false,
                start_delay_beside_a_spinner,
                "started",
                "after its spawn",
            )
        },
    );
}

/// A coroutine that a plain thread wakes while its one worker runs a preempted spinner runs at
/// the spinner's next slice end, ahead of it: the wake-up waits in the worker's inbox, which
/// the slice end drains before it queues the spinner again. Counted in preemptions and
/// switches, not time: the waker unparks just after the spinner is resumed from a preemption,
/// so a whole slice lies ahead, and notes the count;
/// the woken coroutine notes the count when it runs. Before the fix the spinner was queued
/// first and ran a slice more, so the woken coroutine always ran two preemptions after its
/// wake-up (the rescued timers of `starve` waited the same way: 23 ms instead of 10).
#[test]
fn a_wake_up_from_another_thread_runs_at_the_next_slice_end() {
    in_child(
        "a_wake_up_from_another_thread_runs_at_the_next_slice_end",
        &[],
        || {
            if !supported() {
                return;
            }
            const ATTEMPTS: u64 = 5;
            let rt = one_worker(SLICE_MS);
            let round = Arc::new(std::sync::atomic::AtomicU64::new(0));
            let (started, woken_started) = mpsc::channel();
            let (ran, woken_ran) = mpsc::channel();
            let woken = {
                let round = round.clone();
                rt.spawn(move || {
                    {
                        let _no_preempt = green::preempt::disable();
                        started.send(green::current()).unwrap();
                    }
                    for attempt in 1..=ATTEMPTS {
                        while round.load(Ordering::SeqCst) < attempt {
                            green::park();
                        }
                        let _no_preempt = green::preempt::disable();
                        ran.send(green::preempt::async_preemptions()).unwrap();
                    }
                })
                .unwrap()
            };
            let me = expect_within(&woken_started, "the woken coroutine to start");
            let (stop, spinner) = spawn_spinner(&rt, false);
            let mut fewest = u64::MAX;
            for attempt in 1..=ATTEMPTS {
                // Just after the spinner was resumed from a preemption: it has a whole slice
                // ahead of it. (Waking it as soon as the preemption is counted would race the
                // worker's own handling of it.)
                let switches = || rt.metrics().workers[0].switches;
                let deadline = Instant::now() + BOUND;
                let before = green::preempt::async_preemptions();
                while green::preempt::async_preemptions() == before {
                    assert!(Instant::now() < deadline, "the spinner is not preempted");
                    std::thread::yield_now();
                }
                let preempted_at = switches();
                while switches() == preempted_at {
                    assert!(Instant::now() < deadline, "the spinner is not resumed");
                    std::thread::yield_now();
                }
                let at_wake = green::preempt::async_preemptions();
                round.store(attempt, Ordering::SeqCst);
                me.unpark();
                let at_run = expect_within(&woken_ran, "the woken coroutine to run");
                fewest = fewest.min(at_run - at_wake);
            }
            stop.store(true, Ordering::Relaxed);
            spinner.join().unwrap();
            woken.join().unwrap();
            assert!(
                fewest <= 1,
                "a coroutine woken from another thread ran {fewest} preemptions of its \
                 worker's spinner after the wake-up at best, in {ATTEMPTS} attempts"
            );
            rt.shutdown().unwrap();
        },
    );
}
