//! The M:N scheduler: worker threads that run coroutines from per-worker queues, steal from one
//! another when idle, and sleep when there is nothing to do.
//!
//! The shape is Go's (`proc.go`) and tokio's multi-thread scheduler:
//!
//! - Each worker has a local run queue (a crossbeam work-stealing deque, kept bounded: past
//!   `LOCAL_QUEUE_CAPACITY` half of it moves to the global queue) and a `runnext` slot. A
//!   coroutine woken by the coroutine running on the same worker goes to `runnext` and runs as
//!   soon as the waker blocks, which keeps a message and its receiver on one warm core. A run
//!   of `RUNNEXT_STREAK` consecutive `runnext` tasks yields to the queue, so two coroutines
//!   ping-ponging cannot starve the rest.
//! - A global injection queue receives work from outside the runtime and overflow; workers
//!   check it first every `GLOBAL_CHECK_INTERVAL` ticks so it is never starved.
//! - An idle worker becomes a *spinning* searcher if fewer than half the workers already are;
//!   searchers steal half of a victim's queue and expired timers. A searcher that finds work
//!   while being the last searcher wakes another worker, so work spreads without every push
//!   paying for a wake-up; pushes wake a sleeping worker only when nobody is searching.
//! - A worker with nothing to do sleeps on its own condition variable until it is notified or
//!   the earliest timer of the runtime is due: an idle runtime uses no CPU.
//!
//! The sleep of an idle worker is where an I/O driver (the netpoller, see `driver.rs`) hooks
//! in, as Go's `netpoll` does in `findrunnable`: one sleeper at a time polls the OS with the
//! same timeout instead of waiting on its condition variable, and notifying it breaks the
//! poll. A worker also polls without blocking when its local queue runs dry and every
//! `NETPOLL_CHECK_INTERVAL` ticks, so I/O is seen while every worker is busy.
//!
//! Preemption hooks in at `run_task`, which publishes each resumption to the monitor thread
//! (`sysmon.rs`). A coroutine preempted asynchronously (`preempt/`) is pinned to its worker
//! until its next cooperative switch: it waits in the worker's `pinned` queue, which nobody
//! steals from, behind the tasks its local and the global queue held.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::sync::atomic::{fence, AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crossbeam_deque::{Injector, Steal, Stealer, Worker as LocalQueue};
use crossbeam_utils::CachePadded;

use crate::context;
use crate::driver::{self, IdleDriver};
use crate::fiber::{self, Fiber, Landing, Outcome};
use crate::preempt::{self, NoPreempt};
use crate::stack::{self, RunningStack, StackPool};
use crate::sysmon::{Monitor, SliceState};
use crate::task::{Suspend, Task, TaskRef};
use crate::timer::TimerHeap;

/// Past this many tasks a local queue sends half of them to the global queue.
const LOCAL_QUEUE_CAPACITY: usize = 256;
/// Finished tasks a worker keeps for reuse.
const TASK_POOL_SIZE: usize = 256;
/// Batches of `TASK_POOL_SIZE / 2` finished tasks a runtime's depot keeps for its workers.
const TASK_DEPOT_BATCHES: usize = 16;
/// Consecutive `runnext` runs before the local queue gets a turn.
const RUNNEXT_STREAK: u32 = 16;
/// Every this many ticks a worker looks at the global queue before its own (Go uses 61).
const GLOBAL_CHECK_INTERVAL: u32 = 61;
/// Every this many ticks a busy worker checks its timers.
const TIMER_CHECK_INTERVAL: u32 = 16;
/// Every this many ticks a busy worker polls the I/O driver without blocking (if one is
/// installed and nobody else polls it).
const NETPOLL_CHECK_INTERVAL: u32 = 61;
/// Least time between two releases of idle stacks' memory.
const TRIM_INTERVAL: Duration = Duration::from_secs(1);
/// How long a searching worker keeps looking before it goes to sleep. Spinning this long
/// costs little CPU and saves the futex wake-up a sleeping worker would need when work
/// arrives a few microseconds later, which is the common case for message passing.
const SEARCH_SPIN: Duration = Duration::from_micros(50);

/// Locks a mutex, ignoring poisoning: scheduler critical sections never panic while holding
/// data in an inconsistent state, and a panicking coroutine must not take the runtime down.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Settings of a runtime, fixed when it is built.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) workers: usize,
    pub(crate) stack_size: usize,
    pub(crate) time_slice: Duration,
    pub(crate) thread_name: String,
    /// Whether the monitor may signal workers to preempt coroutines asynchronously.
    pub(crate) async_preempt: bool,
}

/// What a worker's sleep waits on: a flag and a condition variable, or the I/O driver.
#[derive(Default)]
struct Sleeper {
    notified: Mutex<bool>,
    condvar: Condvar,
    /// Set while this worker sleeps inside the I/O driver's poll instead of on `condvar`.
    polling: AtomicBool,
}

impl Sleeper {
    fn notify(&self) {
        *lock(&self.notified) = true;
        self.condvar.notify_one();
        // Ordered after the flag by the mutex: a poller that set `polling` before checking
        // the flag either saw the flag or is seen here (see `poll_driver`).
        if self.polling.load(Ordering::SeqCst) {
            if let Some(driver) = driver::installed() {
                driver.wake();
            }
        }
    }

