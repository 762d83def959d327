//! # channels: Go's channels on greenchan's runtime
//!
//! Rendezvous (`bounded(0)`), buffered (`bounded(n)`) and unbounded channels, plus `after`,
//! `tick` and `never`, with Go's semantics and crossbeam-channel's Rust conventions. Every
//! operation parks the calling coroutine (or blocks the calling thread) through green's
//! park/unpark, so threads and coroutines can talk to each other freely. Any of them can take
//! part in `select!`, re-exported here from the `select` crate.
//!
//! - A channel closes when any handle calls `close()` or when the last sender (or the last
//!   receiver) is dropped. Sends then fail and give the value back; receivers drain what is
//!   buffered, then get `Err`.
//! - Nothing is lost: a value is received exactly once, returned in an error, or dropped with
//!   the channel.
//!
//! ```
//! use channels::{bounded, select};
//!
//! let (tx, rx) = bounded(0); // rendezvous
//! let producer = green::spawn(move || {
//!     for i in 0..3 {
//!         tx.send(i).unwrap();
//!     }
//! }); // dropping `tx` closes the channel
//! let got: Vec<i32> = rx.iter().collect();
//! assert_eq!(got, vec![0, 1, 2]);
//! producer.join().unwrap();
//! ```

mod cases;
mod chan;
mod handles;
#[cfg(not(loom))]
mod time;

pub use cases::{RecvCase, SendCase};
pub use handles::{bounded, never, unbounded, IntoIter, Iter, Receiver, Sender, TryIter};
pub use select::{
    select, RecvError, RecvTimeoutError, Select, SelectTimeoutError, SelectedOperation, SendError,
    SendTimeoutError, TryRecvError, TrySelectError, TrySendError,
};
#[cfg(not(loom))]
pub use time::{after, tick};
