//! Async operations on channel ends: [`Receiver::recv_async`], [`Sender::send_async`] and the
//! receive streams, so that async tasks (on any executor) and coroutines talk over one channel.
//!
//! A future waits as a coroutine does, in the channel's own wait queues, with a
//! [`WakerWaiter`] in place of a parked coroutine: a sender that finds it hands the value
//! straight into its slot (a rendezvous hand-off works across the two worlds) and wakes the
//! task's `Waker`. There is no executor here and no thread per future; the first poll tries the
//! operation under the channel's lock and registers in the same critical section if it cannot
//! complete, as the blocking operations do.
//!
//! Cancelling (dropping a pending future) is decided under the channel's lock, where every
//! claim of a future's waiter happens: if the waiter is still queued, its entry is removed and
//! the operation never happens; otherwise a claimer got there first and the future settles
//! what it did:
//!
//! - a receive that was handed a value it will never return gives the value back
//!   (`Chan::give_back`: to the oldest parked receiver, or else to the front of the buffer), so
//!   no message is lost;
//! - a send whose value was taken has been delivered (the send happened, once); a send claimed
//!   by a close still holds its value, which is dropped with the future.
//!
//! Timer channels (`after`, `at`, `tick`) have no queue to wait in; a future waiting for one
//! registers with a helper thread (`timer_thread`) that wakes it at the due instant. A
//! `never()` receiver's future is pending forever.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::{FusedFuture, FusedStream, Stream};
use select::{QueueKey, RecvError, SendError, WakerWaiter};

use crate::chan::{wake, Chan, Received, Sent};
use crate::handles::{Flavor, Receiver, Sender};
use crate::timer_thread::Registration;

/// The state of one receive on behalf of a future or a stream: a registration in the
/// channel's receive queue (or with the timer thread) while pending. The waiter is kept after
/// it finishes, for the stream's next item.
pub(crate) struct RecvOp<T> {
    waiter: Option<WakerWaiter<Option<T>>>,
    /// Where the waiter's entry is, while it is registered.
    key: Option<QueueKey>,
    /// A pending wait for a timer channel.
    timer: Option<Registration>,
}

impl<T> RecvOp<T> {
    pub(crate) const fn new() -> RecvOp<T> {
        RecvOp {
            waiter: None,
            key: None,
            timer: None,
        }
    }

