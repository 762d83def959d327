/* C functions with large stack frames, for greenchan's stack-guard tests.
 *
 * Compiled without stack probes (C's default on most toolchains), a function lowers the stack
 * pointer by its whole frame in one instruction and touches the frame wherever its code says:
 * here its lowest byte first. On a coroutine stack with less room left than the frame, that
 * first write lands below the end of the stack, past a one-page guard, in whatever lies below. */

#include <stddef.h>

#define BIG_FRAME (96 * 1024)

/* Writes the lowest byte of a 96 KiB frame, then its highest, and returns their sum. */
int greenchan_ctest_big_frame(int seed)
{
    volatile unsigned char buf[BIG_FRAME];
    buf[0] = (unsigned char)seed;
    buf[BIG_FRAME - 1] = (unsigned char)(seed + 1);
    return buf[0] + buf[BIG_FRAME - 1];
}

/* Bytes of the frame above, for the Rust side's arithmetic. */
size_t greenchan_ctest_big_frame_bytes(void)
{
    return BIG_FRAME;
}