    /// Like `sleep`, but waits in the I/O driver: until notified, an I/O event or `deadline`.
    fn poll_driver(&self, driver: &dyn IdleDriver, deadline: Option<Instant>) {
        self.polling.store(true, Ordering::SeqCst);
        let notified = *lock(&self.notified);
        if !notified {
            driver.poll(deadline.map(|d| d.saturating_duration_since(Instant::now())));
        }
        self.polling.store(false, Ordering::SeqCst);
        *lock(&self.notified) = false;
    }

    /// Sleeps until notified or `deadline`; consumes the notification.
    fn sleep(&self, deadline: Option<Instant>) {
        let mut notified = lock(&self.notified);
        while !*notified {
            match deadline {
                None => {
                    notified = self
                        .condvar
                        .wait(notified)
                        .unwrap_or_else(PoisonError::into_inner)
                }
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        break;
                    }
                    notified = self
                        .condvar
                        .wait_timeout(notified, d - now)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                }
            }
        }
        *notified = false;
    }

    fn clear(&self) {
        *lock(&self.notified) = false;
    }
}

/// The part of a worker other threads may touch.
struct Remote {
    sleeper: Sleeper,
    timers: Mutex<TimerHeap>,
    /// Earliest timer deadline in nanoseconds since `Shared::epoch`, `u64::MAX` if none; read
    /// without the lock to skip it when nothing is due.
    next_timer: AtomicU64,
    /// What the monitor samples to find a coroutine that overran its time slice.
    slice: SliceState,
    /// Direct switches this worker made (`park_direct`); written by the worker alone, with a
    /// plain store, and summed by `Shared::direct_switches`.
    direct_switches: AtomicU64,
}

/// Workers, of any runtime, asleep on their condition variable while another thread holds the
/// I/O driver's poll. When a polling worker exits (its runtime shuts down) it wakes one of
/// them to take the poll over, or I/O waiters of the other runtimes would never be woken.
static POLL_STANDBY: Mutex<Vec<(std::sync::Weak<Shared>, usize)>> = Mutex::new(Vec::new());

/// Wakes one worker of a live runtime that is waiting for the poll.
fn hand_off_poll() {
    let mut standby = lock(&POLL_STANDBY);
    while let Some((shared, index)) = standby.pop() {
        if let Some(shared) = shared.upgrade().filter(|s| !s.is_shutdown()) {
            drop(standby);
            shared.remotes[index].sleeper.notify();
            return;
        }
    }
}

/// Who is searching and who is asleep.
struct Idle {
    spinning: AtomicUsize,
    sleeping: AtomicUsize,
    sleepers: Mutex<Vec<usize>>,
}

/// State shared by all workers of one runtime and by every handle into it.
pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) stacks: StackPool,
    injector: Injector<TaskRef>,
    stealers: Box<[Stealer<TaskRef>]>,
    /// Padded: each worker writes its own on every switch.
    remotes: Box<[CachePadded<Remote>]>,
    idle: Idle,
    monitor: Monitor,
    shutdown: AtomicBool,
    epoch: Instant,
    /// When idle stacks' memory was last given back, in nanoseconds since `epoch`.
    last_trim: AtomicU64,
    /// Batches of finished tasks that a worker's full pool handed over, for a worker whose
    /// pool ran dry (see `keep_for_reuse`).
    task_depot: Mutex<Vec<Vec<TaskRef>>>,
}

impl Shared {
    /// Direct switches made by this runtime's workers so far (see `park_direct`).
    pub(crate) fn direct_switches(&self) -> u64 {
        self.remotes
            .iter()
            .map(|r| r.direct_switches.load(Ordering::Relaxed))
            .sum()
    }

    /// Creates the shared state and the local queues to hand to the worker threads.
    pub(crate) fn new(config: Config) -> (Arc<Shared>, Vec<LocalQueue<TaskRef>>) {
        let locals: Vec<_> = (0..config.workers)
            .map(|_| LocalQueue::new_fifo())
            .collect();
        let stealers = locals.iter().map(LocalQueue::stealer).collect();
        let remotes = (0..config.workers)
            .map(|_| {
                CachePadded::new(Remote {
                    sleeper: Sleeper::default(),
                    timers: Mutex::new(TimerHeap::default()),
                    next_timer: AtomicU64::new(u64::MAX),
                    slice: SliceState::default(),
                    direct_switches: AtomicU64::new(0),
                })
            })
            .collect();
        let shared = Arc::new(Shared {
            config,
            stacks: StackPool::new(),
            injector: Injector::new(),
            stealers,
            remotes,
            idle: Idle {
                spinning: AtomicUsize::new(0),
                sleeping: AtomicUsize::new(0),
                sleepers: Mutex::new(Vec::new()),
            },
            monitor: Monitor::default(),
            shutdown: AtomicBool::new(false),
            epoch: Instant::now(),
            last_trim: AtomicU64::new(0),
            task_depot: Mutex::new(Vec::new()),
        });
        (shared, locals)
    }

