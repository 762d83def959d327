//! The x86-64 backend: a symmetric stack switch of our own.
//!
//! `switch(save, to, arg)` is inline assembly at each of its few call sites. It pushes RBP and
//! RBX and the address where this side will continue, stores the stack pointer at `save`,
//! loads `to` as the stack pointer, pops the other side's continuation and jumps there, where
//! that side pops its RBX and RBP; `arg` travels in RDX and is what the other side's switch
//! returns. The other callee-saved registers (R12-R15) are declared clobbered, so the compiler
//! saves only those the surrounding function uses, and everything caller-saved is clobbered as
//! for a call (`clobber_abi("C")`). Control state no Rust code changes (MXCSR, the x87 control
//! word) is not switched; the preemption trampoline, which interrupts arbitrary code, saves
//! and restores the full state itself. Jumping to the continuation (not returning to it)
//! leaves the return-address predictor alone.
//!
//! A new fiber's stack is laid out as if it had switched out: its continuation is
//! `greenchan_fiber_start_v0_1`, which calls `fiber_main` with the fiber's header (the argument of
//! the first resume). The unwind information of `greenchan_fiber_start_v0_1` marks the return
//! address as undefined and its frame pointer is zero, so backtraces end there.
//!
//! A fiber returns to its *parent*: the slot where its resumer's stack pointer is saved, which
//! `resume` records in the fiber's header for as long as it runs the fiber. A direct switch
//! passes the parent on to the fiber it switches to: whichever fiber suspends next returns to
//! the same worker.

use std::arch::asm;
use std::mem::ManuallyDrop;
use std::panic::{self, AssertUnwindSafe};
use std::ptr::{self, NonNull};

use super::{ForcedUnwindScope, Landing, Outcome, Start};
use crate::stack::GreenStack;

/// The payload a dropped coroutine is unwound with (see the module doc of `fiber`). The
/// code it runs recognises that unwind by `fiber::unwinding_forcibly`, as with corosensei's,
/// not by this type.
struct ForcedUnwind;

/// This backend can switch from one coroutine to another directly.
pub(crate) const DIRECT: bool = true;

// The values passed through a switch (its `arg`). A suspend passes its message, 0..=3.
const MAX_MESSAGE: usize = 3;
const RETURNED: usize = 4;
const RESUME: usize = 5;
const DIRECT_SWITCH: usize = 6;
const UNWIND: usize = 7;
// The first resume passes the fiber's header instead (an address, above these).

std::arch::global_asm!(
    ".pushsection .text.greenchan_fiber_start_v0_1,\"ax\",@progbits",
    ".p2align 4",
    ".globl greenchan_fiber_start_v0_1",
    ".hidden greenchan_fiber_start_v0_1",
    ".type greenchan_fiber_start_v0_1,@function",
    "greenchan_fiber_start_v0_1:",
    ".cfi_startproc",
    ".cfi_undefined rip",
    "xor ebp, ebp",
    "mov rdi, rdx",
    "and rsp, -16",
    "call {main}",
    "ud2",
    ".cfi_endproc",
    ".size greenchan_fiber_start_v0_1, . - greenchan_fiber_start_v0_1",
    ".popsection",
    main = sym fiber_main,
);

extern "C" {
    /// Never called: its address is the first continuation of a new fiber. The name carries
    /// the crate's version, as two versions of `green` in one binary would otherwise clash.
    fn greenchan_fiber_start_v0_1();
}

/// Saves this side at `save`, continues the side saved as `to` with `arg`; returns the `arg`
/// of the switch that comes back here. See the module doc.
///
/// # Safety
/// `to` is a stack pointer saved by this function (or laid out by `Fiber::new`) whose side is
/// not running, and `save` stays valid until the switch back.
#[inline(always)]
unsafe fn switch(save: *mut usize, to: usize, arg: usize) -> usize {
    let back: usize;
    // SAFETY: as the caller promises; the assembly keeps the stack 8 bytes below a 16-byte
    // boundary at the continuation exactly as at entry (three pushes, three pops), and every
    // register it does not restore is declared clobbered.
    unsafe {
        asm!(
            "push rbp",
            "push rbx",
            "lea rax, [rip + 2f]",
            "push rax",
            "mov [rdi], rsp",
            "mov rsp, rsi",
            "pop rax",
            "jmp rax",
            "2:",
            "pop rbx",
            "pop rbp",
            in("rdi") save,
            in("rsi") to,
            inout("rdx") arg => back,
            out("r12") _,
            out("r13") _,
            out("r14") _,
            out("r15") _,
            clobber_abi("C"),
        );
    }
    back
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    New,
    Suspended,
    Running,
    Done,
}

