//! TCP: `TcpListener` and `TcpStream`, std's API over the netpoller.
//!
//! `connect` is a non-blocking `connect(2)` (through mio) followed by a wait for writability,
//! so a coroutine connecting parks instead of blocking its worker; `accept` and the data
//! calls go through the shared retry loop of `sys.rs`.

use std::fmt;
use std::io;
use std::net::{self, Shutdown, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::addr::ToSocketAddrs;
use crate::sys::{self, zero_timeout, Dir, Socket};

/// Calls `f` on each address `addr` resolves to until one succeeds, as std does; a host name is
/// resolved without holding the worker (`addr.rs`).
pub(crate) fn each_addr<A: ToSocketAddrs, T>(
    addr: A,
    mut f: impl FnMut(&SocketAddr) -> io::Result<T>,
) -> io::Result<T> {
    let mut last = None;
    for a in addr.resolve()? {
        match f(&a) {
            Ok(t) => return Ok(t),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "could not resolve to any addresses",
        )
    }))
}

/// A TCP socket server, listening for connections: [`std::net::TcpListener`] whose `accept`
/// parks the calling coroutine (or blocks the calling thread) until a connection arrives.
///
/// ```
/// use std::io::{Read, Write};
/// use greenchan::net::{TcpListener, TcpStream};
///
/// let listener = TcpListener::bind("127.0.0.1:0")?;
/// let addr = listener.local_addr()?;
/// let server = greenchan::spawn(move || -> std::io::Result<()> {
///     let (mut s, _) = listener.accept()?;
///     let mut buf = [0; 5];
///     s.read_exact(&mut buf)?;
///     s.write_all(&buf)
/// });
/// let mut c = TcpStream::connect(addr)?;
/// c.write_all(b"hello")?;
/// let mut back = [0; 5];
/// c.read_exact(&mut back)?;
/// assert_eq!(&back, b"hello");
/// server.join().unwrap()?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct TcpListener {
    inner: Arc<Socket<net::TcpListener>>,
}

impl TcpListener {
    /// Creates a listener bound to `addr` (the first of its addresses that binds), as
    /// [`std::net::TcpListener::bind`], but listening with the system's maximum backlog
    /// (`/proc/sys/net/core/somaxconn`, read once per process; 4096 where it cannot be read),
    /// as Go does, rather than std's 128: connections that arrive faster than they are
    /// accepted wait in the kernel instead of being dropped. See
    /// [`bind_with_backlog`](Self::bind_with_backlog) to choose it.
    ///
    /// ```
    /// let l = greenchan::net::TcpListener::bind("127.0.0.1:0")?;
    /// assert_ne!(l.local_addr()?.port(), 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<TcpListener> {
        TcpListener::bind_with_backlog(addr, sys::default_backlog())
    }

    /// Creates a listener bound to `addr`, as [`bind`](Self::bind), whose queue of
    /// connections not yet accepted holds about `backlog` (the `backlog` of `listen(2)`, as
    /// socket2's `Socket::listen` and tokio's `TcpSocket::listen` take it). The kernel caps it
    /// at its `somaxconn`; on Linux a full queue makes new handshakes wait (the client's
    /// `connect` retries for seconds) or fail.
    ///
    /// ```
    /// let l = greenchan::net::TcpListener::bind_with_backlog("127.0.0.1:0", 16)?;
    /// let c = greenchan::net::TcpStream::connect(l.local_addr()?)?;
    /// let (_s, peer) = l.accept()?;
    /// assert_eq!(peer, c.local_addr()?);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn bind_with_backlog<A: ToSocketAddrs>(addr: A, backlog: u32) -> io::Result<TcpListener> {
        let l = each_addr(addr, |a| {
            let l = net::TcpListener::bind(a)?;
            sys::listen(&l, backlog)?;
            Ok(l)
        })?;
        TcpListener::try_from(l)
    }

    /// Accepts a connection, parking the coroutine (or blocking the thread) until one comes.
    /// Errors of `accept(2)`, such as `EMFILE` when the process is out of descriptors, are
    /// returned, the pending connection staying queued for a later call.
    ///
    /// ```
    /// let l = greenchan::net::TcpListener::bind("127.0.0.1:0")?;
    /// let c = greenchan::net::TcpStream::connect(l.local_addr()?)?;
    /// let (s, peer) = l.accept()?;
    /// assert_eq!(peer, c.local_addr()?);
    /// assert_eq!(s.peer_addr()?, c.local_addr()?);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (s, addr) = self.inner.io_untimed(Dir::Read, |l| l.accept())?;
        Ok((TcpStream::try_from(s)?, addr))
    }

    /// An iterator over incoming connections, each `accept` in turn; it never ends.
    ///
    /// ```
    /// let l = greenchan::net::TcpListener::bind("127.0.0.1:0")?;
    /// let _c = greenchan::net::TcpStream::connect(l.local_addr()?)?;
    /// let first = l.incoming().next().unwrap()?;
    /// assert!(first.peer_addr().is_ok());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { listener: self }
    }

    /// The address this listener is bound to.
    ///
    /// ```
    /// let l = greenchan::net::TcpListener::bind("127.0.0.1:0")?;
    /// assert!(l.local_addr()?.ip().is_loopback());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get().local_addr()
    }

    /// Another handle to the same listener. Unlike std, which `dup`s the descriptor, handles
    /// share one descriptor (and its mode), closed when the last handle is dropped.
    ///
    /// ```
    /// let l = greenchan::net::TcpListener::bind("127.0.0.1:0")?;
    /// let l2 = l.try_clone()?;
    /// assert_eq!(l.local_addr()?, l2.local_addr()?);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn try_clone(&self) -> io::Result<TcpListener> {
        Ok(TcpListener {
            inner: self.inner.clone(),
        })
    }

    /// In non-blocking mode `accept` returns `WouldBlock` instead of waiting.
    ///
    /// ```
    /// let l = greenchan::net::TcpListener::bind("127.0.0.1:0")?;
    /// l.set_nonblocking(true)?;
    /// assert_eq!(l.accept().unwrap_err().kind(), std::io::ErrorKind::WouldBlock);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.inner.set_nonblocking(nonblocking);
        Ok(())
    }

    /// Sets `IP_TTL`.
    ///
    /// ```
    /// let l = greenchan::net::TcpListener::bind("127.0.0.1:0")?;
    /// l.set_ttl(42)?;
    /// assert_eq!(l.ttl()?, 42);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.inner.get().set_ttl(ttl)
    }

    /// Gets `IP_TTL`; see [`TcpListener::set_ttl`].
    ///
    /// ```
    /// let l = greenchan::net::TcpListener::bind("127.0.0.1:0")?;
    /// assert!(l.ttl()? > 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn ttl(&self) -> io::Result<u32> {
        self.inner.get().ttl()
    }

    /// Takes the pending `SO_ERROR`, if any.
    ///
    /// ```
    /// let l = greenchan::net::TcpListener::bind("127.0.0.1:0")?;
    /// assert!(l.take_error()?.is_none());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.inner.get().take_error()
    }
}

