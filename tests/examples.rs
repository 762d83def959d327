//! Smoke tests of the examples: each example file is compiled into this test as a module and
//! its logic driven in-process. Servers listen on an ephemeral port on 127.0.0.1 and are driven
//! by bounded clients (their accept loops stay parked when the test ends); the others run with
//! small sizes. Every wait is bounded; nothing asserts a timing.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use greenchan::go;

#[allow(dead_code)]
#[path = "../examples/async_bridge.rs"]
mod async_bridge;
#[allow(dead_code)]
#[path = "../examples/cancel.rs"]
mod cancel;
#[allow(dead_code)]
#[path = "../examples/chat.rs"]
mod chat;
#[allow(dead_code)]
#[path = "../examples/http.rs"]
mod http;
#[allow(dead_code)]
#[path = "../examples/rate_limit.rs"]
mod rate_limit;
#[allow(dead_code)]
#[path = "../examples/worker_pool.rs"]
mod worker_pool;

/// Generous bound for any single wait: CI is a loaded 2-core machine.
const BOUND: Duration = Duration::from_secs(60);

fn listener() -> (greenchan::net::TcpListener, SocketAddr) {
    let l = greenchan::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    (l, addr)
}

/// A plain-thread client with bounded reads.
fn connect(addr: SocketAddr) -> TcpStream {
    let c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(BOUND)).unwrap();
    c
}

/// Reads one HTTP response (head and `Content-Length` body); `None` at end of stream.
fn read_response(r: &mut BufReader<TcpStream>) -> Option<(String, String)> {
    let mut status = String::new();
    if r.read_line(&mut status).unwrap() == 0 {
        return None;
    }
    let mut len = 0;
    loop {
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        if line == "\r\n" {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            len = v.trim().parse().unwrap();
        }
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body).unwrap();
    Some((
        status.trim_end().to_owned(),
        String::from_utf8(body).unwrap(),
    ))
}

