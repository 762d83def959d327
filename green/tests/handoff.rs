//! The direct hand-off: a coroutine that parks right after waking another switches straight to
//! it (on x86-64), and the woken one commits the park. These tests drive that path through the
//! public API: long ping-pongs, unparks racing the switch, unwinding a coroutine that parked
//! that way, and backtraces taken on a coroutine's stack. A yield switches directly too, to
//! the coroutine at the head of its worker's queue: yields keep their rotation and leave room
//! for the worker's timers, inbox and global queue.
//!
//! Every wait is on an event and bounded by `WATCHDOG`; nothing asserts an upper bound on time.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use common::{assert_dropped, shut_down_while_busy, within};
use green::{Coroutine, Runtime};

/// Two coroutines take turns through a shared counter, each waking the other and then parking:
/// the pattern of a channel ping-pong, hence of the direct hand-off. With `noise`, a plain
/// thread unparks both all along, so wake-ups race every switch and every commit. Each turn
/// must be taken exactly once and in order.
fn ping_pong(workers: usize, rounds: u64, noise: bool) {
    let rt = Runtime::builder().workers(workers).build().unwrap();
    let turn = Arc::new(AtomicU64::new(0));
    let a_slot: Arc<OnceLock<Coroutine>> = Arc::new(OnceLock::new());
    let b_turns = Arc::new(AtomicU64::new(0));
    let b = {
        let (turn, a_slot, b_turns) = (turn.clone(), a_slot.clone(), b_turns.clone());
        rt.spawn(move || {
            for i in 0..rounds {
                while turn.load(Ordering::Acquire) != 2 * i + 1 {
                    green::park();
                }
                b_turns.fetch_add(1, Ordering::Relaxed);
                turn.store(2 * i + 2, Ordering::Release);
                // `a` set its slot before it gave us our first turn.
                a_slot.get().expect("a announced itself").unpark();
            }
        })
        .unwrap()
    };
    let stop = Arc::new(AtomicBool::new(false));
    let unparks = Arc::new(AtomicU64::new(0));
    let noise = noise.then(|| {
        let (stop, unparks) = (stop.clone(), unparks.clone());
        let (a_slot, b) = (a_slot.clone(), b.coroutine().clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Acquire) {
                b.unpark();
                if let Some(a) = a_slot.get() {
                    a.unpark();
                }
                unparks.fetch_add(1, Ordering::Release);
            }
        })
    });
    // The noise is under way before the first turn.
    while noise.is_some() && unparks.load(Ordering::Acquire) == 0 {
        std::thread::yield_now();
    }
    let a = {
        let (turn, b) = (turn.clone(), b.coroutine().clone());
        rt.spawn(move || {
            assert!(a_slot.set(green::current()).is_ok(), "set once");
            for i in 0..rounds {
                turn.store(2 * i + 1, Ordering::Release);
                b.unpark();
                while turn.load(Ordering::Acquire) != 2 * i + 2 {
                    green::park();
                }
            }
        })
        .unwrap()
    };
    a.join().unwrap();
    b.join().unwrap();
    stop.store(true, Ordering::Release);
    // On x86-64 most hand-offs are direct switches (the worker loop still takes the turns that
    // are due for its periodic checks, and the ones where the partner runs elsewhere).
    #[cfg(all(target_arch = "x86_64", not(greenchan_portable_fiber)))]
    if workers == 1 && noise.is_none() {
        let direct = rt.direct_switches();
        assert!(
            direct > rounds,
            "{direct} direct switches in {rounds} rounds"
        );
    }
    if let Some(h) = noise {
        h.join().unwrap();
    }
    assert_eq!(turn.load(Ordering::SeqCst), 2 * rounds);
    assert_eq!(b_turns.load(Ordering::SeqCst), rounds);
}

#[test]
fn ping_pong_on_one_worker_takes_every_turn_once() {
    within(|| ping_pong(1, 200_000, false));
}

#[test]
fn ping_pong_on_two_workers_takes_every_turn_once() {
    within(|| ping_pong(2, 200_000, false));
}

#[test]
fn unparks_racing_the_hand_offs_are_neither_lost_nor_doubled() {
    // A lost wake-up hangs (the watchdog fails the test); a doubled one resumes a coroutine
    // twice, which corrupts its stack or trips the runtime's own checks.
    within(|| ping_pong(1, 100_000, true));
    within(|| ping_pong(2, 100_000, true));
}

