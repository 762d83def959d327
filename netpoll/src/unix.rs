//! Unix domain sockets: `UnixListener`, `UnixStream` and `UnixDatagram`, the API of
//! `std::os::unix::net` over the netpoller.
//!
//! Connecting a Unix stream socket does not wait for a handshake on Linux; it only fails with
//! `EAGAIN` when the listener's backlog is full. A coroutine then retries every millisecond
//! (sleeping, not blocking its worker); a thread makes std's blocking `connect` call.

use std::fmt;
use std::io;
use std::net::Shutdown;
use std::os::unix::net::{self, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::sys::{self, Dir, Socket};

/// A Unix stream socket server: [`std::os::unix::net::UnixListener`] whose `accept` parks the
/// calling coroutine (or blocks the calling thread).
///
/// ```
/// use std::io::{Read, Write};
/// let path = std::env::temp_dir().join(format!("netpoll-doc-{}.sock", std::process::id()));
/// let _ = std::fs::remove_file(&path);
/// let listener = greenchan::net::UnixListener::bind(&path)?;
/// let server = greenchan::spawn(move || {
///     let (mut s, _) = listener.accept().unwrap();
///     s.write_all(b"hi").unwrap();
/// });
/// let mut c = greenchan::net::UnixStream::connect(&path)?;
/// let mut buf = [0; 2];
/// c.read_exact(&mut buf)?;
/// assert_eq!(&buf, b"hi");
/// server.join().unwrap();
/// std::fs::remove_file(&path)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct UnixListener {
    inner: Arc<Socket<net::UnixListener>>,
}

impl UnixListener {
    /// Creates a listener bound to `path`, as std's, listening with the system's maximum
    /// backlog (`/proc/sys/net/core/somaxconn`, read once per process; 4096 where it cannot
    /// be read), as Go does. See [`bind_with_backlog`](Self::bind_with_backlog) to choose it.
    ///
    /// ```
    /// let path = std::env::temp_dir().join(format!("netpoll-bind-{}.sock", std::process::id()));
    /// let _ = std::fs::remove_file(&path);
    /// let l = greenchan::net::UnixListener::bind(&path)?;
    /// assert_eq!(l.local_addr()?.as_pathname(), Some(path.as_path()));
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<UnixListener> {
        UnixListener::bind_with_backlog(path, sys::default_backlog())
    }

    /// Creates a listener bound to `path`, as [`bind`](Self::bind), whose queue of
    /// connections not yet accepted holds about `backlog` (the `backlog` of `listen(2)`),
    /// capped by the kernel at its `somaxconn`. A client connecting to a full queue waits
    /// (a coroutine retries every millisecond) or, non-blocking, gets `WouldBlock`.
    ///
    /// ```
    /// let path = std::env::temp_dir().join(format!("netpoll-bwb-{}.sock", std::process::id()));
    /// let _ = std::fs::remove_file(&path);
    /// let l = greenchan::net::UnixListener::bind_with_backlog(&path, 16)?;
    /// let _c = greenchan::net::UnixStream::connect(&path)?;
    /// l.accept()?;
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn bind_with_backlog<P: AsRef<Path>>(path: P, backlog: u32) -> io::Result<UnixListener> {
        let l = net::UnixListener::bind(path)?;
        sys::listen(&l, backlog)?;
        UnixListener::try_from(l)
    }

