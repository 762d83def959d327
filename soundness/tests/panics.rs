//! Panics and std's per-thread panic state (issue 10, rule 6). std keeps the panic count behind
//! `thread::panicking()` (which std's locks consult to poison) and the "inside the panic hook"
//! flag per OS thread. A coroutine that switched away while panicking would leave them set for
//! the other coroutines of its worker, and one moved to another thread would leave both
//! threads' counts wrong for good. Checks, with default settings on 1 and 2 workers:
//!
//! - coroutines that unwind across blocking calls (a `Drop` during unwinding that yields,
//!   sleeps and does a channel round trip with a plain thread) leave `thread::panicking()`
//!   false for every other coroutine, and poisoning stays exact after many such panics: a std
//!   `Mutex` locked by a coroutine that panics while holding it is poisoned, one whose holders
//!   never panicked is not;
//! - a panic hook that sends on a greenchan channel (received by a plain thread, the channel
//!   full) while many coroutines panic on the same workers: the process does not abort and
//!   every message arrives;
//! - the documented limit (`block_thread` in green's coroutine.rs, the crate docs' "Soundness"):
//!   while a coroutine is panicking, a blocking call in it blocks its worker's thread instead
//!   of switching, so another coroutine that has started on that worker does not run until the
//!   panicking one has finished unwinding, and a destructor waiting for such a coroutine waits
//!   in vain (here until its timeout).
//!
//! Fails on e8d6a5b (the scheduler before issue 10, which preempted coroutines with SIGURG after
//! 10 ms slices and moved started coroutines between workers; this file run there in a debug
//! build, with only `Runtime::run` renamed to its name then, `block_on`):
//! - unwinding across blocking calls, 1 and 2 workers, with and without
//!   `GREENCHAN_ASYNCPREEMPT=0`: 2 runs of 2 fail in each of the four: coroutines that never
//!   panicked saw `thread::panicking()` 283 to 525 times; once (2 workers, `=0`) a std mutex
//!   whose holders never panicked was poisoned;
//! - the panic hook that sends, 1 and 2 workers, both settings: SIGABRT, "thread panicked while
//!   processing panic. aborting.", 2 of 2 in each;
//! - a panicking coroutine keeps its thread, 1 and 2 workers, both settings: 2 of 2 in each,
//!   "the partner ran while the panicking coroutine was still unwinding".

use std::any::Any;
use std::panic::panic_any;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::Duration;

use greenchan::{chan, go};
use greenchan_soundness::{child, on_fresh_runtime, quiet_panics, spin_for};

/// The payload of the panics these scenarios provoke on purpose.
struct Boom;

fn is_boom(payload: &(dyn Any + Send)) -> bool {
    payload.is::<Boom>()
}

fn expect_boom(r: thread::Result<impl Sized>) {
    match r {
        Err(payload) if is_boom(&*payload) => {}
        Err(_) => panic!("a coroutine panicked with something else than the planned panic"),
        Ok(_) => panic!("a coroutine that had to panic returned"),
    }
}

// ---- unwinding across blocking calls ----

const PANICKERS: usize = 200;
const OBSERVERS: usize = 4;

/// A guard whose destructor, run while its coroutine unwinds, makes blocking greenchan calls:
/// `yield_now`, `sleep`, and a channel round trip with a plain thread.
struct BlockingGuard {
    requests: chan::Sender<chan::Sender<()>>,
    unwound: Arc<AtomicUsize>,
    /// Set if the destructor found itself not panicking, or its round trip failed.
    wrong: Arc<AtomicBool>,
}

impl Drop for BlockingGuard {
    fn drop(&mut self) {
        // No assertion here: a panic inside a destructor run by unwinding aborts.
        if !thread::panicking() {
            self.wrong.store(true, Ordering::Relaxed);
        }
        greenchan::yield_now();
        greenchan::sleep(Duration::from_millis(1));
        let (reply_tx, reply_rx) = chan::bounded(1);
        if self.requests.send(reply_tx).is_err() || reply_rx.recv().is_err() {
            self.wrong.store(true, Ordering::Relaxed);
        }
        if !thread::panicking() {
            self.wrong.store(true, Ordering::Relaxed);
        }
        self.unwound.fetch_add(1, Ordering::SeqCst);
    }
}