    pub(crate) fn is_shutdown(&self) -> bool {
        self.shutdown.load(Ordering::Acquire)
    }

    /// Entries in the workers' timer heaps, live or stale.
    pub(crate) fn timer_entries(&self) -> usize {
        self.remotes.iter().map(|r| lock(&r.timers).len()).sum()
    }

    /// Stops the workers: each finishes the coroutine it is running, then exits, dropping the
    /// tasks still queued.
    pub(crate) fn begin_shutdown(&self) {
        self.shutdown.store(true, Ordering::Release);
        for remote in self.remotes.iter() {
            remote.sleeper.notify();
        }
        self.monitor.wake();
    }

    /// Each worker's time-slice state, for the monitor.
    pub(crate) fn slices(&self) -> impl Iterator<Item = &SliceState> {
        self.remotes.iter().map(|r| &r.slice)
    }

    pub(crate) fn monitor(&self) -> &Monitor {
        &self.monitor
    }

    /// Drops what is left in the global queue and the timers once the workers are gone, which
    /// also breaks the reference cycle between queued tasks and this structure.
    pub(crate) fn drain_after_shutdown(&self) {
        loop {
            match self.injector.steal() {
                Steal::Success(task) => task.discard(),
                Steal::Retry => continue,
                Steal::Empty => break,
            }
        }
        for remote in self.remotes.iter() {
            let mut timers = lock(&remote.timers);
            let stale = std::mem::take(&mut *timers);
            drop(timers);
            drop(stale);
        }
        let kept = std::mem::take(&mut *lock(&self.task_depot));
        drop(kept);
    }

    /// Keeps a batch of finished tasks for any worker, or drops it if the depot is full.
    fn put_task_batch(&self, batch: Vec<TaskRef>) {
        let mut depot = lock(&self.task_depot);
        // Not after shutdown: the depot is drained once, and its tasks refer to `self`.
        if depot.len() < TASK_DEPOT_BATCHES && !self.is_shutdown() {
            depot.push(batch);
            return;
        }
        drop(depot);
        drop(batch);
    }

    /// The last worker to fall idle gives the memory of idle pooled stacks back to the OS, at
    /// most once per `TRIM_INTERVAL`, so a runtime that goes idle after a burst shrinks.
    fn trim_if_due(&self) {
        let now = self.nanos_since_epoch(Instant::now());
        let last = self.last_trim.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= TRIM_INTERVAL.as_nanos() as u64
            && self
                .last_trim
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.stacks.trim();
        }
    }

    fn nanos_since_epoch(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.epoch).as_nanos() as u64
    }

    /// Queues a task from outside any worker of this runtime.
    pub(crate) fn inject(self: &Arc<Self>, task: TaskRef) {
        if self.is_shutdown() {
            // Workers are gone or going: nobody would run it.
            task.discard();
            return;
        }
        self.injector.push(task);
        self.notify_one();
    }

    /// Wakes a sleeping worker if there is one and nobody is already searching for work.
    ///
    /// The fence orders the caller's push before the reads of the idle counts, against the
    /// fence a worker executes between announcing its sleep and re-checking the queues: one
    /// of the two sees the other, so work pushed where only a sleeper would find it is never
    /// stranded.
    fn notify_one(&self) {
        fence(Ordering::SeqCst);
        self.notify_one_relaxed();
    }

    /// `notify_one` without the fence, for work pushed to the pushing worker's own queue: if
    /// the wake-up is missed, that worker runs the task itself, so only parallelism is at
    /// stake, never liveness (Go's `wakep` after `runqput` makes the same trade).
    fn notify_one_relaxed(&self) {
        if self.idle.spinning.load(Ordering::SeqCst) != 0
            || self.idle.sleeping.load(Ordering::SeqCst) == 0
        {
            return;
        }
        let mut sleepers = lock(&self.idle.sleepers);
        if self.idle.spinning.load(Ordering::SeqCst) != 0 {
            return;
        }
        if let Some(index) = sleepers.pop() {
            self.idle.sleeping.fetch_sub(1, Ordering::SeqCst);
            // The woken worker starts out as a searcher; count it now so that concurrent
            // pushes do not wake a second one for the same work.
            self.idle.spinning.fetch_add(1, Ordering::SeqCst);
            drop(sleepers);
            self.remotes[index].sleeper.notify();
        }
    }

    fn has_visible_work(&self) -> bool {
        !self.injector.is_empty() || self.stealers.iter().any(|s| !s.is_empty())
    }

    fn earliest_timer(&self) -> Option<Instant> {
        let nanos = self
            .remotes
            .iter()
            .map(|r| r.next_timer.load(Ordering::Acquire))
            .min()?;
        (nanos != u64::MAX).then(|| self.epoch + Duration::from_nanos(nanos))
    }

    fn any_timer_due(&self, now: Instant) -> bool {
        let now = self.nanos_since_epoch(now);
        self.remotes
            .iter()
            .any(|r| r.next_timer.load(Ordering::Acquire) <= now)
    }
}

