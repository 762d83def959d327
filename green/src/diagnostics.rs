//! What the runtime tells about itself: [`dump`] (every coroutine and what it is doing, as Go
//! prints goroutines on `SIGQUIT`), [`metrics`] and [`Runtime::metrics`](crate::Runtime::metrics)
//! (counters), and the wait reasons blocking calls record so that both can say what a parked
//! coroutine waits on.
//!
//! The scheduler keeps the data as it goes, at a cost meant to stay invisible (one relaxed
//! store on a switch, a registry update the first time a coroutine suspends and when it ends,
//! counters each written by one worker); this module turns it into text and structs.

use std::fmt::Write as _;
use std::time::Duration;

use crate::scheduler::report::{all_runtimes, CoroutineInfo, RuntimeInfo, WorkerInfo};
use crate::scheduler::{context, Shared};
use crate::task::state::Phase;

/// What a parked coroutine waits on, as `dump` reports it. Blocking calls of greenchan's own
/// crates record it before they park (plumbing, doc-hidden); user code never needs to.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
#[non_exhaustive]
pub enum WaitReason {
    /// A bare `park` (the default).
    Park = 1,
    Sleep,
    Join,
    ChanReceive,
    ChanSend,
    Select,
    Mutex,
    RwLock,
    Condvar,
    WaitGroup,
    Semaphore,
    Barrier,
    Once,
    SocketRead,
    SocketWrite,
    Accept,
    Connect,
    Future,
}

impl WaitReason {
    const ALL: [WaitReason; 18] = [
        WaitReason::Park,
        WaitReason::Sleep,
        WaitReason::Join,
        WaitReason::ChanReceive,
        WaitReason::ChanSend,
        WaitReason::Select,
        WaitReason::Mutex,
        WaitReason::RwLock,
        WaitReason::Condvar,
        WaitReason::WaitGroup,
        WaitReason::Semaphore,
        WaitReason::Barrier,
        WaitReason::Once,
        WaitReason::SocketRead,
        WaitReason::SocketWrite,
        WaitReason::Accept,
        WaitReason::Connect,
        WaitReason::Future,
    ];

    fn from_code(code: u8) -> WaitReason {
        Self::ALL
            .into_iter()
            .find(|r| *r as u8 == code)
            .unwrap_or(WaitReason::Park)
    }

    /// How `dump` names it (Go's words where Go has them).
    pub fn describe(self) -> &'static str {
        match self {
            WaitReason::Park => "park",
            WaitReason::Sleep => "sleep",
            WaitReason::Join => "join",
            WaitReason::ChanReceive => "chan receive",
            WaitReason::ChanSend => "chan send",
            WaitReason::Select => "select",
            WaitReason::Mutex => "mutex",
            WaitReason::RwLock => "rwlock",
            WaitReason::Condvar => "condvar",
            WaitReason::WaitGroup => "wait group",
            WaitReason::Semaphore => "semaphore",
            WaitReason::Barrier => "barrier",
            WaitReason::Once => "once",
            WaitReason::SocketRead => "socket read",
            WaitReason::SocketWrite => "socket write",
            WaitReason::Accept => "accept",
            WaitReason::Connect => "connect",
            WaitReason::Future => "future",
        }
    }

    /// Whether a coroutine parked on this could still be woken by a timer or by the I/O
    /// poller rather than by another coroutine or thread.
    pub(crate) fn is_external(self) -> bool {
        matches!(
            self,
            WaitReason::Sleep
                | WaitReason::SocketRead
                | WaitReason::SocketWrite
                | WaitReason::Accept
                | WaitReason::Connect
                | WaitReason::Future
        )
    }
}

/// Says what the running coroutine waits on, for `dump` and the deadlock report, until the
/// returned guard is dropped (which restores what was said before, so guards nest). Does
/// nothing on a plain thread. Plumbing for greenchan's own blocking calls (doc-hidden): each
/// wraps its whole wait in one.
///
/// ```
/// greenchan::spawn(|| {
///     let _waiting = green::waiting_on(green::WaitReason::ChanReceive);
///     greenchan::park_timeout(std::time::Duration::from_millis(1));
/// })
/// .join()
/// .unwrap();
/// ```
#[doc(hidden)]
#[inline]
pub fn waiting_on(reason: WaitReason) -> WaitingOn {
    let task = context::current_task();
    // SAFETY: a non-null current task is the running coroutine, alive while it runs.
    let previous = match unsafe { task.as_ref() } {
        Some(task) => {
            let previous = task.wait_reason();
            task.set_wait_reason(reason as u8);
            previous
        }
        None => NOT_A_COROUTINE,
    };
    WaitingOn {
        previous,
        _not_send: std::marker::PhantomData,
    }
}

