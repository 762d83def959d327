//! Coroutine-aware synchronisation: `Mutex`, `RwLock`, `Condvar`, `WaitGroup`, `Semaphore`,
//! `Barrier`, `OnceLock` and `Lazy`.
//!
//! Every blocking call here parks the *coroutine* through green's park/unpark, so its worker
//! thread runs other coroutines meanwhile; on a plain OS thread the same call blocks the
//! thread. A `std::sync::Mutex` held by a coroutine that then waits would block the worker
//! (and could deadlock a one-worker runtime); these never do.
//!
//! All of them follow one pattern: an atomic word decides the uncontended case in one atomic
//! operation, and a wait queue of `Waiter` nodes, edited under a short lock that is
//! never held across a park, holds the blocked. Each file states its own race argument next to
//! the code. Loom models of the protocols run with
//! `RUSTFLAGS="--cfg loom" cargo test -p greenchan-runtime --release --lib sync::`.
//!
//! Guards may be released on another thread than the one that took them (a coroutine migrates
//! between workers while parked); these locks allow it, so their guards are `Send` where std's
//! are not.
//!
//! ```
//! use greenchan::sync::{Mutex, WaitGroup};
//! use std::sync::Arc;
//!
//! let total = Arc::new(Mutex::new(0));
//! let wg = WaitGroup::new();
//! for i in 1..=10 {
//!     let (total, wg) = (total.clone(), wg.clone());
//!     greenchan::spawn(move || {
//!         *total.lock().unwrap() += i; // parks this coroutine if contended
//!         drop(wg);
//!     });
//! }
//! wg.wait();
//! assert_eq!(*total.lock().unwrap(), 55);
//! ```

mod barrier;
mod condvar;
mod mutex;
mod once;
mod poison;
mod rwlock;
mod semaphore;
mod wait_group;
mod waiter;

pub use barrier::{Barrier, BarrierWaitResult};
pub use condvar::{Condvar, WaitTimeoutResult};
pub use mutex::{Mutex, MutexGuard};
pub use once::{Lazy, OnceLock};
pub use rwlock::{RwLock, RwLockReadGuard, RwLockWriteGuard};
pub use semaphore::{OwnedSemaphorePermit, Semaphore, SemaphorePermit};
pub use wait_group::WaitGroup;

pub use std::sync::{LockResult, PoisonError, TryLockError, TryLockResult};