    pub(crate) fn poll(
        &mut self,
        rx: &Receiver<T>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<T, RecvError>> {
        match &rx.flavor {
            Flavor::Chan(chan) => self.poll_chan(chan, cx),
            Flavor::At(at) => self.poll_timer(|| at.try_take(), || at.deadline(), cx),
            Flavor::Tick(tick) => self.poll_timer(|| tick.try_take(), || tick.deadline(), cx),
            Flavor::Never => Poll::Pending,
        }
    }

    fn poll_chan(&mut self, chan: &Chan<T>, cx: &mut Context<'_>) -> Poll<Result<T, RecvError>> {
        if self.key.is_some() {
            let waiter = self
                .waiter
                .as_mut()
                .expect("a registered receive has a waiter");
            if waiter.settle().is_none() {
                // Not claimed yet: make sure the task that polls now is the one woken.
                let replaced = {
                    let _st = chan.lock();
                    // SAFETY: we hold the lock of the queue that holds the waiter's entry, and
                    // see it waiting under it.
                    waiter
                        .is_waiting()
                        .then(|| unsafe { waiter.replace_waker(cx.waker()) })
                };
                match replaced {
                    Some(old) => {
                        drop(old);
                        return Poll::Pending;
                    }
                    // Claimed meanwhile.
                    None => {
                        waiter.settle();
                    }
                }
            }
            self.key = None;
            // A sender filled the slot, or a close left it empty.
            let got = waiter.finished_slot().and_then(Option::take);
            return Poll::Ready(got.ok_or(RecvError));
        }
        let mut st = chan.lock();
        match chan.recv_locked(&mut st, None) {
            Received::Value(v, w) => {
                drop(st);
                wake(w);
                Poll::Ready(Ok(v))
            }
            Received::Closed => Poll::Ready(Err(RecvError)),
            Received::Empty => {
                let waiter = match &mut self.waiter {
                    Some(w) => {
                        w.rearm(cx.waker());
                        w
                    }
                    None => self.waiter.insert(WakerWaiter::new(cx.waker(), None)),
                };
                self.key = Some(st.push_receiver(waiter.entry(0)));
                Poll::Pending
            }
        }
    }

    fn poll_timer(
        &mut self,
        try_take: impl Fn() -> Option<T>,
        deadline: impl Fn() -> Option<std::time::Instant>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<T, RecvError>> {
        loop {
            if let Some(v) = try_take() {
                self.timer = None;
                return Poll::Ready(Ok(v));
            }
            let Some(due) = deadline() else {
                // An `after` someone else received: nothing ever comes again.
                self.timer = None;
                return Poll::Pending;
            };
            if due <= std::time::Instant::now() {
                // Due, but another receiver took this one; look again (a tick moves on).
                continue;
            }
            if let Some(r) = &self.timer {
                if r.deadline() == due && r.set_waker(cx.waker()) {
                    return Poll::Pending;
                }
            }
            self.timer = Some(Registration::new(due, cx.waker()));
            return Poll::Pending;
        }
    }

    /// True while a receive is registered (the future or stream is pending on it).
    pub(crate) fn is_pending(&self) -> bool {
        self.key.is_some() || self.timer.as_ref().is_some_and(|r| !r.fired())
    }

    /// Withdraws a pending receive, giving back a value handed to it meanwhile.
    pub(crate) fn cancel(&mut self, rx: &Receiver<T>) {
        if let Some(v) = self.withdraw(rx) {
            let Flavor::Chan(chan) = &rx.flavor else {
                unreachable!("only channels hand values over")
            };
            chan.give_back(v);
        }
    }

    /// Withdraws a pending receive; returns the value handed to it meanwhile, if any.
    pub(crate) fn withdraw(&mut self, rx: &Receiver<T>) -> Option<T> {
        self.timer = None;
        let key = self.key.take()?;
        let Flavor::Chan(chan) = &rx.flavor else {
            unreachable!("only channels have wait queues")
        };
        let waiter = self
            .waiter
            .as_mut()
            .expect("a registered receive has a waiter");
        if !waiter.is_done() {
            let mut st = chan.lock();
            if waiter.is_waiting() {
                // Unclaimed, and no claim can come while we hold the lock: withdrawn.
                st.recvq.remove(key, waiter, 0);
                drop(st);
                // Never finished, so never rearmed: let it go.
                self.waiter = None;
                return None;
            }
        }
        // Claimed: a sender handed us a value (or a close left the slot empty).
        waiter.settle();
        waiter.finished_slot().and_then(Option::take)
    }
}

impl<T> Receiver<T> {
    /// Receives a value asynchronously: a future that completes as [`recv`](Receiver::recv)
    /// returns, with the value or, once the channel is closed and drained, `Err(RecvError)`.
    /// While it is pending it waits in the channel's queue like a parked coroutine, and the
    /// task's waker is woken when a value arrives; it works on any executor and needs no
    /// greenchan runtime. On `after`/`at`/`tick` it completes when the instant is due (a
    /// helper thread wakes it, see the crate docs); on `never()` it stays pending.
    ///
    /// It is cancel-safe: dropping it before it completes loses no message. A value handed to
    /// it meanwhile goes back to the channel, to another waiting receiver or to the front of
    /// the buffer, to be received next ([`RecvFuture::cancel`] withdraws the receive and keeps
    /// such a value instead).
    ///
    /// ```
    /// let (tx, rx) = greenchan::chan::bounded(0);
    /// // A coroutine sends; an async block, here run by `greenchan::block_on`, receives.
    /// let sender = greenchan::spawn(move || tx.send("hello").unwrap());
    /// let got = greenchan::block_on(async { rx.recv_async().await });
    /// assert_eq!(got, Ok("hello"));
    /// sender.join().unwrap();
    /// assert!(greenchan::block_on(rx.recv_async()).is_err()); // closed and drained
    /// ```
    pub fn recv_async(&self) -> RecvFuture<'_, T> {
        RecvFuture {
            rx: self,
            op: RecvOp::new(),
            done: false,
        }
    }

    /// The values received, as an asynchronous [`Stream`]; it ends when the channel is closed
    /// and drained (for a timer channel: never). Each item is a [`recv_async`](Self::recv_async),
    /// with the same cancel-safety: dropping the stream while it waits loses no message.
    ///
    /// ```
    /// use std::future::poll_fn;
    /// use std::pin::Pin;
    /// use futures_core::Stream;
    /// use greenchan::block_on;
    ///
    /// let (tx, rx) = greenchan::chan::unbounded();
    /// let producer = greenchan::spawn(move || {
    ///     for i in 0..3 {
    ///         tx.send(i).unwrap();
    ///     }
    /// }); // dropping `tx` closes the channel
    /// let mut stream = rx.stream();
    /// let mut got = Vec::new();
    /// while let Some(v) = block_on(poll_fn(|cx| Pin::new(&mut stream).poll_next(cx))) {
    ///     got.push(v);
    /// }
    /// assert_eq!(got, [0, 1, 2]);
    /// producer.join().unwrap();
    /// ```
    pub fn stream(&self) -> RecvStream<'_, T> {
        RecvStream {
            rx: self,
            op: RecvOp::new(),
            ended: false,
        }
    }

