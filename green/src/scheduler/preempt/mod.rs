//! Preemption: what makes a coroutine that never blocks give its worker back.
//!
//! # By default: cooperative, plus rescue
//!
//! The monitor thread (`sysmon.rs`) sets a per-worker flag when a coroutine has run longer
//! than its time slice, and every preemption point ([`preempt_point`](crate::preempt_point),
//! runtime calls) yields when it sees it. Nothing else ever switches a coroutine: interleaving
//! on a thread happens only where the code called the runtime, as in any single-threaded
//! executor, so std's thread-local state (stdout's lock, lazily initialised thread-locals, the
//! panic count, `errno`), statically linked allocators and every `!Send` value behave as on an
//! OS thread. A coroutine that never reaches a preemption point keeps its worker, and the
//! monitor rescues everything on that worker that may move (see the scheduler's docs): only
//! the coroutines that started on the same thread wait for it.
//!
//! # Opt-in, `unsafe`: asynchronous preemption
//!
//! [`RuntimeBuilder::allow_async_preemption`](crate::RuntimeBuilder::allow_async_preemption)
//! and [`Builder::allow_async_preemption`](crate::Builder::allow_async_preemption) turn on Go
//! 1.14's mechanism (Linux on x86-64 only, `x86_64_linux.rs`; elsewhere they do nothing, see
//! [`is_supported`]): the monitor also sends `SIGURG` to the worker thread running an
//! opted-in coroutine past its slice, and the signal handler, when the interrupted code is at
//! a safe place, rewrites the interrupted context so that the thread, on return from the
//! signal, calls an assembly trampoline that saves every register, yields the coroutine like
//! `yield_now`, restores every register and jumps back. A loop with no call at all is then
//! preempted too.
//!
//! It is `unsafe` because it breaks what other code on the thread assumes: the coroutine can
//! be switched out at any instruction, and other coroutines then run on the same thread in
//! the middle of whatever it was doing. std and other crates are written for threads, where
//! that never happens: a coroutine interrupted inside `println!` leaves stdout's `RefCell`
//! borrowed and its reentrant lock held by "this thread", so another coroutine printing
//! panics or splices its line in; one interrupted inside a lazy `thread_local!` initialiser,
//! a statically linked allocator or a `LazyLock` initialiser lets another re-enter it
//! (crashes, heap corruption, deadlocks); one interrupted between a failing system call and
//! std's read of `errno` lets another overwrite it; one holding a `std::sync::Mutex` blocks
//! the worker for good if another coroutine there takes the lock. The caller of the opt-in
//! promises that the opted-in coroutines hold no such thread-affine state across arbitrary
//! instructions: no std locks, `println!`, thread-locals, `rand::thread_rng`, or allocation
//! through a statically linked `#[global_allocator]`, while they may be preempted. Sections
//! can be shielded with [`disable`].
//!
//! ## Safety argument of the mechanism itself
//!
//! Injecting a call at an arbitrary instruction is sound, given the caller's promise, when (1)
//! the injected code leaves the interrupted state exactly as it found it, (2) the injected code
//! does not run anything the interrupted code could be in the middle of, and (3) whatever the
//! interrupted code assumed about its thread still holds when it resumes. Point by point:
//!
//! 1. **State.** The handler does nothing but redirect (it never runs the scheduler: Go's
//!    rule). It stores the interrupted RIP 128 bytes *below* the stack pointer, past the
//!    System V red zone that leaf code may use without moving RSP, and makes the thread return
//!    into the trampoline as if that RIP had been pushed by a call. The trampoline pushes
//!    RFLAGS and all 15 other general registers, saves the full extended state (x87, SSE,
//!    AVX, AVX-512, ... whatever XCR0 enables) with `XSAVE` into a 64-byte aligned area of
//!    the size CPUID leaf 0xD reports, calls the yield with a clean ABI state (direction flag
//!    clear, default MXCSR and x87 control word), then `XRSTOR`s, pops everything and
//!    returns with `ret 128`, which lands on the interrupted RIP with RSP exactly as it was.
//!    Nothing the interrupted code could observe changes. The save area lives on the
//!    coroutine's own stack, so it travels with the coroutine; no per-thread buffer is
//!    involved.
//! 2. **Reentrancy.** The handler redirects only when all of these hold, else it leaves the
//!    flag set for the next cooperative preemption point:
//!    - this thread is a worker whose monitor asked for preemption (the flag is set), and a
//!      coroutine that opted in is current on it;
//!    - the thread's *no-preempt depth* is zero. The runtime keeps it at least one whenever
//!      a worker is not running coroutine code (the scheduler, the switch itself, the
//!      unwinding of a dropped coroutine), for every coroutine that did not opt in, and
//!      raises it around its own critical sections that coroutine code enters: scheduling a
//!      woken task, arming a timer, spawning, and the wait-queue locks of `sync` (see
//!      [`NoPreempt`]). The channels' spin locks are the exception, kept off this counter for
//!      speed: a holder may be preempted inside its few-dozen-instruction critical section,
//!      and a coroutine that then spins for that lock past its backoff yields, so a holder on
//!      the same worker resumes and releases it (`select::sync`);
//!    - the thread is not panicking (`std::thread::panicking`): std keeps per-thread panic
//!      state, and a second coroutine panicking on the same thread while the first is
//!      inside the panic hook would abort the process;
//!    - the interrupted PC lies in the executable text of the object that contains the
//!      runtime (the main program, normally), found once with `dl_iterate_phdr`: never in
//!      libc, the system allocator, the dynamic loader or the vDSO, whose internal state
//!      (malloc arenas, stdio locks, loader locks) another coroutine on the same thread
//!      could otherwise re-enter; and never in the trampoline itself;
//!    - the stack pointer lies within the running coroutine's stack with room for the red
//!      zone, the save area and the yield call (`STACK_NEEDED` plus the XSAVE size), so the
//!      injected frame can neither overflow it nor land on some other stack (such as a
//!      signal stack or the scheduler's).
//!
//!    The handler touches only `const`-initialised thread-locals of plain data, atomics and
//!    the interrupted context: it is async-signal-safe.
//! 3. **Thread.** An asynchronously preempted coroutine resumes on the thread it was
//!    interrupted on, even one that opted in to migration: it goes to its worker's home
//!    queue, which nobody steals from.
//!
//! A signal interrupts a blocking system call made directly by coroutine code. The handler
//! is installed with `SA_RESTART`, so most restart transparently, but a few (`nanosleep`,
//! `epoll_wait`, `poll`, ...) return `EINTR` regardless, as they do under Go: one more thing
//! the opted-in code must accept.
//!
//! The environment variable `GREENCHAN_ASYNCPREEMPT=0` (Go's `GODEBUG=asyncpreemptoff=1`)
//! turns the opt-in off for the whole process; no environment variable turns it on.
//!
//! A coroutine that is still preempted (not yet resumed) when its runtime shuts down is left
//! suspended, as a parked one is: it cannot be unwound from an arbitrary instruction, so its
//! stack is leaked rather than reused.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
mod x86_64_linux;
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
use x86_64_linux as imp;

