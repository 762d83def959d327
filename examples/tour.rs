//! A tour of greenchan: spawning and joining coroutines, sleeping, parking, panics, channels
//! and select, sync, sockets, a hundred thousand coroutines at once, an explicit runtime and
//! preemption of a loop that never yields.
//!
//! Run it with `cargo run --release --example tour`.

use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use greenchan::{chan, go, net, select, sync, Builder, Runtime};

fn main() {
    // `run` turns the calling thread into the waiter of one coroutine on the global runtime
    // (one worker per CPU, or GREENCHAN_WORKERS).
    greenchan::run(|| {
        println!("== spawning and joining");
        let h = go!(|| (1..=10).sum::<u32>());
        println!("a coroutine summed 1..=10: {}", h.join().unwrap());

        let named = go!(Builder::new().name("greeter".into()), || {
            format!("hello from '{}'", greenchan::current().name().unwrap())
        })
        .unwrap();
        println!("{}", named.join().unwrap());

        println!("\n== sleeping suspends only the coroutine");
        let start = Instant::now();
        let sleepers: Vec<_> = (0..1000)
            .map(|_| go!(|| greenchan::sleep(Duration::from_millis(50))))
            .collect();
        for s in sleepers {
            s.join().unwrap();
        }
        println!(
            "1000 coroutines slept 50 ms each, together, in {:?}",
            start.elapsed()
        );

        println!("\n== parking and unparking");
        let parked = go!(|| {
            greenchan::park(); // until somebody unparks us
            "woken up"
        });
        greenchan::sleep(Duration::from_millis(10));
        parked.coroutine().unpark();
        println!("the parked coroutine says: {}", parked.join().unwrap());

        println!("\n== a panic is an Err from join; everybody else carries on");
        let bad = go!(|| -> u32 { panic!("this coroutine fails on purpose") });
        match bad.join() {
            Ok(_) => println!("unexpected success"),
            Err(e) => println!(
                "join returned Err({:?})",
                e.downcast_ref::<&str>().unwrap_or(&"?")
            ),
        }

        println!("\n== channels: a rendezvous hand-off, a buffered pipeline, close and drain");
        let (tx, rx) = chan::bounded::<String>(0);
        let greeter = go!(move || tx.send("hello over a rendezvous channel".into()).unwrap());
        println!("{}", rx.recv().unwrap());
        greeter.join().unwrap();
        let (tx, rx) = chan::bounded::<u64>(8);
        let producer = go!(move || {
            for i in 1..=100 {
                tx.send(i).unwrap();
            }
            // Dropping the last sender closes the channel; the receiver drains, then stops.
        });
        let total: u64 = rx.iter().sum();
        producer.join().unwrap();
        println!("the consumer summed 1..=100 from a buffered channel: {total}");

        println!("\n== select: the first of several channels, a timeout, a default");
        let (fast_tx, fast_rx) = chan::bounded::<&str>(0);
        let (_slow_tx, slow_rx) = chan::bounded::<&str>(0);
        go!(move || {
            greenchan::sleep(Duration::from_millis(5));
            fast_tx.send("fast").unwrap();
        });
        select! {
            recv(fast_rx) -> msg => println!("select received {:?} first", msg.unwrap()),
            recv(slow_rx) -> msg => println!("unexpected: {:?}", msg),
        }
        let timeout = chan::after(Duration::from_millis(10));
        select! {
            recv(slow_rx) -> _ => println!("unexpected message"),
            recv(timeout) -> _ => println!("nothing on the slow channel within 10 ms: after() fired"),
        }
        select! {
            recv(slow_rx) -> _ => println!("unexpected message"),
            default => println!("default runs when no channel is ready"),
        }

        println!("\n== sync: a WaitGroup and a Mutex that park the coroutine, not the worker");
        let words = Arc::new(sync::Mutex::new(Vec::new()));
        let wg = sync::WaitGroup::new();
        for w in ["wait", "group", "mutex"] {
            let (wg, words) = (wg.clone(), words.clone());
            go!(move || {
                words.lock().unwrap().push(w);
                drop(wg); // this member is done
            });
        }
        wg.wait(); // until every clone is dropped
        let mut words = words.lock().unwrap().clone();
        words.sort();
        println!("three coroutines pushed {words:?} under one lock");

        println!("\n== net: sockets that park the coroutine until they are ready");
        let listener = net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = go!(move || {
            for _ in 0..3 {
                let (mut conn, _) = listener.accept().unwrap();
                go!(move || {
                    let mut buf = [0u8; 64];
                    let n = conn.read(&mut buf).unwrap();
                    conn.write_all(&buf[..n]).unwrap(); // echo
                });
            }
        });
        let clients: Vec<_> = ["one", "two", "three"]
            .into_iter()
            .map(|word| {
                go!(move || {
                    let mut conn = net::TcpStream::connect(addr).unwrap();
                    conn.write_all(word.as_bytes()).unwrap();
                    let mut back = vec![0u8; word.len()];
                    conn.read_exact(&mut back).unwrap();
                    String::from_utf8(back).unwrap()
                })
            })
            .collect();
        let echoed: Vec<String> = clients.into_iter().map(|c| c.join().unwrap()).collect();
        server.join().unwrap();
        println!("three client coroutines got their words echoed: {echoed:?}");

        println!("\n== many coroutines");
        let n = 100_000;
        let done = Arc::new(AtomicUsize::new(0));
        let start = Instant::now();
        let hs: Vec<_> = (0..n)
            .map(|_| {
                let done = done.clone();
                go!(move || {
                    greenchan::yield_now();
                    done.fetch_add(1, Ordering::Relaxed);
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        println!(
            "{} coroutines spawned, yielded and joined in {:?}",
            done.load(Ordering::Relaxed),
            start.elapsed()
        );
    });

    println!("\n== an explicit runtime with one worker");
    let rt = Runtime::builder().workers(1).build().unwrap();
    let v = rt.run(|| {
        let a = go!(|| 20);
        let b = go!(|| 22);
        a.join().unwrap() + b.join().unwrap()
    });
    println!("two coroutines on one worker computed {v}");

    println!("\n== a stuck worker is rescued: a loop with no calls keeps only its own thread");
    let stop = Arc::new(AtomicBool::new(false));
    let spinner = {
        let stop = stop.clone();
        rt.spawn(move || {
            let mut turns = 0u64;
            // No runtime call, no preempt_point(): nothing switches this coroutine away.
            while !stop.load(Ordering::Relaxed) {
                turns = std::hint::black_box(turns + 1);
            }
            turns
        })
        .unwrap()
    };
    let waited = rt.run(|| {
        let start = Instant::now();
        greenchan::sleep(Duration::from_millis(20)); // the one worker is busy with the spinner
        start.elapsed()
    });
    println!(
        "a 20 ms sleep beside the spinner took {waited:?}, on one of {} spare worker thread(s) \
         the monitor started for the stuck worker",
        rt.spare_threads()
    );
    stop.store(true, Ordering::Relaxed);
    spinner.join().unwrap();
    rt.shutdown().unwrap();
    match rt.spawn(|| ()) {
        Ok(_) => println!("unexpected: spawned on a stopped runtime"),
        Err(e) => println!("after shutdown, spawn says: {e}"),
    }

    println!("\n== what the global runtime counted (greenchan::metrics; greenchan::dump() lists coroutines)");
    let m = greenchan::metrics();
    println!(
        "{} coroutines spawned, {} alive; {} steals between {} workers; {} polls of the I/O \
         poller, {} coroutines woken by it; {} timed waits ended",
        m.spawned,
        m.alive,
        m.steals,
        m.workers.len(),
        m.polls,
        m.io_wakeups,
        m.timers_fired
    );
}