/// What a fiber keeps at the top of its own stack, so that the `Fiber` handle may move while
/// the coroutine is suspended (a task hands it around): the saved stack pointer, the state and
/// the entry of the first run.
pub(crate) struct Header {
    sp: usize,
    /// While it runs: where its resumer's stack pointer is saved.
    parent: *mut usize,
    state: State,
    /// What the first resume runs.
    start: Start,
    data: *const (),
}

/// A coroutine's context: its stack, with the header at the top.
///
/// Three words, and `Option<Fiber>` too (the header pointer is never null): a task keeps one
/// for its whole life, and a million parked coroutines feel every word of it.
pub(crate) struct Fiber {
    header: NonNull<Header>,
    /// Given back by `into_stack`, or dropped (or leaked) by `drop`, exactly once.
    stack: ManuallyDrop<GreenStack>,
}

/// What a running coroutine suspends through: its header.
pub(crate) type Link = *mut Header;

// SAFETY: a fiber is moved between threads only while suspended (or not started); its stack
// holds frames of a closure that was `Send` and of runtime code that is thread-agnostic (the
// caveat on thread-locals is documented on the crate).
unsafe impl Send for Fiber {}

impl Fiber {
    /// A fiber that runs `start(data, link)` on `stack` when first resumed.
    pub(crate) fn new(stack: GreenStack, start: Start, data: *const ()) -> Fiber {
        let header = (stack.top() - std::mem::size_of::<Header>()) & !15;
        let frame: [usize; 4] = [
            greenchan_fiber_start_v0_1 as *const () as usize, // the first continuation
            0,                                                // rbx
            0,                                                // rbp
            0,                                                // padding
        ];
        let sp = header - std::mem::size_of_val(&frame);
        // SAFETY: the stack's usable memory ends at `top` and is ours alone; header and frame
        // take about 100 of its at least 16 KiB, at 16-aligned addresses.
        unsafe {
            (header as *mut Header).write(Header {
                sp,
                parent: ptr::null_mut(),
                state: State::New,
                start,
                data,
            });
            ptr::copy_nonoverlapping(frame.as_ptr(), sp as *mut usize, frame.len());
        }
        Fiber {
            // SAFETY: an address just below the stack's top, which is never zero.
            header: unsafe { NonNull::new_unchecked(header as *mut Header) },
            stack: ManuallyDrop::new(stack),
        }
    }

    fn state(&self) -> State {
        // SAFETY: the header lives as long as the stack, which `self` holds; the fiber is not
        // running while its handle is used (only the coroutine itself touches it then).
        unsafe { (*self.header.as_ptr()).state }
    }

    /// True once the fiber's closure has returned.
    pub(crate) fn is_done(&self) -> bool {
        self.state() == State::Done
    }

    /// True once the fiber has run (a direct switch may only go to a started fiber).
    #[inline]
    pub(crate) fn is_started(&self) -> bool {
        self.state() != State::New
    }

    /// Runs the fiber on this thread until it suspends or returns.
    ///
    /// # Safety
    /// The fiber is not running, and its stack is not given up while it runs.
    #[inline]
    pub(crate) unsafe fn resume(this: *mut Fiber) -> Outcome {
        // SAFETY: as the caller promises.
        let header = unsafe { (*this).header.as_ptr() };
        // SAFETY: as above.
        let arg = match unsafe { (*header).state } {
            State::New => header as usize,
            State::Suspended => RESUME,
            State::Running | State::Done => panic!("resumed a fiber that is running or done"),
        };
        // SAFETY: as above.
        match unsafe { switch_in(header, arg) } {
            message @ 0..=MAX_MESSAGE => Outcome::Suspended(message as u8),
            RETURNED => Outcome::Returned,
            other => unreachable!("a fiber came back with {other}"),
        }
    }

    /// Runs a suspended fiber's destructors: it is resumed once and unwinds from where it
    /// stopped (see the module doc). A fiber that never ran is just marked done.
    pub(crate) fn force_unwind(&mut self) {
        match self.state() {
            State::New => {
                // SAFETY: not running: the header is ours.
                unsafe { (*self.header.as_ptr()).state = State::Done };
            }
            State::Suspended => {
                let _scope = ForcedUnwindScope::enter();
                // SAFETY: suspended, and `&mut self` keeps its stack until it returns.
                let back = unsafe { switch_in(self.header.as_ptr(), UNWIND) };
                assert_eq!(back, RETURNED, "an unwinding coroutine suspended instead");
            }
            State::Running | State::Done => {}
        }
    }

