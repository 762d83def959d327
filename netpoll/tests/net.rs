//! Behaviour of the netpoll sockets in both contexts: coroutines on explicit runtimes and
//! plain std threads, and across them. Every wait is on an event, bounded generously.

use std::io::{ErrorKind, Read, Write};
use std::net::Shutdown;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use netpoll::{TcpListener, TcpStream, UdpSocket, UnixDatagram, UnixListener, UnixStream};

fn runtime(workers: usize) -> green::Runtime {
    green::Runtime::builder().workers(workers).build().unwrap()
}

/// The bytes client `id` sends in round `round`: a length and pattern no other message shares.
fn message(id: usize, round: usize) -> Vec<u8> {
    let len = 1 + (id * 37 + round * 101) % 700;
    (0..len).map(|i| (id * 7 + round * 13 + i) as u8).collect()
}

fn echo(mut s: TcpStream) {
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if s.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
        }
    }
}

#[test]
fn echo_with_many_client_coroutines() {
    const CLIENTS: usize = 200;
    const ROUNDS: usize = 20;
    let rt = runtime(2);
    let checked = rt.run(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = green::spawn(move || {
            let mut conns = Vec::new();
            for _ in 0..CLIENTS {
                let (s, _) = listener.accept().unwrap();
                conns.push(green::spawn(move || echo(s)));
            }
            for c in conns {
                c.join().unwrap();
            }
        });
        let clients: Vec<_> = (0..CLIENTS)
            .map(|id| {
                green::spawn(move || {
                    let mut s = TcpStream::connect(addr).unwrap();
                    let mut bytes = 0;
                    for round in 0..ROUNDS {
                        let msg = message(id, round);
                        s.write_all(&msg).unwrap();
                        let mut back = vec![0; msg.len()];
                        s.read_exact(&mut back).unwrap();
                        assert_eq!(back, msg, "client {id} round {round}");
                        bytes += msg.len();
                    }
                    bytes
                })
            })
            .collect();
        let total: usize = clients.into_iter().map(|c| c.join().unwrap()).sum();
        server.join().unwrap();
        total
    });
    let expected: usize = (0..CLIENTS)
        .flat_map(|id| (0..ROUNDS).map(move |r| message(id, r).len()))
        .sum();
    assert_eq!(checked, expected);
}

#[test]
fn plain_threads_block_like_std() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (s, _) = listener.accept().unwrap();
        echo(s);
    });
    let mut c = TcpStream::connect(addr).unwrap();
    for round in 0..50 {
        let msg = message(1, round);
        c.write_all(&msg).unwrap();
        let mut back = vec![0; msg.len()];
        c.read_exact(&mut back).unwrap();
        assert_eq!(back, msg);
    }
    c.shutdown(Shutdown::Write).unwrap();
    assert_eq!(c.read(&mut [0; 8]).unwrap(), 0);
    server.join().unwrap();
}

#[test]
fn coroutine_server_and_thread_client() {
    let rt = runtime(2);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = rt
        .spawn(move || {
            let (s, _) = listener.accept().unwrap();
            echo(s);
        })
        .unwrap();
    let mut c = TcpStream::connect(addr).unwrap();
    for round in 0..50 {
        let msg = message(2, round);
        c.write_all(&msg).unwrap();
        let mut back = vec![0; msg.len()];
        c.read_exact(&mut back).unwrap();
        assert_eq!(back, msg);
    }
    drop(c);
    server.join().unwrap();
}

#[test]
fn thread_server_and_coroutine_client() {
    let rt = runtime(2);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = [0u8; 4096];
        loop {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => s.write_all(&buf[..n]).unwrap(),
            }
        }
    });
    rt.run(move || {
        let mut c = TcpStream::connect(addr).unwrap();
        for round in 0..50 {
            let msg = message(3, round);
            c.write_all(&msg).unwrap();
            let mut back = vec![0; msg.len()];
            c.read_exact(&mut back).unwrap();
            assert_eq!(back, msg);
        }
    });
    server.join().unwrap();
}

