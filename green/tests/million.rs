//! One million coroutines parked at once on a stock Linux box, where `vm.max_map_count` is
//! 65530: stacks must come from large shared mappings with guard pages that do not split them
//! (DESIGN §3). The test holds every coroutine parked, checks the mapping count stayed far
//! below the limit, then wakes and joins them all: nothing lost, nothing stuck.
//!
//! In its own test binary so that its memory (a few GiB) is not shared with other tests.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const N: usize = 1_000_000;

fn map_count() -> usize {
    std::fs::read_to_string("/proc/self/maps")
        .map(|m| m.lines().count())
        .unwrap_or(0)
}

#[test]
fn one_million_parked_coroutines() {
    let rt = green::Runtime::builder().build().unwrap();
    let maps_before = map_count();
    let parked = Arc::new(AtomicUsize::new(0));
    let woken = Arc::new(AtomicUsize::new(0));
    let mut handles = Vec::with_capacity(N);
    for _ in 0..N {
        let parked = parked.clone();
        let woken = woken.clone();
        let h = rt
            .spawn(move || {
                parked.fetch_add(1, Ordering::Release);
                green::park();
                woken.fetch_add(1, Ordering::Relaxed);
            })
            .expect("spawning the millionth coroutine must work");
        handles.push(h);
    }
    let deadline = Instant::now() + Duration::from_secs(600);
    while parked.load(Ordering::Acquire) < N {
        assert!(
            Instant::now() < deadline,
            "only {} of {N} coroutines parked in time",
            parked.load(Ordering::Acquire)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let maps_during = map_count();
    eprintln!("{N} parked coroutines: {maps_before} mappings before, {maps_during} during");
    assert!(
        maps_during < maps_before + 10_000,
        "{N} parked coroutines took {} mappings (before: {maps_before})",
        maps_during
    );
    assert_eq!(
        woken.load(Ordering::Relaxed),
        0,
        "a parked coroutine woke early"
    );
    for h in &handles {
        h.coroutine().unpark();
    }
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(woken.load(Ordering::Relaxed), N);
    rt.shutdown().unwrap();
}
