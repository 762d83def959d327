//! Asynchronous preemption on Linux x86-64: the `SIGURG` handler that redirects an
//! interrupted coroutine into the trampoline, and the trampoline that saves every register,
//! yields and restores them. The safety argument is in `mod.rs`; this file is its mechanics.
//!
//! The handler only redirects; the switch happens in the trampoline, in ordinary code on the
//! coroutine's stack, after the signal frame is gone (Go's `asyncPreempt` design). What the
//! handler needs is computed once at install time, before the handler exists: the executable
//! text ranges (`dl_iterate_phdr`) and the `XSAVE` area size (CPUID leaf 0xD).

use std::mem;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Once;

use super::worker_slice;
use crate::critical::{depth, set_depth};
use crate::signal::PreviousHandler;

/// Bytes below the stack pointer that leaf code may use without moving it (System V ABI).
const RED_ZONE: usize = 128;
/// Stack the trampoline needs besides the `XSAVE` area: its return address, 16 saved
/// registers, 64 bytes of alignment slack, and the yield call down to the context switch
/// (generous, for debug builds).
const STACK_NEEDED: usize = 8 + 16 * 8 + 64 + 4096;
/// How many executable ranges of the runtime's object are remembered (a binary has one or
/// two; more are ignored, which only makes fewer places preemptible).
const MAX_RANGES: usize = 8;

/// Size of the `XSAVE` area for the features the OS enabled (CPUID.(EAX=0DH,ECX=0):EBX); read
/// by the trampoline. Zero until installed.
static XSAVE_SIZE: AtomicUsize = AtomicUsize::new(0);
/// Executable ranges `[lo, hi)` of the object containing the runtime, then zeros.
static TEXT: [(AtomicUsize, AtomicUsize); MAX_RANGES] =
    [const { (AtomicUsize::new(0), AtomicUsize::new(0)) }; MAX_RANGES];
/// Whether the handler is installed (set once by `install`).
static INSTALLED: AtomicBool = AtomicBool::new(false);
/// The `SIGURG` action installed before ours, for chaining.
static PREV: PreviousHandler = PreviousHandler::new();

// The trampoline. Entered, instead of the interrupted instruction, with RSP 136 bytes below
// the interrupted RSP and the interrupted RIP at [RSP] (as if called), the red zone untouched
// in between. Saves RFLAGS and the general registers by pushing, the extended state with
// XSAVE into a 64-byte aligned area below them (its 64-byte header zeroed first, as XRSTOR of
// the standard format requires), establishes the ABI's entry state (DF clear, default MXCSR,
// fresh x87 control word) and calls `preempt_entry` with a 16-byte aligned stack. Then it
// restores everything in reverse and returns with `ret 128`: RIP and RSP are the interrupted
// ones again.
std::arch::global_asm!(
    ".pushsection .text.greenchan_preempt_trampoline,\"ax\",@progbits",
    ".p2align 4",
    ".globl greenchan_preempt_trampoline",
    ".hidden greenchan_preempt_trampoline",
    ".type greenchan_preempt_trampoline,@function",
    "greenchan_preempt_trampoline:",
    "pushfq",
    "push rax",
    "push rcx",
    "push rdx",
    "push rbx",
    "push rbp",
    "push rsi",
    "push rdi",
    "push r8",
    "push r9",
    "push r10",
    "push r11",
    "push r12",
    "push r13",
    "push r14",
    "push r15",
    "mov rbp, rsp",
    "mov rax, qword ptr [rip + {xsave_size}]",
    "sub rsp, rax",
    "and rsp, -64",
    "xor eax, eax",
    "mov qword ptr [rsp + 512], rax",
    "mov qword ptr [rsp + 520], rax",
    "mov qword ptr [rsp + 528], rax",
    "mov qword ptr [rsp + 536], rax",
    "mov qword ptr [rsp + 544], rax",
    "mov qword ptr [rsp + 552], rax",
    "mov qword ptr [rsp + 560], rax",
    "mov qword ptr [rsp + 568], rax",
    "mov eax, -1",
    "mov edx, -1",
    "xsave64 [rsp]",
    "cld",
    "fninit",
    "mov dword ptr [rsp - 8], 0x1f80",
    "ldmxcsr dword ptr [rsp - 8]",
    "call {entry}",
    "mov eax, -1",
    "mov edx, -1",
    "xrstor64 [rsp]",
    "mov rsp, rbp",
    "pop r15",
    "pop r14",
    "pop r13",
    "pop r12",
    "pop r11",
    "pop r10",
    "pop r9",
    "pop r8",
    "pop rdi",
    "pop rsi",
    "pop rbp",
    "pop rbx",
    "pop rdx",
    "pop rcx",
    "pop rax",
    "popfq",
    "ret 128",
    ".globl greenchan_preempt_trampoline_end",
    ".hidden greenchan_preempt_trampoline_end",
    "greenchan_preempt_trampoline_end:",
    ".size greenchan_preempt_trampoline, greenchan_preempt_trampoline_end - greenchan_preempt_trampoline",
    ".popsection",
    xsave_size = sym XSAVE_SIZE,
    entry = sym preempt_entry,
);