fn unwinding_across_blocking_calls(workers: usize) {
    quiet_panics(is_boom);
    let (requests, incoming) = chan::unbounded::<chan::Sender<()>>();
    // The plain thread that answers the destructors' round trips.
    let responder = thread::spawn(move || {
        for reply in incoming.iter() {
            let _ = reply.send(());
        }
    });
    let unwound = Arc::new(AtomicUsize::new(0));
    let wrong = Arc::new(AtomicBool::new(false));
    let clean = Arc::new(Mutex::new(0u64));
    let (w, c) = (wrong.clone(), clean.clone());
    let seen_panicking = on_fresh_runtime(workers, move || {
        let observers: Vec<_> = (0..OBSERVERS)
            .map(|_| {
                let (unwound, clean) = (unwound.clone(), clean.clone());
                go!(move || {
                    let mut seen = 0u64;
                    while unwound.load(Ordering::SeqCst) < PANICKERS {
                        if thread::panicking() {
                            seen += 1;
                        }
                        // A std mutex whose holders never panic.
                        *clean.lock().unwrap() += 1;
                        spin_for(Duration::from_micros(20));
                        greenchan::yield_now();
                    }
                    seen
                })
            })
            .collect();
        let panickers: Vec<_> = (0..PANICKERS)
            .map(|_| {
                let guard = BlockingGuard {
                    requests: requests.clone(),
                    unwound: unwound.clone(),
                    wrong: w.clone(),
                };
                go!(move || {
                    let _guard = guard;
                    spin_for(Duration::from_micros(100));
                    panic_any(Boom);
                })
            })
            .collect();
        drop(requests);
        for p in panickers {
            expect_boom(p.join());
        }
        let seen: u64 = observers.into_iter().map(|o| o.join().unwrap()).sum();

        // Poisoning, after all those panics: exact on every worker.
        let mutexes: Vec<_> = (0..16).map(|_| Arc::new(Mutex::new(()))).collect();
        let holders: Vec<_> = mutexes
            .iter()
            .map(|m| {
                let m = m.clone();
                go!(move || {
                    let _held = m.lock().unwrap();
                    spin_for(Duration::from_micros(100));
                    panic_any(Boom);
                })
            })
            .collect();
        let lockers: Vec<_> = (0..16)
            .map(|_| {
                let clean = clean.clone();
                go!(move || {
                    let mut held = clean.lock().unwrap();
                    spin_for(Duration::from_micros(100));
                    *held += 1;
                })
            })
            .collect();
        for h in holders {
            expect_boom(h.join());
        }
        for l in lockers {
            l.join().unwrap();
        }
        for (i, m) in mutexes.iter().enumerate() {
            assert!(
                m.is_poisoned(),
                "mutex {i}: its holder panicked, yet it is not poisoned"
            );
        }
        seen
    });
    responder.join().unwrap();
    assert_eq!(
        seen_panicking, 0,
        "coroutines that never panicked saw thread::panicking() {seen_panicking} times"
    );
    assert!(
        !c.is_poisoned(),
        "a mutex whose holders never panicked is poisoned"
    );
    assert!(
        !wrong.load(Ordering::Relaxed),
        "a destructor running during unwinding saw thread::panicking() false, or its round \
         trip failed"
    );
}

#[test]
fn unwinding_across_blocking_calls_1_worker() {
    child("unwinding_across_blocking_calls_1_worker", || {
        unwinding_across_blocking_calls(1)
    });
}

#[test]
fn unwinding_across_blocking_calls_2_workers() {
    child("unwinding_across_blocking_calls_2_workers", || {
        unwinding_across_blocking_calls(2)
    });
}

// ---- a panic hook that blocks on a channel ----

const HOOK_PANICS: usize = 200;

/// The payload of the panics whose hook sends.
struct Numbered(usize);

static HOOK_TX: OnceLock<chan::Sender<usize>> = OnceLock::new();

fn panic_hook_sends(workers: usize) {
    // Capacity 1: the hook's send blocks whenever the plain thread has not taken the last one.
    let (tx, rx) = chan::bounded(1);
    HOOK_TX.set(tx).unwrap();
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if let Some(Numbered(n)) = info.payload().downcast_ref() {
            HOOK_TX.get().unwrap().send(*n).unwrap();
        } else {
            default(info);
        }
    }));
    let receiver = thread::spawn(move || {
        let mut got: Vec<usize> = (0..HOOK_PANICS).map(|_| rx.recv().unwrap()).collect();
        got.sort_unstable();
        got
    });
    on_fresh_runtime(workers, || {
        let handles: Vec<_> = (0..HOOK_PANICS)
            .map(|n| {
                go!(move || {
                    spin_for(Duration::from_micros(50));
                    panic_any(Numbered(n));
                })
            })
            .collect();
        for h in handles {
            match h.join() {
                Err(payload) if payload.is::<Numbered>() => {}
                _ => panic!("a coroutine did not panic as planned"),
            }
        }
    });
    let got = receiver.join().unwrap();
    assert_eq!(got, (0..HOOK_PANICS).collect::<Vec<_>>(), "messages lost");
}

#[test]
fn panic_hook_sends_on_a_channel_1_worker() {
    child("panic_hook_sends_on_a_channel_1_worker", || {
        panic_hook_sends(1)
    });
}

#[test]
fn panic_hook_sends_on_a_channel_2_workers() {
    child("panic_hook_sends_on_a_channel_2_workers", || {
        panic_hook_sends(2)
    });
}

