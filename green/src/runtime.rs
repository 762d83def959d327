//! Runtimes and spawning: the `Runtime` that owns worker threads, its builder, the lazily
//! started global runtime, and the std-like `Builder`/`spawn` that put coroutines on them.
//!
//! A coroutine spawned from inside a coroutine lands on the runtime that runs the spawner (as
//! `tokio::spawn` does); from a plain thread it lands on the global runtime, which starts on
//! first use with one worker per CPU or `GREENCHAN_WORKERS`. Explicit runtimes coexist with the
//! global one and shut down cleanly: workers finish the coroutine they run, drop what is
//! queued, and exit; spawning afterwards is an error, not a hang.
//!
//! The two ways to trade soundness for Go's scheduling, asynchronous preemption and migration
//! of started coroutines, are `unsafe` methods of the builders: the safe API cannot turn them
//! on, and neither can the environment.

use std::io;
use std::panic;
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use crate::coroutine::Coroutine;
use crate::join::JoinHandle;
use crate::locking::lock;
use crate::mcache::CachedArc;
use crate::scheduler::{self, Config, Shared};
use crate::stack::{self, DEFAULT_STACK_SIZE};
use crate::task::job::{JobCell, PacketOf};
use crate::task::{self, Task};

/// Default time slice after which a running coroutine is preempted.
pub const DEFAULT_TIME_SLICE: Duration = Duration::from_millis(10);

/// Longest time slice a runtime accepts; more is surely a mistake.
pub const MAX_TIME_SLICE: Duration = Duration::from_secs(3600);

/// Most workers a runtime accepts; more is surely a mistake.
pub const MAX_WORKERS: usize = 1024;

/// Default cap on spare worker threads ([`RuntimeBuilder::max_spare_threads`]).
pub const DEFAULT_MAX_SPARE_THREADS: usize = 128;

/// Most spare worker threads a runtime accepts.
pub const MAX_SPARE_THREADS: usize = 4096;

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

/// Configures and starts a [`Runtime`].
///
/// ```
/// use std::time::Duration;
/// let rt = greenchan::Runtime::builder()
///     .workers(2)
///     .stack_size(128 * 1024)
///     .time_slice(Duration::from_millis(5))
///     .build()
///     .unwrap();
/// assert_eq!(rt.run(|| 1 + 1), 2);
/// rt.shutdown().unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct RuntimeBuilder {
    workers: Option<usize>,
    max_spare: usize,
    stack_size: usize,
    time_slice: Duration,
    thread_name: String,
    task_flags: u8,
    dump_on_sigquit: bool,
}

impl Default for RuntimeBuilder {
    fn default() -> Self {
        RuntimeBuilder {
            workers: None,
            max_spare: DEFAULT_MAX_SPARE_THREADS,
            stack_size: DEFAULT_STACK_SIZE,
            time_slice: DEFAULT_TIME_SLICE,
            thread_name: "greenchan-worker".into(),
            task_flags: 0,
            dump_on_sigquit: false,
        }
    }
}

