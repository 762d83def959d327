//! A TCP echo server and its clients, all coroutines, in plain blocking code: the server
//! accepts in a loop and serves each connection in a coroutine of its own; 100 clients each
//! send lines and check the echo. A read timeout shows how a stalled peer is noticed. The
//! program ends by itself once every client is done.
//!
//! `cargo run --release --example echo`

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::time::{Duration, Instant};

use greenchan::go;
use greenchan::net::{TcpListener, TcpStream};

const CLIENTS: usize = 100;
const LINES: usize = 100;

fn serve(conn: TcpStream) {
    let _ = conn.set_nodelay(true);
    let mut buf = [0u8; 4096];
    let mut conn = conn;
    loop {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => return, // the client hung up (or vanished)
            Ok(n) => {
                if conn.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
        }
    }
}

fn client(id: usize, addr: std::net::SocketAddr) -> std::io::Result<usize> {
    let stream = TcpStream::connect(addr)?;
    stream.set_nodelay(true)?;
    // `&TcpStream` reads and writes too: one handle writes, a buffered one reads.
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    for i in 0..LINES {
        let sent = format!("client {id} line {i}\n");
        (&stream).write_all(sent.as_bytes())?;
        line.clear();
        reader.read_line(&mut line)?;
        assert_eq!(line, sent);
    }
    Ok(LINES)
}

fn main() {
    let start = Instant::now();
    let echoed = greenchan::run(|| {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().unwrap();
        println!("echo server on {addr}");
        go!(move || {
            for conn in listener.incoming() {
                match conn {
                    Ok(conn) => {
                        go!(move || serve(conn));
                    }
                    // e.g. EMFILE: report it and keep serving.
                    Err(e) => eprintln!("accept: {e}"),
                }
            }
        });

        let clients: Vec<_> = (0..CLIENTS)
            .map(|id| go!(move || client(id, addr)))
            .collect();
        let lines: usize = clients
            .into_iter()
            .map(|c| c.join().expect("client panicked").expect("client I/O"))
            .sum();

        // A peer that accepts nothing and says nothing: the read timeout turns the stall
        // into an error (`WouldBlock`, as a std socket's timeout does on Linux).
        let mute = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut silent = TcpStream::connect(mute.local_addr().unwrap()).unwrap();
        silent
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let err = silent.read(&mut [0; 1]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::WouldBlock);
        println!("a silent peer timed out after 50 ms: {err}");
        lines
    });
    println!(
        "{CLIENTS} clients echoed {echoed} lines in {:.1} ms",
        start.elapsed().as_secs_f64() * 1e3
    );
}