// ---- the documented limit: a panicking coroutine keeps its thread ----

const BEFORE: u8 = 0;
const IN_DROP: u8 = 1;
const DONE: u8 = 2;
/// The partner started on another worker: this attempt does not count.
const ELSEWHERE: u8 = 3;

const LIMIT_ROUNDS: usize = 5;
/// How long the destructor waits for the partner, which cannot run meanwhile.
const IN_VAIN: Duration = Duration::from_millis(50);

/// The destructor of the panicking coroutine: marks the unwinding under way, makes blocking
/// calls (each of which would let the partner run if the coroutine switched), waits for a
/// message only the partner sends, and marks the unwinding done.
struct LimitGuard {
    state: Arc<AtomicU8>,
    from_partner: chan::Receiver<()>,
    waited_in_vain: Arc<AtomicBool>,
}

impl Drop for LimitGuard {
    fn drop(&mut self) {
        self.state.store(IN_DROP, Ordering::SeqCst);
        greenchan::yield_now();
        greenchan::sleep(Duration::from_millis(1));
        let in_vain = self.from_partner.recv_timeout(IN_VAIN).is_err();
        self.waited_in_vain.store(in_vain, Ordering::SeqCst);
        self.state.store(DONE, Ordering::SeqCst);
    }
}

/// One attempt: a panicking coroutine and a partner that has started on its thread. Returns
/// `None` if the partner started on another worker (the attempt is void), else what the partner
/// saw when it ran again, and whether the destructor's wait was in vain.
fn limit_attempt() -> Option<(Result<(), String>, bool)> {
    let state = Arc::new(AtomicU8::new(BEFORE));
    let waited_in_vain = Arc::new(AtomicBool::new(false));
    let (to_guard, from_partner) = chan::unbounded::<()>();
    let (report_tx, report_rx) = chan::bounded::<Option<Result<(), String>>>(1);
    let st = state.clone();
    let wiv = waited_in_vain.clone();
    let panicker = go!(move || {
        let my_thread = thread::current().id();
        let started = Arc::new(AtomicBool::new(false));
        let (s, st2) = (started.clone(), st.clone());
        let _partner = go!(move || {
            if thread::current().id() != my_thread {
                // Marked before `started`, so the panicking coroutine sees it.
                st2.store(ELSEWHERE, Ordering::SeqCst);
                s.store(true, Ordering::SeqCst);
                report_tx.send(None).unwrap();
                return;
            }
            s.store(true, Ordering::SeqCst);
            let seen = loop {
                match st2.load(Ordering::SeqCst) {
                    BEFORE => greenchan::yield_now(),
                    IN_DROP => {
                        let _ = to_guard.try_send(());
                        break Err("the partner ran while the panicking coroutine was \
                                   still unwinding"
                            .to_string());
                    }
                    _ => {
                        let _ = to_guard.try_send(());
                        break if thread::current().id() != my_thread {
                            Err("the partner changed threads".to_string())
                        } else if thread::panicking() {
                            Err("the partner sees thread::panicking()".to_string())
                        } else {
                            Ok(())
                        };
                    }
                }
            };
            report_tx.send(Some(seen)).unwrap();
        });
        // Let the partner start (on this worker, unless another one took it first).
        while !started.load(Ordering::SeqCst) {
            greenchan::yield_now();
        }
        if st.load(Ordering::SeqCst) == ELSEWHERE {
            return;
        }
        let _guard = LimitGuard {
            state: st,
            from_partner,
            waited_in_vain: wiv,
        };
        panic_any(Boom);
    });
    let outcome = panicker.join();
    let report = report_rx.recv().unwrap()?;
    expect_boom(outcome);
    assert_eq!(state.load(Ordering::SeqCst), DONE);
    Some((report, waited_in_vain.load(Ordering::SeqCst)))
}

fn panicking_coroutine_keeps_its_thread(workers: usize) {
    quiet_panics(is_boom);
    on_fresh_runtime(workers, || {
        let (mut rounds, mut void) = (0, 0);
        while rounds < LIMIT_ROUNDS {
            match limit_attempt() {
                None => {
                    void += 1;
                    assert!(void < 1000, "the partner never started on the same worker");
                }
                Some((seen, in_vain)) => {
                    seen.unwrap();
                    assert!(
                        in_vain,
                        "the destructor got a message that only a coroutine of its own \
                         (blocked) worker sends"
                    );
                    rounds += 1;
                }
            }
        }
    });
}

#[test]
fn panicking_coroutine_keeps_its_thread_1_worker() {
    child("panicking_coroutine_keeps_its_thread_1_worker", || {
        panicking_coroutine_keeps_its_thread(1)
    });
}

#[test]
fn panicking_coroutine_keeps_its_thread_2_workers() {
    child("panicking_coroutine_keeps_its_thread_2_workers", || {
        panicking_coroutine_keeps_its_thread(2)
    });
}
