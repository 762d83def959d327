//! Per-thread caches of small freed blocks, by size class: Go's `mcache` idea for the memory
//! the runtime allocates on every spawn (a coroutine's closure and join packet, see `join.rs`)
//! and, through the public [`CachedArc`], for each channel's shared state.
//!
//! Such a block is allocated by the spawner and freed by whoever drops it last, often a worker
//! on another thread. With the system allocator that is a lock of the allocating thread's
//! arena on every free (and a lock of its own on every allocation past its small per-thread
//! cache). Here the thread that frees a block keeps it, and the next allocation of the same
//! size class on that thread takes it back with a few loads and stores.
//!
//! The caches are magazines (Bonwick's design, as in Go's `mcache`/`mcentral` pair): each
//! thread holds, per class, a *current* and a *spare* list of at most `BATCH` blocks. Frees
//! push onto the current list; a full current list is swapped with an empty spare, or, when
//! both are full, the spare goes whole to a global *depot*. Allocations pop from the current
//! list, swap in a non-empty spare, or fetch a full list from the depot. Whole lists move in
//! O(1), so a thread that only allocates (a spawner) is fed by threads that only free (the
//! workers) through one lock per `BATCH` blocks. Every layer is bounded: a thread keeps at
//! most `2 * BATCH` blocks per class and the depot `DEPOT_MAX` lists per class; what does not
//! fit goes back to the system allocator, and so does a thread's cache when the thread exits.
//!
//! Every block of a class has the same layout (`class_layout`), whoever allocated it, so a
//! block may be freed to the system allocator by any thread.
//!
//! The cache is thread-local state updated in several steps, so every access runs with
//! asynchronous preemption disabled ([`crate::critical::disable`]): another coroutine on the
//! same thread can never observe it half-updated.

use std::alloc::{self, Layout};
use std::cell::UnsafeCell;
use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::ops::Deref;
use std::ptr::{self, NonNull};
#[cfg(test)]
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::{self, AtomicU32, Ordering};
use std::sync::Mutex;

/// Size classes are multiples of this many bytes.
const GRANULE: usize = 16;
/// Number of classes: blocks of up to `GRANULE * CLASSES` bytes are cached.
const CLASSES: usize = 16;
/// The largest size cached; larger requests go straight to the system allocator.
const MAX_SIZE: usize = GRANULE * CLASSES;
/// The alignment of every cached block; requests for more go to the system allocator.
const ALIGN: usize = 16;
/// Blocks in one magazine: what moves between a thread and the depot at once.
const BATCH: usize = 32;
/// Full magazines the depot keeps per class; past that they go back to the system allocator.
const DEPOT_MAX: usize = 64;

/// The class serving `layout`, if it is small enough.
#[inline]
fn class_of(layout: Layout) -> Option<usize> {
    if layout.size() == 0 || layout.size() > MAX_SIZE || layout.align() > ALIGN {
        return None;
    }
    Some((layout.size() - 1) / GRANULE)
}

/// The layout of every block of `class`.
#[inline]
fn class_layout(class: usize) -> Layout {
    // The size is a non-zero multiple of the alignment, which is a power of two.
    Layout::from_size_align((class + 1) * GRANULE, ALIGN).expect("valid class layout")
}

/// A free block, linked through its first word.
struct Free {
    next: *mut Free,
}

/// A list of free blocks of one class, at most `BATCH` long.
struct Magazine {
    head: *mut Free,
    len: usize,
}

impl Magazine {
    const EMPTY: Magazine = Magazine {
        head: ptr::null_mut(),
        len: 0,
    };

    /// # Safety
    /// `block` is a free block of this magazine's class, owned by the caller, and the magazine
    /// is not full.
    #[inline]
    unsafe fn push(&mut self, block: NonNull<u8>) {
        let free = block.as_ptr().cast::<Free>();
        // SAFETY: every class is at least `GRANULE` bytes and `ALIGN`-aligned, room for a
        // pointer; the caller gives the block up to us.
        unsafe { free.write(Free { next: self.head }) };
        self.head = free;
        self.len += 1;
    }

