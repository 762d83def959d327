//! Asynchronous preemption under load: spinning coroutines with no preemption point share two
//! workers with channel and `select!` traffic. Every spinner's arithmetic must come out exactly
//! as on a plain thread, every message must arrive once, and the spinners must actually have
//! been preempted (counted by `greenchan::preempt::async_preemptions`, not timed).
//!
//! This file is a test binary of its own, so the process-wide preemption counter and the
//! signals belong to this test alone.

use std::hint::black_box;
use std::time::{Duration, Instant};

use greenchan::{chan, select, Builder, Runtime};

/// Integer and floating-point state that lives in registers while a round runs.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Work {
    ints: [u64; 4],
    floats: [f64; 4],
}

impl Work {
    fn new(seed: u64) -> Work {
        Work {
            ints: [seed | 1, seed.rotate_left(9), 3, 5],
            floats: [seed as f64, 0.25, 1.5, -2.0],
        }
    }

    #[inline(always)]
    fn round(&mut self) {
        for _ in 0..1 << 13 {
            let [a, b, c, d] = &mut self.ints;
            *a ^= *a << 13;
            *a ^= *a >> 7;
            *a ^= *a << 17;
            *b = b.wrapping_mul(6364136223846793005).wrapping_add(*a);
            *c = c.rotate_left(11) ^ *b;
            *d = d.wrapping_add(*c >> 5);
            for (i, f) in self.floats.iter_mut().enumerate() {
                *f = *f * 0.999_99 + (i as f64 + 0.75);
            }
        }
    }
}

#[test]
fn spinners_and_channel_traffic_survive_many_preemptions() {
    if !greenchan::preempt::is_supported() {
        return; // cooperative-only target: nothing asynchronous to stress
    }
    const SPINNERS: u64 = 4;
    const MESSAGES: u64 = 20_000;
    const BUSY: u64 = 300_000;
    let builder = Runtime::builder()
        .workers(2)
        .time_slice(Duration::from_millis(2));
    // SAFETY: the coroutines below compute on plain data and use greenchan's channels, whose
    // critical sections are built to be preempted (see `greenchan::preempt`), and the system
    // allocator, whose code (in libc) is never interrupted; none uses std locks, stdio,
    // thread-locals or a statically linked allocator while it may be preempted.
    let rt = unsafe { builder.allow_async_preemption() }.build().unwrap();
    let before = greenchan::preempt::async_preemptions();

    let spinners: Vec<_> = (1..=SPINNERS)
        .map(|seed| {
            Builder::new()
                .spawn_on(&rt, move || {
                    let start = Instant::now();
                    let mut work = Work::new(seed);
                    let mut rounds = 0u32;
                    while rounds < 10
                        || (greenchan::preempt::async_preemptions() - before < 300
                            && start.elapsed() < Duration::from_millis(1500))
                    {
                        work.round();
                        rounds = black_box(rounds + 1);
                    }
                    (seed, rounds, work)
                })
                .unwrap()
        })
        .collect();

    // Channel traffic meanwhile: two producers, a bounded channel and a rendezvous one, and a
    // consumer selecting over both.
    let (tx_a, rx_a) = chan::bounded::<u64>(8);
    let (tx_b, rx_b) = chan::bounded::<u64>(0);
    let producer = |tx: chan::Sender<u64>, offset: u64| {
        Builder::new()
            .spawn_on(&rt, move || {
                for i in 0..MESSAGES {
                    tx.send(offset + i).unwrap();
                }
            })
            .unwrap()
    };
    let pa = producer(tx_a, 0);
    let pb = producer(tx_b, MESSAGES);
    let consumer = Builder::new()
        .spawn_on(&rt, move || {
            let (mut sum, mut count, mut open) = (0u64, 0u64, 2);
            let (mut rx_a, mut rx_b) = (Some(rx_a), Some(rx_b));
            let never = chan::never::<u64>();
            while open > 0 {
                select! {
                    recv(rx_a.as_ref().unwrap_or(&never)) -> v => match v {
                        Ok(v) => { sum += v; count += 1; }
                        Err(_) => { rx_a = None; open -= 1; }
                    },
                    recv(rx_b.as_ref().unwrap_or(&never)) -> v => match v {
                        Ok(v) => { sum += v; count += 1; }
                        Err(_) => { rx_b = None; open -= 1; }
                    },
                }
            }
            (sum, count)
        })
        .unwrap();

    // And a pair that never blocks: non-blocking sends and receives in busy loops, so the
    // signal often lands while a channel lock is held (where it must not preempt).
    let (tx_c, rx_c) = chan::unbounded::<u64>();
    let busy_sender = Builder::new()
        .spawn_on(&rt, move || {
            for i in 0..BUSY {
                tx_c.try_send(i).unwrap();
            }
        })
        .unwrap();
    let busy_receiver = Builder::new()
        .spawn_on(&rt, move || {
            let (mut sum, mut count) = (0u64, 0u64);
            while count < BUSY {
                if let Ok(v) = rx_c.try_recv() {
                    sum += v;
                    count += 1;
                }
            }
            sum
        })
        .unwrap();

    busy_sender.join().unwrap();
    assert_eq!(busy_receiver.join().unwrap(), (0..BUSY).sum::<u64>());
    pa.join().unwrap();
    pb.join().unwrap();
    let (sum, count) = consumer.join().unwrap();
    assert_eq!(count, 2 * MESSAGES);
    assert_eq!(sum, (0..2 * MESSAGES).sum::<u64>());

    for h in spinners {
        let (seed, rounds, got) = h.join().unwrap();
        let mut want = Work::new(seed);
        for _ in 0..rounds {
            want.round();
        }
        assert_eq!(got.ints, want.ints, "integers of spinner {seed}");
        let bits = |f: [f64; 4]| f.map(f64::to_bits);
        assert_eq!(
            bits(got.floats),
            bits(want.floats),
            "floats of spinner {seed}"
        );
    }
    let preemptions = greenchan::preempt::async_preemptions() - before;
    eprintln!("{preemptions} asynchronous preemptions");
    assert!(
        preemptions >= 20,
        "only {preemptions} asynchronous preemptions"
    );
    rt.shutdown().unwrap();
}
