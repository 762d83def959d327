//! Coroutine stacks: where they come from, how they are guarded, pooled and given back, and
//! what happens when one overflows.
//!
//! One million live coroutines must fit under Linux's default `vm.max_map_count` of 65530, so a
//! stack cannot be a mapping of its own (with an `mprotect` guard page it would be two).
//! Stacks are carved instead from 256 MiB `MAP_NORESERVE` regions, which the kernel merges
//! into a few mappings: memory is committed page by page on first touch, never as huge pages
//! (`MADV_NOHUGEPAGE`).
//!
//! A stack is a reservation, not an allocation, so the default ([`DEFAULT_STACK_SIZE`],
//! 512 KiB) is sized for code that keeps 100 KiB of locals in a debug build (where a value
//! passed by value, to `black_box` say, takes two or three stack slots of its size), while a
//! parked coroutine that ran shallow code still has one or two pages resident. What a larger
//! reservation costs is address space (a million default stacks span 576 GiB of the 128 TiB a
//! 47-bit process has) and page tables: the kernel needs 8 bytes of page table per 4 KiB of
//! a span whose every 2 MiB holds touched pages or guard markers, about 1,150 bytes per live
//! default stack, not counted as resident memory (`examples/figures.rs` reports both).
//!
//! Each stack has a 64 KiB guard region below it ([`shelf::GUARD_BYTES`]), so that a C frame
//! of ordinary size, compiled without stack probes, that moves the stack pointer past the end
//! of the stack and touches its lowest byte first, still faults in this stack's guard and is
//! reported as this coroutine's overflow, rather than writing into the neighbouring stack. On
//! Linux 6.13+ the guard is `madvise(MADV_GUARD_INSTALL)`, page-table markers that cost no
//! memory and do not split the region. Elsewhere it is `mprotect(PROT_NONE)` over the same
//! 64 KiB, which costs no memory either (the pages are never touched) but splits the region
//! into two more mappings per stack: that fallback is allowed a third of
//! `vm.max_map_count` (10,921 stacks live or pooled with the stock 65,530), past which
//! [`StackPool::get`] fails with a clear error instead of the process running out of mappings.
//! A frame larger than the guard plus what is left of the stack can still step over it on
//! either path; Rust code cannot (rustc emits stack probes), C code can.
//!
//! Stacks are pooled by size (page-rounded usable size: only equal sizes are reused). The
//! hot path is a per-thread cache of up to [`CACHE_STACKS`] stacks, no lock and no system
//! call; it exchanges batches of [`BATCH`] with the process-wide shelf (`shelf.rs`), which
//! keeps up to 16,384 idle stacks (1 GiB of usable size) with their memory and releases the
//! memory of any beyond that (`MADV_DONTNEED`: the mapping and guard stay, the pages go).
//! [`StackPool::trim`] releases the memory of every stack on the shelf.
//!
//! There is one shelf per process, and [`StackPool`] is a handle to it: a stack may be
//! dropped on any thread, after its runtime is gone (a coroutine parked forever, a stack in a
//! thread's cache), so stacks must not belong to a runtime that can go away. For the same
//! reason regions are never unmapped: address space is cheap, resident memory is what the
//! retention budget and `trim` give back.
//!
//! A stack overflow faults in the guard region; `overflow.rs` reports which coroutine it was
//! and aborts.

mod overflow;
mod shelf;

use std::cell::RefCell;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};

use corosensei::stack::{Stack, StackPointer};

#[allow(unused_imports)] // `ensure_alt_stack` is for threads the runtime did not make.
pub(crate) use overflow::{
    ensure_alt_stack, install_overflow_handler, running, set_running, RunningStack,
};
pub(crate) use shelf::guard_len;
use shelf::{GuardPolicy, Shelf, Slot};

/// Smallest accepted coroutine stack size in bytes (16 KiB).
pub const MIN_STACK_SIZE: usize = 16 * 1024;
/// Largest accepted coroutine stack size in bytes (1 GiB); larger requests are refused as
/// absurd.
pub const MAX_STACK_SIZE: usize = 1 << 30;
/// Stack size of a coroutine spawned without one (512 KiB): address space reserved, memory
/// committed only as the coroutine touches it, so a parked coroutine that ran shallow code
/// still costs one or two pages. Enough for 100 KiB of locals in a debug build.
pub const DEFAULT_STACK_SIZE: usize = 512 * 1024;

