//! Thread-affine state held *across* greenchan calls (issue 10): what only moving a started
//! coroutine to another thread breaks, with or without asynchronous preemption. A started
//! coroutine must stay on its thread (DESIGN §3, rule 1). Checks, with default settings on 1
//! and 2 workers:
//!
//! - a `ThreadRng` held across channel operations (ping-pong between pairs of coroutines)
//!   never repeats a draw: moved to another thread, the handle would be used there at the same
//!   time as by the coroutines of its own thread;
//! - a function that touches a `thread_local!`, calls `yield_now` or a channel operation (with
//!   a partner coroutine, or a round trip with a plain thread), and touches it again sees the
//!   same thread: same `thread::current().id()`, same address of the
//!   thread-local before and after, and the address a fresh call computes afterwards. (LLVM
//!   computes a thread-local's address once per function, so after a move the function would
//!   write into the previous thread's slot: a data race.)
//!
//! Fails on e8d6a5b (the scheduler before issue 10, which preempted coroutines with SIGURG after
//! 10 ms slices and moved started coroutines between workers; this file run there in a debug
//! build, with only `Runtime::run` renamed to its name then, `block_on`):
//! - `ThreadRng` across channel operations, 2 workers: 2 runs of 2 fail (811 and 1,035 repeated
//!   draws among 320,000), and with `GREENCHAN_ASYNCPREEMPT=0` too (24,291 and 8,917);
//!   1 worker: 1 of 2 fails (11 repeats, a signal inside a draw), and with
//!   `GREENCHAN_ASYNCPREEMPT=0` it passes: one worker has no other thread to move to;
//! - the thread-local across switches, 2 workers: 2 of 2 fail ("6,805 of 48,000 switches moved
//!   a started coroutine; the first: thread ThreadId(4) -> ThreadId(5), thread-local at
//!   0x7f9444c12390 -> 0x7f9444a0e390"), and with `GREENCHAN_ASYNCPREEMPT=0` too (6,838 and
//!   4,173 of 48,000); 1 worker passes there, in both settings, for the same reason.

use std::cell::Cell;
use std::thread;
use std::time::Duration;

use greenchan::{chan, go};
use greenchan_soundness::{assert_unique, child, on_fresh_runtime, spin_for};
use rand::Rng;

const PAIRS: usize = 4;

// ---- ThreadRng held across channel operations ----

const RNG_ROUNDS: usize = 10_000;
const DRAWS_PER_ROUND: usize = 4;

/// One side of a ping-pong: draws from a `ThreadRng` it holds throughout, then exchanges a
/// message with its partner.
fn rng_partner(first: bool, tx: chan::Sender<usize>, rx: chan::Receiver<usize>) -> Vec<u64> {
    let mut rng = rand::thread_rng();
    let mut draws = Vec::with_capacity(RNG_ROUNDS * DRAWS_PER_ROUND);
    for round in 0..RNG_ROUNDS {
        for _ in 0..DRAWS_PER_ROUND {
            draws.push(rng.gen::<u64>());
        }
        spin_for(Duration::from_micros(2));
        if first {
            tx.send(round).unwrap();
            assert_eq!(rx.recv().unwrap(), round);
        } else {
            assert_eq!(rx.recv().unwrap(), round);
            tx.send(round).unwrap();
        }
    }
    draws
}

fn rng_across_channels(workers: usize) {
    let all = on_fresh_runtime(workers, || {
        let mut handles = Vec::new();
        for _ in 0..PAIRS {
            let (a_tx, a_rx) = chan::bounded(0);
            let (b_tx, b_rx) = chan::bounded(0);
            handles.push(go!(move || rng_partner(true, a_tx, b_rx)));
            handles.push(go!(move || rng_partner(false, b_tx, a_rx)));
        }
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect::<Vec<u64>>()
    });
    assert_eq!(all.len(), 2 * PAIRS * RNG_ROUNDS * DRAWS_PER_ROUND);
    assert_unique(all);
}

#[test]
fn thread_rng_held_across_channel_ops_1_worker() {
    child("thread_rng_held_across_channel_ops_1_worker", || {
        rng_across_channels(1)
    });
}

#[test]
fn thread_rng_held_across_channel_ops_2_workers() {
    child("thread_rng_held_across_channel_ops_2_workers", || {
        rng_across_channels(2)
    });
}

