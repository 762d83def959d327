//! The listen backlog: listeners queue as many connections as the system allows
//! (`somaxconn`), as Go's do, instead of std's 128, and `bind_with_backlog` sets it.
//!
//! The burst test opens 5,000 connections at once against a greenchan echo server and checks
//! that every one is served: with std's backlog of 128 the kernel's accept queue overflows
//! during the burst and clients see resets or give up. The other tests fill a queue that
//! nobody accepts from, which shows the backlog in force without any timing: a queue holds
//! `backlog + 1` connections on Linux, and a connection that does not fit is not made.
//!
//! In a test binary of its own: the burst raises the process's descriptor limit and holds
//! 10,000 descriptors.

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use netpoll::{TcpListener, UnixListener};

/// Connections in the burst (each holds two descriptors in this process).
const BURST: usize = 5_000;
/// Client threads; each opens its share of the burst back to back, holding them all open.
/// Enough to connect faster than a 128-connection queue drains; few enough that the server
/// gets its share of a loaded machine's CPUs and keeps well within `somaxconn`.
const CLIENT_THREADS: usize = 8;
/// How long one client's connect may take: several SYN retransmissions (1 s, 3 s, 7 s...)
/// on a loaded machine, never a hang.
const CONNECT_BOUND: Duration = Duration::from_secs(20);
/// How long a client waits for its echo.
const ECHO_BOUND: Duration = Duration::from_secs(60);
/// Descriptors kept free for the runtime, the test harness, the libraries and the other
/// tests of this binary (a few hundred).
const SPARE_FDS: u64 = 1024;

/// The tests of this file run one at a time. Run beside the others, the burst lost a few
/// connections (SYNs retransmitted after a second) in about one run in six on the 2-core
/// development machine (6 of 25 runs on 2026-12-08), and none in 15 runs serialized or 12 run
/// alone: what the burst shows is the queue's length, not how the server fares against
/// neighbours that open and fill queues of their own at the same moment.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Raises the soft descriptor limit towards the hard one, as far as `wanted`; returns the
/// limit now in force.
fn raise_fd_limit(wanted: u64) -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit fills the struct we pass.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
    if lim.rlim_cur < wanted {
        lim.rlim_cur = wanted.min(lim.rlim_max);
        // SAFETY: setrlimit with a valid struct, raising the soft limit within the hard one;
        // descriptors are process-wide, and a higher limit only lets more be opened.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) }, 0);
    }
    lim.rlim_cur
}

/// The burst's size within the descriptor limit: `BURST`, or fewer where the hard limit is
/// too low (said on stderr).
fn burst_size() -> usize {
    let limit = raise_fd_limit(2 * BURST as u64 + SPARE_FDS);
    let fits = (limit.saturating_sub(SPARE_FDS) / 2) as usize;
    if fits < BURST {
        eprintln!(
            "descriptor hard limit {limit}: the burst is scaled down to {fits} connections \
             (raise `ulimit -Hn` to {} for the full {BURST})",
            2 * BURST as u64 + SPARE_FDS
        );
    }
    fits.min(BURST)
}

/// A greenchan echo server for `n` connections of 8 bytes each: an acceptor coroutine, a
/// coroutine per connection.
fn serve(rt: &green::Runtime, listener: TcpListener, n: usize) -> green::JoinHandle<usize> {
    rt.spawn(move || {
        let served = Arc::new(AtomicUsize::new(0));
        let mut handlers = Vec::with_capacity(n);
        for _ in 0..n {
            let (mut s, _) = match listener.accept() {
                Ok(c) => c,
                Err(e) => panic!("accept failed: {e}"),
            };
            let served = served.clone();
            handlers.push(green::spawn(move || {
                let mut buf = [0u8; 8];
                if s.read_exact(&mut buf).is_ok() && s.write_all(&buf).is_ok() {
                    served.fetch_add(1, Ordering::Relaxed);
                }
            }));
        }
        for h in handlers {
            h.join().unwrap();
        }
        served.load(Ordering::Relaxed)
    })
    .unwrap()
}

