//! Timers cost nothing once their receiver is gone (issue 12): memory stays flat over a million
//! selects with a fresh `after(1h)` each, the runtime's timer heap stays bounded, dropped
//! `after`/`tick` receivers (and `after(Duration::MAX)`) release everything, and `tick(0)`
//! burns no CPU in the background.
//!
//! A binary of its own because it installs a counting global allocator; its tests take a
//! lock so that one measures at a time. Debug builds run a tenth of the iterations (see
//! `common::scale`); `GREENCHAN_TIMER_ITERS=n` sets the count.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use channels::{after, bounded, select, tick};
use common::{on_thread, scale};

/// The system allocator, counting the bytes it has out.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded to `System` with the caller's arguments, unchanged; the
// counter is a side effect only.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is `System`'s.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as above.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_add(
                new_size as isize - layout.size() as isize,
                Ordering::Relaxed,
            );
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

/// One measuring test at a time.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

fn iterations() -> usize {
    std::env::var("GREENCHAN_TIMER_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| scale(1_000_000))
}

/// Growth allowed between the warmed-up start and the end of a run: the allocator's and the
/// runtime's caches settle during the warm-up; what is left is noise. A leak of even 8 bytes
/// per iteration would show as 8 MB over a million.
const FLAT: isize = 1 << 20;

/// The loop: a consumer selects between a channel and a fresh `after(1h)` a million
/// times, while a producer feeds the channel. On one worker, with the producer yielding after
/// each send, the consumer finds nothing ready and parks every time, with its wait in the
/// timer heap; every wait ends early, so the heap fills with stale entries, which it must
/// sweep.
#[test]
fn a_million_selects_with_a_fresh_after_keep_memory_flat() {
    let _g = serial();
    let n = iterations();
    let (base, end, max_entries) = on_thread(move || {
        let rt = Arc::new(green::Runtime::builder().workers(1).build().unwrap());
        let rt2 = rt.clone();
        // Spawned from this plain thread and joined: works whatever the runtime's own
        // blocking entry point is called.
        let r = rt.spawn(move || {
            let (tx, rx) = bounded::<usize>(0);
            let producer = green::spawn(move || {
                for i in 0..n {
                    tx.send(i).unwrap();
                    green::yield_now(); // so that the consumer's next select parks
                }
            });
            let warm = n / 10;
            let mut base = 0;
            let mut max_entries = 0;
            for i in 0..n {
                if i == warm {
                    base = live();
                }
                let got = select! {
                    recv(rx) -> v => v.unwrap(),
                    recv(after(Duration::from_secs(3600))) -> _ => unreachable!("an hour passed"),
                };
                assert_eq!(got, i);
                if i % 1024 == 0 {
                    max_entries = max_entries.max(rt2.timer_entries());
                }
            }
            producer.join().unwrap();
            (base, live(), max_entries)
        })
        .unwrap()
        .join()
        .unwrap();
        rt.shutdown().unwrap();
        r
    });
    let grown = end - base;
    println!(
        "{n} selects: live bytes {base} -> {end} ({grown:+}), timer entries at most {max_entries}"
    );
    assert!(
        grown < FLAT,
        "memory grew by {grown} bytes over {n} selects with a fresh after(1h)"
    );
    assert!(
        max_entries <= 4096,
        "{max_entries} timer entries: stale waits are not swept"
    );
    assert!(max_entries > 0, "the selects never parked on a timer");
}

/// The same loop on plain threads (the wait is `thread::park_timeout`, no heap at all).
#[test]
fn selects_with_a_fresh_after_on_threads_keep_memory_flat() {
    let _g = serial();
    let n = iterations() / 4;
    let (tx, rx) = bounded::<usize>(0);
    let producer = std::thread::spawn(move || {
        for i in 0..n {
            tx.send(i).unwrap();
        }
    });
    let (base, end) = on_thread(move || {
        let mut base = 0;
        for i in 0..n {
            if i == n / 10 {
                base = live();
            }
            let got = select! {
                recv(rx) -> v => v.unwrap(),
                recv(after(Duration::from_secs(3600))) -> _ => unreachable!("an hour passed"),
            };
            assert_eq!(got, i);
        }
        (base, live())
    });
    producer.join().unwrap();
    let grown = end - base;
    println!("{n} selects on threads: live bytes {base} -> {end} ({grown:+})");
    assert!(grown < FLAT, "memory grew by {grown} bytes");
}

/// Receivers that are dropped without ever firing, including `after(Duration::MAX)`, leave
/// nothing behind: no coroutine, no stack, no timer.
#[test]
fn dropped_timers_release_everything() {
    let _g = serial();
    let n = iterations() / 10;
    let grown = on_thread(move || {
        green::run(move || {
            // Warm the caches with one round, then measure a second.
            let round = || {
                let timers: Vec<_> = (0..n)
                    .map(|i| match i % 3 {
                        0 => after(Duration::from_secs(3600)),
                        1 => after(Duration::MAX),
                        _ => tick(Duration::from_millis(1)),
                    })
                    .collect();
                // Give helpers, if any, the chance to start (and to pin their stacks).
                for _ in 0..100 {
                    green::yield_now();
                }
                drop(timers);
                for _ in 0..100 {
                    green::yield_now();
                }
            };
            round();
            let base = live();
            round();
            live() - base
        })
    });
    println!("{n} timers dropped: {grown:+} bytes left");
    assert!(grown < FLAT, "{grown} bytes left behind by dropped timers");
}

/// `tick(Duration::ZERO)` is always ready, and costs nothing while nobody receives: the
/// process stays idle (CPU time well under the wall time) while one exists.
#[cfg(target_os = "linux")]
#[test]
fn zero_tick_burns_no_cpu_in_the_background() {
    /// User plus system CPU time of the process, from `/proc/self/stat` (clock ticks).
    fn cpu_ticks() -> u64 {
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
        // Fields after the parenthesised command name; utime and stime are the 14th and 15th
        // fields of the line, the 12th and 13th after the name.
        let rest = &stat[stat.rfind(')').unwrap() + 2..];
        let f: Vec<&str> = rest.split_whitespace().collect();
        f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
    }
    let _g = serial();
    let idle = Duration::from_secs(1);
    let used = on_thread(move || {
        green::run(move || {
            let ticks = tick(Duration::ZERO);
            let before = cpu_ticks();
            std::thread::sleep(idle); // the worker is held, the others are idle
            let used = cpu_ticks() - before;
            assert!(ticks.try_recv().is_ok());
            used
        })
    });
    // Clock ticks are 10 ms on Linux: 20 ticks is a fifth of the idle time (the helper
    // coroutine that used to deliver the ticks took more than half).
    println!("CPU used while a tick(0) existed for {idle:?}: {used} clock ticks");
    assert!(
        used < 20,
        "{used} clock ticks of CPU in {idle:?} with a tick(0) nobody receives"
    );
}