/// `WaitingOn::previous` on a plain thread: nothing to restore.
const NOT_A_COROUTINE: u8 = u8::MAX;

/// The guard of [`waiting_on`]. Not `Send`: it belongs to the coroutine that made it.
#[doc(hidden)]
#[must_use = "the wait reason holds only while the guard is alive"]
pub struct WaitingOn {
    previous: u8,
    _not_send: std::marker::PhantomData<*const ()>,
}

impl Drop for WaitingOn {
    #[inline]
    fn drop(&mut self) {
        if self.previous == NOT_A_COROUTINE {
            return;
        }
        let task = context::current_task();
        // SAFETY: as in `waiting_on`: the guard is dropped by the coroutine that made it (it is
        // not `Send`), which is running.
        if let Some(task) = unsafe { task.as_ref() } {
            task.set_wait_reason(self.previous);
        }
    }
}

/// Text for a duration in a report: milliseconds below ten seconds, seconds above.
fn human(d: Duration) -> String {
    if d < Duration::from_secs(10) {
        format!("{} ms", d.as_millis())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

/// One line of a dump for a coroutine (without indentation or newline).
pub(crate) fn describe_coroutine(c: &CoroutineInfo) -> String {
    let mut line = format!("coroutine {}", c.id);
    if let Some(name) = &c.name {
        let _ = write!(line, " '{name}'");
    }
    let reason = WaitReason::from_code(c.wait);
    let state = match c.phase {
        _ if c.running => "running".to_string(),
        Phase::Parked if reason == WaitReason::Sleep => match c.wait_deadline {
            Some(d) => format!("sleeping, wakes in {}", human(d)),
            None => "sleeping".to_string(),
        },
        Phase::Parked => match c.wait_deadline {
            Some(d) => format!(
                "parked on {} (times out in {})",
                reason.describe(),
                human(d)
            ),
            None => format!("parked on {}", reason.describe()),
        },
        Phase::Blocking => format!(
            "blocking its worker's thread on {} (panicking)",
            reason.describe()
        ),
        Phase::Active => "runnable".to_string(),
        Phase::Done => "ended".to_string(),
    };
    let _ = write!(line, ": {state}");
    match c.worker {
        Some(w) if c.running => {
            let _ = write!(line, " on worker {w}");
        }
        Some(w) => {
            let _ = write!(line, ", worker {w}");
        }
        None => line.push_str(", may migrate"),
    }
    if !c.running {
        if let Some(ago) = c.last_ran {
            let _ = write!(line, ", last ran {} ago", human(ago));
        }
    }
    line
}

fn describe_worker(w: &WorkerInfo) -> String {
    let kind = if w.spare { "spare worker" } else { "worker" };
    let mut line = format!("{kind} {}: ", w.index);
    match w.running {
        Some((id, for_)) if w.stuck => {
            let _ = write!(
                line,
                "stuck in coroutine {id} for {} (no greenchan call)",
                human(for_)
            );
        }
        Some((id, for_)) => {
            let _ = write!(line, "running coroutine {id} for {}", human(for_));
        }
        None if w.asleep => line.push_str("asleep"),
        None => line.push_str("looking for work"),
    }
    if w.unstarted > 0 {
        let _ = write!(line, "; {} coroutines queued, not started", w.unstarted);
    }
    if w.inbox > 0 {
        let _ = write!(line, "; {} woken by other threads, not run yet", w.inbox);
    }
    line
}

/// The dump of one runtime, numbered `number`.
pub(crate) fn describe_runtime(number: usize, info: &RuntimeInfo) -> String {
    let alive = info.spawned.saturating_sub(info.finished + info.discarded);
    let mut out = format!(
        "greenchan runtime {number}: {} workers, {} spare; {alive} coroutines alive{}\n",
        info.workers,
        info.spares,
        if info.shutdown {
            " (shutting down)"
        } else {
            ""
        }
    );
    for w in &info.worker_info {
        let _ = writeln!(out, "  {}", describe_worker(w));
    }
    if info.global_queue > 0 {
        let _ = writeln!(
            out,
            "  global queue: {} coroutines not started",
            info.global_queue
        );
    }
    for c in &info.coroutines {
        let _ = writeln!(out, "  {}", describe_coroutine(c));
    }
    let listed = info.coroutines.len() as u64;
    let running_unlisted = info
        .worker_info
        .iter()
        .filter(|w| {
            w.running
                .is_some_and(|(id, _)| !info.coroutines.iter().any(|c| c.id == id))
        })
        .count() as u64;
    if alive > listed + running_unlisted {
        let _ = writeln!(
            out,
            "  ({} more have not suspended yet: queued to start, or just started)",
            alive - listed - running_unlisted
        );
    }
    out
}

/// Lists every live coroutine of every runtime of the process: its id, name, state (running
/// on which worker, runnable, parked on what, sleeping until when) and how long ago it last
/// ran, after one line per worker (running what, for how long, or asleep). As Go prints its
/// goroutines on `SIGQUIT`; [`RuntimeBuilder::dump_on_sigquit`](crate::RuntimeBuilder::dump_on_sigquit)
/// prints this there.
///
/// A coroutine appears once it has suspended (blocked, yielded or been preempted) for the
/// first time, or while it runs; coroutines spawned and not started yet are counted, per queue,
/// not listed one by one. The dump is taken without stopping the runtime, so it is a snapshot
/// of a moving system, like a `ps` listing.
///
/// ```
/// let h = greenchan::Builder::new()
///     .name("waiter".into())
///     .spawn(|| greenchan::park_timeout(std::time::Duration::from_secs(60)))
///     .unwrap();
/// // Wait until it has parked, then look.
/// let mut text = String::new();
/// for _ in 0..10_000 {
///     text = greenchan::dump();
///     if text.contains("'waiter': parked") {
///         break;
///     }
///     std::thread::yield_now();
/// }
/// assert!(text.contains("coroutine") && text.contains("'waiter': parked on park"), "{text}");
/// h.coroutine().unpark();
/// h.join().unwrap();
/// ```
pub fn dump() -> String {
    let mut out = String::new();
    for (number, shared) in all_runtimes().iter().enumerate() {
        out.push_str(&describe_runtime(number + 1, &shared.info(true)));
    }
    if out.is_empty() {
        out.push_str("greenchan: no runtime has started\n");
    }
    out
}

/// Counters of one worker, in [`RuntimeMetrics::workers`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkerMetrics {
    /// The worker's slot: `0..workers` are the runtime's own, higher ones its spare workers.
    pub index: usize,
    /// True for a spare worker (started while workers were stuck).
    pub spare: bool,
    /// True while the monitor finds it stuck inside one coroutine past a time slice.
    pub stuck: bool,
    /// Coroutines switched to so far.
    pub switches: u64,
    /// Of those, switches made directly from a parking coroutine (x86-64).
    pub direct_switches: u64,
    /// Coroutines started on this worker and not ended.
    pub coroutines: usize,
    /// Coroutines queued here that have not started.
    pub unstarted: usize,
    /// Coroutines spawned by code running here, and coroutines that ended here.
    pub spawned: u64,
    pub finished: u64,
    /// Successful steals of unstarted coroutines from other workers.
    pub steals: u64,
    /// Polls of the I/O poller.
    pub polls: u64,
    /// Timed waits this worker ended.
    pub timers_fired: u64,
    /// Yields at a preemption point because a time slice was used up.
    pub slice_yields: u64,
}

/// A runtime's counters, from [`Runtime::metrics`](crate::Runtime::metrics) or [`metrics`].
/// Each count is a sum of counters kept per worker, read without stopping anything.
///
/// ```
/// let rt = greenchan::Runtime::builder().workers(2).build().unwrap();
/// rt.run(|| greenchan::spawn(|| ()).join().unwrap());
/// let m = rt.metrics();
/// assert!(m.spawned >= 2); // the `run` closure and the coroutine it spawned
/// assert_eq!(m.workers.len(), 2);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RuntimeMetrics {
    /// Coroutines spawned on the runtime so far.
    pub spawned: u64,
    /// Coroutines spawned and not ended (running, runnable, parked, or not started).
    pub alive: u64,
    /// Coroutines parked now (among those that have suspended at least once).
    pub parked: usize,
    /// Coroutines runnable now: started ones waiting for their worker, plus unstarted ones.
    pub runnable: usize,
    /// Successful steals of unstarted coroutines between workers.
    pub steals: u64,
    /// Times the monitor woke or started a worker for a stuck worker's movable work.
    pub rescues: u64,
    /// Spare worker threads running now, and started so far.
    pub spare_threads: usize,
    pub spare_threads_started: u64,
    /// Yields at preemption points because a time slice was used up.
    pub slice_yields: u64,
    /// Asynchronous preemptions in the process so far (the `unsafe` opt-in).
    pub async_preemptions: u64,
    /// Polls of the I/O poller by the runtime's workers.
    pub polls: u64,
    /// Coroutines woken by the I/O poller (process-wide; 0 without a poller).
    pub io_wakeups: u64,
    /// Timed waits ended, and timer entries held now (live or stale).
    pub timers_fired: u64,
    pub timers: usize,
    /// One entry per running worker.
    pub workers: Vec<WorkerMetrics>,
}

