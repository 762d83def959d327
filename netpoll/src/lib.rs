//! # netpoll: sockets that park the coroutine, not the thread
//!
//! `TcpListener`, `TcpStream`, `UdpSocket`, `UnixListener`, `UnixStream` and `UnixDatagram`
//! with the API of `std::net` and `std::os::unix::net`. Inside a coroutine a call that would
//! block parks the coroutine until its socket is ready, and its worker runs other coroutines
//! meanwhile; on a plain OS thread the same call blocks the thread, exactly like a std socket.
//!
//! ```
//! use std::io::{Read, Write};
//! use greenchan::net::{TcpListener, TcpStream};
//!
//! let listener = TcpListener::bind("127.0.0.1:0")?;
//! let addr = listener.local_addr()?;
//! // An echo server in a coroutine, serving each connection in a coroutine of its own.
//! greenchan::spawn(move || {
//!     for conn in listener.incoming() {
//!         let mut conn = conn.unwrap();
//!         greenchan::spawn(move || {
//!             let mut buf = [0; 1024];
//!             while let Ok(n @ 1..) = conn.read(&mut buf) {
//!                 conn.write_all(&buf[..n]).unwrap();
//!             }
//!         });
//!     }
//! });
//! let mut client = TcpStream::connect(addr)?; // a plain thread: blocks
//! client.write_all(b"echo")?;
//! let mut buf = [0; 4];
//! client.read_exact(&mut buf)?;
//! assert_eq!(&buf, b"echo");
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! ## How it works
//!
//! Every socket is non-blocking underneath and, when a coroutine first waits on it,
//! registered with the mio `Poll` of that coroutine's worker, edge-triggered for both
//! directions (`reactor.rs`). An operation tries its
//! syscall; if the kernel says `WouldBlock`, the coroutine records itself as a waiter on the
//! socket's readiness and parks (`sys.rs`). Each socket keeps a readiness word with a sequence
//! number, as tokio's `ScheduledIo`: an event sets bits and bumps the sequence, a failed
//! syscall clears bits only if the sequence has not moved since it read the word, so an event
//! landing between the failed syscall and the park is never lost (`scheduled_io.rs` states the
//! invariant; loom model-checks it). A stream read or write that moves fewer bytes than asked for
//! also clears its direction (the socket's queue is drained, tokio's rule), and an operation
//! whose direction is clear parks before trying its syscall, so a request-response
//! connection spends one `recv` per message instead of two. A socket may have any
//! number of waiters (typically one reader and one writer); readiness wakes all waiters of its
//! direction, and those that lose the race park again.
//!
//! Who polls is the workers themselves, each its own poller, rather than a dedicated poller
//! thread: the reactor installs itself as green's idle driver (`green::driver`, internal), so
//! a worker with nothing to run, instead of sleeping on its condition variable, blocks in
//! `epoll_wait` on its own poller with a timeout equal to its runtime's next timer. New work
//! for that worker breaks the poll through the poller's `mio::Waker`. Since a socket is
//! registered where its coroutine runs, and a started coroutine stays on its thread, an event
//! wakes coroutines of the polling worker, which runs them at once: no cross-thread wake-up
//! per event (a socket waited on from several workers at once is the exception: it stays
//! with the first, and the others' wake-ups cross threads). Busy workers also poll their own
//! poller without blocking when their local queue runs dry and every few dozen scheduling
//! ticks, so I/O is not starved when no worker is ever idle; the pollers of workers stuck in
//! one coroutine are polled by the monitor. An idle runtime with sockets therefore sleeps in
//! the kernel and uses no CPU. Worker `i` of every runtime shares poller `i`: an event for
//! another runtime's coroutine queues it on that runtime (a cross-thread wake-up), when a
//! polling worker's runtime shuts down another runtime's worker `i` takes the poll over, and
//! when no worker `i` is left the poller's sockets move to one that has a worker.
//!
//! On a plain thread, an operation that would block waits in `poll(2)` on the descriptor
//! instead, honouring the socket's timeout: no runtime is involved.
//!
//! ## Differences from std
//!
//! - `try_clone` returns a handle sharing the same descriptor instead of a `dup`; the mode
//!   (`set_nonblocking`) and timeouts are shared by clones, as they are in std, and the
//!   descriptor closes when the last handle is dropped.
//! - Timeouts and non-blocking mode are kept by this crate, not in the kernel; timed-out reads
//!   and writes fail with `WouldBlock` (`EAGAIN`), as std's do on Linux, and `connect_timeout`
//!   with `TimedOut`.
//! - Addresses are taken through this crate's [`ToSocketAddrs`], implemented for the types std's
//!   is: a host name is resolved on greenchan's blocking pool from a coroutine, so DNS never
//!   holds a worker. The trait is sealed (an arbitrary implementation of std's trait could not
//!   be handed to another thread), as tokio's is.