    #[inline]
    fn pop(&mut self) -> Option<NonNull<u8>> {
        let free = NonNull::new(self.head)?;
        // SAFETY: the blocks on the list are free blocks we own, linked through `next`.
        self.head = unsafe { (*free.as_ptr()).next };
        self.len -= 1;
        Some(free.cast())
    }

    /// Gives every block back to the system allocator.
    ///
    /// # Safety
    /// The blocks are of `class`.
    unsafe fn release(&mut self, class: usize) {
        while let Some(block) = self.pop() {
            // SAFETY: every block of `class` was allocated with `class_layout(class)`.
            unsafe { alloc::dealloc(block.as_ptr(), class_layout(class)) };
        }
    }
}

/// One thread's magazines of one class.
struct ClassCache {
    current: Magazine,
    spare: Magazine,
}

/// The global depot of full magazines, one stack per class.
struct Depot {
    classes: [Mutex<Vec<Magazine>>; CLASSES],
}

// SAFETY: a magazine is a list of free blocks nobody else references; whoever holds it owns
// them, and the system allocator lets any thread free them.
unsafe impl Send for Magazine {}

static DEPOT: Depot = Depot::new();

impl Depot {
    const fn new() -> Depot {
        Depot {
            classes: [const { Mutex::new(Vec::new()) }; CLASSES],
        }
    }

    /// Takes a full magazine of `class`, if the depot has one.
    fn take(&self, class: usize) -> Option<Magazine> {
        crate::locking::lock(&self.classes[class]).pop()
    }

    /// Keeps a full magazine of `class`, or frees its blocks if the depot has enough.
    fn put(&self, class: usize, mut magazine: Magazine) {
        let mut stack = crate::locking::lock(&self.classes[class]);
        if stack.len() < DEPOT_MAX {
            stack.push(magazine);
            return;
        }
        drop(stack);
        // SAFETY: the magazine holds blocks of `class`.
        unsafe { magazine.release(class) };
    }
}

impl Drop for Depot {
    fn drop(&mut self) {
        for (class, stack) in self.classes.iter_mut().enumerate() {
            let stack = stack
                .get_mut()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for mut magazine in stack.drain(..) {
                // SAFETY: the depot's magazines of `class` hold blocks of `class`.
                unsafe { magazine.release(class) };
            }
        }
    }
}

/// A thread's cache: its magazines, per class.
struct ThreadCache {
    classes: UnsafeCell<[ClassCache; CLASSES]>,
}

impl ThreadCache {
    const fn new() -> ThreadCache {
        ThreadCache {
            classes: UnsafeCell::new(
                [const {
                    ClassCache {
                        current: Magazine::EMPTY,
                        spare: Magazine::EMPTY,
                    }
                }; CLASSES],
            ),
        }
    }

    /// # Safety
    /// No other reference into this cache is alive: the caller runs with preemption disabled
    /// and does not call back into the cache while it holds the reference.
    #[allow(clippy::mut_from_ref)]
    #[inline]
    unsafe fn class(&self, class: usize) -> &mut ClassCache {
        // SAFETY: exclusivity is the caller's obligation, stated above.
        unsafe { &mut (*self.classes.get())[class] }
    }

    /// A cached block of `class`: from the current magazine, the spare, or a full magazine
    /// from `depot`.
    ///
    /// # Safety
    /// As for `class`.
    #[inline]
    unsafe fn take(&self, class: usize, depot: &Depot) -> Option<NonNull<u8>> {
        // SAFETY: the caller's obligation; the depot is a separate structure.
        let c = unsafe { self.class(class) };
        if let Some(block) = c.current.pop() {
            return Some(block);
        }
        if c.spare.len > 0 {
            std::mem::swap(&mut c.current, &mut c.spare);
        } else {
            c.current = depot.take(class)?;
        }
        c.current.pop()
    }