struct SetOnDrop(Arc<AtomicBool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[test]
fn a_coroutine_that_parked_by_handing_off_unwinds_at_shutdown() {
    within(|| {
        let rt = Arc::new(Runtime::builder().workers(1).build().unwrap());
        // `q` parks first, through its worker (nothing else is runnable yet).
        let q_parked = Arc::new(AtomicBool::new(false));
        let (gate, q_running) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicBool::new(false)),
        );
        let q = {
            let (q_parked, gate, q_running) = (q_parked.clone(), gate.clone(), q_running.clone());
            rt.spawn(move || {
                q_parked.store(true, Ordering::Release);
                green::park();
                // Woken by `p`, which parked right after: it switched to us directly, and its
                // park is committed now. Keep the worker until the runtime has shut down.
                q_running.store(true, Ordering::Release);
                while !gate.load(Ordering::Acquire) {
                    std::hint::spin_loop();
                }
            })
            .unwrap()
        };
        while !q_parked.load(Ordering::Acquire) {
            std::thread::yield_now();
        }
        // `q` has set the flag just before parking; the only worker is ours once it has.
        let dropped = Arc::new(AtomicBool::new(false));
        let p = {
            let (q, token) = (q.coroutine().clone(), SetOnDrop(dropped.clone()));
            rt.spawn(move || {
                let _token = token; // on this stack until the coroutine ends or unwinds
                loop {
                    q.unpark();
                    green::park(); // hands off to `q`; only a spurious wake-up returns
                }
            })
            .unwrap()
        };
        while !q_running.load(Ordering::Acquire) {
            std::thread::yield_now();
        }
        // A spurious wake-up queues `p` behind the busy worker; the shutdown then drops it,
        // unwinding it from inside its park.
        p.coroutine().unpark();
        shut_down_while_busy(&rt, &gate);
        q.join().unwrap();
        assert_dropped(p);
        assert!(dropped.load(Ordering::SeqCst), "its stack was unwound");
    });
}

/// One run of the scenario below; `None` if the hand-off happened to go through the worker
/// (which ends the slice anyway), else whether the coroutine switched to found itself asked
/// to yield.
fn preempt_request_seen_after_hand_off() -> Option<bool> {
    // Long enough that `b` is not, in its turn, found overrunning a slice of its own before
    // its preemption point when the thread is descheduled on a loaded machine.
    let slice = Duration::from_millis(20);
    // No spare worker: the queued coroutine below may only run on the one worker, after `b`.
    let rt = Arc::new(
        Runtime::builder()
            .workers(1)
            .max_spare_threads(0)
            .time_slice(slice)
            .build()
            .unwrap(),
    );
    let other_ran = Arc::new(AtomicBool::new(false));
    let b_parked = Arc::new(AtomicBool::new(false));
    let b = {
        let (other_ran, b_parked) = (other_ran.clone(), b_parked.clone());
        rt.spawn(move || {
            b_parked.store(true, Ordering::Release);
            green::park(); // until `a` wakes us and switches here
                           // Asked to yield? Then this lets the queued coroutine run first.
            green::preempt_point();
            other_ran.load(Ordering::Acquire)
        })
        .unwrap()
    };
    while !b_parked.load(Ordering::Acquire) {
        std::thread::yield_now();
    }
    let a = {
        let (rt2, b) = (rt.clone(), b.coroutine().clone());
        rt.spawn(move || {
            rt2.spawn(move || other_ran.store(true, Ordering::Release))
                .unwrap();
            // Overrun the slice with no preemption point: the monitor asks us to yield.
            let start = Instant::now();
            while start.elapsed() < slice * 10 {
                std::hint::spin_loop();
            }
            b.unpark();
            green::park(); // hands off to `b`, still asked to yield
        })
        .unwrap()
    };
    let seen = b.join().unwrap();
    let direct = rt.direct_switches() > 0;
    a.coroutine().unpark();
    a.join().unwrap();
    direct.then_some(seen)
}

#[test]
fn a_preemption_asked_of_the_parker_does_not_pass_to_the_coroutine_it_switches_to() {
    within(|| {
        // On x86-64 the hand-off is direct unless a periodic check falls on that turn; retry
        // until one run took the direct path (elsewhere every run goes through the worker).
        let mut outcome = None;
        for _ in 0..10 {
            outcome = preempt_request_seen_after_hand_off();
            if outcome.is_some() {
                break;
            }
        }
        #[cfg(all(target_arch = "x86_64", not(greenchan_portable_fiber)))]
        assert!(outcome.is_some(), "no run took the direct path");
        assert_ne!(
            outcome,
            Some(true),
            "the parker's yield request passed to the next coroutine"
        );
    });
}

