//! # channels: Go's channels on greenchan's runtime
//!
//! Rendezvous (`bounded(0)`), buffered (`bounded(n)`) and unbounded channels, plus `after`,
//! `at`, `tick` and `never`, with Go's semantics and crossbeam-channel's Rust conventions.
//! Every operation parks the calling coroutine (or blocks the calling thread) through green's
//! park/unpark, so threads and coroutines can talk to each other freely. Any of them can take
//! part in `select!` (and `select_biased!`), re-exported here from the `select` crate.
//!
//! - A channel closes when any handle calls `close()` or when the last sender (or the last
//!   receiver) is dropped. Sends then fail and give the value back; receivers drain what is
//!   buffered, then get `Err`.
//! - Nothing is lost: a value is received exactly once, returned in an error, or dropped with
//!   the channel.
//! - Timer channels (`after`, `at`, `tick`) are computed from the clock when someone looks;
//!   a receive or a select that has to wait for one parks with a deadline in its worker's
//!   timer heap, for the length of that wait only. No coroutine or thread runs per timer,
//!   and a dropped timer leaves nothing behind.
//!
//! - **Async code takes part too**: [`Receiver::recv_async`], [`Sender::send_async`] and
//!   [`Receiver::stream`] (a `futures_core::Stream`; [`Receiver::into_stream`] owns the
//!   receiver) are futures for any executor, so tokio tasks and coroutines share a channel. A
//!   pending future waits in the channel's queue as a parked coroutine does and its task's
//!   waker is woken; dropping it is cancel-safe (a receive loses no message, a send delivers
//!   nothing). A future waiting on `after`/`at`/`tick` is woken by one helper thread, which
//!   runs only while such futures wait, and ends a second or so after the last (a future has
//!   no coroutine to park on a worker's timers).
//!
//! ```
//! use greenchan::chan::bounded;
//!
//! let (tx, rx) = bounded(0); // rendezvous
//! let producer = greenchan::spawn(move || {
//!     for i in 0..3 {
//!         tx.send(i).unwrap();
//!     }
//! }); // dropping `tx` closes the channel
//! let got: Vec<i32> = rx.iter().collect();
//! assert_eq!(got, vec![0, 1, 2]);
//! producer.join().unwrap();
//! ```
//!
//! Async code and a coroutine on one rendezvous channel (the async block is driven here by
//! `greenchan::block_on` on the calling thread; any executor would do, tokio's included):
//!
//! ```
//! let (tx, rx) = greenchan::chan::bounded(0);
//! let coroutine = greenchan::spawn(move || {
//!     for i in 0..3 {
//!         tx.send(i).unwrap(); // blocking, parks the coroutine
//!     }
//! });
//! let sum = greenchan::block_on(async {
//!     let mut sum = 0;
//!     while let Ok(v) = rx.recv_async().await {
//!         sum += v;
//!     }
//!     sum
//! });
//! assert_eq!(sum, 3);
//! coroutine.join().unwrap();
//! ```
//!
//! ## Differences from crossbeam-channel
//!
//! The API follows crossbeam-channel 0.5 (same functions, methods, error shapes, `select!`
//! syntax, `Select` builder), so that switching is mostly a change of import. Where greenchan
//! differs, on purpose:
//!
//! - **`Closed`, not `Disconnected`.** The error variants are `TrySendError::Closed`,
//!   `SendTimeoutError::Closed`, `TryRecvError::Closed`, `RecvTimeoutError::Closed`, and the
//!   predicates `is_closed()`; crossbeam says `Disconnected` and `is_disconnected()`. A Go
//!   channel is *closed*, explicitly (`close()`, which crossbeam-channel does not have) or when
//!   the last sender (or receiver) goes, and the name covers both.
//! - **A `send` arm's value is evaluated when the select starts**, as in Go: in
//!   `select! { send(tx, make()) -> r => .. }`, `make()` runs even if another arm is chosen,
//!   and its value is then dropped; crossbeam-channel evaluates it only once the send arm is
//!   chosen. greenchan's select completes the chosen operation as it chooses it (one atomic
//!   step under the channel's lock, with no reservation to fill in later), so the value must
//!   be at hand.
//! - **The dynamic `Select` takes a send's value up front, for the same reason:**
//!   `Select::send(&tx, value)` and `SelectedOperation::send(&tx)`, where crossbeam has
//!   `Select::send(&tx)` and `SelectedOperation::send(&tx, value)`. The operation has already
//!   taken effect when `select` returns; `SelectedOperation` hands over its outcome (and, as in
//!   crossbeam, panics if dropped unread). A send operation sends its value once: a `Select`
//!   used again passes it over (remove it and add it again to send another), and a clone of a
//!   `Select` has its receive operations but no send values (they are not cloned). A
//!   `SelectedOperation` borrows its `Select`, where the outcome is kept, and `Select` is
//!   neither `Send` nor `Sync` (it owns the send values, which may not be).
//! - **A `Select` with no operations blocks forever** in `select` and `ready`, as Go's
//!   `select {}`; crossbeam-channel panics.
//! - **`tick` keeps its phase**, as Go's ticker: after a receive, the next tick is due at the
//!   first period boundary (`start + n * d`) after it, where crossbeam-channel schedules it one
//!   full period after the receive. Both deliver the instant a tick was due and drop the ticks
//!   a slow receiver missed.
//! - **`close()` on a timer channel or on `never()`** changes nothing and returns false:
//!   they have no senders and never close.
//! - **Error types implement `std::error::Error` for every `T`**, without crossbeam's
//!   `T: Send` bound.

mod cases;
mod chan;
mod futures;
mod handles;
mod time;
mod timer_thread;

// Public only as the `select!` expansion's case types (associated types of select's hidden
// `SelectRecv`/`SelectSend`); not part of the API.
#[doc(hidden)]
pub use cases::{RecvCase, SendCase};
pub use futures::{IntoStream, RecvFuture, RecvStream, SendFuture};
pub use handles::{bounded, never, unbounded, IntoIter, Iter, Receiver, Sender, TryIter};
pub use select::{
    select, select_biased, ReadyTimeoutError, RecvError, RecvTimeoutError, Select,
    SelectTimeoutError, SelectedOperation, SendError, SendTimeoutError, TryReadyError,
    TryRecvError, TrySelectError, TrySendError,
};
pub use time::{after, at, tick};
