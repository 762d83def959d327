//! Every runtime call is a preemption point (DESIGN §3): a coroutine that keeps calling
//! greenchan operations that never block (sends into an unbounded channel, receives of values
//! that are already there, selects with a ready case, spawns, uncontended locks) still yields
//! once its time slice is over, so another coroutine started on its worker runs within a few
//! slices, not only when the first one ends or blocks. Started coroutines cannot be rescued by
//! another thread, so nothing else could run it. Each test fails (the loop runs out its bound)
//! where those calls do not yield.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use greenchan::chan;

/// Generous: CI is a loaded 2-core machine. The time slice is 10 ms.
const BOUND: Duration = Duration::from_secs(20);

/// Runs `busy` (which calls one kind of non-blocking operation once per call) in a loop on the
/// only worker until a coroutine started on that worker, woken just before the loop, has run.
fn other_coroutine_runs_while(busy: impl Fn() + Send + 'static) {
    let rt = greenchan::Runtime::builder()
        .workers(1)
        .max_spare_threads(0)
        .build()
        .unwrap();
    let looped = rt.run(move || {
        let ran = Arc::new(AtomicBool::new(false));
        let (started_tx, started_rx) = chan::bounded::<()>(0);
        let (go_tx, go_rx) = chan::bounded::<()>(0);
        let r = ran.clone();
        let other = greenchan::spawn(move || {
            started_tx.send(()).unwrap();
            go_rx.recv().unwrap();
            r.store(true, Ordering::SeqCst);
        });
        // It has started (on this worker: there is no other) and now waits for `go`.
        started_rx.recv().unwrap();
        // Wakes it (it is parked in `recv`, so this send does not block) ...
        go_tx.send(()).unwrap();
        // ... and never blocks again until it has run.
        let start = Instant::now();
        let mut calls = 0u64;
        while !ran.load(Ordering::SeqCst) {
            busy();
            calls += 1;
            assert!(
                start.elapsed() < BOUND,
                "the woken coroutine did not run in {BOUND:?} ({calls} calls that never yielded)"
            );
        }
        other.join().unwrap();
        start.elapsed()
    });
    // Within a few slices (a bound on time is not asserted: the machine may be loaded).
    assert!(looped < BOUND);
}

#[test]
fn sends_and_receives_that_never_block_yield_at_the_slice_end() {
    let (tx, rx) = chan::unbounded::<u64>();
    other_coroutine_runs_while(move || {
        tx.send(1).unwrap();
        assert_eq!(rx.recv(), Ok(1));
    });
}

#[test]
fn try_operations_yield_at_the_slice_end() {
    let (tx, rx) = chan::bounded::<u64>(1);
    other_coroutine_runs_while(move || {
        tx.try_send(1).unwrap();
        assert_eq!(rx.try_recv(), Ok(1));
        assert!(rx.try_recv().is_err());
    });
}

#[test]
fn selects_that_never_block_yield_at_the_slice_end() {
    let (tx, rx) = chan::unbounded::<u64>();
    other_coroutine_runs_while(move || {
        tx.send(1).unwrap();
        greenchan::select! {
            recv(rx) -> v => assert_eq!(v, Ok(1)),
        }
    });
}

#[test]
fn spawns_yield_at_the_slice_end() {
    other_coroutine_runs_while(move || {
        drop(greenchan::spawn(|| ()));
    });
}

#[test]
fn uncontended_locks_yield_at_the_slice_end() {
    let m = Arc::new(greenchan::sync::Mutex::new(0u64));
    let rw = Arc::new(greenchan::sync::RwLock::new(0u64));
    let sem = Arc::new(greenchan::sync::Semaphore::new(1));
    other_coroutine_runs_while(move || {
        *m.lock().unwrap() += 1;
        *rw.write().unwrap() += 1;
        assert!(*rw.read().unwrap() > 0);
        drop(sem.acquire());
    });
}

#[test]
fn socket_reads_that_never_block_yield_at_the_slice_end() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    // A plain thread keeps the socket full, so every read finds data and never waits.
    let writer = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let buf = [7u8; 64 * 1024];
        while s.write_all(&buf).is_ok() {}
    });
    let stream = greenchan::net::TcpStream::connect(addr).unwrap();
    other_coroutine_runs_while(move || {
        let mut byte = [0u8; 1];
        (&stream).read_exact(&mut byte).unwrap();
        assert_eq!(byte[0], 7);
    });
    // The stream was dropped with the closure: the writer's next write fails.
    writer.join().unwrap();
}
