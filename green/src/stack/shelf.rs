//! The process-wide store of coroutine stacks: the regions they are carved from, their guard
//! pages, the free lists per size class, and the retention budget that hands the memory of
//! idle stacks back to the kernel.
//!
//! Everything here is the slow path, behind one mutex: the per-thread caches in `mod.rs` come
//! here in batches. System calls (mapping a region, installing a guard, releasing memory) are
//! made outside the lock wherever that is possible without handing out a stack whose memory is
//! still being released; mapping a new region, once per several hundred stacks, is the
//! exception.
//!
//! A slot in a region is `[guard region][usable stack]`, the stack growing down towards its
//! guard. Slots are laid end to end, so the top of one stack abuts the guard of the next: an
//! overflow of one stack hits its own guard, and a write past the top of a stack hits its
//! neighbour's. The guard region is [`GUARD_BYTES`] (64 KiB) rather than one page, so that a
//! frame that moves the stack pointer down by up to that much before touching memory (C code
//! built without stack probes) still lands in it, not in the neighbour below. Regions are
//! never unmapped (see the module doc of `stack`).

use std::io;
use std::ptr;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};

use super::page_size;

/// `madvise` advice that installs guard markers on a range of pages (Linux 6.13+): accesses
/// fault as if the pages were `PROT_NONE`, but the mapping is not split. Not yet in `libc`.
pub(super) const MADV_GUARD_INSTALL: libc::c_int = 102;

/// Address space reserved per region. 256 MiB holds 455 default-sized stacks (512 KiB and
/// their 64 KiB guard); the kernel merges adjacent regions, which share their flags, into one
/// mapping anyway.
pub(super) const REGION_BYTES: usize = 256 << 20;

/// A stack whose slot (guard included) is larger than this gets a region of its own instead of
/// wasting the tail of the current one.
const DEDICATED_REGION_SLOT: usize = REGION_BYTES / 4;

/// At most this many idle stacks keep their memory in the shelf...
///
/// Generous on purpose. Releasing a stack's memory is an `madvise` whose TLB shootdown
/// interrupts every other core running the process, and reusing it faults its pages back in:
/// with the old budget (1,024 stacks, 64 MiB) skynet spent a quarter of its time in
/// `madvise` on two workers. Memory kept through a burst is still given back once the
/// runtime goes idle (the last worker to fall idle trims every idle stack, at most once a
/// second), and Go's stack pools keep theirs until its background scavenger runs.
pub(super) const RETAIN_STACKS: usize = 16384;
/// ...and at most this many bytes of them, counted by usable size (an upper bound of what they
/// touched; a default 512 KiB stack that ran shallow code touched one or two pages). It is
/// [`RETAIN_STACKS`] default-sized stacks, so that for those the count binds, as it did when
/// both were set (half this budget gave skynet 2.6 times the releases, 12,083 against 4,659); it
/// matters for larger stacks. Stacks shelved beyond either bound have their memory released
/// first.
pub(super) const RETAIN_BYTES: usize = RETAIN_STACKS * super::DEFAULT_STACK_SIZE;

/// Bytes of guard below every stack (at least a page): see [`guard_len`].
pub(super) const GUARD_BYTES: usize = 64 * 1024;

/// The guard region below every stack: [`GUARD_BYTES`], or one page where pages are larger.
///
/// A page-table marker or a `PROT_NONE` range costs no memory whatever its length, so the
/// region is as long as a C frame of ordinary size: code compiled without stack probes (C's
/// default, unlike Rust's) lowers the stack pointer by its whole frame and may first touch
/// the frame's lowest byte, which skips over a one-page guard into the neighbouring stack.
/// Async-signal-safe once a stack exists (`page_size` is then a relaxed atomic load).
pub(crate) fn guard_len() -> usize {
    GUARD_BYTES.max(page_size())
}