/// Schedules a task that was just made runnable by `unpark`.
///
/// On a worker of the task's own runtime the task goes to that worker: into `runnext` when a
/// coroutine woke it (it will most likely consume what the waker produced), else into the local
/// queue. From anywhere else it goes to the runtime's global queue.
pub(crate) fn schedule(task: TaskRef) {
    // Coroutine code calls this; the worker's queues must not be half-updated if it is
    // preempted (the same goes for the other entry points below).
    let _no_preempt = NoPreempt::new();
    queue_here_or_inject(task, |worker, task| {
        if context::current_task().is_null() {
            worker.push_local(task);
        } else {
            worker.push_runnext(task);
        }
    });
}

/// Queues a newly spawned task: on the spawning worker's local queue when the spawner runs on
/// a worker of the same runtime, else on the global queue.
pub(crate) fn schedule_new(task: TaskRef) {
    let _no_preempt = NoPreempt::new();
    queue_here_or_inject(task, |worker, task| worker.push_local(task));
}

/// Runs `f` with the worker this thread is, if it is one. The reference must not escape `f`.
fn with_worker<R>(f: impl FnOnce(Option<&Worker>) -> R) -> R {
    let worker = context::worker();
    // SAFETY: a non-null worker pointer is published by `Worker::run` on this thread and stays
    // valid until that function returns, which is after any code it runs; the reference lives
    // only as long as `f`.
    f(unsafe { worker.as_ref() })
}

/// Gives `task` to `push` with this thread's worker when that is a worker of the task's
/// runtime; otherwise queues it on the runtime's global queue.
fn queue_here_or_inject(task: TaskRef, push: impl FnOnce(&Worker, TaskRef)) {
    with_worker(|worker| match worker {
        Some(worker) if Arc::ptr_eq(&worker.shared, &task.shared) => push(worker, task),
        _ => {
            let shared = task.shared.clone();
            shared.inject(task);
        }
    });
}

/// Arms a timer that ends the running coroutine's timed wait `gen` at `deadline`.
pub(crate) fn add_timer(task: TaskRef, deadline: Instant, gen: u32) {
    let _no_preempt = NoPreempt::new();
    with_worker(|worker| {
        let worker = worker.expect("a coroutine always runs on a worker");
        let shared = &worker.shared;
        let remote = &shared.remotes[worker.index];
        let mut timers = lock(&remote.timers);
        timers.push(deadline, task, gen);
        let next = timers
            .next_deadline()
            .map_or(u64::MAX, |d| shared.nanos_since_epoch(d));
        remote.next_timer.store(next, Ordering::Release);
    });
}

/// A finished task of `shared`'s kept by this thread's worker, ready to be reset for a new
/// coroutine (see `Worker::keep_for_reuse`).
pub(crate) fn take_reusable_task(shared: &Arc<Shared>) -> Option<TaskRef> {
    // Spawning coroutines call this: no other coroutine may enter the pool half-updated.
    let _no_preempt = NoPreempt::new();
    with_worker(|worker| {
        let worker = worker.filter(|w| Arc::ptr_eq(&w.shared, shared))?;
        let mut pool = worker.task_pool.try_borrow_mut().ok()?;
        if let Some(task) = pool.pop() {
            return Some(task);
        }
        // Dry: a batch another worker's full pool handed over (this worker spawns more than
        // it finishes, as a spawner feeding the others does).
        let batch = lock(&shared.task_depot).pop()?;
        *pool = batch;
        pool.pop()
    })
}

/// Runs `f` with the runtime of the worker this thread is, if any, without cloning it.
pub(crate) fn with_current_shared<R>(f: impl FnOnce(Option<&Arc<Shared>>) -> R) -> R {
    with_worker(|worker| f(worker.map(|w| &w.shared)))
}

/// Called from `preempt_point`: true if the monitor found that the running coroutine has used
/// up its time slice (the request is consumed).
pub(crate) fn slice_expired() -> bool {
    with_worker(|worker| worker.is_some_and(|w| w.shared.remotes[w.index].slice.take_preempt()))
}

/// One worker thread's private state; lives on that thread's stack for as long as it runs.
pub(crate) struct Worker {
    index: usize,
    shared: Arc<Shared>,
    local: LocalQueue<TaskRef>,
    runnext: Cell<Option<TaskRef>>,
    runnext_streak: Cell<u32>,
    tick: Cell<u32>,
    spinning: Cell<bool>,
    rng: Cell<u32>,
    /// Count of coroutine resumptions, published to the monitor.
    switches: Cell<u64>,
    /// Finished tasks kept for reuse by spawns on this worker (`keep_for_reuse`).
    task_pool: RefCell<Vec<TaskRef>>,
    /// Asynchronously preempted tasks, pinned to this worker (never stolen) until they
    /// resume; see `pin`.
    pinned: RefCell<VecDeque<TaskRef>>,
    /// Other tasks to run before the first pinned one gets its turn.
    pinned_wait: Cell<usize>,
    /// The task whose coroutine runs now, while the worker is switched out to it. A direct
    /// switch (`park_direct`) replaces it with the coroutine it switches to.
    running: Cell<Option<TaskRef>>,
    /// A task whose coroutine switched directly to another while parking: the coroutine it
    /// switched to commits that park as soon as it lands (`commit_handed_park`).
    handed: Cell<Option<TaskRef>>,
}