    /// Accepts a connection, waiting for one; errors of `accept(2)` (e.g. `EMFILE`) are
    /// returned.
    ///
    /// ```
    /// let path = std::env::temp_dir().join(format!("netpoll-acc-{}.sock", std::process::id()));
    /// let _ = std::fs::remove_file(&path);
    /// let l = greenchan::net::UnixListener::bind(&path)?;
    /// let _c = greenchan::net::UnixStream::connect(&path)?;
    /// let (s, _addr) = l.accept()?;
    /// assert!(s.local_addr()?.as_pathname().is_some());
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        let (s, addr) = self.inner.io_untimed(Dir::Read, |l| l.accept())?;
        Ok((UnixStream::try_from(s)?, addr))
    }

    /// An endless iterator of `accept` results.
    ///
    /// ```
    /// let path = std::env::temp_dir().join(format!("netpoll-inc-{}.sock", std::process::id()));
    /// let _ = std::fs::remove_file(&path);
    /// let l = greenchan::net::UnixListener::bind(&path)?;
    /// let _c = greenchan::net::UnixStream::connect(&path)?;
    /// assert!(l.incoming().next().unwrap().is_ok());
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn incoming(&self) -> UnixIncoming<'_> {
        UnixIncoming { listener: self }
    }

    /// The bound address.
    ///
    /// ```
    /// let path = std::env::temp_dir().join(format!("netpoll-la-{}.sock", std::process::id()));
    /// let _ = std::fs::remove_file(&path);
    /// let l = greenchan::net::UnixListener::bind(&path)?;
    /// assert!(l.local_addr()?.as_pathname().is_some());
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get().local_addr()
    }

    /// Another handle to the same listener (shared descriptor and mode).
    ///
    /// ```
    /// let path = std::env::temp_dir().join(format!("netpoll-tc-{}.sock", std::process::id()));
    /// let _ = std::fs::remove_file(&path);
    /// let l = greenchan::net::UnixListener::bind(&path)?;
    /// let l2 = l.try_clone()?;
    /// assert_eq!(l2.local_addr()?.as_pathname(), Some(path.as_path()));
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn try_clone(&self) -> io::Result<UnixListener> {
        Ok(UnixListener {
            inner: self.inner.clone(),
        })
    }

    /// In non-blocking mode `accept` returns `WouldBlock` instead of waiting.
    ///
    /// ```
    /// let path = std::env::temp_dir().join(format!("netpoll-nb-{}.sock", std::process::id()));
    /// let _ = std::fs::remove_file(&path);
    /// let l = greenchan::net::UnixListener::bind(&path)?;
    /// l.set_nonblocking(true)?;
    /// assert_eq!(l.accept().unwrap_err().kind(), std::io::ErrorKind::WouldBlock);
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.inner.set_nonblocking(nonblocking);
        Ok(())
    }

    /// Takes the pending `SO_ERROR`, if any.
    ///
    /// ```
    /// let path = std::env::temp_dir().join(format!("netpoll-te-{}.sock", std::process::id()));
    /// let _ = std::fs::remove_file(&path);
    /// let l = greenchan::net::UnixListener::bind(&path)?;
    /// assert!(l.take_error()?.is_none());
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.inner.get().take_error()
    }
}

socket_impls!(UnixListener, net::UnixListener);

impl fmt::Debug for UnixListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixListener")
            .field("fd", &self.inner.fd())
            .finish()
    }
}

/// The iterator of [`UnixListener::incoming`].
///
/// ```
/// let path = std::env::temp_dir().join(format!("netpoll-ui-{}.sock", std::process::id()));
/// let _ = std::fs::remove_file(&path);
/// let l = greenchan::net::UnixListener::bind(&path)?;
/// let mut it: greenchan::net::UnixIncoming<'_> = l.incoming();
/// let _c = greenchan::net::UnixStream::connect(&path)?;
/// assert!(it.next().unwrap().is_ok());
/// std::fs::remove_file(&path)?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct UnixIncoming<'a> {
    listener: &'a UnixListener,
}

impl Iterator for UnixIncoming<'_> {
    type Item = io::Result<UnixStream>;

    fn next(&mut self) -> Option<io::Result<UnixStream>> {
        Some(self.listener.accept().map(|(s, _)| s))
    }
}

/// A Unix stream connection: [`std::os::unix::net::UnixStream`] whose blocking calls park the
/// calling coroutine (or block the calling thread); `Read`/`Write` for the value and `&`.
///
/// ```
/// use std::io::{Read, Write};
/// let (mut a, mut b) = greenchan::net::UnixStream::pair()?;
/// let h = greenchan::spawn(move || {
///     let mut buf = [0; 3];
///     b.read_exact(&mut buf).unwrap();
///     buf
/// });
/// a.write_all(b"abc")?;
/// assert_eq!(&h.join().unwrap(), b"abc");
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct UnixStream {
    inner: Arc<Socket<net::UnixStream>>,
}

