//! The portable backend: corosensei's asymmetric coroutines. A coroutine can only suspend back
//! to whoever resumed it, so there is no direct switch (`DIRECT` is false) and every hand-off
//! goes through the worker.

use corosensei::{Coroutine, CoroutineResult, Yielder};

use super::{ForcedUnwindScope, Landing, Outcome, Start};
use crate::stack::GreenStack;

/// This backend cannot switch from one coroutine to another directly.
pub(crate) const DIRECT: bool = false;

/// A coroutine's context: a corosensei coroutine on one of our stacks.
pub(crate) struct Fiber {
    co: Coroutine<(), u8, (), GreenStack>,
}

/// What a running coroutine suspends through: its yielder, on its own stack.
pub(crate) type Link = *const Yielder<(), u8>;

impl Fiber {
    /// A fiber that runs `start(data, link)` on `stack` when first resumed.
    pub(crate) fn new(stack: GreenStack, start: Start, data: *const ()) -> Fiber {
        Fiber {
            co: Coroutine::with_stack(stack, move |yielder: &Yielder<(), u8>, ()| {
                // SAFETY: the caller of `new` vouches for `start` and `data`.
                unsafe { start(data, yielder as Link) };
            }),
        }
    }

    /// True once the fiber's closure has returned.
    pub(crate) fn is_done(&self) -> bool {
        self.co.done()
    }

    /// True once the fiber has run.
    #[inline]
    pub(crate) fn is_started(&self) -> bool {
        self.co.started()
    }

    /// Runs the fiber on this thread until it suspends or returns.
    ///
    /// # Safety
    /// The fiber is not running, and stays at this address until it next suspends or returns.
    #[inline]
    pub(crate) unsafe fn resume(this: *mut Fiber) -> Outcome {
        // SAFETY: as the caller promises.
        match unsafe { (*this).co.resume(()) } {
            CoroutineResult::Yield(why) => Outcome::Suspended(why),
            CoroutineResult::Return(()) => Outcome::Returned,
        }
    }

    /// Runs a suspended fiber's destructors (corosensei unwinds it from where it stopped).
    pub(crate) fn force_unwind(&mut self) {
        if !self.co.done() {
            let _scope = ForcedUnwindScope::enter();
            self.co.force_unwind();
        }
    }

    /// The stack back, for reuse; the fiber must be done (or never started).
    pub(crate) fn into_stack(self) -> GreenStack {
        self.co.into_stack()
    }
}

/// The running coroutine's suspend: back to its resumer with `why`, until it is resumed.
///
/// # Safety
/// `link` is the running coroutine's own yielder, and the caller runs on that coroutine.
#[inline]
pub(crate) unsafe fn suspend(link: Link, why: u8) -> Landing {
    // SAFETY: as the caller promises: the yielder lives on the running coroutine's stack.
    unsafe { (*link).suspend(why) };
    Landing::Resumed
}

/// Never called: `DIRECT` is false on this backend.
///
/// # Safety
/// None needed; it panics.
pub(crate) unsafe fn switch_to(_from: Link, _to: *mut Fiber) -> Landing {
    unreachable!("no direct switch on this target")
}
