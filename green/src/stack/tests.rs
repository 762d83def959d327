//! Tests of the stack pool and the overflow handler. Faults are provoked in child processes:
//! the test binary re-executes itself with `CHILD_ENV` naming the one test to run, which then
//! does the fatal thing; the parent checks how the child died and what it printed.

use std::hint::black_box;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Output};
use std::ptr;

use super::shelf::{GuardMode, GuardPolicy, Shelf};
use super::*;

const CHILD_ENV: &str = "GREENCHAN_STACK_TEST_CHILD";

/// Whether this process is the child spawned for `test`; if so, no core dumps.
fn is_child(test: &str) -> bool {
    if std::env::var(CHILD_ENV).as_deref() != Ok(test) {
        return false;
    }
    let none = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: setrlimit with a valid struct; only lowers this process's core size limit.
    unsafe { libc::setrlimit(libc::RLIMIT_CORE, &none) };
    true
}

/// Runs `test` alone in a child copy of this test binary.
fn run_child(test: &str) -> Output {
    // module_path!() is "green::stack::tests"; libtest names tests without the crate.
    let module = module_path!().split_once("::").unwrap().1;
    Command::new(std::env::current_exe().unwrap())
        .args([
            &format!("{module}::{test}"),
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, test)
        .output()
        .expect("re-executing the test binary")
}

fn assert_killed_by(out: &Output, signal: i32) {
    assert_eq!(
        out.status.signal(),
        Some(signal),
        "child should die of signal {signal}; status {:?}, stderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

fn map_count() -> usize {
    std::fs::read_to_string("/proc/self/maps")
        .unwrap()
        .lines()
        .count()
}

fn resident_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: usize = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * page_size()
}

/// Writes the first and last byte of every page of `[lo, hi)`.
fn touch(lo: usize, hi: usize) {
    for addr in (lo..hi).step_by(page_size()) {
        // SAFETY: the caller owns this usable stack memory.
        unsafe {
            ptr::write_volatile(addr as *mut u8, 0xA5);
            ptr::write_volatile((addr + page_size() - 1) as *mut u8, 0xA5);
        }
    }
}

fn read(addr: usize) -> u8 {
    // SAFETY: the callers read usable memory of stacks they own.
    unsafe { ptr::read_volatile(addr as *const u8) }
}

#[inline(never)]
fn recurse(depth: u64) -> u64 {
    let frame = black_box([depth; 32]);
    if black_box(depth) == u64::MAX {
        return 0;
    }
    recurse(depth + 1).wrapping_add(frame[(depth % 32) as usize])
}

#[test]
fn sizes_are_validated() {
    assert_eq!(validate_stack_size(MIN_STACK_SIZE).unwrap(), MIN_STACK_SIZE);
    assert_eq!(validate_stack_size(MAX_STACK_SIZE).unwrap(), MAX_STACK_SIZE);
    assert_eq!(
        validate_stack_size(DEFAULT_STACK_SIZE).unwrap(),
        DEFAULT_STACK_SIZE
    );
    let page = page_size();
    assert_eq!(
        validate_stack_size(MIN_STACK_SIZE + 1).unwrap(),
        MIN_STACK_SIZE + page
    );
    for bad in [0, 1, MIN_STACK_SIZE - 1, MAX_STACK_SIZE + 1, usize::MAX] {
        let e = validate_stack_size(bad).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        let msg = e.to_string();
        assert!(msg.contains(&bad.to_string()), "{msg}");
        assert!(msg.contains("16384") && msg.contains("1073741824"), "{msg}");
    }
    assert!(StackPool::new().get(100).is_err());
}

#[test]
fn get_and_put_reuse_the_same_memory() {
    let pool = StackPool::new();
    let size = 20 * page_size(); // a size no other test uses
    let a = pool.get(size).unwrap();
    assert_eq!(a.usable_size(), size);
    let (lo, hi) = a.guard_range();
    assert_eq!(hi - lo, page_size());
    assert_eq!(a.base().get() - a.usable_size(), hi);
    let (region_lo, region_hi) = a.guard_region();
    assert_eq!(region_hi, hi);
    assert_eq!(region_hi - region_lo, guard_len());
    assert!(guard_len() >= 64 * 1024);
    assert_eq!(a.limit().get(), region_lo);
    touch(hi, a.base().get());
    let top = a.base().get();
    pool.put(a);
    let b = pool.get(size).unwrap();
    assert_eq!(
        b.base().get(),
        top,
        "the stack just put back is reused first"
    );
    assert_eq!(read(top - 1), 0xA5, "a reused stack keeps its memory");
    // Other sizes never share it.
    let c = pool.get(size + page_size()).unwrap();
    assert_ne!(c.base().get(), top);
    drop(b); // dropping returns it too
    assert_eq!(pool.get(size).unwrap().base().get(), top);
}

#[test]
fn caches_spill_to_and_refill_from_the_shelf() {
    let size = 23 * page_size(); // unique: the reuse test also takes 21-page stacks
    let tops: Vec<usize> = std::thread::spawn(move || {
        let pool = StackPool::new();
        let stacks: Vec<_> = (0..100).map(|_| pool.get(size).unwrap()).collect();
        let tops = stacks.iter().map(|s| s.base().get()).collect();
        drop(stacks); // spills to the shelf as the cache fills, the rest at thread exit
        tops
    })
    .join()
    .unwrap();
    // Another thread gets the very same stacks back, no new ones.
    let pool = StackPool::new();
    let mut again: Vec<_> = (0..100)
        .map(|_| pool.get(size).unwrap().into_slot().top)
        .collect();
    again.sort_unstable();
    let mut tops = tops;
    tops.sort_unstable();
    assert_eq!(again, tops);
    for top in again {
        pool.put(GreenStack {
            slot: Slot { top, size },
        });
    }
}

#[test]
fn guard_page_faults() {
    if is_child("guard_page_faults") {
        let stack = StackPool::new().get(DEFAULT_STACK_SIZE).unwrap();
        let (lo, hi) = stack.guard_range();
        touch(hi, stack.base().get()); // the usable part is fine
        eprintln!("usable ok, writing the guard page");
        // SAFETY: none; this is the fault under test (the last byte of the guard page, then,
        // were it to survive, the first).
        unsafe {
            ptr::write_volatile((hi - 1) as *mut u8, 1);
            ptr::write_volatile(lo as *mut u8, 1);
        }
        std::process::exit(0);
    }
    let out = run_child("guard_page_faults");
    assert_killed_by(&out, libc::SIGSEGV);
    assert!(String::from_utf8_lossy(&out.stderr).contains("usable ok"));
}

/// Every page of the 64 KiB guard region faults, the lowest one included: a write that jumps
/// past the end of the stack by up to the guard's length cannot reach the stack below.
#[test]
fn the_whole_guard_region_faults() {
    let test = "the_whole_guard_region_faults";
    const PAGE_ENV: &str = "GREENCHAN_STACK_TEST_GUARD_PAGE";
    if is_child(test) {
        let (lo, _) = StackPool::new()
            .get(19 * page_size()) // a size no other test uses
            .unwrap()
            .guard_region();
        let page: usize = std::env::var(PAGE_ENV).unwrap().parse().unwrap();
        eprintln!("writing guard page {page}");
        // SAFETY: none; this is the fault under test.
        unsafe { ptr::write_volatile((lo + page * page_size()) as *mut u8, 1) };
        std::process::exit(0);
    }
    let pages = guard_len() / page_size();
    // The lowest, a middle and the highest page, each in a child of its own.
    let module = module_path!().split_once("::").unwrap().1;
    for page in [0, pages / 2, pages - 1] {
        let out = Command::new(std::env::current_exe().unwrap())
            .args([
                &format!("{module}::{test}"),
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, test)
            .env(PAGE_ENV, page.to_string())
            .output()
            .expect("re-executing the test binary");
        assert_killed_by(&out, libc::SIGSEGV);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(&format!("guard page {page}")), "{stderr}");
    }
}

#[test]
fn guard_survives_madv_dontneed() {
    if is_child("guard_survives_madv_dontneed") {
        let stack = StackPool::new().get(DEFAULT_STACK_SIZE).unwrap();
        let (lo, _) = stack.guard_range();
        let top = stack.base().get();
        touch(lo + page_size(), top);
        // SAFETY: DONTNEED on the stack we own, guard page included.
        assert_eq!(
            unsafe { libc::madvise(lo as *mut _, top - lo, libc::MADV_DONTNEED) },
            0
        );
        assert_eq!(read(top - 1), 0, "DONTNEED dropped the memory");
        eprintln!("released, writing the guard page");
        // SAFETY: none; this is the fault under test.
        unsafe { ptr::write_volatile(lo as *mut u8, 1) };
        std::process::exit(0);
    }
    let out = run_child("guard_survives_madv_dontneed");
    assert_killed_by(&out, libc::SIGSEGV);
    assert!(String::from_utf8_lossy(&out.stderr).contains("released"));
}

#[test]
fn shelf_beyond_retention_releases_memory_and_keeps_guards() {
    let test = "shelf_beyond_retention_releases_memory_and_keeps_guards";
    let shelf = Shelf::new(GuardPolicy::Auto, 4, 1 << 30);
    let size = DEFAULT_STACK_SIZE;
    let slots: Vec<_> = (0..10).map(|_| shelf.carve(size).unwrap()).collect();
    for s in &slots {
        touch(s.limit(), s.top);
    }
    shelf.put(&slots);
    let stats = shelf.stats();
    assert_eq!((stats.dirty, stats.clean), (4, 6));
    // Dirty ones come back first, with their contents; then released ones, zeroed.
    let mut out = Vec::new();
    assert_eq!(shelf.take(size, 10, &mut out), 10);
    let (dirty, clean) = out.split_at(4);
    assert!(dirty.iter().all(|s| read(s.top - 1) == 0xA5));
    assert!(clean
        .iter()
        .all(|s| read(s.top - 1) == 0 && read(s.limit()) == 0));
    if is_child(test) {
        // The released stacks were contiguous, released with one madvise over their guards.
        eprintln!("writing a released stack's guard page");
        // SAFETY: none; this is the fault under test.
        unsafe { ptr::write_volatile(clean[2].guard_lo() as *mut u8, 1) };
        std::process::exit(0);
    }
    let out = run_child(test);
    assert_killed_by(&out, libc::SIGSEGV);
}

#[test]
fn mprotect_fallback_guards_within_its_budget() {
    let test = "mprotect_fallback_guards_within_its_budget";
    let shelf = Shelf::new(GuardPolicy::Mprotect { budget: 10 }, 1024, 1 << 30);
    assert_eq!(shelf.mode(), GuardMode::Mprotect);
    let slots: Vec<_> = (0..5)
        .map(|_| shelf.carve(MIN_STACK_SIZE).unwrap())
        .collect();
    let e = shelf.carve(MIN_STACK_SIZE).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::OutOfMemory);
    assert!(e.to_string().contains("mapping budget exhausted"), "{e}");
    assert_eq!(shelf.stats().guard_mappings, 10);
    // Pooled stacks are reused without spending more of the budget.
    shelf.put(&slots[..1]);
    let mut out = Vec::new();
    assert_eq!(shelf.take(MIN_STACK_SIZE, 1, &mut out), 1);
    assert_eq!(out[0], slots[0]);
    // Trimming works on split regions.
    touch(slots[1].limit(), slots[1].top);
    shelf.put(&slots[1..2]);
    shelf.trim();
    out.clear();
    shelf.take(MIN_STACK_SIZE, 1, &mut out);
    assert_eq!(read(out[0].top - 1), 0);
    if is_child(test) {
        eprintln!("writing an mprotect guard page");
        // SAFETY: none; this is the fault under test.
        unsafe { ptr::write_volatile(slots[3].guard_lo() as *mut u8, 1) };
        std::process::exit(0);
    }
    assert_killed_by(&run_child(test), libc::SIGSEGV);
}

#[test]
fn hundred_thousand_stacks_take_few_mappings() {
    const N: usize = 100_000;
    let pool = StackPool::new();
    let before = map_count();
    let stacks: Vec<_> = (0..N)
        .map(|_| pool.get(DEFAULT_STACK_SIZE).unwrap())
        .collect();
    let during = map_count();
    // Other tests run alongside (threads cost mappings too), hence the slack; a mapping per
    // stack would be 100,000 more, two with mprotect guards.
    assert!(
        during < before + 1_000,
        "{N} stacks took {} more mappings ({before} -> {during})",
        during.saturating_sub(before)
    );
    for s in stacks.iter().step_by(997) {
        touch(s.base().get() - page_size(), s.base().get());
    }
    drop(stacks);
}

#[test]
fn trim_releases_resident_memory() {
    let shelf = Shelf::new(GuardPolicy::Auto, usize::MAX, usize::MAX);
    let size = 256 * 1024;
    let n = 256; // 64 MiB
    let slots: Vec<_> = (0..n).map(|_| shelf.carve(size).unwrap()).collect();
    for s in &slots {
        touch(s.limit(), s.top);
    }
    shelf.put(&slots);
    assert_eq!(shelf.stats().dirty, n);
    let before = resident_bytes();
    shelf.trim();
    let after = resident_bytes();
    assert_eq!(shelf.stats().clean, n);
    assert!(
        after + 48 * (1 << 20) <= before,
        "trim released only {} KiB of 64 MiB touched ({before} -> {after} bytes resident)",
        before.saturating_sub(after) >> 10
    );
}

/// The process-wide pool trims too. In a child process of its own: the other tests of this
/// binary return stacks to the same pool while they run.
#[test]
fn the_process_wide_pool_trims() {
    let test = "the_process_wide_pool_trims";
    if is_child(test) {
        let pool = StackPool::new();
        let stacks: Vec<_> = (0..4 * CACHE_STACKS)
            .map(|_| pool.get(DEFAULT_STACK_SIZE).unwrap())
            .collect();
        for s in &stacks {
            touch(s.base().get() - page_size(), s.base().get());
        }
        drop(stacks);
        // More were returned than this thread's cache holds: the rest went to the shelf.
        assert!(pool.stats().dirty >= 2 * CACHE_STACKS);
        pool.trim();
        assert_eq!(pool.stats().dirty, 0);
        println!("trimmed");
        return;
    }
    let out = run_child(test);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("trimmed"),
        "child failed: {:?}\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn big_stacks_get_regions_of_their_own() {
    let pool = StackPool::new();
    let a = pool.get(64 << 20).unwrap();
    let b = pool.get(64 << 20).unwrap();
    touch(a.base().get() - page_size(), a.base().get());
    assert_eq!(a.usable_size(), 64 << 20);
    assert_ne!(a.base(), b.base());
    let top = a.base().get();
    drop(a);
    assert_eq!(pool.get(64 << 20).unwrap().base().get(), top);
}

#[test]
fn overflow_is_reported_and_aborts() {
    let test = "overflow_is_reported_and_aborts";
    if is_child(test) {
        install_overflow_handler();
        let stack = StackPool::new().get(DEFAULT_STACK_SIZE).unwrap();
        let (guard_lo, guard_hi) = stack.guard_range();
        let name = "deep-unit";
        let mut co =
            corosensei::Coroutine::with_stack(stack, |_: &corosensei::Yielder<(), ()>, ()| {
                recurse(0)
            });
        set_running(Some(RunningStack {
            guard_lo,
            guard_hi,
            stack_size: DEFAULT_STACK_SIZE,
            id: 42,
            name_ptr: name.as_ptr(),
            name_len: name.len(),
        }));
        co.resume(());
        std::process::exit(0);
    }
    let out = run_child(test);
    assert_killed_by(&out, libc::SIGABRT);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let report = format!(
        "greenchan: coroutine 'deep-unit' (id 42) overflowed its stack of {DEFAULT_STACK_SIZE} \
         bytes; aborting"
    );
    assert!(stderr.contains(&report), "{stderr}");
}

/// A fault at the bottom of the guard region (a frame that jumped past the end of the stack
/// without touching what lies between) is reported as the coroutine's overflow, although the
/// running stack was published with the one-page `guard_range`, as the scheduler does.
#[test]
fn a_jump_to_the_bottom_of_the_guard_is_reported() {
    let test = "a_jump_to_the_bottom_of_the_guard_is_reported";
    if is_child(test) {
        install_overflow_handler();
        let stack = StackPool::new().get(MIN_STACK_SIZE).unwrap();
        let (guard_lo, guard_hi) = stack.guard_range();
        let (region_lo, _) = stack.guard_region();
        assert!(region_lo + page_size() < guard_lo);
        let name = "jumper";
        set_running(Some(RunningStack {
            guard_lo,
            guard_hi,
            stack_size: MIN_STACK_SIZE,
            id: 9,
            name_ptr: name.as_ptr(),
            name_len: name.len(),
        }));
        eprintln!("writing the lowest byte of the guard region");
        // SAFETY: none; this is the fault under test.
        unsafe { ptr::write_volatile(region_lo as *mut u8, 1) };
        std::process::exit(0);
    }
    let out = run_child(test);
    assert_killed_by(&out, libc::SIGABRT);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("coroutine 'jumper' (id 9) overflowed its stack of 16384 bytes"),
        "{stderr}"
    );
}