// ---- a thread-local touched on both sides of a switch ----

thread_local! {
    static SLOT: Cell<u64> = const { Cell::new(0) };
}

const TOUCHES: usize = 3_000;

/// The thread-local's address, computed by a call of its own.
#[inline(never)]
fn slot_address() -> usize {
    SLOT.with(|s| s as *const Cell<u64> as usize)
}

/// Touches the thread-local, lets `switch` run (a greenchan call that may switch coroutines),
/// touches it again; describes what changed, if anything did.
#[inline(never)]
fn touch_switch_touch(switch: &mut dyn FnMut()) -> Option<String> {
    let thread_before = thread::current().id();
    let before = SLOT.with(|s| {
        s.set(s.get() + 1);
        s as *const Cell<u64> as usize
    });
    switch();
    let after = SLOT.with(|s| {
        s.set(s.get() + 1);
        s as *const Cell<u64> as usize
    });
    let thread_after = thread::current().id();
    let fresh = slot_address();
    if thread_before != thread_after || before != after || after != fresh {
        Some(format!(
            "thread {thread_before:?} -> {thread_after:?}, thread-local at {before:#x} -> \
             {after:#x}, computed afresh: {fresh:#x}"
        ))
    } else {
        None
    }
}

/// Touches around `yield_now`; returns the changes seen.
fn yielder() -> Vec<String> {
    let mut changes = Vec::new();
    for _ in 0..TOUCHES {
        spin_for(Duration::from_micros(20));
        changes.extend(touch_switch_touch(&mut greenchan::yield_now));
    }
    changes
}

/// Touches around one side of a ping-pong; returns the changes seen.
fn ponger(first: bool, tx: chan::Sender<usize>, rx: chan::Receiver<usize>) -> Vec<String> {
    let mut changes = Vec::new();
    for round in 0..TOUCHES {
        spin_for(Duration::from_micros(20));
        changes.extend(touch_switch_touch(&mut || {
            if first {
                tx.send(round).unwrap();
                rx.recv().unwrap();
            } else {
                rx.recv().unwrap();
                tx.send(round).unwrap();
            }
        }));
    }
    changes
}

/// Touches around a round trip with a plain thread (whose reply wakes the coroutine from
/// outside the runtime); returns the changes seen.
fn outsider(requests: chan::Sender<chan::Sender<()>>) -> Vec<String> {
    let mut changes = Vec::new();
    let (reply_tx, reply_rx) = chan::bounded(1);
    for _ in 0..TOUCHES {
        spin_for(Duration::from_micros(20));
        changes.extend(touch_switch_touch(&mut || {
            requests.send(reply_tx.clone()).unwrap();
            reply_rx.recv().unwrap();
        }));
    }
    changes
}

fn thread_local_across_switches(workers: usize) {
    let (requests, incoming) = chan::unbounded::<chan::Sender<()>>();
    // The plain thread that answers the outsiders.
    let responder = thread::spawn(move || {
        for reply in incoming.iter() {
            reply.send(()).unwrap();
        }
    });
    let changes = on_fresh_runtime(workers, move || {
        let mut handles = Vec::new();
        for _ in 0..PAIRS {
            handles.push(go!(yielder));
            let requests = requests.clone();
            handles.push(go!(move || outsider(requests)));
            let (a_tx, a_rx) = chan::bounded(0);
            let (b_tx, b_rx) = chan::bounded(0);
            handles.push(go!(move || ponger(true, a_tx, b_rx)));
            handles.push(go!(move || ponger(false, b_tx, a_rx)));
        }
        drop(requests);
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect::<Vec<String>>()
    });
    responder.join().unwrap();
    assert!(
        changes.is_empty(),
        "{} of {} switches moved a started coroutine; the first: {}",
        changes.len(),
        4 * PAIRS * TOUCHES,
        changes[0]
    );
}

#[test]
fn thread_local_across_switches_1_worker() {
    child("thread_local_across_switches_1_worker", || {
        thread_local_across_switches(1)
    });
}

#[test]
fn thread_local_across_switches_2_workers() {
    child("thread_local_across_switches_2_workers", || {
        thread_local_across_switches(2)
    });
}
