//! # select: greenchan's multi-way wait engine
//!
//! Everything a channel needs to take part in a select, and the two ways to write one: the
//! `select!` macro (crossbeam-channel's syntax) and the dynamic [`Select`] builder.
//!
//! - [`Waiter`] is a parked party (coroutine or thread, through green's park/unpark) that
//!   exactly one channel operation may claim; [`WaitQueue`] is the per-channel queue of them.
//! - [`Case`] is the protocol a channel operation implements: complete now, register, or
//!   unregister. [`run_select`] drives any set of cases, Go's way: poll in random order, then
//!   register everywhere and park until one case is claimed.
//! - Error types shared by channels and select live here, so both crates use one set.
//!
//! Semantics follow Go: when several operations are ready one is chosen uniformly at random;
//! an operation on a closed channel is ready; a `never()` receiver never is. As in Go, the
//! value of a `send` arm is evaluated when the select starts, and dropped if another arm runs.
//!
//! ```
//! use select::select;
//! let (tx, rx) = channels::bounded::<u32>(1);
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
pub mod sync;
mod waiter;

pub use builder::{CaseOutcome, Select, SelectRecv, SelectSend, SelectedOperation};
pub use engine::{run_select, Case};
pub use errors::{
    RecvError, RecvTimeoutError, SelectTimeoutError, SendError, SendTimeoutError, TryRecvError,
    TrySelectError, TrySendError,
};
pub use waiter::{Entry, OwnedWaiter, WaitQueue, Waiter};