#[test]
fn a_backtrace_on_a_coroutine_stack_ends_at_its_base() {
    let text = within(|| {
        green::spawn(|| format!("{}", std::backtrace::Backtrace::force_capture()))
            .join()
            .unwrap()
    });
    // The walk got from the closure down to the coroutine's first frame, and stopped there
    // instead of running off the stack.
    assert!(
        text.contains("a_backtrace_on_a_coroutine_stack_ends_at_its_base"),
        "{text}"
    );
    #[cfg(all(target_arch = "x86_64", not(greenchan_portable_fiber)))]
    assert!(
        text.trim_end().ends_with("greenchan_fiber_start_v0_1"),
        "the last frame is the fiber's entry:\n{text}"
    );
}

/// Coroutines that yield in a loop on one worker take turns in a fixed rotation (a yield goes
/// behind everything queued), and on x86-64 most yields switch straight to the next one.
#[test]
fn yields_rotate_in_order_and_switch_directly() {
    within(|| {
        const YIELDERS: usize = 3;
        const ROUNDS: usize = 20_000;
        let rt = Runtime::builder().workers(1).build().unwrap();
        let started = Arc::new(AtomicU64::new(0));
        let turns = Arc::new(std::sync::Mutex::new(Vec::with_capacity(YIELDERS * ROUNDS)));
        let before = rt.direct_switches();
        let hs: Vec<_> = (0..YIELDERS)
            .map(|me| {
                let (started, turns) = (started.clone(), turns.clone());
                rt.spawn(move || {
                    started.fetch_add(1, Ordering::SeqCst);
                    while started.load(Ordering::SeqCst) < YIELDERS as u64 {
                        green::yield_now();
                    }
                    for _ in 0..ROUNDS {
                        turns.lock().unwrap().push(me);
                        green::yield_now();
                    }
                })
                .unwrap()
            })
            .collect();
        hs.into_iter().for_each(|h| h.join().unwrap());
        let turns = turns.lock().unwrap();
        // While all of them run, every run of YIELDERS consecutive turns is one of each.
        let all_alive = &turns[..YIELDERS * (ROUNDS - 1)];
        for (i, window) in all_alive.windows(YIELDERS).enumerate() {
            let mut seen = [false; YIELDERS];
            window.iter().for_each(|&c| seen[c] = true);
            assert!(
                seen.iter().all(|&s| s),
                "turns {i}..{}: {window:?} is not one of each",
                i + YIELDERS
            );
        }
        #[cfg(all(target_arch = "x86_64", not(greenchan_portable_fiber)))]
        {
            let direct = rt.direct_switches() - before;
            let yields = (YIELDERS * ROUNDS) as u64;
            assert!(
                direct > yields / 2,
                "{direct} direct switches in {yields} yields"
            );
        }
        #[cfg(not(all(target_arch = "x86_64", not(greenchan_portable_fiber))))]
        let _ = before;
    });
}

/// Coroutines that only yield never keep the worker from its timers, its global queue or a
/// coroutine that a plain thread wakes: the direct switch between yielders gives way to the
/// worker loop whenever one of its periodic checks is due.
#[test]
fn yielders_leave_room_for_timers_and_wake_ups() {
    within(|| {
        let rt = Runtime::builder().workers(1).build().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let yielders: Vec<_> = (0..3)
            .map(|_| {
                let stop = stop.clone();
                rt.spawn(move || {
                    while !stop.load(Ordering::SeqCst) {
                        green::yield_now();
                    }
                })
                .unwrap()
            })
            .collect();
        // A sleeper (timers) ...
        let sleeper = rt
            .spawn(|| {
                for _ in 0..20 {
                    green::sleep(Duration::from_millis(1));
                }
            })
            .unwrap();
        // ... a coroutine a plain thread wakes (the inbox) ...
        let woken = Arc::new(AtomicBool::new(false));
        let parker = {
            let woken = woken.clone();
            rt.spawn(move || {
                while !woken.load(Ordering::SeqCst) {
                    green::park();
                }
            })
            .unwrap()
        };
        let waker = {
            let (woken, c) = (woken.clone(), parker.coroutine().clone());
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(5));
                woken.store(true, Ordering::SeqCst);
                c.unpark();
            })
        };
        // ... and a coroutine spawned from a plain thread (the global queue): all finish
        // while the yielders spin.
        let late = rt.spawn(Instant::now).unwrap();
        sleeper.join().unwrap();
        parker.join().unwrap();
        late.join().unwrap();
        waker.join().unwrap();
        stop.store(true, Ordering::SeqCst);
        yielders.into_iter().for_each(|h| h.join().unwrap());
    });
}