/// A connected pair: (client, server side).
fn pair() -> (TcpStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (s, _) = l.accept().unwrap();
    (c, s)
}

fn check_timeouts() {
    let (mut c, s) = pair();
    let t = Duration::from_millis(30);
    c.set_read_timeout(Some(t)).unwrap();
    let start = Instant::now();
    let err = c.read(&mut [0; 8]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::WouldBlock, "{err}");
    assert!(start.elapsed() >= t);
    // Data that arrives in time is read (in time: a loaded machine may deliver loopback
    // data late, so the bound is generous here).
    c.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    (&s).write_all(b"late").unwrap();
    let mut buf = [0; 4];
    c.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"late");
    c.set_read_timeout(Some(t)).unwrap();

    // Nobody reads `s`: writes fill the buffers and then time out.
    c.set_write_timeout(Some(t)).unwrap();
    let chunk = vec![7u8; 64 << 10];
    let err = loop {
        if let Err(e) = c.write(&chunk) {
            break e;
        }
    };
    assert_eq!(err.kind(), ErrorKind::WouldBlock, "{err}");
    for zero in [
        c.set_read_timeout(Some(Duration::ZERO)),
        c.set_write_timeout(Some(Duration::ZERO)),
    ] {
        assert_eq!(zero.unwrap_err().kind(), ErrorKind::InvalidInput);
    }
    assert_eq!(c.read_timeout().unwrap(), Some(t));
    c.set_read_timeout(None).unwrap();
    assert_eq!(c.read_timeout().unwrap(), None);
    drop(s);
}

#[test]
fn timeouts_fire_with_would_block_on_threads() {
    check_timeouts();
}

#[test]
fn timeouts_fire_with_would_block_in_coroutines() {
    runtime(2).run(check_timeouts);
}