extern "C" {
    fn greenchan_preempt_trampoline();
    fn greenchan_preempt_trampoline_end();
}

fn trampoline_start() -> usize {
    greenchan_preempt_trampoline as *const () as usize
}

fn trampoline_end() -> usize {
    greenchan_preempt_trampoline_end as *const () as usize
}

/// What the trampoline calls: the yield, in ordinary code. `extern "C"`, so an unwind out of
/// it aborts instead of entering the trampoline, which has no unwind information (nothing
/// unwinds through a suspended preempted coroutine: see the shutdown note in `mod.rs`).
extern "C" fn preempt_entry() {
    super::yield_preempted();
}

/// True where the CPU and OS support `XSAVE` (CPUID.1:ECX.OSXSAVE), which every x86-64 Linux
/// machine of the last decade does; without it asynchronous preemption stays off.
#[allow(unused_unsafe)] // `__cpuid` is an unsafe fn before Rust 1.89, safe since
fn xsave_area_size() -> Option<usize> {
    // SAFETY: CPUID is available on every x86-64 CPU; leaf 1 always exists.
    let leaf1 = unsafe { std::arch::x86_64::__cpuid(1) };
    if leaf1.ecx & (1 << 27) == 0 {
        return None;
    }
    // SAFETY: OSXSAVE implies leaf 0xD exists; sub-leaf 0 EBX is the size for XCR0's features.
    let size = unsafe { std::arch::x86_64::__cpuid_count(0xD, 0) }.ebx as usize;
    // At least the legacy area and the header.
    (size >= 576).then_some(size)
}

pub(crate) fn is_supported() -> bool {
    xsave_area_size().is_some()
}

/// Installs the handler once per process; true if asynchronous preemption is available.
pub(crate) fn install() -> bool {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let Some(size) = xsave_area_size() else {
            return;
        };
        XSAVE_SIZE.store(size, Ordering::Relaxed);
        if shadow_stack_enabled() || !find_text_ranges() {
            return;
        }
        // SAFETY: querying, then installing, the SIGURG action with zeroed (valid: empty
        // mask, SIG_DFL) storage; the new action points at `on_sigurg`, an async-signal-safe
        // `extern "C"` SA_SIGINFO handler. What it reads (the ranges, the size, the previous
        // action) is stored before it is installed.
        unsafe {
            let mut old: libc::sigaction = mem::zeroed();
            if libc::sigaction(libc::SIGURG, ptr::null(), &mut old) != 0 {
                return;
            }
            PREV.remember(&old);
            let mut new: libc::sigaction = mem::zeroed();
            new.sa_sigaction = on_sigurg as *const () as usize;
            new.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART | libc::SA_ONSTACK;
            libc::sigemptyset(&mut new.sa_mask);
            if libc::sigaction(libc::SIGURG, &new, ptr::null_mut()) != 0 {
                return;
            }
        }
        INSTALLED.store(true, Ordering::Release);
    });
    INSTALLED.load(Ordering::Acquire)
}

