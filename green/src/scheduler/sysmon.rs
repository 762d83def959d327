//! The monitor thread (Go's `sysmon`): notices a coroutine that has run longer than its time
//! slice, asks it to yield, and rescues the work of a worker that stays stuck in one.
//!
//! Each worker publishes, per resumption, a switch counter and whether it is running a
//! coroutine. Every quarter slice the monitor samples them, and also at the moment a running
//! coroutine's slice ends if that comes sooner: a worker that is running and whose counter has
//! not moved for a whole slice gets its preempt flag set, which the coroutine's
//! next preemption point (`preempt_point`, and every runtime call that checks it) sees with a
//! single load. Sampling instead of timestamping keeps the switch path free of clock reads.
//!
//! Such a worker is also *stuck*: the coroutine may never reach a preemption point (a loop
//! with no greenchan call, a blocking system call, a std lock, a C library). Its started
//! coroutines must wait for it (they stay on their thread), but everything on it that may
//! move is rescued (`Shared::rescue`): idle workers are woken for it, and when none is left,
//! spare workers are started, as Go's `sysmon` hands the P of a blocked M to another M.
//!
//! Only for a coroutine that opted in to asynchronous preemption (the `unsafe`
//! `allow_async_preemption`, `preempt/`) does the monitor also signal the worker thread, so a
//! loop with no preemption point yields too: the handler reads the same flag, and leaves it
//! set for the next preemption point when it cannot act. By default no signal is ever sent.
//!
//! An idle runtime must use no CPU, so after a run of samples in which nothing ran, the monitor
//! sleeps until a worker wakes up and tells it (`worker_woke`, on the wake path only, never on
//! the switch path).

use std::sync::atomic::{fence, AtomicBool, AtomicI32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::locking::{lock, lock_plain};
use crate::scheduler::Shared;

/// Samples with nothing running before the monitor goes to sleep.
const IDLE_SAMPLES: u32 = 20;

/// What a worker tells the monitor about itself; one per worker, written by that worker.
#[derive(Default)]
pub(crate) struct SliceState {
    /// The resumption count, shifted left once; the low bit says whether the running
    /// coroutine may be preempted asynchronously.
    switches: AtomicU64,
    running: AtomicBool,
    preempt: AtomicBool,
    /// The worker's thread, for the preemption signal; 0 when it may not be signalled.
    thread: AtomicUsize,
    /// Set by the monitor while it signals `thread`; the worker waits for it to clear before
    /// its thread may exit (so the monitor never signals a thread that is gone).
    signalling: AtomicBool,
    /// The worker thread's kernel id (Linux), for its scheduler statistics; 0 if unknown.
    tid: AtomicI32,
    /// Written by the monitor, for `dump`: the `switches` word of the resumption it last saw
    /// begin, and when (the runtime's clock, at the sample before). The switch path itself
    /// reads no clock for diagnostics.
    seen_switches: AtomicU64,
    seen_since: AtomicU64,
}

impl SliceState {
    /// The worker is about to resume its `n`th coroutine, which may be preempted
    /// asynchronously if `async_ok`.
    #[inline]
    pub(crate) fn begin(&self, n: u64, async_ok: bool) {
        self.switches
            .store(n << 1 | u64::from(async_ok), Ordering::Relaxed);
        self.running.store(true, Ordering::Relaxed);
    }

    /// The resumption count and whether a coroutine is running, for a thief deciding whether
    /// the worker is busy.
    #[inline]
    pub(crate) fn sample(&self) -> (u64, bool) {
        (
            self.switches.load(Ordering::Relaxed) >> 1,
            self.running.load(Ordering::Relaxed),
        )
    }

    /// The coroutine switched out.
    #[inline]
    pub(crate) fn end(&self) {
        self.running.store(false, Ordering::Relaxed);
        self.preempt.store(false, Ordering::Relaxed);
    }

    /// Whether the monitor asked the running coroutine to yield (read by the signal handler).
    #[inline]
    #[cfg_attr(
        not(all(target_os = "linux", target_arch = "x86_64")),
        allow(dead_code)
    )]
    pub(crate) fn preempt_requested(&self) -> bool {
        self.preempt.load(Ordering::Relaxed)
    }

    /// Records the calling thread's kernel id, for `cpu_starved` (Linux only).
    pub(crate) fn publish_tid(&self) {
        #[cfg(target_os = "linux")]
        // SAFETY: `gettid` has no preconditions.
        self.tid.store(unsafe { libc::gettid() }, Ordering::Relaxed);
    }

    /// Makes this worker's thread signallable by the monitor.
    pub(crate) fn publish_thread(&self, thread: usize) {
        self.thread.store(thread, Ordering::SeqCst);
    }

    /// Withdraws the thread before it exits, waiting out a signal being sent to it.
    pub(crate) fn withdraw_thread(&self) {
        self.thread.store(0, Ordering::SeqCst);
        while self.signalling.load(Ordering::SeqCst) {
            std::hint::spin_loop();
        }
    }

    /// Sends the preemption signal to the worker's thread, if it is published.
    fn signal(&self) {
        // Dekker-style with `withdraw_thread`: either we see the thread withdrawn, or it sees
        // `signalling` and waits until the signal is sent.
        self.signalling.store(true, Ordering::SeqCst);
        let thread = self.thread.load(Ordering::SeqCst);
        if thread != 0 {
            // SAFETY: a published thread has not passed `withdraw_thread`, which it must
            // before exiting, and cannot until `signalling` is clear again.
            unsafe { crate::scheduler::preempt::signal_thread(thread) };
        }
        self.signalling.store(false, Ordering::SeqCst);
    }

    /// The monitor saw resumption `switches` (the raw word) begin, after the sample at `at`.
    fn saw(&self, switches: u64, at: u64) {
        self.seen_since.store(at, Ordering::Relaxed);
        self.seen_switches.store(switches, Ordering::Release);
    }

    /// Since when (the runtime's clock) the running coroutine has run, if the monitor has
    /// sampled it yet; if not, it began after the monitor's last sample. For diagnostics: a
    /// read racing a switch may pair the new coroutine with the old time.
    pub(crate) fn running_since(&self) -> Option<u64> {
        let seen = self.seen_switches.load(Ordering::Acquire);
        let at = self.seen_since.load(Ordering::Relaxed);
        (seen == self.switches.load(Ordering::Relaxed)).then_some(at)
    }

    /// The request flag, for the worker thread's quick check (`context::slice_flag_raised`).
    pub(crate) fn preempt_flag(&self) -> *const AtomicBool {
        &self.preempt
    }

    /// Consumes a pending request to yield.
    #[inline]
    pub(crate) fn take_preempt(&self) -> bool {
        self.preempt.load(Ordering::Relaxed) && self.preempt.swap(false, Ordering::Relaxed)
    }
}

