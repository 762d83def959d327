//! The storage of coroutine-local values (`coroutine_local!`, in `local.rs`): a small table per
//! coroutine, kept in its task and dropped with it.

use std::any::Any;

/// The values of one coroutine (or thread): key address and boxed value.
#[derive(Default)]
pub(crate) struct Locals {
    pub(crate) entries: Vec<(usize, Box<dyn Any>)>,
}

impl Locals {
    pub(crate) fn find(&self, key: usize) -> Option<*const dyn Any> {
        self.entries
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| &**v as *const dyn Any)
    }
}