    /// The stack back, for reuse; the fiber must be done (or never started).
    pub(crate) fn into_stack(self) -> GreenStack {
        debug_assert!(matches!(self.state(), State::Done | State::New));
        let mut this = ManuallyDrop::new(self);
        // SAFETY: not running; the header is dropped once, here, and the stack is not used
        // again by this fiber, whose `drop` (which would also take the stack) never runs.
        unsafe {
            ptr::drop_in_place(this.header.as_ptr());
            ManuallyDrop::take(&mut this.stack)
        }
    }
}

impl Drop for Fiber {
    fn drop(&mut self) {
        if matches!(self.state(), State::Suspended | State::Running) {
            // Frames on it may still be referenced (a channel entry names a slot there), so
            // the stack is never reused: it is leaked (left in its `ManuallyDrop`), as a
            // coroutine parked forever is.
            return;
        }
        // SAFETY: as in `into_stack` (which forgets the fiber, so this is the only taker).
        unsafe {
            ptr::drop_in_place(self.header.as_ptr());
            drop(ManuallyDrop::take(&mut self.stack));
        }
    }
}

/// Switches into the fiber of `header` with `arg`, this frame being its parent until it comes
/// back; returns what it comes back with.
///
/// # Safety
/// As for `Fiber::resume`.
unsafe fn switch_in(header: Link, arg: usize) -> usize {
    let mut parent_sp = 0usize;
    // SAFETY: as the caller promises; the fiber marks itself suspended or done before it
    // comes back here, and uses `parent` only until then.
    unsafe {
        (*header).state = State::Running;
        (*header).parent = &mut parent_sp;
        switch(&mut parent_sp, (*header).sp, arg)
    }
}

/// The running coroutine's suspend: back to its parent with `why`, until it is resumed.
///
/// # Safety
/// `link` is the running fiber's own (what its start function was given), and the caller runs
/// on it.
#[inline]
pub(crate) unsafe fn suspend(link: Link, why: u8) -> Landing {
    let arg = usize::from(why);
    debug_assert!(arg <= MAX_MESSAGE);
    // SAFETY: the caller runs on this fiber, so it is alive and running; its parent slot was
    // set by the resume that runs it (or passed on by a direct switch) and is alive while that
    // resume waits for it.
    let back = unsafe {
        (*link).state = State::Suspended;
        switch(&mut (*link).sp, *(*link).parent, arg)
    };
    // SAFETY: as above: whoever switched back marked the fiber running.
    unsafe { landed(link, back) }
}

/// The running coroutine switches straight to `to`, a suspended fiber, and returns when it is
/// itself resumed, however that happens. The caller has made `to` the worker's running task.
///
/// # Safety
/// `from` is the running fiber's own link; `to` is started, suspended, owned by the caller's
/// worker (it was dequeued) and stays at its address while it runs.
#[inline]
pub(crate) unsafe fn switch_to(from: Link, to: *mut Fiber) -> Landing {
    // SAFETY: as the caller promises.
    let back = unsafe {
        let to = (*to).header.as_ptr();
        debug_assert_eq!((*to).state, State::Suspended);
        (*from).state = State::Suspended;
        (*to).state = State::Running;
        (*to).parent = (*from).parent;
        switch(&mut (*from).sp, (*to).sp, DIRECT_SWITCH)
    };
    // SAFETY: `from` is ours, running again.
    unsafe { landed(from, back) }
}

/// What a resumed fiber does with the switch's `arg`.
unsafe fn landed(link: Link, back: usize) -> Landing {
    debug_assert_eq!(
        // SAFETY: the fiber runs again on this stack.
        unsafe { (*link).state },
        State::Running
    );
    match back {
        RESUME => Landing::Resumed,
        DIRECT_SWITCH => Landing::Direct,
        UNWIND => panic::resume_unwind(Box::new(ForcedUnwind)),
        other => unreachable!("a fiber was resumed with {other}"),
    }
}

/// The first frame of every fiber (called by `greenchan_fiber_start_v0_1`).
extern "C" fn fiber_main(header: Link) -> ! {
    // SAFETY: the first resume passes the header, at the top of this very stack.
    let (start, data) = unsafe { ((*header).start, (*header).data) };
    // `start` catches the panics of what it runs; anything else escaping here (an unwind of a
    // runtime bug) cannot cross this frame, which has no caller to unwind into.
    // SAFETY: the creator of the fiber vouches for `start` and `data`.
    let ran = panic::catch_unwind(AssertUnwindSafe(|| unsafe { start(data, header) }));
    if ran.is_err() {
        eprintln!("greenchan: a coroutine's entry unwound past its base; aborting");
        std::process::abort();
    }
    // SAFETY: the header is on this stack, alive; its parent slot names the resumer;
    // nothing on this stack is used after the switch.
    unsafe {
        (*header).state = State::Done;
        switch(&mut (*header).sp, *(*header).parent, RETURNED);
    }
    unreachable!("a finished fiber was resumed");
}
