//! # select: greenchan's multi-way wait engine
//!
//! Everything a channel needs to take part in a select, and the two ways to write one: the
//! `select!` macro (crossbeam-channel's syntax) and the dynamic [`Select`] builder.
//!
//! - `Waiter` is a parked party (coroutine or thread, through green's park/unpark) that
//!   exactly one channel operation may claim; `WaitQueue` is the per-channel queue of them.
//!   A `WakerWaiter` is the same for a future: a claim wakes the task's `Waker`.
//! - `Case` is the protocol a channel operation implements: complete now, register, or
//!   unregister (and, for `Select::ready`, check readiness and watch). `run_select` drives
//!   any set of cases, Go's way: poll in random order, then register everywhere and park until
//!   one case is claimed, or until the earliest deadline (the select's, or a timer case's).
//! - Error types shared by channels and select live here, so both crates use one set.
//!
//! The waiters, the case protocol, the engine's entry points and the `sync` module are public
//! only for greenchan-channels and for the `select!` macro's expansion, and hidden from these
//! docs: they are not part of the API. Users reach what is (the macros, [`Select`] and the
//! errors) through the `greenchan` crate: `greenchan::select!`, `greenchan::Select`,
//! `greenchan::chan::RecvError` and so on.
//!
//! Semantics follow Go: when several operations are ready one is chosen uniformly at random
//! (`select_biased!` and `Select::new_biased` choose the first instead); an operation on a
//! closed channel is ready; a `never()` receiver never is. As in Go, the value of a `send` arm
//! is evaluated when the select starts, and dropped if another arm runs.
//!
//! ```
//! use greenchan::select;
//! let (tx, rx) = greenchan::chan::bounded::<u32>(1);
//! select! {
//!     send(tx, 1) -> res => assert!(res.is_ok()),
//!     default => unreachable!("a buffered channel with room is ready"),
//! }
//! let got = select! {
//!     recv(rx) -> msg => msg.unwrap(),
//! };
//! assert_eq!(got, 1);
//! ```

mod builder;
mod engine;
mod errors;
// Public for greenchan-channels' use only (spin lock, atomics, `RaceCell`); not part of the API.
#[doc(hidden)]
pub mod sync;
mod waiter;

pub use builder::{Select, SelectedOperation};
// Public for greenchan-channels (which implements them) and the `select!` expansion only; not
// part of the API: users pass `&Receiver`/`&Sender` where `Select` takes these.
#[doc(hidden)]
pub use builder::{CaseOutcome, SelectRecv, SelectSend};
// Public for greenchan-channels and the `select!` expansion only; not part of the API.
#[doc(hidden)]
pub use engine::{run_ready, run_select, Case};
pub use errors::{
    ReadyTimeoutError, RecvError, RecvTimeoutError, SelectTimeoutError, SendError,
    SendTimeoutError, TryReadyError, TryRecvError, TrySelectError, TrySendError,
};
// Public for greenchan-channels' use only (its wait queues); not part of the API.
#[doc(hidden)]
pub use waiter::{Entry, OwnedWaiter, QueueKey, WaitQueue, Waiter, WakerWaiter};

/// Waits on several channel operations at once and runs the arm of the one that completes,
/// with crossbeam-channel's syntax:
///
/// ```text
/// select! {
///     recv(rx) -> msg => ...,        // msg: Result<T, RecvError>
///     send(tx, value) -> res => ..., // res: Result<(), SendError<T>>
///     default => ...,                // if nothing is ready now (also `default()`); or:
///     default(timeout) => ...,       // if nothing becomes ready within `timeout`
/// }
/// ```
///
/// Exactly one operation takes effect. Ready operations are chosen uniformly at random
/// ([`select_biased!`] takes the first ready arm instead). With only `default`, it runs
/// `default`; with no arms at all, it blocks forever. The same channel may appear in several
/// arms. The macro is an expression: its value is the arm's.
///
/// Operands are any expressions, evaluated once, in order, when the select starts (a send's
/// value too, as in Go); temporaries live until the select ends, so `recv(after(d))` and
/// `recv(opt.as_ref().unwrap_or(&never()))` work. Arms are separated by commas, which are
/// optional after a block body; a trailing comma is allowed, as it is inside `recv(..)`,
/// `send(..)` and `default(..)`.
///
/// ```
/// use std::time::Duration;
/// use greenchan::select;
/// let (_tx, rx) = greenchan::chan::unbounded::<i32>();
/// let r = select! {
///     recv(rx) -> _ => "message",
///     default(Duration::from_millis(5)) => "timed out",
/// };
/// assert_eq!(r, "timed out");
///
/// // An optional channel: `never()` stands in for a missing one (Go's nil channel).
/// let maybe: Option<greenchan::chan::Receiver<i32>> = None;
/// let r = select! {
///     recv(maybe.as_ref().unwrap_or(&greenchan::chan::never())) -> _ => "message",
///     default() => "nothing",
/// };
/// assert_eq!(r, "nothing");
/// ```
#[macro_export]
macro_rules! select {
    ($($tt:tt)*) => {
        $crate::__select_parse!(@arms (false) [] [] $($tt)*)
    };
}