impl RuntimeMetrics {
    pub(crate) fn of(shared: &Shared) -> RuntimeMetrics {
        let info = shared.info(false);
        let (parked, runnable_started) = shared.count_phases();
        let unstarted: usize =
            info.global_queue + info.worker_info.iter().map(|w| w.unstarted).sum::<usize>();
        let workers: Vec<WorkerMetrics> = info
            .worker_info
            .iter()
            .map(|w| WorkerMetrics {
                index: w.index,
                spare: w.spare,
                stuck: w.stuck,
                switches: w.switches,
                direct_switches: w.direct_switches,
                coroutines: w.live,
                unstarted: w.unstarted,
                spawned: w.spawned,
                finished: w.finished,
                steals: w.steals,
                polls: w.polls,
                timers_fired: w.timers_fired,
                slice_yields: w.slice_yields,
            })
            .collect();
        RuntimeMetrics {
            spawned: info.spawned,
            alive: info.spawned.saturating_sub(info.finished + info.discarded),
            parked,
            runnable: runnable_started + unstarted,
            steals: workers.iter().map(|w| w.steals).sum(),
            rescues: info.rescues,
            spare_threads: info.spares,
            spare_threads_started: info.spares_started,
            slice_yields: workers.iter().map(|w| w.slice_yields).sum(),
            async_preemptions: crate::preempt::async_preemptions(),
            polls: workers.iter().map(|w| w.polls).sum(),
            io_wakeups: crate::scheduler::driver::wakeups(),
            timers_fired: workers.iter().map(|w| w.timers_fired).sum(),
            timers: info.timers,
            workers,
        }
    }
}