/// The trait impls every socket type shares, all through its `inner: Arc<Socket<$std>>`:
/// adopting a std socket (made non-blocking underneath and registered with the poller) and
/// lending its descriptor.
macro_rules! socket_impls {
    ($ty:ident, $std:ty) => {
        impl TryFrom<$std> for $ty {
            type Error = std::io::Error;

            /// Adopts a std socket: it is made non-blocking underneath and registered.
            fn try_from(s: $std) -> std::io::Result<$ty> {
                Ok($ty {
                    inner: std::sync::Arc::new($crate::sys::Socket::new(s, |s| {
                        s.set_nonblocking(true)
                    })?),
                })
            }
        }

        impl std::os::fd::AsRawFd for $ty {
            fn as_raw_fd(&self) -> std::os::fd::RawFd {
                self.inner.fd()
            }
        }

        impl std::os::fd::AsFd for $ty {
            fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
                std::os::fd::AsFd::as_fd(self.inner.get())
            }
        }
    };
}

/// `Read` and `Write` for a stream type and for `&` it, as std's streams have: the data calls
/// go through the shared retry loop (`Socket::io`); `flush` has nothing to do.
macro_rules! stream_io_impls {
    ($ty:ident) => {
        impl std::io::Read for &$ty {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let len = buf.len();
                self.inner.io_stream($crate::sys::Dir::Read, len, |mut s| {
                    std::io::Read::read(&mut s, buf)
                })
            }

            fn read_vectored(
                &mut self,
                bufs: &mut [std::io::IoSliceMut<'_>],
            ) -> std::io::Result<usize> {
                self.inner.io($crate::sys::Dir::Read, |mut s| {
                    std::io::Read::read_vectored(&mut s, bufs)
                })
            }
        }

        impl std::io::Write for &$ty {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.inner
                    .io_stream($crate::sys::Dir::Write, buf.len(), |mut s| {
                        std::io::Write::write(&mut s, buf)
                    })
            }

            fn write_vectored(&mut self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
                self.inner.io($crate::sys::Dir::Write, |mut s| {
                    std::io::Write::write_vectored(&mut s, bufs)
                })
            }

            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }

        impl std::io::Read for $ty {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                std::io::Read::read(&mut &*self, buf)
            }

            fn read_vectored(
                &mut self,
                bufs: &mut [std::io::IoSliceMut<'_>],
            ) -> std::io::Result<usize> {
                std::io::Read::read_vectored(&mut &*self, bufs)
            }
        }

        impl std::io::Write for $ty {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                std::io::Write::write(&mut &*self, buf)
            }

            fn write_vectored(&mut self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
                std::io::Write::write_vectored(&mut &*self, bufs)
            }

            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
    };
}

mod addr;
mod reactor;
mod scheduled_io;
mod sys;
mod tcp;
mod udp;
mod unix;

pub use addr::ToSocketAddrs;
pub use tcp::{Incoming, TcpListener, TcpStream};
pub use udp::UdpSocket;
pub use unix::{UnixDatagram, UnixIncoming, UnixListener, UnixStream};