    /// Keeps a free block of `class`; a full current magazine becomes the spare, and a full
    /// spare it displaces goes to `depot`.
    ///
    /// # Safety
    /// As for `class`; `block` is a block of `class` the caller gives up.
    #[inline]
    unsafe fn keep(&self, class: usize, block: NonNull<u8>, depot: &Depot) {
        // SAFETY: the caller's obligation; the depot is a separate structure.
        let c = unsafe { self.class(class) };
        if c.current.len == BATCH {
            let full = std::mem::replace(&mut c.current, Magazine::EMPTY);
            let spare = std::mem::replace(&mut c.spare, full);
            if spare.len > 0 {
                depot.put(class, spare);
            }
        }
        // SAFETY: the caller gives up a block of `class`; `current` is not full.
        unsafe { c.current.push(block) };
    }

    /// Blocks of `class` held, for tests.
    #[cfg(test)]
    fn len(&self, class: usize) -> usize {
        // SAFETY: tests use a cache from one thread, outside coroutines.
        let c = unsafe { self.class(class) };
        c.current.len + c.spare.len
    }
}

impl Drop for ThreadCache {
    fn drop(&mut self) {
        for (class, cache) in self.classes.get_mut().iter_mut().enumerate() {
            // SAFETY: the magazines of `class` hold blocks of `class`.
            unsafe {
                cache.current.release(class);
                cache.spare.release(class);
            }
        }
    }
}

thread_local! {
    static CACHE: ThreadCache = const { ThreadCache::new() };
}

/// Allocates a block for `layout` (which must not be zero-sized), from this thread's cache
/// when it is small enough. Free it with [`dealloc`] and the same layout, on any thread.
/// Aborts through [`alloc::handle_alloc_error`] when memory is exhausted, as `Box` does.
pub(crate) fn alloc(layout: Layout) -> NonNull<u8> {
    debug_assert!(layout.size() != 0);
    let Some(class) = class_of(layout) else {
        return system_alloc(layout);
    };
    let cached = {
        let _no_preempt = crate::critical::disable();
        // SAFETY: preemption is disabled and `take` does not re-enter the cache.
        CACHE.try_with(|cache| unsafe { cache.take(class, &DEPOT) })
    };
    match cached {
        Ok(Some(block)) => block,
        _ => system_alloc(class_layout(class)),
    }
}

/// Frees a block from [`alloc`], keeping it in this thread's cache when it is small enough.
///
/// # Safety
/// `block` came from [`alloc`] with this `layout` and is not used afterwards.
pub(crate) unsafe fn dealloc(block: NonNull<u8>, layout: Layout) {
    let Some(class) = class_of(layout) else {
        // SAFETY: `alloc` allocated it from the system with this layout.
        unsafe { alloc::dealloc(block.as_ptr(), layout) };
        return;
    };
    let kept = {
        let _no_preempt = crate::critical::disable();
        // SAFETY: preemption is disabled and `keep` does not re-enter the cache; the block is
        // of `class` (it came from `alloc` with a layout of this class) and the caller gives
        // it up.
        CACHE.try_with(|cache| unsafe { cache.keep(class, block, &DEPOT) })
    };
    if kept.is_err() {
        // This thread's cache is gone (the thread is exiting).
        // SAFETY: blocks of `class` are allocated with `class_layout(class)`.
        unsafe { alloc::dealloc(block.as_ptr(), class_layout(class)) };
    }
}

fn system_alloc(layout: Layout) -> NonNull<u8> {
    // SAFETY: callers never pass a zero-sized layout.
    let block = unsafe { alloc::alloc(layout) };
    NonNull::new(block).unwrap_or_else(|| alloc::handle_alloc_error(layout))
}

/// The block behind a [`CachedArc`]: the reference count, then the value.
///
/// The count is 32 bits so that count and flag share one word: the value then starts 8 bytes
/// in, and a task's job (closure and join packet) fits its slot 8 bytes sooner (see
/// `Task::job_slot`). `clone` aborts before the count could wrap, as `Arc`'s does.
#[repr(C)]
pub(crate) struct ArcInner<U: ?Sized> {
    refs: AtomicU32,
    /// True when the block lies in a [`Slot`] that someone else owns: the last reference then
    /// drops the value and frees nothing.
    in_slot: bool,
    value: U,
}

