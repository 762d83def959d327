//! What the channel layer keeps in a coroutine's task between two of its blocking operations
//! (its waiter, in `select`), so that a blocking operation allocates nothing.
//!
//! The cache is a boxed value of any one type. It is taken and put back on every blocking
//! operation of a coroutine, so it is built for that: the value's type is checked by comparing
//! its per-type table with the expected one (two addresses; only if they differ, because the
//! compiler duplicated the table, are the `TypeId`s compared), not by a virtual call as
//! `Box<dyn Any>` makes, and putting it back checks in the same thread-local read that the
//! caller still runs on the coroutine it took it from.

use std::any::TypeId;
use std::ptr::NonNull;

use crate::context;

/// A boxed value of some `'static + Send` type, for [`take_park_cache`]/[`put_park_cache`].
/// Dropping it drops the value.
///
/// ```
/// let cached = green::ParkCache::new(Box::new(5u32));
/// assert!(cached.is::<u32>());
/// let cached = cached.downcast::<u8>().unwrap_err(); // not a u8: given back
/// assert_eq!(*cached.downcast::<u32>().unwrap(), 5);
/// ```
#[doc(hidden)]
pub struct ParkCache {
    ptr: NonNull<()>,
    vtable: &'static VTable,
}

/// One per type. Tables of two types never share an address: their `type_id` functions
/// return different values, so no two are identical, and only identical constants are merged.
struct VTable {
    type_id: fn() -> TypeId,
    drop: unsafe fn(NonNull<()>),
}

trait HasVTable {
    const VTABLE: &'static VTable;
}

impl<T: Send + 'static> HasVTable for T {
    const VTABLE: &'static VTable = &VTable {
        type_id: TypeId::of::<T>,
        drop: drop_box::<T>,
    };
}

/// # Safety
/// `ptr` comes from `Box::<T>::into_raw` and is not used again.
unsafe fn drop_box<T>(ptr: NonNull<()>) {
    // SAFETY: as stated.
    drop(unsafe { Box::from_raw(ptr.as_ptr() as *mut T) });
}

// SAFETY: it owns a `T: Send` (enforced by `new`), and nothing else.
unsafe impl Send for ParkCache {}

impl ParkCache {
    /// Wraps `value`.
    pub fn new<T: Send + 'static>(value: Box<T>) -> ParkCache {
        ParkCache {
            // SAFETY: `Box::into_raw` is never null.
            ptr: unsafe { NonNull::new_unchecked(Box::into_raw(value) as *mut ()) },
            vtable: <T as HasVTable>::VTABLE,
        }
    }

    /// True if the value is a `T`.
    #[inline]
    pub fn is<T: Send + 'static>(&self) -> bool {
        std::ptr::eq(self.vtable, <T as HasVTable>::VTABLE)
            || (self.vtable.type_id)() == TypeId::of::<T>()
    }

    /// The value back as a `Box<T>`, or `self` if it is not a `T`.
    #[inline]
    pub fn downcast<T: Send + 'static>(self) -> Result<Box<T>, ParkCache> {
        if !self.is::<T>() {
            return Err(self);
        }
        let ptr = self.ptr.as_ptr() as *mut T;
        std::mem::forget(self);
        // SAFETY: the value is a `T` (checked above) boxed by `new`, and `self` is forgotten,
        // so it is owned only by the box returned.
        Ok(unsafe { Box::from_raw(ptr) })
    }
}

impl std::fmt::Debug for ParkCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParkCache")
            .field("type_id", &(self.vtable.type_id)())
            .finish_non_exhaustive()
    }
}

impl Drop for ParkCache {
    fn drop(&mut self) {
        // SAFETY: `ptr` and `drop` were made together by `new`, for one `Box<T>`; it is
        // dropped once, here.
        unsafe { (self.vtable.drop)(self.ptr) }
    }
}

/// Takes what the channel layer cached in the running coroutine's task
/// ([`put_park_cache`]); `None` outside coroutines. Plumbing (doc-hidden).
///
/// ```
/// green::spawn(|| {
///     let me = green::running_key();
///     assert!(green::put_park_cache(me, green::ParkCache::new(Box::new(5u32))).is_none());
///     let cached = green::take_park_cache().unwrap();
///     assert_eq!(*cached.downcast::<u32>().ok().unwrap(), 5);
///     assert!(green::take_park_cache().is_none());
/// })
/// .join()
/// .unwrap();
/// ```
#[doc(hidden)]
#[inline]
pub fn take_park_cache() -> Option<ParkCache> {
    let task = context::current_task();
    if task.is_null() {
        return None;
    }
    // SAFETY: non-null means this is the running coroutine, which owns its cache cell and
    // holds no other reference to it (see `Task::park_cache`).
    unsafe { (*task).park_cache() }.take()
}

/// Caches `value` in the running coroutine's task until [`take_park_cache`], replacing what
/// was there, if the running coroutine is the one `key` ([`running_key`](crate::running_key))
/// names; otherwise (another coroutine, or none) gives it back. Plumbing (doc-hidden).
///
/// ```
/// let v = green::ParkCache::new(Box::new(1u8));
/// // On a thread there is no coroutine to cache it in.
/// assert!(green::put_park_cache(green::running_key(), v).is_some());
/// assert!(green::take_park_cache().is_none());
/// ```
#[doc(hidden)]
#[inline]
pub fn put_park_cache(key: usize, value: ParkCache) -> Option<ParkCache> {
    let task = context::current_task();
    if task.is_null() || task as usize != key {
        return Some(value);
    }
    // SAFETY: as in `take_park_cache`.
    *unsafe { (*task).park_cache() } = Some(value);
    None
}
