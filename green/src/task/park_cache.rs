//! The value a coroutine's task keeps for the channel layer between two of its blocking
//! operations (its waiter), so that a blocking operation allocates nothing. The functions that
//! take it and put it back are in `park_cache.rs`, one layer up.

use std::any::TypeId;
use std::ptr::NonNull;

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