/// The counters of the global runtime (starting it if it has not started).
///
/// ```
/// let before = greenchan::metrics().spawned;
/// greenchan::spawn(|| ()).join().unwrap();
/// assert!(greenchan::metrics().spawned > before);
/// ```
pub fn metrics() -> RuntimeMetrics {
    crate::global().metrics()
}

/// Threads of the process that are not greenchan's own, other than `run_waiters` threads
/// blocked in `Runtime::run`: any of them might still wake a coroutine. `None` where the
/// count is unknown (not Linux).
fn foreign_threads(run_waiters: usize) -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let threads: usize = status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))?
        .trim()
        .parse()
        .ok()?;
    Some(threads.saturating_sub(crate::scheduler::internal_threads() + run_waiters))
}

/// Go's "all goroutines are asleep - deadlock!", for a runtime whose `run` closure
/// (coroutine `closure`) is being waited for by `run_waiters` plain threads. `Some` with a
/// fingerprint of the process's activity and the report when nothing in the process can ever
/// wake any of the runtime's coroutines again:
///
/// - every runtime of the process is quiescent: its workers asleep, nothing queued, no timed
///   wait pending;
/// - no coroutine waits on a socket, no blocking job runs or waits, and no thread but
///   greenchan's own and the waiters in `run` exists (any other could still send or unpark);
/// - every coroutine of this runtime is parked on something only another coroutine or
///   thread could end (a channel, a lock, a join...), `closure` among them.
///
/// The caller confirms it: two answers with the same fingerprint, some time apart, saw
/// nothing happen in between.
pub(crate) fn deadlock(shared: &Shared, closure: u64, run_waiters: usize) -> Option<(u64, String)> {
    let mut fingerprint = 0u64;
    for rt in all_runtimes() {
        fingerprint = fingerprint.wrapping_mul(31).wrapping_add(rt.quiescence()?);
    }
    if crate::scheduler::driver::has_waiters()
        || crate::blocking::busy()
        || foreign_threads(run_waiters)? != 0
    {
        return None;
    }
    let info = shared.info(true);
    let alive = info.spawned.saturating_sub(info.finished + info.discarded);
    let asleep = info.coroutines.iter().all(|c| {
        c.phase == Phase::Parked && !c.running && !WaitReason::from_code(c.wait).is_external()
    });
    if !asleep
        || alive != info.coroutines.len() as u64
        || !info.coroutines.iter().any(|c| c.id == closure)
    {
        return None;
    }
    let mut report = format!(
        "greenchan: deadlock: all coroutines of the runtime are asleep, and nothing can wake \
         them ({} blocked):",
        info.coroutines.len()
    );
    for c in &info.coroutines {
        let _ = write!(report, "\n  {}", describe_coroutine(c));
        if c.id == closure {
            report.push_str(" (the closure of `run`)");
        }
    }
    Some((fingerprint, report))
}