fn check_nonblocking() {
    let (mut c, s) = pair();
    c.set_nonblocking(true).unwrap();
    assert_eq!(
        c.read(&mut [0; 4]).unwrap_err().kind(),
        ErrorKind::WouldBlock
    );
    (&s).write_all(b"now").unwrap();
    // Poll until it arrives, as a non-blocking user would.
    let deadline = Instant::now() + Duration::from_secs(20);
    let n = loop {
        match c.read(&mut [0; 4]) {
            Ok(n) => break n,
            Err(e) if e.kind() == ErrorKind::WouldBlock && Instant::now() < deadline => {
                green::yield_now()
            }
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!(n, 3);
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.set_nonblocking(true).unwrap();
    assert_eq!(l.accept().unwrap_err().kind(), ErrorKind::WouldBlock);
    c.set_nonblocking(false).unwrap();
    (&s).write_all(b"x").unwrap();
    assert_eq!(c.read(&mut [0; 4]).unwrap(), 1);
}

#[test]
fn nonblocking_mode_gives_would_block() {
    check_nonblocking();
    runtime(1).run(check_nonblocking);
}

#[test]
fn shutdown_write_gives_eof_to_a_parked_reader() {
    let rt = runtime(2);
    let (c, s) = pair();
    let reader = rt
        .spawn(move || {
            let mut s = s;
            let mut all = Vec::new();
            s.read_to_end(&mut all).unwrap();
            all
        })
        .unwrap();
    (&c).write_all(b"last words").unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    assert_eq!(reader.join().unwrap(), b"last words");
}

#[test]
fn peer_reset_is_an_error() {
    let rt = runtime(2);
    let (c, s) = pair();
    let reader = rt
        .spawn(move || {
            let mut s = s;
            let mut buf = [0; 16];
            let first = s.read(&mut buf);
            // Then writing to the dead connection fails too (no SIGPIPE, no panic).
            let mut write_err = None;
            for _ in 0..100 {
                if let Err(e) = s.write(b"anyone?") {
                    write_err = Some(e);
                    break;
                }
            }
            (first, write_err)
        })
        .unwrap();
    // SO_LINGER with a zero timeout: close sends RST instead of FIN.
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    use std::os::fd::AsRawFd;
    // SAFETY: a valid socket and a valid `linger` of the size given.
    let r = unsafe {
        libc::setsockopt(
            c.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            &linger as *const libc::linger as *const libc::c_void,
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(r, 0);
    drop(c);
    let (first, write_err) = reader.join().unwrap();
    let err = first.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionReset, "{err}");
    let err = write_err.expect("writes to a reset connection fail");
    assert!(
        matches!(
            err.kind(),
            ErrorKind::BrokenPipe | ErrorKind::ConnectionReset
        ),
        "{err}"
    );
}

#[test]
fn connect_refused_and_zero_timeout_are_errors() {
    // A port that was just free: nobody listens there.
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let err = runtime(1)
        .run(move || TcpStream::connect(addr))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
    let err = TcpStream::connect_timeout(&addr, Duration::from_secs(10)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
    let err = TcpStream::connect_timeout(&addr, Duration::ZERO).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
}

#[test]
fn a_reader_and_a_writer_wait_on_one_socket() {
    let rt = runtime(2);
    let (c, s) = pair();
    let c2 = c.try_clone().unwrap();
    // The writer blocks on a full buffer while the reader blocks on an empty one.
    let total = 4 << 20;
    let writer = rt
        .spawn(move || {
            let chunk = vec![1u8; 64 << 10];
            let mut sent = 0;
            while sent < total {
                sent += (&c)
                    .write(&chunk[..(total - sent).min(chunk.len())])
                    .unwrap();
            }
        })
        .unwrap();
    let reader = rt
        .spawn(move || {
            let mut buf = [0u8; 16];
            (&c2).read_exact(&mut buf).unwrap();
            buf
        })
        .unwrap();
    let echo_back = rt
        .spawn(move || {
            let mut got = 0;
            let mut buf = vec![0u8; 64 << 10];
            while got < total {
                let n = (&s).read(&mut buf).unwrap();
                assert!(buf[..n].iter().all(|&b| b == 1));
                got += n;
            }
            (&s).write_all(&[9u8; 16]).unwrap();
            got
        })
        .unwrap();
    writer.join().unwrap();
    assert_eq!(echo_back.join().unwrap(), total);
    assert_eq!(reader.join().unwrap(), [9u8; 16]);
}

#[test]
fn udp_round_trip() {
    let rt = runtime(2);
    let server = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = server.local_addr().unwrap();
    let echo = rt
        .spawn(move || {
            let mut buf = [0u8; 1500];
            for _ in 0..100 {
                let (n, from) = server.recv_from(&mut buf).unwrap();
                server.send_to(&buf[..n], from).unwrap();
            }
        })
        .unwrap();
    let client = rt
        .spawn(move || {
            let s = UdpSocket::bind("127.0.0.1:0").unwrap();
            s.connect(addr).unwrap();
            // One datagram in flight at a time, which loopback does not drop; the bound only
            // turns a lost wake-up into a failure instead of a hang.
            s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
            for i in 0..100u32 {
                let msg = i.to_le_bytes();
                s.send(&msg).unwrap();
                let mut buf = [0u8; 8];
                let n = s.recv(&mut buf).unwrap();
                assert_eq!(&buf[..n], &msg);
            }
        })
        .unwrap();
    client.join().unwrap();
    echo.join().unwrap();
}

#[test]
fn unix_stream_listener_and_datagram() {
    let dir = std::env::temp_dir();
    let path = dir.join(format!("netpoll-test-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path).unwrap();
    let rt = runtime(2);
    let server = rt
        .spawn(move || {
            let mut conns = Vec::new();
            for s in listener.incoming().take(10) {
                let mut s = s.unwrap();
                conns.push(green::spawn(move || {
                    let mut buf = [0u8; 1024];
                    loop {
                        match s.read(&mut buf) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => s.write_all(&buf[..n]).unwrap(),
                        }
                    }
                }));
            }
            for c in conns {
                c.join().unwrap();
            }
        })
        .unwrap();
    let clients: Vec<_> = (0..10)
        .map(|id| {
            let path = path.clone();
            let client = move || {
                let mut s = UnixStream::connect(&path).unwrap();
                for round in 0..20 {
                    let msg = message(id, round);
                    s.write_all(&msg).unwrap();
                    let mut back = vec![0; msg.len()];
                    s.read_exact(&mut back).unwrap();
                    assert_eq!(back, msg);
                }
            };
            // Half the clients are coroutines, half plain threads.
            if id % 2 == 0 {
                let h = rt.spawn(client).unwrap();
                Box::new(move || h.join().unwrap()) as Box<dyn FnOnce()>
            } else {
                let t = std::thread::spawn(client);
                Box::new(move || t.join().unwrap())
            }
        })
        .collect();
    for c in clients {
        c();
    }
    server.join().unwrap();
    std::fs::remove_file(&path).unwrap();

    let (a, b) = UnixDatagram::pair().unwrap();
    let h = rt
        .spawn(move || {
            let mut buf = [0; 64];
            let n = b.recv(&mut buf).unwrap();
            b.send(&buf[..n]).unwrap();
        })
        .unwrap();
    a.send(b"datagram").unwrap();
    let mut buf = [0; 64];
    let n = a.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"datagram");
    h.join().unwrap();
}

/// On one worker, a coroutine parked on a read is woken by data that arrives while another
/// coroutine keeps the worker busy: the busy worker's periodic poll sees it.
#[test]
fn one_worker_sees_io_while_busy() {
    let rt = runtime(1);
    let (c, s) = pair();
    let done = Arc::new(AtomicBool::new(false));
    let flag = done.clone();
    let reader = rt
        .spawn(move || {
            let mut buf = [0; 5];
            (&s).read_exact(&mut buf).unwrap();
            flag.store(true, Ordering::SeqCst);
            buf
        })
        .unwrap();
    let flag = done.clone();
    let started = Arc::new(AtomicBool::new(false));
    let spinning = started.clone();
    let spinner = rt
        .spawn(move || {
            // The reader ran first (one worker, FIFO) and is parked in `read` by now.
            spinning.store(true, Ordering::SeqCst);
            let deadline = Instant::now() + Duration::from_secs(30);
            while !flag.load(Ordering::SeqCst) {
                assert!(Instant::now() < deadline, "the reader was never woken");
                // Never idle: the worker always has this coroutine to run again.
                green::yield_now();
            }
        })
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !started.load(Ordering::SeqCst) {
        assert!(Instant::now() < deadline, "the spinner never started");
        std::thread::yield_now();
    }
    (&c).write_all(b"hello").unwrap();
    assert_eq!(&reader.join().unwrap(), b"hello");
    spinner.join().unwrap();
}

/// On one idle worker, the worker itself sleeps in the poller and wakes for the data.
#[test]
fn one_idle_worker_polls() {
    let rt = runtime(1);
    let (c, s) = pair();
    let reader = rt
        .spawn(move || {
            let mut buf = [0; 3];
            (&s).read_exact(&mut buf).unwrap();
            buf
        })
        .unwrap();
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(10));
        (&c).write_all(b"x").unwrap();
    }
    assert_eq!(&reader.join().unwrap(), b"xxx");
    // Timers still fire while the worker waits in the poller.
    let start = Instant::now();
    rt.run(|| green::sleep(Duration::from_millis(20)));
    assert!(start.elapsed() >= Duration::from_millis(20));
}

/// Worker `i` of every runtime shares poller `i`. When the runtime whose worker holds the poll
/// shuts down, another runtime's idle worker with the same index takes the poll over, so its
/// parked readers still wake.
#[test]
fn poll_survives_the_shutdown_of_another_runtime() {
    for _ in 0..10 {
        let a = runtime(1);
        let b = runtime(1);
        let (ca, sa) = pair();
        let (cb, sb) = pair();
        // Both runtimes get a parked reader, then both fall idle; either may hold the poll.
        let ra = a.spawn(move || (&sa).read(&mut [0; 1])).unwrap();
        let rb = b
            .spawn(move || {
                let mut buf = [0; 2];
                (&sb).read_exact(&mut buf).map(|_| buf)
            })
            .unwrap();
        (&cb).write_all(b"1").unwrap();
        // Not needed for correctness: gives both workers time to fall idle and poll.
        std::thread::sleep(Duration::from_millis(5));
        a.shutdown().unwrap();
        drop(ra);
        (&cb).write_all(b"2").unwrap();
        assert_eq!(&rb.join().unwrap().unwrap(), b"12");
        drop((ca, cb));
    }
}

/// Waits (bounded) until the process's coroutine dump shows `n` coroutines parked on a socket
/// read.
fn until_socket_readers(n: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let dump = green::dump();
        if dump.matches("parked on socket read").count() >= n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{n} socket readers never parked:\n{dump}"
        );
        std::thread::yield_now();
    }
}

