//! Behaviour of the runtime through its public API: spawning and joining, panics, park/unpark
//! between coroutines and threads, timers, yielding, explicit runtimes and bad input.
//!
//! Every wait is on an event and bounded by `WATCHDOG`; nothing asserts an upper bound on time.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{assert_dropped, occupy_only_worker, shut_down_while_busy, within};
use green::{Builder, Runtime};

#[test]
fn spawn_and_join_return_values() {
    within(|| {
        let handles: Vec<_> = (0..1000u64).map(|i| green::spawn(move || i * 2)).collect();
        let sum: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(sum, 999 * 1000);
    });
}

#[test]
fn panic_comes_back_as_err_and_runtime_carries_on() {
    within(|| {
        let bad = green::spawn(|| -> u32 { panic!("deliberate") });
        let good = green::spawn(|| 5u32);
        let err = bad.join().unwrap_err();
        assert_eq!(err.downcast_ref::<&str>(), Some(&"deliberate"));
        assert_eq!(good.join().unwrap(), 5);
        // And the runtime still runs new coroutines.
        assert_eq!(green::spawn(|| 9).join().unwrap(), 9);
    });
}

/// Counts its drops; the padding makes closures that capture it too large for a task's slot.
struct Tally<const N: usize>(Arc<AtomicUsize>, [u8; N]);