/// Stacks a thread's cache holds at most. A thread that finishes coroutines fills it, one
/// that starts them drains it; past this, the older half goes to the shelf.
pub(crate) const CACHE_STACKS: usize = 32;
/// Stacks moved between a thread's cache and the shelf at a time.
pub(crate) const BATCH: usize = CACHE_STACKS / 2;
/// Stacks larger than this bypass the thread caches, so that an idle thread does not sit on
/// much memory that `trim` cannot reach.
const CACHE_MAX_STACK: usize = 1 << 20;

/// The process's stacks; see the module doc.
static SHELF: Shelf = Shelf::new(GuardPolicy::Auto, shelf::RETAIN_STACKS, shelf::RETAIN_BYTES);

/// The system page size, read once. Inlined: every switch into a coroutine asks for it (the
/// guard range it announces to the overflow handler).
#[inline]
pub(crate) fn page_size() -> usize {
    match PAGE.load(Ordering::Relaxed) {
        0 => read_page_size(),
        page => page,
    }
}

static PAGE: AtomicUsize = AtomicUsize::new(0);

#[cold]
fn read_page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize;
    assert!(page.is_power_of_two(), "odd page size {page}");
    PAGE.store(page, Ordering::Relaxed);
    page
}

/// Checks a requested coroutine stack size and rounds it up to a whole number of pages.
///
/// Sizes below [`MIN_STACK_SIZE`] or above [`MAX_STACK_SIZE`] fail with
/// [`io::ErrorKind::InvalidInput`] and a message naming the bounds.
pub(crate) fn validate_stack_size(size: usize) -> io::Result<usize> {
    if !(MIN_STACK_SIZE..=MAX_STACK_SIZE).contains(&size) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "coroutine stack size of {size} bytes is out of range: it must be at least \
                 {MIN_STACK_SIZE} bytes (MIN_STACK_SIZE, 16 KiB) and at most {MAX_STACK_SIZE} \
                 bytes (MAX_STACK_SIZE, 1 GiB)"
            ),
        ));
    }
    let page = page_size();
    // Cannot overflow: MAX_STACK_SIZE is a multiple of any page size up to 1 GiB.
    Ok((size + page - 1) & !(page - 1))
}

/// A coroutine stack from the pool: usable memory with a guard region below it.
///
/// Dropping it returns it to the pool, like [`StackPool::put`].
#[derive(Debug)]
pub(crate) struct GreenStack {
    slot: Slot,
}

impl GreenStack {
    /// Usable bytes (page-rounded; the guard region is not counted).
    #[allow(dead_code)] // part of the API the scheduler may use
    pub(crate) fn usable_size(&self) -> usize {
        self.slot.size
    }

    /// One past the highest usable address (page aligned): where the stack starts.
    #[cfg_attr(
        any(not(target_arch = "x86_64"), greenchan_portable_fiber),
        allow(dead_code)
    )]
    pub(crate) fn top(&self) -> usize {
        self.slot.top
    }

    /// The guard page directly below the usable stack, the first an overflow reaches:
    /// `(lowest address, one past the highest)`, one page long. The top of this range is the
    /// lowest usable address of the stack.
    ///
    /// The whole guard region is longer ([`guard_region`](Self::guard_region)); the overflow
    /// handler knows its length and treats a fault anywhere in the [`guard_len`] bytes below
    /// the top of this range as an overflow, so a [`RunningStack`] built from this range or
    /// from the whole region reports the same.
    pub(crate) fn guard_range(&self) -> (usize, usize) {
        (self.slot.limit() - page_size(), self.slot.limit())
    }

    /// The whole guard region below the usable stack, [`guard_len`] bytes:
    /// `(lowest address, one past the highest)`.
    #[allow(dead_code)] // part of the API the scheduler may use
    pub(crate) fn guard_region(&self) -> (usize, usize) {
        (self.slot.guard_lo(), self.slot.limit())
    }

    fn into_slot(self) -> Slot {
        let slot = self.slot;
        std::mem::forget(self);
        slot
    }
}

impl Drop for GreenStack {
    fn drop(&mut self) {
        cache_put(self.slot);
    }
}