/// A socket is registered with the poller of the worker whose coroutine waits on it first, and
/// stays there while coroutines wait on it from elsewhere. When no worker of that index is
/// left in any runtime (its runtime shut down), the socket moves to a poller that has one, so
/// another runtime's parked reader still wakes. (With the move disabled, the reader sleeps
/// forever: nobody polls the orphaned poller.)
#[test]
fn a_socket_moves_off_the_poller_of_a_runtime_that_shut_down() {
    for _ in 0..5 {
        let a = runtime(2);
        let b = runtime(1);
        let (c, s) = pair();
        let s = Arc::new(s);
        // A reader on a's worker 1 (index 1, which b has not): coroutines are spawned until
        // one starts there; the others end at once.
        let (tx, rx) = std::sync::mpsc::channel();
        let mut tries = 0;
        loop {
            let (s, tx) = (s.clone(), tx.clone());
            let h = a
                .spawn(move || {
                    let index = green::driver::current_poller();
                    tx.send(index).unwrap();
                    if index == Some(1) {
                        let _ = (&*s).read(&mut [0; 1]);
                    }
                })
                .unwrap();
            if rx.recv_timeout(Duration::from_secs(30)).unwrap() == Some(1) {
                drop(h);
                break;
            }
            h.join().unwrap();
            tries += 1;
            assert!(
                tries < 10_000,
                "no coroutine of a 2-worker runtime ran on worker 1"
            );
        }
        until_socket_readers(1);
        // b's reader joins it: the socket stays with poller 1.
        let (s2, (done_tx, done)) = (s.clone(), std::sync::mpsc::channel());
        let reader = b
            .spawn(move || {
                let mut buf = [0; 1];
                done_tx
                    .send((&*s2).read_exact(&mut buf).map(|_| buf))
                    .unwrap();
            })
            .unwrap();
        until_socket_readers(2);
        a.shutdown().unwrap();
        (&c).write_all(b"x").unwrap();
        let got = done.recv_timeout(Duration::from_secs(30));
        assert_eq!(&got.expect("the reader was never woken").unwrap(), b"x");
        reader.join().unwrap();
    }
}