impl RuntimeBuilder {
    /// Number of worker threads (default: one per CPU). Zero is refused by `build`.
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = Some(n);
        self
    }

    /// Default stack size of coroutines spawned without one
    /// ([`DEFAULT_STACK_SIZE`](crate::DEFAULT_STACK_SIZE) by default).
    pub fn stack_size(mut self, size: usize) -> Self {
        self.stack_size = size;
        self
    }

    /// How long a coroutine runs before it is asked to yield at its next preemption point
    /// (`preempt_point` or any runtime call), and how long a worker may stay inside one
    /// coroutine before the work that may move off it is rescued (10 ms by default).
    pub fn time_slice(mut self, slice: Duration) -> Self {
        self.time_slice = slice;
        self
    }

    /// Most spare worker threads the runtime starts while workers are stuck inside
    /// coroutines that do not yield (default [`DEFAULT_MAX_SPARE_THREADS`]; 0 disables
    /// them, and the work of stuck workers then waits for a worker that is not stuck). A
    /// spare retires once it has no coroutine of its own left and has been idle for a second.
    ///
    /// ```
    /// let rt = greenchan::Runtime::builder()
    ///     .workers(1)
    ///     .max_spare_threads(4)
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(rt.run(|| 6 * 7), 42);
    /// ```
    pub fn max_spare_threads(mut self, n: usize) -> Self {
        self.max_spare = n;
        self
    }

    /// Makes `SIGQUIT` (Ctrl-\\ in a terminal, `kill -QUIT`) print [`dump`](crate::dump) (every
    /// coroutine of every runtime, and what it is doing) to stderr and exit the process with
    /// status 2, as Go does with its goroutines. Off by default: the signal then keeps its
    /// default action. The handler is installed once per process and replaces any earlier one.
    ///
    /// ```
    /// let rt = greenchan::Runtime::builder().workers(1).dump_on_sigquit(true).build().unwrap();
    /// assert_eq!(rt.run(|| 1), 1);
    /// ```
    pub fn dump_on_sigquit(mut self, on: bool) -> Self {
        self.dump_on_sigquit = on;
        self
    }

    /// Lets the monitor preempt this runtime's coroutines asynchronously, with a signal, even
    /// in a loop with no preemption point, as Go does since 1.14 (Linux on x86-64; elsewhere,
    /// see [`preempt::is_supported`](crate::scheduler::preempt::is_supported), and with
    /// `GREENCHAN_ASYNCPREEMPT=0`, this does nothing). Without it a coroutine is switched only
    /// at greenchan calls.
    ///
    /// # Safety
    ///
    /// A coroutine of this runtime may then be switched out at any instruction while other
    /// coroutines run on the same thread. The caller promises that while its coroutines may be
    /// preempted they hold no thread-affine state: no `std::sync` lock or guard, no
    /// `println!`/`eprintln!` or other use of std's stdio locks, no borrow of a thread-local
    /// (`thread_local!`, `rand::thread_rng`), no lazily initialised `LazyLock`/`OnceLock` being
    /// initialised, and no allocation through a statically linked `#[global_allocator]`
    /// (mimalloc, jemalloc); sections that need any of these are wrapped in
    /// [`preempt::disable`](crate::scheduler::preempt::disable). It also accepts that a system call made
    /// directly may return `EINTR`. See the `preempt` module.
    ///
    /// ```
    /// // SAFETY: the only coroutine spins on plain arithmetic.
    /// let rt = unsafe { greenchan::Runtime::builder().workers(1).allow_async_preemption() }
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(rt.run(|| (0..1000u64).sum::<u64>()), 499_500);
    /// ```
    pub unsafe fn allow_async_preemption(mut self) -> Self {
        self.task_flags |= task::ASYNC_PREEMPT;
        self
    }

    /// Lets this runtime's coroutines move between worker threads after they started, as
    /// goroutines do: a woken coroutine runs on the worker of whoever woke it, and idle
    /// workers steal runnable ones. Without it a coroutine runs on one thread from its start
    /// to its end.
    ///
    /// # Safety
    ///
    /// A coroutine may then continue on another thread after any greenchan call that can
    /// switch it (every blocking operation, `yield_now`, `sleep`, `preempt_point`). The caller
    /// promises that no coroutine of this runtime keeps thread-affine state across such a
    /// call: no `!Send` value (`Rc`, a `std::sync` guard, a `RefCell` borrow of a
    /// thread-local, a `ThreadRng`), no reference into a thread-local, no value derived from
    /// the thread's identity (`thread::current()`, a thread id cached by a C library), and no
    /// use of a function that touches a thread-local both before and after such a call (LLVM
    /// may compute the thread-local's address once per function).
    ///
    /// ```
    /// // SAFETY: the coroutines keep nothing thread-affine across their calls.
    /// let rt = unsafe { greenchan::Runtime::builder().workers(2).allow_migration() }
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(rt.run(|| { greenchan::yield_now(); 7 }), 7);
    /// ```
    pub unsafe fn allow_migration(mut self) -> Self {
        self.task_flags |= task::MIGRATE;
        self
    }

    /// Name prefix of the worker threads (`greenchan-worker` by default).
    pub fn thread_name(mut self, name: impl Into<String>) -> Self {
        self.thread_name = name.into();
        self
    }

    /// Starts the workers. Fails with `InvalidInput` on zero or too many workers, too many
    /// spare threads, a stack size out of bounds, a time slice of zero or longer than
    /// [`MAX_TIME_SLICE`], or a thread name with a NUL byte; and with the OS error if a thread
    /// cannot start. Nothing accepted here fails later.
    pub fn build(self) -> io::Result<Runtime> {
        let workers = match self.workers {
            Some(0) => return Err(invalid("a runtime needs at least one worker, got 0".into())),
            Some(n) if n > MAX_WORKERS => {
                return Err(invalid(format!(
                    "{n} workers requested; at most {MAX_WORKERS} are supported"
                )))
            }
            Some(n) => n,
            None => default_workers(),
        };
        let stack_size = stack::validate_stack_size(self.stack_size)?;
        if self.time_slice.is_zero() {
            return Err(invalid("the time slice must be longer than zero".into()));
        }
        if self.time_slice > MAX_TIME_SLICE {
            return Err(invalid(format!(
                "a time slice of {:?} was requested; at most {MAX_TIME_SLICE:?} is supported",
                self.time_slice
            )));
        }
        if self.thread_name.contains('\0') {
            return Err(invalid("thread names may not contain NUL bytes".into()));
        }
        if self.max_spare > MAX_SPARE_THREADS {
            return Err(invalid(format!(
                "{} spare threads requested; at most {MAX_SPARE_THREADS} are supported",
                self.max_spare
            )));
        }
        if self.task_flags & task::ASYNC_PREEMPT != 0 {
            crate::scheduler::preempt::install_for_opt_in();
        }
        crate::diagnostics::install_panic_hook();
        if self.dump_on_sigquit && !crate::diagnostics::install_sigquit_dump() {
            return Err(io::Error::other(
                "cannot install the SIGQUIT handler that dumps the coroutines",
            ));
        }
        let config = Config {
            workers,
            max_spare: self.max_spare,
            stack_size,
            time_slice: self.time_slice,
            thread_name: self.thread_name,
            task_flags: self.task_flags,
        };
        let shared = Shared::new(config);
        let mut threads = Vec::with_capacity(workers);
        for index in 0..workers {
            match shared.start_worker(index, false) {
                Ok(handle) => threads.push(handle),
                Err(e) => return Err(abandon(&shared, threads, e)),
            }
        }
        let monitor_shared = shared.clone();
        let monitor = thread::Builder::new()
            .name(format!("{}-sysmon", shared.config.thread_name))
            .spawn(move || {
                crate::scheduler::InternalThread::run("monitor", || {
                    crate::scheduler::sysmon::run(monitor_shared)
                })
            });
        match monitor {
            Ok(handle) => threads.push(handle),
            Err(e) => return Err(abandon(&shared, threads, e)),
        }
        Ok(Runtime {
            shared,
            threads: Mutex::new(threads),
        })
    }
}