#[test]
fn running_stack_guard_covers_the_whole_region() {
    let stack = StackPool::new().get(MIN_STACK_SIZE).unwrap();
    let (region_lo, region_hi) = stack.guard_region();
    let of = |(guard_lo, guard_hi): (usize, usize)| RunningStack {
        guard_lo,
        guard_hi,
        stack_size: MIN_STACK_SIZE,
        id: 1,
        name_ptr: ptr::null(),
        name_len: 0,
    };
    // Published with the guard page or the whole region, the handler sees the whole region.
    assert_eq!(of(stack.guard_range()).guard(), region_lo..region_hi);
    assert_eq!(of(stack.guard_region()).guard(), region_lo..region_hi);
    // A task that has no stack yet publishes zeros: nothing is its guard.
    assert!(of((0, 0)).guard().is_empty());
}

#[test]
fn unnamed_coroutine_overflow_is_reported() {
    let test = "unnamed_coroutine_overflow_is_reported";
    if is_child(test) {
        install_overflow_handler();
        let stack = StackPool::new().get(MIN_STACK_SIZE).unwrap();
        let (guard_lo, guard_hi) = stack.guard_range();
        let mut co =
            corosensei::Coroutine::with_stack(stack, |_: &corosensei::Yielder<(), ()>, ()| {
                recurse(0)
            });
        set_running(Some(RunningStack {
            guard_lo,
            guard_hi,
            stack_size: MIN_STACK_SIZE,
            id: 7,
            name_ptr: ptr::null(),
            name_len: 0,
        }));
        co.resume(());
        std::process::exit(0);
    }
    let out = run_child(test);
    assert_killed_by(&out, libc::SIGABRT);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("coroutine <unnamed> (id 7) overflowed its stack of 16384 bytes"),
        "{stderr}"
    );
}

