//! # greenchan
//!
//! Go's concurrency model for Rust, in plain blocking-style code: stackful coroutines started
//! with [`go!`], an M:N work-stealing scheduler, Go-style channels ([`chan`]) and
//! [`select!`], sockets that park a coroutine until they are ready ([`net`]), and
//! coroutine-aware locks ([`sync`]). A coroutine that blocks suspends, and its worker thread
//! runs another; the same calls on a plain OS thread block the thread.
//!
//! ```
//! use greenchan::go;
//!
//! let h = go!(|| 6 * 7);
//! assert_eq!(h.join().unwrap(), 42);
//! ```
//!
//! Channels and `select!`, with crossbeam-channel's syntax and Go's semantics:
//!
//! ```
//! use greenchan::{chan, go, select};
//! use std::time::Duration;
//!
//! let (tx, rx) = chan::bounded(0); // rendezvous, like an unbuffered Go channel
//! go!(move || tx.send("ping").unwrap());
//! let got = select! {
//!     recv(rx) -> msg => msg.unwrap(),
//!     default(Duration::from_secs(10)) => "timeout",
//! };
//! assert_eq!(got, "ping");
//! ```
//!
//! A program usually starts in [`run`], which runs a closure as a coroutine on the global
//! runtime (one worker per CPU, or `GREENCHAN_WORKERS`) and returns its value:
//!
//! ```
//! use greenchan::{chan, go, sync::WaitGroup};
//!
//! let total = greenchan::run(|| {
//!     let (tx, rx) = chan::unbounded();
//!     let wg = WaitGroup::new();
//!     for i in 1..=10u64 {
//!         let (tx, wg) = (tx.clone(), wg.clone());
//!         go!(move || {
//!             tx.send(i * i).unwrap();
//!             drop(wg); // done
//!         });
//!     }
//!     drop(tx);
//!     wg.wait();
//!     rx.iter().sum::<u64>()
//! });
//! assert_eq!(total, 385);
//! ```
//!
//! ## Async code
//!
//! greenchan has no executor of its own and works beside any: [`block_on`] waits for a future
//! in a coroutine (parking it, not its worker), and a [`JoinHandle`] is
//! [`IntoFuture`](std::future::IntoFuture), so async code can `.await` a coroutine.
//!
//! ```
//! let rt = tokio::runtime::Runtime::new().unwrap(); // tokio on its own threads
//! let task = rt.spawn(async { 6 * 7 });
//! let coroutine = greenchan::go!(move || greenchan::block_on(task).unwrap());
//! assert_eq!(rt.block_on(async { coroutine.await.unwrap() }), 42);
//! ```
//!
//! Channel ends have async operations too, so async tasks and coroutines share a channel:
//! [`Receiver::recv_async`](chan::Receiver::recv_async),
//! [`Sender::send_async`](chan::Sender::send_async) and
//! [`Receiver::stream`](chan::Receiver::stream) (a `futures_core::Stream`) are futures for any
//! executor. They are cancel-safe: dropping a pending receive loses no message, dropping a
//! pending send delivers nothing.
//!
//! ```
//! use greenchan::{chan, go};
//!
//! let rt = tokio::runtime::Runtime::new().unwrap();
//! let (tx, rx) = chan::bounded(0); // a rendezvous between a tokio task and a coroutine
//! let task = rt.spawn(async move {
//!     let mut sum = 0;
//!     while let Ok(v) = rx.recv_async().await {
//!         sum += v;
//!     }
//!     sum // the channel closed: the coroutine dropped its sender
//! });
//! let producer = go!(move || {
//!     for i in 1..=3 {
//!         tx.send(i).unwrap(); // parks the coroutine until the task takes it
//!     }
//! });
//! producer.join().unwrap();
//! assert_eq!(rt.block_on(task).unwrap(), 6);
//! ```
//!
//! ## Soundness
//!
//! Safe code on a coroutine behaves as on an OS thread. A coroutine that has started stays on
//! its thread until it ends, so thread-locals, `errno` and `!Send` values behave as usual; and
//! by default nothing switches a coroutine except a greenchan call (a blocking operation,
//! [`yield_now`], [`sleep`], [`preempt_point`]). A coroutine that overruns its time slice
//! yields at its next such call; a worker stuck in one coroutine (a loop without calls, a
//! blocking system call) has its other work taken over by the other workers or by spare
//! threads (up to [`RuntimeBuilder::max_spare_threads`]). Asynchronous (signal) preemption and
//! migration of started coroutines are `unsafe` opt-ins whose docs state what the caller
//! promises: [`RuntimeBuilder::allow_async_preemption`] and
//! [`RuntimeBuilder::allow_migration`], and the same per coroutine on [`Builder`].
//!
//! Unix only; Linux on x86-64 gets greenchan's own fiber switch and the asynchronous
//! preemption opt-in, other Unix targets use corosensei and cooperative preemption.
//! `docs/architecture.md` in the repository is the map of the crates, of how a value travels
//! from `send` to `recv`, and of these rules.

pub use green::{
    block_on, coroutine_local, current, dump, in_coroutine, metrics, park, park_deadline,
    park_timeout, preempt_point, run, sleep, spawn, spawn_blocking, yield_now, Builder, Coroutine,
    CoroutineId, JoinFuture, JoinHandle, LocalKey, Runtime, RuntimeBuilder, RuntimeMetrics,
    ShutdownError, StuckCoroutine, WorkerMetrics, DEFAULT_MAX_SPARE_THREADS,
    DEFAULT_SHUTDOWN_TIMEOUT, DEFAULT_STACK_SIZE, DEFAULT_TIME_SLICE, MAX_SPARE_THREADS,
    MAX_STACK_SIZE, MAX_TIME_SLICE, MAX_WORKERS, MIN_STACK_SIZE,
};

