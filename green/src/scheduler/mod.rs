//! The M:N scheduler: worker threads that run coroutines, share out the ones that have not
//! started yet, and sleep when there is nothing to do.
//!
//! # The rule it is built around
//!
//! A coroutine that has started runs on one OS thread until it ends (DESIGN §3). std, every
//! crate and any C code on a thread assume that a `!Send` value and a thread-local stay on
//! their thread, and LLVM computes a thread-local's address once per function, across calls;
//! a coroutine moved to another thread between two of its calls would break all of that. So
//! only coroutines that have not started move: the work-stealing deque of each worker holds
//! unstarted coroutines only, and a started coroutine that becomes runnable again always goes
//! back to its own worker (its *home*). The one exception is a coroutine spawned with the
//! `unsafe` opt-in `allow_migration`, whose spawner promised that it keeps no thread-affine
//! state across greenchan calls: it is scheduled as Go schedules goroutines.
//!
//! # Queues
//!
//! Each worker has, in the order it looks at them:
//!
//! - a `runnext` slot for the coroutine the running one just woke on this worker, which runs
//!   as soon as the waker blocks (a message and its receiver stay on one warm core; a parking
//!   coroutine switches to it directly, see `park_direct`). A run of `RUNNEXT_STREAK`
//!   consecutive `runnext` tasks yields to the queues so two ping-ponging coroutines cannot
//!   starve the rest;
//! - its `inbox`, where other threads put the coroutines of this worker they woke; it is
//!   drained into the home queue;
//! - the *home queue*: started coroutines of this worker that are runnable (woken, yielded,
//!   preempted). Nobody else touches it;
//! - the *local queue*, a crossbeam work-stealing deque of unstarted coroutines spawned here,
//!   last in, first out for its worker and oldest first for thieves (see Balance), bounded
//!   (past `LOCAL_QUEUE_CAPACITY` its oldest half moves to the global queue);
//! - under `allow_migration`, a second deque for the started coroutines that may migrate and
//!   are runnable, first in, first out (a yield lets the others run) and stealable, which the
//!   worker takes turns between with its home queue;
//! - the runtime's global queue (work from outside the runtime, and overflow), checked first
//!   every `GLOBAL_CHECK_INTERVAL` ticks so it is never starved.
//!
//! # Balance
//!
//! Since a coroutine stays where it starts, *where* it starts decides both whether parallel
//! work spreads and whether coroutines that talk to each other share a core. A worker starts
//! its unstarted coroutines promptly: at once when it has nothing else to run or, while it
//! is not busy, when the coroutine it ran last parked (it waits for someone, likely a partner
//! just spawned), and otherwise one every `UNSTARTED_INTERVAL` turns, so that a spawner that blocks on what it
//! spawned (a producer-consumer pipeline, a ping-pong pair, a fan-out it selects over) finds
//! them started next to it. An idle worker takes a victim's unstarted coroutines only once they have waited
//! there for `STEAL_AGE` as it watched (it keeps looking that long): a backlog of real work,
//! which it then shares by stealing enough to even the two workers out. A worker that has had
//! a backlog of started coroutines (two or more runnable) for `BACKLOG_AGE` while another is
//! idle or runs fewer coroutines does not start more of them itself, for up to `MAX_LEAVE`:
//! they are parallel work, and on a loaded machine the idle worker may need milliseconds to
//! get a core and take them. (A brief backlog is coroutines handing work to each other; they
//! are best started together.) One exception to starting at once: when the coroutine that ran
//! last parked to wait for I/O (a server's acceptor), what it spawned is not what it waits
//! for, so the worker leaves its unstarted coroutines to an idle worker that runs fewer
//! coroutines, which may take them at once, for up to `OFFER_MAX` (`offer_unstarted`);
//! otherwise a server's connections, accepted one by one, would all start, and stay, on the
//! acceptor's worker. The global queue, with nobody's affinity, is shared at once.
//!
//! A worker starts the coroutine spawned last first, and a thief takes the oldest: in a
//! fork-join program (a tree of coroutines that each spawn children and wait for them) the
//! owner then goes depth first, holding a few unstarted siblings per level, and the oldest
//! queued coroutines are the biggest subtrees, so one steal splits the tree near its root and
//! nearly every child reports to a parent on its own thread (Cilk's rule). Oldest first, the
//! owner would go breadth first: a queue as wide as a level of the tree, spilling to the global
//! queue and shared out a batch of leaves at a time (skynet, 1 M leaves on 2 workers: 400-800
//! ms that way, 150-220 ms this way; `tests/placement.rs` counts the crossings). Started
//! coroutines are not affected: their home queue stays first in, first out.
//!
//! # Idle workers
//!
//! An idle worker becomes a *spinning* searcher if fewer than half the workers already are;
//! searchers steal, fire due timers and watch their own inbox for `SEARCH_SPIN` before they
//! sleep. A worker with nothing to do sleeps on its own condition variable until it is
//! notified or the earliest timer of the runtime is due: an idle runtime uses no CPU. Pushes
//! of unstarted work wake a sleeper only when nobody is searching; a wake-up routed to a
//! worker's inbox wakes that worker if it sleeps. The sleep of an idle worker is where the
//! I/O driver (the netpoller, see `driver.rs`) hooks in, as Go's `netpoll` does in
//! `findrunnable`.
//!
//! # Stuck workers and spare threads
//!
//! A worker inside one coroutine for longer than a time slice (a loop with no greenchan call,
//! a blocking system call, a std lock, a C library) is *stuck*; the monitor (`sysmon.rs`)
//! rescues what may move off it: idle workers are woken to steal its unstarted coroutines and
//! fire its timers, and when every worker is stuck the monitor starts *spare* worker threads
//! (Go's `handoffp`), up to `max_spare_threads`. A spare is a worker like the others (the
//! coroutines it starts stay with it); it retires once it has no coroutine of its own left
//! and has been idle for `SPARE_KEEP_ALIVE`. A stuck coroutine then delays only the coroutines
//! that started on its own thread.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use crossbeam_deque::{Injector, Steal, Stealer, Worker as LocalQueue};
use crossbeam_utils::CachePadded;

pub(crate) mod context;
pub mod driver;
mod idle;
pub mod preempt;
mod registry;
pub(crate) mod report;
pub(crate) mod sysmon;
pub(crate) mod timer;

use idle::{Idle, Sleeper, Woke};
use registry::Registry;
use sysmon::{Monitor, SliceState};
use timer::TimerHeap;

/// A task of this scheduler, and the reference queues, timers and handles hold.
pub(crate) type Task = task::Task<Shared>;
pub(crate) type TaskRef = Arc<Task>;

// A million parked coroutines keep a million tasks: with its `Arc` header a task must stay one
// 256-byte allocation (the `parked` bar of DESIGN §4 counts every byte; see `JOB_SLOT_SIZE`).
// (Not under loom, whose atomics are larger.)
#[cfg(all(target_arch = "x86_64", not(greenchan_portable_fiber), not(loom)))]
const _: () = assert!(std::mem::size_of::<Task>() + 16 <= 248);

type Woken = TaskWoken<Shared>;

/// Why a coroutine handed control back to its worker (the message its fiber passes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Suspend {
    /// Runnable again at once; goes to the back of the queue.
    Yield = 0,
    /// Waiting for `unpark`; the worker commits the park (see `Task::commit_park`).
    Park = 1,
    /// Preempted asynchronously (`preempt/`): runnable, and resumed on this thread.
    Preempted = 2,
    /// Yielded at a preemption point because its time slice was over: as `Yield`, and the
    /// worker first lets what fell due meanwhile run (`Worker::after_slice`).
    SliceOver = 3,
}

impl Suspend {
    fn from_message(message: u8) -> Suspend {
        match message {
            0 => Suspend::Yield,
            1 => Suspend::Park,
            2 => Suspend::Preempted,
            3 => Suspend::SliceOver,
            other => unreachable!("a coroutine suspended with {other}"),
        }
    }
}

use crate::critical::{self, NoPreempt};
use crate::fiber::{self, Fiber, Landing, Outcome};
use crate::locking::lock;
use crate::stack::{self, RunningStack, StackPool};

use crate::task::job::{NO_STACK, SHUT_DOWN};
use crate::task::{self, Home, Woken as TaskWoken};

/// Past this many tasks a local queue sends half of them to the global queue.
const LOCAL_QUEUE_CAPACITY: usize = 256;
/// Finished tasks a worker keeps for reuse.
const TASK_POOL_SIZE: usize = 256;
/// Batches of `TASK_POOL_SIZE / 2` finished tasks a runtime's depot keeps for its workers.
const TASK_DEPOT_BATCHES: usize = 16;
/// Consecutive `runnext` runs before the other queues get a turn.
const RUNNEXT_STREAK: u32 = 16;
/// Every this many ticks a worker looks at the global queue before its own (Go uses 61).
const GLOBAL_CHECK_INTERVAL: u32 = 61;
/// Every this many ticks a busy worker checks its timers.
const TIMER_CHECK_INTERVAL: u32 = 16;
/// Every this many ticks a busy worker polls the I/O driver without blocking (if one is
/// installed and nobody else polls it).
const NETPOLL_CHECK_INTERVAL: u32 = 61;
/// Every this many ticks a worker with started coroutines to run starts one of its unstarted
/// ones first, so that coroutines yielding in a loop cannot hold back new ones.
const UNSTARTED_INTERVAL: u32 = 32;
/// How long a victim's unstarted coroutines must have been waiting, as a thief saw them,
/// before the thief takes them: long enough for a worker about to start them itself (a
/// spawner that then blocked on them, a burst of partners) to do so, so that coroutines that
/// talk to each other start on one worker; short next to the work a real backlog means.
const STEAL_AGE: Duration = Duration::from_micros(100);
/// How long at most a worker with a backlog leaves its unstarted coroutines to a lighter
/// worker. An idle worker on a loaded machine may wait tens of milliseconds for a core before
/// it can take them; meanwhile the waiting worker is busy with its started ones, so nothing
/// waits on a worker that has nothing to do.
const MAX_LEAVE: Duration = Duration::from_millis(100);
/// How long a worker must have had a backlog of started work (two or more runnable) before
/// it leaves its unstarted coroutines to lighter workers: a backlog that lasts is CPU-bound
/// work worth spreading; a brief one is coroutines handing work to each other, best kept
/// together.
const BACKLOG_AGE: Duration = Duration::from_micros(50);
/// Least time between two releases of idle stacks' memory.
const TRIM_INTERVAL: Duration = Duration::from_secs(1);
/// How long a searching worker keeps looking before it goes to sleep. Spinning this long
/// costs little CPU and saves the futex wake-up a sleeping worker would need when work
/// arrives a few microseconds later, which is the common case for message passing.
const SEARCH_SPIN: Duration = Duration::from_micros(50);
/// The search's spin while I/O is waking coroutines (the driver woke some since this worker's
/// last search). Such work arrives from the kernel, and a worker blocked in the poll is
/// woken by it as cheaply as a spinning one finds it; spinning longer only takes the CPU
/// from whoever produces the I/O, often a process on the same cores. (A TCP echo server on
/// 2 workers, its client on the same 2 cores: 50 µs of spin cost a third of its throughput.)
const SEARCH_SPIN_IO: Duration = Duration::from_micros(5);
/// How long at most a worker leaves the coroutines spawned by one that then parked on I/O to a
/// lighter idle worker (see `Worker::offer_unstarted`) before it starts them itself.
const OFFER_MAX: Duration = Duration::from_micros(100);
/// How long a spare worker with no coroutine of its own stays idle before it retires.
pub(crate) const SPARE_KEEP_ALIVE: Duration = Duration::from_secs(1);