/// The data and the end of the stream arrive together, in one event, for a parked reader: its
/// first read returns the data, shorter than its buffer. A short read usually means the
/// socket is drained, so the reader's next read parks before trying the syscall; but here the
/// end of the stream is still there to read, and no edge will come for it. The next read must
/// see it (the event said the peer had hung up), not park forever.
#[test]
fn data_and_end_of_stream_in_one_event_reach_the_reader() {
    for workers in [1, 2] {
        let rt = runtime(workers);
        let (c, s) = pair();
        let (done_tx, done) = std::sync::mpsc::channel();
        let reader = rt
            .spawn(move || {
                let mut s = s;
                let mut all = Vec::new();
                done_tx.send(s.read_to_end(&mut all).map(|_| all)).unwrap();
            })
            .unwrap();
        until_socket_readers(1);
        // Both from a coroutine, which does not switch between them: the reader's worker (the
        // only one, with one worker) polls them in one event.
        rt.spawn(move || {
            (&c).write_all(b"last words").unwrap();
            c.shutdown(Shutdown::Write).unwrap();
        })
        .unwrap()
        .join()
        .unwrap();
        let got = done.recv_timeout(Duration::from_secs(30));
        assert_eq!(
            got.expect("the reader never saw the end").unwrap(),
            b"last words"
        );
        reader.join().unwrap();
    }
}