/// Segments the kernel retransmitted on this connection. Read right after `connect`, it counts
/// SYNs: on loopback, where nothing is lost in transit, a SYN goes unanswered only when the
/// listener's queue is full and the kernel drops it; the client then retransmits it after
/// the initial timeout of 1 s (then 3 s, 7 s...), a stall a client bounded below that gives
/// up on.
#[cfg(target_os = "linux")]
fn retransmissions(s: &std::net::TcpStream) -> u32 {
    use std::os::fd::AsRawFd;
    // SAFETY: tcp_info is plain integers; all zeros is a valid value.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `info`, which has that many, on a
    // descriptor `s` keeps open for the call.
    let rc = unsafe {
        libc::getsockopt(
            s.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut info as *mut libc::tcp_info).cast(),
            &mut len,
        )
    };
    assert_eq!(rc, 0, "TCP_INFO: {}", std::io::Error::last_os_error());
    info.tcpi_total_retrans
}

#[cfg(not(target_os = "linux"))]
fn retransmissions(_: &std::net::TcpStream) -> u32 {
    0
}

/// Opens `n` connections to `addr` from plain threads with std sockets, all held open at
/// once, then has each echo its id. Returns how many connections failed, by kind: an error,
/// or a SYN the listener dropped (the client got through only by retransmitting it, after a
/// stall of a second or more).
fn burst(addr: SocketAddr, n: usize) -> HashMap<String, usize> {
    let failures = Arc::new(Mutex::new(HashMap::<String, usize>::new()));
    let fail = {
        let failures = failures.clone();
        move |what: String| *failures.lock().unwrap().entry(what).or_default() += 1
    };
    let threads: Vec<_> = (0..CLIENT_THREADS)
        .map(|t| {
            let fail = fail.clone();
            std::thread::spawn(move || {
                let ids: Vec<usize> = (t..n).step_by(CLIENT_THREADS).collect();
                let mut open = Vec::with_capacity(ids.len());
                // First every connect, back to back: the burst.
                for id in ids {
                    match std::net::TcpStream::connect_timeout(&addr, CONNECT_BOUND) {
                        Ok(s) if retransmissions(&s) > 0 => {
                            fail("SYN dropped by the listener, retransmitted".into())
                        }
                        Ok(s) => open.push((id, s)),
                        Err(e) => fail(format!("connect: {:?}", e.kind())),
                    }
                }
                // Then every echo.
                for (id, s) in &mut open {
                    s.set_read_timeout(Some(ECHO_BOUND)).unwrap();
                    s.set_write_timeout(Some(ECHO_BOUND)).unwrap();
                    let msg = (*id as u64).to_le_bytes();
                    if let Err(e) = s.write_all(&msg) {
                        fail(format!("write: {:?}", e.kind()));
                        continue;
                    }
                    let mut back = [0u8; 8];
                    match s.read_exact(&mut back) {
                        Ok(()) if back != msg => fail("echo: wrong bytes".into()),
                        Ok(()) => {}
                        Err(e) => fail(format!("read: {:?}", e.kind())),
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let failures = failures.lock().unwrap().clone();
    failures
}

/// Serves a burst on `listener`; returns the failures and the connections served.
fn burst_against(listener: TcpListener, n: usize) -> (HashMap<String, usize>, usize) {
    let rt = green::Runtime::builder().build().unwrap();
    let addr = listener.local_addr().unwrap();
    let server = serve(&rt, listener, n);
    let failures = burst(addr, n);
    let lost: usize = failures.values().sum();
    // Every connection that was not lost was served; the acceptor saw them all unless some
    // connects failed outright, so join it only when none did.
    let served = if failures.keys().any(|k| k.starts_with("connect")) {
        n - lost
    } else {
        server.join().unwrap()
    };
    rt.shutdown().unwrap();
    (failures, served)
}

#[test]
fn a_burst_of_five_thousand_connects_loses_none() {
    let _serial = serial();
    let n = burst_size();
    let (failures, served) = burst_against(TcpListener::bind("127.0.0.1:0").unwrap(), n);
    let lost: usize = failures.values().sum();
    assert_eq!(
        lost, 0,
        "{lost} of {n} connections were lost ({failures:?}); with std's backlog of 128 the \
         accept queue overflows in a burst"
    );
    assert_eq!(served, n);
}

/// What the test above guards against, for the record (`--ignored` to run it): the same burst
/// against std's backlog of 128 loses hundreds to thousands of handshakes. Not run by default,
/// because how many depends on how the machine schedules the burst.
#[test]
#[ignore = "demonstrates the failure the default backlog prevents"]
fn with_stds_backlog_the_burst_loses_connections() {
    let _serial = serial();
    let n = burst_size();
    let listener = TcpListener::bind_with_backlog("127.0.0.1:0", 128).unwrap();
    let (failures, _) = burst_against(listener, n);
    let lost: usize = failures.values().sum();
    eprintln!("backlog 128: {lost} of {n} lost: {failures:?}");
    assert!(lost > 0, "no connection was lost with a backlog of 128");
}

/// Connects to `addr` until one does not complete within `bound` (its SYN dropped by a full
/// queue), at most `max` times; returns the connections made, kept open.
fn fill_tcp_queue(addr: SocketAddr, max: usize, bound: Duration) -> Vec<std::net::TcpStream> {
    let mut made = Vec::new();
    while made.len() < max {
        match std::net::TcpStream::connect_timeout(&addr, bound) {
            Ok(s) => made.push(s),
            Err(e) => {
                assert!(
                    matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock),
                    "a connect to a full queue waits, it does not fail: {e}"
                );
                break;
            }
        }
    }
    made
}

#[test]
fn bind_with_backlog_sets_the_queue_length() {
    let _serial = serial();
    const BACKLOG: u32 = 3;
    let listener = TcpListener::bind_with_backlog("127.0.0.1:0", BACKLOG).unwrap();
    let addr = listener.local_addr().unwrap();
    // Nothing accepts: Linux queues backlog + 1 handshakes, then drops further SYNs, so the
    // next connect does not complete (its retransmission at 1 s finds the queue still full).
    let made = fill_tcp_queue(addr, 50, Duration::from_millis(2500));
    assert!(
        made.len() <= BACKLOG as usize + 1,
        "{} connections completed to a listener with a backlog of {BACKLOG}",
        made.len()
    );
    // The queued ones are accepted all the same (each `accept` waits for its connection).
    for _ in 0..made.len() {
        let (_, peer) = listener.accept().unwrap();
        assert!(made.iter().any(|m| m.local_addr().unwrap() == peer));
    }
}

#[test]
fn bind_queues_more_than_std_would() {
    let _serial = serial();
    // 200 connections wait unaccepted in a plain `bind` listener's queue: more than std's
    // 128 + 1 would hold (there, the 130th connect would not complete).
    const QUEUED: usize = 200;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let made = fill_tcp_queue(listener.local_addr().unwrap(), QUEUED, CONNECT_BOUND);
    assert_eq!(
        made.len(),
        QUEUED,
        "the queue filled up after {}",
        made.len()
    );
}

fn socket_path(name: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("netpoll-{name}-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

/// Non-blocking connects to `path` until one finds the queue full (`WouldBlock`), at most
/// `max`; returns the connections made, kept open.
fn fill_unix_queue(path: &std::path::Path, max: usize) -> Vec<mio::net::UnixStream> {
    let mut made = Vec::new();
    while made.len() < max {
        match mio::net::UnixStream::connect(path) {
            Ok(s) => made.push(s),
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) => panic!("connect: {e}"),
        }
    }
    made
}

#[test]
fn unix_listeners_take_the_backlog_too() {
    let _serial = serial();
    let path = socket_path("backlog-small");
    let small = UnixListener::bind_with_backlog(&path, 3).unwrap();
    assert_eq!(fill_unix_queue(&path, 50).len(), 3 + 1);
    drop(small);
    std::fs::remove_file(&path).unwrap();

    let path = socket_path("backlog-default");
    let _default = UnixListener::bind(&path).unwrap();
    // More than std's 128 + 1.
    assert_eq!(fill_unix_queue(&path, 200).len(), 200);
    std::fs::remove_file(&path).unwrap();
}
