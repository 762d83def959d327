//! Time as channels: `after`/`at` deliver one instant, `tick` one per period.
//!
//! Neither has a sender, a buffer, a coroutine or a timer of its own. Like crossbeam-channel's
//! `at` and `tick` flavors, each is a few words of state read against the clock when someone
//! looks: a receive is ready once the due instant has passed. Whoever has to wait for one (a
//! blocking `recv`, or a select that includes it) parks until the due instant with
//! `green::park_deadline`, that is, with one entry in its worker's timer heap for the length of
//! that wait (on a plain thread, `std::thread::park_timeout`). So an `after` nobody waits on
//! costs an allocation and nothing else, a dropped one releases everything at once, and
//! `after(Duration::MAX)` is `never()`.
//!
//! The value is made by a function pointer kept with the state (the identity on `Instant`),
//! which is how a `Receiver<T>` can hold a timer without knowing that `T` is `Instant`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use green::CachedArc;
use select::RecvTimeoutError;

use crate::handles::{never, Flavor, Receiver};

/// The state of an `after`/`at` channel: one instant, delivered once to one receiver.
pub(crate) struct At<T> {
    due: Instant,
    taken: AtomicBool,
    make: fn(Instant) -> T,
}

/// The state of a `tick` channel: the next due instant, as nanoseconds since `start`
/// (`NEVER` once past what a `u64` holds, some 584 years), moved on by whoever takes a tick.
pub(crate) struct Tick<T> {
    start: Instant,
    next: AtomicU64,
    period: u64,
    make: fn(Instant) -> T,
}

const NEVER: u64 = u64::MAX;

fn identity(t: Instant) -> Instant {
    t
}

/// Sleeps until `until`, or until woken if `None` (possibly spuriously; callers loop). Through
/// `green::sleep`: the worker's timer heap in a coroutine, `thread::sleep` on a thread.
fn sleep_until(until: Option<Instant>) {
    match until {
        Some(t) => {
            let now = Instant::now();
            if t > now {
                green::sleep(t - now);
            }
        }
        None => green::park(),
    }
}

/// The earlier of two optional instants, `None` standing for "never".
fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

impl<T> At<T> {
    /// Takes the instant if it is due and nobody took it yet.
    pub(crate) fn try_take(&self) -> Option<T> {
        if self.taken.load(Ordering::Relaxed) || Instant::now() < self.due {
            return None;
        }
        if self.taken.swap(true, Ordering::AcqRel) {
            return None;
        }
        Some((self.make)(self.due))
    }

    pub(crate) fn is_ready(&self) -> bool {
        !self.taken.load(Ordering::Acquire) && Instant::now() >= self.due
    }

    /// When it becomes ready; `None` once taken (it never is again).
    pub(crate) fn deadline(&self) -> Option<Instant> {
        (!self.taken.load(Ordering::Acquire)).then_some(self.due)
    }

    pub(crate) fn recv_until(&self, deadline: Option<Instant>) -> Result<T, RecvTimeoutError> {
        loop {
            if let Some(v) = self.try_take() {
                return Ok(v);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(RecvTimeoutError::Timeout);
            }
            sleep_until(earliest(self.deadline(), deadline));
        }
    }
}

impl<T> Tick<T> {
    fn ns_since_start(&self, t: Instant) -> u64 {
        let ns = t.saturating_duration_since(self.start).as_nanos();
        u64::try_from(ns).unwrap_or(NEVER - 1).min(NEVER - 1)
    }

    fn instant(&self, ns: u64) -> Option<Instant> {
        if ns == NEVER {
            return None;
        }
        self.start.checked_add(Duration::from_nanos(ns))
    }

    /// Takes the oldest due tick, if one is due, and moves the next one to the first period
    /// boundary after now: the ticks missed meanwhile are dropped.
    pub(crate) fn try_take(&self) -> Option<T> {
        let now = self.ns_since_start(Instant::now());
        let mut due = self.next.load(Ordering::Acquire);
        loop {
            if due == NEVER || now < due {
                return None;
            }
            // A zero period is always due again; otherwise skip to the first boundary after
            // now (saturating at `NEVER`).
            let next = match (now - due).checked_div(self.period) {
                None => now,
                Some(missed) => self.period.saturating_mul(missed + 1).saturating_add(due),
            };
            match self
                .next
                .compare_exchange_weak(due, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return self.instant(due).map(self.make),
                Err(d) => due = d,
            }
        }
    }