    /// As [`stream`](Self::stream), owning the receiver: for a stream that must be `'static`
    /// (one moved into a spawned task).
    ///
    /// ```
    /// use std::future::poll_fn;
    /// use std::pin::Pin;
    /// use futures_core::Stream;
    /// use greenchan::block_on;
    ///
    /// let (tx, rx) = greenchan::chan::bounded(1);
    /// let mut stream = rx.into_stream();
    /// let consumer = greenchan::spawn(move || {
    ///     let mut sum = 0;
    ///     while let Some(v) = block_on(poll_fn(|cx| Pin::new(&mut stream).poll_next(cx))) {
    ///         sum += v;
    ///     }
    ///     sum
    /// });
    /// for i in 1..=4 {
    ///     tx.send(i).unwrap();
    /// }
    /// drop(tx);
    /// assert_eq!(consumer.join().unwrap(), 10);
    /// ```
    pub fn into_stream(self) -> IntoStream<T> {
        IntoStream {
            rx: self,
            op: RecvOp::new(),
            ended: false,
        }
    }
}

/// The future of [`Receiver::recv_async`]. Dropping it while pending withdraws the receive
/// and loses no message (see there). It is `Unpin`, and it is a [`FusedFuture`]: once complete
/// it reports so, and polling it again panics.
///
/// ```
/// use futures_core::FusedFuture;
///
/// let (tx, rx) = greenchan::chan::unbounded();
/// tx.send(5).unwrap();
/// let mut fut = rx.recv_async();
/// assert!(!fut.is_terminated());
/// assert_eq!(greenchan::block_on(&mut fut), Ok(5));
/// assert!(fut.is_terminated());
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct RecvFuture<'a, T> {
    rx: &'a Receiver<T>,
    op: RecvOp<T>,
    done: bool,
}

impl<T> Future for RecvFuture<'_, T> {
    type Output = Result<T, RecvError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T, RecvError>> {
        let this = &mut *self;
        assert!(!this.done, "RecvFuture polled after completion");
        let out = this.op.poll(this.rx, cx);
        this.done = out.is_ready();
        out
    }
}

impl<T> RecvFuture<'_, T> {
    /// Withdraws the receive, and returns the value that was handed to it since its last poll,
    /// if one was (the receive then happened): for code that abandons a receive and would
    /// rather keep such a value than give it back to the channel, as dropping the future does.
    /// `None` if nothing was received, or if the future has already completed.
    ///
    /// ```
    /// use std::future::Future;
    /// use std::pin::Pin;
    /// use std::task::{Context, Waker};
    ///
    /// let (tx, rx) = greenchan::chan::bounded(0);
    /// let mut cx = Context::from_waker(Waker::noop());
    ///
    /// let mut fut = rx.recv_async();
    /// assert!(Pin::new(&mut fut).poll(&mut cx).is_pending());
    /// assert_eq!(fut.cancel(), None); // withdrawn: nothing was received
    ///
    /// let mut fut = rx.recv_async();
    /// assert!(Pin::new(&mut fut).poll(&mut cx).is_pending());
    /// tx.try_send(1).unwrap(); // handed to the waiting future
    /// assert_eq!(fut.cancel(), Some(1)); // received; not given back
    /// assert!(rx.try_recv().is_err());
    /// ```
    pub fn cancel(mut self) -> Option<T> {
        self.op.withdraw(self.rx)
    }
}