#[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
mod unsupported;
#[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
use unsupported as imp;

pub(crate) use imp::signal_thread;

use crate::critical::set_depth;
pub use crate::critical::{disable, NoPreempt};

/// Plumbing for greenchan's own crates (doc-hidden): a std mutex locked from coroutine code,
/// poison ignored, with asynchronous preemption off while it is held, so that the runtime's
/// own std locks stay sound under the opt-in (see `locking.rs`).
#[doc(hidden)]
pub use crate::locking::{lock as lock_unpreempted, Locked};

use crate::scheduler::sysmon::SliceState;

thread_local! {
    // The slice state of the worker this thread is, or null; read by the signal handler.
    static SLICE: Cell<*const SliceState> = const { Cell::new(std::ptr::null()) };
}

/// Asynchronous preemptions performed in this process, for [`async_preemptions`].
static PREEMPTIONS: AtomicU64 = AtomicU64::new(0);

/// The slice state of the worker running on this thread (null elsewhere).
#[cfg_attr(
    not(all(target_os = "linux", target_arch = "x86_64")),
    allow(dead_code)
)]
fn worker_slice() -> *const SliceState {
    SLICE.with(Cell::get)
}

/// True if this build can preempt coroutines asynchronously (Linux on x86-64 with `XSAVE`).
/// Elsewhere only cooperative preemption works: a coroutine yields at its next
/// [`preempt_point`](crate::preempt_point) or runtime call after its time slice.
///
/// ```
/// let supported = greenchan::preempt::is_supported();
/// assert_eq!(
///     supported,
///     cfg!(all(target_os = "linux", target_arch = "x86_64")) && supported
/// );
/// ```
pub fn is_supported() -> bool {
    imp::is_supported()
}

