//! Coroutine-local storage: state that belongs to a coroutine rather than to its thread. A
//! `thread_local!` is shared by every coroutine that runs on a worker thread (and, under the
//! `unsafe` opt-in `allow_migration`, a coroutine may even change threads when it blocks);
//! a coroutine-local is the coroutine's own.
//!
//! A [`LocalKey`] declared with [`coroutine_local!`] has one value per coroutine, created on
//! first access and dropped when the coroutine ends. On a plain thread it has one value per
//! thread, so the same code works in both contexts. Values live in a small per-coroutine table
//! keyed by the address of the `static`; each value is boxed so that a reference handed to
//! `with` stays put while other keys are inserted, even if the closure blocks.

use std::any::Any;
use std::cell::UnsafeCell;
use std::marker::PhantomData;

use crate::scheduler::context;
use crate::task::locals::Locals;

thread_local! {
    static THREAD_LOCALS: UnsafeCell<Locals> = UnsafeCell::new(Locals::default());
}

/// Declares coroutine-local statics: one value per coroutine (per thread outside coroutines),
/// initialised on first use.
///
/// ```
/// use std::cell::Cell;
/// greenchan::coroutine_local! {
///     static CALLS: Cell<u32> = Cell::new(0);
/// }
/// let a = greenchan::spawn(|| {
///     CALLS.with(|c| c.set(c.get() + 1));
///     greenchan::yield_now(); // other coroutines ran meanwhile; this value is still ours
///     CALLS.with(|c| c.get())
/// });
/// let b = greenchan::spawn(|| CALLS.with(|c| c.get()));
/// assert_eq!(a.join().unwrap(), 1);
/// assert_eq!(b.join().unwrap(), 0);
/// ```
#[macro_export]
macro_rules! coroutine_local {
    ($($(#[$attr:meta])* $vis:vis static $name:ident: $t:ty = $init:expr;)+) => {
        $(
            $(#[$attr])*
            $vis static $name: $crate::LocalKey<$t> = $crate::LocalKey::new({
                fn __init() -> $t {
                    $init
                }
                __init
            });
        )+
    };
}

/// A coroutine-local key; see [`coroutine_local!`].
pub struct LocalKey<T: 'static> {
    init: fn() -> T,
    // Not Sync through T: the value is only ever touched by its own coroutine or thread.
    _marker: PhantomData<fn() -> T>,
}

impl<T: 'static> LocalKey<T> {
    #[doc(hidden)]
    pub const fn new(init: fn() -> T) -> LocalKey<T> {
        LocalKey {
            init,
            _marker: PhantomData,
        }
    }

    /// Calls `f` with this coroutine's value, creating it first if needed. The reference is
    /// valid for the whole call, even if `f` blocks and the coroutine changes threads.
    ///
    /// ```
    /// use std::cell::RefCell;
    /// greenchan::coroutine_local! {
    ///     static LOG: RefCell<Vec<&'static str>> = RefCell::new(Vec::new());
    /// }
    /// LOG.with(|l| l.borrow_mut().push("on the main thread"));
    /// assert_eq!(LOG.with(|l| l.borrow().len()), 1);
    /// ```
    pub fn with<R>(&'static self, f: impl FnOnce(&T) -> R) -> R {
        let key = self as *const LocalKey<T> as usize;
        let table = table();
        // SAFETY: `table` is the running coroutine's (or this thread's) table, which only its
        // owner touches, and which outlives this call. No reference into it is held while
        // `init` runs (it may itself use other keys) or while `f` runs; values are boxed, so
        // inserting other keys never moves this one.
        let value = unsafe {
            let found = (*table).find(key);
            let ptr = match found {
                Some(p) => p,
                None => {
                    let boxed: Box<dyn Any> = Box::new((self.init)());
                    let entries = &mut (*table).entries;
                    entries.push((key, boxed));
                    let (_, v) = entries.last().expect("just pushed");
                    &**v as *const dyn Any
                }
            };
            &*(ptr as *const T)
        };
        f(value)
    }
}

/// The table of the running coroutine, else of this thread.
fn table() -> *mut Locals {
    let task = context::current_task();
    if task.is_null() {
        return THREAD_LOCALS.with(|t| t.get());
    }
    // SAFETY: the running coroutine owns its locals cell while it runs; the reference ends here.
    let locals = unsafe { (*task).locals() };
    &mut **locals.get_or_insert_with(Box::default)
}
