//! Critical sections: the per-thread *no-preempt depth* that says whether the code running on a
//! thread may be switched out at an arbitrary instruction, and the guard that raises it.
//!
//! Only the `unsafe` opt-in to asynchronous preemption (`preempt/`) ever switches a coroutine
//! at an arbitrary instruction; its signal handler redirects the interrupted code only at
//! depth zero. The depth is one whenever a worker runs its own code (the scheduler, the switch
//! itself) and for every coroutine that did not opt in; runtime code that coroutines enter
//! raises it around its critical sections ([`NoPreempt`]), so another coroutine can never
//! observe such a section half done. It is the lowest layer of the runtime: the allocator
//! caches (`mcache`), tasks and the scheduler all use it, and it uses nothing of theirs.

use std::cell::Cell;

thread_local! {
    // The no-preempt depth of the code running on this thread. Plain data, `const`
    // initialiser, no destructor: the signal handler reads it with one load.
    static DEPTH: Cell<u32> = const { Cell::new(0) };
}

/// This thread's no-preempt depth. Never inlined: a coroutine that opted in to migration and
/// reads it after a switch may be on another thread, so the thread-local's address must be
/// computed afresh.
#[inline(never)]
pub(crate) fn depth() -> u32 {
    DEPTH.with(Cell::get)
}

/// Sets this thread's no-preempt depth; never inlined for the same reason as [`depth`].
#[inline(never)]
pub(crate) fn set_depth(depth: u32) {
    DEPTH.with(|d| d.set(depth));
}

/// Adds one to this thread's depth (one call, one thread-local access).
#[inline(never)]
fn raise_depth() {
    DEPTH.with(|d| d.set(d.get() + 1));
}

/// Takes one from this thread's depth.
#[inline(never)]
fn lower_depth() {
    DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
}

/// While alive, the coroutine (or thread) that created it is not preempted asynchronously;
/// cooperative preemption points still yield. Guards nest, are cheap (two thread-local
/// accesses), and may be held across blocking calls: the depth they set belongs to the
/// coroutine and travels with it. Not `Send`: drop it where it was made.
///
/// Use it, in a coroutine opted in to asynchronous preemption, around code that must not be
/// interleaved with other coroutines on the same thread (a `std::sync::Mutex` held, a
/// thread-local borrowed); see the `preempt` module.
///
/// ```
/// let total = greenchan::spawn(|| {
///     let _guard = greenchan::preempt::disable();
///     (0..1000u64).sum::<u64>() // not interrupted by a signal
/// })
/// .join()
/// .unwrap();
/// assert_eq!(total, 499_500);
/// ```
#[must_use = "preemption is disabled only while the guard is alive"]
pub struct NoPreempt {
    _not_send: std::marker::PhantomData<*const ()>,
}

impl NoPreempt {
    /// Disables asynchronous preemption until the guard is dropped; same as [`disable`].
    ///
    /// ```
    /// let guard = greenchan::preempt::NoPreempt::new();
    /// drop(guard);
    /// ```
    #[inline]
    pub fn new() -> NoPreempt {
        raise_depth();
        NoPreempt {
            _not_send: std::marker::PhantomData,
        }
    }
}

impl Default for NoPreempt {
    fn default() -> Self {
        NoPreempt::new()
    }
}

impl Drop for NoPreempt {
    #[inline]
    fn drop(&mut self) {
        lower_depth();
    }
}

impl std::fmt::Debug for NoPreempt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NoPreempt").finish()
    }
}

/// Disables asynchronous preemption of the caller until the returned guard is dropped.
///
/// ```
/// let v = greenchan::spawn(|| {
///     let _no_preempt = greenchan::preempt::disable();
///     let m = std::sync::Mutex::new(5); // a std lock: keep the holder from being preempted
///     let v = *m.lock().unwrap();
///     v
/// })
/// .join()
/// .unwrap();
/// assert_eq!(v, 5);
/// ```
#[inline]
pub fn disable() -> NoPreempt {
    NoPreempt::new()
}

/// The first thing a coroutine runs: its depth is `0`, or `1` if it opted out of asynchronous
/// preemption (the depth then never drops to zero while it runs).
#[inline]
pub(crate) fn coroutine_started(async_preempt: bool) {
    set_depth(u32::from(!async_preempt));
}

/// The last thing a coroutine runs before it returns to its worker.
#[inline]
pub(crate) fn coroutine_finished() {
    set_depth(1);
}

/// Saves the running coroutine's depth before it switches out; the worker and the switch
/// code then run at depth one. Pair with [`after_switch`].
#[inline(never)]
pub(crate) fn before_switch() -> u32 {
    DEPTH.with(|d| d.replace(1))
}

/// Restores the coroutine's depth on whichever thread resumed it.
#[inline]
pub(crate) fn after_switch(saved: u32) {
    set_depth(saved);
}