impl UnixStream {
    /// Connects to the socket at `path`.
    ///
    /// ```
    /// let path = std::env::temp_dir().join(format!("netpoll-con-{}.sock", std::process::id()));
    /// let _ = std::fs::remove_file(&path);
    /// let _l = greenchan::net::UnixListener::bind(&path)?;
    /// let c = greenchan::net::UnixStream::connect(&path)?;
    /// assert_eq!(c.peer_addr()?.as_pathname(), Some(path.as_path()));
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn connect<P: AsRef<Path>>(path: P) -> io::Result<UnixStream> {
        if !green::in_coroutine() {
            return UnixStream::try_from(net::UnixStream::connect(path)?);
        }
        loop {
            match mio::net::UnixStream::connect(path.as_ref()) {
                Ok(s) => {
                    let s: net::UnixStream = s.into();
                    return Ok(UnixStream {
                        inner: Arc::new(Socket::new(s, |_| Ok(()))?),
                    });
                }
                // The listener's backlog is full: retry without holding the worker.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    green::sleep(Duration::from_millis(1))
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// A connected pair of sockets.
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// let (mut a, mut b) = greenchan::net::UnixStream::pair()?;
    /// a.write_all(b"x")?;
    /// assert_eq!(b.read(&mut [0; 1])?, 1);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = net::UnixStream::pair()?;
        Ok((UnixStream::try_from(a)?, UnixStream::try_from(b)?))
    }

    /// Another handle to the same connection (shared descriptor, mode and timeouts).
    ///
    /// ```
    /// let (a, _b) = greenchan::net::UnixStream::pair()?;
    /// let a2 = a.try_clone()?;
    /// assert!(a2.peer_addr().is_ok());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn try_clone(&self) -> io::Result<UnixStream> {
        Ok(UnixStream {
            inner: self.inner.clone(),
        })
    }

    /// The local address.
    ///
    /// ```
    /// let (a, _b) = greenchan::net::UnixStream::pair()?;
    /// assert!(a.local_addr()?.is_unnamed());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get().local_addr()
    }

    /// The peer's address.
    ///
    /// ```
    /// let (a, _b) = greenchan::net::UnixStream::pair()?;
    /// assert!(a.peer_addr()?.is_unnamed());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get().peer_addr()
    }

    /// Sets the read timeout (`WouldBlock` on expiry; zero refused with `InvalidInput`).
    ///
    /// ```
    /// use std::io::Read;
    /// use std::time::Duration;
    /// let (mut a, _b) = greenchan::net::UnixStream::pair()?;
    /// a.set_read_timeout(Some(Duration::from_millis(5)))?;
    /// assert_eq!(a.read(&mut [0; 1]).unwrap_err().kind(), std::io::ErrorKind::WouldBlock);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_read_timeout(&self, dur: Option<Duration>) -> io::Result<()> {
        self.inner.set_read_timeout(dur)
    }

    /// Sets the write timeout.
    ///
    /// ```
    /// use std::time::Duration;
    /// let (a, _b) = greenchan::net::UnixStream::pair()?;
    /// a.set_write_timeout(Some(Duration::from_secs(1)))?;
    /// assert_eq!(a.write_timeout()?, Some(Duration::from_secs(1)));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_write_timeout(&self, dur: Option<Duration>) -> io::Result<()> {
        self.inner.set_write_timeout(dur)
    }

    /// The read timeout.
    ///
    /// ```
    /// let (a, _b) = greenchan::net::UnixStream::pair()?;
    /// assert_eq!(a.read_timeout()?, None);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.inner.read_timeout())
    }

    /// The write timeout.
    ///
    /// ```
    /// let (a, _b) = greenchan::net::UnixStream::pair()?;
    /// assert_eq!(a.write_timeout()?, None);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn write_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.inner.write_timeout())
    }

    /// In non-blocking mode reads and writes return `WouldBlock` instead of waiting.
    ///
    /// ```
    /// use std::io::Read;
    /// let (mut a, _b) = greenchan::net::UnixStream::pair()?;
    /// a.set_nonblocking(true)?;
    /// assert_eq!(a.read(&mut [0; 1]).unwrap_err().kind(), std::io::ErrorKind::WouldBlock);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.inner.set_nonblocking(nonblocking);
        Ok(())
    }

    /// Takes the pending `SO_ERROR`, if any.
    ///
    /// ```
    /// let (a, _b) = greenchan::net::UnixStream::pair()?;
    /// assert!(a.take_error()?.is_none());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.inner.get().take_error()
    }

    /// Shuts down a half or both; after `Shutdown::Write` the peer reads end-of-file.
    ///
    /// ```
    /// use std::io::Read;
    /// let (a, mut b) = greenchan::net::UnixStream::pair()?;
    /// a.shutdown(std::net::Shutdown::Write)?;
    /// assert_eq!(b.read(&mut [0; 1])?, 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.inner.get().shutdown(how)
    }
}

