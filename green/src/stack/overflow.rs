//! Stack-overflow reports: a SIGSEGV/SIGBUS handler that recognises a fault in the guard page
//! of the coroutine running on the faulting thread, names that coroutine on stderr and aborts.
//!
//! Everything the handler touches is async-signal-safe: one thread-local of plain `Copy` data
//! with a `const` initialiser and no destructor (a single TLS load, no lazy registration),
//! `write(2)` on fd 2 with numbers formatted by hand into a buffer on the signal stack, and
//! `abort(3)`. A fault that is not ours goes to the handler installed before ours (std's,
//! which reports overflows of thread stacks), or to the default action.
//!
//! A fault counts as the running coroutine's overflow anywhere in its guard region: the
//! [`guard_len`] bytes below the lowest usable address (`RunningStack::guard_hi`), however
//! much of it `guard_lo` covers. A frame that jumps past the end of the stack by up to the
//! guard's length (C code without stack probes) is named as reliably as one that walks off it.
//!
//! The overflowing coroutine's own stack is unusable, so the handler must run on an alternate
//! signal stack. std gives the main thread and every thread it spawns one when it installed
//! its own SIGSEGV handler at startup (the usual case, tested below); [`ensure_alt_stack`]
//! installs one where it did not.

use std::cell::Cell;
use std::mem;
use std::ptr;
use std::sync::Once;

use super::{guard_len, page_size};
use crate::signal::PreviousHandler;

/// The coroutine running on a worker thread, as the overflow handler needs to know it: its
/// guard, its stack size, its id and its name (borrowed from the task, which outlives its
/// running).
#[derive(Clone, Copy, Debug)]
pub(crate) struct RunningStack {
    /// Start of the guard (inclusive): the start of the guard page below the stack
    /// (`GreenStack::guard_range`) or of the whole guard region (`GreenStack::guard_region`);
    /// the handler covers the whole region either way (see [`RunningStack::guard`]).
    pub guard_lo: usize,
    /// End of the guard (exclusive): the lowest usable address of the stack.
    pub guard_hi: usize,
    /// Usable size of the stack, for the report.
    pub stack_size: usize,
    /// Coroutine id, for the report.
    pub id: u64,
    /// UTF-8 name bytes, or null for an unnamed coroutine; must stay valid while it runs.
    pub name_ptr: *const u8,
    /// Length of the name in bytes.
    pub name_len: usize,
}

impl RunningStack {
    /// The addresses whose fault is this coroutine's overflow: the [`guard_len`] bytes below
    /// `guard_hi`, and anything lower that `guard_lo` includes. Empty for a task that has no
    /// stack yet (both zero). Async-signal-safe: arithmetic and a relaxed atomic load.
    #[inline]
    pub(crate) fn guard(&self) -> std::ops::Range<usize> {
        let lo = self.guard_lo.min(self.guard_hi.saturating_sub(guard_len()));
        lo..self.guard_hi
    }
}

thread_local! {
    // Plain `Copy` data, `const` initialiser, no destructor: reading it is a TLS load, safe
    // in a signal handler. A SIGSEGV from the guard page is synchronous with the coroutine,
    // so the handler never sees a half-written value from `set_running` on its own thread.
    static RUNNING: Cell<Option<RunningStack>> = const { Cell::new(None) };
    // Whether `ensure_alt_stack` already ran on this thread.
    static ALT_CHECKED: Cell<bool> = const { Cell::new(false) };
    // The alternate signal stack this module installed on this thread, if any; unmapped at
    // thread exit.
    static ALT_OWNED: OwnedAltStack = const { OwnedAltStack { base: Cell::new(0), len: Cell::new(0) } };
}

/// Publishes the coroutine about to run on this thread (`Some`) or that none runs (`None`).
/// The worker calls it around every resume; it is a thread-local store.
#[inline]
pub(crate) fn set_running(r: Option<RunningStack>) {
    // `with` and a plain store, not `LocalKey::set`: that one is an out-of-line call taking
    // the value through memory, whose wide reloads of narrow stores stall the switch path.
    RUNNING.with(|c| c.set(r));
}

/// The coroutine stack published on this thread; async-signal-safe (a thread-local load).
/// Read by the preemption signal handler, which first makes sure the worker is not in the
/// middle of publishing it.
#[inline]
#[cfg_attr(
    not(all(target_os = "linux", target_arch = "x86_64")),
    allow(dead_code)
)]
pub(crate) fn running() -> Option<RunningStack> {
    RUNNING.get()
}

/// Installs the SIGSEGV and SIGBUS handler (once per process) and makes sure this thread has
/// an alternate signal stack (once per thread). Call it on every thread that runs coroutines
/// before it runs any; later calls cost an atomic load and a thread-local read.
pub(crate) fn install_overflow_handler() {
    ensure_alt_stack();
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        install(libc::SIGSEGV, &SEGV_PREV);
        install(libc::SIGBUS, &BUS_PREV);
    });
}