impl Worker {
    pub(crate) fn new(index: usize, shared: Arc<Shared>, local: LocalQueue<TaskRef>) -> Worker {
        Worker {
            index,
            shared,
            local,
            runnext: Cell::new(None),
            runnext_streak: Cell::new(0),
            tick: Cell::new(0),
            spinning: Cell::new(false),
            rng: Cell::new(0x9E37_79B9 ^ (index as u32).wrapping_mul(0x85EB_CA6B) | 1),
            switches: Cell::new(0),
            task_pool: RefCell::new(Vec::new()),
            pinned: RefCell::new(VecDeque::new()),
            pinned_wait: Cell::new(0),
            running: Cell::new(None),
            handed: Cell::new(None),
        }
    }

    /// The worker loop; returns when the runtime shuts down.
    pub(crate) fn run(self) {
        stack::install_overflow_handler();
        let registration = preempt::WorkerRegistration::new(
            &self.shared.remotes[self.index].slice,
            self.shared.config.async_preempt,
        );
        context::set_worker(&self);
        while !self.shared.is_shutdown() {
            self.tick.set(self.tick.get().wrapping_add(1));
            if let Some(task) = self.next_local() {
                self.run_task(task);
            } else if let Some(task) = self.search() {
                self.run_task(task);
            } else {
                self.sleep();
            }
        }
        context::set_worker(std::ptr::null());
        if driver::installed().is_some() {
            hand_off_poll();
        }
        if self.spinning.get() {
            self.shared.idle.spinning.fetch_sub(1, Ordering::SeqCst);
        }
        if let Some(task) = self.runnext.take() {
            task.discard();
        }
        while let Some(task) = self.local.pop() {
            task.discard();
        }
        for task in self.pinned.take() {
            task.discard_preempted();
        }
        drop(registration);
    }

    /// Keeps a finished task nobody else references (a detached coroutine's) for the next
    /// spawn on this worker, which then allocates nothing for it: Go reuses goroutine
    /// structures the same way (per-P free lists spilling into a global one), and glibc
    /// serves a million live small allocations slowly. Bounded: `TASK_POOL_SIZE` per worker
    /// plus `TASK_DEPOT_BATCHES` batches per runtime.
    fn keep_for_reuse(&self, task: TaskRef) {
        // `1`: no handle, queue or timer holds it, and only holders can clone it.
        if Arc::strong_count(&task) != 1 {
            return;
        }
        // Never busy (`take_reusable_task` runs with preemption disabled); checked anyway.
        if let Ok(mut pool) = self.task_pool.try_borrow_mut() {
            if pool.len() >= TASK_POOL_SIZE {
                // Full: half goes to the runtime's depot, for a worker that spawns more than
                // it finishes (its own pool runs dry); tasks beyond the depot's bound are freed.
                let batch = pool.split_off(TASK_POOL_SIZE / 2);
                self.shared.put_task_batch(batch);
            }
            pool.push(task);
        }
    }

    fn next_random(&self) -> u32 {
        // xorshift32: cheap, and good enough to pick steal victims.
        let mut x = self.rng.get();
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.rng.set(x);
        x
    }

    fn next_local(&self) -> Option<TaskRef> {
        if self.pinned.borrow().is_empty() {
            return self.next_queued();
        }
        self.next_or_pinned()
    }

    /// Queues an asynchronously preempted task where only this worker finds it, behind the
    /// tasks already queued here and in the global queue (as a yield goes to the back of the
    /// queue; Go puts a preempted goroutine on its global queue).
    fn pin(&self, task: TaskRef) {
        let mut pinned = self.pinned.borrow_mut();
        if pinned.is_empty() {
            self.pinned_wait.set(self.queued_here());
        }
        pinned.push_back(task);
    }

    /// Tasks this worker would run before one queued now: its own and the global queue's.
    fn queued_here(&self) -> usize {
        let runnext = usize::from(self.runnext_has_task());
        self.local.len() + runnext + self.shared.injector.len()
    }

    fn runnext_has_task(&self) -> bool {
        let task = self.runnext.take();
        let has = task.is_some();
        self.runnext.set(task);
        has
    }

    /// `next_local` with pinned tasks waiting: the first one runs once the tasks queued before
    /// it have had their turn, or as soon as nothing else is runnable here. Timers are fired
    /// first (a busy worker checks them only every few ticks, and each tick of a preempted
    /// coroutine is a time slice long); the coroutines they wake were due while it ran, so
    /// they go before it.
    fn next_or_pinned(&self) -> Option<TaskRef> {
        let before = self.local.len();
        self.fire_timers(self.index, Instant::now());
        let woken = self.local.len().saturating_sub(before);
        self.pinned_wait.set(self.pinned_wait.get() + woken);
        if self.pinned_wait.get() > 0 {
            let next = self.next_queued().or_else(|| self.steal_global());
            if let Some(task) = next {
                self.pinned_wait.set(self.pinned_wait.get() - 1);
                return Some(task);
            }
        }
        let task = self.pinned.borrow_mut().pop_front();
        if !self.pinned.borrow().is_empty() {
            self.pinned_wait.set(self.queued_here());
        }
        task
    }