/// True if this thread runs with a CET user shadow stack (Linux 6.6+, opt-in): the
/// trampoline's return would not match it, so asynchronous preemption stays off.
fn shadow_stack_enabled() -> bool {
    const ARCH_SHSTK_STATUS: libc::c_long = 0x5005;
    const ARCH_SHSTK_SHSTK: u64 = 1;
    let mut status: u64 = 0;
    // SAFETY: arch_prctl(ARCH_SHSTK_STATUS) writes one u64 to the given address; kernels
    // without shadow-stack support fail with EINVAL and write nothing.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_arch_prctl,
            ARCH_SHSTK_STATUS,
            &mut status as *mut u64,
        )
    };
    rc == 0 && status & ARCH_SHSTK_SHSTK != 0
}

/// Records the executable segments of the loaded object that contains the trampoline (the
/// main program, or the shared library the runtime was linked into).
fn find_text_ranges() -> bool {
    struct Search {
        probe: usize,
        ranges: [(usize, usize); MAX_RANGES],
        found: bool,
    }
    unsafe extern "C" fn visit(
        info: *mut libc::dl_phdr_info,
        _size: libc::size_t,
        data: *mut libc::c_void,
    ) -> libc::c_int {
        // SAFETY: `data` is the `Search` passed to dl_iterate_phdr below, and `info` points
        // at a valid description of one loaded object with `dlpi_phnum` program headers.
        unsafe {
            let search = &mut *data.cast::<Search>();
            let info = &*info;
            let headers = std::slice::from_raw_parts(info.dlpi_phdr, info.dlpi_phnum as usize);
            let mut ranges = [(0, 0); MAX_RANGES];
            let mut n = 0;
            let mut contains = false;
            for h in headers {
                if h.p_type != libc::PT_LOAD || h.p_flags & libc::PF_X == 0 {
                    continue;
                }
                let lo = info.dlpi_addr as usize + h.p_vaddr as usize;
                let hi = lo + h.p_memsz as usize;
                contains |= (lo..hi).contains(&search.probe);
                if n < MAX_RANGES {
                    ranges[n] = (lo, hi);
                    n += 1;
                }
            }
            if contains {
                search.ranges = ranges;
                search.found = true;
                return 1;
            }
            0
        }
    }
    let mut search = Search {
        probe: trampoline_start(),
        ranges: [(0, 0); MAX_RANGES],
        found: false,
    };
    // SAFETY: `visit` matches the callback type and only reads what it is given; `search`
    // outlives the call.
    unsafe { libc::dl_iterate_phdr(Some(visit), (&mut search as *mut Search).cast()) };
    if !search.found {
        return false;
    }
    for (slot, &(lo, hi)) in TEXT.iter().zip(search.ranges.iter()) {
        slot.0.store(lo, Ordering::Relaxed);
        slot.1.store(hi, Ordering::Relaxed);
    }
    true
}

/// True if `pc` is in the runtime's object's text and not in the trampoline.
fn preemptible_pc(pc: usize) -> bool {
    let tramp = trampoline_start()..trampoline_end();
    if tramp.contains(&pc) {
        return false;
    }
    TEXT.iter().any(|(lo, hi)| {
        let (lo, hi) = (lo.load(Ordering::Relaxed), hi.load(Ordering::Relaxed));
        lo <= pc && pc < hi
    })
}

/// This thread's id for `signal_thread`.
pub(crate) fn current_thread() -> usize {
    // SAFETY: pthread_self has no preconditions.
    unsafe { libc::pthread_self() as usize }
}

/// Sends the preemption signal to a worker thread.
///
/// # Safety
/// `thread` is a live thread of this process (see `SliceState::signal`).
pub(crate) unsafe fn signal_thread(thread: usize) {
    // SAFETY: the caller guarantees the thread is alive; SIGURG has our handler installed.
    unsafe { libc::pthread_kill(thread as libc::pthread_t, libc::SIGURG) };
}

