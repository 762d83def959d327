//! The blocking discipline shared by every socket type: one non-blocking descriptor, and a
//! retry loop that waits for readiness the right way for the caller's context.
//!
//! The descriptor is always `O_NONBLOCK` at the OS level. An operation tries its syscall; on
//! `WouldBlock` it returns that error if the user asked for non-blocking mode, and otherwise
//! waits and retries: inside a coroutine by parking on the socket's readiness (the reactor
//! wakes it), on a plain thread by `poll(2)` on the descriptor, in both cases honouring the
//! read or write timeout. The user-visible mode and timeouts live here rather than in the
//! kernel, shared by all clones of a socket as `O_NONBLOCK` and `SO_RCVTIMEO` are in std.
//!
//! It also owns the listen backlog the listeners use: std listens with 128, which a burst of
//! connects overflows (the kernel then drops handshakes, and clients see resets or long
//! stalls), so listeners are re-listened with the system's `somaxconn`, as Go does.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::reactor::Registration;
use crate::scheduled_io::{READ, WRITE};

/// Which way an operation moves data, hence which readiness it waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dir {
    Read,
    Write,
}

fn interest(dir: Dir) -> u64 {
    match dir {
        Dir::Read => READ,
        Dir::Write => WRITE,
    }
}

/// A timeout slot: nanoseconds, 0 for none (a zero timeout is refused before it gets here).
#[derive(Default)]
struct TimeoutCell(AtomicU64);

impl TimeoutCell {
    fn get(&self) -> Option<Duration> {
        match self.0.load(Ordering::Relaxed) {
            0 => None,
            n => Some(Duration::from_nanos(n)),
        }
    }

    fn set(&self, t: Option<Duration>) -> io::Result<()> {
        let nanos = match t {
            None => 0,
            Some(d) if d.is_zero() => return Err(zero_timeout()),
            Some(d) => u64::try_from(d.as_nanos()).unwrap_or(u64::MAX),
        };
        self.0.store(nanos, Ordering::Relaxed);
        Ok(())
    }
}

/// The error std gives for a zero timeout.
pub(crate) fn zero_timeout() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "cannot set a 0 duration timeout",
    )
}

/// A socket of std type `S`, non-blocking underneath, registered with the reactor.
pub(crate) struct Socket<S: AsRawFd> {
    // Field order matters: the registration is dropped (deregistered) before `sock` closes
    // the descriptor.
    reg: Registration,
    sock: S,
    nonblocking: AtomicBool,
    read_timeout: TimeoutCell,
    write_timeout: TimeoutCell,
}

impl<S: AsRawFd> Socket<S> {
    /// Takes a std socket, makes it non-blocking underneath and registers it.
    pub(crate) fn new(
        sock: S,
        set_nonblocking: impl FnOnce(&S) -> io::Result<()>,
    ) -> io::Result<Self> {
        set_nonblocking(&sock)?;
        let reg = Registration::new(sock.as_raw_fd())?;
        Ok(Socket {
            reg,
            sock,
            nonblocking: AtomicBool::new(false),
            read_timeout: TimeoutCell::default(),
            write_timeout: TimeoutCell::default(),
        })
    }

    pub(crate) fn get(&self) -> &S {
        &self.sock
    }

