//! The bridge between futures and coroutines, both ways, with no executor of its own.
//!
//! - [`block_on`] lets a coroutine (or a thread) wait for a future. It polls the future on the
//!   caller's own stack, with a [`Waker`] that unparks the caller through the same
//!   park/unpark every other blocking call uses: while the future is pending the coroutine is
//!   parked and its worker runs other coroutines. Whatever makes the future progress (tokio's
//!   reactor and timers, another runtime's threads, a plain thread) is the future's business;
//!   greenchan only sleeps until it is told to poll again.
//! - [`JoinHandle`] implements [`IntoFuture`], so async code can `.await` a coroutine: the
//!   handle's result slot takes a waker in place of a parked coroutine (see `join.rs`).
//!
//! The waker holds a [`Coroutine`] handle, a counted reference, so it may be cloned, kept and
//! woken at any time from any thread: a wake-up after `block_on` returned, or after the
//! coroutine ended, at most makes a later `park` of that coroutine return spuriously, which
//! every blocking call of greenchan tolerates (as `std::thread::park`'s callers must).

use std::future::{Future, IntoFuture};
use std::pin::{pin, Pin};

use std::task::{Context, Poll};
use std::thread;

use crate::coroutine::{self, Coroutine};
use crate::join::JoinHandle;

/// Runs `future` to completion on the caller and returns its output.
///
/// In a coroutine, the coroutine parks whenever the future is pending and its worker runs
/// other coroutines; the future's waker unparks it. On a plain thread, the thread blocks the
/// same way. No executor is involved: the future is polled right here, and whatever drives
/// its I/O and timers must run elsewhere (a tokio future needs a tokio runtime running on its
/// own threads, and a handle to it entered where the future is created, as usual with tokio).
///
/// Do not call it on a thread that an async runtime uses to run its tasks (inside a tokio
/// task, say): like every blocking call, it would hold that thread. The future's `poll` runs
/// as ordinary code of the calling coroutine, so what the coroutine may do (hold a std lock
/// between greenchan calls, say) the future may do too.
///
/// ```
/// use std::future::{ready, IntoFuture};
///
/// let h = greenchan::spawn(|| greenchan::block_on(ready(6)) * 7);
/// assert_eq!(h.join().unwrap(), 42);
///
/// // A future completed by another coroutine: this one stays parked until then.
/// let h = greenchan::spawn(|| {
///     let other = greenchan::spawn(|| "from a coroutine");
///     greenchan::block_on(other.into_future())
/// });
/// assert_eq!(h.join().unwrap().unwrap(), "from a coroutine");
/// ```
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let waker = coroutine::current().into_waker();
    let mut cx = Context::from_waker(&waker);
    let _waiting = crate::diagnostics::waiting_on(crate::diagnostics::WaitReason::Future);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        // A wake-up that came during the poll left a token: this returns at once. A spurious
        // return polls once more, which a future must allow.
        coroutine::park();
    }
}

/// The future of a [`JoinHandle`] (`handle.await`, or `handle.into_future()`): completes with
/// the coroutine's result, `Ok(value)` or the payload of its panic, as
/// [`join`](JoinHandle::join) does.
///
/// Dropping it detaches the coroutine, as dropping the handle does. It is `Unpin`.
///
/// ```
/// let h = greenchan::spawn(|| 6 * 7);
/// // Any executor can await it; `block_on` is one.
/// let got = greenchan::block_on(async move { h.await });
/// assert_eq!(got.unwrap(), 42);
/// ```
#[must_use = "futures do nothing unless polled; dropping this detaches the coroutine"]
pub struct JoinFuture<T> {
    handle: JoinHandle<T>,
}

impl<T> JoinFuture<T> {
    /// The handle of the coroutine being awaited.
    ///
    /// ```
    /// use std::future::IntoFuture;
    ///
    /// let h = greenchan::Builder::new().name("a".into()).spawn(|| ()).unwrap();
    /// let f = h.into_future();
    /// assert_eq!(f.coroutine().name(), Some("a"));
    /// greenchan::block_on(f).unwrap();
    /// ```
    pub fn coroutine(&self) -> &Coroutine {
        self.handle.coroutine()
    }

    /// True once the coroutine has finished, as [`JoinHandle::is_finished`].
    ///
    /// ```
    /// use std::future::IntoFuture;
    ///
    /// let f = greenchan::spawn(|| ()).into_future();
    /// while !f.is_finished() {
    ///     std::thread::yield_now();
    /// }
    /// greenchan::block_on(f).unwrap(); // ready at the first poll
    /// ```
    pub fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }
}

// No field is pinned: the handle is only read through `&`, so moving the future is fine
// (`CachedArc`'s marker over a `dyn` payload would otherwise make it `!Unpin`).
impl<T> Unpin for JoinFuture<T> {}

impl<T> Future for JoinFuture<T> {
    type Output = thread::Result<T>;

    /// Ready with the result once the coroutine has finished; polling again after that panics.
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<thread::Result<T>> {
        self.handle.job.packet().poll_result(cx.waker())
    }
}

impl<T> std::fmt::Debug for JoinFuture<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JoinFuture")
            .field("handle", &self.handle)
            .finish()
    }
}

/// `handle.await` waits for the coroutine without blocking the executor's thread.
///
/// `IntoFuture` rather than `Future` on the handle itself: awaiting consumes the handle, as
/// [`join`](JoinHandle::join) does, so a handle is either joined or awaited, never both.
///
/// ```
/// let h = greenchan::spawn(|| "done");
/// assert_eq!(greenchan::block_on(async { h.await }).unwrap(), "done");
/// ```
impl<T> IntoFuture for JoinHandle<T> {
    type Output = thread::Result<T>;
    type IntoFuture = JoinFuture<T>;

    fn into_future(self) -> JoinFuture<T> {
        JoinFuture { handle: self }
    }
}
