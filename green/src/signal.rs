//! What greenchan's two signal handlers (the stack-overflow reporter on SIGSEGV/SIGBUS and the
//! preemption handler on SIGURG) share: remembering the handler that was installed before
//! theirs, and passing a signal that is not theirs on to it, so the runtime composes with other
//! code in the process that handles the same signals. Everything here is async-signal-safe.

use std::mem;
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};

/// The handler installed before ours: its `sa_sigaction` and `sa_flags`.
pub(crate) struct PreviousHandler {
    action: AtomicUsize,
    flags: AtomicI32,
}

impl PreviousHandler {
    /// None yet: the default action.
    pub(crate) const fn new() -> PreviousHandler {
        PreviousHandler {
            action: AtomicUsize::new(libc::SIG_DFL),
            flags: AtomicI32::new(0),
        }
    }

    /// Records `old`, the action `sigaction` reported, before ours replaces it.
    pub(crate) fn remember(&self, old: &libc::sigaction) {
        self.action.store(old.sa_sigaction, Ordering::Relaxed);
        self.flags.store(old.sa_flags, Ordering::Relaxed);
    }

    /// True if there is no handler to pass the signal to (`SIG_DFL` or `SIG_IGN`).
    pub(crate) fn is_default_or_ignored(&self) -> bool {
        let action = self.action.load(Ordering::Relaxed);
        action == libc::SIG_DFL || action == libc::SIG_IGN
    }

    /// Calls the previous handler with what the kernel gave ours.
    ///
    /// # Safety
    /// Called from our handler for the signal this handler was recorded for, with its
    /// arguments, and only if `is_default_or_ignored` is false.
    pub(crate) unsafe fn call(
        &self,
        signal: libc::c_int,
        info: *mut libc::siginfo_t,
        context: *mut libc::c_void,
    ) {
        let action = self.action.load(Ordering::Relaxed);
        if self.flags.load(Ordering::Relaxed) & libc::SA_SIGINFO != 0 {
            // SAFETY: an SA_SIGINFO handler has this signature; it gets what the kernel gave
            // us.
            unsafe {
                let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                    mem::transmute(action);
                f(signal, info, context);
            }
        } else {
            // SAFETY: a handler installed without SA_SIGINFO takes the signal number only.
            unsafe {
                let f: extern "C" fn(libc::c_int) = mem::transmute(action);
                f(signal);
            }
        }
    }
}
