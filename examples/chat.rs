//! A TCP chat room: a coroutine per client, one hub coroutine that owns the room and
//! broadcasts through channels, and idle clients dropped by a `select!` with a timeout.
//!
//! ```sh
//! cargo run --release --example chat                          # 127.0.0.1:7000, idle after 60 s
//! cargo run --release --example chat -- 127.0.0.1:0 --idle 10 # any free port, idle after 10 s
//! nc 127.0.0.1 7000                                           # in two or more terminals
//! ```
//!
//! Every line a client types goes to everyone else as `name: line`; `/name NEW` renames. It runs
//! until killed.
//!
//! Each client has two coroutines: a reader that turns the socket into a channel of lines, and
//! a session that waits, with `select!`, on those lines, on its outbox of broadcasts and on an
//! idle timer. The hub is the only owner of the room: joins, leaves and messages reach it over
//! one channel, so no lock guards the list of clients.

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Write};
use std::net::Shutdown;
use std::sync::Arc;
use std::time::{Duration, Instant};

use greenchan::chan::{self, Receiver, Sender};
use greenchan::net::{TcpListener, TcpStream};
use greenchan::{go, select};

/// Broadcasts a client has not written out yet; past this, it misses messages (a slow reader
/// must not stall the room).
const OUTBOX: usize = 256;

fn main() {
    let mut addr = "127.0.0.1:7000".to_owned();
    let mut idle = Duration::from_secs(60);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--idle" => {
                let secs = args.next().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
                    eprintln!("--idle takes a number of seconds");
                    std::process::exit(2);
                });
                idle = Duration::from_secs(secs);
            }
            _ => addr = arg,
        }
    }
    greenchan::run(move || {
        let listener = TcpListener::bind(&addr).unwrap_or_else(|e| {
            eprintln!("cannot listen on {addr}: {e}");
            std::process::exit(1);
        });
        println!(
            "chat room on {} (idle clients leave after {idle:?})",
            listener.local_addr().unwrap()
        );
        serve(listener, idle);
    });
}

/// What the hub hears about.
enum Event {
    Join { id: u64, outbox: Sender<Arc<str>> },
    Say { id: u64, text: Arc<str> },
    Leave { id: u64 },
}

/// Runs the room on `listener` for ever: the hub, and two coroutines per client.
pub fn serve(listener: TcpListener, idle: Duration) {
    let (events_tx, events_rx) = chan::unbounded();
    go!(move || hub(events_rx));
    let mut next_id = 1;
    for conn in listener.incoming() {
        match conn {
            Ok(conn) => {
                let (id, events) = (next_id, events_tx.clone());
                next_id += 1;
                go!(move || {
                    let _ = session(id, conn, events, idle);
                });
            }
            Err(e) => {
                eprintln!("accept: {e}");
                greenchan::sleep(Duration::from_millis(5));
            }
        }
    }
}

/// The room: who is in it, and the fan-out of every message to everyone else's outbox.
fn hub(events: Receiver<Event>) {
    let mut room: HashMap<u64, Sender<Arc<str>>> = HashMap::new();
    let broadcast = |room: &HashMap<u64, Sender<Arc<str>>>, from: u64, text: Arc<str>| {
        for (&id, outbox) in room {
            if id != from {
                // Full: that client is too slow and misses this one. Closed: it is leaving
                // (its `Leave` is on its way).
                let _ = outbox.try_send(text.clone());
            }
        }
    };
    for event in &events {
        match event {
            Event::Join { id, outbox } => {
                room.insert(id, outbox);
                broadcast(&room, id, format!("* guest-{id} joined\n").into());
            }
            Event::Say { id, text } => broadcast(&room, id, text),
            Event::Leave { id } => {
                if room.remove(&id).is_some() {
                    broadcast(&room, id, format!("* guest-{id} left\n").into());
                }
            }
        }
    }
}

/// One client's session: joins the room, then relays its lines to the hub and the hub's
/// broadcasts to it, until it hangs up or stays quiet for `idle`.
fn session(id: u64, conn: TcpStream, events: Sender<Event>, idle: Duration) -> io::Result<()> {
    let (outbox_tx, outbox) = chan::bounded::<Arc<str>>(OUTBOX);
    // Join before greeting: whatever the client says after the greeting reaches a hub that
    // already knows it.
    let _ = events.send(Event::Join {
        id,
        outbox: outbox_tx,
    });
    let result = relay(id, conn, &events, &outbox, idle);
    let _ = events.send(Event::Leave { id });
    result
}

fn relay(
    id: u64,
    conn: TcpStream,
    events: &Sender<Event>,
    outbox: &Receiver<Arc<str>>,
    idle: Duration,
) -> io::Result<()> {
    let mut name = format!("guest-{id}");
    let mut writer = conn.try_clone()?;
    writeln!(writer, "welcome, you are {name}")?;
    let lines = read_lines(conn);
    // Idle means the client said nothing: broadcasts it receives do not count.
    let mut deadline = Instant::now() + idle;
    let result = loop {
        select! {
            recv(lines) -> line => match line {
                Ok(line) => {
                    deadline = Instant::now() + idle;
                    if let Some(new) = line.strip_prefix("/name ") {
                        name = new.trim().to_owned();
                        continue;
                    }
                    let text: Arc<str> = format!("{name}: {line}\n").into();
                    let _ = events.send(Event::Say { id, text });
                }
                Err(_) => break Ok(()), // hung up
            },
            recv(outbox) -> text => match text {
                Ok(text) => {
                    if let Err(e) = writer.write_all(text.as_bytes()) {
                        break Err(e);
                    }
                }
                Err(_) => break Ok(()),
            },
            default(deadline.saturating_duration_since(Instant::now())) => {
                let _ = writer.write_all(b"idle for too long, bye\n");
                break Ok(());
            }
        }
    };
    // Wakes the reader (its read ends), which then drops its end of `lines`.
    let _ = writer.shutdown(Shutdown::Both);
    result
}

/// A coroutine that reads `conn` line by line into a channel; the channel closes when the
/// client hangs up.
fn read_lines(conn: TcpStream) -> Receiver<String> {
    let (tx, rx) = chan::bounded(16);
    go!(move || {
        for line in BufReader::new(conn).lines() {
            let Ok(line) = line else { break };
            if tx.send(line.trim_end_matches('\r').to_owned()).is_err() {
                break;
            }
        }
    });
    rx
}