/// Room for one [`CachedArc`] block inside a larger structure that is itself reused (a task
/// keeps its closure and join packet here), so the common small value costs no allocation.
#[repr(C, align(8))]
pub(crate) struct Slot<const N: usize>(UnsafeCell<MaybeUninit<[u8; N]>>);

impl<const N: usize> Slot<N> {
    pub(crate) const fn new() -> Slot<N> {
        Slot(UnsafeCell::new(MaybeUninit::uninit()))
    }

    /// Moves `value` into the slot when its block fits, else into a cached block as
    /// [`CachedArc::new`] does; one reference either way.
    ///
    /// # Safety
    /// No reference made by an earlier `place` on this slot is alive, and the slot stays where
    /// it is, and is not placed into again, until every reference made from the returned one
    /// is dropped.
    pub(crate) unsafe fn place<U>(&self, value: U) -> CachedArc<U> {
        let layout = Layout::new::<ArcInner<U>>();
        if layout.size() > N || layout.align() > std::mem::align_of::<Slot<N>>() {
            return CachedArc::new(value);
        }
        let ptr = self.0.get().cast::<ArcInner<U>>();
        // SAFETY: the slot is large and aligned enough (checked above) and unused (the
        // caller's obligation); `UnsafeCell` makes writing through a shared reference sound.
        unsafe {
            ptr.write(ArcInner {
                refs: AtomicU32::new(1),
                in_slot: true,
                value,
            })
        };
        CachedArc {
            // SAFETY: derived from a reference, so not null.
            ptr: unsafe { NonNull::new_unchecked(ptr) },
            _owns: PhantomData,
        }
    }
}

/// A thread-safe reference-counted pointer, as [`std::sync::Arc`] without weak references,
/// whose block comes from the runtime's per-thread caches of small blocks (or, inside the
/// runtime, lies in a task's slot). Meant for blocks that one thread allocates and another
/// frees, which the system allocator serves with a lock of the allocating thread's arena:
/// the channels allocate their shared state with it. Built for a concrete type (and, inside
/// the runtime, then turned into a trait object).
///
/// ```
/// let a = green::CachedArc::new(5);
/// let b = a.clone();
/// assert_eq!(*b, 5);
/// assert!(green::CachedArc::ptr_eq(&a, &b));
/// assert!(!green::CachedArc::ptr_eq(&a, &green::CachedArc::new(5)));
/// ```
pub struct CachedArc<U: ?Sized> {
    ptr: NonNull<ArcInner<U>>,
    _owns: PhantomData<ArcInner<U>>,
}

// SAFETY: as for `Arc`: the value is shared between threads (`Sync`) and dropped by whichever
// holder is last (`Send`).
unsafe impl<U: ?Sized + Send + Sync> Send for CachedArc<U> {}
// SAFETY: as above.
unsafe impl<U: ?Sized + Send + Sync> Sync for CachedArc<U> {}

impl<U> CachedArc<U> {
    /// Moves `value` into a cached block, with one reference.
    ///
    /// ```
    /// let a = green::CachedArc::new(String::from("shared"));
    /// assert_eq!(a.len(), 6);
    /// ```
    pub fn new(value: U) -> CachedArc<U> {
        let layout = Layout::new::<ArcInner<U>>();
        let ptr = alloc(layout).cast::<ArcInner<U>>();
        // SAFETY: the block is fresh, and large and aligned enough for `ArcInner<U>`.
        unsafe {
            ptr.as_ptr().write(ArcInner {
                refs: AtomicU32::new(1),
                in_slot: false,
                value,
            })
        };
        CachedArc {
            ptr,
            _owns: PhantomData,
        }
    }

    /// Turns the pointer into one to an unsized view of the value (a trait object).
    ///
    /// # Safety
    /// `coerce` must be an unsizing coercion (`|p| p`): it returns its argument, only with
    /// the type's metadata attached.
    pub(crate) unsafe fn unsize<V: ?Sized>(
        self,
        coerce: fn(*mut ArcInner<U>) -> *mut ArcInner<V>,
    ) -> CachedArc<V> {
        let this = std::mem::ManuallyDrop::new(self);
        let ptr = coerce(this.ptr.as_ptr());
        debug_assert!(ptr::addr_eq(ptr, this.ptr.as_ptr()));
        CachedArc {
            // SAFETY: a coercion keeps the (non-null) address.
            ptr: unsafe { NonNull::new_unchecked(ptr) },
            _owns: PhantomData,
        }
    }
}