socket_impls!(UnixStream, net::UnixStream);
stream_io_impls!(UnixStream);

impl fmt::Debug for UnixStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixStream")
            .field("fd", &self.inner.fd())
            .finish()
    }
}

/// A Unix datagram socket: [`std::os::unix::net::UnixDatagram`] whose blocking calls park
/// the calling coroutine (or block the calling thread).
///
/// ```
/// let (a, b) = greenchan::net::UnixDatagram::pair()?;
/// let h = greenchan::spawn(move || {
///     let mut buf = [0; 8];
///     let n = b.recv(&mut buf).unwrap();
///     buf[..n].to_vec()
/// });
/// a.send(b"dgram")?;
/// assert_eq!(h.join().unwrap(), b"dgram");
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct UnixDatagram {
    inner: Arc<Socket<net::UnixDatagram>>,
}

impl UnixDatagram {
    /// A socket bound to `path`.
    ///
    /// ```
    /// let path = std::env::temp_dir().join(format!("netpoll-dg-{}.sock", std::process::id()));
    /// let _ = std::fs::remove_file(&path);
    /// let s = greenchan::net::UnixDatagram::bind(&path)?;
    /// let c = greenchan::net::UnixDatagram::unbound()?;
    /// c.send_to(b"to path", &path)?;
    /// let mut buf = [0; 16];
    /// let (n, _from) = s.recv_from(&mut buf)?;
    /// assert_eq!(&buf[..n], b"to path");
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<UnixDatagram> {
        UnixDatagram::try_from(net::UnixDatagram::bind(path)?)
    }

