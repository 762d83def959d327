//! `errno` from coroutines making failing `std::fs` calls in tight loops (issue 10). `errno` is
//! per thread: libc writes it when a system call fails and std reads it right after. A switch
//! to another coroutine of the same thread between the write and the read, or a move to
//! another thread, gives one coroutine the other's error. Checks, with default settings on 1
//! and 2 workers: a coroutine opening a missing file always gets `NotFound` and one creating an
//! existing directory always gets `AlreadyExists`.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use greenchan::go;
use greenchan_soundness::{child, on_fresh_runtime};

/// Coroutines of each kind.
const PAIRS: usize = 3;
const WORK: Duration = Duration::from_millis(250);

/// One failing call, and the error kind it must give.
fn failing_call(kind: usize, dir: &Path) -> (ErrorKind, std::io::Error) {
    if kind == 0 {
        let e = std::fs::File::open(dir.join("missing")).unwrap_err();
        (ErrorKind::NotFound, e)
    } else {
        let e = std::fs::create_dir(dir.join("exists")).unwrap_err();
        (ErrorKind::AlreadyExists, e)
    }
}

/// Makes failing calls for `WORK`; returns (calls, wrong errors, the first wrong one).
fn caller(kind: usize, dir: PathBuf) -> (u64, u64, Option<String>) {
    let start = Instant::now();
    let (mut calls, mut wrong, mut first) = (0u64, 0u64, None);
    while calls % 64 != 0 || start.elapsed() < WORK {
        let (want, e) = failing_call(kind, &dir);
        calls += 1;
        if e.kind() != want {
            wrong += 1;
            first.get_or_insert_with(|| format!("wanted {want:?}, got {e:?}"));
        }
        if calls % 16 == 0 {
            greenchan::preempt_point();
        }
    }
    (calls, wrong, first)
}

fn scenario(workers: usize) {
    let dir =
        std::env::temp_dir().join(format!("greenchan-soundness-errno-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("exists")).unwrap();
    let root = dir.clone();
    let results = on_fresh_runtime(workers, move || {
        let handles: Vec<_> = (0..2 * PAIRS)
            .map(|i| {
                let dir = root.clone();
                go!(move || caller(i % 2, dir))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .collect::<Vec<_>>()
    });
    std::fs::remove_dir_all(&dir).unwrap();
    let calls: u64 = results.iter().map(|r| r.0).sum();
    let wrong: u64 = results.iter().map(|r| r.1).sum();
    let first = results.iter().find_map(|r| r.2.clone());
    assert_eq!(
        wrong, 0,
        "{wrong} of {calls} failing calls got another's errno: {first:?}"
    );
}

#[test]
fn errno_stays_per_coroutine_1_worker() {
    child("errno_stays_per_coroutine_1_worker", || scenario(1));
}

#[test]
fn errno_stays_per_coroutine_2_workers() {
    child("errno_stays_per_coroutine_2_workers", || scenario(2));
}
