//! The select engine: the protocol a channel operation implements to take part in a select
//! (`Case`), and the loops that run one (`run_select`) or wait for readiness (`run_ready`),
//! after Go's `selectgo` and crossbeam-channel's `select.rs`.
//!
//! 1. Poll every case once in a random order (Go's rule: uniform choice among ready cases, so
//!    none starves; a biased select polls in the order given); the first that completes wins.
//! 2. Otherwise register one waiter in every case's channel. If a case turns out to be ready
//!    while registering, the waiter aborts itself and the loop polls again.
//! 3. Park until some channel claims the waiter for one case and finishes it, or until the
//!    earliest of the select's deadline and the cases' own deadlines (a timer channel becomes
//!    ready at an instant, with nobody to claim the waiter) passes and the waiter manages to
//!    abort itself (if a claim wins that race, the claimed operation has happened and is
//!    returned, so nothing is lost). The park goes through `green::park_deadline`: one entry in
//!    the worker's timer heap, never a coroutine or a thread per timer.
//! 4. Remove the waiter's remaining registrations, and after a timeout poll again (the timer
//!    case that woke us is now ready) unless the select's own deadline has passed.
//!
//! Exactly one case takes effect per select, because a waiter is claimed at most once and a
//! poll completes at most one case.
//!
//! `run_ready` is the same loop for `Select::ready`: it polls readiness without completing
//! anything and registers the waiter as an *observer* (`Case::watch`) that a channel wakes on
//! any change that may make the operation possible.

use std::cell::Cell;
use std::time::Instant;

use crate::waiter::{OwnedWaiter, Waiter};

/// One operation of a select, as a channel implements it. The outcome of a completed case
/// (the received value, or the unsent value on a close) is kept in the case itself.
// Public for greenchan-channels and the `select!` expansion only; not part of the API.
// Hidden here, not only at the re-export, so that its impls on the channel ends are hidden too.
#[doc(hidden)]
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

    /// True if `try_complete` would succeed now (a closed channel counts as ready), without
    /// completing anything. May be out of date as soon as it returns.
    fn is_ready(&self) -> bool;

    /// Registers `waiter` as an observer of case number `case`: the channel claims and wakes it
    /// on any change that may make the operation possible, performing nothing. Unless the
    /// operation looks ready right now: then it registers nothing and returns true.
    fn watch(&self, waiter: &OwnedWaiter, case: usize) -> bool;

    /// Removes what `watch` added (a no-op if the channel already woke the observer).
    fn unwatch(&self, waiter: &Waiter, case: usize);

    /// The instant at which the operation becomes ready by itself, with nobody to wake a
    /// registered waiter (a timer channel): a blocked select parks until then at the latest
    /// and polls again. `None` (the default) for operations that someone else makes ready.
    fn deadline(&self) -> Option<Instant> {
        None
    }
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

/// A uniformly random permutation of `0..n` (Fisher–Yates), or `0..n` in order if `biased`.
fn shuffled(n: usize, biased: bool) -> Order {
    let shuffle = |order: &mut [usize]| {
        // Loom replays schedules and needs a deterministic model: no shuffle there.
        if cfg!(loom) || biased {
            return;
        }
        for i in (1..order.len()).rev() {
            // Lemire's multiply-shift maps a 64-bit random number to `0..=i` without a
            // division (bias below 2^-60 for the case counts a select has).
            let j = ((next_random() as u128 * (i as u128 + 1)) >> 64) as usize;
            order.swap(i, j);
        }
    };
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

/// What a select loop is waiting for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Goal {
    /// Complete one operation (`Case::try_complete`, `register`).
    Complete,
    /// Learn that one operation is ready (`Case::is_ready`, `watch`).
    Ready,
}

/// The cases a select has registered its waiter in; dropping it removes the entries (after the
/// wait, or if the selecting frame unwinds), so no entry outlives the waiter or the cases'
/// slots.
struct Registered<'a, 'c> {
    cases: &'a [&'c dyn Case],
    order: &'a [usize],
    count: usize,
    waiter: &'a Waiter,
    goal: Goal,
}

impl Drop for Registered<'_, '_> {
    fn drop(&mut self) {
        for &i in &self.order[..self.count] {
            match self.goal {
                Goal::Complete => self.cases[i].unregister(self.waiter, i),
                Goal::Ready => self.cases[i].unwatch(self.waiter, i),
            }
        }
    }
}