socket_impls!(TcpListener, net::TcpListener);

impl fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpListener")
            .field("addr", &self.local_addr().ok())
            .field("fd", &self.inner.fd())
            .finish()
    }
}

/// The iterator of [`TcpListener::incoming`].
///
/// ```
/// let l = greenchan::net::TcpListener::bind("127.0.0.1:0")?;
/// let mut incoming: greenchan::net::Incoming<'_> = l.incoming();
/// let _c = greenchan::net::TcpStream::connect(l.local_addr()?)?;
/// assert!(incoming.next().unwrap().is_ok());
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct Incoming<'a> {
    listener: &'a TcpListener,
}

impl Iterator for Incoming<'_> {
    type Item = io::Result<TcpStream>;

    fn next(&mut self) -> Option<io::Result<TcpStream>> {
        Some(self.listener.accept().map(|(s, _)| s))
    }
}

/// A TCP connection: [`std::net::TcpStream`] whose blocking calls park the calling coroutine
/// (or block the calling thread). `Read` and `Write` are implemented for the value and for
/// `&TcpStream`, so one coroutine can read while another writes.
///
/// ```
/// use std::io::{Read, Write};
/// let l = greenchan::net::TcpListener::bind("127.0.0.1:0")?;
/// let mut c = greenchan::net::TcpStream::connect(l.local_addr()?)?;
/// let (mut s, _) = l.accept()?;
/// c.write_all(b"ping")?;
/// let mut buf = [0; 4];
/// s.read_exact(&mut buf)?;
/// assert_eq!(&buf, b"ping");
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct TcpStream {
    inner: Arc<Socket<net::TcpStream>>,
}