// SAFETY: `base` is the top of `size` usable bytes, page aligned (so aligned to
// STACK_ALIGNMENT), at least MIN_STACK_SIZE of them (validated), with a guard region directly
// below that faults on any access. The memory belongs to this value alone until it is dropped
// or put back. `limit` includes the guard region, as corosensei's trait documentation
// requires (and as its DefaultStack does); `guard_range` gives the usable limit separately.
unsafe impl Stack for GreenStack {
    #[inline]
    fn base(&self) -> StackPointer {
        StackPointer::new(self.slot.top).expect("a stack top is never null")
    }

    #[inline]
    fn limit(&self) -> StackPointer {
        StackPointer::new(self.slot.guard_lo()).expect("a stack's guard is never at null")
    }
}

/// The pool of coroutine stacks: a handle to the process-wide one (see the module doc), so
/// any number of runtimes may each hold one, and dropping it frees nothing.
#[derive(Debug, Default)]
pub(crate) struct StackPool {
    _private: (),
}

/// Stacks whose slot (usable size and guard) is larger than this are accounted for at spawn
/// (`StackPool::promise`): a few thousand of them can exhaust the address space.
const TRACKED_SLOT: usize = 8 << 20;

/// Address space the tracked stacks may promise or hold: half of the 47-bit user address
/// space, the other half being left to the rest of the program.
const ADDRESS_BUDGET: usize = 64 << 40;

/// Tracked stacks (see `StackPool::promise`) promised to coroutines that have not started, or
/// held by coroutines that run: their count and bytes.
static TRACKED_STACKS: AtomicUsize = AtomicUsize::new(0);
static TRACKED_BYTES: AtomicUsize = AtomicUsize::new(0);
/// The smallest usable size whose stacks are tracked (`StackPool::tracked`); 0 until known.
static TRACKED_FROM: AtomicUsize = AtomicUsize::new(0);

impl StackPool {
    /// A handle to the process's stack pool.
    pub(crate) fn new() -> StackPool {
        StackPool { _private: () }
    }

    /// Whether stacks of `size` usable bytes are accounted for at spawn: large ones, and every
    /// one where guards cost mappings (kernels before 6.13).
    #[inline]
    fn tracked(&self, size: usize) -> bool {
        // The answer is a threshold, fixed once the guard mode is known; it is asked at every
        // spawn and every stack's return, so it is computed once.
        let mut from = TRACKED_FROM.load(Ordering::Relaxed);
        if from == 0 {
            from = if SHELF.guards_cost_mappings() {
                1
            } else {
                (TRACKED_SLOT + 1).saturating_sub(guard_len()).max(1)
            };
            TRACKED_FROM.store(from, Ordering::Relaxed);
        }
        size >= from
    }

    /// Promises a stack of `size` usable bytes (a size [`validate_stack_size`] returned) to a
    /// coroutine being spawned, so that a spawn
    /// that could not later get one fails now, with an error, instead of its coroutine being
    /// dropped when it would start. Returns whether the promise is tracked; the caller passes
    /// that to [`release_promise`](StackPool::release_promise) if the coroutine never starts.
    /// Stacks of the default size with guard markers are not tracked: the address space holds
    /// a hundred million of them, so the check would only cost time.
    pub(crate) fn promise(&self, size: usize) -> io::Result<bool> {
        debug_assert_eq!(
            validate_stack_size(size).ok(),
            Some(size),
            "a validated size"
        );
        if !self.tracked(size) {
            return Ok(false);
        }
        let bytes = size + guard_len();
        let stacks = TRACKED_STACKS.fetch_add(1, Ordering::AcqRel) + 1;
        let total = TRACKED_BYTES.fetch_add(bytes, Ordering::AcqRel) + bytes;
        let count_ok = stacks <= SHELF.tracked_stack_limit();
        if total <= ADDRESS_BUDGET && count_ok {
            return Ok(true);
        }
        self.release_tracked(bytes);
        Err(io::Error::new(
            io::ErrorKind::OutOfMemory,
            format!(
                "no stack of {size} bytes can be had: {} stacks ({} MiB of address space) are held \
                 or promised already{}",
                stacks - 1,
                (total - bytes) >> 20,
                if count_ok {
                    ""
                } else {
                    ", and the kernel's memory mappings (vm.max_map_count) allow no more"
                }
            ),
        ))
    }

    /// Gives back a tracked promise (`promise` returned true) of a stack of `size` bytes that
    /// was never taken, or the stack taken for it, once returned.
    pub(crate) fn release_promise(&self, size: usize) {
        self.release_tracked(size + guard_len());
    }

