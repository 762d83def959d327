//! Targets without asynchronous preemption (anything but Linux on x86-64): no signal is ever
//! sent and no handler installed; coroutines are preempted cooperatively only, at
//! `preempt_point` and runtime calls once their time slice is up.

pub(crate) fn is_supported() -> bool {
    false
}

/// Never installs anything: asynchronous preemption is unavailable here.
pub(crate) fn install() -> bool {
    false
}

pub(crate) fn current_thread() -> usize {
    0
}

/// Never called: no thread is ever published for signalling on this target.
///
/// # Safety
/// None needed; it does nothing.
pub(crate) unsafe fn signal_thread(_thread: usize) {}