impl<T> FusedFuture for RecvFuture<'_, T> {
    fn is_terminated(&self) -> bool {
        self.done
    }
}

impl<T> Drop for RecvFuture<'_, T> {
    fn drop(&mut self) {
        self.op.cancel(self.rx);
    }
}

impl<T> fmt::Debug for RecvFuture<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecvFuture")
            .field("pending", &self.op.is_pending())
            .field("done", &self.done)
            .finish()
    }
}

/// The stream of [`Receiver::stream`]: the received values, until the channel is closed and
/// drained. Dropping it while it waits loses no message. It is `Unpin`.
///
/// ```
/// use futures_core::FusedStream;
///
/// let (tx, rx) = greenchan::chan::unbounded::<()>();
/// drop(tx);
/// let mut stream = rx.stream();
/// assert!(!stream.is_terminated());
/// let end = greenchan::block_on(std::future::poll_fn(|cx| {
///     futures_core::Stream::poll_next(std::pin::Pin::new(&mut stream), cx)
/// }));
/// assert_eq!(end, None);
/// assert!(stream.is_terminated());
/// ```
#[must_use = "streams do nothing unless polled"]
pub struct RecvStream<'a, T> {
    rx: &'a Receiver<T>,
    op: RecvOp<T>,
    ended: bool,
}

/// The stream of [`Receiver::into_stream`], which owns its receiver; otherwise as
/// [`RecvStream`].
///
/// ```
/// use futures_core::Stream;
///
/// let (_tx, rx) = greenchan::chan::unbounded::<i32>();
/// let stream = rx.into_stream();
/// assert_eq!(stream.size_hint(), (0, None));
/// ```
#[must_use = "streams do nothing unless polled"]
pub struct IntoStream<T> {
    rx: Receiver<T>,
    op: RecvOp<T>,
    ended: bool,
}

// Nothing is pinned: the receiver is only borrowed, and the pending receive lives on the heap.
impl<T> Unpin for IntoStream<T> {}

/// The next item of a receive stream.
fn poll_next<T>(
    rx: &Receiver<T>,
    op: &mut RecvOp<T>,
    ended: &mut bool,
    cx: &mut Context<'_>,
) -> Poll<Option<T>> {
    if *ended {
        return Poll::Ready(None);
    }
    match op.poll(rx, cx) {
        Poll::Ready(Ok(v)) => Poll::Ready(Some(v)),
        Poll::Ready(Err(RecvError)) => {
            *ended = true;
            Poll::Ready(None)
        }
        Poll::Pending => Poll::Pending,
    }
}

/// What a receive stream has buffered: at least that, and no upper bound while open.
fn size_hint<T>(rx: &Receiver<T>, ended: bool) -> (usize, Option<usize>) {
    if ended {
        return (0, Some(0));
    }
    match &rx.flavor {
        Flavor::Chan(_) => (rx.len(), None),
        _ => (0, None),
    }
}

impl<T> Stream for RecvStream<'_, T> {
    type Item = T;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let this = &mut *self;
        poll_next(this.rx, &mut this.op, &mut this.ended, cx)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        size_hint(self.rx, self.ended)
    }
}

impl<T> Stream for IntoStream<T> {
    type Item = T;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let this = &mut *self;
        poll_next(&this.rx, &mut this.op, &mut this.ended, cx)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        size_hint(&self.rx, self.ended)
    }
}

impl<T> FusedStream for RecvStream<'_, T> {
    fn is_terminated(&self) -> bool {
        self.ended
    }
}

impl<T> FusedStream for IntoStream<T> {
    fn is_terminated(&self) -> bool {
        self.ended
    }
}

impl<T> Drop for RecvStream<'_, T> {
    fn drop(&mut self) {
        self.op.cancel(self.rx);
    }
}

impl<T> Drop for IntoStream<T> {
    fn drop(&mut self) {
        // Before the receiver goes (fields drop after this).
        self.op.cancel(&self.rx);
    }
}

