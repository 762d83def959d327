//! Tests of greenchan coroutines calling C code: the C half lives in `c/frames.c`, built by the
//! system's C compiler with its defaults (`build.rs`); the tests are in `tests/`.
//!
//! Rust code cannot jump over a stack guard (rustc emits stack probes for large frames); C
//! code compiled without probes can, so the guard below each coroutine stack must be longer
//! than a C frame of ordinary size. This crate owns the C functions that show it and safe
//! wrappers around them. It is a workspace member of its own so that the runtime itself
//! needs no C compiler.

use std::ffi::c_int;

extern "C" {
    fn greenchan_ctest_big_frame(seed: c_int) -> c_int;
    fn greenchan_ctest_big_frame_bytes() -> usize;
}

/// Calls a C function whose 96 KiB frame is written at its lowest byte first, then at its
/// highest; returns `2 * seed + 1` (modulo 256 for each byte). On a stack with less than
/// [`big_frame_bytes`] left, the first write lands that far below the stack pointer: in the
/// stack's guard, or past it.
pub fn big_frame(seed: u8) -> i32 {
    // SAFETY: the C function takes an int and returns one; it touches nothing but its own
    // frame, keeps no state and is thread-safe. Running out of stack in it is what the tests
    // provoke; the guard below a coroutine stack turns that into a report and an abort.
    unsafe { greenchan_ctest_big_frame(c_int::from(seed)) }
}

/// The size of [`big_frame`]'s buffer in bytes (96 KiB).
pub fn big_frame_bytes() -> usize {
    // SAFETY: returns a constant; no preconditions.
    unsafe { greenchan_ctest_big_frame_bytes() }
}
