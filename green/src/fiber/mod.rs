//! The stack switch: a coroutine's execution context on its own stack, resumed by a worker
//! (or by the thread that unwinds it) and suspended back to it, and, where the target allows,
//! switched to directly from another coroutine.
//!
//! Two backends give one interface. On x86-64 the switch is our own (`x86_64.rs`): it saves
//! the six callee-saved registers and the stack pointer, so any coroutine can switch to any
//! suspended one without passing through its worker. That is what lets a coroutine that parks
//! hand its worker straight to the coroutine it just woke (`scheduler::park_direct`), the path
//! of every channel hand-off between two coroutines. corosensei's coroutines are asymmetric
//! (a coroutine can only return to whoever resumed it), so elsewhere they are the backend and
//! every switch goes through the worker (`DIRECT` is false there).
//!
//! Neither backend switches the floating-point control state (MXCSR, the x87 control word):
//! Rust code assumes the default environment, so foreign code that changes it (flush-to-zero,
//! say) must restore it before it blocks. Neither supports control-flow enforcement (CET
//! indirect-branch tracking or shadow stacks), which Rust does not enable by default.
//!
//! A suspended coroutine learns why it runs again from `Landing`: a plain resume, a direct
//! switch (whose switcher left its own park for the landing coroutine to commit), or an
//! unwind: a runtime that drops a suspended coroutine resumes it once to run its destructors,
//! and `suspend` then unwinds from where the coroutine stopped.
//!
//! This layer sits on the stacks (`stack/`) and knows nothing of tasks or schedulers: a fiber
//! runs a `Start` function given a data pointer, and passes small messages (`u8`) when it
//! suspends.

use std::cell::Cell;

#[cfg(all(target_arch = "x86_64", not(greenchan_portable_fiber)))]
mod x86_64;
#[cfg(all(target_arch = "x86_64", not(greenchan_portable_fiber)))]
pub(crate) use self::x86_64::{suspend, switch_to, Fiber, Link, DIRECT};

// `--cfg greenchan_portable_fiber` selects this backend on x86-64 too, so that CI runs it.
#[cfg(any(not(target_arch = "x86_64"), greenchan_portable_fiber))]
mod portable;
#[cfg(any(not(target_arch = "x86_64"), greenchan_portable_fiber))]
pub(crate) use self::portable::{suspend, switch_to, Fiber, Link, DIRECT};

/// What a fiber runs on its first resume: `start(data, link)`, `link` being what the fiber
/// suspends through. The fiber knows nothing else of what it runs (a task's coroutine, in this
/// runtime); `start` must not unwind.
pub(crate) type Start = unsafe fn(data: *const (), link: Link);

/// How a resumed fiber came back to its resumer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// It suspended itself with this message (the caller's code for why, below 3).
    Suspended(u8),
    /// Its start function returned: the fiber is done.
    Returned,
}

thread_local! {
    /// Set on a thread while it unwinds a suspended fiber (`Fiber::force_unwind`).
    static FORCED_UNWIND: Cell<bool> = const { Cell::new(false) };
}

/// True while this thread unwinds a fiber that will never be resumed (its code can tell that
/// unwind from a panic of its own).
pub(crate) fn unwinding_forcibly() -> bool {
    FORCED_UNWIND.with(Cell::get)
}

/// Marks this thread as unwinding a fiber for as long as it lives.
struct ForcedUnwindScope(bool);

impl ForcedUnwindScope {
    fn enter() -> ForcedUnwindScope {
        ForcedUnwindScope(FORCED_UNWIND.with(|f| f.replace(true)))
    }
}

impl Drop for ForcedUnwindScope {
    fn drop(&mut self) {
        FORCED_UNWIND.with(|f| f.set(self.0));
    }
}

/// Why a suspended coroutine runs again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Landing {
    /// Its worker resumed it.
    Resumed,
    /// Another coroutine switched to it directly; the switcher's park is to be committed.
    Direct,
}