/// The write end of the pipe through which the `SIGQUIT` handler wakes the dumping thread.
static SIGQUIT_PIPE: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(-1);

/// The `SIGQUIT` handler: one `write` to the pipe (async-signal-safe); the dump itself, which
/// allocates and locks, happens on the dumping thread.
extern "C" fn on_sigquit(_: libc::c_int, _: *mut libc::siginfo_t, _: *mut libc::c_void) {
    let fd = SIGQUIT_PIPE.load(std::sync::atomic::Ordering::Relaxed);
    if fd >= 0 {
        let byte = 1u8;
        // SAFETY: writing one byte from a live local to a pipe we own; `write` is
        // async-signal-safe, and errno is saved and restored around it for the interrupted code.
        unsafe {
            let errno = errno_location();
            let saved = *errno;
            libc::write(fd, (&byte as *const u8).cast(), 1);
            *errno = saved;
        }
    }
}

/// This thread's `errno`.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn errno_location() -> *mut libc::c_int {
    // SAFETY: no preconditions; async-signal-safe.
    unsafe { libc::__errno_location() }
}

/// This thread's `errno`.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn errno_location() -> *mut libc::c_int {
    // SAFETY: no preconditions; async-signal-safe.
    unsafe { libc::__error() }
}

/// Makes `SIGQUIT` print [`dump`] to stderr and exit the process with status 2, as Go does
/// with its goroutines (`RuntimeBuilder::dump_on_sigquit`). Installed once per process; a
/// `SIGQUIT` handler installed earlier is replaced. False if it could not be installed.
pub(crate) fn install_sigquit_dump() -> bool {
    static INSTALLED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *INSTALLED.get_or_init(|| {
        let mut fds = [0 as libc::c_int; 2];
        // SAFETY: `pipe` writes two descriptors into the array it is given.
        if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
            return false;
        }
        let [read_end, write_end] = fds;
        let dumper = std::thread::Builder::new()
            .name("greenchan-sigquit".into())
            .spawn(move || {
                crate::scheduler::InternalThread::run("SIGQUIT dump", || {
                    let mut byte = 0u8;
                    // SAFETY: reading one byte into a live local from the pipe's read end,
                    // which this thread owns.
                    let n = unsafe { libc::read(read_end, (&mut byte as *mut u8).cast(), 1) };
                    if n == 1 {
                        eprint!("SIGQUIT: greenchan dump\n{}", dump());
                        std::process::exit(2);
                    }
                })
            });
        if dumper.is_err() {
            return false;
        }
        SIGQUIT_PIPE.store(write_end, std::sync::atomic::Ordering::Relaxed);
        // SAFETY: installing a handler for SIGQUIT; `on_sigquit` is async-signal-safe (see
        // there), and the struct is fully initialised before the call.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_sigquit as *const () as usize;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(libc::SIGQUIT, &action, std::ptr::null_mut()) == 0
        }
    })
}

/// Installs, once per process (at the first runtime's start), a panic hook that first names
/// the panicking coroutine, `coroutine 'worker-3' (id 42) panicked at src/main.rs:10:5`, then
/// runs the hook that was there before (std's, which prints the message and names the worker
/// thread, or the program's own). A hook the program sets later replaces this one, as any
/// `set_hook` does.
pub(crate) fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let task = context::current_task();
            // SAFETY: a non-null current task is the running (here: panicking) coroutine,
            // alive while it runs.
            if let Some(task) = unsafe { task.as_ref() } {
                let mut line = String::from("coroutine ");
                if let Some(name) = task.name.as_deref() {
                    let _ = write!(line, "'{name}' ");
                }
                let _ = write!(line, "(id {}) panicked", task.id);
                if let Some(at) = info.location() {
                    let _ = write!(line, " at {at}");
                }
                eprintln!("{line}");
            }
            previous(info);
        }));
    });
}