/// Stops the threads of a runtime whose start failed part-way, and passes the error on.
fn abandon(shared: &Shared, threads: Vec<thread::JoinHandle<()>>, e: io::Error) -> io::Error {
    shared.begin_shutdown();
    for t in threads {
        let _ = t.join();
    }
    shared.join_spares_by(None);
    shared.drain_after_shutdown();
    e
}

fn default_workers() -> usize {
    thread::available_parallelism().map_or(1, |n| n.get())
}

/// Worker count of the global runtime: `GREENCHAN_WORKERS` if set and valid, else one per CPU.
fn global_workers() -> usize {
    match std::env::var("GREENCHAN_WORKERS") {
        Ok(v) => match v.trim().parse::<usize>() {
            Ok(n) if (1..=MAX_WORKERS).contains(&n) => n,
            _ => {
                let n = default_workers();
                eprintln!(
                    "greenchan: ignoring GREENCHAN_WORKERS={v:?} (want 1..={MAX_WORKERS}); \
                     using {n} workers"
                );
                n
            }
        },
        Err(_) => default_workers(),
    }
}

/// A set of worker threads running coroutines.
///
/// ```
/// let rt = greenchan::Runtime::builder().workers(2).build().unwrap();
/// let h = rt.spawn(|| "hello from a coroutine").unwrap();
/// assert_eq!(h.join().unwrap(), "hello from a coroutine");
/// rt.shutdown().unwrap();
/// assert!(rt.spawn(|| ()).is_err()); // a clear error, not a hang
/// ```
pub struct Runtime {
    shared: Arc<Shared>,
    threads: Mutex<Vec<thread::JoinHandle<()>>>,
}