/// Settings of a runtime, fixed when it is built.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    /// Worker threads started with the runtime.
    pub(crate) workers: usize,
    /// Most spare workers the monitor may start while workers are stuck.
    pub(crate) max_spare: usize,
    pub(crate) stack_size: usize,
    pub(crate) time_slice: Duration,
    pub(crate) thread_name: String,
    /// Task flags every coroutine of this runtime gets (`task::MIGRATE`,
    /// `task::ASYNC_PREEMPT`): the runtime-wide `unsafe` opt-ins.
    pub(crate) task_flags: u8,
}

/// A slot's two work-stealing deques, held by the thread that serves the slot (and by the slot
/// while none does); `Shared` keeps the stealing ends.
pub(crate) struct Queues {
    /// Unstarted coroutines: last in, first out for the worker, oldest first for thieves.
    local: LocalQueue<TaskRef>,
    /// Runnable coroutines that opted in to migration: first in, first out for everyone.
    moving: LocalQueue<TaskRef>,
}

impl Queues {
    fn new() -> Queues {
        Queues {
            local: LocalQueue::new_lifo(),
            moving: LocalQueue::new_fifo(),
        }
    }
}

/// The part of a worker other threads may touch. One per slot: the runtime's workers, then
/// room for its spare workers.
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
    /// Started coroutines of this worker made runnable by other threads.
    inbox: Injector<TaskRef>,
    /// Set by the monitor while the worker has been inside one coroutine past a time slice.
    stuck: AtomicBool,
    /// Set while the worker leaves its unstarted coroutines to a lighter idle worker after an
    /// I/O park (see `Worker::offer_unstarted`): thieves may take them at once.
    offering: AtomicBool,
    /// Set while a thread runs this slot.
    active: AtomicBool,
    /// The slot's thread, woken when a coroutine that blocks it is unparked.
    thread: Mutex<Option<Thread>>,
    /// Started coroutines of this worker that have not finished.
    live: AtomicUsize,
    /// The coroutines of this worker that have suspended at least once (`registry.rs`).
    registry: Registry,
    /// The id of the coroutine this worker runs (0: none); since when, the monitor records
    /// (`SliceState::running_since`).
    running_id: AtomicU64,
    /// What the worker counted of its own work.
    counters: WorkerCounters,
}

/// Counts a worker keeps of its own work, for `metrics`. Each is written by its worker alone,
/// with a load and a store (`bump`), no locked instruction.
#[derive(Default)]
pub(crate) struct WorkerCounters {
    /// Coroutines spawned by code running on this worker.
    pub(crate) spawned: AtomicU64,
    /// Coroutines that ended on this worker.
    pub(crate) finished: AtomicU64,
    /// Successful steals of unstarted coroutines from other workers.
    pub(crate) steals: AtomicU64,
    /// Polls of the I/O driver (blocking or not).
    pub(crate) polls: AtomicU64,
    /// Timed waits this worker ended (its own timers, or an overrunning worker's).
    pub(crate) timers_fired: AtomicU64,
    /// Yields at a preemption point because the time slice was used up.
    pub(crate) slice_yields: AtomicU64,
}

/// Adds one to a counter only its owner writes.
#[inline]
fn bump(counter: &AtomicU64) {
    counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
}

impl Remote {
    /// One of this worker's started coroutines ended; called on the worker's own thread, the
    /// only writer of `live`.
    #[inline]
    fn coroutine_ended(&self) {
        self.live
            .store(self.live.load(Ordering::Relaxed) - 1, Ordering::Relaxed);
    }

    fn new() -> Remote {
        Remote {
            sleeper: Sleeper::default(),
            timers: Mutex::new(TimerHeap::default()),
            next_timer: AtomicU64::new(u64::MAX),
            slice: SliceState::default(),
            direct_switches: AtomicU64::new(0),
            inbox: Injector::new(),
            registry: Registry::default(),
            running_id: AtomicU64::new(0),
            counters: WorkerCounters::default(),
            stuck: AtomicBool::new(false),
            offering: AtomicBool::new(false),
            active: AtomicBool::new(false),
            thread: Mutex::new(None),
            live: AtomicUsize::new(0),
        }
    }
}

/// Workers, of any runtime, asleep on their condition variable instead of in their poller
/// (another runtime's worker with the same index polls it, or it had nothing registered).
/// When a polling worker exits (its runtime shuts down) it wakes one with its index to take
/// the poll over, or I/O waiters of the other runtimes would never be woken; when the driver
/// moves an orphaned poller's registrations to poller `i`, the workers with index `i` are
/// woken to poll them.
static POLL_STANDBY: Mutex<Vec<(std::sync::Weak<Shared>, usize)>> = Mutex::new(Vec::new());

/// Wakes one worker of a live runtime with index `poller` that sleeps instead of polling.
fn hand_off_poll(poller: usize) {
    let mut standby = lock(&POLL_STANDBY);
    let mut i = 0;
    while i < standby.len() {
        if standby[i].1 != poller {
            i += 1;
            continue;
        }
        let (shared, index) = standby.swap_remove(i);
        if let Some(shared) = shared.upgrade().filter(|s| !s.is_shutdown()) {
            drop(standby);
            shared.notify_sleeper(index);
            return;
        }
    }
}

/// State shared by all workers of one runtime and by every handle into it.
pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) stacks: StackPool,
    injector: Injector<TaskRef>,
    /// One per slot, like `remotes`: the ends thieves take unstarted coroutines from.
    stealers: Box<[Stealer<TaskRef>]>,
    /// One per slot: the ends thieves take runnable migrating coroutines from.
    movers: Box<[Stealer<TaskRef>]>,
    /// Padded: each worker writes its own on every switch.
    remotes: Box<[CachePadded<Remote>]>,
    /// The local queues of slots no thread runs now; a thread takes its slot's at start and
    /// gives it back when it exits.
    free_locals: Mutex<Vec<Option<Queues>>>,
    /// Slots `0..slots_used` have run a thread at some point: the range thieves look at.
    slots_used: AtomicUsize,
    /// Slots that run a thread now.
    active: AtomicUsize,
    /// Spare workers running now.
    spares: AtomicUsize,
    /// Threads of spare workers, joined at shutdown (and reaped by the monitor).
    spare_threads: Mutex<Vec<thread::JoinHandle<()>>>,
    idle: Idle,
    monitor: Monitor,
    shutdown: AtomicBool,
    epoch: Instant,
    /// When idle stacks' memory was last given back, in nanoseconds since `epoch`.
    last_trim: AtomicU64,
    /// Batches of finished tasks that a worker's full pool handed over, for a worker whose
    /// pool ran dry (see `keep_for_reuse`).
    task_depot: Mutex<Vec<Vec<TaskRef>>>,
    /// Batches in `task_depot`, kept beside it under its lock, so that a spawn whose pool is
    /// dry (every spawn, while the tasks it makes are held by their join handles) looks at an
    /// atomic instead of taking a lock. A stale zero costs one allocation, nothing else.
    task_depot_batches: AtomicUsize,
    /// Times the monitor woke or started a worker for a stuck worker's movable work.
    pub(crate) rescues: AtomicU64,
    /// Spare workers started so far.
    pub(crate) spares_started: AtomicU64,
    /// A coarse clock, nanoseconds since `epoch`, advanced by the monitor at each of its
    /// samples: what diagnostics stamp coroutines with, for the price of one load.
    clock: AtomicU64,
    /// Coroutines spawned from outside the runtime's workers, and coroutines dropped unrun or
    /// unwound at shutdown.
    spawned_outside: AtomicU64,
    discarded: AtomicU64,
    /// The registry of the coroutines that may migrate (they have no one worker).
    migrating: Registry,
}

/// Threads greenchan runs in this process (workers, spare workers, monitors, the blocking
/// pool), for deadlock detection: any other thread might still wake a coroutine.
static INTERNAL_THREADS: AtomicUsize = AtomicUsize::new(0);

/// Counts the calling thread as one of greenchan's own while it lives.
pub(crate) struct InternalThread(());

impl InternalThread {
    /// Runs `body`, the whole life of one of greenchan's own threads (`role` names it), as
    /// such: counted for deadlock detection, and never unwinding. The user code these threads
    /// run (a coroutine, on its own stack; a closure dropped unrun; a blocking job) has its
    /// panics caught where it runs, so a panic that reaches here is greenchan's bug. Unwinding
    /// would be worse than stopping: a worker's thread that ended would leave every coroutine
    /// that started on it parked for ever, and whoever waits for them hanging without a word.
    /// So, as Go's runtime throws, the process aborts, after the panic's message.
    pub(crate) fn run<T>(role: &str, body: impl FnOnce() -> T) -> T {
        INTERNAL_THREADS.fetch_add(1, Ordering::SeqCst);
        let _counted = InternalThread(());
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)) {
            Ok(value) => value,
            Err(_) => {
                eprintln!(
                    "greenchan: a panic (above) reached the top of the runtime's {role} thread; \
                     aborting, as its coroutines could never run again"
                );
                std::process::abort()
            }
        }
    }
}