impl<const N: usize> Drop for Tally<N> {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Spawns detached and joined coroutines whose closures and results carry a `Tally<N>`, on a
/// runtime whose workers reuse finished tasks (and their job slots), and checks that every
/// closure, result and panic payload (when `panics`) is dropped exactly once.
fn closures_and_results_drop_once<const N: usize>(panics: bool) {
    let rt = Runtime::builder().workers(2).build().unwrap();
    let drops = Arc::new(AtomicUsize::new(0));
    let d = drops.clone();
    let made = rt.run(move || {
        let mut made = 0;
        for _ in 0..20 {
            // Detached: their tasks go back to the pools and are reused below.
            let (tx, rx) = mpsc::channel();
            for _ in 0..50 {
                let t = Tally::<N>(d.clone(), [1; N]);
                let tx = tx.clone();
                drop(green::spawn(move || {
                    let _t = t;
                    tx.send(()).unwrap();
                }));
                made += 1;
            }
            drop(tx);
            assert_eq!(rx.iter().count(), 50);
            // Joined, returning a tally (dropped by the joiner) or panicking with one.
            let handles: Vec<_> = (0..50)
                .map(|i| {
                    let t = Tally::<N>(d.clone(), [2; N]);
                    green::spawn(move || {
                        if panics && i % 7 == 0 {
                            std::panic::panic_any(t);
                        }
                        t
                    })
                })
                .collect();
            made += 50;
            for (i, h) in handles.into_iter().enumerate() {
                match h.join() {
                    Ok(t) => assert_eq!(t.1, [2; N]),
                    Err(payload) => {
                        assert!(panics && i % 7 == 0);
                        assert!(payload.downcast_ref::<Tally<N>>().is_some());
                    }
                }
            }
            // A finished coroutine whose handle is dropped unjoined: its result goes then.
            let h = green::spawn({
                let t = Tally::<N>(d.clone(), [3; N]);
                move || t
            });
            while !h.is_finished() {
                green::yield_now();
            }
            drop(h);
            made += 1;
        }
        made
    });
    rt.shutdown().unwrap();
    assert_eq!(drops.load(Ordering::SeqCst), made);
}

#[test]
fn small_closures_and_results_are_dropped_once_through_reused_tasks() {
    within(|| closures_and_results_drop_once::<8>(true));
}

#[test]
fn large_closures_and_results_are_dropped_once_too() {
    // With panics: this once aborted now and then ("panicked while processing panic"), a
    // coroutine preempted inside std's panic hook; the handler now leaves panics alone.
    within(|| closures_and_results_drop_once::<512>(true));
}

#[test]
fn join_from_a_coroutine_parks_it() {
    within(|| {
        let v = green::run(|| {
            let inner = green::spawn(|| {
                green::sleep(Duration::from_millis(5));
                11
            });
            inner.join().unwrap() + 1
        });
        assert_eq!(v, 12);
    });
}

#[test]
fn thread_unparks_coroutine() {
    within(|| {
        let flag = Arc::new(AtomicBool::new(false));
        let f = flag.clone();
        let h = green::spawn(move || {
            while !f.load(Ordering::Acquire) {
                green::park();
            }
            "woken"
        });
        // Let the coroutine reach park at least sometimes; correctness holds either way.
        std::thread::sleep(Duration::from_millis(10));
        flag.store(true, Ordering::Release);
        h.coroutine().unpark();
        assert_eq!(h.join().unwrap(), "woken");
    });
}

#[test]
fn coroutine_unparks_thread() {
    within(|| {
        let flag = Arc::new(AtomicBool::new(false));
        let me = green::current();
        assert!(!green::in_coroutine());
        let f = flag.clone();
        let h = green::spawn(move || {
            green::sleep(Duration::from_millis(5));
            f.store(true, Ordering::Release);
            me.unpark();
        });
        while !flag.load(Ordering::Acquire) {
            green::park();
        }
        h.join().unwrap();
    });
}

#[test]
fn unpark_before_park_is_not_lost() {
    within(|| {
        green::run(|| {
            let me = green::current();
            me.unpark();
            green::park(); // must return: the token was set
            me.unpark();
            me.unpark(); // tokens do not accumulate
            green::park();
        });
    });
}

#[test]
fn park_timeout_returns_after_the_timeout() {
    within(|| {
        let elapsed = green::run(|| {
            let start = Instant::now();
            let deadline = start + Duration::from_millis(20);
            while Instant::now() < deadline {
                green::park_deadline(deadline);
            }
            start.elapsed()
        });
        assert!(elapsed >= Duration::from_millis(20));
    });
}

/// Timed waits that end early (unparked long before their timeout) leave stale timer entries
/// behind; the heap sweeps them, so a loop of them keeps memory flat instead of holding one
/// entry per iteration until its hour is up.
#[test]
fn timed_waits_that_end_early_do_not_pile_up() {
    within(|| {
        let rt = Runtime::builder().workers(1).build().unwrap();
        let rounds = 20_000;
        rt.run(move || {
            let me = green::current();
            for _ in 0..rounds {
                let waker = me.clone();
                let h = green::spawn(move || waker.unpark());
                green::park_timeout(Duration::from_secs(3600));
                h.join().unwrap();
            }
        });
        let held = rt.timer_entries();
        assert!(
            held < 1_000,
            "{held} timer entries held after {rounds} early-ended waits"
        );
        rt.shutdown().unwrap();
    });
}

#[test]
fn sleeps_end_after_their_duration_and_in_order() {
    within(|| {
        let order = Arc::new(Mutex::new(Vec::new()));
        // Every sleep ends at a deadline fixed before the first spawn, so a slow spawn cannot
        // reorder them.
        let t0 = Instant::now();
        let handles: Vec<_> = [40u64, 10, 30, 20]
            .into_iter()
            .map(|ms| {
                let order = order.clone();
                green::spawn(move || {
                    let deadline = t0 + Duration::from_millis(ms);
                    let start = Instant::now();
                    let dur = deadline.saturating_duration_since(start);
                    green::sleep(dur);
                    assert!(start.elapsed() >= dur);
                    assert!(Instant::now() >= deadline);
                    // A std lock in a coroutine: not to be preempted while held.
                    let _no_preempt = green::preempt::disable();
                    order.lock().unwrap().push(ms);
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        // 10 ms apart is far beyond timer jitter, yet a loaded CI box may still reorder: only
        // require that everybody woke, and the first to wake was one of the short sleepers.
        let order = order.lock().unwrap();
        assert_eq!(order.len(), 4);
        assert!(order[0] <= 20, "order {order:?}");
    });
}

#[test]
fn many_sleepers_all_wake() {
    within(|| {
        let woke = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..10_000)
            .map(|i| {
                let woke = woke.clone();
                green::spawn(move || {
                    green::sleep(Duration::from_micros(100 + (i % 50) * 100));
                    woke.fetch_add(1, Ordering::Relaxed);
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(woke.load(Ordering::Relaxed), 10_000);
    });
}

#[test]
fn yield_now_interleaves_coroutines_on_one_worker() {
    within(|| {
        let rt = Runtime::builder().workers(1).build().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let started = Arc::new(AtomicUsize::new(0));
        let mk = |tag: char| {
            let log = log.clone();
            let started = started.clone();
            move || {
                started.fetch_add(1, Ordering::SeqCst);
                // Wait until both exist so the interleaving is deterministic.
                while started.load(Ordering::SeqCst) < 2 {
                    green::yield_now();
                }
                for _ in 0..3 {
                    // A std lock in a coroutine: not to be preempted while held.
                    let no_preempt = green::preempt::disable();
                    log.lock().unwrap().push(tag);
                    drop(no_preempt);
                    green::yield_now();
                }
            }
        };
        let a = rt.spawn(mk('a')).unwrap();
        let b = rt.spawn(mk('b')).unwrap();
        a.join().unwrap();
        b.join().unwrap();
        let log = log.lock().unwrap();
        let s: String = log.iter().collect();
        assert!(s == "ababab" || s == "bababa", "no interleaving: {s}");
        rt.shutdown().unwrap();
    });
}

#[test]
fn builder_name_and_stack_size() {
    within(|| {
        let h = Builder::new()
            .name("named".into())
            .stack_size(256 * 1024)
            .spawn(|| {
                // Use a good part of the bigger stack.
                let buf = [7u8; 128 * 1024];
                let sum: u64 = std::hint::black_box(&buf).iter().map(|&b| b as u64).sum();
                (green::current().name().map(str::to_owned), sum)
            })
            .unwrap();
        assert_eq!(h.coroutine().name(), Some("named"));
        let (name, sum) = h.join().unwrap();
        assert_eq!(name.as_deref(), Some("named"));
        assert_eq!(sum, 7 * 128 * 1024);
    });
}

#[test]
fn bad_input_is_a_clear_error() {
    let e = Runtime::builder().workers(0).build().unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
    assert!(e.to_string().contains("at least one worker"), "{e}");

    let e = Runtime::builder().workers(1 << 20).build().unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);

    let e = Runtime::builder().stack_size(100).build().unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);

    let e = Builder::new().stack_size(1).spawn(|| ()).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
    let e = Builder::new()
        .stack_size(usize::MAX)
        .spawn(|| ())
        .unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
    let e = Builder::new()
        .stack_size(green::MAX_STACK_SIZE + 1)
        .spawn(|| ())
        .unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);

    let e = Runtime::builder()
        .time_slice(Duration::ZERO)
        .build()
        .unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);

    // Used to build, then the monitor panicked and preemption silently stopped.
    let e = Runtime::builder()
        .time_slice(Duration::MAX)
        .build()
        .unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
    assert!(e.to_string().contains("time slice"), "{e}");
    // The longest accepted one works.
    let rt = Runtime::builder()
        .workers(1)
        .time_slice(green::MAX_TIME_SLICE)
        .build()
        .unwrap();
    assert_eq!(rt.run(|| 3), 3);
    rt.shutdown().unwrap();

    // Used to panic in `build`.
    let e = Runtime::builder()
        .thread_name("bad\0name")
        .build()
        .unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);

    let e = Runtime::builder()
        .max_spare_threads(usize::MAX)
        .build()
        .unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
}

#[test]
fn spawning_on_a_shut_down_runtime_fails_cleanly() {
    within(|| {
        let rt = Runtime::builder().workers(2).build().unwrap();
        assert_eq!(rt.run(|| 3), 3);
        rt.shutdown().unwrap();
        rt.shutdown().unwrap(); // idempotent
        assert!(rt.is_shutdown());
        let e = rt.spawn(|| ()).unwrap_err();
        assert!(e.to_string().contains("shut down"), "{e}");
        let e = Builder::new().spawn_on(&rt, || ()).unwrap_err();
        assert!(e.to_string().contains("shut down"), "{e}");
    });
}

#[test]
fn shutdown_drops_queued_coroutines_and_their_joiners_learn_it() {
    within(|| {
        // Not preemptible: a preempted blocker would let the queued coroutine run.
        let rt = Runtime::builder().workers(1).build().unwrap();
        // Occupy the only worker so the next spawn stays queued.
        let (gate, blocker) = occupy_only_worker(&rt);
        let dropped = Arc::new(AtomicBool::new(false));
        struct SetOnDrop(Arc<AtomicBool>);
        impl Drop for SetOnDrop {
            fn drop(&mut self) {
                self.0.store(true, Ordering::SeqCst);
            }
        }
        let token = SetOnDrop(dropped.clone());
        let queued = rt
            .spawn(move || {
                let _t = token;
            })
            .unwrap();
        // Shut down from another thread while the worker is busy, then release it.
        shut_down_while_busy(&Arc::new(rt), &gate);
        blocker.join().unwrap();
        // The worker was busy until after the shutdown began, so the queued coroutine never
        // ran: it was dropped, its captured value with it, and its joiner hears so.
        assert_dropped(queued);
        assert!(dropped.load(Ordering::SeqCst));
    });
}

#[test]
fn a_queued_closure_whose_destructor_panics_reports_it_to_its_joiner() {
    within(|| {
        // One worker and no spares: the queued coroutines can only be dropped, never run.
        let rt = Runtime::builder()
            .workers(1)
            .max_spare_threads(0)
            .build()
            .unwrap();
        let (gate, blocker) = occupy_only_worker(&rt);
        let drops = Arc::new(AtomicUsize::new(0));
        struct Bomb(Arc<AtomicUsize>);
        impl Drop for Bomb {
            fn drop(&mut self) {
                self.0.fetch_add(1, Ordering::SeqCst);
                panic!("bomb dropped");
            }
        }
        let queued: Vec<_> = (0..3)
            .map(|_| {
                let bomb = Bomb(drops.clone());
                rt.spawn(move || {
                    let _b = bomb;
                })
                .unwrap()
            })
            .collect();
        // The worker drops the queued closures at shutdown, on its own thread: the first
        // destructor's panic must neither kill that thread (the other closures would never
        // be dropped, their joiners would wait for ever) nor be lost.
        shut_down_while_busy(&Arc::new(rt), &gate);
        blocker.join().unwrap();
        for h in queued {
            let err = h.join().unwrap_err();
            assert_eq!(err.downcast_ref::<&str>(), Some(&"bomb dropped"));
        }
        assert_eq!(drops.load(Ordering::SeqCst), 3);
    });
}

#[test]
fn explicit_runtimes_coexist() {
    within(|| {
        let a = Runtime::builder().workers(1).build().unwrap();
        let b = Runtime::builder().workers(2).build().unwrap();
        // A coroutine on `a` joins one on `b`, which wakes it across runtimes.
        let hb = b
            .spawn(|| {
                green::sleep(Duration::from_millis(2));
                "from b"
            })
            .unwrap();
        let ha = a.spawn(move || hb.join().unwrap()).unwrap();
        assert_eq!(ha.join().unwrap(), "from b");
        // Spawning from inside a runtime stays on that runtime.
        let nested = a.run(|| green::spawn(|| 1).join().unwrap());
        assert_eq!(nested, 1);
        a.shutdown().unwrap();
        b.shutdown().unwrap();
    });
}

#[test]
fn current_ids_are_distinct_and_stable() {
    within(|| {
        let h = green::spawn(|| {
            let a = green::current().id();
            green::yield_now();
            let b = green::current().id();
            assert_eq!(a, b);
            a
        });
        let id = h.coroutine().id();
        assert_eq!(h.join().unwrap(), id);
        assert_ne!(id, green::current().id());
        assert_eq!(green::current().id(), green::current().id());
    });
}

#[test]
fn work_spreads_across_workers() {
    within(|| {
        let rt = Runtime::builder().workers(2).build().unwrap();
        // Two coroutines that each wait for the other to be running at the same time can only
        // both finish if they run on different workers in parallel.
        let a_in = Arc::new(AtomicBool::new(false));
        let b_in = Arc::new(AtomicBool::new(false));
        let (a1, b1) = (a_in.clone(), b_in.clone());
        let (a2, b2) = (a_in.clone(), b_in.clone());
        let ha = rt
            .spawn(move || {
                a1.store(true, Ordering::SeqCst);
                while !b1.load(Ordering::SeqCst) {
                    std::hint::spin_loop();
                }
            })
            .unwrap();
        let hb = rt
            .spawn(move || {
                b2.store(true, Ordering::SeqCst);
                while !a2.load(Ordering::SeqCst) {
                    std::hint::spin_loop();
                }
            })
            .unwrap();
        ha.join().unwrap();
        hb.join().unwrap();
        rt.shutdown().unwrap();
    });
}

#[test]
fn deep_recursion_within_a_large_stack() {
    within(|| {
        fn depth(n: u64) -> u64 {
            let pad = std::hint::black_box([n; 16]);
            if n == 0 {
                0
            } else {
                1 + depth(n - 1) + pad[0] - n
            }
        }
        let h = Builder::new()
            .stack_size(8 << 20)
            .spawn(|| depth(10_000))
            .unwrap();
        assert_eq!(h.join().unwrap(), 10_000);
    });
}

#[test]
fn preempt_point_lets_others_run_on_one_worker() {
    within(|| {
        let rt = Runtime::builder()
            .workers(1)
            .time_slice(Duration::from_millis(1))
            .build()
            .unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let spinner = rt
            .spawn(move || {
                while !s.load(Ordering::Acquire) {
                    green::preempt_point();
                }
            })
            .unwrap();
        // Runs on the same single worker only if the spinner yields at its preemption points.
        let s = stop.clone();
        let other = rt.spawn(move || s.store(true, Ordering::Release)).unwrap();
        other.join().unwrap();
        spinner.join().unwrap();
        rt.shutdown().unwrap();
    });
}

green::coroutine_local! {
    static LOCAL_TAG: std::cell::Cell<usize> = std::cell::Cell::new(0);
    static DROPS_SEEN: DropCounter = DropCounter;
}

static LOCAL_DROPS: AtomicUsize = AtomicUsize::new(0);
struct DropCounter;
impl Drop for DropCounter {
    fn drop(&mut self) {
        LOCAL_DROPS.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn coroutine_locals_follow_their_coroutine_and_die_with_it() {
    within(|| {
        let rt = Runtime::builder().workers(2).build().unwrap();
        let hs: Vec<_> = (1..=50usize)
            .map(|i| {
                rt.spawn(move || {
                    DROPS_SEEN.with(|_| ());
                    LOCAL_TAG.with(|t| t.set(i));
                    for _ in 0..100 {
                        green::yield_now(); // migrates between the two workers
                        assert_eq!(LOCAL_TAG.with(|t| t.get()), i);
                    }
                    i
                })
                .unwrap()
            })
            .collect();
        for (i, h) in hs.into_iter().enumerate() {
            assert_eq!(h.join().unwrap(), i + 1);
        }
        // Each coroutine's value was dropped when it ended (join returns after that).
        assert_eq!(LOCAL_DROPS.load(Ordering::SeqCst), 50);
        // A plain thread has its own value.
        assert_eq!(LOCAL_TAG.with(|t| t.get()), 0);
        rt.shutdown().unwrap();
    });
}

/// A finished detached coroutine's task is reset and reused by a later spawn on its worker;
/// the new coroutine must start with its own id, its own name and fresh coroutine-locals.
#[test]
fn reused_tasks_start_fresh() {
    use std::cell::Cell;
    green::coroutine_local! {
        static MARK: Cell<u32> = Cell::new(0);
    }
    let rt = green::Runtime::builder().workers(1).build().unwrap();
    let seen = rt.run(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        for i in 0..1000u32 {
            let tx = tx.clone();
            // Detached: once it has finished, its task may serve a later spawn.
            drop(
                green::Builder::new()
                    .name(format!("c{i}"))
                    .spawn(move || {
                        let fresh = MARK.with(|m| m.get()) == 0;
                        MARK.with(|m| m.set(i + 1));
                        let me = green::current();
                        let seen = (i, fresh, me.name().map(str::to_owned), me.id(), me.key());
                        drop(me);
                        tx.send(seen).unwrap();
                    })
                    .unwrap(),
            );
            green::yield_now(); // let it run and finish before the next spawn
        }
        drop(tx);
        rx.iter().collect::<Vec<_>>()
    });
    assert_eq!(seen.len(), 1000);
    let mut ids = std::collections::HashSet::new();
    let mut keys = std::collections::HashSet::new();
    for (i, fresh, name, id, key) in &seen {
        assert!(fresh, "coroutine {i} saw another coroutine's local");
        assert_eq!(name.as_deref(), Some(format!("c{i}").as_str()));
        assert!(ids.insert(*id), "id {id:?} given twice");
        keys.insert(*key);
    }
    assert!(
        keys.len() < seen.len(),
        "no task was reused: {} distinct tasks for {} coroutines",
        keys.len(),
        seen.len()
    );
}

/// A spawn that could not get a stack when its coroutine starts fails at once, with an error,
/// instead of returning a handle whose coroutine is dropped later (issue 11: with 1 GiB stacks,
/// 68,932 of 200,000 spawns used to be lost that way).
#[test]
fn a_spawn_that_cannot_get_a_stack_is_an_error() {
    within(|| {
        let rt = Runtime::builder().workers(2).build().unwrap();
        let mut handles = Vec::new();
        let mut refused = None;
        for i in 0..200_000 {
            match Builder::new()
                .stack_size(green::MAX_STACK_SIZE)
                .spawn_on(&rt, green::park)
            {
                Ok(h) => handles.push(h),
                Err(e) => {
                    refused = Some((i, e));
                    break;
                }
            }
        }
        let (at, e) = refused.expect("200,000 stacks of 1 GiB cannot all be had");
        eprintln!("refused after {at} spawns: {e}");
        assert_eq!(e.kind(), std::io::ErrorKind::OutOfMemory, "{e}");
        assert!(e.to_string().contains("no stack"), "{e}");
        // Every accepted coroutine runs: none is dropped for want of a stack.
        for h in &handles {
            h.coroutine().unpark();
        }
        let accepted = handles.len();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(accepted, at);
        // And the promises are given back: the same spawns succeed again.
        for h in (0..100)
            .map(|_| {
                Builder::new()
                    .stack_size(green::MAX_STACK_SIZE)
                    .spawn_on(&rt, || ())
                    .unwrap()
            })
            .collect::<Vec<_>>()
        {
            h.join().unwrap();
        }
        rt.shutdown().unwrap();
    });
}
