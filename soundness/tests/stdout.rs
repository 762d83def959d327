//! `println!` from four busy coroutines (issue 10). std's stdout is a reentrant lock around a
//! `RefCell`'d line buffer, owned by whichever *thread* holds it: two coroutines of one worker
//! interleaved inside `println!` share that ownership (the second finds the `RefCell` borrowed
//! and panics, or their bytes mix), and a coroutine moved to another thread while holding it
//! deadlocks every worker. Checks, with default settings on 1 and 2 workers: no panic, no
//! deadlock, and no spliced line: the parent parses every line of the child's stdout, and each
//! coroutine's lines are all there, whole and in order. The coroutines call `preempt_point`
//! between lines now and then, so they do interleave where the runtime may switch them.
//!
//! Fails on e8d6a5b (the scheduler before issue 10, which preempted coroutines with SIGURG after
//! 10 ms slices and moved started coroutines between workers; this file run there in a debug
//! build, with only `Runtime::run` renamed to its name then, `block_on`):
//! - 1 worker: 4 runs of 4 fail: std's stdout panics with "RefCell already borrowed" (2), a
//!   spliced line (1), a hang (1);
//! - 2 workers: 4 of 4: spliced lines (3), a hang (1);
//! - with `GREENCHAN_ASYNCPREEMPT=0`: passes (the switch inside `println!` is the signal's).

use std::fmt::Write;
use std::hint::black_box;

use greenchan::go;
use greenchan_soundness::{child, mix, on_fresh_runtime};

const COROUTINES: usize = 4;
const LINES: usize = 15_000;
const TAG: &str = "soundness-line";

/// The payload of line `seq` of coroutine `id`: its length varies, its letter is the
/// coroutine's. Computed and written a character at a time, from inside `println!`: formatting
/// it keeps the coroutine busy in Rust code while it holds stdout's lock.
struct Payload {
    id: usize,
    seq: usize,
}

impl Payload {
    fn len(&self) -> usize {
        16 + (self.seq * 7) % 150
    }

    fn letter(&self) -> char {
        (b'a' + self.id as u8) as char
    }
}

impl std::fmt::Display for Payload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Some computing per character, as a `Display` of real data would do.
        let mut x = self.seq as u64;
        for _ in 0..self.len() {
            for _ in 0..4 {
                x = mix(black_box(x));
            }
            f.write_char(self.letter())?;
        }
        black_box(x);
        Ok(())
    }
}

fn payload(id: usize, seq: usize) -> String {
    Payload { id, seq }.to_string()
}

fn scenario(workers: usize) {
    on_fresh_runtime(workers, || {
        let handles: Vec<_> = (0..COROUTINES)
            .map(|id| {
                go!(move || {
                    for seq in 0..LINES {
                        println!("{TAG} {id} {seq} {}", Payload { id, seq });
                        if seq % 1024 == 0 {
                            greenchan::preempt_point();
                        }
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    });
}

/// Every line of ours in `stdout` is whole, and each coroutine's lines are all there in order.
fn check(stdout: &str) {
    let mut next = [0usize; COROUTINES];
    for (n, line) in stdout.lines().enumerate() {
        if !line.contains(TAG) {
            continue;
        }
        let fields: Vec<&str> = line.split(' ').collect();
        let parsed = match fields[..] {
            [TAG, id, seq, text] => id
                .parse::<usize>()
                .ok()
                .zip(seq.parse::<usize>().ok())
                .filter(|&(id, seq)| id < COROUTINES && text == payload(id, seq)),
            _ => None,
        };
        let Some((id, seq)) = parsed else {
            panic!("line {n} of the child's stdout is spliced or mangled: {line:?}");
        };
        assert_eq!(
            seq, next[id],
            "line {n}: coroutine {id}'s line {seq} where {} was due: {line:?}",
            next[id]
        );
        next[id] += 1;
    }
    assert_eq!(next, [LINES; COROUTINES], "lines missing");
}

#[test]
fn println_from_busy_coroutines_1_worker() {
    if let Some(out) = child("println_from_busy_coroutines_1_worker", || scenario(1)) {
        check(&out.stdout);
    }
}

#[test]
fn println_from_busy_coroutines_2_workers() {
    if let Some(out) = child("println_from_busy_coroutines_2_workers", || scenario(2)) {
        check(&out.stdout);
    }
}
