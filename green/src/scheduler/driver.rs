//! The hook through which an I/O driver (greenchan's netpoller) takes the place of an idle
//! worker's sleep, as Go's `netpoll` does in `findrunnable`.
//!
//! green cannot depend on the netpoller (the dependency points the other way), so the poller
//! installs itself here, once per process, as an [`IdleDriver`]. From then on a worker with
//! nothing to do, instead of sleeping on its condition variable, polls the driver with a
//! timeout equal to its runtime's next timer, provided no other thread is polling already (one
//! process-wide flag: an OS poll is a single queue, one blocked poller is enough). Whoever
//! wakes that worker (new work, shutdown) calls [`IdleDriver::wake`] to break the poll. Busy
//! workers also poll without blocking from time to time, so a runtime with no idle worker
//! still sees its I/O. The driver wakes the coroutines whose I/O is ready with
//! [`Coroutine::unpark`](crate::Coroutine::unpark), which queues each on its own runtime.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// An I/O event source that idle workers poll instead of sleeping.
///
/// `poll` waits for I/O readiness for at most `timeout` (`None`: until an event or a `wake`),
/// unparks the coroutines waiting for what became ready, and returns. It must return promptly
/// after `wake` (even a `wake` that came before the `poll` began), and may return early.
///
/// ```
/// use green::driver::IdleDriver;
/// use std::time::Duration;
///
/// /// A driver with no I/O: its poll just waits out the timeout (capped, so a `wake` that it
/// /// ignores costs at most a millisecond).
/// struct NoIo;
/// impl IdleDriver for NoIo {
///     fn poll(&self, timeout: Option<Duration>) {
///         let cap = Duration::from_millis(1);
///         std::thread::sleep(timeout.map_or(cap, |t| t.min(cap)));
///     }
///     fn wake(&self) {}
/// }
/// let driver = NoIo;
/// driver.poll(Some(Duration::ZERO)); // returns at once
/// driver.wake();
/// ```
pub trait IdleDriver: Send + Sync {
    /// Waits for I/O readiness for at most `timeout` and wakes the coroutines it concerns.
    fn poll(&self, timeout: Option<Duration>);
    /// Makes a running or the next `poll` return soon.
    fn wake(&self);

    /// How many coroutines the driver has woken so far, for metrics (0 if it does not count).
    fn wakeups(&self) -> u64 {
        0
    }

    /// Whether a coroutine waits on the driver now (for deadlock detection: such a coroutine
    /// can still be woken by I/O). A driver that cannot tell keeps the default, `true`.
    fn has_waiters(&self) -> bool {
        true
    }
}

static DRIVER: OnceLock<&'static dyn IdleDriver> = OnceLock::new();
/// Set while one thread is inside `IdleDriver::poll` on behalf of the scheduler.
static POLLING: AtomicBool = AtomicBool::new(false);
/// When a poll last ended, in microseconds since `epoch()`.
static LAST_POLL: AtomicU64 = AtomicU64::new(0);

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn micros_now() -> u64 {
    epoch().elapsed().as_micros() as u64
}

/// Installs the process's I/O driver; idle workers of every runtime poll it from then on.
/// Fails (handing the driver back) if one is already installed.
///
/// ```
/// use std::time::Duration;
///
/// struct Quiet;
/// impl green::driver::IdleDriver for Quiet {
///     fn poll(&self, timeout: Option<Duration>) {
///         // A real driver blocks in epoll_wait or similar; this one just waits.
///         std::thread::sleep(timeout.unwrap_or(Duration::from_millis(1)).min(Duration::from_millis(1)));
///     }
///     fn wake(&self) {}
/// }
/// static QUIET: Quiet = Quiet;
/// // In this doctest's process nothing else has installed one.
/// assert!(green::driver::install(&QUIET).is_ok());
/// assert!(green::driver::install(&QUIET).is_err());
/// assert_eq!(greenchan::spawn(|| 1).join().unwrap(), 1);
/// ```
pub fn install(driver: &'static dyn IdleDriver) -> Result<(), &'static dyn IdleDriver> {
    DRIVER.set(driver)
}

/// Coroutines the installed driver has woken so far (0 without one).
pub(crate) fn wakeups() -> u64 {
    installed().map_or(0, |d| d.wakeups())
}

/// Whether a coroutine waits on the installed driver (false without one).
pub(crate) fn has_waiters() -> bool {
    installed().is_some_and(|d| d.has_waiters())
}

/// The installed driver, if any.
pub(crate) fn installed() -> Option<&'static dyn IdleDriver> {
    DRIVER.get().copied()
}

/// The installed driver, if there is one and nobody else is polling it; the caller polls it
/// and then calls `end_poll`.
pub(crate) fn begin_poll() -> Option<&'static dyn IdleDriver> {
    let driver = installed()?;
    POLLING
        .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
        .ok()?;
    Some(driver)
}

pub(crate) fn end_poll() {
    LAST_POLL.store(micros_now(), Ordering::Relaxed);
    POLLING.store(false, Ordering::Release);
}

/// True if a driver is installed, nobody polls it now, and nobody has for `for_at_least`:
/// every worker that would poll it is busy or stuck, so a worker must be found for it (the
/// monitor's rescue).
pub(crate) fn starved(for_at_least: Duration) -> bool {
    if installed().is_none() || POLLING.load(Ordering::Relaxed) {
        return false;
    }
    let last = LAST_POLL.load(Ordering::Relaxed);
    micros_now().saturating_sub(last) >= for_at_least.as_micros() as u64
}

/// A non-blocking poll if a driver is installed and idle; cheap when there is none or when
/// another thread polls already. True if it polled.
pub(crate) fn poll_now() -> bool {
    if installed().is_none() || POLLING.load(Ordering::Relaxed) {
        return false;
    }
    if let Some(driver) = begin_poll() {
        driver.poll(Some(Duration::ZERO));
        end_poll();
        return true;
    }
    false
}
