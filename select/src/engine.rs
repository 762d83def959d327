//! The select engine: the protocol a channel operation implements to take part in a select
//! (`Case`), and the loop that runs one (`run_select`), after Go's `selectgo` and
//! crossbeam-channel's `select.rs`.
//!
//! 1. Poll every case once in a random order (Go's rule: uniform choice among ready cases, so
//!    none starves); the first that completes wins.
//! 2. Otherwise register one waiter in every case's channel. If a case turns out to be ready
//!    while registering, the waiter aborts itself and the loop polls again.
//! 3. Park until some channel claims the waiter for one case and finishes it, or the deadline
//!    passes and the waiter manages to abort itself (if a claim wins that race, the claimed
//!    operation has happened and is returned, so nothing is lost).
//! 4. Remove the waiter's remaining registrations.
//!
//! Exactly one case takes effect per select, because a waiter is claimed at most once and a
//! poll completes at most one case.

use std::cell::Cell;
use std::time::Instant;

use crate::waiter::{OwnedWaiter, Waiter};

/// One operation of a select, as a channel implements it. The outcome of a completed case
/// (the received value, or the unsent value on a close) is kept in the case itself.
pub trait Case {
    /// Completes the operation now if it can (including reporting a closed channel), without
    /// waiting. True if it did.
    fn try_complete(&self) -> bool;

    /// Registers `waiter` as case number `case` in the channel, unless the operation looks
    /// ready right now: then it registers nothing and returns true.
    fn register(&self, waiter: &OwnedWaiter, case: usize) -> bool;

    /// Removes what `register` added (a no-op if a claimer already took it).
    fn unregister(&self, waiter: &Waiter, case: usize);

    /// Identity of the channel and direction, used by `SelectedOperation` to check that it is
    /// completed with the handle it was built from.
    fn key(&self) -> (usize, bool);
}

thread_local! {
    static RNG: Cell<u64> = Cell::new({
        // Per-thread seed: a stack address mixed with the time.
        let x = 0u8;
        let a = &x as *const u8 as u64;
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        (a ^ t.rotate_left(29)) | 1
    });
}

/// A fast thread-local xorshift64*; quality is plenty for shuffling select cases.
fn next_random() -> u64 {
    RNG.with(|r| {
        let mut x = r.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        r.set(x);
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    })
}

/// Selects over at most this many cases keep their case order on the stack.
const INLINE_CASES: usize = 16;

/// A permutation of case indices, on the stack for small selects.
enum Order {
    Inline([usize; INLINE_CASES], usize),
    Heap(Vec<usize>),
}

impl std::ops::Deref for Order {
    type Target = [usize];
    fn deref(&self) -> &[usize] {
        match self {
            Order::Inline(a, n) => &a[..*n],
            Order::Heap(v) => v,
        }
    }
}

/// A uniformly random permutation of `0..n` (Fisher–Yates).
fn shuffled(n: usize) -> Order {
    fn shuffle(order: &mut [usize]) {
        // Loom replays schedules and needs a deterministic model: no shuffle there.
        if cfg!(loom) {
            return;
        }
        for i in (1..order.len()).rev() {
            // Lemire's multiply-shift maps a 64-bit random number to `0..=i` without a
            // division (bias below 2^-60 for the case counts a select has).
            let j = ((next_random() as u128 * (i as u128 + 1)) >> 64) as usize;
            order.swap(i, j);
        }
    }
    if n <= INLINE_CASES {
        let mut a = [0; INLINE_CASES];
        for (i, x) in a[..n].iter_mut().enumerate() {
            *x = i;
        }
        shuffle(&mut a[..n]);
        Order::Inline(a, n)
    } else {
        let mut v: Vec<usize> = (0..n).collect();
        shuffle(&mut v);
        Order::Heap(v)
    }
}

/// The cases a select has registered its waiter in; dropping it removes the entries (after the
/// wait, or if the selecting frame unwinds), so no entry outlives the waiter or the cases'
/// slots.
struct Registered<'a, 'c> {
    cases: &'a [&'c dyn Case],
    order: &'a [usize],
    count: usize,
    waiter: &'a Waiter,
}

impl Drop for Registered<'_, '_> {
    fn drop(&mut self) {
        for &i in &self.order[..self.count] {
            self.cases[i].unregister(self.waiter, i);
        }
    }
}

/// Runs a select over `cases` and returns the index of the case that completed, or `None` if
/// `nonblocking` and nothing was ready, or if `deadline` passed first. With no cases, no
/// deadline and blocking, it waits forever (as Go's empty `select {}`).
pub fn run_select(
    cases: &[&dyn Case],
    deadline: Option<Instant>,
    nonblocking: bool,
) -> Option<usize> {
    loop {
        let order = shuffled(cases.len());
        for &i in order.iter() {
            if cases[i].try_complete() {
                return Some(i);
            }
        }
        if nonblocking || deadline.is_some_and(|d| Instant::now() >= d) {
            return None;
        }
        let waiter = OwnedWaiter::new(false);
        let mut registered = Registered {
            cases,
            order: &order,
            count: 0,
            waiter: &waiter,
        };
        let mut ready = false;
        for &i in order.iter() {
            if cases[i].register(&waiter, i) {
                ready = true;
                break;
            }
            registered.count += 1;
        }
        let outcome = if ready {
            if waiter.try_abort() {
                None
            } else {
                // Claimed for a case registered before the ready one.
                waiter.wait(None)
            }
        } else {
            waiter.wait(deadline)
        };
        drop(registered);
        drop(waiter);
        match outcome {
            Some(k) => return Some(k),
            None if ready => continue,
            None => return None,
        }
    }
}
