//! A std socket's read timeout, read from a coroutine (issue 10). A blocking `recv` with
//! `SO_RCVTIMEO` is not restarted after a signal handler runs: a signal sent to the worker
//! (asynchronous preemption's SIGURG) ends it early with `EINTR`, which std's `read` returns as
//! `Interrupted`. Checks, with default settings on 1 and 2 workers: reads from a std
//! `TcpStream` on a loopback connection whose peer sends nothing, with a 1 s read timeout, end
//! with `WouldBlock` or `TimedOut` after about a second (at least 0.9 s: the timeout itself is
//! the behaviour checked), never with `Interrupted`. Two readers run at once, so one of them is
//! on a worker (or spare thread) that the other's blocking read does not hold.
//!
//! Fails on e8d6a5b (the scheduler before issue 10, which preempted coroutines with SIGURG after
//! 10 ms slices and moved started coroutines between workers; this file run there in a debug
//! build, with only `Runtime::run` renamed to its name then, `block_on`):
//! - 1 and 2 workers: 2 runs of 2 each fail: the read ends with `Interrupted` after about
//!   15 ms (the preemption signal, 10 ms into the coroutine's slice, plus the monitor's tick);
//! - with `GREENCHAN_ASYNCPREEMPT=0`: passes.

use std::io::{ErrorKind, Read};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use greenchan::go;
use greenchan_soundness::{child, on_fresh_runtime};

const READERS: usize = 2;
const TIMEOUT: Duration = Duration::from_secs(1);

fn scenario(workers: usize) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut peers = Vec::new();
    let mut streams = Vec::new();
    for _ in 0..READERS {
        streams.push(TcpStream::connect(addr).unwrap());
        peers.push(listener.accept().unwrap().0); // kept open, never writes
    }
    let results = on_fresh_runtime(workers, move || {
        let handles: Vec<_> = streams
            .into_iter()
            .map(|mut s| {
                go!(move || {
                    s.set_read_timeout(Some(TIMEOUT)).unwrap();
                    let start = Instant::now();
                    let mut buf = [0u8; 16];
                    let r = s.read(&mut buf);
                    (r.map_err(|e| e.kind()), start.elapsed())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .collect::<Vec<_>>()
    });
    drop(peers);
    for (r, elapsed) in results {
        match r {
            Err(ErrorKind::WouldBlock | ErrorKind::TimedOut) => assert!(
                elapsed >= TIMEOUT.mul_f64(0.9),
                "the read timed out after {elapsed:?}, before its {TIMEOUT:?} timeout"
            ),
            other => panic!("the read ended with {other:?} after {elapsed:?}, not a timeout"),
        }
    }
}

#[test]
fn std_socket_read_timeout_1_worker() {
    child("std_socket_read_timeout_1_worker", || scenario(1));
}

#[test]
fn std_socket_read_timeout_2_workers() {
    child("std_socket_read_timeout_2_workers", || scenario(2));
}