/// The handlers installed before ours, for chaining.
static SEGV_PREV: PreviousHandler = PreviousHandler::new();
static BUS_PREV: PreviousHandler = PreviousHandler::new();

fn install(signal: libc::c_int, prev: &PreviousHandler) {
    // SAFETY: `sigaction` with a zeroed (valid: empty mask, no flags, SIG_DFL) struct as
    // storage only queries the current action. The new action points at `on_fault`, an
    // `extern "C"` function with the SA_SIGINFO signature that is async-signal-safe. The
    // previous action is saved before ours is installed, so `on_fault` never reads it unset.
    unsafe {
        let mut old: libc::sigaction = mem::zeroed();
        if libc::sigaction(signal, ptr::null(), &mut old) != 0 {
            return;
        }
        prev.remember(&old);
        let mut new: libc::sigaction = mem::zeroed();
        new.sa_sigaction = on_fault as *const () as usize;
        new.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
        libc::sigemptyset(&mut new.sa_mask);
        libc::sigaction(signal, &new, ptr::null_mut());
    }
}

extern "C" fn on_fault(
    signal: libc::c_int,
    info: *mut libc::siginfo_t,
    context: *mut libc::c_void,
) {
    // SAFETY: the kernel passes a valid siginfo for a SA_SIGINFO handler; for SIGSEGV and
    // SIGBUS its address field is the faulting address.
    let addr = unsafe { (*info).si_addr() } as usize;
    if let Some(r) = RUNNING.get() {
        if r.guard().contains(&addr) {
            report(&r);
            // SAFETY: abort is async-signal-safe and never returns.
            unsafe { libc::abort() };
        }
    }
    let prev = if signal == libc::SIGBUS {
        &BUS_PREV
    } else {
        &SEGV_PREV
    };
    if prev.is_default_or_ignored() {
        // Not ours and nobody else's: restore the default action and return, so the faulting
        // instruction runs again and the process dies of the signal, as without us. (A fault
        // cannot be ignored: returning would loop.)
        // SAFETY: a zeroed sigaction is SIG_DFL with an empty mask; sigaction is
        // async-signal-safe.
        unsafe {
            let mut dfl: libc::sigaction = mem::zeroed();
            dfl.sa_sigaction = libc::SIG_DFL;
            libc::sigaction(signal, &dfl, ptr::null_mut());
        }
    } else {
        // SAFETY: in our handler for `signal`, with the kernel's arguments; a handler is set.
        // (std's does what we do: reports its own guard-page hits, else restores SIG_DFL.)
        unsafe { prev.call(signal, info, context) };
    }
}

/// Writes `greenchan: coroutine 'NAME' (id N) overflowed its stack of S bytes; aborting` to
/// stderr without allocating.
fn report(r: &RunningStack) {
    write_stderr(b"greenchan: coroutine ");
    if r.name_ptr.is_null() {
        write_stderr(b"<unnamed>");
    } else {
        write_stderr(b"'");
        // SAFETY: the scheduler keeps the name alive while the coroutine runs (RunningStack's
        // contract), and it is running: it just faulted.
        write_stderr(unsafe { std::slice::from_raw_parts(r.name_ptr, r.name_len) });
        write_stderr(b"'");
    }
    let mut buf = [0u8; 20];
    write_stderr(b" (id ");
    write_stderr(format_decimal(r.id, &mut buf));
    write_stderr(b") overflowed its stack of ");
    write_stderr(format_decimal(r.stack_size as u64, &mut buf));
    write_stderr(b" bytes; aborting\n");
}

/// Formats `n` in decimal at the end of `buf`, returning the digits.
fn format_decimal(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}

fn write_stderr(mut bytes: &[u8]) {
    while !bytes.is_empty() {
        // SAFETY: write(2) on fd 2 from a valid buffer; async-signal-safe.
        let n = unsafe { libc::write(2, bytes.as_ptr().cast(), bytes.len()) };
        if n > 0 {
            bytes = &bytes[n as usize..];
        } else if n < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
            continue;
        } else {
            return;
        }
    }
}

/// An alternate signal stack mapped by [`ensure_alt_stack`]; unmapped when its thread exits.
struct OwnedAltStack {
    base: Cell<usize>,
    len: Cell<usize>,
}

