//! The hook through which an I/O driver (greenchan's netpoller) takes the place of an idle
//! worker's sleep, as Go's `netpoll` does in `findrunnable`.
//!
//! green cannot depend on the netpoller (the dependency points the other way), so the poller
//! installs itself here, once per process, as an [`IdleDriver`]. The driver keeps one poller
//! per worker index (worker `i` of every runtime shares poller `i`): a socket is registered
//! with the poller of the worker whose coroutine waits on it, so the events of a worker's
//! sockets reach that worker, and the coroutines they wake (which stay on their thread) need
//! no cross-thread wake-up. A worker with nothing to do, instead of sleeping on its condition
//! variable, blocks in its own poller with a timeout equal to its runtime's next timer;
//! whoever wakes that worker (new work, shutdown) calls [`IdleDriver::wake`] to break the
//! poll. Busy workers poll their own poller without blocking from time to time, and the
//! monitor polls, without blocking, the pollers of workers stuck in one coroutine
//! ([`IdleDriver::rescue`]), so a socket's waiters elsewhere are never held up by them. The
//! driver wakes the coroutines whose I/O is ready with
//! [`Coroutine::unpark`](crate::Coroutine::unpark), which queues each on its own worker.

use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use crate::locking::lock_plain;

/// An I/O event source that idle workers poll instead of sleeping.
///
/// `poll(i, timeout)` waits for readiness on poller `i` (worker index `i`'s) for at most
/// `timeout` (`None`: until an event or a `wake(i)`), unparks the coroutines waiting for what
/// became ready, and returns [`Polled::Yes`]. It must return promptly after `wake(i)` (even a
/// `wake` that came before the poll began), and may return early. If it cannot poll (poller `i`
/// has nothing registered, or another thread polls it) it returns at once, saying why.
///
/// ```
/// use green::driver::{IdleDriver, Polled};
/// use std::time::Duration;
///
/// /// A driver with no I/O: it never has a poller, so idle workers sleep as usual.
/// struct NoIo;
/// impl IdleDriver for NoIo {
///     fn poll(&self, _poller: usize, _timeout: Option<Duration>) -> Polled {
///         Polled::Empty
///     }
///     fn wake(&self, _poller: usize) {}
/// }
/// let driver = NoIo;
/// assert_eq!(driver.poll(0, Some(Duration::ZERO)), Polled::Empty);
/// driver.wake(0);
/// ```
pub trait IdleDriver: Send + Sync {
    /// Waits for I/O readiness on poller `poller` for at most `timeout` and wakes the
    /// coroutines it concerns.
    fn poll(&self, poller: usize, timeout: Option<Duration>) -> Polled;
    /// Makes a running or the next `poll` of `poller` return soon.
    fn wake(&self, poller: usize);

    /// How many coroutines the driver has woken so far, for metrics (0 if it does not count).
    fn wakeups(&self) -> u64 {
        0
    }

    /// Whether a coroutine waits on the driver now (for deadlock detection: such a coroutine
    /// can still be woken by I/O). A driver that cannot tell keeps the default, `true`.
    fn has_waiters(&self) -> bool {
        true
    }

    /// Polls without blocking every poller nobody has polled for `stale`: the monitor's
    /// rescue of the I/O registered with a worker that is stuck in one coroutine.
    fn rescue(&self, stale: Duration) {
        let _ = stale;
    }

    /// The last worker with index `poller`, in every runtime, has exited: nobody will poll
    /// that poller any more. The driver moves its registrations to a poller that still has a
    /// worker (see [`attended`]), so their waiters are not left unpolled, and returns that
    /// poller's index (its workers are then woken to poll it).
    fn orphaned(&self, poller: usize) -> Option<usize> {
        let _ = poller;
        None
    }
}

/// What [`IdleDriver::poll`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Polled {
    /// It polled (and may have woken coroutines).
    Yes,
    /// Another thread polls this poller now.
    Busy,
    /// This poller has nothing registered: there is nothing to poll.
    Empty,
}

/// The poller of the worker running the calling coroutine (its index), or `None` on a thread
/// that is not a worker: the poller a socket waited on here should be registered with.
///
/// ```
/// assert_eq!(green::driver::current_poller(), None); // a plain thread
/// let rt = greenchan::Runtime::builder().workers(1).build().unwrap();
/// assert_eq!(rt.run(green::driver::current_poller), Some(0));
/// ```
pub fn current_poller() -> Option<usize> {
    let worker = super::context::worker();
    // SAFETY: a non-null worker pointer is this thread's own worker, set for as long as its
    // loop runs, and the caller runs on this thread inside that loop.
    (!worker.is_null()).then(|| unsafe { (*worker).index })
}

/// Tells the scheduler that the running coroutine is about to park to wait for I/O, not for
/// another coroutine: the coroutines it spawned are then not its partners, and may start on a
/// lighter worker (see `Worker::offer_unstarted`). A hint; nothing on a plain thread.
///
/// ```
/// green::driver::parking_on_io(); // on a plain thread: nothing happens
/// ```
pub fn parking_on_io() {
    let worker = super::context::worker();
    // SAFETY: as in `current_poller`; the cell is this thread's worker's.
    if let Some(worker) = unsafe { worker.as_ref() } {
        worker.io_park.set(true);
    }
}

static DRIVER: OnceLock<&'static dyn IdleDriver> = OnceLock::new();

/// Live workers per worker index, across runtimes (see [`attended`]).
static ATTENDED: Mutex<Vec<usize>> = Mutex::new(Vec::new());

/// Whether some live worker, in any runtime, has index `poller` (and so polls that poller).
///
/// ```
/// let rt = greenchan::Runtime::builder().workers(1).build().unwrap();
/// assert!(rt.run(|| green::driver::attended(0)));
/// ```
pub fn attended(poller: usize) -> bool {
    lock_plain(&ATTENDED).get(poller).is_some_and(|&n| n > 0)
}

/// A worker with index `index` starts its loop.
pub(crate) fn worker_started(index: usize) {
    let mut attended = lock_plain(&ATTENDED);
    if attended.len() <= index {
        attended.resize(index + 1, 0);
    }
    attended[index] += 1;
}

/// A worker with index `index` leaves its loop.
pub(crate) fn worker_exited(index: usize) {
    let last = {
        let mut attended = lock_plain(&ATTENDED);
        match attended.get_mut(index) {
            Some(n) if *n > 0 => {
                *n -= 1;
                *n == 0
            }
            _ => false,
        }
    };
    if last {
        if let Some(to) = installed().and_then(|d| d.orphaned(index)) {
            super::hand_off_poll(to);
        }
    }
}

/// Installs the process's I/O driver; idle workers of every runtime poll it from then on.
/// Fails (handing the driver back) if one is already installed.
///
/// ```
/// use std::time::Duration;
///
/// struct Quiet;
/// impl green::driver::IdleDriver for Quiet {
///     fn poll(&self, _poller: usize, _timeout: Option<Duration>) -> green::driver::Polled {
///         // A real driver blocks in epoll_wait or similar; this one has nothing to poll.
///         green::driver::Polled::Empty
///     }
///     fn wake(&self, _poller: usize) {}
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

/// A non-blocking poll of poller `index`, if a driver is installed and a coroutine waits on
/// it (cheap otherwise). True if it polled.
pub(crate) fn poll_now(index: usize) -> bool {
    match installed() {
        Some(driver) if driver.has_waiters() => {
            driver.poll(index, Some(Duration::ZERO)) == Polled::Yes
        }
        _ => false,
    }
}