/// [`select!`] with a bias: when several operations are ready, the first ready arm in source
/// order runs (crossbeam-channel's `select_biased!`). Use it where one arm must win over the
/// others (a shutdown signal over work); it can starve the later arms.
///
/// ```
/// use greenchan::select_biased;
/// let (tx1, rx1) = greenchan::chan::unbounded::<i32>();
/// let (tx2, rx2) = greenchan::chan::unbounded::<i32>();
/// tx1.send(1).unwrap();
/// tx2.send(2).unwrap();
/// for _ in 0..10 {
///     let got = select_biased! {
///         recv(rx1) -> v => { tx1.send(1).unwrap(); v.unwrap() },
///         recv(rx2) -> v => v.unwrap(),
///     };
///     assert_eq!(got, 1, "the first ready arm always wins");
/// }
/// ```
#[macro_export]
macro_rules! select_biased {
    ($($tt:tt)*) => {
        $crate::__select_parse!(@arms (true) [] [] $($tt)*)
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __select_parse {
    // recv arms
    (@arms $b:tt [$($arms:tt)*] [$($def:tt)*] recv($r:expr $(,)?) -> $res:pat => $body:block, $($rest:tt)*) => {
        $crate::__select_parse!(@arms $b [$($arms)* (recv ($r) ($res) ($body))] [$($def)*] $($rest)*)
    };
    (@arms $b:tt [$($arms:tt)*] [$($def:tt)*] recv($r:expr $(,)?) -> $res:pat => $body:block $($rest:tt)*) => {
        $crate::__select_parse!(@arms $b [$($arms)* (recv ($r) ($res) ($body))] [$($def)*] $($rest)*)
    };
    (@arms $b:tt [$($arms:tt)*] [$($def:tt)*] recv($r:expr $(,)?) -> $res:pat => $body:expr, $($rest:tt)*) => {
        $crate::__select_parse!(@arms $b [$($arms)* (recv ($r) ($res) ($body))] [$($def)*] $($rest)*)
    };
    (@arms $b:tt [$($arms:tt)*] [$($def:tt)*] recv($r:expr $(,)?) -> $res:pat => $body:expr) => {
        $crate::__select_parse!(@arms $b [$($arms)* (recv ($r) ($res) ($body))] [$($def)*])
    };
    // send arms
    (@arms $b:tt [$($arms:tt)*] [$($def:tt)*] send($s:expr, $v:expr $(,)?) -> $res:pat => $body:block, $($rest:tt)*) => {
        $crate::__select_parse!(@arms $b [$($arms)* (send ($s, $v) ($res) ($body))] [$($def)*] $($rest)*)
    };
    (@arms $b:tt [$($arms:tt)*] [$($def:tt)*] send($s:expr, $v:expr $(,)?) -> $res:pat => $body:block $($rest:tt)*) => {
        $crate::__select_parse!(@arms $b [$($arms)* (send ($s, $v) ($res) ($body))] [$($def)*] $($rest)*)
    };
    (@arms $b:tt [$($arms:tt)*] [$($def:tt)*] send($s:expr, $v:expr $(,)?) -> $res:pat => $body:expr, $($rest:tt)*) => {
        $crate::__select_parse!(@arms $b [$($arms)* (send ($s, $v) ($res) ($body))] [$($def)*] $($rest)*)
    };
    (@arms $b:tt [$($arms:tt)*] [$($def:tt)*] send($s:expr, $v:expr $(,)?) -> $res:pat => $body:expr) => {
        $crate::__select_parse!(@arms $b [$($arms)* (send ($s, $v) ($res) ($body))] [$($def)*])
    };
    // `default` and `default()`: the same thing.
    (@arms $b:tt [$($arms:tt)*] [] default $(())? => $body:block, $($rest:tt)*) => {
        $crate::__select_parse!(@arms $b [$($arms)*] [(None) ($body)] $($rest)*)
    };
    (@arms $b:tt [$($arms:tt)*] [] default $(())? => $body:block $($rest:tt)*) => {
        $crate::__select_parse!(@arms $b [$($arms)*] [(None) ($body)] $($rest)*)
    };
    (@arms $b:tt [$($arms:tt)*] [] default $(())? => $body:expr, $($rest:tt)*) => {
        $crate::__select_parse!(@arms $b [$($arms)*] [(None) ($body)] $($rest)*)
    };
    (@arms $b:tt [$($arms:tt)*] [] default $(())? => $body:expr) => {
        $crate::__select_parse!(@arms $b [$($arms)*] [(None) ($body)])
    };
    // `default(timeout)`
    (@arms $b:tt [$($arms:tt)*] [] default($t:expr $(,)?) => $body:block, $($rest:tt)*) => {
        $crate::__select_parse!(@arms $b [$($arms)*] [(Some($t)) ($body)] $($rest)*)
    };
    (@arms $b:tt [$($arms:tt)*] [] default($t:expr $(,)?) => $body:block $($rest:tt)*) => {
        $crate::__select_parse!(@arms $b [$($arms)*] [(Some($t)) ($body)] $($rest)*)
    };
    (@arms $b:tt [$($arms:tt)*] [] default($t:expr $(,)?) => $body:expr, $($rest:tt)*) => {
        $crate::__select_parse!(@arms $b [$($arms)*] [(Some($t)) ($body)] $($rest)*)
    };
    (@arms $b:tt [$($arms:tt)*] [] default($t:expr $(,)?) => $body:expr) => {
        $crate::__select_parse!(@arms $b [$($arms)*] [(Some($t)) ($body)])
    };
    // done parsing
    (@arms $b:tt [$($arms:tt)*] [$($def:tt)*]) => {{
        #[allow(unused_imports)]
        use $crate::{CaseOutcome as _, SelectRecv as _, SelectSend as _};
        $crate::__select_emit!(@cases $b [$($arms)*] [] [] [$($def)*])
    }};
    (@arms $b:tt [$($arms:tt)*] [$($def:tt)+] default $($rest:tt)*) => {
        compile_error!("select!: there can be only one `default` arm")
    };
    (@arms $($bad:tt)*) => {
        compile_error!("select!: expected `recv(r) -> pat => body`, `send(s, v) -> pat => body`, `default => body` or `default(timeout) => body`, separated by commas")
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __select_emit {
    // Bind each operand to a fresh (hygienic) variable, counting their indices. A `match`
    // keeps the operand's temporaries (`recv(after(d))`, `recv(x.unwrap_or(&never()))`)
    // alive until the select ends.
    (@cases $b:tt [(recv ($r:expr) $res:tt $body:tt) $($rest:tt)*] [$($done:tt)*] [$($n:tt)*] $def:tt) => {
        match $r {
            ref __recv => {
                let __case = __recv.recv_case();
                $crate::__select_emit!(@cases $b [$($rest)*] [$($done)* (__case $res $body (0 $($n)*))] [$($n)* + 1] $def)
            }
        }
    };
    (@cases $b:tt [(send ($s:expr, $v:expr) $res:tt $body:tt) $($rest:tt)*] [$($done:tt)*] [$($n:tt)*] $def:tt) => {
        match $s {
            ref __send => {
                let __case = __send.send_case($v);
                $crate::__select_emit!(@cases $b [$($rest)*] [$($done)* (__case $res $body (0 $($n)*))] [$($n)* + 1] $def)
            }
        }
    };
    // No default: block until an arm completes.
    (@cases ($b:expr) [] [$(($case:ident ($res:pat) ($body:expr) ($($index:tt)*)))*] $n:tt []) => {{
        let __cases: &[&dyn $crate::Case] = &[$(&$case),*];
        match $crate::run_select(__cases, ::std::option::Option::None, false, $b) {
            $(
                ::std::option::Option::Some(__i) if __i == $($index)* => {
                    let $res = $case.take_outcome();
                    $body
                }
            )*
            _ => unreachable!("select! without default completed no arm"),
        }
    }};
    // `default` (run it if nothing is ready) or `default(timeout)`.
    (@cases ($b:expr) [] [$(($case:ident ($res:pat) ($body:expr) ($($index:tt)*)))*] $n:tt [($deadline:expr) ($default:expr)]) => {{
        let __cases: &[&dyn $crate::Case] = &[$(&$case),*];
        let (__deadline, __nonblocking) = match $deadline {
            ::std::option::Option::Some(t) => {
                let t: ::std::time::Duration = t;
                (::std::time::Instant::now().checked_add(t), false)
            }
            ::std::option::Option::None => (::std::option::Option::None, true),
        };
        match $crate::run_select(__cases, __deadline, __nonblocking, $b) {
            $(
                ::std::option::Option::Some(__i) if __i == $($index)* => {
                    let $res = $case.take_outcome();
                    $body
                }
            )*
            _ => $default,
        }
    }};
}