#[test]
fn other_faults_chain_to_the_previous_handler() {
    let test = "other_faults_chain_to_the_previous_handler";
    if is_child(test) {
        install_overflow_handler();
        install_overflow_handler(); // idempotent
                                    // A coroutine is "running", but the fault is elsewhere: not an overflow.
        let stack = StackPool::new().get(DEFAULT_STACK_SIZE).unwrap();
        let (guard_lo, guard_hi) = stack.guard_range();
        set_running(Some(RunningStack {
            guard_lo,
            guard_hi,
            stack_size: DEFAULT_STACK_SIZE,
            id: 1,
            name_ptr: ptr::null(),
            name_len: 0,
        }));
        eprintln!("faulting on a wild pointer");
        // SAFETY: none; this is the fault under test.
        unsafe { ptr::write_volatile(black_box(16usize) as *mut u8, 1) };
        std::process::exit(0);
    }
    let out = run_child(test);
    assert_killed_by(&out, libc::SIGSEGV);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("overflowed"));
}

#[test]
fn thread_overflows_still_reach_std() {
    let test = "thread_overflows_still_reach_std";
    if is_child(test) {
        install_overflow_handler();
        std::thread::Builder::new()
            .name("deep-thread".into())
            .stack_size(64 * 1024)
            .spawn(|| recurse(0))
            .unwrap()
            .join()
            .unwrap();
        std::process::exit(0);
    }
    let out = run_child(test);
    assert_killed_by(&out, libc::SIGABRT);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("'deep-thread'") && stderr.contains("has overflowed its stack"),
        "{stderr}"
    );
    assert!(!stderr.contains("greenchan"), "{stderr}");
}

#[test]
fn guard_markers_are_used_from_linux_6_13() {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    let mut parts = release.trim().split(['.', '-']);
    let major: u32 = parts.next().unwrap().parse().unwrap();
    let minor: u32 = parts.next().unwrap().parse().unwrap();
    let shelf = Shelf::new(GuardPolicy::Auto, 1024, 64 << 20);
    if (major, minor) >= (6, 13) {
        assert_eq!(shelf.mode(), GuardMode::Marker, "kernel {release}");
        shelf.carve(DEFAULT_STACK_SIZE).unwrap();
        assert_eq!(shelf.stats().guard_mappings, 0);
    }
}
