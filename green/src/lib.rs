//! # green: the runtime under greenchan
//!
//! Stackful coroutines on an M:N work-stealing scheduler. A coroutine is a closure running on
//! its own stack (carved from large lazily-committed regions, pooled, with a 64 KiB guard);
//! worker threads, one per CPU by default, run coroutines from per-worker queues and share out
//! the ones that have not started yet. A coroutine that blocks (`park`, `sleep`, `join`, and everything built
//! on them: channels, select, sync) suspends and its worker runs another; the same calls on a
//! plain OS thread block the thread. That two-faced blocking primitive, park/unpark, is the one
//! everything else in greenchan parks and wakes through.
//!
//! ```
//! use std::time::Duration;
//!
//! let h = greenchan::spawn(|| {
//!     greenchan::sleep(Duration::from_millis(1)); // suspends only this coroutine
//!     "slept"
//! });
//! assert_eq!(h.join().unwrap(), "slept"); // blocks this (non-coroutine) thread
//! ```
//!
//! ## Soundness: a coroutine behaves as a thread would
//!
//! Safe code on a coroutine can do nothing it could not do on an OS thread. Two rules make
//! that so, and the rest of the runtime is built around them:
//!
//! - **A started coroutine runs on one OS thread until it ends.** Only coroutines that have not
//!   started move between workers. Thread-locals, `thread::current()`, `errno`, `Rc`s and other
//!   `!Send` values on a coroutine's stack behave exactly as on an OS thread: std, allocators,
//!   `rand::thread_rng` and C libraries assume nothing else.
//! - **Nothing switches a coroutine except a greenchan call** (a blocking operation,
//!   `yield_now`, `sleep`, `preempt_point`, and any other operation of the runtime, its
//!   channels, `select!`, `sync` and sockets once the coroutine's time slice is over).
//!   Interleaving on a thread happens only where the code called the runtime, as in any
//!   single-threaded executor; no signal is sent to a worker.
//!
//! What remains the user's concern is what any executor with several tasks per thread implies:
//! a `std::sync::Mutex` guard (or stdout's lock, or a `LazyLock` being initialised) held
//! *across* a greenchan blocking call can deadlock, when another coroutine of the same worker
//! takes it and blocks the thread its holder needs. Hold greenchan's [`sync`] locks across
//! blocking calls instead: they park. Coroutine-local storage ([`coroutine_local!`]) gives a
//! value per coroutine rather than per thread.
//!
//! Panics keep std's per-thread state consistent: while a coroutine is panicking (from its
//! panic hook to the end of its unwinding), a blocking call in it blocks its worker's thread
//! instead of switching to another coroutine, because std's panic count and "inside the panic
//! hook" flag belong to the thread. Other coroutines therefore never see `thread::panicking()`
//! that is not theirs, poisoning stays exact, and a second panic cannot abort the process. The
//! limit: a panic hook or destructor that waits for another coroutine *of the same worker*
//! (a full channel whose only receiver started on that thread, say) waits forever.
//!
//! Go's scheduling is available to code that promises more, through two `unsafe` opt-ins on
//! [`RuntimeBuilder`] and [`Builder`]: `allow_async_preemption` (a signal preempts a loop
//! that makes no call, see [`preempt`]) and `allow_migration` (started coroutines move between
//! workers). Their docs state what the caller promises.
//!
//! ## Starvation
//!
//! A coroutine that runs longer than its runtime's time slice (10 ms by default) is asked to
//! yield by a monitor thread, and does so at its next [`preempt_point`] or runtime call. One
//! that never gets there (a loop with no greenchan call, a blocking system call, a std lock, a
//! C library) keeps its worker: the monitor then *rescues* everything on that worker that may
//! move (coroutines not yet started, due timers, the I/O poller, the global queue), waking
//! idle workers for it and, when every worker is stuck, starting spare worker threads up to
//! [`RuntimeBuilder::max_spare_threads`], as Go hands off a blocked thread's work. A stuck
//! coroutine delays only the coroutines that started on its own thread. Work known to block
//! belongs on [`spawn_blocking`]'s pool of plain threads.
//!
//! ## Parked forever
//!
//! A coroutine parked with nobody left to wake it is never resumed: like a blocked goroutine in
//! Go, it and its stack stay allocated until the process exits.

// The crate's layers, lowest first. A module uses only modules of its own layer or lower ones
// (`tests/layers.rs` checks it): stacks and the fiber switch know nothing of tasks, tasks
// nothing of the scheduler, the scheduler nothing of the coroutine API or `sync`.
//
// 0. Plain mechanisms: signal handler chaining, the no-preempt depth, poison-free locking.
mod critical;
mod locking;
mod signal;
// 1. Memory: coroutine stacks (regions, guards, overflow report), per-thread block caches.
mod mcache;
mod stack;
// 2. The switch: a context on a stack, resumed and suspended (`fiber/`).
mod fiber;
// 3. Tasks: one coroutine's state machine, closure, join packet, locals (`task/`).
mod task;
// 4. Scheduling: workers and queues, timers, the monitor, the I/O driver hook, the signal
//    preemption opt-in, the switch primitives (`scheduler/`).
mod scheduler;
// 5. The coroutine API: handles, park/unpark, join, runtimes and spawning, blocking pool,
//    async bridge, coroutine-locals.
mod blocking;
mod bridge;
mod coroutine;
mod diagnostics;
mod join;
mod local;
mod park_cache;
mod runtime;
// 6. Coroutine-aware synchronisation, built on the API alone.
pub mod sync;

pub use blocking::spawn_blocking;
pub use bridge::{block_on, JoinFuture};
// `running_key` and `RawUnparker` are doc-hidden where they are defined: public for
// greenchan-select's waiters only; not part of the API.
pub use coroutine::{
    current, in_coroutine, park, park_deadline, park_timeout, preempt_point, running_key, sleep,
    yield_now, Coroutine, CoroutineId, RawUnparker,
};
// `waiting_on`, `WaitReason` and `WaitingOn` are doc-hidden where they are defined: public for
// the sibling crates to label their parks in `dump` only; not part of the API.
pub use diagnostics::{
    dump, metrics, waiting_on, RuntimeMetrics, WaitReason, WaitingOn, WorkerMetrics,
};
pub use join::JoinHandle;
pub use local::LocalKey;
// Public for greenchan-select and greenchan-channels (a channel's shared state) only; not part
// of the API.
#[doc(hidden)]
pub use mcache::CachedArc;
// Doc-hidden where they are defined: public for greenchan-select's waiter cache only; not part
// of the API.
pub use park_cache::{put_park_cache, take_park_cache};
pub use runtime::{
    global, run, spawn, Builder, Runtime, RuntimeBuilder, ShutdownError, StuckCoroutine,
    DEFAULT_MAX_SPARE_THREADS, DEFAULT_SHUTDOWN_TIMEOUT, DEFAULT_TIME_SLICE, MAX_SPARE_THREADS,
    MAX_TIME_SLICE, MAX_WORKERS,
};
// Public for greenchan-netpoll (its reactor installs itself as the idle driver) only; not part
// of the API.
#[doc(hidden)]
pub use scheduler::driver;
pub use scheduler::preempt;
pub use stack::{DEFAULT_STACK_SIZE, MAX_STACK_SIZE, MIN_STACK_SIZE};
// Doc-hidden where it is defined: public for greenchan-select's waiter cache only; not part of
// the API.
pub use task::park_cache::ParkCache;
