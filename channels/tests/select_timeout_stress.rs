//! Selects with timeouts racing against senders and receivers (issue 12: crossbeam-channel's
//! `linearizable_timeout` once hung against greenchan, and `default(Duration::ZERO)` could
//! answer "nothing ready" while some arm was ready at every instant).
//!
//! - `linearizable_*`: one party keeps one of two channels non-empty at every instant while
//!   moving its value from one to the other; a select over both, with `default` or a timeout
//!   that has already passed, must always find one. A failure is counted, not panicked on, so
//!   that the partner is never left blocked (which is how the original test hung).
//! - `a_change_between_two_polls_is_seen`: the same race, made certain with a case that runs
//!   the partner's move right after it is polled.
//! - `every_message_once_*`: producers and consumers on threads and coroutines, all using
//!   timed sends and timed selects with short timeouts; every value is received exactly once.

mod common;

use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use channels::{bounded, select, unbounded, Receiver, Sender};
use common::{in_coroutine, on_thread, scale};
use select::{run_select, Case, CaseOutcome, OwnedWaiter, SelectRecv, Waiter};

#[derive(Clone, Copy, Debug)]
enum Default {
    /// `default => ..`: do not wait at all.
    Now,
    /// `default(Duration::ZERO) => ..`: a deadline that has passed when the select starts.
    Zero,
}

/// One side of the linearizability check; returns how many selects wrongly took `default`.
fn selector(
    rounds: usize,
    kind: Default,
    go: Receiver<()>,
    done: Sender<()>,
    s1: Sender<i32>,
    r1: Receiver<i32>,
    r2: Receiver<i32>,
) -> usize {
    let mut wrong = 0;
    for _ in 0..rounds {
        go.recv().unwrap();
        s1.send(1).unwrap();
        // The partner moves the "non-empty" mark from r1 to r2 meanwhile: first it sends on
        // r2, then it takes from r1. So r1 or r2 holds a value at every instant.
        let found = match kind {
            Default::Now => select! {
                recv(r1) -> _ => true,
                recv(r2) -> _ => true,
                default => false,
            },
            Default::Zero => select! {
                recv(r1) -> _ => true,
                recv(r2) -> _ => true,
                default(Duration::ZERO) => false,
            },
        };
        wrong += usize::from(!found);
        done.send(()).unwrap();
        let _ = r2.try_recv();
    }
    wrong
}

fn partner(rounds: usize, go: Sender<()>, done: Receiver<()>, s2: Sender<i32>, r1: Receiver<i32>) {
    for _ in 0..rounds {
        go.send(()).unwrap();
        s2.send(1).unwrap();
        let _ = r1.try_recv();
        done.recv().unwrap();
    }
}

/// Runs the check with both parties as coroutines (`coroutines`) or as threads.
fn linearizable(kind: Default, coroutines: bool) {
    let rounds = scale(100_000);
    for bounded_flavor in [true, false] {
        let (go_tx, go_rx) = bounded::<()>(0);
        let (done_tx, done_rx) = bounded::<()>(0);
        let ((s1, r1), (s2, r2)) = if bounded_flavor {
            (bounded::<i32>(1), bounded::<i32>(1))
        } else {
            (unbounded::<i32>(), unbounded::<i32>())
        };
        let r1b = r1.clone();
        let wrong = if coroutines {
            in_coroutine(move || {
                let a = green::spawn(move || selector(rounds, kind, go_rx, done_tx, s1, r1, r2));
                let b = green::spawn(move || partner(rounds, go_tx, done_rx, s2, r1b));
                b.join().unwrap();
                a.join().unwrap()
            })
        } else {
            on_thread(move || {
                let a =
                    std::thread::spawn(move || selector(rounds, kind, go_rx, done_tx, s1, r1, r2));
                partner(rounds, go_tx, done_rx, s2, r1b);
                a.join().unwrap()
            })
        };
        assert_eq!(
            wrong, 0,
            "{kind:?}: {wrong} of {rounds} selects took default while an arm was ready \
             (bounded: {bounded_flavor}, coroutines: {coroutines})"
        );
    }
}

#[test]
fn linearizable_default_threads() {
    linearizable(Default::Now, false);
}

#[test]
fn linearizable_default_coroutines() {
    linearizable(Default::Now, true);
}

#[test]
fn linearizable_zero_timeout_threads() {
    linearizable(Default::Zero, false);
}

#[test]
fn linearizable_zero_timeout_coroutines() {
    linearizable(Default::Zero, true);
}

/// A case that runs `hook` once, right after its first poll finds it not ready: a change
/// that lands exactly between a select's looks at two channels.
struct Hooked<'h, C> {
    inner: C,
    hook: RefCell<Option<Box<dyn FnOnce() + 'h>>>,
}

