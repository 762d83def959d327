//! `after`, `at` and `tick` as crossbeam-channel and Go define them (issue 12): `after`
//! delivers the instant it was due, once, and stays open; `tick` delivers due instants and
//! drops the ticks a slow receiver missed; zero durations are ready the first time a select
//! looks; no coroutine or timer exists for a timer channel nobody waits on. The memory
//! bounds (a million selects with a fresh `after(1h)`) are in `timer_memory.rs`, a binary of
//! its own with a counting allocator.

mod common;

use std::time::{Duration, Instant};

use channels::{after, at, never, select, tick, unbounded, RecvTimeoutError, Select};
use common::{in_coroutine, on_one_worker, on_thread, settle};

/// Runs `f` in a coroutine, then on a plain thread.
fn both(f: fn()) {
    in_coroutine(f);
    on_thread(f);
}

#[test]
fn after_delivers_its_due_instant() {
    both(|| {
        let d = Duration::from_millis(3);
        let before = Instant::now();
        let timer = after(d);
        let after_call = Instant::now();
        let t = timer.recv().unwrap();
        assert!(
            t >= before + d && t <= after_call + d,
            "the instant it was due"
        );
        assert!(Instant::now() >= t, "not delivered early");
        // `at` delivers exactly the instant it was given.
        let when = Instant::now() + Duration::from_millis(2);
        assert_eq!(at(when).recv(), Ok(when));
        let past = Instant::now() - Duration::from_millis(1);
        assert_eq!(at(past).try_recv(), Ok(past));
    });
}

#[test]
fn after_stays_open_after_delivering() {
    both(|| {
        let timer = after(Duration::from_millis(1));
        assert!(timer.recv().is_ok());
        // Spent, and still open: empty, not closed, a timed receive times out.
        assert!(timer.try_recv().unwrap_err().is_empty());
        assert!(!timer.is_closed());
        assert_eq!(
            timer.recv_timeout(Duration::from_millis(5)),
            Err(RecvTimeoutError::Timeout)
        );
        // A select loop over a spent `after` does not spin on it: it blocks on the other
        // arms (here until its default timeout) and never runs the timer's arm again.
        let (_tx, rx) = unbounded::<i32>();
        let mut fired = 0;
        for _ in 0..3 {
            select! {
                recv(timer) -> _ => fired += 1,
                recv(rx) -> _ => unreachable!(),
                default(Duration::from_millis(5)) => {}
            }
        }
        assert_eq!(fired, 0, "a spent after fired again");
    });
}

#[test]
fn zero_durations_are_ready_when_select_first_looks() {
    // On one worker, nothing else can run between creating the timer and the select's first
    // look: a timer that needed a helper to deliver could not be ready yet.
    on_one_worker(|| {
        for _ in 0..100 {
            let r = select! {
                recv(after(Duration::ZERO)) -> t => t.is_ok(),
                default => false,
            };
            assert!(r, "after(0) not ready at the first look");
            let r = select! {
                recv(tick(Duration::ZERO)) -> t => t.is_ok(),
                default => false,
            };
            assert!(r, "tick(0) not ready at the first look");
            let timer = after(Duration::ZERO);
            let mut sel = Select::new();
            let i = sel.recv(&timer);
            assert_eq!(sel.try_ready(), Ok(i));
            let op = sel.try_select().expect("after(0) ready for try_select");
            assert!(op.recv(&timer).is_ok());
            assert!(after(Duration::ZERO).try_recv().is_ok());
            assert_eq!(after(Duration::ZERO).len(), 1);
        }
    });
    on_thread(|| {
        let r = select! {
            recv(after(Duration::ZERO)) -> _ => true,
            default => false,
        };
        assert!(r);
    });
}

#[test]
fn zero_tick_is_always_ready() {
    both(|| {
        let ticks = tick(Duration::ZERO);
        let mut last = None;
        for _ in 0..1000 {
            let t = ticks.try_recv().expect("tick(0) is always ready");
            assert!(last.is_none_or(|l| t >= l));
            last = Some(t);
        }
    });
}