impl Drop for OwnedAltStack {
    fn drop(&mut self) {
        let (base, len) = (self.base.get(), self.len.get());
        if len == 0 {
            return;
        }
        // SAFETY: disabling this thread's alternate stack before unmapping it, and only if it
        // is still ours, so no signal can be delivered onto unmapped memory.
        unsafe {
            let mut cur: libc::stack_t = mem::zeroed();
            libc::sigaltstack(ptr::null(), &mut cur);
            if cur.ss_sp as usize == base + page_size() {
                let off = libc::stack_t {
                    ss_sp: ptr::null_mut(),
                    ss_flags: libc::SS_DISABLE,
                    ss_size: 0,
                };
                libc::sigaltstack(&off, ptr::null_mut());
            }
            libc::munmap(base as *mut _, len);
        }
    }
}

/// Bytes of an alternate signal stack this module installs: ample for the overflow handler
/// (and for std's, which may run on it), and above `AT_MINSIGSTKSZ` with AVX-512 or AMX state.
const ALT_STACK_SIZE: usize = 64 * 1024;

/// Makes sure this thread has an alternate signal stack, installing one (with a guard page)
/// if it has none. std threads normally have one already; this is for threads std did not
/// equip (std skips it when another SIGSEGV handler preceded its own at startup). Cheap after
/// the first call on a thread.
pub(crate) fn ensure_alt_stack() {
    if ALT_CHECKED.get() {
        return;
    }
    ALT_CHECKED.set(true);
    // SAFETY: querying the current alternate stack into a zeroed stack_t.
    let mut cur: libc::stack_t = unsafe { mem::zeroed() };
    // SAFETY: as above.
    if unsafe { libc::sigaltstack(ptr::null(), &mut cur) } != 0 {
        return;
    }
    if cur.ss_flags & libc::SS_DISABLE == 0 {
        return;
    }
    let page = page_size();
    let len = ALT_STACK_SIZE + page;
    // SAFETY: a fresh anonymous mapping aliases nothing; its first page becomes a guard page,
    // the rest becomes this thread's alternate signal stack, recorded for unmapping at exit.
    unsafe {
        let base = libc::mmap(
            ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
            -1,
            0,
        );
        if base == libc::MAP_FAILED {
            return;
        }
        libc::mprotect(base, page, libc::PROT_NONE);
        let stack = libc::stack_t {
            ss_sp: base.cast::<u8>().add(page).cast(),
            ss_flags: 0,
            ss_size: ALT_STACK_SIZE,
        };
        if libc::sigaltstack(&stack, ptr::null_mut()) != 0 {
            libc::munmap(base, len);
            return;
        }
        // If the thread is already tearing down its thread-locals, keep the stack mapped
        // (leaked) rather than fail: it is in use.
        let _ = ALT_OWNED.try_with(|o| {
            o.base.set(base as usize);
            o.len.set(len);
        });
    }
}

/// Whether this thread has an alternate signal stack, and its size.
#[cfg(test)]
pub(super) fn alt_stack() -> Option<(usize, usize)> {
    // SAFETY: querying into a zeroed stack_t.
    let mut cur: libc::stack_t = unsafe { mem::zeroed() };
    // SAFETY: as above.
    let rc = unsafe { libc::sigaltstack(ptr::null(), &mut cur) };
    (rc == 0 && cur.ss_flags & libc::SS_DISABLE == 0).then_some((cur.ss_sp as usize, cur.ss_size))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_formatting() {
        let mut buf = [0u8; 20];
        assert_eq!(format_decimal(0, &mut buf), b"0");
        assert_eq!(format_decimal(42, &mut buf), b"42");
        assert_eq!(format_decimal(65536, &mut buf), b"65536");
        assert_eq!(
            format_decimal(u64::MAX, &mut buf),
            u64::MAX.to_string().as_bytes()
        );
    }

    #[test]
    fn std_threads_have_an_alternate_signal_stack() {
        // Worker threads are std threads: std gives each one (it installed its own SIGSEGV
        // handler at startup), which the overflow handler runs on.
        let on_thread = std::thread::spawn(alt_stack).join().unwrap();
        let (_, size) = on_thread.expect("std threads come with an alternate signal stack");
        assert!(size >= libc::MINSIGSTKSZ);
    }

    #[test]
    fn ensure_alt_stack_installs_one_where_missing() {
        std::thread::spawn(|| {
            // Take std's away (std unmaps its memory at exit whether enabled or not).
            let off = libc::stack_t {
                ss_sp: ptr::null_mut(),
                ss_flags: libc::SS_DISABLE,
                ss_size: 0,
            };
            // SAFETY: disabling this thread's alternate stack; no fault is pending.
            assert_eq!(unsafe { libc::sigaltstack(&off, ptr::null_mut()) }, 0);
            assert_eq!(alt_stack(), None);
            ensure_alt_stack();
            let (_, size) = alt_stack().expect("ensure_alt_stack installs one");
            assert_eq!(size, ALT_STACK_SIZE);
            ensure_alt_stack(); // idempotent
            assert_eq!(alt_stack().unwrap().1, ALT_STACK_SIZE);
        })
        .join()
        .unwrap();
    }
}
