//! An HTTP/1.1 server with keep-alive and pipelining, a coroutine per connection, in plain
//! blocking code over `greenchan::net` and the `httparse` crate. `/` answers "Hello, World!"
//! (the plaintext benchmark's response) to any method; any other path is a 404.
//!
//! ```sh
//! cargo run --release --example http                    # listens on 127.0.0.1:8080
//! cargo run --release --example http -- 127.0.0.1:0     # any free port; the address is printed
//! wrk -t2 -c50 -d5s http://127.0.0.1:8080/
//! ```
//!
//! It runs until killed.

use std::io::{self, Read, Write};
use std::time::Duration;

use greenchan::go;
use greenchan::net::{TcpListener, TcpStream};

/// The most headers a request may carry, and the largest request head, before it is refused.
const MAX_HEADERS: usize = 32;
const MAX_HEAD: usize = 8 << 10;

fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8080".to_owned());
    greenchan::run(move || {
        let listener = TcpListener::bind(&addr).unwrap_or_else(|e| {
            eprintln!("cannot listen on {addr}: {e}");
            std::process::exit(1);
        });
        println!("listening on http://{}/", listener.local_addr().unwrap());
        serve(listener);
    });
}

/// Accepts connections for ever, serving each in a coroutine of its own.
pub fn serve(listener: TcpListener) {
    for conn in listener.incoming() {
        match conn {
            Ok(conn) => {
                go!(move || {
                    let _ = serve_connection(conn); // a peer that resets is not our problem
                });
            }
            // Out of descriptors (EMFILE) or a connection reset before it was accepted: wait
            // a little and go on, as Go's net/http does.
            Err(e) => {
                eprintln!("accept: {e}");
                greenchan::sleep(Duration::from_millis(5));
            }
        }
    }
}

/// Serves one connection until the client closes it, asks to close it, or sends garbage.
/// Requests that arrive together (pipelined) are answered with one write.
pub fn serve_connection(mut conn: TcpStream) -> io::Result<()> {
    conn.set_nodelay(true)?;
    let mut buf = vec![0u8; 4096];
    let mut filled = 0;
    let mut out = Vec::with_capacity(4096);
    loop {
        let n = conn.read(&mut buf[filled..])?;
        if n == 0 {
            return Ok(()); // the client closed
        }
        filled += n;
        // Answer every complete request in the buffer.
        let mut start = 0;
        let mut close = false;
        while !close {
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut req = httparse::Request::new(&mut headers);
            match req.parse(&buf[start..filled]) {
                Ok(httparse::Status::Complete(head_len)) => {
                    let body_len = content_length(req.headers);
                    if filled - start < head_len + body_len {
                        break; // the body is not all here yet
                    }
                    close = wants_close(&req);
                    respond(&mut out, req.method, req.path, close);
                    start += head_len + body_len;
                }
                Ok(httparse::Status::Partial) => break,
                Err(_) => {
                    out.extend_from_slice(
                        b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    );
                    close = true;
                }
            }
        }
        if !out.is_empty() {
            conn.write_all(&out)?;
            out.clear();
        }
        if close {
            return Ok(());
        }
        // Keep what is left of a partial request at the front of the buffer.
        buf.copy_within(start..filled, 0);
        filled -= start;
        if filled == buf.len() {
            if buf.len() >= MAX_HEAD {
                conn.write_all(b"HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")?;
                return Ok(());
            }
            buf.resize(buf.len() * 2, 0);
        }
    }
}

/// The body length a request announces (0 without `Content-Length`; chunked bodies are not
/// supported by this example and are refused by treating the rest as garbage).
fn content_length(headers: &[httparse::Header<'_>]) -> usize {
    headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
        .and_then(|h| std::str::from_utf8(h.value).ok())
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// HTTP/1.1 keeps the connection open unless told `Connection: close`; HTTP/1.0 closes it
/// unless told `Connection: keep-alive`.
fn wants_close(req: &httparse::Request<'_, '_>) -> bool {
    let connection = req
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("connection"))
        .map(|h| h.value);
    match req.version {
        Some(1) => connection.is_some_and(|v| v.eq_ignore_ascii_case(b"close")),
        _ => !connection.is_some_and(|v| v.eq_ignore_ascii_case(b"keep-alive")),
    }
}

fn respond(out: &mut Vec<u8>, method: Option<&str>, path: Option<&str>, close: bool) {
    let (status, body): (&str, &[u8]) = match (method, path) {
        (Some(_), Some("/")) => ("200 OK", b"Hello, World!"),
        _ => ("404 Not Found", b"Not Found"),
    };
    let connection = if close { "close" } else { "keep-alive" };
    let _ = write!(
        out,
        "HTTP/1.1 {status}\r\nServer: greenchan\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: {connection}\r\n\r\n",
        body.len()
    );
    if method != Some("HEAD") {
        out.extend_from_slice(body);
    }
}
