//! Sockets made and dropped by coroutines that overrun their time slice, one worker: the
//! reactor's slab lock (a std `Mutex` taken by `Registration::new` and by a registration's
//! drop) is held from coroutine code. On e8d6a5b, where signal preemption was the default, a
//! coroutine preempted while holding it could resume only on its own worker, and that worker
//! blocked for good on the same lock as soon as anything it ran next made or dropped a socket
//! (3 deadlocks in 3 runs). Now nothing is preempted by default, and under the `unsafe`
//! opt-in the runtime's own locks raise the no-preempt depth while held
//! (`green::preempt::lock_unpreempted`): both variants run to the end. (On the new scheduler
//! the opt-in variant did not deadlock even with that guard removed, in 2 runs of 400,000
//! sockets: it guards against the hazard, it does not reproduce it reliably.)

use std::sync::mpsc;
use std::time::Duration;

fn churn_two_coroutines(rt: green::Runtime) {
    // Two coroutines on one worker that each make and drop sockets without pause: each
    // outruns its time slice.
    let churn = || {
        move || {
            for _ in 0..50_000 {
                drop(netpoll::UdpSocket::bind("127.0.0.1:0").unwrap());
            }
        }
    };
    let a = rt.spawn(churn()).unwrap();
    let b = rt.spawn(churn()).unwrap();
    let (done_tx, done_rx) = mpsc::channel();
    std::thread::spawn(move || {
        a.join().unwrap();
        b.join().unwrap();
        let _ = done_tx.send(());
    });
    // 100,000 sockets take a few seconds; a deadlocked worker never finishes.
    if done_rx.recv_timeout(Duration::from_secs(120)).is_err() {
        // Dropping the runtime would wait for the deadlocked worker.
        std::mem::forget(rt);
        panic!("the worker deadlocked: a coroutine preempted inside the reactor's slab lock");
    }
}

fn one_worker() -> green::RuntimeBuilder {
    green::Runtime::builder()
        .workers(1)
        .time_slice(Duration::from_millis(1))
}

#[test]
fn sockets_made_and_dropped_by_busy_coroutines_do_not_deadlock() {
    churn_two_coroutines(one_worker().build().unwrap());
}

#[test]
fn under_async_preemption_the_reactor_lock_is_never_held_preempted() {
    // SAFETY: the coroutines hold no thread-affine state of their own: they only make and drop
    // sockets, whose runtime locks are the point of this test.
    let builder = unsafe { one_worker().allow_async_preemption() };
    let before = green::preempt::async_preemptions();
    churn_two_coroutines(builder.build().unwrap());
    if green::preempt::is_supported() {
        assert!(
            green::preempt::async_preemptions() > before,
            "no coroutine was preempted: the test proved nothing"
        );
    }
}