    pub(crate) fn is_ready(&self) -> bool {
        let due = self.next.load(Ordering::Acquire);
        due != NEVER && self.ns_since_start(Instant::now()) >= due
    }

    /// When the next tick is due.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.instant(self.next.load(Ordering::Acquire))
    }

    pub(crate) fn recv_until(&self, deadline: Option<Instant>) -> Result<T, RecvTimeoutError> {
        loop {
            if let Some(v) = self.try_take() {
                return Ok(v);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(RecvTimeoutError::Timeout);
            }
            sleep_until(earliest(self.deadline(), deadline));
        }
    }
}

/// A channel that delivers one instant, `d` from now: the instant it was due (`now + d`), not
/// the later one at which it is received. It then stays open and empty for good, as Go's
/// `time.After` and crossbeam-channel's `after`: a select loop over a spent `after` blocks
/// on its other arms, it does not spin.
///
/// No timer exists until someone waits on the channel, and only while they wait (see the
/// module doc); dropping the receiver releases everything. `after(Duration::ZERO)` is ready
/// the first time a select looks; `after(Duration::MAX)` (or any `d` past what an `Instant`
/// can hold) is [`never()`](crate::never).
///
/// ```
/// use std::time::{Duration, Instant};
/// let start = Instant::now();
/// let timer = greenchan::chan::after(Duration::from_millis(5));
/// let at = timer.recv().unwrap();
/// assert!(at >= start + Duration::from_millis(5));
/// // One instant only: the channel stays open and empty.
/// assert!(timer.try_recv().unwrap_err().is_empty());
/// assert!(!timer.is_closed());
/// ```
pub fn after(d: Duration) -> Receiver<Instant> {
    match Instant::now().checked_add(d) {
        Some(when) => at(when),
        None => never(),
    }
}

/// A channel that delivers one instant, `when` (at once if it has passed); otherwise as
/// [`after`].
///
/// ```
/// use std::time::{Duration, Instant};
/// let when = Instant::now() + Duration::from_millis(2);
/// assert_eq!(greenchan::chan::at(when).recv(), Ok(when));
/// ```
pub fn at(when: Instant) -> Receiver<Instant> {
    Receiver::from_flavor(Flavor::At(CachedArc::new(At {
        due: when,
        taken: AtomicBool::new(false),
        make: identity,
    })))
}

/// A channel that delivers an instant every `d`: each is the instant the tick was due
/// (`start + n * d`), not the later one at which it is received. Like Go's ticker it holds at
/// most one tick: a receiver that falls behind gets the oldest tick it missed, and the ones
/// after it are dropped; the next is due at the first period boundary after that receive.
/// Ticks are shared by clones of the receiver, one tick to one receiver. It never closes.
///
/// As for [`after`], no timer runs in the background: a tick is computed from the clock when
/// someone looks, and only a receiver that waits parks on its worker's timers. The first tick
/// is due `d` from now; `tick(Duration::ZERO)` is always ready (each receive delivers the
/// instant of the one before), and a `d` past what an `Instant` can hold gives
/// [`never()`](crate::never).
///
/// ```
/// use std::time::{Duration, Instant};
/// let start = Instant::now();
/// let ticks = greenchan::chan::tick(Duration::from_millis(1));
/// let a = ticks.recv().unwrap();
/// let b = ticks.recv().unwrap();
/// assert!(a >= start + Duration::from_millis(1));
/// assert!(b > a);
/// ```
pub fn tick(d: Duration) -> Receiver<Instant> {
    let start = Instant::now();
    if start.checked_add(d).is_none() {
        return never();
    }
    let period = u64::try_from(d.as_nanos()).unwrap_or(NEVER);
    Receiver::from_flavor(Flavor::Tick(CachedArc::new(Tick {
        start,
        next: AtomicU64::new(period),
        period,
        make: identity,
    })))
}
