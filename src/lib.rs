//! # greenchan
//!
//! Go's concurrency model for Rust, in plain blocking-style code: stackful coroutines started
//! with [`go!`], an M:N work-stealing scheduler, Go-style channels and `select!`.
//!
//! ```
//! use greenchan::go;
//!
//! let h = go!(|| 6 * 7);
//! assert_eq!(h.join().unwrap(), 42);
//! ```
//!
//! This crate is the facade: it re-exports the runtime (`green`), the channels (as
//! [`chan`]) and the select engine, so a program needs only `use greenchan::...`.
//!
//! ```
//! use greenchan::{chan, go, select};
//! use std::time::Duration;
//!
//! let (tx, rx) = chan::bounded(0);
//! go!(move || tx.send("ping").unwrap());
//! let got = select! {
//!     recv(rx) -> msg => msg.unwrap(),
//!     default(Duration::from_secs(10)) => "timeout",
//! };
//! assert_eq!(got, "ping");
//! ```

pub use green::{
    block_on, coroutine_local, current, in_coroutine, park, park_deadline, park_timeout, preempt,
    preempt_point, run, sleep, spawn, yield_now, Builder, Coroutine, CoroutineId, JoinFuture,
    JoinHandle, LocalKey, Runtime, RuntimeBuilder, DEFAULT_STACK_SIZE, DEFAULT_TIME_SLICE,
    MAX_STACK_SIZE, MAX_WORKERS, MIN_STACK_SIZE,
};

/// Go-style channels: `bounded`, `unbounded`, `after`, `tick`, `never`, their handles and
/// errors.
pub use channels as chan;
pub use channels::{RecvError, SendError};
/// Networking: `TcpListener`, `TcpStream`, `UdpSocket` and Unix sockets with std's API,
/// parking the coroutine (not the worker) while a socket is not ready.
///
/// ```
/// use std::io::{Read, Write};
/// use greenchan::{go, net::{TcpListener, TcpStream}};
///
/// let listener = TcpListener::bind("127.0.0.1:0")?;
/// let addr = listener.local_addr()?;
/// let server = go!(move || {
///     let (mut conn, _) = listener.accept().unwrap();
///     let mut buf = [0; 5];
///     conn.read_exact(&mut buf).unwrap();
///     conn.write_all(&buf).unwrap();
/// });
/// let got = greenchan::run(move || {
///     let mut c = TcpStream::connect(addr).unwrap();
///     c.write_all(b"hello").unwrap();
///     let mut buf = [0; 5];
///     c.read_exact(&mut buf).unwrap();
///     buf
/// });
/// assert_eq!(&got, b"hello");
/// server.join().unwrap();
/// # Ok::<(), std::io::Error>(())
/// ```
pub use netpoll as net;
pub use select::{select, Select, SelectedOperation};

/// Coroutine-aware `Mutex`, `RwLock`, `Condvar`, `WaitGroup`, `Semaphore`, `Barrier`,
/// `OnceLock` and `Lazy`: they park the coroutine, never its worker thread.
pub use green::sync;

/// Starts a coroutine, as `go f()` does in Go.
///
/// `go!(closure)` spawns on the current runtime (the spawner's, or the global one) and returns
/// its [`JoinHandle`]; `go!(builder, closure)` spawns with a [`Builder`] and returns
/// `io::Result<JoinHandle<T>>`, as `std::thread::Builder::spawn` does.
///
/// ```
/// use greenchan::{go, Builder};
///
/// let a = go!(|| 1);
/// let b = go!(Builder::new().name("b".into()), || 2).unwrap();
/// assert_eq!(a.join().unwrap() + b.join().unwrap(), 3);
/// ```
#[macro_export]
macro_rules! go {
    ($builder:expr, $f:expr $(,)?) => {
        $crate::Builder::spawn($builder, $f)
    };
    ($f:expr $(,)?) => {
        $crate::spawn($f)
    };
}
