//! Workers steal unstarted coroutines from each other while they are being stolen from. A
//! thief counts what a steal added to its own queue by the queue's length, which other
//! thieves shrink at the same moment (a worker whose coroutine parked for I/O offers its
//! unstarted coroutines to idle workers and searches meanwhile, its own queue full). Before
//! 2026-12-08 that count could go below zero, and in a debug build the subtraction panicked
//! and killed the worker thread, leaving the coroutines started on it (a connection's, in the
//! test that found it) parked for good.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use green::Runtime;

/// Panics on greenchan's worker threads, where no coroutine of this test panics: any is the
/// runtime's own.
static WORKER_PANICS: AtomicUsize = AtomicUsize::new(0);

#[test]
fn thieves_robbed_while_they_steal_keep_running() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if thread_is_a_worker() {
            WORKER_PANICS.fetch_add(1, Ordering::SeqCst);
        }
        default_hook(info);
    }));
    // More workers than cores: threads are interrupted mid-steal by the kernel, and several
    // thieves work on each victim and on each other.
    let rt = Arc::new(Runtime::builder().workers(6).build().unwrap());
    let ran = Arc::new(AtomicUsize::new(0));
    const ROUNDS: usize = 300;
    const SPAWNERS: usize = 6;
    const CHILDREN: usize = 300;
    let (done_tx, done_rx) = mpsc::channel();
    let driver = {
        let (rt, ran) = (rt.clone(), ran.clone());
        std::thread::spawn(move || {
            for _ in 0..ROUNDS {
                let ran = ran.clone();
                rt.run(move || {
                    let spawners: Vec<_> = (0..SPAWNERS)
                        .map(|_| {
                            let ran = ran.clone();
                            green::spawn(move || {
                                let children: Vec<_> = (0..CHILDREN)
                                    .map(|_| {
                                        let ran = ran.clone();
                                        green::spawn(move || {
                                            ran.fetch_add(1, Ordering::Relaxed);
                                        })
                                    })
                                    .collect();
                                // Parks as for I/O (a server's acceptor): the worker then
                                // offers the children to idle workers and searches, with its
                                // own queue full, while they steal from it.
                                green::driver::parking_on_io();
                                green::sleep(Duration::from_micros(20));
                                for c in children {
                                    c.join().unwrap();
                                }
                            })
                        })
                        .collect();
                    for s in spawners {
                        s.join().unwrap();
                    }
                });
                if WORKER_PANICS.load(Ordering::SeqCst) != 0 {
                    break;
                }
            }
            let _ = done_tx.send(());
        })
    };
    // Generous: a round takes milliseconds; a dead worker makes one wait forever, so a worker
    // panic ends the wait at once.
    let start = Instant::now();
    let finished = loop {
        match done_rx.recv_timeout(Duration::from_millis(100)) {
            Ok(()) => break true,
            Err(_) if WORKER_PANICS.load(Ordering::SeqCst) != 0 => break false,
            Err(_) if start.elapsed() > Duration::from_secs(300) => break false,
            Err(_) => {}
        }
    };
    assert_eq!(
        WORKER_PANICS.load(Ordering::SeqCst),
        0,
        "a worker thread panicked (see its message above)"
    );
    assert!(
        finished,
        "the rounds did not finish within 300 s ({} of {} children ran)",
        ran.load(Ordering::Relaxed),
        ROUNDS * SPAWNERS * CHILDREN
    );
    driver.join().unwrap();
    assert_eq!(ran.load(Ordering::Relaxed), ROUNDS * SPAWNERS * CHILDREN);
}

fn thread_is_a_worker() -> bool {
    std::thread::current()
        .name()
        .is_some_and(|n| n.starts_with("greenchan-worker"))
}
