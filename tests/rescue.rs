//! Rescue of stuck workers (DESIGN §3): with every worker held by a coroutine that never
//! reaches a greenchan call (a spin loop, or a blocking `std::thread::sleep`), a coroutine
//! spawned afterwards still starts, sleeps and wakes on time, and timers, `after` channels,
//! sockets and `spawn_blocking` keep working, on spare worker threads the monitor starts.
//!
//! The bounds are the ones the runtime promises, in time slices: a slice of 50 ms here keeps
//! them generous on a loaded machine. The scenarios run one at a time (they hold every core).

use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use greenchan::net::{TcpListener, TcpStream};
use greenchan::{chan, Runtime};

const SLICE: Duration = Duration::from_millis(50);
const WORKERS: usize = 2;
/// Bound on any wait that must succeed (a hang is reported, not waited out forever).
const BOUND: Duration = Duration::from_secs(60);

/// The scenarios hold every core: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

#[derive(Clone, Copy, Debug)]
enum Hold {
    /// A loop with no call at all.
    Spin,
    /// A blocking system call: `std::thread::sleep` of one second, repeated.
    Sleep,
}

/// Holds every worker of `rt` with a coroutine doing `hold` until `release` is set; returns
/// once all of them run.
fn hold_every_worker(
    rt: &Runtime,
    hold: Hold,
    release: &Arc<AtomicBool>,
) -> Vec<greenchan::JoinHandle<()>> {
    let running = Arc::new(AtomicUsize::new(0));
    let holders: Vec<_> = (0..WORKERS)
        .map(|_| {
            let (running, release) = (running.clone(), release.clone());
            rt.spawn(move || {
                running.fetch_add(1, Ordering::SeqCst);
                while !release.load(Ordering::Relaxed) {
                    match hold {
                        Hold::Spin => std::hint::spin_loop(),
                        Hold::Sleep => std::thread::sleep(Duration::from_secs(1)),
                    }
                }
            })
            .unwrap()
        })
        .collect();
    let start = Instant::now();
    while running.load(Ordering::SeqCst) < WORKERS {
        assert!(start.elapsed() < BOUND, "the holders did not all start");
        std::thread::yield_now();
    }
    holders
}

/// What the rescued coroutine measured: its start delay and its worst wake-up lateness.
fn sleeper(rt: &Runtime) -> (Duration, Duration) {
    let spawned = Instant::now();
    let h = rt
        .spawn(move || {
            let start_delay = spawned.elapsed();
            let mut worst = Duration::ZERO;
            for _ in 0..20 {
                let asked = Instant::now();
                greenchan::sleep(Duration::from_millis(1));
                let late = asked.elapsed().saturating_sub(Duration::from_millis(1));
                worst = worst.max(late);
            }
            (start_delay, worst)
        })
        .unwrap();
    h.join().unwrap()
}

/// Timers, `after`, a socket round trip and 1,000 blocking jobs, from a fresh coroutine.
fn everything_else_works(rt: &Runtime) {
    let h = rt
        .spawn(|| {
            // A timed receive and an `after` channel.
            let (_tx, rx) = chan::bounded::<u32>(1);
            assert!(rx.recv_timeout(Duration::from_millis(5)).is_err());
            let at = chan::after(Duration::from_millis(5)).recv().unwrap();
            assert!(at <= Instant::now());
            // A socket round trip between two coroutines.
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let server = greenchan::spawn(move || {
                let (mut conn, _) = listener.accept().unwrap();
                let mut buf = [0u8; 4];
                conn.read_exact(&mut buf).unwrap();
                conn.write_all(&buf).unwrap();
            });
            let mut client = TcpStream::connect(addr).unwrap();
            client.write_all(b"ping").unwrap();
            let mut buf = [0u8; 4];
            client.read_exact(&mut buf).unwrap();
            assert_eq!(&buf, b"ping");
            server.join().unwrap();
            // Blocking jobs on the pool, joined from here.
            let jobs: Vec<_> = (0..1000u64)
                .map(|i| greenchan::spawn_blocking(move || i * 2))
                .collect();
            let sum: u64 = jobs.into_iter().map(|j| j.join().unwrap()).sum();
            assert_eq!(sum, 999 * 1000);
        })
        .unwrap();
    h.join().unwrap();
}

fn scenario(hold: Hold) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let rt = Runtime::builder()
        .workers(WORKERS)
        .time_slice(SLICE)
        .build()
        .unwrap();
    let release = Arc::new(AtomicBool::new(false));
    let holders = hold_every_worker(&rt, hold, &release);
    let (start_delay, worst_late) = sleeper(&rt);
    everything_else_works(&rt);
    let spares = rt.spare_threads();
    release.store(true, Ordering::Relaxed);
    for h in holders {
        h.join().unwrap();
    }
    eprintln!(
        "{hold:?}: start delay {start_delay:?}, worst wake-up lateness {worst_late:?}, {spares} spare(s)"
    );
    assert!(spares >= 1, "no spare worker was started");
    assert!(
        start_delay <= 2 * SLICE,
        "{hold:?}: the rescued coroutine started after {start_delay:?}"
    );
    assert!(
        worst_late <= 2 * SLICE,
        "{hold:?}: a wake-up came {worst_late:?} late"
    );
    // Idle now, the spares retire (after their keep-alive of a second).
    let start = Instant::now();
    while rt.spare_threads() > 0 {
        assert!(start.elapsed() < BOUND, "the spare workers never retired");
        std::thread::sleep(Duration::from_millis(20));
    }
    rt.shutdown().unwrap();
}

#[test]
fn spinning_workers_are_rescued() {
    scenario(Hold::Spin);
}

#[test]
fn workers_blocked_in_a_system_call_are_rescued() {
    scenario(Hold::Sleep);
}

/// With no spare allowed, stuck workers are still rescued by the idle ones: one worker
/// spins, and the coroutines queued behind it on its worker start elsewhere.
#[test]
fn an_idle_worker_takes_the_unstarted_work_of_a_stuck_one() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let rt = Runtime::builder()
        .workers(2)
        .max_spare_threads(0)
        .time_slice(SLICE)
        .build()
        .unwrap();
    let release = Arc::new(AtomicBool::new(false));
    let r2 = release.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    // A coroutine that spawns ten more and then spins: they are queued on its worker.
    rt.spawn(move || {
        let handles: Vec<_> = (0..10).map(|i| greenchan::spawn(move || i)).collect();
        tx.send(handles).unwrap();
        while !r2.load(Ordering::Relaxed) {
            std::hint::spin_loop();
        }
    })
    .unwrap();
    let handles = rx.recv_timeout(BOUND).unwrap();
    let sum: i32 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(sum, 45);
    release.store(true, Ordering::Relaxed);
    assert_eq!(rt.spare_threads(), 0);
    rt.shutdown().unwrap();
}