impl TcpStream {
    /// Opens a connection to `addr` (the first of its addresses that accepts), as
    /// [`std::net::TcpStream::connect`]; a coroutine parks while the handshake runs.
    ///
    /// ```
    /// let l = greenchan::net::TcpListener::bind("127.0.0.1:0")?;
    /// let addr = l.local_addr()?;
    /// let c = greenchan::spawn(move || greenchan::net::TcpStream::connect(addr))
    ///     .join()
    ///     .unwrap()?;
    /// assert_eq!(c.peer_addr()?, addr);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn connect<A: ToSocketAddrs>(addr: A) -> io::Result<TcpStream> {
        each_addr(addr, |a| TcpStream::connect_within(a, None))
    }

    /// Opens a connection to `addr`, giving up with `TimedOut` after `timeout`; a zero
    /// timeout is refused with `InvalidInput`, as std does.
    ///
    /// ```
    /// use std::time::Duration;
    /// use greenchan::net::{TcpListener, TcpStream};
    /// let l = TcpListener::bind("127.0.0.1:0")?;
    /// let c = TcpStream::connect_timeout(&l.local_addr()?, Duration::from_secs(10))?;
    /// assert!(c.peer_addr().is_ok());
    /// let zero = TcpStream::connect_timeout(&l.local_addr()?, Duration::ZERO);
    /// assert_eq!(zero.unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn connect_timeout(addr: &SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
        if timeout.is_zero() {
            return Err(zero_timeout());
        }
        TcpStream::connect_within(addr, Some(timeout))
    }

    fn connect_within(addr: &SocketAddr, timeout: Option<Duration>) -> io::Result<TcpStream> {
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let s: net::TcpStream = mio::net::TcpStream::connect(*addr)?.into();
        let inner = Socket::new(s, |_| Ok(()))?; // mio made it non-blocking
        loop {
            if !inner.wait(Dir::Write, deadline)? {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "connection timed out",
                ));
            }
            // Taken before the checks below, as a read takes it before its syscall: a stale
            // readiness is then cleared, unless a newer event came meanwhile (taken before the
            // wait, the clear would always fail and the loop would spin until connected).
            let snapshot = inner.snapshot();
            if let Some(e) = inner.get().take_error()? {
                return Err(e);
            }
            match inner.get().peer_addr() {
                Ok(_) => break,
                // Not connected yet and no error: the readiness was stale; wait again.
                Err(e) if e.kind() == io::ErrorKind::NotConnected => {
                    inner.clear(Dir::Write, snapshot)
                }
                Err(e) => return Err(e),
            }
        }
        Ok(TcpStream {
            inner: Arc::new(inner),
        })
    }

    /// The address of the remote end.
    ///
    /// ```
    /// let l = greenchan::net::TcpListener::bind("127.0.0.1:0")?;
    /// let c = greenchan::net::TcpStream::connect(l.local_addr()?)?;
    /// assert_eq!(c.peer_addr()?, l.local_addr()?);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get().peer_addr()
    }

    /// The address of the local end.
    ///
    /// ```
    /// let l = greenchan::net::TcpListener::bind("127.0.0.1:0")?;
    /// let c = greenchan::net::TcpStream::connect(l.local_addr()?)?;
    /// let (s, _) = l.accept()?;
    /// assert_eq!(c.local_addr()?, s.peer_addr()?);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get().local_addr()
    }

    /// Shuts down the read half, the write half or both; after `Shutdown::Write` the peer
    /// reads end-of-file.
    ///
    /// ```
    /// use std::io::Read;
    /// use std::net::Shutdown;
    /// let l = greenchan::net::TcpListener::bind("127.0.0.1:0")?;
    /// let c = greenchan::net::TcpStream::connect(l.local_addr()?)?;
    /// let (mut s, _) = l.accept()?;
    /// c.shutdown(Shutdown::Write)?;
    /// assert_eq!(s.read(&mut [0; 8])?, 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.inner.get().shutdown(how)
    }

    /// Another handle to the same connection, sharing its descriptor, mode and timeouts (std
    /// shares the last two between clones too; it `dup`s the descriptor, this does not).
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// let l = greenchan::net::TcpListener::bind("127.0.0.1:0")?;
    /// let c = greenchan::net::TcpStream::connect(l.local_addr()?)?;
    /// let (mut s, _) = l.accept()?;
    /// let mut writer = c.try_clone()?;
    /// writer.write_all(b"x")?;
    /// assert_eq!(s.read(&mut [0; 1])?, 1);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn try_clone(&self) -> io::Result<TcpStream> {
        Ok(TcpStream {
            inner: self.inner.clone(),
        })
    }

    /// Reads without consuming, waiting like `read` does.
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// let l = greenchan::net::TcpListener::bind("127.0.0.1:0")?;
    /// let mut c = greenchan::net::TcpStream::connect(l.local_addr()?)?;
    /// let (mut s, _) = l.accept()?;
    /// c.write_all(b"abc")?;
    /// let mut buf = [0; 3];
    /// let n = s.peek(&mut buf)?;
    /// assert_eq!(&buf[..n], &b"abc"[..n]);
    /// s.read_exact(&mut buf)?;
    /// assert_eq!(&buf, b"abc");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.io(Dir::Read, |s| s.peek(buf))
    }

    /// Sets the read timeout (`None`: wait forever). A read that times out fails with
    /// `WouldBlock`, as std's does on Linux; a zero timeout is refused with `InvalidInput`.
    ///
    /// ```
    /// use std::io::{ErrorKind, Read};
    /// use std::time::Duration;
    /// let l = greenchan::net::TcpListener::bind("127.0.0.1:0")?;
    /// let mut c = greenchan::net::TcpStream::connect(l.local_addr()?)?;
    /// c.set_read_timeout(Some(Duration::from_millis(10)))?;
    /// assert_eq!(c.read_timeout()?, Some(Duration::from_millis(10)));
    /// assert_eq!(c.read(&mut [0; 1]).unwrap_err().kind(), ErrorKind::WouldBlock);
    /// assert_eq!(c.set_read_timeout(Some(Duration::ZERO)).unwrap_err().kind(), ErrorKind::InvalidInput);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_read_timeout(&self, dur: Option<Duration>) -> io::Result<()> {
        self.inner.set_read_timeout(dur)
    }

    /// Sets the write timeout; see [`TcpStream::set_read_timeout`].
    ///
    /// ```
    /// use std::time::Duration;
    /// let l = greenchan::net::TcpListener::bind("127.0.0.1:0")?;
    /// let c = greenchan::net::TcpStream::connect(l.local_addr()?)?;
    /// c.set_write_timeout(Some(Duration::from_secs(1)))?;
    /// assert_eq!(c.write_timeout()?, Some(Duration::from_secs(1)));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_write_timeout(&self, dur: Option<Duration>) -> io::Result<()> {
        self.inner.set_write_timeout(dur)
    }

    /// The read timeout.
    ///
    /// ```
    /// let l = greenchan::net::TcpListener::bind("127.0.0.1:0")?;
    /// let c = greenchan::net::TcpStream::connect(l.local_addr()?)?;
    /// assert_eq!(c.read_timeout()?, None);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.inner.read_timeout())
    }

    /// The write timeout.
    ///
    /// ```
    /// let l = greenchan::net::TcpListener::bind("127.0.0.1:0")?;
    /// let c = greenchan::net::TcpStream::connect(l.local_addr()?)?;
    /// assert_eq!(c.write_timeout()?, None);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn write_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.inner.write_timeout())
    }

    /// Sets `TCP_NODELAY`.
    ///
    /// ```
    /// let l = greenchan::net::TcpListener::bind("127.0.0.1:0")?;
    /// let c = greenchan::net::TcpStream::connect(l.local_addr()?)?;
    /// c.set_nodelay(true)?;
    /// assert!(c.nodelay()?);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.inner.get().set_nodelay(nodelay)
    }

    /// Gets `TCP_NODELAY`.
    ///
    /// ```
    /// let l = greenchan::net::TcpListener::bind("127.0.0.1:0")?;
    /// let c = greenchan::net::TcpStream::connect(l.local_addr()?)?;
    /// assert!(!c.nodelay()?);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn nodelay(&self) -> io::Result<bool> {
        self.inner.get().nodelay()
    }

    /// Sets `IP_TTL`.
    ///
    /// ```
    /// let l = greenchan::net::TcpListener::bind("127.0.0.1:0")?;
    /// let c = greenchan::net::TcpStream::connect(l.local_addr()?)?;
    /// c.set_ttl(7)?;
    /// assert_eq!(c.ttl()?, 7);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.inner.get().set_ttl(ttl)
    }

    /// Gets `IP_TTL`.
    ///
    /// ```
    /// let l = greenchan::net::TcpListener::bind("127.0.0.1:0")?;
    /// let c = greenchan::net::TcpStream::connect(l.local_addr()?)?;
    /// assert!(c.ttl()? > 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn ttl(&self) -> io::Result<u32> {
        self.inner.get().ttl()
    }

    /// Takes the pending `SO_ERROR`, if any.
    ///
    /// ```
    /// let l = greenchan::net::TcpListener::bind("127.0.0.1:0")?;
    /// let c = greenchan::net::TcpStream::connect(l.local_addr()?)?;
    /// assert!(c.take_error()?.is_none());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.inner.get().take_error()
    }

    /// In non-blocking mode reads and writes return `WouldBlock` instead of waiting.
    ///
    /// ```
    /// use std::io::Read;
    /// let l = greenchan::net::TcpListener::bind("127.0.0.1:0")?;
    /// let mut c = greenchan::net::TcpStream::connect(l.local_addr()?)?;
    /// c.set_nonblocking(true)?;
    /// assert_eq!(c.read(&mut [0; 1]).unwrap_err().kind(), std::io::ErrorKind::WouldBlock);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.inner.set_nonblocking(nonblocking);
        Ok(())
    }
}

socket_impls!(TcpStream, net::TcpStream);
stream_io_impls!(TcpStream);

impl fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpStream")
            .field("addr", &self.local_addr().ok())
            .field("peer", &self.peer_addr().ok())
            .field("fd", &self.inner.fd())
            .finish()
    }
}
