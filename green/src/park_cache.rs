//! What the channel layer keeps in a coroutine's task between two of its blocking operations
//! (its waiter, in `select`), so that a blocking operation allocates nothing.
//!
//! The cache is a boxed value of any one type. It is taken and put back on every blocking
//! operation of a coroutine, so it is built for that: the value's type is checked by comparing
//! its per-type table with the expected one (two addresses; only if they differ, because the
//! compiler duplicated the table, are the `TypeId`s compared), not by a virtual call as
//! `Box<dyn Any>` makes, and putting it back checks in the same thread-local read that the
//! caller still runs on the coroutine it took it from.

use crate::scheduler::context;
use crate::task::park_cache::ParkCache;

/// Takes what the channel layer cached in the running coroutine's task
/// ([`put_park_cache`]); `None` outside coroutines. Plumbing (doc-hidden).
///
/// ```
/// greenchan::spawn(|| {
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