    pub(crate) fn fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }

    pub(crate) fn set_nonblocking(&self, on: bool) {
        self.nonblocking.store(on, Ordering::Relaxed);
    }

    pub(crate) fn read_timeout(&self) -> Option<Duration> {
        self.read_timeout.get()
    }

    pub(crate) fn write_timeout(&self) -> Option<Duration> {
        self.write_timeout.get()
    }

    pub(crate) fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        self.read_timeout.set(t)
    }

    pub(crate) fn set_write_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        self.write_timeout.set(t)
    }

    /// Runs `op` until it does not block, waiting for `dir` readiness in between, within the
    /// socket's timeout for that direction. A timeout gives `EAGAIN` (`WouldBlock`), as a
    /// std socket's `SO_RCVTIMEO`/`SO_SNDTIMEO` does on Linux.
    pub(crate) fn io<R>(&self, dir: Dir, op: impl FnMut(&S) -> io::Result<R>) -> io::Result<R> {
        self.io_drained(dir, op, |_| false)
    }

    /// A stream's `read` or `write` of `len` bytes: as [`io`](Self::io), and a transfer
    /// shorter than asked for (but not empty) forgets `dir`'s readiness, as a `WouldBlock`
    /// would. On a stream socket a short read means the receive queue was emptied and a short
    /// write that the send buffer filled (tokio's rule for epoll and kqueue), so the next
    /// operation parks at once instead of spending a syscall to hear `WouldBlock`. If data
    /// arrived after all, its event came after the snapshot taken before the syscall, and
    /// the clear (guarded by that snapshot) does nothing.
    pub(crate) fn io_stream(
        &self,
        dir: Dir,
        len: usize,
        op: impl FnMut(&S) -> io::Result<usize>,
    ) -> io::Result<usize> {
        self.io_drained(dir, op, |&n| n > 0 && n < len)
    }

    fn io_drained<R>(
        &self,
        dir: Dir,
        op: impl FnMut(&S) -> io::Result<R>,
        drained: impl Fn(&R) -> bool,
    ) -> io::Result<R> {
        let timeout = match dir {
            Dir::Read => self.read_timeout.get(),
            Dir::Write => self.write_timeout.get(),
        };
        self.io_within(dir, timeout, op, drained)
            .map_err(|e| e.unwrap_or_else(|| io::Error::from_raw_os_error(libc::EAGAIN)))
    }

    /// Accept-like operations: no timeout, as std's listeners have none.
    pub(crate) fn io_untimed<R>(
        &self,
        dir: Dir,
        op: impl FnMut(&S) -> io::Result<R>,
    ) -> io::Result<R> {
        // Without a timeout the loop never times out; map that case anyway rather than panic.
        self.io_within(dir, None, op, |_| false)
            .map_err(|e| e.unwrap_or_else(|| io::ErrorKind::TimedOut.into()))
    }

    /// The retry loop; `Err(None)` means `timeout` ran out.
    ///
    /// In a coroutine, in blocking mode, a direction whose readiness is known to be gone (a
    /// `WouldBlock` or a `drained` result cleared it, and no event has come since) is waited
    /// for before the syscall rather than after it: the syscall could only say `WouldBlock`.
    /// A socket starts ready both ways, so its first operation always tries the syscall.
    fn io_within<R>(
        &self,
        dir: Dir,
        timeout: Option<Duration>,
        mut op: impl FnMut(&S) -> io::Result<R>,
        drained: impl Fn(&R) -> bool,
    ) -> Result<R, Option<io::Error>> {
        // Every runtime call is a preemption point (DESIGN §3): a coroutine whose slice is over
        // yields first, so one whose socket always has data cannot keep its worker's other
        // coroutines waiting. (Nothing is held here yet; a syscall costs far more.)
        green::preempt_point();
        let io = self.reg.io();
        let mut cached: Option<Option<Instant>> = None;
        let mut deadline =
            || *cached.get_or_insert_with(|| timeout.and_then(|t| Instant::now().checked_add(t)));
        loop {
            let snapshot = io.snapshot();
            if snapshot & interest(dir) == 0
                && !self.nonblocking.load(Ordering::Relaxed)
                && green::in_coroutine()
            {
                if !self.park(dir, deadline()).map_err(Some)? {
                    return Err(None);
                }
                continue;
            }
            match op(&self.sock) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if self.nonblocking.load(Ordering::Relaxed) {
                        return Err(Some(e));
                    }
                    let ready = if green::in_coroutine() {
                        io.clear(interest(dir), snapshot);
                        self.park(dir, deadline()).map_err(Some)?
                    } else {
                        wait_fd(self.fd(), dir, deadline()).map_err(Some)?
                    };
                    if !ready {
                        return Err(None);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Some(e)),
                Ok(r) => {
                    if drained(&r) {
                        io.clear_drained(interest(dir), snapshot);
                    }
                    return Ok(r);
                }
            }
        }
    }

    /// Parks the running coroutine until `dir` is ready or `deadline` passes (false), the
    /// socket registered first with a poller that is polled (the worker's own, see
    /// `Registration::prepare`).
    fn park(&self, dir: Dir, deadline: Option<Instant>) -> io::Result<bool> {
        self.reg.prepare()?;
        Ok(self.reg.io().wait(interest(dir), deadline))
    }

    /// The readiness word, for `clear`.
    pub(crate) fn snapshot(&self) -> u64 {
        self.reg.io().snapshot()
    }

    /// Forgets `dir` readiness unless an event came after `snapshot`.
    pub(crate) fn clear(&self, dir: Dir, snapshot: u64) {
        self.reg.io().clear(interest(dir), snapshot);
    }

    /// Waits until `dir` is ready (or the socket has an error) within `deadline`, whatever
    /// the non-blocking mode; false on timeout. Used by `connect`.
    pub(crate) fn wait(&self, dir: Dir, deadline: Option<Instant>) -> io::Result<bool> {
        if green::in_coroutine() {
            self.park(dir, deadline)
        } else {
            wait_fd(self.fd(), dir, deadline)
        }
    }
}