impl<U: ?Sized> CachedArc<U> {
    /// True if both point to the same value, as [`std::sync::Arc::ptr_eq`].
    ///
    /// ```
    /// let a = green::CachedArc::new(1);
    /// assert!(green::CachedArc::ptr_eq(&a, &a.clone()));
    /// ```
    pub fn ptr_eq(this: &Self, other: &Self) -> bool {
        ptr::addr_eq(this.ptr.as_ptr(), other.ptr.as_ptr())
    }

    fn inner(&self) -> &ArcInner<U> {
        // SAFETY: the block stays allocated while this reference counts.
        unsafe { self.ptr.as_ref() }
    }
}

/// The most references a block may have before `clone` aborts (half the count's range, so
/// that clones racing past the check cannot wrap it either).
const MAX_REFS: u32 = u32::MAX / 2;

impl<U: ?Sized> Clone for CachedArc<U> {
    fn clone(&self) -> Self {
        // Relaxed, as `Arc`: a new reference is made from an existing one, which keeps the
        // block alive meanwhile. Safe code can make references without keeping them
        // (`mem::forget` of clones), so the count is checked as `Arc`'s is: far below the
        // wrap, a process that has made two billion references to one block is aborted,
        // never allowed to free a block that is still referenced.
        if self.inner().refs.fetch_add(1, Ordering::Relaxed) > MAX_REFS {
            std::process::abort();
        }
        CachedArc {
            ptr: self.ptr,
            _owns: PhantomData,
        }
    }
}

impl<U: ?Sized> Deref for CachedArc<U> {
    type Target = U;

    fn deref(&self) -> &U {
        &self.inner().value
    }
}