    fn release_tracked(&self, bytes: usize) {
        TRACKED_STACKS.fetch_sub(1, Ordering::AcqRel);
        TRACKED_BYTES.fetch_sub(bytes, Ordering::AcqRel);
    }

    /// A stack with `size` usable bytes (a size [`validate_stack_size`] returned; others are
    /// rounded or refused the same way): a pooled one of that size if there is one, else a new
    /// one. Fails if no address space is left or, on kernels before 6.13, when guard pages
    /// would exceed the mapping budget.
    pub(crate) fn get(&self, size: usize) -> io::Result<GreenStack> {
        let size = validate_stack_size(size)?;
        if let Some(slot) = cache_get(size) {
            return Ok(GreenStack { slot });
        }
        Ok(GreenStack {
            slot: SHELF.carve(size)?,
        })
    }

    /// Returns a stack to the pool for reuse. Its contents are left as they are (they are
    /// released only once the pool holds more than its retention budget, or by `trim`). A
    /// tracked stack's promise is released with it.
    pub(crate) fn put(&self, stack: GreenStack) {
        let slot = stack.into_slot();
        if self.tracked(slot.size) {
            self.release_promise(slot.size);
        }
        cache_put(slot);
    }

    /// Releases the memory of every stack idle in the process-wide shelf, keeping their
    /// address space and guard regions for reuse. Stacks in threads' small caches (at most
    /// [`CACHE_STACKS`] each, none larger than 1 MiB) keep theirs. Costs one `madvise` per
    /// run of adjacent stacks.
    pub(crate) fn trim(&self) {
        SHELF.trim();
    }

    /// What the process-wide shelf holds.
    #[allow(dead_code)] // for diagnostics and tests
    pub(crate) fn stats(&self) -> shelf::ShelfStats {
        SHELF.stats()
    }
}

/// A thread's stack cache, in front of the shelf.
struct Cache {
    slots: Vec<Slot>,
}

impl Cache {
    /// The most recently cached stack of `size`.
    fn take(&mut self, size: usize) -> Option<Slot> {
        let i = self.slots.iter().rposition(|s| s.size == size)?;
        Some(self.slots.swap_remove(i))
    }

    /// Moves the oldest `n` stacks to the shelf.
    fn spill(&mut self, n: usize) {
        let n = n.min(self.slots.len());
        SHELF.put(&self.slots[..n]);
        self.slots.drain(..n);
    }
}

impl Drop for Cache {
    fn drop(&mut self) {
        SHELF.put(&self.slots);
    }
}

thread_local! {
    static CACHE: RefCell<Cache> = const { RefCell::new(Cache { slots: Vec::new() }) };
}

fn cache_get(size: usize) -> Option<Slot> {
    if size > CACHE_MAX_STACK {
        return take_one(size);
    }
    CACHE
        .try_with(|cache| {
            let mut cache = cache.borrow_mut();
            if let Some(slot) = cache.take(size) {
                return Some(slot);
            }
            // Refill with a batch of this size, making room first if the cache is full of
            // other sizes.
            if cache.slots.len() + BATCH > CACHE_STACKS {
                let excess = cache.slots.len() + BATCH - CACHE_STACKS;
                cache.spill(excess);
            }
            if cache.slots.capacity() == 0 {
                cache.slots.reserve_exact(CACHE_STACKS + 1);
            }
            SHELF.take(size, BATCH, &mut cache.slots);
            cache.take(size)
        })
        .unwrap_or_else(|_| take_one(size))
}

fn take_one(size: usize) -> Option<Slot> {
    let mut one = Vec::with_capacity(1);
    SHELF.take(size, 1, &mut one);
    one.pop()
}

fn cache_put(slot: Slot) {
    if slot.size <= CACHE_MAX_STACK {
        let cached = CACHE.try_with(|cache| {
            let mut cache = cache.borrow_mut();
            if cache.slots.capacity() == 0 {
                cache.slots.reserve_exact(CACHE_STACKS + 1);
            }
            cache.slots.push(slot);
            if cache.slots.len() > CACHE_STACKS {
                cache.spill(BATCH);
            }
        });
        if cached.is_ok() {
            return;
        }
    }
    // Too large to cache, or this thread's cache is gone (thread exit).
    SHELF.put(&[slot]);
}

#[cfg(test)]
mod tests;