#[test]
fn tick_sends_due_instants_and_drops_missed_ticks() {
    both(|| {
        let p = Duration::from_millis(10);
        let before = Instant::now();
        let ticks = tick(p);
        let after_call = Instant::now();
        // Miss at least five ticks.
        green::sleep(p * 5 + p / 2);
        let received_at = Instant::now();
        let first = ticks.try_recv().expect("a tick is due");
        // The oldest missed tick, at the instant it was due.
        assert!(
            first >= before + p && first <= after_call + p,
            "the first tick is the one due one period after the start"
        );
        // The ticks missed after it are dropped, not queued: the next one is the first due
        // after the receive (a queued one would be `first + p`, long past).
        let second = ticks.recv().unwrap();
        let gap = second - first;
        assert_eq!(
            gap.as_nanos() % p.as_nanos(),
            0,
            "ticks stay on the period's boundaries"
        );
        assert!(
            second > received_at,
            "the next tick is the first boundary after the receive"
        );
        assert!(gap >= p * 5, "missed ticks were dropped, gap {gap:?}");
        // And on boundaries from then on.
        let third = ticks.recv().unwrap();
        assert!(third > second);
        assert_eq!((third - second).as_nanos() % p.as_nanos(), 0);
    });
}

#[test]
fn timer_clones_share_their_instants() {
    both(|| {
        let a = after(Duration::ZERO);
        let b = a.clone();
        assert!(a.same_channel(&b));
        let got = usize::from(a.try_recv().is_ok()) + usize::from(b.try_recv().is_ok());
        assert_eq!(got, 1, "one instant, one receiver");
        let t = tick(Duration::from_millis(1));
        let u = t.clone();
        let x = t.recv().unwrap();
        let y = u.recv().unwrap();
        assert!(y > x, "each tick goes to one receiver");
        assert!(!t.same_channel(&tick(Duration::from_millis(1))));
    });
}

#[test]
fn huge_durations_never_fire() {
    both(|| {
        for d in [Duration::MAX, Duration::from_secs(u64::MAX / 2)] {
            let timer = after(d);
            assert!(timer.try_recv().is_err());
            assert_eq!(
                timer.recv_timeout(Duration::from_millis(2)),
                Err(RecvTimeoutError::Timeout)
            );
            let ticks = tick(d);
            assert!(ticks.try_recv().is_err());
            let r = select! {
                recv(timer) -> _ => "after",
                recv(ticks) -> _ => "tick",
                default(Duration::from_millis(2)) => "timeout",
            };
            assert_eq!(r, "timeout");
        }
        assert!(after(Duration::MAX).same_channel(&never()));
    });
}

/// No coroutine and no timer per `after`/`tick`: a thousand of them that nobody waits on
/// leave the runtime's timer heap empty, and a select parked on one adds one timer entry for
/// its own wait only.
#[test]
fn timers_nobody_waits_on_cost_no_runtime_timer() {
    on_thread(|| {
        let rt = std::sync::Arc::new(green::Runtime::builder().workers(1).build().unwrap());
        let rt2 = rt.clone();
        let entries = rt
            .spawn(move || {
                let timers: Vec<_> = (0..1000)
                    .map(|i| {
                        if i % 2 == 0 {
                            after(Duration::from_secs(3600))
                        } else {
                            tick(Duration::from_millis(1))
                        }
                    })
                    .collect();
                settle(100); // a helper per timer would run now, and sleep on a timer
                let idle = rt2.timer_entries();
                drop(timers);
                // A select waiting on the earliest of several timers parks once, on one entry.
                let (_tx, rx) = unbounded::<i32>();
                let r = select! {
                    recv(rx) -> _ => 0,
                    recv(after(Duration::from_secs(3600))) -> _ => 1,
                    recv(after(Duration::from_millis(2))) -> _ => 2,
                };
                assert_eq!(r, 2);
                idle
            })
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(entries, 0, "timers nobody waits on are in the timer heap");
        rt.shutdown().unwrap();
    });
}

/// Blocking receives on timers in many coroutines at once, each on its own deadline.
#[test]
fn many_coroutines_wait_on_their_own_timers() {
    in_coroutine(|| {
        let handles: Vec<_> = (0..200u64)
            .map(|i| {
                green::spawn(move || {
                    let d = Duration::from_micros(100 * (i % 20));
                    let start = Instant::now();
                    let t = after(d).recv().unwrap();
                    assert!(t >= start + d);
                    let ticks = tick(Duration::from_millis(1));
                    let a = ticks.recv().unwrap();
                    let b = ticks.recv().unwrap();
                    assert!(b > a);
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    });
}