pub use channels::{RecvError, SendError};

/// Go-style channels: [`bounded`](chan::bounded) (capacity 0 is a rendezvous, like an
/// unbuffered Go channel), [`unbounded`](chan::unbounded), [`after`](chan::after),
/// [`tick`](chan::tick) and [`never`](chan::never) (Go's nil channel), their handles and errors.
///
/// Senders and receivers are `Clone` (many producers, many consumers). A channel closes when a
/// handle calls `close()` or the last sender is dropped; then sends fail and give the value
/// back, and receivers drain what is buffered and then get `Err`. Every operation parks the
/// calling coroutine (or blocks the calling thread), and any of them can be an arm of
/// [`select!`](crate::select!).
///
/// Async code uses the same channels: [`Receiver::recv_async`](chan::Receiver::recv_async),
/// [`Sender::send_async`](chan::Sender::send_async) and the receive streams
/// ([`Receiver::stream`](chan::Receiver::stream), and
/// [`Receiver::into_stream`](chan::Receiver::into_stream), which owns the receiver) are futures
/// for any executor, waiting in the channel's queue as a parked coroutine does. Dropping one is
/// cancel-safe: a receive loses no message, a send delivers nothing.
///
/// ```
/// use greenchan::{chan, go};
///
/// let (tx, rx) = chan::bounded(2);
/// let producer = go!(move || {
///     for i in 0..5 {
///         tx.send(i).unwrap(); // parks while the buffer is full
///     }
/// }); // dropping `tx` closes the channel
/// let got: Vec<i32> = rx.iter().collect(); // ends once closed and drained
/// assert_eq!(got, [0, 1, 2, 3, 4]);
/// producer.join().unwrap();
///
/// let (tx, rx) = chan::unbounded::<i32>();
/// tx.close();
/// assert!(tx.send(1).is_err()); // the value comes back in the error
/// assert!(rx.recv().is_err());
///
/// // An async block receives from a coroutine (driven here by `block_on` on this thread;
/// // a tokio task would do the same).
/// let (tx, rx) = chan::bounded(0);
/// let sender = go!(move || tx.send("hi").unwrap());
/// let got = greenchan::block_on(async { rx.recv_async().await });
/// assert_eq!(got, Ok("hi"));
/// sender.join().unwrap();
/// ```
pub mod chan {
    pub use channels::*;
}

/// Networking: [`TcpListener`](net::TcpListener), [`TcpStream`](net::TcpStream),
/// [`UdpSocket`](net::UdpSocket) and Unix sockets with the API of `std::net` and
/// `std::os::unix::net`. Inside a coroutine a call that would block parks the coroutine (not
/// its worker) until the socket is ready; on a plain thread it blocks like a std socket.
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
pub mod net {
    pub use netpoll::*;
}

/// Coroutine-aware [`Mutex`](sync::Mutex), [`RwLock`](sync::RwLock),
/// [`Condvar`](sync::Condvar), [`WaitGroup`](sync::WaitGroup),
/// [`Semaphore`](sync::Semaphore), [`Barrier`](sync::Barrier), [`OnceLock`](sync::OnceLock)
/// and [`Lazy`](sync::Lazy): they park the coroutine, never its worker thread, and block a
/// plain thread. `Mutex`, `RwLock`, `Condvar` and `Barrier` have std's signatures and
/// poisoning; `WaitGroup` works as crossbeam-utils' (clone to add, drop to mark done) and also
/// has Go's `add`/`done`.
///
/// ```
/// use greenchan::{go, sync::{Mutex, WaitGroup}};
/// use std::sync::Arc;
///
/// let total = Arc::new(Mutex::new(0));
/// let wg = WaitGroup::new();
/// for i in 1..=10 {
///     let (total, wg) = (total.clone(), wg.clone());
///     go!(move || {
///         *total.lock().unwrap() += i; // parks this coroutine if contended
///         drop(wg);
///     });
/// }
/// wg.wait();
/// assert_eq!(*total.lock().unwrap(), 55);
/// ```
pub mod sync {
    pub use green::sync::*;
}

/// Preemption: how a coroutine that computes for long gives its worker back.
///
/// By default preemption is cooperative: the monitor thread marks a coroutine that has run
/// longer than its time slice (10 ms unless set with `RuntimeBuilder::time_slice`), and it
/// yields at its next preemption point, which every greenchan call is, as is
/// [`preempt_point`] in a long loop. A worker stuck in one coroutine
/// has its other work taken over by the other workers. Asynchronous preemption by a signal,
/// which also interrupts a loop that calls nothing, is an `unsafe` opt-in on Linux x86-64
/// ([`RuntimeBuilder::allow_async_preemption`](crate::RuntimeBuilder::allow_async_preemption));
/// this module says whether the platform supports it and holds its controls.
///
/// ```
/// let h = greenchan::go!(|| {
///     let mut x = 0u64;
///     for i in 0..1_000_000u64 {
///         x = x.wrapping_add(i);
///         if i % 1024 == 0 {
///             greenchan::preempt_point(); // yields once the time slice is used up
///         }
///     }
///     x
/// });
/// assert_eq!(h.join().unwrap(), 499_999_500_000);
/// ```
pub mod preempt {
    pub use green::preempt::*;
}

pub use select::{select, select_biased, Select, SelectedOperation};

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

/// The README's examples, compiled and run as doc tests so they cannot go stale.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
