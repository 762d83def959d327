//! Criterion benches of `green::sync::Mutex` against `std::sync::Mutex`: the uncontended
//! lock/unlock pair (one compare-exchange each way in both), and a contended counter, with
//! coroutines on a two-worker runtime and with OS threads. `cargo bench -p greenchan-runtime --bench sync`.

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

fn uncontended(c: &mut Criterion) {
    let mut g = c.benchmark_group("sync_mutex_uncontended");
    g.throughput(Throughput::Elements(1));
    let gm = green::sync::Mutex::new(0u64);
    g.bench_function("green", |b| {
        b.iter(|| *gm.lock().unwrap() += 1);
    });
    let sm = std::sync::Mutex::new(0u64);
    g.bench_function("std", |b| {
        b.iter(|| *sm.lock().unwrap() += 1);
    });
    g.finish();
}

/// `parties` contenders each add 1 to a shared counter `per` times.
fn contended(c: &mut Criterion) {
    let mut g = c.benchmark_group("sync_mutex_contended");
    let (parties, per) = (4usize, 10_000usize);
    g.throughput(Throughput::Elements((parties * per) as u64));
    g.sample_size(20);

    let rt = green::Runtime::builder().workers(2).build().unwrap();
    g.bench_function(BenchmarkId::new("green_coroutines", "2 workers"), |b| {
        b.iter(|| {
            let m = Arc::new(green::sync::Mutex::new(0usize));
            let m2 = m.clone();
            rt.run(move || {
                let hs: Vec<_> = (0..parties)
                    .map(|_| {
                        let m = m2.clone();
                        green::spawn(move || {
                            for _ in 0..per {
                                *m.lock().unwrap() += 1;
                            }
                        })
                    })
                    .collect();
                for h in hs {
                    h.join().unwrap();
                }
            });
            assert_eq!(*m.lock().unwrap(), parties * per);
        })
    });
    // std's mutex inside coroutines: fine here only because nothing parks while holding it.
    g.bench_function(BenchmarkId::new("std_coroutines", "2 workers"), |b| {
        b.iter(|| {
            let m = Arc::new(std::sync::Mutex::new(0usize));
            let m2 = m.clone();
            rt.run(move || {
                let hs: Vec<_> = (0..parties)
                    .map(|_| {
                        let m = m2.clone();
                        green::spawn(move || {
                            for _ in 0..per {
                                *m.lock().unwrap() += 1;
                            }
                        })
                    })
                    .collect();
                for h in hs {
                    h.join().unwrap();
                }
            });
            assert_eq!(*m.lock().unwrap(), parties * per);
        })
    });
    rt.shutdown().unwrap();

    g.bench_function(BenchmarkId::new("green_threads", "os threads"), |b| {
        b.iter(|| {
            let m = Arc::new(green::sync::Mutex::new(0usize));
            let hs: Vec<_> = (0..parties)
                .map(|_| {
                    let m = m.clone();
                    std::thread::spawn(move || {
                        for _ in 0..per {
                            *m.lock().unwrap() += 1;
                        }
                    })
                })
                .collect();
            for h in hs {
                h.join().unwrap();
            }
            assert_eq!(*m.lock().unwrap(), parties * per);
        })
    });

    g.bench_function(BenchmarkId::new("std_threads", "os threads"), |b| {
        b.iter(|| {
            let m = Arc::new(std::sync::Mutex::new(0usize));
            let hs: Vec<_> = (0..parties)
                .map(|_| {
                    let m = m.clone();
                    std::thread::spawn(move || {
                        for _ in 0..per {
                            *m.lock().unwrap() += 1;
                        }
                    })
                })
                .collect();
            for h in hs {
                h.join().unwrap();
            }
            assert_eq!(*m.lock().unwrap(), parties * per);
        })
    });
    g.finish();
}

criterion_group!(benches, uncontended, contended);
criterion_main!(benches);
