//! UDP: `UdpSocket`, std's API over the netpoller. Receives wait for readability, sends for
//! writability (a full socket buffer), each within the socket's timeout for that direction.

use std::fmt;
use std::io;
use std::net::{self, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use crate::addr::ToSocketAddrs;
use crate::sys::{Dir, Socket};
use crate::tcp::each_addr;

/// A UDP socket: [`std::net::UdpSocket`] whose blocking calls park the calling coroutine (or
/// block the calling thread).
///
/// ```
/// let a = greenchan::net::UdpSocket::bind("127.0.0.1:0")?;
/// let b = greenchan::net::UdpSocket::bind("127.0.0.1:0")?;
/// let to = b.local_addr()?;
/// let h = greenchan::spawn(move || {
///     let mut buf = [0; 16];
///     let (n, from) = b.recv_from(&mut buf).unwrap();
///     (buf[..n].to_vec(), from)
/// });
/// a.send_to(b"datagram", to)?;
/// let (got, from) = h.join().unwrap();
/// assert_eq!(got, b"datagram");
/// assert_eq!(from, a.local_addr()?);
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct UdpSocket {
    inner: Arc<Socket<net::UdpSocket>>,
}

impl UdpSocket {
    /// Creates a socket bound to `addr`, as [`std::net::UdpSocket::bind`].
    ///
    /// ```
    /// let s = greenchan::net::UdpSocket::bind("127.0.0.1:0")?;
    /// assert_ne!(s.local_addr()?.port(), 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<UdpSocket> {
        UdpSocket::try_from(each_addr(addr, |a| net::UdpSocket::bind(a))?)
    }

    /// Receives one datagram, waiting for it; returns its length and sender.
    ///
    /// ```
    /// let s = greenchan::net::UdpSocket::bind("127.0.0.1:0")?;
    /// s.send_to(b"me", s.local_addr()?)?;
    /// let mut buf = [0; 4];
    /// assert_eq!(s.recv_from(&mut buf)?, (2, s.local_addr()?));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.inner.io(Dir::Read, |s| s.recv_from(buf))
    }

    /// Like [`UdpSocket::recv_from`] but leaves the datagram queued.
    ///
    /// ```
    /// let s = greenchan::net::UdpSocket::bind("127.0.0.1:0")?;
    /// s.send_to(b"again", s.local_addr()?)?;
    /// let mut buf = [0; 8];
    /// assert_eq!(s.peek_from(&mut buf)?.0, 5);
    /// assert_eq!(s.recv_from(&mut buf)?.0, 5);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.inner.io(Dir::Read, |s| s.peek_from(buf))
    }

    /// Sends one datagram to `addr` (its first address).
    ///
    /// ```
    /// let s = greenchan::net::UdpSocket::bind("127.0.0.1:0")?;
    /// assert_eq!(s.send_to(b"abc", s.local_addr()?)?, 3);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn send_to<A: ToSocketAddrs>(&self, buf: &[u8], addr: A) -> io::Result<usize> {
        let addr = addr.resolve()?.into_iter().next().ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "no addresses to send data to")
        })?;
        self.inner.io(Dir::Write, |s| s.send_to(buf, addr))
    }

    /// Sets the default peer for `send` and `recv` and filters what is received.
    ///
    /// ```
    /// let a = greenchan::net::UdpSocket::bind("127.0.0.1:0")?;
    /// let b = greenchan::net::UdpSocket::bind("127.0.0.1:0")?;
    /// a.connect(b.local_addr()?)?;
    /// b.connect(a.local_addr()?)?;
    /// a.send(b"hi")?;
    /// let mut buf = [0; 2];
    /// assert_eq!(b.recv(&mut buf)?, 2);
    /// assert_eq!(a.peer_addr()?, b.local_addr()?);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn connect<A: ToSocketAddrs>(&self, addr: A) -> io::Result<()> {
        each_addr(addr, |a| self.inner.get().connect(a))
    }

    /// Sends to the connected peer.
    ///
    /// ```
    /// let s = greenchan::net::UdpSocket::bind("127.0.0.1:0")?;
    /// s.connect(s.local_addr()?)?;
    /// assert_eq!(s.send(b"x")?, 1);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.inner.io(Dir::Write, |s| s.send(buf))
    }

    /// Receives from the connected peer, waiting for a datagram.
    ///
    /// ```
    /// let s = greenchan::net::UdpSocket::bind("127.0.0.1:0")?;
    /// s.connect(s.local_addr()?)?;
    /// s.send(b"loop")?;
    /// assert_eq!(s.recv(&mut [0; 8])?, 4);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.io(Dir::Read, |s| s.recv(buf))
    }

    /// Like [`UdpSocket::recv`] but leaves the datagram queued.
    ///
    /// ```
    /// let s = greenchan::net::UdpSocket::bind("127.0.0.1:0")?;
    /// s.connect(s.local_addr()?)?;
    /// s.send(b"pk")?;
    /// assert_eq!(s.peek(&mut [0; 8])?, 2);
    /// assert_eq!(s.recv(&mut [0; 8])?, 2);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.io(Dir::Read, |s| s.peek(buf))
    }

    /// The connected peer's address.
    ///
    /// ```
    /// let s = greenchan::net::UdpSocket::bind("127.0.0.1:0")?;
    /// assert!(s.peer_addr().is_err()); // not connected
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get().peer_addr()
    }

    /// The local address.
    ///
    /// ```
    /// let s = greenchan::net::UdpSocket::bind("127.0.0.1:0")?;
    /// assert!(s.local_addr()?.ip().is_loopback());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get().local_addr()
    }

    /// Another handle to the same socket (sharing descriptor, mode and timeouts).
    ///
    /// ```
    /// let s = greenchan::net::UdpSocket::bind("127.0.0.1:0")?;
    /// assert_eq!(s.try_clone()?.local_addr()?, s.local_addr()?);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn try_clone(&self) -> io::Result<UdpSocket> {
        Ok(UdpSocket {
            inner: self.inner.clone(),
        })
    }

    /// Sets the receive timeout; an expired receive fails with `WouldBlock` (as std on
    /// Linux); zero is refused with `InvalidInput`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let s = greenchan::net::UdpSocket::bind("127.0.0.1:0")?;
    /// s.set_read_timeout(Some(Duration::from_millis(5)))?;
    /// assert_eq!(s.read_timeout()?, Some(Duration::from_millis(5)));
    /// let err = s.recv_from(&mut [0; 1]).unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_read_timeout(&self, dur: Option<Duration>) -> io::Result<()> {
        self.inner.set_read_timeout(dur)
    }

    /// Sets the send timeout; see [`UdpSocket::set_read_timeout`].
    ///
    /// ```
    /// use std::time::Duration;
    /// let s = greenchan::net::UdpSocket::bind("127.0.0.1:0")?;
    /// s.set_write_timeout(Some(Duration::from_secs(1)))?;
    /// assert_eq!(s.write_timeout()?, Some(Duration::from_secs(1)));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_write_timeout(&self, dur: Option<Duration>) -> io::Result<()> {
        self.inner.set_write_timeout(dur)
    }

    /// The receive timeout.
    ///
    /// ```
    /// let s = greenchan::net::UdpSocket::bind("127.0.0.1:0")?;
    /// assert_eq!(s.read_timeout()?, None);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.inner.read_timeout())
    }

    /// The send timeout.
    ///
    /// ```
    /// let s = greenchan::net::UdpSocket::bind("127.0.0.1:0")?;
    /// assert_eq!(s.write_timeout()?, None);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn write_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.inner.write_timeout())
    }

    /// Sets `SO_BROADCAST`.
    ///
    /// ```
    /// let s = greenchan::net::UdpSocket::bind("127.0.0.1:0")?;
    /// s.set_broadcast(true)?;
    /// assert!(s.broadcast()?);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        self.inner.get().set_broadcast(on)
    }

    /// Gets `SO_BROADCAST`.
    ///
    /// ```
    /// let s = greenchan::net::UdpSocket::bind("127.0.0.1:0")?;
    /// assert!(!s.broadcast()?);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn broadcast(&self) -> io::Result<bool> {
        self.inner.get().broadcast()
    }

    /// Sets `IP_TTL`.
    ///
    /// ```
    /// let s = greenchan::net::UdpSocket::bind("127.0.0.1:0")?;
    /// s.set_ttl(9)?;
    /// assert_eq!(s.ttl()?, 9);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.inner.get().set_ttl(ttl)
    }

    /// Gets `IP_TTL`.
    ///
    /// ```
    /// let s = greenchan::net::UdpSocket::bind("127.0.0.1:0")?;
    /// assert!(s.ttl()? > 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn ttl(&self) -> io::Result<u32> {
        self.inner.get().ttl()
    }

    /// Takes the pending `SO_ERROR`, if any.
    ///
    /// ```
    /// let s = greenchan::net::UdpSocket::bind("127.0.0.1:0")?;
    /// assert!(s.take_error()?.is_none());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.inner.get().take_error()
    }

    /// In non-blocking mode sends and receives return `WouldBlock` instead of waiting.
    ///
    /// ```
    /// let s = greenchan::net::UdpSocket::bind("127.0.0.1:0")?;
    /// s.set_nonblocking(true)?;
    /// let err = s.recv_from(&mut [0; 1]).unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.inner.set_nonblocking(nonblocking);
        Ok(())
    }
}

socket_impls!(UdpSocket, net::UdpSocket);

impl fmt::Debug for UdpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UdpSocket")
            .field("addr", &self.local_addr().ok())
            .field("fd", &self.inner.fd())
            .finish()
    }
}