/// The monitor's own state, shared with the workers.
#[derive(Default)]
pub(crate) struct Monitor {
    /// Set by the monitor before it sleeps; a waking worker that sees it wakes the monitor.
    asleep: AtomicBool,
    /// Set by a waking worker; the monitor checks it after announcing its sleep.
    woken: AtomicBool,
    /// `true` once the monitor must stop or wake.
    signal: Mutex<bool>,
    condvar: Condvar,
}

impl Monitor {
    /// Called by a worker that just found work after being idle.
    pub(crate) fn worker_woke(&self) {
        // Already set: the monitor has not consumed it, so its next decision to sleep sees it
        // (only the monitor clears it). Skipping the store keeps busy workers from bouncing
        // this line between cores on every steal.
        if self.woken.load(Ordering::Relaxed) {
            return;
        }
        self.woken.store(true, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        if self.asleep.load(Ordering::SeqCst) {
            self.wake();
        }
    }

    /// Wakes the monitor (from its idle sleep or its tick wait).
    pub(crate) fn wake(&self) {
        *lock(&self.signal) = true;
        self.condvar.notify_one();
    }

    /// Waits for `timeout` (or forever) unless woken; consumes the wake-up.
    fn wait(&self, timeout: Option<Duration>) {
        let mut signalled = lock_plain(&self.signal);
        let deadline = timeout.map(|t| Instant::now() + t);
        while !*signalled {
            match deadline {
                None => {
                    signalled = self
                        .condvar
                        .wait(signalled)
                        .unwrap_or_else(PoisonError::into_inner)
                }
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        break;
                    }
                    signalled = self
                        .condvar
                        .wait_timeout(signalled, d - now)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                }
            }
        }
        *signalled = false;
    }
}

/// A thread's time on a CPU and waiting for one, in nanoseconds (`/proc/.../schedstat`).
fn schedstat(tid: i32) -> Option<(u64, u64)> {
    if tid == 0 || !cfg!(target_os = "linux") {
        return None;
    }
    let text = std::fs::read_to_string(format!("/proc/self/task/{tid}/schedstat")).ok()?;
    let mut fields = text.split_whitespace().map(|f| f.parse::<u64>().ok());
    Some((fields.next()??, fields.next()??))
}

/// What the monitor knows of a worker that has stayed inside one coroutine.
#[derive(Clone, Copy)]
struct Overrun {
    /// The worker's switch count, when it was first seen, and when the running coroutine was
    /// last asked to yield.
    switches: u64,
    since: Instant,
    asked: Instant,
    /// The thread's scheduler statistics at half a slice into the overrun.
    baseline: Option<(u64, u64)>,
}

