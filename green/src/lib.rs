//! # green: the runtime under greenchan
//!
//! Stackful coroutines on an M:N work-stealing scheduler. A coroutine is a closure running on
//! its own small stack (carved from large lazily-committed regions, pooled, with a guard page);
//! worker threads, one per CPU by default, run coroutines from per-worker queues and steal from
//! each other when idle. A coroutine that blocks (`park`, `sleep`, `join`, and everything built
//! on them: channels, select, sync) suspends and its worker runs another; the same calls on a
//! plain OS thread block the thread. That two-faced blocking primitive, park/unpark, is the one
//! everything else in greenchan parks and wakes through.
//!
//! ```
//! use std::time::Duration;
//!
//! let h = green::spawn(|| {
//!     green::sleep(Duration::from_millis(1)); // suspends only this coroutine
//!     "slept"
//! });
//! assert_eq!(h.join().unwrap(), "slept"); // blocks this (non-coroutine) thread
//! ```
//!
//! ## Threads, migration and thread-locals
//!
//! A suspended coroutine may resume on another worker thread. Data it holds must therefore be
//! `Send` (the spawn bounds require it of the closure), and **thread-local storage is per
//! worker thread, not per coroutine**: a `thread_local!` read before a blocking call may name a
//! different thread's value after it, and a reference into one must not be held across a
//! blocking call. `std::sync::Mutex` guards held across a blocking call may be unlocked from
//! another thread, which std does not allow: hold them only within non-blocking sections (the
//! coroutine-aware `sync` module of greenchan is the one to hold across them). Coroutine-local
//! storage ([`coroutine_local!`]) is the portable replacement for thread-locals: one value per
//! coroutine, and per thread outside coroutines.
//!
//! ## Preemption
//!
//! A coroutine that runs longer than its runtime's time slice (10 ms by default) is asked to
//! yield by a monitor thread. On Linux x86-64 it is preempted asynchronously, by a signal, even
//! in a loop that calls nothing (as goroutines are since Go 1.14); on other targets it yields
//! at its next [`preempt_point`] or runtime call only. The [`preempt`] module explains what
//! asynchronous preemption implies (notably for `std::sync::Mutex` and thread-locals) and how
//! to opt out: per runtime, per coroutine, per section, or with `GREENCHAN_ASYNCPREEMPT=0`.
//!
//! ## Parked forever
//!
//! A coroutine parked with nobody left to wake it is never resumed: like a blocked goroutine in
//! Go, it and its stack stay allocated until the process exits.

mod bridge;
mod context;
mod coroutine;
pub mod driver;
mod fiber;
mod join;
mod local;
mod mcache;
mod park_cache;
pub mod preempt;
mod runtime;
mod scheduler;
mod signal;
mod stack;
mod state;
pub mod sync;
mod sysmon;
mod task;
mod timer;

pub use bridge::{block_on, JoinFuture};
pub use coroutine::{
    current, in_coroutine, park, park_deadline, park_timeout, preempt_point, running_key, sleep,
    yield_now, Coroutine, CoroutineId, RawUnparker,
};
pub use join::JoinHandle;
pub use local::LocalKey;
pub use mcache::CachedArc;
pub use park_cache::{put_park_cache, take_park_cache, ParkCache};
pub use runtime::{
    global, run, spawn, Builder, Runtime, RuntimeBuilder, DEFAULT_TIME_SLICE, MAX_WORKERS,
};
pub use stack::{DEFAULT_STACK_SIZE, MAX_STACK_SIZE, MIN_STACK_SIZE};
