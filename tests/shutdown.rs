//! Shutdown unwinds (issue 11): coroutines still parked or runnable when their runtime shuts
//! down are unwound on their own worker, so their destructors run (channel ends close, locks
//! release), and their joiners hear that the runtime shut down; nothing hangs and nothing sent
//! is lost silently. A coroutine that never comes back is reported, not waited for forever.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use greenchan::chan;
use greenchan::sync::Mutex;
use greenchan::Runtime;

/// Counts its drops.
struct Tally(Arc<AtomicUsize>);

impl Drop for Tally {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Waits until `cond`, within a generous bound.
fn until(what: &str, cond: impl Fn() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < Duration::from_secs(60), "never: {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn parked_coroutines_are_unwound_and_their_joiners_told() {
    let rt = Runtime::builder().workers(2).build().unwrap();
    let drops = Arc::new(AtomicUsize::new(0));
    // Parked on a channel, on a lock, in a sleep, and on a bare park.
    let (_tx, rx) = chan::bounded::<u32>(0);
    let lock = Arc::new(Mutex::new(()));
    let held = lock.lock().unwrap();
    let mut handles = Vec::new();
    {
        let (d, rx) = (drops.clone(), rx.clone());
        handles.push(
            rt.spawn(move || {
                let _t = Tally(d);
                let _ = rx.recv();
            })
            .unwrap(),
        );
    }
    {
        let (d, lock) = (drops.clone(), lock.clone());
        handles.push(
            rt.spawn(move || {
                let _t = Tally(d);
                drop(lock.lock());
            })
            .unwrap(),
        );
    }
    {
        let d = drops.clone();
        handles.push(
            rt.spawn(move || {
                let _t = Tally(d);
                greenchan::sleep(Duration::from_secs(3600));
            })
            .unwrap(),
        );
    }
    {
        let d = drops.clone();
        handles.push(
            rt.spawn(move || {
                let _t = Tally(d);
                loop {
                    greenchan::park();
                }
            })
            .unwrap(),
        );
    }
    until("all four parked", || rt.metrics().parked == 4);
    rt.shutdown().unwrap();
    assert_eq!(drops.load(Ordering::SeqCst), 4, "every destructor ran");
    for h in handles {
        let err = h.join().unwrap_err();
        let msg = err.downcast_ref::<&str>().copied().unwrap_or_default();
        assert!(msg.contains("shut down"), "{msg}");
    }
    drop(held);
}

#[test]
fn a_send_to_a_receiver_unwound_at_shutdown_fails_instead_of_vanishing() {
    let rt = Runtime::builder().workers(1).build().unwrap();
    let (tx, rx) = chan::bounded::<u32>(1);
    let parked = Arc::new(AtomicBool::new(false));
    let p2 = parked.clone();
    rt.spawn(move || {
        p2.store(true, Ordering::SeqCst);
        // Its only receiver parks on a channel nobody sends on.
        let (_t, never) = chan::bounded::<u32>(0);
        let _ = never.recv();
        drop(rx);
    })
    .unwrap();
    until("the receiver's coroutine parked", || {
        parked.load(Ordering::SeqCst) && rt.metrics().parked == 1
    });
    rt.shutdown().unwrap();
    // The receiver was dropped by the unwinding: the send fails and gives the value back.
    assert_eq!(tx.send(7).unwrap_err().into_inner(), 7);
}

#[test]
fn a_coroutine_that_never_comes_back_is_reported() {
    let rt = Runtime::builder()
        .workers(1)
        .max_spare_threads(0)
        .build()
        .unwrap();
    let (started, stop) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let spinner = {
        let (started, stop) = (started.clone(), stop.clone());
        greenchan::Builder::new()
            .name("spin".into())
            .spawn_on(&rt, move || {
                started.store(true, Ordering::SeqCst);
                while !stop.load(Ordering::Relaxed) {
                    std::hint::spin_loop();
                }
            })
            .unwrap()
    };
    until("the spinner started", || started.load(Ordering::SeqCst));
    let err = rt.shutdown_timeout(Duration::from_millis(100)).unwrap_err();
    assert_eq!(err.stuck().len(), 1, "{err}");
    assert_eq!(err.stuck()[0].id, Some(spinner.coroutine().id()), "{err}");
    assert!(err.to_string().contains("did not come back"), "{err}");
    // Released, it ends, and a second shutdown waits for it cleanly.
    stop.store(true, Ordering::Relaxed);
    spinner.join().unwrap();
    rt.shutdown().unwrap();
}
