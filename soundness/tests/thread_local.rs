//! A lazily initialised `thread_local!` read by several busy coroutines (issue 10). std
//! initialises such a key on its thread's first access, and a second access that comes in
//! while the first initialisation is still running (only possible if something switched flows
//! of control on that thread) initialises it again and drops the value the first reader is
//! still using: a use after free. A coroutine moved to another thread would keep using the
//! previous thread's value. Checks, with default settings on 1 and 2 workers, on fresh runtimes
//! (fresh worker threads, so the lazy initialisation happens again each round): no crash, and
//! every read sees the table's right contents.
//!
//! Fails on e8d6a5b (the scheduler before issue 10, which preempted coroutines with SIGURG after
//! 10 ms slices and moved started coroutines between workers; this file run there in a debug
//! build, with only `Runtime::run` renamed to its name then, `block_on`):
//! - 1 worker: 2 runs of 2 fail (and 3 of 3 in an earlier series): "thread-local table
//!   corrupted", a reader reading a dropped table (std's lazy initialisation re-entered by
//!   another coroutine of the thread drops the first reader's value), once followed by SIGSEGV;
//! - 2 workers: the same, 2 of 2 (3 of 3 earlier);
//! - with `GREENCHAN_ASYNCPREEMPT=0`: passes.

use std::time::{Duration, Instant};

use greenchan::go;
use greenchan_soundness::{child, mix, on_fresh_runtime, spin_for};

/// 4 MiB in 512 rows of 1 KiB: a table of many small allocations, which the allocator reuses
/// (and writes its free-list links into) as soon as they are freed.
const ROWS: usize = 512;
const ROW: usize = 128;
const ROUNDS: usize = 5;
const COROUTINES: usize = 4;
/// How many stretches of reading each coroutine does, each in one `with`.
const STRETCHES: usize = 12;
const STRETCH: Duration = Duration::from_millis(5);

struct Table {
    rows: Vec<Vec<u64>>,
}

fn entry(row: usize, col: usize) -> u64 {
    mix((row * ROW + col) as u64)
}

impl Table {
    /// A table that takes tens of milliseconds to build.
    fn build() -> Table {
        let rows = (0..ROWS)
            .map(|r| (0..ROW).map(|c| entry(r, c)).collect())
            .collect();
        spin_for(Duration::from_millis(30));
        Table { rows }
    }
}

/// Overwrites the entries: a reader still using a table that was dropped (a use after free)
/// then reads wrong values, whatever the allocator did with the memory.
impl Drop for Table {
    fn drop(&mut self) {
        for row in &mut self.rows {
            row.fill(0);
        }
    }
}

thread_local! {
    static TABLE: Table = Table::build();
}

/// Reads the table in long stretches; returns the reads made.
fn reader(seed: u64) -> u64 {
    let mut reads = 0u64;
    for _ in 0..STRETCHES {
        TABLE.with(|t| {
            // A reference into the table's heap data, held over the whole stretch.
            let rows: &[Vec<u64>] = &t.rows;
            let stretch = Instant::now();
            while stretch.elapsed() < STRETCH {
                for _ in 0..256 {
                    let x = mix(seed ^ reads);
                    let (r, c) = ((x >> 32) as usize % ROWS, x as usize % ROW);
                    assert_eq!(rows[r][c], entry(r, c), "thread-local table corrupted");
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