impl Runtime {
    /// A builder with the defaults: one worker per CPU, 512 KiB stack reservations (committed as they are touched), a 10 ms time slice.
    pub fn builder() -> RuntimeBuilder {
        RuntimeBuilder::default()
    }

    /// Number of worker threads.
    pub fn workers(&self) -> usize {
        self.shared.config.workers
    }

    /// Spawns a coroutine on this runtime. Fails once the runtime has shut down.
    pub fn spawn<F, T>(&self, f: F) -> io::Result<JoinHandle<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        spawn_on(&self.shared, SpawnOptions::default(), f)
    }

    /// Runs `f` as a coroutine on this runtime and waits for its value, parking the caller if
    /// it is a coroutine and blocking it if it is a thread. A panic in `f` resumes here.
    ///
    /// ```
    /// let rt = greenchan::Runtime::builder().workers(1).build().unwrap();
    /// assert_eq!(rt.run(|| greenchan::spawn(|| 20).join().unwrap() + 1), 21);
    /// ```
    ///
    /// # Panics
    /// If the runtime has shut down, or if `f` panics.
    pub fn run<F, T>(&self, f: F) -> T
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let handle = self
            .spawn(f)
            .unwrap_or_else(|e| panic!("greenchan: Runtime::run: {e}"));
        let result = if crate::in_coroutine() {
            handle.join()
        } else {
            self.wait_watching_for_deadlock(handle)
        };
        match result {
            Ok(v) => v,
            Err(payload) => panic::resume_unwind(payload),
        }
    }

    /// `join` for a plain thread in `run`, which also looks, from time to time while it
    /// waits, for a deadlock of the runtime (see `diagnostics::deadlock`), and panics with
    /// the report when it finds one, twice in a row with nothing done in between.
    fn wait_watching_for_deadlock<T>(&self, handle: JoinHandle<T>) -> std::thread::Result<T> {
        let _waiter = RunWaiter::enter();
        let closure = handle.coroutine().id().as_u64().get();
        let waker = crate::coroutine::current().into_waker();
        let mut suspect = None;
        loop {
            if let std::task::Poll::Ready(result) = handle.job.packet().poll_result(&waker) {
                return result;
            }
            crate::coroutine::park_timeout(DEADLOCK_CHECK_INTERVAL);
            let found = crate::diagnostics::deadlock(&self.shared, closure, RunWaiter::count());
            match (found, suspect) {
                (Some((seen, report)), Some(before)) if seen == before => {
                    panic!("{report}")
                }
                (Some((seen, _)), _) => suspect = Some(seen),
                (None, _) => suspect = None,
            }
        }
    }

    /// Stops the runtime, waiting up to [`DEFAULT_SHUTDOWN_TIMEOUT`] for its workers: see
    /// [`shutdown_timeout`](Runtime::shutdown_timeout).
    ///
    /// ```
    /// let rt = greenchan::Runtime::builder().workers(1).build().unwrap();
    /// let (tx, rx) = std::sync::mpsc::channel::<()>();
    /// // A coroutine parked for good: the shutdown unwinds it, and its destructors run.
    /// let parked = rt
    ///     .spawn(move || { let _tx = tx; greenchan::park(); greenchan::park(); })
    ///     .unwrap();
    /// rt.shutdown().unwrap();
    /// assert!(rx.recv().is_err()); // its `tx` was dropped
    /// assert!(parked.join().is_err()); // its joiner learns it
    /// ```
    pub fn shutdown(&self) -> Result<(), ShutdownError> {
        self.shutdown_timeout(DEFAULT_SHUTDOWN_TIMEOUT)
    }

    /// Stops the runtime. Every worker finishes the coroutine it is running (no coroutine is
    /// interrupted); then, on its own thread, it drops the coroutines still queued and unwinds
    /// every coroutine of its that is still parked or runnable, so that their destructors run:
    /// their channel ends close, their locks release, their sockets close, and `join` on each
    /// returns `Err` with a payload saying the runtime shut down (or, for a closure whose
    /// destructor panicked as it was dropped unrun, that panic's payload, as tokio reports a
    /// task that panics when cancelled). Then the worker threads exit.
    ///
    /// Waits up to `timeout` for that. A worker inside a coroutine that does not come back (a
    /// loop with no greenchan call, a blocking system call) cannot be waited for: it is left
    /// running, and the error names the coroutine it is in; the coroutines that started on
    /// that worker are not unwound (they can run only on its thread). Idempotent; also done on
    /// drop (an error is then printed). Called from one of this runtime's own coroutines, it
    /// does not wait for the calling worker.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use std::sync::Arc;
    /// use std::time::Duration;
    ///
    /// let rt = greenchan::Runtime::builder().workers(1).max_spare_threads(0).build().unwrap();
    /// let stop = Arc::new(AtomicBool::new(false));
    /// let (started, s2) = (Arc::new(AtomicBool::new(false)), stop.clone());
    /// let st = started.clone();
    /// rt.spawn(move || {
    ///     st.store(true, Ordering::SeqCst);
    ///     while !s2.load(Ordering::Relaxed) {} // no greenchan call: it never comes back
    /// })
    /// .unwrap();
    /// while !started.load(Ordering::SeqCst) {
    ///     std::thread::yield_now();
    /// }
    /// let err = rt.shutdown_timeout(Duration::from_millis(50)).unwrap_err();
    /// assert_eq!(err.stuck().len(), 1);
    /// stop.store(true, Ordering::Relaxed); // let the test's thread go
    /// ```
    pub fn shutdown_timeout(&self, timeout: Duration) -> Result<(), ShutdownError> {
        self.shared.begin_shutdown();
        let deadline = Instant::now().checked_add(timeout);
        let threads = std::mem::take(&mut *lock(&self.threads));
        let me = thread::current().id();
        let mut left = Vec::new();
        for t in threads {
            if t.thread().id() == me {
                continue;
            }
            if finishes_by(&t, deadline) {
                let _ = t.join();
            } else {
                left.push(t);
            }
        }
        // The monitor, which starts spares, stops on the shutdown flag: the spares' list is
        // final.
        let spares_left = self.shared.join_spares_by(deadline);
        if left.is_empty() && spares_left.is_empty() {
            self.shared.drain_after_shutdown();
            return Ok(());
        }
        let error = ShutdownError::of(&self.shared, timeout);
        // Kept, so that a later call can wait for them again.
        let mut threads = lock(&self.threads);
        threads.extend(left);
        threads.extend(spares_left);
        Err(error)
    }

    /// The runtime's counters: coroutines spawned, alive, parked and runnable, steals,
    /// rescues of stuck workers, spare threads, preemptions, polls, timers, and the same per
    /// worker. See [`RuntimeMetrics`](crate::RuntimeMetrics).
    ///
    /// ```
    /// let rt = greenchan::Runtime::builder().workers(1).build().unwrap();
    /// rt.run(|| ());
    /// assert_eq!(rt.metrics().alive, 0);
    /// ```
    pub fn metrics(&self) -> crate::RuntimeMetrics {
        crate::diagnostics::RuntimeMetrics::of(&self.shared)
    }

    /// Spare worker threads running now: started by the monitor while workers were stuck
    /// inside coroutines that do not yield, retired once idle.
    ///
    /// ```
    /// let rt = greenchan::Runtime::builder().workers(1).build().unwrap();
    /// assert_eq!(rt.spare_threads(), 0);
    /// ```
    pub fn spare_threads(&self) -> usize {
        self.shared.spares_running()
    }

    /// How many times the monitor rescued the movable work of a stuck worker (woke an idle
    /// worker for it or started a spare). A diagnostic for tests.
    #[doc(hidden)]
    pub fn rescues(&self) -> u64 {
        self.shared
            .rescues
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// How many times a coroutine of this runtime parked by switching straight to the
    /// coroutine it had woken, instead of through its worker (x86-64 only; always 0
    /// elsewhere). A diagnostic for tests and benchmarks.
    ///
    /// ```
    /// let rt = greenchan::Runtime::builder().workers(1).build().unwrap();
    /// let _ = rt.direct_switches();
    /// ```
    #[doc(hidden)]
    pub fn direct_switches(&self) -> u64 {
        self.shared.direct_switches()
    }

    /// Entries in this runtime's timer heaps, including those of waits that ended early and
    /// are not swept out yet. A diagnostic for tests.
    ///
    /// ```
    /// let rt = greenchan::Runtime::builder().workers(1).build().unwrap();
    /// assert_eq!(rt.timer_entries(), 0);
    /// ```
    #[doc(hidden)]
    pub fn timer_entries(&self) -> usize {
        self.shared.timer_entries()
    }

    /// True once [`shutdown`](Runtime::shutdown) has been called.
    pub fn is_shutdown(&self) -> bool {
        self.shared.is_shutdown()
    }

    /// Releases the memory of idle pooled stacks back to the OS (their address space stays
    /// reserved for reuse).
    pub fn trim_stacks(&self) {
        self.shared.stacks.trim();
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if let Err(e) = self.shutdown() {
            eprintln!("greenchan: {e}");
        }
    }
}

