//! `JoinHandle`: the owned permission to wait for a coroutine's end, as
//! `std::thread::JoinHandle`. The result slot itself (`task::job::Packet`) is the task
//! layer's; joining registers the caller's waker there and parks until it is woken.

use std::fmt;
use std::task::Poll;
use std::thread;

use crate::coroutine::{self, Coroutine};
use crate::mcache::CachedArc;
use crate::task::job::PacketOf;

/// An owned permission to join a coroutine (wait for it to end), as
/// [`std::thread::JoinHandle`]. Dropping it detaches the coroutine.
///
/// ```
/// let h = greenchan::spawn(|| 6 * 7);
/// assert_eq!(h.join().unwrap(), 42);
///
/// let h = greenchan::spawn(|| panic!("boom"));
/// assert!(h.join().is_err()); // the panic comes back; the runtime carries on
/// ```
pub struct JoinHandle<T> {
    /// Declared (hence dropped) before `coroutine`: the job may lie in the task's slot, which
    /// the task reference keeps alive.
    pub(crate) job: CachedArc<dyn PacketOf<T>>,
    pub(crate) coroutine: Coroutine,
}

impl<T> JoinHandle<T> {
    /// Waits for the coroutine to finish and returns its value, or the payload of its panic.
    /// Parks the caller if it is a coroutine, blocks it if it is a thread.
    ///
    /// ```
    /// let h = greenchan::spawn(|| "done");
    /// assert_eq!(h.join().unwrap(), "done");
    /// ```
    pub fn join(self) -> thread::Result<T> {
        // Every runtime call is a preemption point (DESIGN §3), a join of a finished
        // coroutine too.
        coroutine::preempt_point();
        let packet = self.job.packet();
        if packet.is_done() {
            if let Poll::Ready(result) = packet.poll_result(std::task::Waker::noop()) {
                return result;
            }
        }
        let waker = coroutine::current().into_waker();
        let _waiting = crate::diagnostics::waiting_on(crate::diagnostics::WaitReason::Join);
        loop {
            if let Poll::Ready(result) = packet.poll_result(&waker) {
                return result;
            }
            coroutine::park();
        }
    }

    /// True once the coroutine has finished (returned or panicked).
    ///
    /// ```
    /// let h = greenchan::spawn(|| ());
    /// while !h.is_finished() {
    ///     std::thread::yield_now();
    /// }
    /// h.join().unwrap();
    /// ```
    pub fn is_finished(&self) -> bool {
        self.job.packet().is_done()
    }

    /// The handle of the coroutine, to read its id or name or to unpark it.
    ///
    /// ```
    /// let h = greenchan::Builder::new().name("n".into()).spawn(|| ()).unwrap();
    /// assert_eq!(h.coroutine().name(), Some("n"));
    /// h.join().unwrap();
    /// ```
    pub fn coroutine(&self) -> &Coroutine {
        &self.coroutine
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("coroutine", &self.coroutine)
            .field("finished", &self.is_finished())
            .finish()
    }
}