impl<T> IntoStream<T> {
    /// The receiver the stream receives from.
    ///
    /// ```
    /// let (tx, rx) = greenchan::chan::unbounded();
    /// tx.send(1).unwrap();
    /// let stream = rx.into_stream();
    /// assert_eq!(stream.receiver().len(), 1);
    /// ```
    pub fn receiver(&self) -> &Receiver<T> {
        &self.rx
    }
}

impl<T> fmt::Debug for RecvStream<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecvStream")
            .field("pending", &self.op.is_pending())
            .field("ended", &self.ended)
            .finish()
    }
}

impl<T> fmt::Debug for IntoStream<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntoStream")
            .field("pending", &self.op.is_pending())
            .field("ended", &self.ended)
            .finish()
    }
}

/// The state of one send on behalf of a future: the value until it is offered, then a
/// registration in the channel's send queue, whose slot holds the value, while pending.
enum SendState<T> {
    Start(T),
    Waiting(WakerWaiter<Option<T>>, QueueKey),
    Done,
}

impl<T> Sender<T> {
    /// Sends a value asynchronously: a future that completes as [`send`](Sender::send)
    /// returns, `Ok(())` once the value is in the channel (for a rendezvous channel: once a
    /// receiver has taken it), or `Err(SendError(value))` if the channel is closed. While the
    /// channel is full it waits in the channel's queue like a parked coroutine, and the task's
    /// waker is woken when a receiver makes room or takes the value; it works on any executor.
    ///
    /// Dropping it before it completes withdraws the send: the value is not sent and is
    /// dropped with the future. A send takes effect when a receiver takes the value (or room
    /// in the buffer takes it), which may happen between two polls: if it happened before the
    /// drop, the value was sent, once. Nothing is ever half sent or sent twice. Code that gives
    /// up on a send and must know which it was (a `tokio::select!` with a timeout, say) calls
    /// [`SendFuture::cancel`] instead of dropping: it withdraws the send and returns the value
    /// if it was not sent.
    ///
    /// ```
    /// let (tx, rx) = greenchan::chan::bounded(0);
    /// // An async block, here run by `greenchan::block_on` on a coroutine, sends; this thread
    /// // receives.
    /// let sender = greenchan::spawn(move || {
    ///     greenchan::block_on(async { tx.send_async(7).await })
    /// });
    /// assert_eq!(rx.recv(), Ok(7));
    /// assert_eq!(sender.join().unwrap(), Ok(()));
    /// ```
    pub fn send_async(&self, value: T) -> SendFuture<'_, T> {
        SendFuture {
            tx: self,
            state: SendState::Start(value),
        }
    }
}

/// The future of [`Sender::send_async`]. Dropping it while pending withdraws the send (see
/// there). It is `Unpin`, and a [`FusedFuture`]: polling it again after completion panics.
///
/// ```
/// use futures_core::FusedFuture;
///
/// let (tx, rx) = greenchan::chan::bounded(1);
/// let mut fut = tx.send_async(1);
/// assert_eq!(greenchan::block_on(&mut fut), Ok(()));
/// assert!(fut.is_terminated());
/// drop(rx); // the last receiver's drop closes the channel
/// let err = greenchan::block_on(tx.send_async(2)).unwrap_err();
/// assert_eq!(err.into_inner(), 2);
/// ```
#[must_use = "futures do nothing unless polled; dropping this withdraws the send"]
pub struct SendFuture<'a, T> {
    tx: &'a Sender<T>,
    state: SendState<T>,
}

// Nothing is pinned: the value is moved in and out by value, never through a `Pin`.
impl<T> Unpin for SendFuture<'_, T> {}