/// Waits until `t` has finished or `deadline` passes (`None`: no deadline).
fn finishes_by(t: &thread::JoinHandle<()>, deadline: Option<Instant>) -> bool {
    while !t.is_finished() {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return false;
        }
        thread::sleep(Duration::from_millis(1));
    }
    true
}

/// How often a thread waiting in `Runtime::run` looks for a deadlock.
const DEADLOCK_CHECK_INTERVAL: Duration = Duration::from_millis(100);

/// Plain threads blocked in `Runtime::run` (of any runtime), which deadlock detection does not
/// count as threads that could still wake a coroutine: each waits for a coroutine's end.
static RUN_WAITERS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Counts the calling thread in `RUN_WAITERS` while it lives.
struct RunWaiter(());

impl RunWaiter {
    fn enter() -> RunWaiter {
        RUN_WAITERS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        RunWaiter(())
    }

    fn count() -> usize {
        RUN_WAITERS.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Drop for RunWaiter {
    fn drop(&mut self) {
        RUN_WAITERS.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Default of how long [`Runtime::shutdown`] waits for the workers.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

/// A coroutine a shutdown could not wait for: its worker was inside it when the time was up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StuckCoroutine {
    /// Its id (`None` if its worker was between coroutines: inside a destructor that blocks).
    pub id: Option<crate::CoroutineId>,
    /// Its name, if it had one and has suspended before (the registry knows it).
    pub name: Option<String>,
    /// The worker it holds.
    pub worker: usize,
    /// How long its worker has been inside it.
    pub running_for: Duration,
    /// Coroutines that started on that worker and so could not be unwound.
    pub left_parked: usize,
}

/// The error of a [`Runtime::shutdown`] that could not wait for every worker.
#[derive(Debug, Clone)]
pub struct ShutdownError {
    timeout: Duration,
    stuck: Vec<StuckCoroutine>,
}

impl ShutdownError {
    fn of(shared: &Shared, timeout: Duration) -> ShutdownError {
        let info = shared.info(true);
        let stuck = info
            .worker_info
            .iter()
            .map(|w| {
                let id = w.running.map(|(id, _)| id);
                StuckCoroutine {
                    id: id
                        .and_then(std::num::NonZeroU64::new)
                        .map(crate::CoroutineId::from_raw),
                    name: id.and_then(|id| {
                        info.coroutines
                            .iter()
                            .find(|c| c.id == id)
                            .and_then(|c| c.name.clone())
                    }),
                    worker: w.index,
                    running_for: w.running.map_or(Duration::ZERO, |(_, d)| d),
                    left_parked: info
                        .coroutines
                        .iter()
                        .filter(|c| c.worker == Some(w.index) && Some(c.id) != id)
                        .count(),
                }
            })
            .collect();
        ShutdownError { timeout, stuck }
    }

    /// The coroutines that did not come back, one per worker still running.
    pub fn stuck(&self) -> &[StuckCoroutine] {
        &self.stuck
    }
}

impl std::fmt::Display for ShutdownError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the runtime shut down, but {} worker(s) did not come back within {:?}",
            self.stuck.len(),
            self.timeout
        )?;
        for s in &self.stuck {
            match s.id {
                Some(id) => {
                    write!(f, "; worker {} is inside coroutine {id}", s.worker)?;
                    if let Some(name) = &s.name {
                        write!(f, " '{name}'")?;
                    }
                    write!(f, " (for {:?}, no greenchan call)", s.running_for)?;
                }
                None => write!(f, "; worker {} is blocked between coroutines", s.worker)?,
            }
            if s.left_parked > 0 {
                write!(
                    f,
                    ", {} coroutine(s) that started on it were not unwound",
                    s.left_parked
                )?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for ShutdownError {}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("workers", &self.workers())
            .field("shutdown", &self.is_shutdown())
            .finish()
    }
}

static GLOBAL: OnceLock<Runtime> = OnceLock::new();

/// The global runtime, started on first use.
///
/// # Panics
/// If its worker threads cannot be started.
pub fn global() -> &'static Runtime {
    GLOBAL.get_or_init(|| {
        Runtime::builder()
            .workers(global_workers())
            .build()
            .unwrap_or_else(|e| panic!("greenchan: cannot start the global runtime: {e}"))
    })
}

/// The runtime new coroutines go to: the spawner's own, else the global one.
/// Runs `f` with the runtime a spawn goes to: the calling worker's, else the global one.
/// Lends the reference instead of cloning it: every clone and drop of the `Arc` touches one
/// counter that all workers share.
fn with_target_runtime<R>(f: impl FnOnce(&Arc<Shared>) -> R) -> R {
    scheduler::with_current_shared(|shared| match shared {
        Some(shared) => f(shared),
        None => f(&global().shared),
    })
}

/// What a `Builder` says about one coroutine.
#[derive(Debug, Clone, Default)]
struct SpawnOptions {
    name: Option<String>,
    stack_size: Option<usize>,
    /// Task flags opted into for this coroutine, on top of its runtime's.
    task_flags: u8,
}

fn spawn_on<F, T>(shared: &Arc<Shared>, options: SpawnOptions, f: F) -> io::Result<JoinHandle<T>>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let SpawnOptions {
        name,
        stack_size,
        task_flags,
    } = options;
    if shared.is_shutdown() {
        return Err(io::Error::other(
            "cannot spawn: the greenchan runtime has shut down",
        ));
    }
    let size = match stack_size {
        Some(s) => stack::validate_stack_size(s)?,
        None => shared.config.stack_size,
    };
    if let Some(n) = &name {
        if n.contains('\0') {
            return Err(invalid("coroutine names may not contain NUL bytes".into()));
        }
    }
    // A spawn that could not get a stack later fails now (`StackPool::promise`).
    let promised = if shared.stacks.promise(size)? {
        task::STACK_PROMISED
    } else {
        0
    };
    let (task, job) = Task::new_or_reused(
        scheduler::take_reusable_task(shared),
        shared,
        name.map(Box::new),
        size,
        shared.config.task_flags | task_flags | promised,
        JobCell::new(f),
    );
    // SAFETY: `|p| p` is an unsizing coercion.
    let job: CachedArc<dyn PacketOf<T>> = unsafe { job.unsize(|p| p) };
    let handle = JoinHandle {
        job,
        coroutine: Coroutine::from_task(task.clone()),
    };
    scheduler::schedule_new(task);
    // Every runtime call is a preemption point (DESIGN §3): a spawner whose slice is over
    // yields here (a loop of spawns never blocks).
    crate::coroutine::preempt_point();
    Ok(handle)
}