#[test]
fn http_keep_alive_pipelining_and_close() {
    let (l, addr) = listener();
    go!(move || http::serve(l));

    // Keep-alive: 100 requests on one connection.
    let mut c = connect(addr);
    let mut r = BufReader::new(c.try_clone().unwrap());
    for _ in 0..100 {
        c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let (status, body) = read_response(&mut r).unwrap();
        assert_eq!(status, "HTTP/1.1 200 OK");
        assert_eq!(body, "Hello, World!");
    }
    // Pipelined: ten requests in one write (with a body to skip, and a 404), in order.
    let mut batch = Vec::new();
    for i in 0..10 {
        if i == 5 {
            batch.extend_from_slice(b"GET /missing HTTP/1.1\r\nHost: x\r\n\r\n");
        } else {
            batch.extend_from_slice(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc");
        }
    }
    c.write_all(&batch).unwrap();
    for i in 0..10 {
        let (status, body) = read_response(&mut r).unwrap();
        if i == 5 {
            assert_eq!(status, "HTTP/1.1 404 Not Found");
        } else {
            assert_eq!(
                (status.as_str(), body.as_str()),
                ("HTTP/1.1 200 OK", "Hello, World!")
            );
        }
    }
    // `Connection: close` is honoured: the response, then the end of the stream.
    c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut r).unwrap().1, "Hello, World!");
    assert!(read_response(&mut r).is_none());
    // Garbage gets a 400 and a close.
    let mut c = connect(addr);
    c.write_all(b"\x01\x02 nonsense\r\n\r\n").unwrap();
    let mut r = BufReader::new(c);
    assert_eq!(read_response(&mut r).unwrap().0, "HTTP/1.1 400 Bad Request");
    assert!(read_response(&mut r).is_none());

    // 20 clients at once, each on its own keep-alive connection.
    let clients: Vec<_> = (0..20)
        .map(|_| {
            std::thread::spawn(move || {
                let mut c = connect(addr);
                let mut r = BufReader::new(c.try_clone().unwrap());
                for _ in 0..20 {
                    c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
                    assert_eq!(read_response(&mut r).unwrap().1, "Hello, World!");
                }
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
}

/// Reads lines until one equals `want`; panics at end of stream.
fn expect_line(r: &mut BufReader<TcpStream>, want: &str) {
    loop {
        let mut line = String::new();
        assert!(
            r.read_line(&mut line).unwrap() > 0,
            "connection ended before {want:?}"
        );
        if line.trim_end() == want {
            return;
        }
    }
}

#[test]
fn chat_broadcasts_to_everyone_else() {
    let (l, addr) = listener();
    go!(move || chat::serve(l, BOUND));
    let a = connect(addr);
    let mut ar = BufReader::new(a.try_clone().unwrap());
    expect_line(&mut ar, "welcome, you are guest-1");
    let b = connect(addr);
    let mut br = BufReader::new(b.try_clone().unwrap());
    expect_line(&mut br, "welcome, you are guest-2");
    let mut c = connect(addr);
    let mut cr = BufReader::new(c.try_clone().unwrap());
    expect_line(&mut cr, "welcome, you are guest-3");
    expect_line(&mut ar, "* guest-3 joined");

    c.write_all(b"/name carol\nhello room\n").unwrap();
    expect_line(&mut ar, "carol: hello room");
    expect_line(&mut br, "carol: hello room");
    drop((c, cr));
    expect_line(&mut ar, "* guest-3 left");
    expect_line(&mut br, "* guest-3 left");
}

#[test]
fn chat_drops_idle_clients() {
    let (l, addr) = listener();
    go!(move || chat::serve(l, Duration::from_millis(50)));
    let quiet = connect(addr);
    let mut r = BufReader::new(quiet);
    expect_line(&mut r, "welcome, you are guest-1");
    expect_line(&mut r, "idle for too long, bye");
    let mut rest = String::new();
    assert_eq!(r.read_line(&mut rest).unwrap(), 0, "the server hung up");
}

#[test]
fn worker_pool_does_every_job_once() {
    let numbers: Vec<u64> = (1..2_000).collect();
    let mut got = greenchan::run({
        let numbers = numbers.clone();
        move || worker_pool::pool(numbers, 4)
    });
    got.sort_unstable();
    let want: Vec<(u64, u64)> = numbers.iter().map(|&n| (n, worker_pool::job(n))).collect();
    assert_eq!(got, want);
    assert_eq!(worker_pool::job(27), 111);
}

#[test]
fn cancel_stops_the_whole_tree() {
    // The workers never end on their own, so each return is a cancellation: all nine stop.
    // The subtree cancelled by hand says so, unless the deadline beat the hand (a stalled
    // machine); the others stop at the deadline.
    let report = greenchan::run(|| cancel::search(Duration::from_millis(20), true));
    assert_eq!(report.canceled + report.deadline_exceeded, 9);
    assert!(report.canceled <= 3 && report.deadline_exceeded >= 6);
    let report = greenchan::run(|| cancel::search(Duration::from_millis(1), false));
    assert_eq!(report.deadline_exceeded, 9);
    assert_eq!(report.canceled, 0);
}

#[test]
fn cancel_context_reports_why() {
    greenchan::run(|| {
        let root = cancel::Context::background();
        assert_eq!(root.err(), None);
        let (parent, cancel_parent) = root.with_cancel();
        let (child, _cancel_child) = parent.with_timeout(BOUND);
        assert_eq!(child.err(), None);
        cancel_parent.cancel();
        child.done().recv_timeout(BOUND).unwrap_err(); // closed, not timed out
        assert!(child.done().is_closed());
        assert_eq!(child.err(), Some(cancel::CtxError::Canceled));
        assert_eq!(parent.err(), Some(cancel::CtxError::Canceled));
        assert_eq!(root.err(), None);
    });
}

#[test]
fn rate_limit_serves_every_request_in_order() {
    let served = greenchan::run(|| rate_limit::steady(5, Duration::from_millis(1)));
    assert_eq!(served.len(), 5);
    assert!(served.windows(2).all(|w| w[0] <= w[1]));
    let served = greenchan::run(|| rate_limit::bursty(10, 3, Duration::from_millis(1)));
    assert_eq!(served.len(), 10);
    assert!(served.windows(2).all(|w| w[0] <= w[1]));
}

#[test]
fn async_bridge_demo_runs() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let handle = rt.handle().clone();
    greenchan::run(move || async_bridge::demo(&handle));
}
