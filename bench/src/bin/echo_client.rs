//! The fixed load generator of the `echo` workload, the same for every server runtime.
//!
//! `echo_client <port> <connections> <seconds>` opens the connections to `127.0.0.1:<port>` one
//! after another (so the server's listen backlog never overflows), then, once all are open,
//! each connection sends a 64-byte message and waits for its echo, in a closed loop, for the
//! given time. It prints `RESULT echo req/s <round trips per second>`. It always runs on a
//! two-thread tokio runtime, whatever the server's worker count, so only the server changes
//! between runs.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use greenchan_bench::{report, ECHO_MSG};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    let parsed = (|| {
        let port: u16 = argv.get(1)?.parse().ok()?;
        let conns: usize = argv.get(2)?.parse().ok()?;
        let secs: f64 = argv.get(3)?.parse().ok()?;
        Some((port, conns, secs))
    })();
    let Some((port, conns, secs)) = parsed else {
        eprintln!("usage: echo_client <port> <connections> <seconds>");
        std::process::exit(2);
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let rate = rt.block_on(load(port, conns, Duration::from_secs_f64(secs)));
    match rate {
        Ok(r) => report("echo", "req/s", r),
        Err(e) => {
            eprintln!("echo client: {e}");
            std::process::exit(1);
        }
    }
}

async fn load(port: u16, conns: usize, dur: Duration) -> std::io::Result<f64> {
    let mut streams = Vec::with_capacity(conns);
    for _ in 0..conns {
        let s = TcpStream::connect(("127.0.0.1", port)).await?;
        s.set_nodelay(true)?;
        streams.push(s);
    }
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::with_capacity(conns);
    for mut s in streams {
        let (done, stop) = (done.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let msg = [b'x'; ECHO_MSG];
            let mut back = [0u8; ECHO_MSG];
            while !stop.load(Ordering::Relaxed) {
                s.write_all(&msg).await?;
                s.read_exact(&mut back).await?;
                done.fetch_add(1, Ordering::Relaxed);
            }
            Ok::<(), std::io::Error>(())
        }));
    }
    let t0 = Instant::now();
    let start = done.load(Ordering::Relaxed);
    tokio::time::sleep(dur).await;
    let count = done.load(Ordering::Relaxed) - start;
    let elapsed = t0.elapsed();
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.expect("client task panicked")?;
    }
    Ok(count as f64 / elapsed.as_secs_f64())
}