impl<C: Case> Case for Hooked<'_, C> {
    fn try_complete(&self) -> bool {
        let done = self.inner.try_complete();
        if !done {
            if let Some(hook) = self.hook.borrow_mut().take() {
                hook();
            }
        }
        done
    }
    fn register(&self, waiter: &OwnedWaiter, case: usize) -> bool {
        self.inner.register(waiter, case)
    }
    fn unregister(&self, waiter: &Waiter, case: usize) {
        self.inner.unregister(waiter, case)
    }
    fn key(&self) -> (usize, bool) {
        self.inner.key()
    }
    fn is_ready(&self) -> bool {
        self.inner.is_ready()
    }
    fn watch(&self, waiter: &OwnedWaiter, case: usize) -> bool {
        self.inner.watch(waiter, case)
    }
    fn unwatch(&self, waiter: &Waiter, case: usize) {
        self.inner.unwatch(waiter, case)
    }
}

/// The race of `linearizable_*`, certain: the select looks at r2 (empty), then the partner
/// sends on r2 and takes r1's value, then the select looks at r1 (empty). One of them held a
/// value at every instant, so neither `default` nor a zero timeout may be the answer.
#[test]
fn a_change_between_two_polls_is_seen() {
    for nonblocking in [true, false] {
        let (s1, r1) = bounded::<i32>(1);
        let (s2, r2) = bounded::<i32>(1);
        s1.send(1).unwrap();
        let r1_case = r1.recv_case();
        let hooked = Hooked {
            inner: r2.recv_case(),
            hook: RefCell::new(Some(Box::new(|| {
                s2.send(2).unwrap();
                assert_eq!(r1.try_recv(), Ok(1));
            }))),
        };
        let cases: [&dyn Case; 2] = [&hooked, &r1_case];
        // Biased, so that r2 is looked at first.
        let deadline = (!nonblocking).then(Instant::now);
        let chosen = run_select(&cases, deadline, nonblocking, true);
        assert_eq!(
            chosen,
            Some(0),
            "nonblocking: {nonblocking}: the value that arrived on r2 was missed"
        );
        assert_eq!(hooked.inner.take_outcome(), Ok(2));
    }
}

/// Values `0..per * producers`, sent by producers that use timed sends and timed selects
/// (retrying a value until it is sent), received by consumers that use timed selects and
/// timed receives; every value arrives exactly once. Half of each side are threads, half
/// coroutines.
fn every_message_once(cap: usize) {
    let producers = 4;
    let consumers = 4;
    let per = scale(20_000);
    let total = producers * per;
    let (tx, rx) = bounded::<usize>(cap);
    let seen: Arc<Vec<AtomicUsize>> = Arc::new((0..total).map(|_| AtomicUsize::new(0)).collect());
    let received = Arc::new(AtomicUsize::new(0));
    let short = Duration::from_micros(50);

    let mut threads = Vec::new();
    let mut coroutines = Vec::new();
    for p in 0..producers {
        let tx = tx.clone();
        let body = move || {
            for i in p * per..(p + 1) * per {
                let mut v = i;
                loop {
                    // Alternate between a timed send and a select with a timeout; both hand
                    // the value back when they time out (the select's through its copy).
                    if i % 2 == 0 {
                        match tx.send_timeout(v, short) {
                            Ok(()) => break,
                            Err(e) => v = e.into_inner(),
                        }
                    } else {
                        let sent = select! {
                            send(tx, v) -> r => { r.unwrap(); true },
                            default(short) => false,
                        };
                        if sent {
                            break;
                        }
                    }
                }
            }
        };
        if p % 2 == 0 {
            threads.push(std::thread::spawn(body));
        } else {
            coroutines.push(green::spawn(body));
        }
    }
    drop(tx);
    let mut consumer_threads = Vec::new();
    let mut consumer_coroutines = Vec::new();
    for c in 0..consumers {
        let rx = rx.clone();
        let seen = seen.clone();
        let received = received.clone();
        let body = move || loop {
            let got = if c % 2 == 0 {
                select! {
                    recv(rx) -> v => v.ok().map(Some),
                    default(short) => Some(None),
                }
            } else {
                match rx.recv_timeout(short) {
                    Ok(v) => Some(Some(v)),
                    Err(e) if e.is_timeout() => Some(None),
                    Err(_) => None,
                }
            };
            match got {
                None => return,  // closed and drained
                Some(None) => {} // timed out: try again
                Some(Some(v)) => {
                    seen[v].fetch_add(1, Ordering::Relaxed);
                    received.fetch_add(1, Ordering::Relaxed);
                }
            }
        };
        if c % 2 == 0 {
            consumer_threads.push(std::thread::spawn(body));
        } else {
            consumer_coroutines.push(green::spawn(body));
        }
    }
    drop(rx);
    for h in threads.into_iter().chain(consumer_threads) {
        h.join().unwrap();
    }
    for h in coroutines.into_iter().chain(consumer_coroutines) {
        h.join().unwrap();
    }
    assert_eq!(received.load(Ordering::Relaxed), total);
    let wrong: Vec<usize> = (0..total)
        .filter(|&v| seen[v].load(Ordering::Relaxed) != 1)
        .collect();
    assert!(
        wrong.is_empty(),
        "{} values not received exactly once, e.g. {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(10)]
    );
}

#[test]
fn every_message_once_rendezvous() {
    on_thread(|| every_message_once(0));
}

#[test]
fn every_message_once_buffered() {
    on_thread(|| every_message_once(4));
}