impl<U: ?Sized> Drop for CachedArc<U> {
    fn drop(&mut self) {
        // Release/acquire as `Arc`: every holder's uses of the value happen before its drop.
        if self.inner().refs.fetch_sub(1, Ordering::Release) != 1 {
            return;
        }
        atomic::fence(Ordering::Acquire);
        let ptr = self.ptr.as_ptr();
        // SAFETY: this was the last reference: nobody else can reach the block. The layout is
        // read before the value is dropped; it is the layout the block was allocated with (an
        // unsizing coercion keeps size and alignment). A block in a slot is not ours to free:
        // its owner keeps the slot alive until this last reference is gone (`Slot::place`).
        unsafe {
            let layout = Layout::for_value(&*ptr);
            let in_slot = (*ptr).in_slot;
            ptr::drop_in_place(ptr);
            if !in_slot {
                dealloc(NonNull::new_unchecked(ptr.cast::<u8>()), layout);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn layout(size: usize) -> Layout {
        Layout::from_size_align(size, 8).unwrap()
    }

    #[test]
    fn classes_round_up_and_cover_the_small_sizes() {
        assert_eq!(class_of(layout(1)), Some(0));
        assert_eq!(class_of(layout(16)), Some(0));
        assert_eq!(class_of(layout(17)), Some(1));
        assert_eq!(class_of(layout(MAX_SIZE)), Some(CLASSES - 1));
        assert_eq!(class_of(layout(MAX_SIZE + 1)), None);
        assert_eq!(
            class_of(Layout::from_size_align(64, 2 * ALIGN).unwrap()),
            None
        );
        for class in 0..CLASSES {
            let l = class_layout(class);
            assert_eq!(class_of(l), Some(class));
            assert!(l.size() >= std::mem::size_of::<Free>());
        }
    }

    /// Allocates a block of `class` as `alloc` does, through `cache` and `depot`.
    fn take(cache: &ThreadCache, depot: &Depot, class: usize) -> NonNull<u8> {
        // SAFETY: the cache is this thread's own, used outside coroutines, one call at a time.
        unsafe { cache.take(class, depot) }.unwrap_or_else(|| system_alloc(class_layout(class)))
    }

    fn keep(cache: &ThreadCache, depot: &Depot, class: usize, block: NonNull<u8>) {
        // SAFETY: as above; the block is of `class` and given up.
        unsafe { cache.keep(class, block, depot) }
    }

    #[test]
    fn a_freed_block_is_reused_first() {
        let (depot, cache) = (Depot::new(), ThreadCache::new());
        let a = take(&cache, &depot, 3);
        let b = take(&cache, &depot, 3);
        assert_ne!(a, b);
        keep(&cache, &depot, 3, a);
        keep(&cache, &depot, 3, b);
        assert_eq!(cache.len(3), 2);
        assert_eq!(take(&cache, &depot, 3), b, "last freed, first reused");
        assert_eq!(take(&cache, &depot, 3), a);
        assert_eq!(cache.len(3), 0);
        keep(&cache, &depot, 3, a);
        keep(&cache, &depot, 3, b);
        // Dropping the cache frees its blocks (a leak would show under a leak checker).
        drop(cache);
    }

    #[test]
    fn a_thread_keeps_a_bounded_number_of_blocks_and_the_depot_too() {
        let (depot, cache) = (Depot::new(), ThreadCache::new());
        let n = (2 + DEPOT_MAX + 3) * BATCH;
        let blocks: Vec<_> = (0..n).map(|_| take(&cache, &depot, 5)).collect();
        for b in blocks {
            keep(&cache, &depot, 5, b);
            assert!(cache.len(5) <= 2 * BATCH);
            assert!(lock_len(&depot, 5) <= DEPOT_MAX);
        }
        assert_eq!(cache.len(5), 2 * BATCH);
        assert_eq!(
            lock_len(&depot, 5),
            DEPOT_MAX,
            "the rest went back to the system"
        );
        // Everything kept comes back out, each block once.
        let kept = 2 * BATCH + DEPOT_MAX * BATCH;
        let again: Vec<_> = (0..kept).map(|_| take(&cache, &depot, 5)).collect();
        assert_eq!(cache.len(5), 0);
        assert_eq!(lock_len(&depot, 5), 0);
        let mut addrs: Vec<_> = again.iter().map(|b| b.as_ptr() as usize).collect();
        addrs.sort_unstable();
        addrs.dedup();
        assert_eq!(addrs.len(), kept, "no block is handed out twice");
        for b in again {
            keep(&cache, &depot, 5, b);
        }
    }

    fn lock_len(depot: &Depot, class: usize) -> usize {
        crate::locking::lock(&depot.classes[class]).len()
    }

    #[test]
    fn blocks_freed_on_one_thread_feed_another_through_the_depot() {
        let depot = Arc::new(Depot::new());
        // One thread only allocates, another only frees, as a spawner and a worker do.
        let (tx, rx) = std::sync::mpsc::channel::<usize>();
        let d = depot.clone();
        let freer = std::thread::spawn(move || {
            let cache = ThreadCache::new();
            for addr in rx {
                keep(&cache, &d, 7, NonNull::new(addr as *mut u8).unwrap());
            }
            cache.len(7)
        });
        let cache = ThreadCache::new();
        let first: Vec<usize> = (0..4 * BATCH)
            .map(|_| take(&cache, &depot, 7).as_ptr() as usize)
            .collect();
        for &a in &first {
            tx.send(a).unwrap();
        }
        drop(tx);
        assert_eq!(freer.join().unwrap(), 2 * BATCH);
        assert_eq!(lock_len(&depot, 7), 2);
        let again: Vec<usize> = (0..2 * BATCH)
            .map(|_| take(&cache, &depot, 7).as_ptr() as usize)
            .collect();
        assert!(again.iter().all(|a| first.contains(a)), "all reused");
        assert_eq!(lock_len(&depot, 7), 0);
        for a in again {
            keep(&cache, &depot, 7, NonNull::new(a as *mut u8).unwrap());
        }
    }

    #[test]
    fn the_thread_local_cache_reuses_and_survives_thread_exit() {
        let l = layout(200);
        std::thread::spawn(move || {
            let a = alloc(l);
            // SAFETY: a fresh block of 200 bytes.
            unsafe { a.as_ptr().write_bytes(0xAB, 200) };
            // SAFETY: `a` came from `alloc` with this layout.
            unsafe { dealloc(a, l) };
            let b = alloc(l);
            assert_eq!(a, b, "the block just freed comes back first");
            // Freed into this thread's cache, which the thread's exit gives back.
            // SAFETY: as above.
            unsafe { dealloc(b, l) };
        })
        .join()
        .unwrap();
    }

    #[test]
    fn large_and_overaligned_requests_bypass_the_cache() {
        for l in [
            layout(MAX_SIZE + 8),
            Layout::from_size_align(64, 2 * ALIGN).unwrap(),
        ] {
            let b = alloc(l);
            assert_eq!(b.as_ptr() as usize % l.align(), 0);
            // SAFETY: a fresh block of `l.size()` bytes, then freed with its layout.
            unsafe {
                b.as_ptr().write_bytes(1, l.size());
                dealloc(b, l);
            }
        }
    }

    struct Counted(Arc<AtomicUsize>, [u64; 4]);

    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    trait Named: Send + Sync {
        fn name(&self) -> &'static str;
    }

    impl Named for Counted {
        fn name(&self) -> &'static str {
            "counted"
        }
    }

    #[test]
    fn cached_arc_drops_its_value_once_when_the_last_reference_goes() {
        let drops = Arc::new(AtomicUsize::new(0));
        let a = CachedArc::new(Counted(drops.clone(), [7; 4]));
        let b = a.clone();
        assert_eq!(a.1, [7; 4]);
        drop(a);
        assert_eq!(drops.load(Ordering::SeqCst), 0);
        drop(b);
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn cached_arc_as_a_trait_object_is_dropped_on_another_thread() {
        let drops = Arc::new(AtomicUsize::new(0));
        for i in 0..200 {
            let a = CachedArc::new(Counted(drops.clone(), [i; 4]));
            // SAFETY: `|p| p` is an unsizing coercion.
            let dynamic: CachedArc<dyn Named> = unsafe { a.clone().unsize(|p| p) };
            let t = std::thread::spawn(move || {
                assert_eq!(dynamic.name(), "counted");
            });
            assert_eq!(a.1, [i; 4]);
            drop(a);
            t.join().unwrap();
        }
        assert_eq!(drops.load(Ordering::SeqCst), 200);
    }

    #[test]
    fn a_slot_holds_a_small_value_and_drops_it_once_without_freeing() {
        let drops = Arc::new(AtomicUsize::new(0));
        let slot = Slot::<64>::new();
        for i in 0..3 {
            // SAFETY: every reference of the previous round was dropped; the slot stays put.
            let a = unsafe { slot.place(Counted(drops.clone(), [i; 4])) };
            assert!(
                ptr::addr_eq(a.ptr.as_ptr(), slot.0.get()),
                "placed in the slot"
            );
            // SAFETY: `|p| p` is an unsizing coercion.
            let b: CachedArc<dyn Named> = unsafe { a.clone().unsize(|p| p) };
            assert_eq!(a.1, [i; 4]);
            drop(a);
            assert_eq!(drops.load(Ordering::SeqCst), i as usize);
            assert_eq!(b.name(), "counted");
            drop(b);
            assert_eq!(drops.load(Ordering::SeqCst), i as usize + 1);
        }
    }

    #[test]
    fn a_value_too_large_for_its_slot_gets_a_cached_block() {
        let drops = Arc::new(AtomicUsize::new(0));
        let slot = Slot::<32>::new();
        // SAFETY: the slot was never used and outlives the reference.
        let a = unsafe { slot.place(Counted(drops.clone(), [9; 4])) };
        assert!(!ptr::addr_eq(a.ptr.as_ptr(), slot.0.get()));
        assert!(!a.inner().in_slot);
        assert_eq!(a.1, [9; 4]);
        drop(a);
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    }
}