/// A stack's address range, free of ownership: what the shelf and the caches store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Slot {
    /// One past the highest usable byte (the initial stack pointer).
    pub(super) top: usize,
    /// Usable bytes below `top`, a page multiple; the guard region lies below them.
    pub(super) size: usize,
}

impl Slot {
    /// Lowest usable address (the guard region ends here).
    pub(super) fn limit(self) -> usize {
        self.top - self.size
    }

    /// Lowest address of the slot: the start of its guard region.
    pub(super) fn guard_lo(self) -> usize {
        self.limit() - guard_len()
    }
}

/// How guard regions are made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum GuardMode {
    /// `madvise(MADV_GUARD_INSTALL)`: a page-table marker, no extra mapping (Linux 6.13+).
    Marker,
    /// `mprotect(PROT_NONE)`: splits the region, two more mappings per stack (whatever the
    /// guard's length), so it is allowed only within a budget of mappings.
    Mprotect,
}

const MODE_UNKNOWN: u8 = 0;
const MODE_MARKER: u8 = 1;
const MODE_MPROTECT: u8 = 2;

/// How a shelf chooses its guard mode; tests force the fallback to exercise it on any kernel.
#[derive(Clone, Copy, Debug)]
pub(super) enum GuardPolicy {
    /// Guard markers where the kernel has them, else `mprotect` within a mapping budget taken
    /// from `vm.max_map_count`.
    Auto,
    /// `mprotect` with the given budget of mappings (each guard costs two).
    #[cfg_attr(not(test), allow(dead_code))]
    Mprotect { budget: usize },
}

/// What a shelf holds, for tests, benches and the lead's diagnostics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct ShelfStats {
    /// Regions mapped so far (never unmapped).
    pub(crate) regions: usize,
    /// Address space reserved by those regions.
    pub(crate) mapped_bytes: usize,
    /// Stacks ever carved.
    pub(crate) carved: usize,
    /// Idle stacks on the shelf whose memory may be resident.
    pub(crate) dirty: usize,
    /// Idle stacks on the shelf whose memory was released.
    pub(crate) clean: usize,
    /// Mappings spent on `mprotect` guards (0 with guard markers).
    pub(crate) guard_mappings: usize,
}

/// Idle stacks of one usable size.
struct SizeClass {
    size: usize,
    /// Stack tops whose memory may be resident, most recently shelved last.
    dirty: Vec<usize>,
    /// Stack tops whose memory was released; handed out after the dirty ones.
    clean: Vec<usize>,
}

struct Inner {
    /// A handful of sizes in practice, so a vector beats a map.
    classes: Vec<SizeClass>,
    dirty_stacks: usize,
    dirty_bytes: usize,
    /// The unused part of the current region: `[next, end)`.
    next: usize,
    end: usize,
    regions: usize,
    mapped_bytes: usize,
    carved: usize,
    /// Mappings spent on `mprotect` guards, and how many may be.
    guard_mappings: usize,
    mapping_budget: usize,
}

impl Inner {
    fn class(&mut self, size: usize) -> &mut SizeClass {
        let i = match self.classes.iter().position(|c| c.size == size) {
            Some(i) => i,
            None => {
                self.classes.push(SizeClass {
                    size,
                    dirty: Vec::new(),
                    clean: Vec::new(),
                });
                self.classes.len() - 1
            }
        };
        &mut self.classes[i]
    }
}

/// The store of idle stacks and the carver of new ones. One per process (`SHELF` in `mod.rs`);
/// tests make private ones.
pub(super) struct Shelf {
    inner: Mutex<Inner>,
    policy: GuardPolicy,
    mode: AtomicU8,
    retain_stacks: usize,
    retain_bytes: usize,
}