    fn next_queued(&self) -> Option<TaskRef> {
        let tick = self.tick.get();
        if tick % TIMER_CHECK_INTERVAL == 0 {
            self.fire_timers_if_any(self.index);
        }
        if tick % GLOBAL_CHECK_INTERVAL == 0 {
            if let Some(task) = self.steal_global() {
                return Some(task);
            }
        }
        if tick % NETPOLL_CHECK_INTERVAL == 0 {
            // I/O made ready coroutines land in the local queue.
            driver::poll_now();
        }
        if let Some(task) = self.runnext.take() {
            let streak = self.runnext_streak.get();
            // With nothing else queued here there is nobody to be fair to: two coroutines
            // ping-ponging keep running back to back on this warm core (Go's runnext inherits
            // the time slice the same way), and no idle searcher gets to steal one of them.
            if streak < RUNNEXT_STREAK || self.local.is_empty() {
                self.runnext_streak.set(streak + 1);
                return Some(task);
            }
            self.push_local(task);
        }
        self.runnext_streak.set(0);
        self.local.pop().or_else(|| {
            driver::poll_now();
            self.local.pop()
        })
    }

    fn steal_global(&self) -> Option<TaskRef> {
        loop {
            match self.shared.injector.steal_batch_and_pop(&self.local) {
                Steal::Success(task) => return Some(task),
                Steal::Empty => return None,
                Steal::Retry => continue,
            }
        }
    }

    pub(crate) fn push_local(&self, task: TaskRef) {
        if self.local.len() >= LOCAL_QUEUE_CAPACITY {
            // Keep the local queue bounded: the oldest half goes where every worker looks.
            for _ in 0..LOCAL_QUEUE_CAPACITY / 2 {
                match self.local.pop() {
                    Some(t) => self.shared.injector.push(t),
                    None => break,
                }
            }
        }
        self.local.push(task);
        self.shared.notify_one_relaxed();
    }

    fn push_runnext(&self, task: TaskRef) {
        if let Some(previous) = self.runnext.replace(Some(task)) {
            self.push_local(previous);
        }
    }

    /// Wakes the timed waits of worker `index` that are due at `now`; the woken coroutines go
    /// to this worker's queue.
    fn fire_timers(&self, index: usize, now: Instant) {
        let remote = &self.shared.remotes[index];
        if remote.next_timer.load(Ordering::Acquire) > self.shared.nanos_since_epoch(now) {
            return;
        }
        let mut due = Vec::new();
        {
            let Ok(mut timers) = remote.timers.try_lock() else {
                return;
            };
            while let Some(entry) = timers.pop_expired(now) {
                due.push(entry);
            }
            let next = timers
                .next_deadline()
                .map_or(u64::MAX, |d| self.shared.nanos_since_epoch(d));
            remote.next_timer.store(next, Ordering::Release);
        }
        for (task, gen) in due {
            if task.wait_gen() == gen {
                if let Some(task) = task.unpark() {
                    self.push_local(task);
                }
            }
        }
    }

    /// Like `fire_timers`, reading the clock only if worker `index` has a timer at all.
    fn fire_timers_if_any(&self, index: usize) {
        if self.shared.remotes[index]
            .next_timer
            .load(Ordering::Acquire)
            != u64::MAX
        {
            self.fire_timers(index, Instant::now());
        }
    }

    /// Looks for work elsewhere: the global queue, other workers' queues, due timers.
    fn search(&self) -> Option<TaskRef> {
        let shared = &self.shared;
        self.fire_timers_if_any(self.index);
        if let Some(task) = self.local.pop() {
            return Some(task);
        }
        if !self.spinning.get() {
            let spinning = shared.idle.spinning.load(Ordering::SeqCst);
            if 2 * spinning >= shared.config.workers {
                return self.steal_global();
            }
            shared.idle.spinning.fetch_add(1, Ordering::SeqCst);
            self.spinning.set(true);
        }
        let n = shared.config.workers;
        let give_up = Instant::now() + SEARCH_SPIN;
        let mut rounds = 0u32;
        // The clock is read every few rounds only: a round is a few hundred nanoseconds.
        while rounds % 8 != 0 || Instant::now() < give_up {
            rounds = rounds.wrapping_add(1);
            if let Some(task) = self.steal_global() {
                return self.found(task);
            }
            if rounds % 8 == 1 {
                // I/O that became ready while we spin (Go's findrunnable polls here too); the
                // coroutines it wakes land in this worker's queue.
                driver::poll_now();
                if let Some(task) = self.local.pop() {
                    return self.found(task);
                }
            }
            let start = self.next_random() as usize % n;
            for i in 0..n {
                let victim = (start + i) % n;
                if victim == self.index {
                    continue;
                }
                loop {
                    match shared.stealers[victim].steal_batch_and_pop(&self.local) {
                        Steal::Success(task) => return self.found(task),
                        Steal::Empty => break,
                        Steal::Retry => continue,
                    }
                }
                self.fire_timers_if_any(victim);
                if let Some(task) = self.local.pop() {
                    return self.found(task);
                }
            }
            for _ in 0..32 {
                std::hint::spin_loop();
            }
        }
        None
    }