/// Blocks the thread in `poll(2)` until `fd` is ready for `dir` (or in error or hung up), or
/// `deadline` passes (false).
pub(crate) fn wait_fd(fd: RawFd, dir: Dir, deadline: Option<Instant>) -> io::Result<bool> {
    let events = match dir {
        Dir::Read => libc::POLLIN,
        Dir::Write => libc::POLLOUT,
    };
    loop {
        let timeout_ms: libc::c_int = match deadline {
            None => -1,
            Some(d) => {
                let now = Instant::now();
                if now >= d {
                    return Ok(false);
                }
                // Round up, so we never wake before the deadline and spin.
                let ms = (d - now).as_nanos().div_ceil(1_000_000);
                ms.min(libc::c_int::MAX as u128) as libc::c_int
            }
        };
        let mut pfd = libc::pollfd {
            fd,
            events,
            revents: 0,
        };
        // SAFETY: one valid pollfd, and the count says one.
        let r = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if r > 0 {
            return Ok(true);
        }
    }
}

/// The backlog used where `/proc/sys/net/core/somaxconn` cannot be read (other systems, or a
/// sandbox without `/proc`): Linux's default `somaxconn` since 5.4. Every Unix kernel caps a
/// larger backlog at its own maximum, so this asks for "as many as allowed, up to 4096".
pub(crate) const FALLBACK_BACKLOG: u32 = 4096;

/// The backlog `bind` listens with: the system's `somaxconn`, read once per process, as Go's
/// `maxListenerBacklog` does; [`FALLBACK_BACKLOG`] when it cannot be read or is not a positive
/// number.
pub(crate) fn default_backlog() -> u32 {
    static BACKLOG: OnceLock<u32> = OnceLock::new();
    *BACKLOG.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/net/core/somaxconn")
            .ok()
            .and_then(|s| s.trim().parse::<u32>().ok())
            .filter(|&n| n > 0)
            .unwrap_or(FALLBACK_BACKLOG)
    })
}

/// Sets the backlog of a socket std's `bind` left listening with 128: `listen(2)` again on a
/// listening socket changes only its queue limit (Linux, the BSDs and macOS), which the
/// kernel caps at its `somaxconn`. Backlogs beyond `c_int` are clamped, as they would be
/// capped anyway.
pub(crate) fn listen(sock: &impl AsRawFd, backlog: u32) -> io::Result<()> {
    let backlog = libc::c_int::try_from(backlog).unwrap_or(libc::c_int::MAX);
    // SAFETY: listen(2) on a descriptor the caller's socket owns; it touches no memory of
    // ours, and the socket stays valid (borrowed) for the call.
    if unsafe { libc::listen(sock.as_raw_fd(), backlog) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