/// Waits on several channel operations at once and runs the arm of the one that completes,
/// with crossbeam-channel's syntax:
///
/// ```text
/// select! {
///     recv(rx) -> msg => ...,        // msg: Result<T, RecvError>
///     send(tx, value) -> res => ..., // res: Result<(), SendError<T>>
///     default => ...,                // if nothing is ready now; or:
///     default(timeout) => ...,       // if nothing becomes ready within `timeout`
/// }
/// ```
///
/// Exactly one operation takes effect. Ready operations are chosen uniformly at random. With
/// only `default`, it runs `default`; with no arms at all, it blocks forever. The same channel
/// may appear in several arms. The macro is an expression: its value is the arm's.
///
/// ```
/// use std::time::Duration;
/// use select::select;
/// let (_tx, rx) = channels::unbounded::<i32>();
/// let r = select! {
///     recv(rx) -> _ => "message",
///     default(Duration::from_millis(5)) => "timed out",
/// };
/// assert_eq!(r, "timed out");
/// ```
#[macro_export]
macro_rules! select {
    ($($tt:tt)*) => {
        $crate::__select_parse!(@arms [] [] $($tt)*)
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __select_parse {
    // recv arms
    (@arms [$($arms:tt)*] [$($def:tt)*] recv($r:expr) -> $res:pat => $body:block, $($rest:tt)*) => {
        $crate::__select_parse!(@arms [$($arms)* (recv ($r) ($res) ($body))] [$($def)*] $($rest)*)
    };
    (@arms [$($arms:tt)*] [$($def:tt)*] recv($r:expr) -> $res:pat => $body:block $($rest:tt)*) => {
        $crate::__select_parse!(@arms [$($arms)* (recv ($r) ($res) ($body))] [$($def)*] $($rest)*)
    };
    (@arms [$($arms:tt)*] [$($def:tt)*] recv($r:expr) -> $res:pat => $body:expr, $($rest:tt)*) => {
        $crate::__select_parse!(@arms [$($arms)* (recv ($r) ($res) ($body))] [$($def)*] $($rest)*)
    };
    (@arms [$($arms:tt)*] [$($def:tt)*] recv($r:expr) -> $res:pat => $body:expr) => {
        $crate::__select_parse!(@arms [$($arms)* (recv ($r) ($res) ($body))] [$($def)*])
    };
    // send arms
    (@arms [$($arms:tt)*] [$($def:tt)*] send($s:expr, $v:expr) -> $res:pat => $body:block, $($rest:tt)*) => {
        $crate::__select_parse!(@arms [$($arms)* (send ($s, $v) ($res) ($body))] [$($def)*] $($rest)*)
    };
    (@arms [$($arms:tt)*] [$($def:tt)*] send($s:expr, $v:expr) -> $res:pat => $body:block $($rest:tt)*) => {
        $crate::__select_parse!(@arms [$($arms)* (send ($s, $v) ($res) ($body))] [$($def)*] $($rest)*)
    };
    (@arms [$($arms:tt)*] [$($def:tt)*] send($s:expr, $v:expr) -> $res:pat => $body:expr, $($rest:tt)*) => {
        $crate::__select_parse!(@arms [$($arms)* (send ($s, $v) ($res) ($body))] [$($def)*] $($rest)*)
    };
    (@arms [$($arms:tt)*] [$($def:tt)*] send($s:expr, $v:expr) -> $res:pat => $body:expr) => {
        $crate::__select_parse!(@arms [$($arms)* (send ($s, $v) ($res) ($body))] [$($def)*])
    };
    // default arms
    (@arms [$($arms:tt)*] [] default => $body:block, $($rest:tt)*) => {
        $crate::__select_parse!(@arms [$($arms)*] [(None) ($body)] $($rest)*)
    };
    (@arms [$($arms:tt)*] [] default => $body:block $($rest:tt)*) => {
        $crate::__select_parse!(@arms [$($arms)*] [(None) ($body)] $($rest)*)
    };
    (@arms [$($arms:tt)*] [] default => $body:expr, $($rest:tt)*) => {
        $crate::__select_parse!(@arms [$($arms)*] [(None) ($body)] $($rest)*)
    };
    (@arms [$($arms:tt)*] [] default => $body:expr) => {
        $crate::__select_parse!(@arms [$($arms)*] [(None) ($body)])
    };
    (@arms [$($arms:tt)*] [] default($t:expr) => $body:block, $($rest:tt)*) => {
        $crate::__select_parse!(@arms [$($arms)*] [(Some($t)) ($body)] $($rest)*)
    };
    (@arms [$($arms:tt)*] [] default($t:expr) => $body:block $($rest:tt)*) => {
        $crate::__select_parse!(@arms [$($arms)*] [(Some($t)) ($body)] $($rest)*)
    };
    (@arms [$($arms:tt)*] [] default($t:expr) => $body:expr, $($rest:tt)*) => {
        $crate::__select_parse!(@arms [$($arms)*] [(Some($t)) ($body)] $($rest)*)
    };
    (@arms [$($arms:tt)*] [] default($t:expr) => $body:expr) => {
        $crate::__select_parse!(@arms [$($arms)*] [(Some($t)) ($body)])
    };
    // done parsing
    (@arms [$($arms:tt)*] [$($def:tt)*]) => {{
        #[allow(unused_imports)]
        use $crate::{CaseOutcome as _, SelectRecv as _, SelectSend as _};
        $crate::__select_emit!(@cases [$($arms)*] [] [] [$($def)*])
    }};
    (@arms $($bad:tt)*) => {
        compile_error!("select!: expected `recv(r) -> pat => body`, `send(s, v) -> pat => body`, `default => body` or `default(timeout) => body`, with at most one default")
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __select_emit {
    // Bind each case to a fresh (hygienic) variable, counting their indices.
    (@cases [(recv ($r:expr) $res:tt $body:tt) $($rest:tt)*] [$($done:tt)*] [$($n:tt)*] $def:tt) => {{
        // Bound by reference first, so a temporary receiver (`recv(after(d))`) lives for
        // the whole select.
        let __recv = &$r;
        let __case = __recv.recv_case();
        $crate::__select_emit!(@cases [$($rest)*] [$($done)* (__case $res $body (0 $($n)*))] [$($n)* + 1] $def)
    }};
    (@cases [(send ($s:expr, $v:expr) $res:tt $body:tt) $($rest:tt)*] [$($done:tt)*] [$($n:tt)*] $def:tt) => {{
        let __send = &$s;
        let __case = __send.send_case($v);
        $crate::__select_emit!(@cases [$($rest)*] [$($done)* (__case $res $body (0 $($n)*))] [$($n)* + 1] $def)
    }};
    // No default: block until an arm completes.
    (@cases [] [$(($case:ident ($res:pat) ($body:expr) ($($index:tt)*)))*] $n:tt []) => {{
        let __cases: &[&dyn $crate::Case] = &[$(&$case),*];
        match $crate::run_select(__cases, None, false) {
            $(
                Some(__i) if __i == $($index)* => {
                    let $res = $case.take_outcome();
                    $body
                }
            )*
            _ => unreachable!("select! without default completed no arm"),
        }
    }};
    // `default` (run it if nothing is ready) or `default(timeout)`.
    (@cases [] [$(($case:ident ($res:pat) ($body:expr) ($($index:tt)*)))*] $n:tt [($deadline:expr) ($default:expr)]) => {{
        let __cases: &[&dyn $crate::Case] = &[$(&$case),*];
        let (__deadline, __nonblocking) = match $deadline {
            Some(t) => {
                let t: ::std::time::Duration = t;
                (::std::time::Instant::now().checked_add(t), false)
            }
            None => (None, true),
        };
        match $crate::run_select(__cases, __deadline, __nonblocking) {
            $(
                Some(__i) if __i == $($index)* => {
                    let $res = $case.take_outcome();
                    $body
                }
            )*
            _ => $default,
        }
    }};
}