/// Spawns a coroutine and returns its [`JoinHandle`], as [`std::thread::spawn`] does for
/// threads. It runs on the spawner's runtime, or on the global runtime from a plain thread.
///
/// # Panics
/// If the coroutine cannot be created (no memory for its stack, runtime shut down); use
/// [`Builder::spawn`] to get the error instead.
///
/// ```
/// let handles: Vec<_> = (0..10).map(|i| greenchan::spawn(move || i * i)).collect();
/// let sum: i32 = handles.into_iter().map(|h| h.join().unwrap()).sum();
/// assert_eq!(sum, 285);
/// ```
pub fn spawn<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    Builder::new()
        .spawn(f)
        .unwrap_or_else(|e| panic!("greenchan: failed to spawn a coroutine: {e}"))
}

/// Runs `f` as a coroutine on the global runtime, blocks the calling thread until it returns,
/// and returns its value; a panic in `f` resumes in the caller. Coroutines `f` spawned keep
/// running afterwards.
///
/// ```
/// let v = greenchan::run(|| {
///     let h = greenchan::spawn(|| 20);
///     h.join().unwrap() + 22
/// });
/// assert_eq!(v, 42);
/// ```
pub fn run<F, T>(f: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    global().run(f)
}

/// Coroutine factory, as [`std::thread::Builder`]: name and stack size, then `spawn`.
///
/// ```
/// let h = greenchan::Builder::new()
///     .name("calc".into())
///     .stack_size(256 * 1024)
///     .spawn(|| 2 + 2)
///     .unwrap();
/// assert_eq!(h.join().unwrap(), 4);
///
/// // Bad input is an error, not a crash.
/// assert!(greenchan::Builder::new().stack_size(10).spawn(|| ()).is_err());
/// ```
#[derive(Debug, Default, Clone)]
pub struct Builder {
    options: SpawnOptions,
}