/// Spawns coroutines on `rt` until one starts on worker `index`, which then runs `f`; the
/// others end at once. Returns that one's handle.
fn spawn_on<T: Send + 'static>(
    rt: &green::Runtime,
    index: usize,
    f: impl FnOnce() -> T + Send + Clone + 'static,
) -> green::JoinHandle<Option<T>> {
    for _ in 0..10_000 {
        let (tx, rx) = std::sync::mpsc::channel();
        let f = f.clone();
        let h = rt
            .spawn(move || {
                let here = green::driver::current_poller() == Some(index);
                tx.send(here).unwrap();
                here.then(f)
            })
            .unwrap();
        if rx.recv_timeout(Duration::from_secs(30)).unwrap() {
            return h;
        }
        h.join().unwrap();
    }
    panic!("no coroutine of the runtime started on worker {index}");
}

/// A socket waited on from two workers stays with the poller of the first; when that worker
/// is stuck in a coroutine that makes no runtime calls, the monitor polls its poller, so the
/// other worker's reader still gets its data. (Without that rescue it waits until the stuck
/// coroutine ends.)
#[test]
fn a_stuck_workers_poller_is_polled_for_the_others() {
    let rt = runtime(2);
    let (c, s) = pair();
    let s = Arc::new(s);
    let s1 = s.clone();
    let first = spawn_on(&rt, 1, move || (&*s1).read(&mut [0; 1]).unwrap());
    until_socket_readers(1);
    let (s0, (got_tx, got)) = (s.clone(), std::sync::mpsc::channel());
    let second = spawn_on(&rt, 0, move || {
        got_tx.send((&*s0).read(&mut [0; 1]).unwrap()).unwrap();
    });
    until_socket_readers(2);
    let release = Arc::new(AtomicBool::new(false));
    let r = release.clone();
    let stuck = spawn_on(&rt, 1, move || {
        while !r.load(Ordering::Relaxed) {
            std::hint::spin_loop();
        }
    });
    (&c).write_all(b"x").unwrap();
    let n = got.recv_timeout(Duration::from_secs(30));
    release.store(true, Ordering::Relaxed);
    assert_eq!(
        n.expect("the reader on the other worker was never woken"),
        1
    );
    drop(c); // the first reader, woken too, reads the end of the stream
    assert!(matches!(first.join().unwrap(), Some(0 | 1)));
    second.join().unwrap();
    stuck.join().unwrap();
}

/// Connections accepted one at a time by a coroutine start on both workers: the acceptor
/// parks on I/O between them, so what it spawned is left to the idle worker for a moment
/// rather than started next to it (where it would stay). Without that, every connection's
/// coroutine starts on the acceptor's worker. Each attempt opens the connections one by one,
/// each after the previous one's coroutine has started; a loaded machine may not give the
/// idle worker a core in time, so one attempt in five must see at least a quarter of the
/// connections on each worker.
#[test]
fn accepted_connections_start_on_both_workers() {
    const CONNS: usize = 20;
    let mut counts = Vec::new();
    for _ in 0..5 {
        let rt = runtime(2);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let acceptor = rt
            .spawn(move || {
                for _ in 0..CONNS {
                    let (s, _) = listener.accept().unwrap();
                    let tx = tx.clone();
                    green::spawn(move || {
                        tx.send(green::driver::current_poller()).unwrap();
                        let _ = (&s).read(&mut [0; 1]); // until the client closes
                    });
                }
            })
            .unwrap();
        let mut clients = Vec::new();
        let mut on = [0usize; 2];
        for _ in 0..CONNS {
            clients.push(std::net::TcpStream::connect(addr).unwrap());
            let index = rx.recv_timeout(Duration::from_secs(30)).unwrap();
            on[index.expect("a connection's coroutine runs on a worker")] += 1;
        }
        acceptor.join().unwrap();
        drop(clients);
        counts.push(on);
        if on.iter().all(|&n| n >= CONNS / 4) {
            return;
        }
    }
    panic!("connections per worker, in five attempts: {counts:?}");
}