    /// A searcher found work: stop searching, and if it was the last searcher, wake another
    /// worker in case there is more.
    fn found(&self, task: TaskRef) -> Option<TaskRef> {
        self.shared.monitor.worker_woke();
        if self.spinning.replace(false) {
            let before = self.shared.idle.spinning.fetch_sub(1, Ordering::SeqCst);
            if before == 1 {
                self.shared.notify_one();
            }
        }
        Some(task)
    }

    /// Sleeps until notified or until the runtime's earliest timer is due.
    fn sleep(&self) {
        let shared = &self.shared;
        let all_asleep = {
            let mut sleepers = lock(&shared.idle.sleepers);
            sleepers.push(self.index);
            let before = shared.idle.sleeping.fetch_add(1, Ordering::SeqCst);
            if self.spinning.replace(false) {
                shared.idle.spinning.fetch_sub(1, Ordering::SeqCst);
            }
            before + 1 == shared.config.workers
        };
        if all_asleep {
            shared.trim_if_due();
        }
        fence(Ordering::SeqCst);
        // Re-check after announcing the sleep: a push that raced with the announcement either
        // sees us asleep and notifies us, or its work is visible here.
        let must_stay_awake = shared.is_shutdown()
            || shared.has_visible_work()
            || shared.any_timer_due(Instant::now());
        if !must_stay_awake {
            let sleeper = &shared.remotes[self.index].sleeper;
            // On standby before trying for the poll, so a poller exiting at the same moment
            // either leaves the poll free for us or finds us on standby.
            let standby = driver::installed().is_some();
            if standby {
                lock(&POLL_STANDBY).push((Arc::downgrade(shared), self.index));
            }
            let poll = driver::begin_poll();
            if let Some(driver) = poll {
                self.leave_poll_standby(standby);
                sleeper.poll_driver(driver, shared.earliest_timer());
                driver::end_poll();
            } else {
                sleeper.sleep(shared.earliest_timer());
                self.leave_poll_standby(standby);
            }
        }
        shared.monitor.worker_woke();
        let mut sleepers = lock(&shared.idle.sleepers);
        if let Some(pos) = sleepers.iter().position(|&i| i == self.index) {
            // Woken by a timeout or ourselves: nobody counted us as a searcher.
            sleepers.swap_remove(pos);
            shared.idle.sleeping.fetch_sub(1, Ordering::SeqCst);
        } else {
            // `notify_one` took us off the list and counted us as a searcher.
            self.spinning.set(true);
            drop(sleepers);
            shared.remotes[self.index].sleeper.clear();
        }
    }

    fn leave_poll_standby(&self, standby: bool) {
        if standby {
            let me = Arc::as_ptr(&self.shared);
            lock(&POLL_STANDBY).retain(|(s, i)| !(*i == self.index && s.as_ptr() == me));
        }
    }

    fn run_task(&self, task: TaskRef) {
        task.start_running();
        // SAFETY: this worker dequeued the task and set it running, so it owns the task's
        // worker-side cells until it queues or parks it again below.
        let mut fiber = match unsafe { task.context() } {
            Ok(fiber) => fiber,
            Err(e) => {
                // No stack: the closure was dropped, which completes the join with an error.
                eprintln!(
                    "greenchan: cannot start coroutine {}: no stack: {e}",
                    task.id
                );
                task.finish();
                return;
            }
        };
        let mut task = task;
        loop {
            self.enter(&task);
            self.running.set(Some(task));
            // SAFETY: `fiber` points into the running task's body, owned by this worker while
            // it runs the task; the coroutine touches only its own cells (link, locals).
            let outcome = unsafe { Fiber::resume(fiber) };
            // A direct switch may have handed the worker to another coroutine: the running
            // task is whichever came back.
            task = self.running.take().expect("a coroutine ran");
            self.leave();
            match outcome {
                Outcome::Suspended(Suspend::Yield) => {
                    task.requeue();
                    self.push_local(task);
                    return;
                }
                Outcome::Suspended(Suspend::Preempted) => {
                    task.requeue();
                    self.pin(task);
                    return;
                }
                Outcome::Suspended(Suspend::Park) => {
                    let Some(woken) = Task::commit_park(task) else {
                        return;
                    };
                    // An unpark arrived while the coroutine was switching out: resume it.
                    task = woken;
                    // SAFETY: as above; it has run, so it has its fiber.
                    fiber = unsafe { task.started_fiber() }.expect("a parked coroutine has run");
                }
                Outcome::Returned => {
                    task.finish();
                    // SAFETY: as above; the coroutine has finished.
                    if let Some(fiber) = unsafe { task.take_context() } {
                        self.shared.stacks.put(fiber.into_stack());
                    }
                    self.keep_for_reuse(task);
                    return;
                }
            }
        }
    }