impl Builder {
    /// A builder with no name and the runtime's default stack size.
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Names the coroutine (shown by [`Coroutine::name`] and in stack-overflow reports).
    pub fn name(mut self, name: String) -> Builder {
        self.options.name = Some(name);
        self
    }

    /// Stack size in bytes, rounded up to whole pages; between
    /// [`MIN_STACK_SIZE`](crate::MIN_STACK_SIZE) and [`MAX_STACK_SIZE`](crate::MAX_STACK_SIZE).
    pub fn stack_size(mut self, size: usize) -> Builder {
        self.options.stack_size = Some(size);
        self
    }

    /// Lets the monitor preempt this coroutine asynchronously, with a signal, even in a loop
    /// with no preemption point ([`RuntimeBuilder::allow_async_preemption`] for a whole
    /// runtime). Linux on x86-64 only; elsewhere, and with `GREENCHAN_ASYNCPREEMPT=0`, it does
    /// nothing.
    ///
    /// # Safety
    ///
    /// As for [`RuntimeBuilder::allow_async_preemption`]: the caller promises that while
    /// this coroutine may be preempted it holds no thread-affine state (std locks, stdio,
    /// thread-local borrows, lazy initialisers, a statically linked allocator), and accepts
    /// `EINTR` from system calls it makes directly.
    ///
    /// ```
    /// // SAFETY: the coroutine computes on plain integers only.
    /// let h = unsafe { greenchan::Builder::new().allow_async_preemption() }
    ///     .spawn(|| (1..=10u32).product::<u32>())
    ///     .unwrap();
    /// assert_eq!(h.join().unwrap(), 3_628_800);
    /// ```
    pub unsafe fn allow_async_preemption(mut self) -> Builder {
        self.options.task_flags |= task::ASYNC_PREEMPT;
        self
    }