impl Shelf {
    pub(super) const fn new(
        policy: GuardPolicy,
        retain_stacks: usize,
        retain_bytes: usize,
    ) -> Shelf {
        Shelf {
            inner: Mutex::new(Inner {
                classes: Vec::new(),
                dirty_stacks: 0,
                dirty_bytes: 0,
                next: 0,
                end: 0,
                regions: 0,
                mapped_bytes: 0,
                carved: 0,
                guard_mappings: 0,
                mapping_budget: 0,
            }),
            policy,
            mode: AtomicU8::new(MODE_UNKNOWN),
            retain_stacks,
            retain_bytes,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Nothing panics while holding the lock except allocation failure, which aborts; a
        // poisoned lock still guards consistent lists.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// True where every stack's guard costs mappings (`mprotect`, kernels before 6.13).
    pub(super) fn guards_cost_mappings(&self) -> bool {
        self.mode() == GuardMode::Mprotect
    }

    /// How many tracked stacks may be held or promised at once: with `mprotect` guards, the
    /// mapping budget over the two mappings each costs; with markers, a third of the kernel's
    /// mapping limit, as a large stack may get a region (a mapping) of its own.
    pub(super) fn tracked_stack_limit(&self) -> usize {
        match self.mode() {
            GuardMode::Mprotect => self.lock().mapping_budget / 2,
            GuardMode::Marker => {
                static LIMIT: OnceLock<usize> = OnceLock::new();
                *LIMIT.get_or_init(mprotect_mapping_budget)
            }
        }
    }

    /// The guard mode, settled on first use.
    pub(super) fn mode(&self) -> GuardMode {
        match self.mode.load(Ordering::Acquire) {
            MODE_MARKER => GuardMode::Marker,
            MODE_MPROTECT => GuardMode::Mprotect,
            _ => {
                let (mode, budget) = match self.policy {
                    GuardPolicy::Mprotect { budget } => (GuardMode::Mprotect, budget),
                    GuardPolicy::Auto if kernel_has_guard_markers() => (GuardMode::Marker, 0),
                    GuardPolicy::Auto => (GuardMode::Mprotect, mprotect_mapping_budget()),
                };
                // Publish the budget before the mode: a carver that sees the mode under the
                // lock sees the budget too.
                self.lock().mapping_budget = budget;
                let m = match mode {
                    GuardMode::Marker => MODE_MARKER,
                    GuardMode::Mprotect => MODE_MPROTECT,
                };
                self.mode.store(m, Ordering::Release);
                mode
            }
        }
    }

    /// Carves a fresh stack of `size` usable bytes (a page multiple) with its guard region.
    pub(super) fn carve(&self, size: usize) -> io::Result<Slot> {
        let mode = self.mode();
        let slot_len = size + guard_len();
        let start = {
            let mut inner = self.lock();
            if mode == GuardMode::Mprotect && inner.guard_mappings + 2 > inner.mapping_budget {
                return Err(budget_exhausted(inner.guard_mappings, inner.mapping_budget));
            }
            let start = reserve(&mut inner, slot_len)?;
            if mode == GuardMode::Mprotect {
                inner.guard_mappings += 2;
            }
            inner.carved += 1;
            start
        };
        // The slot is ours alone now; guard it outside the lock. A failure wastes its address
        // space (never its memory: nothing touched it).
        install_guard(start, mode)?;
        Ok(Slot {
            top: start + slot_len,
            size,
        })
    }

    /// Moves up to `max` idle stacks of `size` into `out`, those with resident memory first.
    pub(super) fn take(&self, size: usize, max: usize, out: &mut Vec<Slot>) -> usize {
        let mut inner = self.lock();
        let Some(i) = inner.classes.iter().position(|c| c.size == size) else {
            return 0;
        };
        let class = &mut inner.classes[i];
        let from_dirty = max.min(class.dirty.len());
        let from_clean = (max - from_dirty).min(class.clean.len());
        let dirty_at = class.dirty.len() - from_dirty;
        let clean_at = class.clean.len() - from_clean;
        out.extend(class.dirty.drain(dirty_at..).map(|top| Slot { top, size }));
        out.extend(class.clean.drain(clean_at..).map(|top| Slot { top, size }));
        inner.dirty_stacks -= from_dirty;
        inner.dirty_bytes -= from_dirty * size;
        from_dirty + from_clean
    }

    /// Shelves idle stacks. Those beyond the retention budget have their memory released
    /// before any other thread can take them.
    pub(super) fn put(&self, slots: &[Slot]) {
        let mut release = Vec::new();
        {
            let mut inner = self.lock();
            for &slot in slots {
                if inner.dirty_stacks < self.retain_stacks
                    && inner.dirty_bytes + slot.size <= self.retain_bytes
                {
                    inner.dirty_stacks += 1;
                    inner.dirty_bytes += slot.size;
                    inner.class(slot.size).dirty.push(slot.top);
                } else {
                    release.push(slot);
                }
            }
        }
        if !release.is_empty() {
            self.release_and_shelve(release);
        }
    }

    /// Releases the memory of every idle stack on the shelf.
    pub(super) fn trim(&self) {
        let mut release = Vec::new();
        {
            let mut inner = self.lock();
            for class in &mut inner.classes {
                let size = class.size;
                release.extend(class.dirty.drain(..).map(|top| Slot { top, size }));
            }
            inner.dirty_stacks = 0;
            inner.dirty_bytes = 0;
        }
        if !release.is_empty() {
            self.release_and_shelve(release);
        }
    }

    fn release_and_shelve(&self, mut slots: Vec<Slot>) {
        release_memory(&mut slots, self.mode());
        let mut inner = self.lock();
        for slot in slots {
            inner.class(slot.size).clean.push(slot.top);
        }
    }

    pub(super) fn stats(&self) -> ShelfStats {
        let inner = self.lock();
        ShelfStats {
            regions: inner.regions,
            mapped_bytes: inner.mapped_bytes,
            carved: inner.carved,
            dirty: inner.dirty_stacks,
            clean: inner.classes.iter().map(|c| c.clean.len()).sum(),
            guard_mappings: inner.guard_mappings,
        }
    }
}

/// Reserves address space for one slot: from the current region, or from a new one when it
/// is used up, or a region of its own for a large slot.
fn reserve(inner: &mut Inner, slot_len: usize) -> io::Result<usize> {
    if slot_len > DEDICATED_REGION_SLOT {
        let start = map_region(slot_len)?;
        inner.regions += 1;
        inner.mapped_bytes += slot_len;
        return Ok(start);
    }
    if inner.end - inner.next < slot_len {
        let region = map_region(REGION_BYTES)?;
        inner.next = region;
        inner.end = region + REGION_BYTES;
        inner.regions += 1;
        inner.mapped_bytes += REGION_BYTES;
    }
    let start = inner.next;
    inner.next += slot_len;
    Ok(start)
}

/// Reserves `len` bytes of lazily committed, never huge-paged address space.
fn map_region(len: usize) -> io::Result<usize> {
    // SAFETY: a fresh anonymous mapping at an address of the kernel's choosing aliases nothing.
    let addr = unsafe {
        libc::mmap(
            ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE | libc::MAP_STACK,
            -1,
            0,
        )
    };
    if addr == libc::MAP_FAILED {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(
            e.kind(),
            format!(
                "greenchan: cannot reserve {len} bytes of address space for coroutine stacks: {e}"
            ),
        ));
    }
    // A touched stack page must never become a 2 MiB huge page (THP=always would otherwise
    // turn a 4 KiB stack into 2 MiB of resident memory). Best effort: an error here costs
    // memory, not correctness.
    // SAFETY: advice on the mapping just made, which nothing else uses yet.
    unsafe { libc::madvise(addr, len, libc::MADV_NOHUGEPAGE) };
    Ok(addr as usize)
}

/// Makes the first [`guard_len`] bytes at `start` the guard region.
fn install_guard(start: usize, mode: GuardMode) -> io::Result<()> {
    let len = guard_len();
    let rc = match mode {
        // SAFETY: `[start, start + len)` is the guard region of a slot this caller owns and
        // has not handed out: no other code on any thread has a reference into it, and guard
        // markers only make later accesses to it fault.
        GuardMode::Marker => unsafe { libc::madvise(start as *mut _, len, MADV_GUARD_INSTALL) },
        // SAFETY: as above; PROT_NONE on untouched anonymous memory frees nothing anyone uses.
        GuardMode::Mprotect => unsafe { libc::mprotect(start as *mut _, len, libc::PROT_NONE) },
    };
    if rc == 0 {
        return Ok(());
    }
    let e = io::Error::last_os_error();
    Err(io::Error::new(
        e.kind(),
        format!("greenchan: cannot install the guard region of a coroutine stack: {e}"),
    ))
}

/// Hands the memory of these stacks back to the kernel (their contents become zero pages on
/// next touch; mappings and guards stay). Contiguous slots are released with one call: guard
/// markers survive `MADV_DONTNEED` (tested), so a run's guards are covered too. `mprotect`
/// guards are separate mappings, so that mode releases each usable range alone.
fn release_memory(slots: &mut [Slot], mode: GuardMode) {
    let advise = |lo: usize, hi: usize| {
        // SAFETY: `[lo, hi)` covers slots owned by the caller, which no thread can take from
        // the shelf until they are shelved again, so nobody uses that memory; DONTNEED on
        // private anonymous memory just drops it. An error would leave memory resident, which
        // costs memory, not correctness.
        unsafe { libc::madvise(lo as *mut _, hi - lo, libc::MADV_DONTNEED) };
    };
    if mode == GuardMode::Mprotect {
        for s in slots.iter() {
            advise(s.limit(), s.top);
        }
        return;
    }
    slots.sort_unstable_by_key(|s| s.top);
    let mut run: Option<(usize, usize)> = None;
    for s in slots.iter() {
        run = match run {
            Some((lo, hi)) if hi == s.guard_lo() => Some((lo, s.top)),
            Some((lo, hi)) => {
                advise(lo, hi);
                Some((s.guard_lo(), s.top))
            }
            None => Some((s.guard_lo(), s.top)),
        };
    }
    if let Some((lo, hi)) = run {
        advise(lo, hi);
    }
}

/// Whether `madvise(MADV_GUARD_INSTALL)` works here: tried once on a scratch page.
fn kernel_has_guard_markers() -> bool {
    static HAS: OnceLock<bool> = OnceLock::new();
    *HAS.get_or_init(|| {
        let page = page_size();
        // SAFETY: a fresh one-page anonymous mapping, advised and unmapped by this block only.
        unsafe {
            let p = libc::mmap(
                ptr::null_mut(),
                page,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            );
            if p == libc::MAP_FAILED {
                return false;
            }
            let ok = libc::madvise(p, page, MADV_GUARD_INSTALL) == 0;
            libc::munmap(p, page);
            ok
        }
    })
}

/// Mappings `mprotect` guards may use: a third of `vm.max_map_count`, so that stacks never
/// take more than a third of what the process may map (each guard splits its region, two
/// mappings a stack) and the allocator, thread stacks and libraries keep the rest. With the
/// stock 65,530 that is 21,843 mappings: 10,921 guarded stacks live or pooled at once.
fn mprotect_mapping_budget() -> usize {
    std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .ok()
        .and_then(|s| s.trim().parse::<usize>().ok())
        .unwrap_or(65530)
        / 3
}

fn budget_exhausted(used: usize, budget: usize) -> io::Error {
    io::Error::new(
        io::ErrorKind::OutOfMemory,
        format!(
            "greenchan: coroutine stack mapping budget exhausted: this kernel lacks \
             MADV_GUARD_INSTALL (Linux 6.13+), so every stack's guard region costs two memory \
             mappings, and stack guards already use {used} of the {budget} allowed (a third \
             of vm.max_map_count); run fewer coroutines at once, raise vm.max_map_count, or \
             upgrade the kernel"
        ),
    )
}