/// Runs a select over `cases` and returns the index of the case that completed, or `None` if
/// `nonblocking` and nothing was ready, or if `deadline` passed first. Ready cases are chosen
/// uniformly at random, or the first in `cases` order if `biased`. With no cases, no deadline
/// and blocking, it waits forever (as Go's empty `select {}`).
///
/// ```
/// use select::{run_select, Case, SelectRecv};
/// let (tx, rx) = greenchan::chan::bounded::<u8>(1);
/// tx.send(1).unwrap();
/// let case = rx.recv_case();
/// let cases: [&dyn Case; 1] = [&case];
/// assert_eq!(run_select(&cases, None, false, false), Some(0));
/// ```
pub fn run_select(
    cases: &[&dyn Case],
    deadline: Option<Instant>,
    nonblocking: bool,
    biased: bool,
) -> Option<usize> {
    run(cases, deadline, nonblocking, biased, Goal::Complete)
}

/// Waits until one of `cases` is ready (its operation would complete, or report a closed
/// channel, without blocking) and returns its index, completing nothing; `None` as in
/// [`run_select`]. The answer may be out of date by the time the caller acts on it.
///
/// ```
/// use select::{run_ready, Case, SelectRecv};
/// let (tx, rx) = greenchan::chan::bounded::<u8>(1);
/// let case = rx.recv_case();
/// let cases: [&dyn Case; 1] = [&case];
/// assert_eq!(run_ready(&cases, None, true, false), None);
/// tx.send(1).unwrap();
/// assert_eq!(run_ready(&cases, None, false, false), Some(0));
/// assert_eq!(rx.try_recv(), Ok(1)); // nothing was received
/// ```
pub fn run_ready(
    cases: &[&dyn Case],
    deadline: Option<Instant>,
    nonblocking: bool,
    biased: bool,
) -> Option<usize> {
    run(cases, deadline, nonblocking, biased, Goal::Ready)
}

fn run(
    cases: &[&dyn Case],
    deadline: Option<Instant>,
    nonblocking: bool,
    biased: bool,
    goal: Goal,
) -> Option<usize> {
    // Every runtime call is a preemption point (DESIGN §3): a coroutine whose slice is over
    // yields here, even if a case is ready (a select in a loop that never blocks).
    #[cfg(not(loom))]
    green::preempt_point();
    let poll = |order: &[usize]| {
        order.iter().copied().find(|&i| match goal {
            Goal::Complete => cases[i].try_complete(),
            Goal::Ready => cases[i].is_ready(),
        })
    };
    let mut registered_once = false;
    loop {
        let order = shuffled(cases.len(), biased);
        if let Some(i) = poll(&order) {
            return Some(i);
        }
        if nonblocking {
            // A second look, in the same order, before answering "nothing ready". One pass
            // can miss a state in which some case was ready at every instant: case A polled
            // empty just before a value arrived there, case B polled empty just after its
            // value was taken. Whoever made that change has to make another before a second
            // pass in the same order misses both again. crossbeam-channel gives its
            // non-blocking select the same guarantee, with a registration pass.
            return poll(&order);
        }
        if registered_once && deadline.is_some_and(|d| Instant::now() >= d) {
            return None;
        }
        // With a deadline that has passed already (`default(Duration::ZERO)`), still register
        // once: a registered waiter is claimed by any change on that channel from then on, so
        // the change that slipped between two polls (see the non-blocking case) is seen.
        registered_once = true;
        // Park until the earliest of our deadline and the cases' own (timers).
        let wake_at = cases
            .iter()
            .filter_map(|c| c.deadline())
            .chain(deadline)
            .min();
        let waiter = OwnedWaiter::new(false);
        let mut registered = Registered {
            cases,
            order: &order,
            count: 0,
            waiter: &waiter,
            goal,
        };
        let mut ready = false;
        for &i in order.iter() {
            let now_ready = match goal {
                Goal::Complete => cases[i].register(&waiter, i),
                Goal::Ready => cases[i].watch(&waiter, i),
            };
            if now_ready {
                ready = true;
                break;
            }
            registered.count += 1;
        }
        #[cfg(not(loom))]
        let _waiting = green::waiting_on(green::WaitReason::Select);
        let outcome = if ready {
            if waiter.try_abort() {
                None
            } else {
                // Claimed for a case registered before the ready one.
                waiter.wait(None)
            }
        } else {
            waiter.wait(wake_at)
        };
        drop(registered);
        drop(waiter);
        match (goal, outcome) {
            // The claimer completed case `k`.
            (Goal::Complete, Some(k)) => return Some(k),
            // An observer woken for case `k` polls again: the change may have been undone
            // already (another party took the value), and then it waits on.
            (Goal::Ready, Some(_)) => continue,
            // A case looked ready while registering, a timer case came due, or our own
            // deadline passed: the next round polls (and returns `None` past the deadline,
            // once it has registered).
            (_, None) => continue,
        }
    }
}