    /// Lets this coroutine move between worker threads after it started
    /// ([`RuntimeBuilder::allow_migration`] for a whole runtime).
    ///
    /// # Safety
    ///
    /// As for [`RuntimeBuilder::allow_migration`]: the caller promises that the coroutine
    /// keeps no thread-affine state across greenchan calls (`!Send` values, references into
    /// or values derived from thread-locals or the thread's identity).
    ///
    /// ```
    /// // SAFETY: nothing thread-affine is kept across the yield.
    /// let h = unsafe { greenchan::Builder::new().allow_migration() }
    ///     .spawn(|| { greenchan::yield_now(); 5 })
    ///     .unwrap();
    /// assert_eq!(h.join().unwrap(), 5);
    /// ```
    pub unsafe fn allow_migration(mut self) -> Builder {
        self.options.task_flags |= task::MIGRATE;
        self
    }

    /// Spawns on the spawner's runtime, or on the global runtime from a plain thread.
    pub fn spawn<F, T>(self, f: F) -> io::Result<JoinHandle<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        if self.options.task_flags & task::ASYNC_PREEMPT != 0 {
            crate::scheduler::preempt::install_for_opt_in();
        }
        with_target_runtime(|shared| spawn_on(shared, self.options, f))
    }

    /// Spawns on the given runtime.
    pub fn spawn_on<F, T>(self, runtime: &Runtime, f: F) -> io::Result<JoinHandle<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        if self.options.task_flags & task::ASYNC_PREEMPT != 0 {
            crate::scheduler::preempt::install_for_opt_in();
        }
        spawn_on(&runtime.shared, self.options, f)
    }
}