impl<T> Future for SendFuture<'_, T> {
    type Output = Result<(), SendError<T>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), SendError<T>>> {
        let this = &mut *self;
        let chan = &*this.tx.chan;
        match std::mem::replace(&mut this.state, SendState::Done) {
            SendState::Start(value) => {
                let mut st = chan.lock();
                match chan.send_locked(&mut st, value, None) {
                    Sent::Done(w) => {
                        drop(st);
                        wake(w);
                        Poll::Ready(Ok(()))
                    }
                    Sent::Closed(v) => Poll::Ready(Err(SendError(v))),
                    Sent::Full(v) => {
                        let waiter = WakerWaiter::new(cx.waker(), Some(v));
                        let key = st.push_sender(waiter.entry(0));
                        this.state = SendState::Waiting(waiter, key);
                        Poll::Pending
                    }
                }
            }
            SendState::Waiting(mut waiter, key) => {
                if waiter.settle().is_none() {
                    let replaced = {
                        let _st = chan.lock();
                        // SAFETY: we hold the lock of the queue that holds the waiter's entry,
                        // and see it waiting under it.
                        waiter
                            .is_waiting()
                            .then(|| unsafe { waiter.replace_waker(cx.waker()) })
                    };
                    match replaced {
                        Some(old) => {
                            drop(old);
                            this.state = SendState::Waiting(waiter, key);
                            return Poll::Pending;
                        }
                        None => {
                            waiter.settle();
                        }
                    }
                }
                // A receiver took the value (or made room and moved it into the buffer), or a
                // close left it with us.
                match waiter.finished_slot().and_then(Option::take) {
                    None => Poll::Ready(Ok(())),
                    Some(v) => Poll::Ready(Err(SendError(v))),
                }
            }
            SendState::Done => panic!("SendFuture polled after completion"),
        }
    }
}

impl<T> SendFuture<'_, T> {
    /// Withdraws the send if it has not taken effect: `Some(value)` if the value was not sent
    /// (the future was never polled, is still waiting, or the channel closed meanwhile), `None`
    /// if a receiver (or the buffer) took it, or if the future has already completed (its
    /// output said what happened).
    ///
    /// ```
    /// use std::task::{Context, Poll, Waker};
    /// use std::future::Future;
    /// use std::pin::Pin;
    ///
    /// let (tx, rx) = greenchan::chan::bounded(0);
    /// let mut cx = Context::from_waker(Waker::noop());
    ///
    /// // Still waiting for a receiver: withdrawn, the value comes back.
    /// let mut fut = tx.send_async("a");
    /// assert!(Pin::new(&mut fut).poll(&mut cx).is_pending());
    /// assert_eq!(fut.cancel(), Some("a"));
    /// assert!(rx.try_recv().is_err());
    ///
    /// // A receiver took the value after the last poll: it was sent.
    /// let mut fut = tx.send_async("b");
    /// assert!(Pin::new(&mut fut).poll(&mut cx).is_pending());
    /// assert_eq!(rx.try_recv(), Ok("b"));
    /// assert_eq!(fut.cancel(), None);
    /// ```
    pub fn cancel(mut self) -> Option<T> {
        match std::mem::replace(&mut self.state, SendState::Done) {
            SendState::Start(v) => Some(v),
            SendState::Waiting(mut waiter, key) => {
                if !waiter.is_done() {
                    let mut st = self.tx.chan.lock();
                    if waiter.is_waiting() {
                        st.sendq.remove(key, &waiter, 0);
                        drop(st);
                        // SAFETY: seen waiting and removed under the channel's lock, before
                        // any claim.
                        return unsafe { waiter.unclaimed_slot() }.take();
                    }
                }
                // Claimed: taken (sent), or left with us by a close.
                waiter.settle();
                waiter.finished_slot().and_then(Option::take)
            }
            SendState::Done => None,
        }
    }
}

impl<T> FusedFuture for SendFuture<'_, T> {
    fn is_terminated(&self) -> bool {
        matches!(self.state, SendState::Done)
    }
}

impl<T> Drop for SendFuture<'_, T> {
    fn drop(&mut self) {
        let SendState::Waiting(waiter, key) = &self.state else {
            return;
        };
        if !waiter.is_done() {
            let mut st = self.tx.chan.lock();
            if waiter.is_waiting() {
                // Unclaimed, and no claim can come while we hold the lock: withdrawn. The
                // value is dropped with the waiter, after the lock is released.
                st.sendq.remove(*key, waiter, 0);
            }
        }
        // Claimed: the value was delivered, or a close left it in the slot, to be dropped
        // with the waiter (whose drop waits for the claimer to finish).
    }
}

impl<T> fmt::Debug for SendFuture<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            SendState::Start(_) => "start",
            SendState::Waiting(..) => "pending",
            SendState::Done => "done",
        };
        f.debug_struct("SendFuture").field("state", &state).finish()
    }
}
