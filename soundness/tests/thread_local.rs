//! A lazily initialised `thread_local!` read by several busy coroutines (issue 10). std
//! initialises such a key on its thread's first access, and a second access that comes in
//! while the first initialisation is still running (only possible if something switched flows
//! of control on that thread) initialises it again and drops the value the first reader is
//! still using: a use after free. A coroutine moved to another thread would keep using the
//! previous thread's value. Checks, with default settings on 1 and 2 workers, on fresh runtimes
//! (fresh worker threads, so the lazy initialisation happens again each round): no crash, and
//! every read sees the table's right contents.

use std::time::{Duration, Instant};

use greenchan::go;
use greenchan_soundness::{child, mix, on_fresh_runtime, spin_for};

/// 4 MiB: large enough that its allocation is a mapping of its own, unmapped when freed.
const ENTRIES: usize = 1 << 19;
const ROUNDS: usize = 5;
const COROUTINES: usize = 4;
/// How long each coroutine keeps reading the table, in one `with` at a time.
const READ_FOR: Duration = Duration::from_millis(60);

struct Table {
    values: Vec<u64>,
}

impl Table {
    /// A table that takes tens of milliseconds to build.
    fn build() -> Table {
        let values = (0..ENTRIES as u64).map(mix).collect();
        spin_for(Duration::from_millis(30));
        Table { values }
    }
}

thread_local! {
    static TABLE: Table = Table::build();
}

/// Reads the table in long stretches until `READ_FOR` has passed; returns the reads made.
fn reader(seed: u64) -> u64 {
    let start = Instant::now();
    let mut reads = 0u64;
    while start.elapsed() < READ_FOR {
        TABLE.with(|t| {
            let stretch = Instant::now();
            while stretch.elapsed() < Duration::from_millis(5) {
                for _ in 0..256 {
                    let i = (mix(seed ^ reads) % ENTRIES as u64) as usize;
                    assert_eq!(t.values[i], mix(i as u64), "thread-local table corrupted");
                    reads += 1;
                }
            }
        });
        // Between stretches, not inside one: here the runtime may switch to another reader.
        greenchan::preempt_point();
    }
    reads
}

fn scenario(workers: usize) {
    for _ in 0..ROUNDS {
        let reads = on_fresh_runtime(workers, || {
            let handles: Vec<_> = (0..COROUTINES as u64)
                .map(|id| go!(move || reader(id)))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
        });
        assert!(reads > 0);
    }
}

#[test]
fn lazy_thread_local_1_worker() {
    child("lazy_thread_local_1_worker", || scenario(1));
}

#[test]
fn lazy_thread_local_2_workers() {
    child("lazy_thread_local_2_workers", || scenario(2));
}