/// True if, since `o.baseline`, the worker's thread waited for a CPU longer than it ran: a
/// loaded machine left it runnable but unscheduled. A thread stuck in a coroutine either runs
/// (a loop with no greenchan call) or sleeps in the kernel (a blocking call, a std lock), and
/// neither is waiting for a CPU. Without the statistics (not Linux), false.
fn cpu_starved(state: &SliceState, o: &Overrun) -> bool {
    let Some((run0, wait0)) = o.baseline else {
        return false;
    };
    let Some((run1, wait1)) = schedstat(state.tid.load(Ordering::Relaxed)) else {
        return false;
    };
    wait1.saturating_sub(wait0) > run1.saturating_sub(run0)
}

/// The monitor thread's body; returns when the runtime shuts down.
pub(crate) fn run(shared: Arc<Shared>) {
    let slice = shared.config.time_slice;
    // A quarter slice: a worker is found stuck at most a quarter slice after its slice ran
    // out, so a coroutine spawned beside stuck workers starts within two slices.
    let tick = (slice / 4).max(Duration::from_micros(250));
    let slots = shared.slot_count();
    let start = Instant::now();
    let mut seen = vec![
        Overrun {
            switches: u64::MAX,
            since: start,
            asked: start,
            baseline: None,
        };
        slots
    ];
    let mut stuck = Vec::new();
    let mut idle_samples = 0;
    let monitor = shared.monitor();
    let async_allowed = crate::scheduler::preempt::enabled_by_env();
    // When the previous sample was taken: a coroutine first seen running now started after it.
    let mut last_sample = start;
    // How long to wait for the next sample: a tick, or less when a running coroutine's slice
    // ends sooner, so it is asked to yield when its slice ends rather than up to a tick later
    // (waits of a tick each would also add their wake-up delays up over a slice).
    let mut wait = tick;
    while !shared.is_shutdown() {
        monitor.wait(Some(wait));
        wait = tick;
        shared.tick_clock();
        let now = Instant::now();
        let previous = std::mem::replace(&mut last_sample, now);
        // (After a late wake-up, a tick's worth before now.)
        let previous = previous.max(now.checked_sub(tick).unwrap_or(now));
        let mut active = false;
        stuck.clear();
        for (i, state) in shared.active_slots() {
            let switches = state.switches.load(Ordering::Relaxed);
            let running = state.running.load(Ordering::Relaxed);
            let o = &mut seen[i];
            if switches != o.switches {
                // The coroutine started somewhere between the two samples; counting from the
                // earlier one makes its slice end between `slice - tick` and `slice` after its
                // start, rather than up to a tick past it (the bound the sleeper of `starve`,
                // under the opt-in, sees directly).
                *o = Overrun {
                    switches,
                    since: previous,
                    asked: previous,
                    baseline: None,
                };
                state.saw(switches, shared.nanos_since_epoch(previous));
                shared.set_stuck(i, false);
                active = true;
            } else if running {
                active = true;
                let overrun = now.duration_since(o.since);
                if o.baseline.is_none() && overrun >= slice / 2 {
                    o.baseline = schedstat(state.tid.load(Ordering::Relaxed));
                }
                // The coroutine is asked to yield once its slice is over (below), and gets a
                // tick to do so (a switch resets this record) before its worker counts as
                // stuck: a rescue in between would hand the worker's due timers to another
                // thread, and the coroutines they wake, started here, would come back to this
                // worker through its inbox, behind the coroutine that just yielded, a slice
                // late.
                if overrun >= slice + tick {
                    if cpu_starved(state, o) {
                        // The thread is waiting for a core, not stuck in its coroutine: another
                        // thread would wait for one too. Look again over the next half slice.
                        o.baseline = schedstat(state.tid.load(Ordering::Relaxed));
                        o.since = now.checked_sub(slice / 2).unwrap_or(now);
                    } else {
                        stuck.push(i);
                        shared.set_stuck(i, true);
                    }
                }
                if now.duration_since(o.asked) >= slice {
                    // Once per slice: a preemption point consumes the request.
                    o.asked = now;
                    state.preempt.store(true, Ordering::Relaxed);
                    if async_allowed && switches & 1 != 0 {
                        state.signal();
                    }
                }
            } else {
                shared.set_stuck(i, false);
            }
            if running {
                // Its next request is due a slice after the last (or after the sample before
                // it started): sample then.
                wait = wait.min((seen[i].asked + slice).saturating_duration_since(now));
            }
        }
        shared.rescue(&stuck, now);
        if active {
            idle_samples = 0;
            continue;
        }
        idle_samples += 1;
        if idle_samples < IDLE_SAMPLES {
            continue;
        }
        // Nothing has run for a while: sleep until a worker wakes up.
        monitor.asleep.store(true, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        if !monitor.woken.swap(false, Ordering::SeqCst) && !shared.is_shutdown() {
            monitor.wait(None);
            shared.tick_clock();
        }
        monitor.asleep.store(false, Ordering::SeqCst);
        monitor.woken.store(false, Ordering::SeqCst);
        idle_samples = 0;
    }
}