impl Drop for InternalThread {
    fn drop(&mut self) {
        INTERNAL_THREADS.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Threads greenchan runs in this process now.
pub(crate) fn internal_threads() -> usize {
    INTERNAL_THREADS.load(Ordering::SeqCst)
}

/// Every runtime of the process, for `dump`.
static RUNTIMES: Mutex<Vec<std::sync::Weak<Shared>>> = Mutex::new(Vec::new());

impl Shared {
    /// Creates the shared state; the worker threads take their slot's local queue at start.
    pub(crate) fn new(config: Config) -> Arc<Shared> {
        let slots = config.workers + config.max_spare;
        let locals: Vec<_> = (0..slots).map(|_| Queues::new()).collect();
        let stealers = locals.iter().map(|q| q.local.stealer()).collect();
        let movers = locals.iter().map(|q| q.moving.stealer()).collect();
        let remotes = (0..slots)
            .map(|_| CachePadded::new(Remote::new()))
            .collect();
        let shared = Arc::new(Shared {
            stacks: StackPool::new(),
            injector: Injector::new(),
            stealers,
            movers,
            remotes,
            free_locals: Mutex::new(locals.into_iter().map(Some).collect()),
            slots_used: AtomicUsize::new(config.workers),
            active: AtomicUsize::new(0),
            spares: AtomicUsize::new(0),
            spare_threads: Mutex::new(Vec::new()),
            idle: Idle::new(slots),
            monitor: Monitor::default(),
            shutdown: AtomicBool::new(false),
            epoch: Instant::now(),
            last_trim: AtomicU64::new(0),
            task_depot: Mutex::new(Vec::new()),
            task_depot_batches: AtomicUsize::new(0),
            rescues: AtomicU64::new(0),
            spares_started: AtomicU64::new(0),
            // 1, not 0 (which the records read as "never"): a coroutine that suspends before
            // the monitor's first tick has still run, at the runtime's start.
            clock: AtomicU64::new(1),
            spawned_outside: AtomicU64::new(0),
            discarded: AtomicU64::new(0),
            migrating: Registry::default(),
            config,
        });
        let mut runtimes = lock(&RUNTIMES);
        runtimes.retain(|r| r.strong_count() > 0);
        runtimes.push(Arc::downgrade(&shared));
        drop(runtimes);
        shared
    }

    /// The coarse clock (see `clock`).
    #[inline]
    pub(crate) fn clock(&self) -> u64 {
        self.clock.load(Ordering::Relaxed)
    }

    /// Advances the coarse clock to now (the monitor, at each sample).
    pub(crate) fn tick_clock(&self) {
        self.clock
            .store(self.nanos_since_epoch(Instant::now()), Ordering::Relaxed);
    }

    /// If nothing can happen in the runtime on its own (every worker asleep, nothing queued,
    /// no timed wait pending), a fingerprint of all it has done so far: a later call that
    /// returns the same one saw no activity in between.
    pub(crate) fn quiescence(&self) -> Option<u64> {
        let used = self.slots_used.load(Ordering::Acquire);
        if self.is_shutdown()
            || self.idle.sleeping() != self.active.load(Ordering::SeqCst)
            || !self.injector.is_empty()
        {
            return None;
        }
        let mut fingerprint =
            self.spawned_outside.load(Ordering::Relaxed) + self.discarded.load(Ordering::Relaxed);
        for (index, remote) in self.remotes[..used].iter().enumerate() {
            if !self.stealers[index].is_empty()
                || !self.movers[index].is_empty()
                || !remote.inbox.is_empty()
                || lock(&remote.timers).has_live()
            {
                return None;
            }
            let c = &remote.counters;
            fingerprint = fingerprint
                .wrapping_add(remote.slice.sample().0)
                .wrapping_add(c.spawned.load(Ordering::Relaxed))
                .wrapping_add(c.finished.load(Ordering::Relaxed))
                .wrapping_add(c.polls.load(Ordering::Relaxed))
                .wrapping_add(c.timers_fired.load(Ordering::Relaxed));
        }
        Some(fingerprint)
    }

    /// The registry a task belongs in.
    fn registry_of(&self, task: &Task) -> &Registry {
        if task.may_migrate() {
            &self.migrating
        } else {
            &self.remotes[task.home()].registry
        }
    }

    /// Registers `task`, which is suspending, if it is not registered yet: the check comes
    /// before the registry is looked up, since nearly every suspension finds it registered.
    #[inline]
    fn register(&self, task: &TaskRef) {
        if task.registry_index() == crate::task::NOT_REGISTERED {
            self.registry_of(task).insert_slow(task);
        }
    }

    /// Direct switches made by this runtime's workers so far (see `park_direct`).
    pub(crate) fn direct_switches(&self) -> u64 {
        self.remotes
            .iter()
            .map(|r| r.direct_switches.load(Ordering::Relaxed))
            .sum()
    }

    /// Entries in the workers' timer heaps, live or stale.
    pub(crate) fn timer_entries(&self) -> usize {
        self.remotes.iter().map(|r| lock(&r.timers).len()).sum()
    }

    /// Slots: the runtime's workers and room for its spare workers.
    pub(crate) fn slot_count(&self) -> usize {
        self.remotes.len()
    }

    /// Spare workers running now.
    pub(crate) fn spares_running(&self) -> usize {
        self.spares.load(Ordering::SeqCst)
    }

    pub(crate) fn is_shutdown(&self) -> bool {
        self.shutdown.load(Ordering::Acquire)
    }

    /// Starts the thread of worker `index` (a primary worker at build time, or a spare).
    pub(crate) fn start_worker(
        self: &Arc<Self>,
        index: usize,
        spare: bool,
    ) -> std::io::Result<thread::JoinHandle<()>> {
        let remote = &self.remotes[index];
        remote.active.store(true, Ordering::SeqCst);
        remote.stuck.store(false, Ordering::SeqCst);
        self.active.fetch_add(1, Ordering::SeqCst);
        self.idle.worker_starting();
        let name = if spare {
            format!("{}-spare-{index}", self.config.thread_name)
        } else {
            format!("{}-{index}", self.config.thread_name)
        };
        let shared = self.clone();
        let spawned = thread::Builder::new().name(name).spawn(move || {
            InternalThread::run("worker", || {
                // Taken by the new thread, so that a failed start leaves them with the slot:
                // the slot's stealers are theirs, and new queues would be out of every
                // thief's reach.
                let queues = lock(&shared.free_locals)[index]
                    .take()
                    .expect("a starting slot has its queues");
                Worker::new(index, shared, queues, spare).run()
            })
        });
        if spawned.is_err() {
            self.idle.worker_started();
            self.retire_slot(index);
        }
        spawned
    }

    /// Marks slot `index` free again (its thread exited or never started).
    fn retire_slot(&self, index: usize) {
        self.remotes[index].active.store(false, Ordering::SeqCst);
        self.active.fetch_sub(1, Ordering::SeqCst);
    }

    /// Stops the workers: each finishes the coroutine it is running, then exits, dropping the
    /// tasks still queued.
    pub(crate) fn begin_shutdown(&self) {
        self.shutdown.store(true, Ordering::Release);
        for index in 0..self.remotes.len() {
            self.notify_sleeper(index);
        }
        self.monitor.wake();
    }

    /// Joins the spare workers' threads (after the monitor, which starts them, has stopped),
    /// waiting until `deadline` at most; returns those still running then.
    pub(crate) fn join_spares_by(&self, deadline: Option<Instant>) -> Vec<thread::JoinHandle<()>> {
        let me = thread::current().id();
        let spares = std::mem::take(&mut *lock(&self.spare_threads));
        let mut left = Vec::new();
        for t in spares {
            if t.thread().id() == me {
                continue;
            }
            while !t.is_finished() && deadline.is_none_or(|d| Instant::now() < d) {
                thread::sleep(Duration::from_millis(1));
            }
            if t.is_finished() {
                let _ = t.join();
            } else {
                left.push(t);
            }
        }
        left
    }

    /// Each active worker's slot: index, time-slice state, and whether it is stuck.
    pub(crate) fn active_slots(&self) -> impl Iterator<Item = (usize, &SliceState)> {
        let used = self.slots_used.load(Ordering::Acquire);
        self.remotes[..used]
            .iter()
            .enumerate()
            .filter(|(_, r)| r.active.load(Ordering::Acquire))
            .map(|(i, r)| (i, &r.slice))
    }

    /// Tells whether worker `index` is stuck (set by the monitor).
    pub(crate) fn set_stuck(&self, index: usize, stuck: bool) {
        let remote = &self.remotes[index];
        if remote.stuck.load(Ordering::Relaxed) != stuck {
            remote.stuck.store(stuck, Ordering::SeqCst);
        }
    }

    /// The monitor's rescue, run once per sample while some worker is stuck: if work that
    /// may move is waiting where only stuck workers would get to it (their unstarted
    /// coroutines, their due timers, the global queue, an unpolled I/O driver), wake an idle
    /// worker to take it, or, when no worker that is not stuck is left idle and fewer such
    /// workers run than the runtime was built with, start a spare.
    pub(crate) fn rescue(self: &Arc<Self>, stuck: &[usize], now: Instant) {
        if self.is_shutdown() || stuck.is_empty() {
            return;
        }
        // A stuck worker's poller: the monitor polls it itself (without blocking), so the
        // waiters of its sockets on other workers are woken.
        if let Some(driver) = driver::installed() {
            driver.rescue(self.config.time_slice);
        }
        let now_nanos = self.nanos_since_epoch(now);
        let movable = !self.injector.is_empty()
            || stuck.iter().any(|&i| {
                !self.stealers[i].is_empty()
                    || !self.movers[i].is_empty()
                    || self.remotes[i].next_timer.load(Ordering::Acquire) <= now_nanos
            });
        if !movable {
            return;
        }
        // Somebody idle and not stuck will take it once woken (a searcher takes it anyway).
        if self.idle.spinning() > 0 {
            return;
        }
        if self.idle.sleeping() > 0 {
            self.rescues.fetch_add(1, Ordering::Relaxed);
            self.notify_one();
            return;
        }
        let running = self
            .active
            .load(Ordering::SeqCst)
            .saturating_sub(stuck.len());
        if running >= self.config.workers {
            return;
        }
        self.start_spare();
    }

    /// Starts a spare worker in a free slot, if the cap allows.
    fn start_spare(self: &Arc<Self>) {
        if self.spares.load(Ordering::SeqCst) >= self.config.max_spare {
            return;
        }
        let total = self.remotes.len();
        let Some(index) = (self.config.workers..total).find(|&i| {
            !self.remotes[i].active.load(Ordering::SeqCst) && lock(&self.free_locals)[i].is_some()
        }) else {
            return;
        };
        self.slots_used.fetch_max(index + 1, Ordering::AcqRel);
        self.spares.fetch_add(1, Ordering::SeqCst);
        match self.start_worker(index, true) {
            Ok(handle) => {
                self.rescues.fetch_add(1, Ordering::Relaxed);
                self.spares_started.fetch_add(1, Ordering::Relaxed);
                let mut threads = lock(&self.spare_threads);
                threads.retain(|t| !t.is_finished());
                threads.push(handle);
            }
            Err(e) => {
                self.spares.fetch_sub(1, Ordering::SeqCst);
                eprintln!("greenchan: cannot start a spare worker: {e}");
            }
        }
    }

    pub(crate) fn monitor(&self) -> &Monitor {
        &self.monitor
    }

    /// Drops a task its runtime's shutdown leaves behind (see `Task::discard`), out of its
    /// registry and counted.
    fn discard(&self, task: TaskRef) {
        if task.registry_index() != crate::task::NOT_REGISTERED {
            self.registry_of(&task).remove(&task);
        }
        if !task.has_started() && task.stack_promised() {
            self.stacks.release_promise(task.stack_size());
        }
        self.discarded.fetch_add(1, Ordering::Relaxed);
        task.discard(SHUT_DOWN);
    }

    /// Drops what is left in the global queue and the timers once the workers are gone, which
    /// also breaks the reference cycle between queued tasks and this structure.
    pub(crate) fn drain_after_shutdown(&self) {
        loop {
            match self.injector.steal() {
                Steal::Success(task) => self.discard(task),
                Steal::Retry => continue,
                Steal::Empty => break,
            }
        }
        for remote in self.remotes.iter() {
            loop {
                match remote.inbox.steal() {
                    // Not on its thread: it cannot be unwound here (see `release`).
                    Steal::Success(task) => self.discard(task),
                    Steal::Retry => continue,
                    Steal::Empty => break,
                }
            }
            let mut timers = lock(&remote.timers);
            let stale = std::mem::take(&mut *timers);
            drop(timers);
            drop(stale);
        }
        let kept = std::mem::take(&mut *lock(&self.task_depot));
        self.task_depot_batches.store(0, Ordering::Relaxed);
        drop(kept);
    }

    /// Keeps a batch of finished tasks for any worker, or drops it if the depot is full.
    fn put_task_batch(&self, batch: Vec<TaskRef>) {
        let mut depot = lock(&self.task_depot);
        // Not after shutdown: the depot is drained once, and its tasks refer to `self`.
        if depot.len() < TASK_DEPOT_BATCHES && !self.is_shutdown() {
            depot.push(batch);
            self.task_depot_batches
                .store(depot.len(), Ordering::Relaxed);
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

    pub(crate) fn nanos_since_epoch(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.epoch).as_nanos() as u64
    }

    /// Queues a task from outside any worker of this runtime: an unstarted (or migrating)
    /// one on the global queue, a started one in its home worker's inbox.
    pub(crate) fn inject(self: &Arc<Self>, task: TaskRef) {
        if self.is_shutdown() {
            // Workers are gone or going: nobody would run it.
            self.discard(task);
            return;
        }
        if task.has_started() && !task.may_migrate() {
            self.send_home(task);
            return;
        }
        self.injector.push(task);
        self.notify_one();
    }

    /// Gives a started coroutine back to its home worker, from another thread.
    fn send_home(&self, task: TaskRef) {
        let home = task.home();
        let remote = &self.remotes[home];
        remote.inbox.push(task);
        // Either the worker sees the task when it looks at its inbox after announcing its
        // sleep, or we see the announcement and wake it (`idle.rs`).
        if self.idle.must_wake(home) {
            self.wake_worker(home);
        }
    }

    /// Wakes a coroutine that blocks its home worker's thread (see `coroutine::park`).
    fn unblock(&self, task: &Task) {
        if let Some(thread) = lock(&self.remotes[task.home()].thread).as_ref() {
            thread.unpark();
        }
    }

    /// Wakes a sleeping worker as a searcher if nobody searches already (`idle.rs`), after
    /// work for anyone was made visible.
    fn notify_one(&self) {
        if let Some(index) = self.idle.pick_searcher() {
            self.notify_sleeper(index);
        }
    }

    /// `notify_one` without the fence, for work pushed to the pushing worker's own queue (see
    /// `Idle::pick_searcher_relaxed`).
    fn notify_one_relaxed(&self) {
        if let Some(index) = self.idle.pick_searcher_relaxed() {
            self.notify_sleeper(index);
        }
    }

    /// Wakes worker `index` if it sleeps, for work in its inbox (not as a searcher).
    fn wake_worker(&self, index: usize) {
        if self.idle.take_sleeper(index) {
            self.notify_sleeper(index);
        }
    }

    /// Ends the sleep of worker `index`, breaking its poll of the I/O driver if it polls.
    fn notify_sleeper(&self, index: usize) {
        if self.remotes[index].sleeper.notify() {
            if let Some(driver) = driver::installed() {
                driver.wake(index);
            }
        }
    }

    /// True while another worker than `me` (which runs `live` coroutines) is idle (starting,
    /// searching or asleep), or runs fewer coroutines and is not stuck: one that would take
    /// unstarted work off `me` when it next looks for work.
    fn has_lighter_worker(&self, me: usize, live: usize) -> bool {
        if self.idle.any_idle() {
            return true;
        }
        self.runs_fewer(me, live)
    }

    /// True if another worker than `me` (which runs `live` coroutines, and is a searcher if
    /// `me_spinning`) is asleep or searching, and some worker other than `me` runs fewer and is
    /// not stuck: who `offer_unstarted` leaves work to.
    fn has_lighter_idle_worker(&self, me: usize, live: usize, me_spinning: bool) -> bool {
        if self.idle.sleeping() == 0 && self.idle.spinning() <= usize::from(me_spinning) {
            return false;
        }
        self.runs_fewer(me, live)
    }

    /// True if a worker other than `me`, not stuck, runs fewer than `live` coroutines.
    fn runs_fewer(&self, me: usize, live: usize) -> bool {
        let used = self.slots_used.load(Ordering::Acquire);
        self.remotes[..used].iter().enumerate().any(|(i, r)| {
            i != me
                && r.active.load(Ordering::Relaxed)
                && !r.stuck.load(Ordering::Relaxed)
                && r.live.load(Ordering::Relaxed) < live
        })
    }

    fn has_visible_work(&self, me: usize) -> bool {
        let used = self.slots_used.load(Ordering::Acquire);
        !self.injector.is_empty()
            || !self.remotes[me].inbox.is_empty()
            || self.stealers[..used].iter().any(|s| !s.is_empty())
            || self.movers[..used].iter().any(|s| !s.is_empty())
    }

    fn earliest_timer(&self) -> Option<Instant> {
        let used = self.slots_used.load(Ordering::Acquire);
        let nanos = self.remotes[..used]
            .iter()
            .map(|r| r.next_timer.load(Ordering::Acquire))
            .min()?;
        (nanos != u64::MAX).then(|| self.epoch + Duration::from_nanos(nanos))
    }

    fn any_timer_due(&self, now: Instant) -> bool {
        let now = self.nanos_since_epoch(now);
        let used = self.slots_used.load(Ordering::Acquire);
        self.remotes[..used]
            .iter()
            .any(|r| r.next_timer.load(Ordering::Acquire) <= now)
    }
}

/// Wakes a coroutine (what every unpark of one does): a parked one is scheduled; one that
/// blocks its thread has that thread woken; otherwise a token is left.
pub(crate) fn wake(task: &Task) {
    match task.unpark() {
        Woken::Run(task) => schedule(task),
        Woken::Unblock => task.runtime.unblock(task),
        Woken::Nothing => {}
    }
}

/// Schedules a task that was just made runnable by `unpark`.
///
/// A started coroutine goes home: on its own worker into `runnext` when a coroutine woke it
/// (it will most likely consume what the waker produced), else into the home queue; from
/// anywhere else into its worker's inbox. A coroutine allowed to migrate goes to the waker's
/// worker instead, or to the global queue from outside the runtime.
pub(crate) fn schedule(task: TaskRef) {
    // Coroutine code calls this; the worker's queues must not be half-updated if it is
    // preempted (the same goes for the other entry points below).
    let _no_preempt = NoPreempt::new();
    with_worker(|worker| match worker {
        Some(worker) if Arc::ptr_eq(&worker.shared, &task.runtime) => {
            let by_coroutine = !context::current_task().is_null();
            worker.make_runnable(task, by_coroutine);
        }
        _ => {
            let shared = task.runtime.clone();
            shared.inject(task);
        }
    });
}

/// Queues a newly spawned task: on the spawning worker's local queue when the spawner runs on
/// a worker of the same runtime, else on the global queue.
pub(crate) fn schedule_new(task: TaskRef) {
    let _no_preempt = NoPreempt::new();
    with_worker(|worker| match worker {
        Some(worker) if Arc::ptr_eq(&worker.shared, &task.runtime) => {
            bump(&worker.shared.remotes[worker.index].counters.spawned);
            worker.push_local(task);
        }
        _ => {
            let shared = task.runtime.clone();
            shared.spawned_outside.fetch_add(1, Ordering::Relaxed);
            shared.inject(task);
        }
    });
}

/// Runs `f` with the worker this thread is, if it is one. The reference must not escape `f`.
fn with_worker<R>(f: impl FnOnce(Option<&Worker>) -> R) -> R {
    let worker = context::worker();
    // SAFETY: a non-null worker pointer is published by `Worker::run` on this thread and stays
    // valid until that function returns, which is after any code it runs; the reference lives
    // only as long as `f`.
    f(unsafe { worker.as_ref() })
}

/// True if this thread may unwind `task`'s coroutine: it has not started, it may migrate, or
/// this thread is its home worker's. A started coroutine is never resumed elsewhere, not
/// even to unwind it: its destructors may touch its thread's thread-locals.
pub(crate) fn on_home_thread(task: &Task) -> bool {
    if !task.has_started() || task.may_migrate() {
        return true;
    }
    with_worker(|worker| {
        worker.is_some_and(|w| Arc::ptr_eq(&w.shared, &task.runtime) && w.index == task.home())
    })
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
        if shared.task_depot_batches.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let mut depot = lock(&shared.task_depot);
        let batch = depot.pop();
        shared
            .task_depot_batches
            .store(depot.len(), Ordering::Relaxed);
        drop(depot);
        *pool = batch?;
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
    with_worker(|worker| {
        worker.is_some_and(|w| {
            let remote = &w.shared.remotes[w.index];
            let expired = remote.slice.take_preempt();
            if expired {
                bump(&remote.counters.slice_yields);
            }
            expired
        })
    })
}

/// One worker thread's private state; lives on that thread's stack for as long as it runs.
pub(crate) struct Worker {
    index: usize,
    shared: Arc<Shared>,
    /// Unstarted coroutines, newest first for this worker; others steal the oldest.
    local: LocalQueue<TaskRef>,
    /// Started coroutines that may migrate (`allow_migration`) and are runnable, first in,
    /// first out; others steal from it.
    moving: LocalQueue<TaskRef>,
    /// Started coroutines of this worker that are runnable; nobody else touches it.
    home: RefCell<VecDeque<TaskRef>>,
    runnext: Cell<Option<TaskRef>>,
    runnext_streak: Cell<u32>,
    tick: Cell<u32>,
    /// Set by `after_slice`: the next pick takes from the local queue first.
    local_first: Cell<bool>,
    spinning: Cell<bool>,
    rng: Cell<u32>,
    /// Count of coroutine resumptions, published to the monitor.
    switches: Cell<u64>,
    /// Finished tasks kept for reuse by spawns on this worker (`keep_for_reuse`).
    task_pool: RefCell<Vec<TaskRef>>,
    /// The task whose coroutine runs now, while the worker is switched out to it. A direct
    /// switch (`park_direct`) replaces it with the coroutine it switches to.
    running: Cell<Option<TaskRef>>,
    /// A task whose coroutine switched directly to another while parking: the coroutine it
    /// switched to commits that park as soon as it lands (`commit_handed_park`).
    handed: Cell<Option<TaskRef>>,
    /// Since when this worker, with a backlog of started work, has left its unstarted
    /// coroutines to idle peers (see `leave_unstarted`).
    left_since: Cell<Option<Instant>>,
    /// Since when this worker has had two or more started coroutines runnable, as sampled by
    /// `leave_unstarted`.
    backlog_since: Cell<Option<Instant>>,
    /// Per slot, during one search: since when this worker has seen the victim's unstarted
    /// coroutines waiting, without a pause (see `STEAL_AGE`).
    sightings: RefCell<Vec<Option<Instant>>>,
    /// A spare worker (started by the monitor; retires when idle).
    spare: bool,
    /// Whether the last coroutine that ran here switched out by parking (rather than by
    /// yielding or ending), for `leave_unstarted`.
    parked_turn: Cell<bool>,
    /// Whether the backlog of started work (`backlog_since`) had lasted `BACKLOG_AGE` when
    /// last looked at: the worker is busy, not just handing work between partners.
    backlog_lasts: Cell<bool>,
    /// The I/O driver's wake-up count when this worker last searched (see `SEARCH_SPIN_IO`).
    io_wakeups: Cell<u64>,
    /// Set by the running coroutine just before it parks to wait for I/O
    /// (`driver::parking_on_io`); read and cleared when it has switched out.
    pub(super) io_park: Cell<bool>,
    /// Whether the last coroutine that ran here parked to wait for I/O.
    io_turn: Cell<bool>,
    /// Since when this worker has left its unstarted coroutines to a lighter idle worker.
    offer_since: Cell<Option<Instant>>,
}

impl Worker {
    pub(crate) fn new(index: usize, shared: Arc<Shared>, queues: Queues, spare: bool) -> Worker {
        let slots = shared.remotes.len();
        Worker {
            index,
            shared,
            local: queues.local,
            moving: queues.moving,
            home: RefCell::new(VecDeque::new()),
            runnext: Cell::new(None),
            runnext_streak: Cell::new(0),
            tick: Cell::new(0),
            local_first: Cell::new(false),
            spinning: Cell::new(false),
            rng: Cell::new(0x9E37_79B9 ^ (index as u32).wrapping_mul(0x85EB_CA6B) | 1),
            switches: Cell::new(0),
            task_pool: RefCell::new(Vec::new()),
            running: Cell::new(None),
            handed: Cell::new(None),
            left_since: Cell::new(None),
            backlog_since: Cell::new(None),
            sightings: RefCell::new(vec![None; slots]),
            spare,
            parked_turn: Cell::new(false),
            backlog_lasts: Cell::new(false),
            io_wakeups: Cell::new(0),
            io_park: Cell::new(false),
            io_turn: Cell::new(false),
            offer_since: Cell::new(None),
        }
    }

    /// The worker loop; returns when the runtime shuts down (or a spare retires).
    pub(crate) fn run(self) {
        stack::install_overflow_handler();
        let remote = &self.shared.remotes[self.index];
        *lock(&remote.thread) = Some(thread::current());
        let registration = preempt::WorkerRegistration::new(&remote.slice);
        context::set_worker(&self);
        context::set_slice_flag(remote.slice.preempt_flag());
        self.shared.idle.worker_started();
        driver::worker_started(self.index);
        while !self.shared.is_shutdown() {
            self.tick.set(self.tick.get().wrapping_add(1));
            if let Some(task) = self.next_task() {
                if self.spinning.get() {
                    // Woken to search, it found work in its own queues: it searches no more.
                    self.found();
                }
                self.run_task(task);
            } else if let Some(task) = self.search() {
                self.found();
                self.run_task(task);
            } else if !self.sleep() {
                break; // a spare retiring
            }
        }
        if driver::installed().is_some() {
            hand_off_poll(self.index);
        }
        driver::worker_exited(self.index);
        if self.spinning.replace(false) {
            self.shared.idle.end_search();
        }
        self.unwind_everything();
        context::set_worker(std::ptr::null());
        context::set_slice_flag(std::ptr::null());
        drop(registration);
        *lock(&remote.thread) = None;
        let Worker {
            index,
            shared,
            local,
            moving,
            task_pool,
            ..
        } = self;
        drop(task_pool);
        lock(&shared.free_locals)[index] = Some(Queues { local, moving });
        shared.retire_slot(index);
    }

    /// At shutdown: drops what is queued here and unwinds every coroutine of this worker that
    /// is still parked, on this thread, while it is still this worker's (a started coroutine is
    /// only ever unwound on its own thread, see `release`), so that their destructors run:
    /// their channel ends close, their locks release, their sockets close, and their joiners
    /// learn that the runtime shut down. Coroutines that may migrate are unwound by whichever
    /// worker gets to them. Destructors that wake coroutines of this worker queue them here
    /// again, so it repeats until nothing is left.
    fn unwind_everything(&self) {
        let remote = &self.shared.remotes[self.index];
        loop {
            let mut progressed = false;
            loop {
                self.drain_inbox();
                let next = self
                    .runnext
                    .take()
                    .or_else(|| self.home.borrow_mut().pop_front())
                    .or_else(|| self.moving.pop())
                    .or_else(|| self.local.pop());
                let Some(task) = next else { break };
                self.discard_here(task);
                progressed = true;
            }
            // Parked: nobody holds them. Taking one's park over (`unpark`) makes this worker
            // its owner, as a waker would be.
            for task in remote
                .registry
                .snapshot()
                .into_iter()
                .chain(self.shared.migrating.snapshot())
            {
                if let Woken::Run(task) = task.unpark() {
                    self.discard_here(task);
                    progressed = true;
                }
            }
            if !progressed {
                break;
            }
        }
    }

    /// Drops a task at shutdown, on this worker.
    fn discard_here(&self, task: TaskRef) {
        if task.has_started() && !task.may_migrate() && task.home() == self.index {
            self.coroutine_ended();
        }
        self.shared.discard(task);
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

    /// A non-blocking poll of the I/O driver, if one is installed and nobody polls it.
    #[inline]
    fn poll_now(&self) {
        if driver::poll_now(self.index) {
            bump(&self.shared.remotes[self.index].counters.polls);
        }
    }

    /// Moves the started coroutines other threads woke for this worker to its home queue.
    fn drain_inbox(&self) {
        let inbox = &self.shared.remotes[self.index].inbox;
        if inbox.is_empty() {
            return;
        }
        let mut home = self.home.borrow_mut();
        loop {
            match inbox.steal() {
                Steal::Success(task) => home.push_back(task),
                Steal::Retry => continue,
                Steal::Empty => break,
            }
        }
    }

    /// The next task from this worker's own queues (and, periodically, the global queue).
    fn next_task(&self) -> Option<TaskRef> {
        let tick = self.tick.get();
        if tick % TIMER_CHECK_INTERVAL == 0 {
            self.fire_timers_if_any(self.index);
        }
        if tick % GLOBAL_CHECK_INTERVAL == 0 {
            self.serve_global();
        }
        if tick % NETPOLL_CHECK_INTERVAL == 0 {
            // I/O made ready coroutines land in their home queues.
            self.poll_now();
        }
        self.drain_inbox();
        if let Some(task) = self.runnext.take() {
            let streak = self.runnext_streak.get();
            // With nothing else queued here there is nobody to be fair to: two coroutines
            // ping-ponging keep running back to back on this warm core (Go's runnext inherits
            // the time slice the same way).
            if streak < RUNNEXT_STREAK || (self.started_runnable() == 0 && self.local.is_empty()) {
                self.runnext_streak.set(streak + 1);
                return Some(task);
            }
            self.requeue_here(task);
        }
        self.runnext_streak.set(0);
        self.next_queued(tick).or_else(|| {
            self.poll_now();
            self.drain_inbox();
            self.next_queued(tick)
        })
    }

    /// A started coroutine from the home queue or an unstarted one from the local queue, by
    /// the balance rule of the module doc.
    fn next_queued(&self, tick: u32) -> Option<TaskRef> {
        if self.local_first.replace(false) {
            if let Some(task) = self.local.pop() {
                return Some(task);
            }
        }
        if self.local.is_empty() {
            self.left_since.set(None);
            self.backlog_since.set(None);
            self.end_offer();
            return self.pop_started(tick);
        }
        let runnable = self.started_runnable();
        if runnable == 0 {
            if self.offer_unstarted() {
                return None;
            }
            return self.local.pop();
        }
        if self.leave_unstarted(tick, runnable) {
            return self.pop_started(tick);
        }
        self.local.pop().or_else(|| self.pop_started(tick))
    }

    /// With nothing started to run here, after a coroutine parked to wait for I/O: whether to
    /// leave the unstarted coroutines to an idle worker that runs fewer coroutines than this
    /// one, for up to `OFFER_MAX` (thieves take them at once meanwhile, see `ripe`). A
    /// coroutine that spawns and then waits for I/O (a server's acceptor) is not waiting for
    /// what it spawned, so nothing is gained by starting it here, and it cannot move once
    /// started: without this, the connections a server accepts one by one all start on the
    /// acceptor's worker. Coroutines that park on anything else keep theirs (a partner).
    fn offer_unstarted(&self) -> bool {
        if !self.io_turn.get() {
            return false;
        }
        let now = Instant::now();
        let since = *self.offer_since.get().get_or_insert(now);
        if now.duration_since(since) >= OFFER_MAX
            || !self
                .shared
                .has_lighter_idle_worker(self.index, self.live(), self.spinning.get())
        {
            self.io_turn.set(false);
            self.end_offer();
            return false;
        }
        if self.offer_since.replace(Some(since)).is_none() {
            self.shared.remotes[self.index]
                .offering
                .store(true, Ordering::Relaxed);
            self.shared.notify_one();
        }
        true
    }

    fn end_offer(&self) {
        if self.offer_since.take().is_some() {
            self.shared.remotes[self.index]
                .offering
                .store(false, Ordering::Relaxed);
        }
    }

    /// With both started and unstarted work here, `runnable` of them started: whether to run
    /// a started coroutine now. Every `UNSTARTED_INTERVAL`th turn starts an unstarted one
    /// instead, except while this worker has had a backlog of started work (two or more
    /// runnable) for `BACKLOG_AGE` and another worker is lighter (idle, or running fewer
    /// coroutines): then it leaves them, up to `MAX_LEAVE`, for that worker to take (see the
    /// module doc). On a worker without a lasting backlog, an unstarted coroutine starts at
    /// once after a turn that ended in a park: the coroutine that parked
    /// waits for someone, most likely a partner it or its peers just spawned (a producer for
    /// its consumer, a worker for its pool), which should start next to it before an idle
    /// worker takes it away. Coroutines that only yield (CPU-bound work) keep the interval,
    /// and a busy worker keeps the backlog rule, so that an idle worker does take theirs (a
    /// server's new connections spread out when its acceptor's worker is busy).
    fn leave_unstarted(&self, tick: u32, runnable: usize) -> bool {
        if runnable < 2 {
            self.backlog_since.set(None);
            self.left_since.set(None);
            self.backlog_lasts.set(false);
        }
        // Whether to keep running started coroutines this turn, unless the backlog rule says
        // otherwise: yes until the interval is due, or until a coroutine parks while the
        // worker has no lasting backlog.
        let keep_on = |s: &Self| {
            (s.backlog_lasts.get() || !s.parked_turn.get()) && tick % UNSTARTED_INTERVAL != 0
        };
        if runnable < 2 {
            return keep_on(self);
        }
        // The clock and the other workers are looked at every few turns only.
        if tick % 16 != 0 {
            return self.left_since.get().is_some() || keep_on(self);
        }
        let lighter = || self.shared.has_lighter_worker(self.index, self.live());
        let now = Instant::now();
        if let Some(since) = self.left_since.get() {
            if now.duration_since(since) < MAX_LEAVE && lighter() {
                // Again: a peer woken before may have given up looking (on a loaded machine
                // it may not even have had a core while it looked).
                self.shared.notify_one();
                return true;
            }
            // Waited long enough, or nobody would take them now: start them here.
            return keep_on(self);
        }
        let backlog = *self.backlog_since.get().get_or_insert(now);
        self.backlog_since.set(Some(backlog));
        self.backlog_lasts
            .set(now.duration_since(backlog) >= BACKLOG_AGE);
        if self.backlog_lasts.get() && lighter() {
            self.left_since.set(Some(now));
            // Make sure an idle peer is awake to take them (the wake-up when they were queued
            // may have been skipped, see `notify_one_relaxed`).
            self.shared.notify_one();
            return true;
        }
        keep_on(self)
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

    /// Queues a newly spawned task where idle workers may steal it.
    pub(crate) fn push_local(&self, task: TaskRef) {
        if self.local.len() >= LOCAL_QUEUE_CAPACITY {
            // Keep the local queue bounded: the oldest half goes where every worker looks,
            // taken from the end thieves take from (this worker's own pops take the newest).
            let oldest_first = &self.shared.stealers[self.index];
            for _ in 0..LOCAL_QUEUE_CAPACITY / 2 {
                match oldest_first.steal() {
                    Steal::Success(t) => self.shared.injector.push(t),
                    Steal::Empty => break,
                    Steal::Retry => {}
                }
            }
        }
        self.local.push(task);
        self.shared.notify_one_relaxed();
    }

    /// Queues a started coroutine that may migrate, runnable, where idle workers may steal it.
    fn push_moving(&self, task: TaskRef) {
        self.moving.push(task);
        self.shared.notify_one_relaxed();
    }

    /// A started coroutine to run: from the home queue or, taking turns with it, from the
    /// queue of migrating ones (only coroutines that opted in to migration are there).
    fn pop_started(&self, tick: u32) -> Option<TaskRef> {
        let mut home = self.home.borrow_mut();
        if self.moving.is_empty() {
            return home.pop_front();
        }
        if home.is_empty() || tick % 2 == 0 {
            return self.moving.pop().or_else(|| home.pop_front());
        }
        home.pop_front()
    }

    /// Started coroutines runnable here, in the home queue and the migrating ones' queue.
    fn started_runnable(&self) -> usize {
        self.home.borrow().len() + self.moving.len()
    }

    /// Queues a runnable task of this worker behind the others.
    fn requeue_here(&self, task: TaskRef) {
        if task.may_migrate() {
            self.push_moving(task);
        } else {
            self.home.borrow_mut().push_back(task);
        }
    }

    fn push_runnext(&self, task: TaskRef) {
        if let Some(previous) = self.runnext.replace(Some(task)) {
            self.requeue_here(previous);
        }
    }

    /// Makes a woken task runnable, from this worker's thread (see `schedule`).
    fn make_runnable(&self, task: TaskRef, by_coroutine: bool) {
        if task.may_migrate() {
            if by_coroutine {
                self.push_runnext(task);
            } else {
                self.push_moving(task);
            }
        } else if task.home() == self.index {
            if by_coroutine {
                self.push_runnext(task);
            } else {
                self.home.borrow_mut().push_back(task);
            }
        } else {
            self.shared.send_home(task);
        }
    }

    /// Wakes the timed waits of worker `index` that are due at `now`; each woken coroutine
    /// goes home.
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
                match task.unpark() {
                    Woken::Run(task) => self.make_runnable(task, false),
                    Woken::Unblock => self.shared.unblock(&task),
                    Woken::Nothing => {}
                }
                bump(&self.shared.remotes[self.index].counters.timers_fired);
            }
        }
    }

    /// A coroutine gave up this worker because its time slice was over: before it queues up
    /// again, the coroutines that became due meanwhile (timers, sockets, wake-ups in its inbox)
    /// are made runnable, so they run ahead of it, and the next pick starts with the local
    /// queue (unstarted coroutines, and a batch of the global queue's), whose regular turns
    /// come only every `UNSTARTED_INTERVAL` and `GLOBAL_CHECK_INTERVAL` picks.
    /// (Otherwise the worker looks at them only every few turns, and a slice-long coroutine
    /// alone here would stretch that to many slices.)
    fn after_slice(&self) {
        self.fire_timers_if_any(self.index);
        self.poll_now();
        // What other threads woke for this worker meanwhile goes ahead of the coroutine whose
        // slice ended too: while it ran past its slice the monitor counted the worker stuck,
        // and a rescuer (an idle worker, or a spare thread) fired its due timers, whose
        // coroutines wait in the inbox. Drained after the requeue, they would wait a slice
        // more behind it.
        self.drain_inbox();
        self.serve_global();
        self.local_first.set(true);
    }

    /// Fairness to the global queue (coroutines spawned from plain threads wait there), when no
    /// idle worker is there to serve it: a batch of it joins the local queue, whose turn the
    /// balance rule gives (`next_queued`). (A busy worker does not hoard work nobody spawned
    /// here while others are idle.)
    fn serve_global(&self) {
        if !self.shared.idle.any_idle() {
            if let Some(task) = self.steal_global() {
                self.local.push(task);
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

    /// Whether this thief may take `victim`'s unstarted coroutines, `queued` of which it sees
    /// now: they have been waiting since this search first saw them, without a pause, for
    /// `STEAL_AGE` (or the monitor found the victim stuck). Returns when they will be, if not
    /// yet.
    fn ripe(&self, victim: usize, queued: usize) -> Result<(), Option<Instant>> {
        let mut sightings = self.sightings.borrow_mut();
        let seen = &mut sightings[victim];
        if queued == 0 {
            *seen = None;
            return Err(None);
        }
        let remote = &self.shared.remotes[victim];
        if remote.stuck.load(Ordering::Relaxed) || remote.offering.load(Ordering::Relaxed) {
            return Ok(());
        }
        let since = *seen.get_or_insert_with(Instant::now);
        if since.elapsed() >= STEAL_AGE {
            Ok(())
        } else {
            Err(Some(since + STEAL_AGE))
        }
    }

    /// Looks for work elsewhere: the inbox, the global queue, other workers' unstarted
    /// coroutines, due timers.
    fn search(&self) -> Option<TaskRef> {
        let shared = &self.shared;
        self.fire_timers_if_any(self.index);
        if let Some(task) = self.next_queued(self.tick.get()) {
            return Some(task);
        }
        let may_steal = self.spinning.get() || {
            let granted = shared
                .idle
                .try_begin_search(shared.active.load(Ordering::Relaxed));
            self.spinning.set(granted);
            granted
        };
        for s in self.sightings.borrow_mut().iter_mut() {
            *s = None;
        }
        let io_wakeups = driver::wakeups();
        let spin = if io_wakeups != self.io_wakeups.replace(io_wakeups) {
            SEARCH_SPIN_IO
        } else {
            SEARCH_SPIN
        };
        let started = Instant::now();
        let mut give_up = started + spin;
        let mut rounds = 0u32;
        // The clock is read every few rounds only: a round is a few hundred nanoseconds.
        while rounds % 8 != 0 || Instant::now() < give_up {
            rounds = rounds.wrapping_add(1);
            self.drain_inbox();
            if let Some(task) = self.pop_started(rounds) {
                return Some(task);
            }
            if let Some(task) = self.steal_global() {
                return Some(task);
            }
            if rounds % 8 == 1 {
                // I/O that became ready while we spin (Go's findrunnable polls here too); the
                // coroutines it wakes land in their home queues, this worker's among them,
                // which nobody else can see: take one at once, as the loop may end before
                // its next round, and `sleep` would not see them.
                self.poll_now();
                if let Some(task) = self.pop_started(rounds) {
                    return Some(task);
                }
                continue;
            }
            if may_steal {
                match self.steal_round() {
                    Ok(task) => return Some(task),
                    // Work that will be ripe soon: keep looking until then (bounded).
                    Err(Some(ripe)) => {
                        give_up = give_up.max(ripe.min(started + spin + STEAL_AGE));
                    }
                    Err(None) => {}
                }
            }
            for _ in 0..32 {
                std::hint::spin_loop();
            }
        }
        None
    }

    /// One pass over the other workers: steal unstarted coroutines that have waited long
    /// enough (`ripe`), fire due timers. `Err` with the earliest time some will be ripe.
    fn steal_round(&self) -> Result<TaskRef, Option<Instant>> {
        let mut soonest: Option<Instant> = None;
        let shared = &self.shared;
        let n = shared.slots_used.load(Ordering::Acquire);
        let start = self.next_random() as usize % n;
        for i in 0..n {
            let victim = (start + i) % n;
            if victim == self.index || !shared.remotes[victim].active.load(Ordering::Relaxed) {
                continue;
            }
            let queued = shared.stealers[victim].len();
            let moving = shared.movers[victim].len();
            match self.ripe(victim, queued + moving) {
                Ok(()) => {
                    let stolen = if queued > 0 {
                        self.steal_share(victim, queued)
                    } else {
                        None
                    };
                    if let Some(task) = stolen.or_else(|| self.steal_moving(victim)) {
                        bump(&shared.remotes[self.index].counters.steals);
                        return Ok(task);
                    }
                }
                Err(Some(at)) => soonest = Some(soonest.map_or(at, |s| s.min(at))),
                Err(None) => {}
            }
            self.fire_timers_if_any(victim);
            if let Some(task) = self.pop_started(self.tick.get()) {
                return Ok(task);
            }
            if self.offer_since.get().is_none() {
                if let Some(task) = self.local.pop() {
                    return Ok(task);
                }
            }
        }
        Err(soonest)
    }

    /// Steals half of `victim`'s runnable migrating coroutines (as Go's `runqsteal`), into
    /// this worker's queue of them. Returns one to run.
    fn steal_moving(&self, victim: usize) -> Option<TaskRef> {
        loop {
            match self.shared.movers[victim].steal_batch_and_pop(&self.moving) {
                Steal::Success(task) => return Some(task),
                Steal::Empty => return None,
                Steal::Retry => continue,
            }
        }
    }

    /// Steals from `victim`, which has `queued` unstarted coroutines, this worker's share:
    /// enough that both end up running about as many coroutines (the victim's started ones
    /// counted, since they stay where they are), at least one. Returns one to run; the rest
    /// join the local queue.
    fn steal_share(&self, victim: usize, queued: usize) -> Option<TaskRef> {
        let theirs = self.shared.remotes[victim].live.load(Ordering::Relaxed);
        let want = ((queued + theirs).saturating_sub(self.live()) / 2).clamp(1, queued.max(1));
        let stealer = &self.shared.stealers[victim];
        let before = self.local.len();
        let first = loop {
            match stealer.steal_batch_with_limit_and_pop(&self.local, want) {
                Steal::Success(task) => break task,
                Steal::Empty => return None,
                Steal::Retry => continue,
            }
        };
        // A batch steal takes at most half of what is there: take more batches, up to the
        // share. What the steals added is estimated from the queue's length, which thieves
        // may shrink meanwhile (this worker may be offering its own unstarted coroutines while
        // it searches): below `before`, nothing counts as added.
        let added = || self.local.len().saturating_sub(before);
        while added() + 1 < want {
            let more = want - 1 - added();
            match stealer.steal_batch_with_limit(&self.local, more) {
                Steal::Success(()) | Steal::Retry => {}
                Steal::Empty => break,
            }
        }
        Some(first)
    }

    /// A searcher found work: stop searching, and if it was the last searcher, wake another
    /// worker in case there is more.
    fn found(&self) {
        self.shared.monitor.worker_woke();
        if self.spinning.replace(false) && self.shared.idle.end_search() {
            self.shared.notify_one();
        }
    }

    /// Sleeps until notified or until the runtime's earliest timer is due. Returns false when
    /// a spare worker retires instead (it has no coroutine left and stayed idle).
    fn sleep(&self) -> bool {
        let shared = &self.shared;
        let remote = &shared.remotes[self.index];
        let sleeping = shared
            .idle
            .announce_sleep(self.index, self.spinning.replace(false));
        if sleeping == shared.active.load(Ordering::SeqCst) {
            shared.trim_if_due();
        }
        // Re-check after announcing the sleep: a push that raced with the announcement either
        // sees us asleep and notifies us, or its work is visible here.
        let now = Instant::now();
        let must_stay_awake = shared.is_shutdown()
            || self.started_runnable() > 0
            || shared.has_visible_work(self.index)
            || shared.any_timer_due(now);
        let retire_at = (self.spare && self.live() == 0).then(|| now + SPARE_KEEP_ALIVE);
        if !must_stay_awake {
            let deadline = match (shared.earliest_timer(), retire_at) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let sleeper = &remote.sleeper;
            // On standby before trying for the poll, so a poller exiting at the same moment
            // either leaves the poll free for us or finds us on standby.
            let driver = driver::installed();
            let standby = driver.is_some();
            if standby {
                lock(&POLL_STANDBY).push((Arc::downgrade(shared), self.index));
            }
            if let Some(driver) = driver {
                if sleeper.begin_poll() {
                    let timeout = deadline.map(|d| d.saturating_duration_since(Instant::now()));
                    match driver.poll(self.index, timeout) {
                        driver::Polled::Yes => {
                            self.leave_poll_standby(true);
                            bump(&remote.counters.polls);
                            sleeper.end_poll();
                        }
                        // Nothing to poll here, or another runtime's worker with our index
                        // polls it: sleep (a notification that came meanwhile is kept).
                        driver::Polled::Busy | driver::Polled::Empty => {
                            sleeper.stop_polling();
                            sleeper.sleep(deadline);
                            self.leave_poll_standby(true);
                        }
                    }
                } else {
                    self.leave_poll_standby(true);
                    sleeper.end_poll();
                }
            } else {
                sleeper.sleep(deadline);
            }
        }
        shared.monitor.worker_woke();
        let woke = shared.idle.end_sleep(self.index);
        if woke == Woke::ByItself {
            if retire_at.is_some_and(|at| Instant::now() >= at)
                && self.live() == 0
                && !shared.has_visible_work(self.index)
                && self.local.is_empty()
            {
                shared.spares.fetch_sub(1, Ordering::SeqCst);
                return false;
            }
        } else {
            // `notify_one` counted us as a searcher; `wake_worker` did not.
            self.spinning.set(woke == Woke::ToSearch);
            remote.sleeper.clear();
        }
        true
    }

    fn leave_poll_standby(&self, standby: bool) {
        if standby {
            let me = Arc::as_ptr(&self.shared);
            lock(&POLL_STANDBY).retain(|(s, i)| !(*i == self.index && s.as_ptr() == me));
        }
    }

    fn run_task(&self, task: TaskRef) {
        task.start_running();
        if !task.has_started() && !task.may_migrate() {
            let live = &self.shared.remotes[self.index].live;
            live.store(live.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        }
        // SAFETY: this worker dequeued the task and set it running, so it owns the task's
        // worker-side cells until it queues or parks it again below.
        let mut fiber = match unsafe { task.fiber() } {
            Some(fiber) => fiber,
            None => match self.shared.stacks.get(task.stack_size()) {
                // SAFETY: as above; a task without a fiber has not run yet.
                Ok(stack) => unsafe { task.install_fiber(stack) },
                Err(e) => {
                    // No stack (its promise did not hold): the closure is dropped, which
                    // completes the join with an error.
                    if task.stack_promised() {
                        self.shared.stacks.release_promise(task.stack_size());
                    }
                    eprintln!(
                        "greenchan: cannot start coroutine {}: no stack: {e}",
                        task.id
                    );
                    if !task.may_migrate() {
                        self.coroutine_ended();
                    }
                    self.shared.discarded.fetch_add(1, Ordering::Relaxed);
                    task.discard(NO_STACK);
                    return;
                }
            },
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
            let io_park = self.io_park.replace(false);
            self.io_turn.set(false);
            task.set_last_ran(self.shared.clock());
            match outcome {
                Outcome::Suspended(message) => match Suspend::from_message(message) {
                    why @ (Suspend::Yield | Suspend::SliceOver) => {
                        self.parked_turn.set(false);
                        if let Suspend::SliceOver = why {
                            self.after_slice();
                        }
                        self.shared.register(&task);
                        task.requeue();
                        self.requeue_here(task);
                        return;
                    }
                    Suspend::Preempted => {
                        // Interrupted at an arbitrary instruction: it resumes on this thread,
                        // migrating or not, behind what is queued here.
                        // SAFETY: this worker just ran the task, so it owns its worker-side cells.
                        unsafe { task.set_preempted(true) };
                        self.parked_turn.set(false);
                        self.after_slice();
                        self.shared.register(&task);
                        task.requeue();
                        self.home.borrow_mut().push_back(task);
                        return;
                    }
                    Suspend::Park => {
                        // In the registry before the park is committed: from then on another
                        // thread may wake it (and, migrating, run and finish it).
                        self.shared.register(&task);
                        let Some(woken) = Task::commit_park(task) else {
                            self.parked_turn.set(true);
                            self.io_turn.set(io_park);
                            return;
                        };
                        // An unpark arrived while the coroutine was switching out: resume it.
                        task = woken;
                        // SAFETY: as above; it has run, so it has its fiber.
                        fiber =
                            unsafe { task.started_fiber() }.expect("a parked coroutine has run");
                    }
                },
                Outcome::Returned => {
                    self.parked_turn.set(false);
                    // Counted and unregistered as it ended (`Home::ending`), or, unwound by
                    // a shutdown, as it was discarded.
                    task.finish();
                    // SAFETY: as above; the coroutine has finished.
                    if let Some(fiber) = unsafe { task.take_fiber() } {
                        self.shared.stacks.put(fiber.into_stack());
                    }
                    self.keep_for_reuse(task);
                    return;
                }
            }
        }
    }

    fn coroutine_ended(&self) {
        self.shared.remotes[self.index].coroutine_ended();
    }

    /// Started coroutines of this worker that have not finished.
    fn live(&self) -> usize {
        self.shared.remotes[self.index].live.load(Ordering::Relaxed)
    }

    /// Everything a switch into `task`'s coroutine publishes first: its home, the current
    /// coroutine, its stack for the overflow handler, and a new slice for the monitor.
    #[inline(always)]
    fn enter(&self, task: &Task) {
        task.set_home(self.index);
        // SAFETY: this worker runs the task, so it owns its worker-side cells.
        unsafe { task.set_preempted(false) };
        context::set_current_task(task);
        // SAFETY: this worker runs the task, so it owns its worker-side `guard` cell.
        stack::set_running(Some(RunningStack::of(task, unsafe { task.guard() })));
        let switches = self.switches.get().wrapping_add(1);
        self.switches.set(switches);
        let remote = &self.shared.remotes[self.index];
        remote.slice.begin(switches, task.async_preemptible());
        remote.running_id.store(task.id, Ordering::Relaxed);
    }

    /// Undoes `enter` once the worker has its thread back.
    #[inline]
    fn leave(&self) {
        let remote = &self.shared.remotes[self.index];
        remote.slice.end();
        remote.running_id.store(0, Ordering::Relaxed);
        stack::set_running(None);
        context::set_current_task(std::ptr::null());
    }

    /// The tick of the loop turn a direct switch would take, unless the worker loop itself
    /// must take it: one of its periodic checks is due then, or the runtime shuts down.
    fn direct_turn(&self) -> Option<u32> {
        let tick = self.tick.get().wrapping_add(1);
        let due = tick % TIMER_CHECK_INTERVAL == 0
            || tick % GLOBAL_CHECK_INTERVAL == 0
            || tick % NETPOLL_CHECK_INTERVAL == 0;
        (!due && !self.shared.is_shutdown()).then_some(tick)
    }

    /// The next task for a direct switch from a parking coroutine: the `runnext` one, when it
    /// has run before and the worker loop would pick it now anyway (no periodic check is due
    /// at this tick, the streak allows it, no shutdown). Counts as one turn of the loop.
    fn take_direct(&self) -> Option<(TaskRef, *mut Fiber)> {
        let tick = self.direct_turn()?;
        let streak = self.runnext_streak.get();
        if streak >= RUNNEXT_STREAK
            && !(self.started_runnable() == 0
                && self.local.is_empty()
                && self.shared.remotes[self.index].inbox.is_empty())
        {
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

    /// The next task for a direct switch from a yielding coroutine: the head of the home
    /// queue, when the worker loop would run it next anyway (no periodic check is due at this
    /// tick, nothing in `runnext`, the inbox or the local queue, no shutdown) and it was
    /// suspended by a switch (not stopped by asynchronous preemption). Counts as one turn of
    /// the loop.
    fn take_yield_target(&self) -> Option<(TaskRef, *mut Fiber)> {
        let tick = self.direct_turn()?;
        let runnext = self.runnext.take();
        let has_runnext = runnext.is_some();
        self.runnext.set(runnext);
        if has_runnext
            || self.local_first.get()
            || !self.local.is_empty()
            || !self.moving.is_empty()
            || !self.shared.remotes[self.index].inbox.is_empty()
        {
            return None;
        }
        let mut home = self.home.borrow_mut();
        let head = home.front()?;
        // SAFETY: queued on this worker's home queue, which only this thread touches: this
        // worker owns the task's worker-side cells (its loop is suspended in `run_task`, in
        // the resume of the yielding coroutine, and touches none of them meanwhile).
        let fiber = unsafe { head.started_fiber() }?;
        // SAFETY: as above.
        if unsafe { head.is_preempted() } {
            return None;
        }
        let next = home.pop_front()?;
        drop(home);
        // What `next_queued` does when the local queue is empty.
        self.left_since.set(None);
        self.backlog_since.set(None);
        self.tick.set(tick);
        self.runnext_streak.set(0);
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
    // The parker's park is committed by the coroutine switched to, as it lands.
    switch_direct(task, Worker::take_direct, |w, me| {
        w.io_park.set(false);
        w.handed.set(Some(me))
    })
}

/// Yields the running coroutine `task` by switching straight to the coroutine its worker
/// would run next (see `Worker::take_yield_target`), behind which it queues itself: one switch
/// instead of two and a turn of the worker loop. Returns false, having done nothing, when the
/// worker loop has something else to do first, the coroutine may migrate (its queue is one
/// other threads steal from, and its stack is in use until the switch), or this backend cannot
/// switch directly; the caller then suspends to its worker.
pub(crate) fn yield_direct(task: *const Task) -> bool {
    // SAFETY: `task` is the running coroutine (checked by the caller), alive while it runs.
    if unsafe { &*task }.may_migrate() {
        return false;
    }
    switch_direct(task, Worker::take_yield_target, |w, me| {
        me.requeue();
        // Queued before its stack is saved: only this thread takes from its home queue, and
        // it runs nothing else until the switch has saved the yielder (the coroutine switched
        // to may then resume it, by this same path or through the worker loop).
        w.home.borrow_mut().push_back(me);
    })
}

/// The direct switch of `park_direct` and `yield_direct`: from the running coroutine `task`
/// to the one `take` dequeues, made this worker's running coroutine; `leave` disposes of
/// `task`'s reference (registered, and its last run noted) before the switch. Returns false,
/// having done nothing, if this backend cannot switch directly or `take` finds nothing;
/// true once `task` runs again.
fn switch_direct(
    task: *const Task,
    take: impl FnOnce(&Worker) -> Option<(TaskRef, *mut Fiber)>,
    leave: impl FnOnce(&Worker, TaskRef),
) -> bool {
    if !fiber::DIRECT {
        return false;
    }
    let worker = context::worker();
    // The switch code runs at depth one (no preemption while the worker's cells change hands).
    let depth = critical::before_switch();
    // SAFETY: a non-null worker pointer is published by `Worker::run` on this thread and stays
    // valid while it runs coroutines, this one included.
    let Some((next, to)) = (unsafe { worker.as_ref() }).and_then(take) else {
        critical::after_switch(depth);
        return false;
    };
    // SAFETY: as above.
    let w = unsafe { &*worker };
    // The old coroutine's slice ends here: a preemption requested for it must not carry over
    // to the coroutine it switches to. (The overflow handler is told of the new coroutine's
    // stack a few instructions before the switch leaves the old one; an overflow in that window
    // is reported as a plain SIGSEGV rather than by name.)
    let remote = &w.shared.remotes[w.index];
    remote.slice.end();
    remote.direct_switches.store(
        remote.direct_switches.load(Ordering::Relaxed) + 1,
        Ordering::Relaxed,
    );
    w.enter(&next);
    let me = w
        .running
        .replace(Some(next))
        .expect("the coroutine switching out is running");
    debug_assert!(std::ptr::eq(&*me, task));
    // As in `Worker::run_task` for a suspension: registered before another party can reach
    // it (a park is committed, a queued coroutine dequeued).
    me.set_last_ran(w.shared.clock());
    w.shared.register(&me);
    leave(w, me);
    // SAFETY: `task` is the running coroutine, so its link is its own fiber; `to` is the
    // started, suspended fiber of the task this worker just dequeued and made its running one.
    let landing = unsafe { fiber::switch_to((*task).link(), to) };
    if landing == Landing::Direct {
        commit_handed_park();
    }
    critical::after_switch(depth);
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
        w.requeue_here(woken);
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

impl Home for Shared {
    fn ending(task: &Task) {
        coroutine_ending(task);
    }

    /// Unwinds a coroutine that will never be resumed, so its destructors run, and returns its
    /// stack to the pool. A coroutine that can not be unwound here is leaked instead, as one
    /// parked forever is: one stopped at an arbitrary instruction by asynchronous preemption
    /// (there may be no unwind information there), and a started one on a thread that is not
    /// its own (its destructors may use its thread's thread-locals, and its frames may hold
    /// their addresses).
    fn release(task: &Task, mut fiber: Fiber) {
        if !fiber.is_done() {
            // SAFETY: the caller owns the task (`Task::discard` and the task's drop).
            let preempted = unsafe { task.is_preempted() };
            if preempted || !on_home_thread(task) {
                std::mem::forget(fiber);
                return;
            }
            // No coroutine may be current while it unwinds on this thread, so that nothing its
            // destructors do suspends another coroutine; its stack is announced to the overflow
            // handler as while it runs.
            let _guard = context::NoCurrentTask::enter();
            // SAFETY: the caller owns the task.
            let guard = unsafe { task.guard() };
            stack::set_running(Some(RunningStack::of(task, guard)));
            fiber.force_unwind();
            stack::set_running(None);
        }
        task.runtime.stacks.put(fiber.into_stack());
    }
}

/// What `Home::ending` does: on the ending coroutine's worker, before its joiner is told.
/// That worker is the one the task names as its home (set at every resumption), so no
/// thread-local is read: a spawn pays for this once per coroutine.
fn coroutine_ending(task: &Task) {
    let shared = &*task.runtime;
    let remote = &shared.remotes[task.home()];
    if task.registry_index() != crate::task::NOT_REGISTERED {
        shared.registry_of(task).remove(task);
    }
    bump(&remote.counters.finished);
    if !task.may_migrate() {
        remote.coroutine_ended();
    }
}

/// Suspends the running coroutine `task`, handing `why` to its worker. The coroutine's
/// no-preempt depth (`critical`) is kept across the switch: the worker runs at depth one, and
/// the coroutine gets its own back when it is resumed.
#[inline(never)]
pub(crate) fn suspend(task: *const Task, why: Suspend) {
    let depth = critical::before_switch();
    // SAFETY: `task` is the running coroutine (checked by every caller), so its link is its
    // own; we copy it out before switching so no reference into the task's exclusive part is
    // held across the switch.
    let landing = unsafe { fiber::suspend((*task).link(), why as u8) };
    if landing == Landing::Direct {
        commit_handed_park();
    }
    critical::after_switch(depth);
}

/// The asynchronous preemption itself, called from the trampoline on the coroutine's stack.
#[cfg_attr(
    not(all(target_os = "linux", target_arch = "x86_64")),
    allow(dead_code)
)]
pub(crate) fn suspend_preempted() {
    let task = context::current_task();
    debug_assert!(!task.is_null(), "only a running coroutine is preempted");
    suspend(task, Suspend::Preempted);
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::InternalThread;

    const SCENARIO: &str = "GREEN_INTERNAL_THREAD_PANICS";

    /// A panic that reaches the top of one of the runtime's threads aborts the process with
    /// a message naming the thread's role; it must not end that thread quietly. Run in a
    /// child (this test binary again), as an abort ends the whole process.
    #[test]
    fn a_panic_at_the_top_of_an_internal_thread_aborts_the_process() {
        if std::env::var_os(SCENARIO).is_some() {
            let t = std::thread::spawn(|| InternalThread::run("test", || panic!("internal bug")));
            let _ = t.join();
            println!("THREAD ENDED QUIETLY");
            return;
        }
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "scheduler::tests::a_panic_at_the_top_of_an_internal_thread_aborts_the_process",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(SCENARIO, "1")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            out.status.signal(),
            Some(libc::SIGABRT),
            "{stdout}\n{stderr}"
        );
        assert!(!stdout.contains("THREAD ENDED QUIETLY"), "{stdout}");
        assert!(stderr.contains("internal bug"), "{stderr}");
        assert!(
            stderr.contains("reached the top of the runtime's test thread; aborting"),
            "{stderr}"
        );
    }
}