extern "C" fn on_sigurg(
    signal: libc::c_int,
    info: *mut libc::siginfo_t,
    context: *mut libc::c_void,
) {
    // Ours: sent with pthread_kill (tgkill: SI_TKILL) by this process to a worker thread.
    // SAFETY: the kernel passes a valid siginfo to an SA_SIGINFO handler; for SI_TKILL its
    // sender pid field is set. getpid is async-signal-safe.
    let ours = unsafe { (*info).si_code == libc::SI_TKILL && (*info).si_pid() == libc::getpid() }
        && !worker_slice().is_null();
    if ours {
        // SAFETY: `context` is the interrupted thread's ucontext, which the kernel restores
        // when the handler returns.
        unsafe { redirect(context.cast()) };
        return;
    }
    if PREV.is_default_or_ignored() {
        // SIGURG's default action is to ignore it.
        return;
    }
    // SAFETY: in our SIGURG handler, with the kernel's arguments; a handler is set.
    unsafe { PREV.call(signal, info, context) };
}

/// Makes the interrupted coroutine call the trampoline when the signal returns, if it is at a
/// safe place (`mod.rs`, point 2); otherwise leaves the preempt flag for its next
/// cooperative preemption point.
///
/// # Safety
/// `uc` is the ucontext of the interrupted code on this thread, inside its signal handler.
unsafe fn redirect(uc: *mut libc::ucontext_t) {
    // SAFETY: non-null: the caller checked this thread is a worker, whose slice state the
    // runtime keeps alive while the worker runs (it is unregistered before it goes).
    let slice = unsafe { &*worker_slice() };
    if !slice.preempt_requested()
        || depth() != 0
        || crate::scheduler::context::current_task().is_null()
    {
        return;
    }
    // Never inside a panic: std keeps per-thread panic state (its count, and whether the
    // thread is in the panic hook), and another coroutine panicking on this thread meanwhile
    // would abort the process. `panicking` only loads a global atomic and a constant-
    // initialised thread-local, which is safe in a signal handler.
    if std::thread::panicking() {
        return;
    }
    // Depth zero: a coroutine runs its own code, not the worker, which publishes the stack
    // before and withdraws it after any resumption, always at depth one.
    let Some(stack) = crate::stack::running() else {
        return;
    };
    // SAFETY: the caller's contract; gregs are the interrupted registers.
    let gregs = unsafe { &mut (*uc).uc_mcontext.gregs };
    let pc = gregs[libc::REG_RIP as usize] as usize;
    let sp = gregs[libc::REG_RSP as usize] as usize;
    if !preemptible_pc(pc) {
        return;
    }
    let lowest = stack.guard_hi;
    let top = stack.guard_hi + stack.stack_size;
    let needed = RED_ZONE + STACK_NEEDED + XSAVE_SIZE.load(Ordering::Relaxed);
    if sp > top || sp < lowest + needed {
        return;
    }
    // The handler must run on the alternate signal stack (every worker has one): on the
    // coroutine's stack, the kernel's signal frame would lie just below the red zone, where
    // the return address is about to go.
    let marker = 0u8;
    let here = &marker as *const u8 as usize;
    if (lowest..=top).contains(&here) {
        return;
    }
    let new_sp = sp - RED_ZONE - 8;
    // SAFETY: `new_sp` is within the running coroutine's stack (checked just above), below
    // the red zone of the interrupted code, so nothing live is there; 8-byte aligned since
    // `sp` is (x86-64 code never misaligns RSP to less than 8).
    unsafe { (new_sp as *mut usize).write(pc) };
    gregs[libc::REG_RSP as usize] = new_sp as i64;
    gregs[libc::REG_RIP as usize] = trampoline_start() as i64;
    // The trampoline and the yield run at depth one: no second redirection on top of this
    // one; `yield_preempted` sets it back to zero before the interrupted code resumes.
    set_depth(1);
}