    /// Everything a switch into `task`'s coroutine publishes first: the current coroutine,
    /// its stack for the overflow handler, and a new slice for the monitor.
    #[inline]
    fn enter(&self, task: &Task) {
        context::set_current_task(task);
        // SAFETY: this worker runs the task, so it owns its worker-side `guard` cell.
        stack::set_running(Some(RunningStack::of(task, unsafe { task.guard() })));
        let switches = self.switches.get().wrapping_add(1);
        self.switches.set(switches);
        self.shared.remotes[self.index].slice.begin(switches);
    }

    /// Undoes `enter` once the worker has its thread back.
    #[inline]
    fn leave(&self) {
        self.shared.remotes[self.index].slice.end();
        stack::set_running(None);
        context::set_current_task(std::ptr::null());
    }

    /// The next task for a direct switch from a parking coroutine: the `runnext` one, when it
    /// has run before and the worker loop would pick it now anyway (no pinned task waits, no
    /// periodic check is due at this tick, the streak allows it, no shutdown). Counts as one
    /// turn of the loop.
    fn take_direct(&self) -> Option<(TaskRef, *mut Fiber)> {
        let tick = self.tick.get().wrapping_add(1);
        if tick % TIMER_CHECK_INTERVAL == 0
            || tick % GLOBAL_CHECK_INTERVAL == 0
            || tick % NETPOLL_CHECK_INTERVAL == 0
        {
            return None;
        }
        let streak = self.runnext_streak.get();
        if streak >= RUNNEXT_STREAK && !self.local.is_empty() {
            return None;
        }
        if !self.pinned.borrow().is_empty() || self.shared.is_shutdown() {
            return None;
        }
        let next = self.runnext.take()?;
        // SAFETY: taken from this worker's `runnext`, so this worker owns it now.
        let Some(fiber) = (unsafe { next.started_fiber() }) else {
            self.runnext.set(Some(next));
            return None;
        };
        self.tick.set(tick);
        self.runnext_streak.set(streak + 1);
        next.start_running();
        Some((next, fiber))
    }
}

/// Parks the running coroutine `task` by switching straight to the coroutine its worker would
/// run next (see `Worker::take_direct`), skipping two switches and a turn of the worker loop:
/// the hand-off of a channel operation between two coroutines. Returns false, having done
/// nothing, when there is no such coroutine or this backend cannot switch directly; the
/// caller then suspends to its worker. Returns true once `task` runs again.
///
/// The park is committed by the coroutine switched to, as soon as it lands (the worker does it
/// after a suspend): only then is `task`'s stack no longer in use, and an unpark that comes
/// first finds it active and leaves a token, which makes the commit fail and requeue it.
pub(crate) fn park_direct(task: *const Task) -> bool {
    if !fiber::DIRECT {
        return false;
    }
    let worker = context::worker();
    // The switch code runs at depth one (no preemption while the worker's cells change hands).
    let depth = preempt::before_switch();
    // SAFETY: a non-null worker pointer is published by `Worker::run` on this thread and stays
    // valid while it runs coroutines, this one included.
    let Some((next, to)) = (unsafe { worker.as_ref() }).and_then(Worker::take_direct) else {
        preempt::after_switch(depth);
        return false;
    };
    // SAFETY: as above.
    let w = unsafe { &*worker };
    // The parker's slice ends here: a preemption requested for it must not carry over to the
    // coroutine it switches to. (The overflow handler is told of the new coroutine's stack a
    // few instructions before the switch leaves the old one; an overflow in that window is
    // reported as a plain SIGSEGV rather than by name.)
    let remote = &w.shared.remotes[w.index];
    remote.slice.end();
    remote.direct_switches.store(
        remote.direct_switches.load(Ordering::Relaxed) + 1,
        Ordering::Relaxed,
    );
    w.enter(&next);
    let me = w.running.replace(Some(next));
    debug_assert!(me.as_deref().is_some_and(|m| std::ptr::eq(m, task)));
    w.handed.set(me);
    // SAFETY: `task` is the running coroutine, so its link is its own fiber; `to` is the
    // started, suspended fiber of the task this worker just dequeued and made its running one.
    let landing = unsafe { fiber::switch_to((*task).link(), to) };
    if landing == Landing::Direct {
        commit_handed_park();
    }
    preempt::after_switch(depth);
    true
}

/// Commits the park of the coroutine that switched directly to the running one (see
/// `park_direct`); called by the latter as it lands, on its worker's thread.
pub(crate) fn commit_handed_park() {
    // SAFETY: the coroutine landed on a worker (only workers run coroutines), published by
    // `Worker::run` on this thread.
    let w = unsafe { &*context::worker() };
    if let Some(woken) = w.handed.take().and_then(Task::commit_park) {
        // Woken while it switched out: runnable again, behind the coroutine running now.
        woken.requeue();
        w.push_local(woken);
    }
}

impl RunningStack {
    #[inline]
    pub(crate) fn of(task: &Task, guard: (usize, usize)) -> RunningStack {
        let (name_ptr, name_len) = task
            .name
            .as_deref()
            .map_or((std::ptr::null(), 0), |n| (n.as_ptr(), n.len()));
        RunningStack {
            guard_lo: guard.0,
            guard_hi: guard.1,
            stack_size: task.stack_size(),
            id: task.id,
            name_ptr,
            name_len,
        }
    }
}
