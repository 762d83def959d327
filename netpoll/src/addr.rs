//! Name resolution that does not hold a worker: `ToSocketAddrs`, std's trait of the same name
//! for the types std implements it for, resolving host names on greenchan's blocking pool.
//!
//! std's `ToSocketAddrs` resolves a host name with `getaddrinfo`, which blocks its thread for as
//! long as DNS takes; in a coroutine that thread is a worker, and every coroutine that started
//! on it would wait. Here an address that parses as an IP needs no lookup, and a host name is
//! resolved with `greenchan::spawn_blocking` from a coroutine (the coroutine parks while a pool
//! thread waits on DNS), or directly on a plain thread, as std does. The trait is sealed, as
//! tokio's is: resolution needs an owned copy of the name to hand to another thread, which an
//! arbitrary implementation of std's trait could not give.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

mod sealed {
    pub trait Sealed {}
}

/// What a socket address argument may be: the types std's
/// [`ToSocketAddrs`](std::net::ToSocketAddrs) is implemented for (`SocketAddr` and its
/// variants, `(IpAddr, u16)`, `(&str, u16)`, `"host:port"` strings, slices of `SocketAddr`), and
/// references to them. A host name is resolved without blocking the worker (see the module
/// doc); an IP address is not looked up at all.
///
/// ```
/// use greenchan::net::ToSocketAddrs;
/// let addrs = ("127.0.0.1", 80).resolve().unwrap();
/// assert_eq!(addrs[0].port(), 80);
/// assert!("localhost:80".resolve().unwrap().iter().any(|a| a.ip().is_loopback()));
/// ```
pub trait ToSocketAddrs: sealed::Sealed {
    /// The addresses this names, in the order to try them.
    fn resolve(&self) -> io::Result<Vec<SocketAddr>>;
}

/// Resolves `host:port` (or `host`, with `port`), through the blocking pool when called in a
/// coroutine.
fn lookup(host: String, port: Option<u16>) -> io::Result<Vec<SocketAddr>> {
    fn std_lookup(host: &str, port: Option<u16>) -> io::Result<Vec<SocketAddr>> {
        use std::net::ToSocketAddrs as _;
        Ok(match port {
            Some(p) => (host, p).to_socket_addrs()?.collect(),
            None => host.to_socket_addrs()?.collect(),
        })
    }
    if !green::in_coroutine() {
        return std_lookup(&host, port);
    }
    match green::spawn_blocking(move || std_lookup(&host, port)).join() {
        Ok(result) => result,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

impl sealed::Sealed for SocketAddr {}
impl ToSocketAddrs for SocketAddr {
    fn resolve(&self) -> io::Result<Vec<SocketAddr>> {
        Ok(vec![*self])
    }
}

impl sealed::Sealed for SocketAddrV4 {}
impl ToSocketAddrs for SocketAddrV4 {
    fn resolve(&self) -> io::Result<Vec<SocketAddr>> {
        Ok(vec![SocketAddr::V4(*self)])
    }
}

impl sealed::Sealed for SocketAddrV6 {}
impl ToSocketAddrs for SocketAddrV6 {
    fn resolve(&self) -> io::Result<Vec<SocketAddr>> {
        Ok(vec![SocketAddr::V6(*self)])
    }
}

impl sealed::Sealed for (IpAddr, u16) {}
impl ToSocketAddrs for (IpAddr, u16) {
    fn resolve(&self) -> io::Result<Vec<SocketAddr>> {
        Ok(vec![SocketAddr::new(self.0, self.1)])
    }
}

impl sealed::Sealed for (Ipv4Addr, u16) {}
impl ToSocketAddrs for (Ipv4Addr, u16) {
    fn resolve(&self) -> io::Result<Vec<SocketAddr>> {
        Ok(vec![SocketAddr::new(IpAddr::V4(self.0), self.1)])
    }
}

impl sealed::Sealed for (Ipv6Addr, u16) {}
impl ToSocketAddrs for (Ipv6Addr, u16) {
    fn resolve(&self) -> io::Result<Vec<SocketAddr>> {
        Ok(vec![SocketAddr::new(IpAddr::V6(self.0), self.1)])
    }
}

impl sealed::Sealed for (&str, u16) {}
impl ToSocketAddrs for (&str, u16) {
    fn resolve(&self) -> io::Result<Vec<SocketAddr>> {
        match self.0.parse::<IpAddr>() {
            Ok(ip) => Ok(vec![SocketAddr::new(ip, self.1)]),
            Err(_) => lookup(self.0.to_owned(), Some(self.1)),
        }
    }
}

impl sealed::Sealed for (String, u16) {}
impl ToSocketAddrs for (String, u16) {
    fn resolve(&self) -> io::Result<Vec<SocketAddr>> {
        (self.0.as_str(), self.1).resolve()
    }
}

impl sealed::Sealed for str {}
impl ToSocketAddrs for str {
    fn resolve(&self) -> io::Result<Vec<SocketAddr>> {
        match self.parse::<SocketAddr>() {
            Ok(addr) => Ok(vec![addr]),
            Err(_) => lookup(self.to_owned(), None),
        }
    }
}

impl sealed::Sealed for String {}
impl ToSocketAddrs for String {
    fn resolve(&self) -> io::Result<Vec<SocketAddr>> {
        self.as_str().resolve()
    }
}

impl sealed::Sealed for [SocketAddr] {}
impl ToSocketAddrs for [SocketAddr] {
    fn resolve(&self) -> io::Result<Vec<SocketAddr>> {
        Ok(self.to_vec())
    }
}

impl<const N: usize> sealed::Sealed for [SocketAddr; N] {}
impl<const N: usize> ToSocketAddrs for [SocketAddr; N] {
    fn resolve(&self) -> io::Result<Vec<SocketAddr>> {
        Ok(self.to_vec())
    }
}

impl<T: ToSocketAddrs + ?Sized> sealed::Sealed for &T {}
impl<T: ToSocketAddrs + ?Sized> ToSocketAddrs for &T {
    fn resolve(&self) -> io::Result<Vec<SocketAddr>> {
        (**self).resolve()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_need_no_lookup_and_names_resolve() {
        let v4: SocketAddr = "127.0.0.1:9".parse().unwrap();
        assert_eq!(v4.resolve().unwrap(), vec![v4]);
        assert_eq!("127.0.0.1:9".resolve().unwrap(), vec![v4]);
        assert_eq!(("127.0.0.1", 9).resolve().unwrap(), vec![v4]);
        assert_eq!((String::from("127.0.0.1"), 9).resolve().unwrap(), vec![v4]);
        assert_eq!([v4].resolve().unwrap(), vec![v4]);
        assert!("no-port-here".resolve().is_err());
        // A name, resolved on a thread and, from a coroutine, on the blocking pool.
        let here = ("localhost", 9).resolve().unwrap();
        assert!(here.iter().all(|a| a.ip().is_loopback() && a.port() == 9));
        let there = green::spawn(|| ("localhost", 9).resolve().unwrap())
            .join()
            .unwrap();
        assert_eq!(here, there);
    }
}