    /// A socket bound to no address.
    ///
    /// ```
    /// let s = greenchan::net::UnixDatagram::unbound()?;
    /// assert!(s.local_addr()?.is_unnamed());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn unbound() -> io::Result<UnixDatagram> {
        UnixDatagram::try_from(net::UnixDatagram::unbound()?)
    }

    /// A connected pair of sockets.
    ///
    /// ```
    /// let (a, b) = greenchan::net::UnixDatagram::pair()?;
    /// a.send(b"1")?;
    /// assert_eq!(b.recv(&mut [0; 4])?, 1);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn pair() -> io::Result<(UnixDatagram, UnixDatagram)> {
        let (a, b) = net::UnixDatagram::pair()?;
        Ok((UnixDatagram::try_from(a)?, UnixDatagram::try_from(b)?))
    }

    /// Sets the default peer.
    ///
    /// ```
    /// let path = std::env::temp_dir().join(format!("netpoll-dgc-{}.sock", std::process::id()));
    /// let _ = std::fs::remove_file(&path);
    /// let s = greenchan::net::UnixDatagram::bind(&path)?;
    /// let c = greenchan::net::UnixDatagram::unbound()?;
    /// c.connect(&path)?;
    /// c.send(b"x")?;
    /// assert_eq!(s.recv(&mut [0; 1])?, 1);
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn connect<P: AsRef<Path>>(&self, path: P) -> io::Result<()> {
        self.inner.get().connect(path)
    }

    /// Sends to `path`.
    ///
    /// ```
    /// let (a, _b) = greenchan::net::UnixDatagram::pair()?;
    /// assert!(a.send_to(b"x", "/nonexistent/netpoll.sock").is_err());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn send_to<P: AsRef<Path>>(&self, buf: &[u8], path: P) -> io::Result<usize> {
        let path = path.as_ref();
        self.inner.io(Dir::Write, |s| s.send_to(buf, path))
    }

    /// Receives a datagram and its sender's address, waiting for one.
    ///
    /// ```
    /// let (a, b) = greenchan::net::UnixDatagram::pair()?;
    /// a.send(b"hey")?;
    /// let (n, from) = b.recv_from(&mut [0; 8])?;
    /// assert_eq!(n, 3);
    /// assert!(from.is_unnamed());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.inner.io(Dir::Read, |s| s.recv_from(buf))
    }

    /// Sends to the connected peer.
    ///
    /// ```
    /// let (a, b) = greenchan::net::UnixDatagram::pair()?;
    /// assert_eq!(a.send(b"ab")?, 2);
    /// assert_eq!(b.recv(&mut [0; 2])?, 2);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.inner.io(Dir::Write, |s| s.send(buf))
    }

    /// Receives from the connected peer, waiting for a datagram.
    ///
    /// ```
    /// let (a, b) = greenchan::net::UnixDatagram::pair()?;
    /// a.send(b"abc")?;
    /// assert_eq!(b.recv(&mut [0; 8])?, 3);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.io(Dir::Read, |s| s.recv(buf))
    }

    /// The local address.
    ///
    /// ```
    /// let (a, _b) = greenchan::net::UnixDatagram::pair()?;
    /// assert!(a.local_addr()?.is_unnamed());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get().local_addr()
    }

    /// The connected peer's address.
    ///
    /// ```
    /// let (a, _b) = greenchan::net::UnixDatagram::pair()?;
    /// assert!(a.peer_addr()?.is_unnamed());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get().peer_addr()
    }

    /// Another handle to the same socket (shared descriptor, mode and timeouts).
    ///
    /// ```
    /// let (a, _b) = greenchan::net::UnixDatagram::pair()?;
    /// assert!(a.try_clone()?.peer_addr().is_ok());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn try_clone(&self) -> io::Result<UnixDatagram> {
        Ok(UnixDatagram {
            inner: self.inner.clone(),
        })
    }

    /// Sets the receive timeout (`WouldBlock` on expiry; zero refused with `InvalidInput`).
    ///
    /// ```
    /// use std::time::Duration;
    /// let (a, _b) = greenchan::net::UnixDatagram::pair()?;
    /// a.set_read_timeout(Some(Duration::from_millis(5)))?;
    /// assert_eq!(a.recv(&mut [0; 1]).unwrap_err().kind(), std::io::ErrorKind::WouldBlock);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_read_timeout(&self, dur: Option<Duration>) -> io::Result<()> {
        self.inner.set_read_timeout(dur)
    }

    /// Sets the send timeout.
    ///
    /// ```
    /// use std::time::Duration;
    /// let (a, _b) = greenchan::net::UnixDatagram::pair()?;
    /// a.set_write_timeout(Some(Duration::from_secs(2)))?;
    /// assert_eq!(a.write_timeout()?, Some(Duration::from_secs(2)));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_write_timeout(&self, dur: Option<Duration>) -> io::Result<()> {
        self.inner.set_write_timeout(dur)
    }

    /// The receive timeout.
    ///
    /// ```
    /// let (a, _b) = greenchan::net::UnixDatagram::pair()?;
    /// assert_eq!(a.read_timeout()?, None);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.inner.read_timeout())
    }

    /// The send timeout.
    ///
    /// ```
    /// let (a, _b) = greenchan::net::UnixDatagram::pair()?;
    /// assert_eq!(a.write_timeout()?, None);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn write_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.inner.write_timeout())
    }

    /// In non-blocking mode sends and receives return `WouldBlock` instead of waiting.
    ///
    /// ```
    /// let (a, _b) = greenchan::net::UnixDatagram::pair()?;
    /// a.set_nonblocking(true)?;
    /// assert_eq!(a.recv(&mut [0; 1]).unwrap_err().kind(), std::io::ErrorKind::WouldBlock);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.inner.set_nonblocking(nonblocking);
        Ok(())
    }

    /// Takes the pending `SO_ERROR`, if any.
    ///
    /// ```
    /// let (a, _b) = greenchan::net::UnixDatagram::pair()?;
    /// assert!(a.take_error()?.is_none());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.inner.get().take_error()
    }

    /// Shuts down a half or both.
    ///
    /// ```
    /// let (a, _b) = greenchan::net::UnixDatagram::pair()?;
    /// a.shutdown(std::net::Shutdown::Both)?;
    /// assert!(a.send(b"x").is_err());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.inner.get().shutdown(how)
    }
}

socket_impls!(UnixDatagram, net::UnixDatagram);

impl fmt::Debug for UnixDatagram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixDatagram")
            .field("fd", &self.inner.fd())
            .finish()
    }
}