/// True unless the environment variable `GREENCHAN_ASYNCPREEMPT` is `0` (or `off`, `false`),
/// read once per process: it can turn the `unsafe` opt-in off, never on.
pub(crate) fn enabled_by_env() -> bool {
    static ENABLED: OnceLock<bool> = OnceLock::new();
    *ENABLED.get_or_init(|| match std::env::var("GREENCHAN_ASYNCPREEMPT") {
        Ok(v) => !matches!(v.trim(), "0" | "off" | "false"),
        Err(_) => true,
    })
}

/// How many times, in this process so far, a coroutine was preempted asynchronously (by the
/// signal, not at a preemption point). A diagnostic, and what tests observe preemption by.
///
/// ```
/// let before = greenchan::preempt::async_preemptions();
/// assert!(greenchan::preempt::async_preemptions() >= before);
/// ```
pub fn async_preemptions() -> u64 {
    PREEMPTIONS.load(Ordering::Relaxed)
}

/// Installs the preemption signal's handler (once per process) for an opt-in to
/// asynchronous preemption; false where it is not supported or turned off by the environment,
/// in which case the opt-in leaves cooperative preemption only.
pub(crate) fn install_for_opt_in() -> bool {
    enabled_by_env() && imp::install()
}

/// Registers this thread as a worker: it runs at depth one outside coroutines, and the monitor
/// may signal this thread through `slice` (it does so only while a coroutine that opted in to
/// asynchronous preemption runs on it). Unregisters on drop.
pub(crate) struct WorkerRegistration {
    slice: *const SliceState,
}

impl WorkerRegistration {
    pub(crate) fn new(slice: &SliceState) -> WorkerRegistration {
        set_depth(1);
        SLICE.with(|s| s.set(slice));
        slice.publish_tid();
        if imp::is_supported() {
            slice.publish_thread(imp::current_thread());
        }
        WorkerRegistration { slice }
    }
}

impl Drop for WorkerRegistration {
    fn drop(&mut self) {
        // SAFETY: the slice state lives in the runtime's shared state, which the worker keeps
        // alive (it holds an `Arc` to it) for longer than this registration.
        unsafe { &*self.slice }.withdraw_thread();
        SLICE.with(|s| s.set(std::ptr::null()));
    }
}

/// Called by the trampoline (through `imp`), in ordinary code on the coroutine's stack: the
/// actual preemption, a yield that pins the coroutine to this worker.
#[cfg_attr(
    not(all(target_os = "linux", target_arch = "x86_64")),
    allow(dead_code)
)]
fn yield_preempted() {
    PREEMPTIONS.fetch_add(1, Ordering::Relaxed);
    crate::scheduler::suspend_preempted();
    // The handler raised the depth to one before redirecting; the interrupted code ran at 0.
    set_depth(0);
}
