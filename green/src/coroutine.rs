//! The blocking primitive everything else is built on: park and unpark, for coroutines and
//! plain threads alike, plus the calls a coroutine makes about itself (`yield_now`, `sleep`,
//! `preempt_point`) and the `Coroutine` handle that names it.
//!
//! Every call here has two meanings and one contract. Inside a coroutine, blocking suspends the
//! coroutine and its worker runs others; on a plain OS thread it blocks the thread through
//! `std::thread::park`. A `Coroutine` handle taken with `current()` wakes whichever it names, so
//! a thread can wake a coroutine and a coroutine a thread. Semantics are `std::thread`'s: one
//! wake-up token, spurious returns allowed, an `unpark` before `park` makes `park` return.

use std::fmt;
use std::num::NonZeroU64;
use std::sync::Arc;
use std::task::{RawWaker, RawWakerVTable, Wake, Waker};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use crate::blocking::JobThread;
use crate::scheduler::{self, context, suspend, Suspend, Task, TaskRef};
use crate::task;

/// A unique identifier of a coroutine (or of a plain thread seen through [`current`]).
///
/// ```
/// let a = greenchan::spawn(|| greenchan::current().id()).join().unwrap();
/// let b = greenchan::spawn(|| greenchan::current().id()).join().unwrap();
/// assert_ne!(a, b);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CoroutineId(NonZeroU64);

impl CoroutineId {
    fn new(raw: u64) -> CoroutineId {
        CoroutineId(NonZeroU64::new(raw).expect("ids start at 1"))
    }

    pub(crate) fn from_raw(raw: NonZeroU64) -> CoroutineId {
        CoroutineId(raw)
    }

    /// The id as a number, unique for the life of the process.
    pub fn as_u64(&self) -> NonZeroU64 {
        self.0
    }
}

impl fmt::Display for CoroutineId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[derive(Clone)]
enum Inner {
    Task(TaskRef),
    Thread {
        thread: Thread,
        id: u64,
    },
    /// A `spawn_blocking` job, on whichever pool thread runs it.
    Job(Arc<JobThread>),
}

/// A handle to a coroutine, or to a plain OS thread when [`current`] is called outside any
/// coroutine. It is how a blocked party is woken: [`Coroutine::unpark`].
///
/// ```
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use std::sync::Arc;
///
/// let ready = Arc::new(AtomicBool::new(false));
/// let main = greenchan::current(); // this test's thread
/// let flag = ready.clone();
/// let h = greenchan::spawn(move || {
///     flag.store(true, Ordering::Release);
///     main.unpark(); // a coroutine wakes a thread
/// });
/// while !ready.load(Ordering::Acquire) {
///     greenchan::park();
/// }
/// h.join().unwrap();
/// ```
#[derive(Clone)]
pub struct Coroutine {
    inner: Inner,
}

impl Coroutine {
    pub(crate) fn from_task(task: TaskRef) -> Coroutine {
        Coroutine {
            inner: Inner::Task(task),
        }
    }

    pub(crate) fn from_job(job: Arc<JobThread>) -> Coroutine {
        Coroutine {
            inner: Inner::Job(job),
        }
    }

    /// This coroutine's id.
    ///
    /// ```
    /// let h = greenchan::spawn(|| greenchan::current().id());
    /// let id = h.coroutine().id();
    /// assert_eq!(h.join().unwrap(), id);
    /// ```
    pub fn id(&self) -> CoroutineId {
        match &self.inner {
            Inner::Task(task) => CoroutineId::new(task.id),
            Inner::Thread { id, .. } => CoroutineId::new(*id),
            Inner::Job(job) => CoroutineId::new(job.id),
        }
    }

    /// The name given with [`Builder::name`](crate::Builder::name), or the thread's name
    /// (`None` for a [`spawn_blocking`](crate::spawn_blocking) job).
    ///
    /// ```
    /// let h = greenchan::Builder::new()
    ///     .name("worker-1".into())
    ///     .spawn(|| greenchan::current().name().map(str::to_owned))
    ///     .unwrap();
    /// assert_eq!(h.join().unwrap().as_deref(), Some("worker-1"));
    /// ```
    pub fn name(&self) -> Option<&str> {
        match &self.inner {
            Inner::Task(task) => task.name.as_deref().map(String::as_str),
            Inner::Thread { thread, .. } => thread.name(),
            Inner::Job(_) => None,
        }
    }

    /// Wakes the coroutine (or thread) if it is parked, or makes its next `park` return at
    /// once. Cheap when there is nothing to wake.
    ///
    /// ```
    /// let me = greenchan::current();
    /// me.unpark();
    /// greenchan::park(); // returns at once: the token was set
    /// ```
    pub fn unpark(&self) {
        match &self.inner {
            Inner::Task(task) => wake(task),
            Inner::Thread { thread, .. } => thread.unpark(),
            Inner::Job(job) => {
                // The pool thread running the job, if it runs; a spurious wake-up of its next
                // job at worst, which `park` allows.
                if let Some(thread) = crate::locking::lock(&job.thread).as_ref() {
                    thread.unpark();
                }
            }
        }
    }

    /// The address of the coroutine's task, 0 for a thread: equal to [`running_key`] while
    /// that coroutine runs. Plumbing for the channel layer's waiter cache.
    #[doc(hidden)]
    #[inline]
    pub fn key(&self) -> usize {
        match &self.inner {
            Inner::Task(task) => Arc::as_ptr(task) as usize,
            Inner::Thread { .. } | Inner::Job(_) => 0,
        }
    }

    /// A `Waker` that unparks this coroutine (or thread): how the result slot of a
    /// `JoinHandle`, and futures awaited with `block_on`, wake their waiter. For a coroutine
    /// it is the task reference itself, with no allocation.
    pub(crate) fn into_waker(self) -> Waker {
        match self.inner {
            Inner::Task(task) => {
                let data = Arc::into_raw(task) as *const ();
                // SAFETY: `data` is a strong reference to a task, which `TASK_WAKER`'s
                // functions treat as such (see there).
                unsafe { Waker::from_raw(RawWaker::new(data, &TASK_WAKER)) }
            }
            other => Waker::from(Arc::new(HandleWaker(Coroutine { inner: other }))),
        }
    }

    /// True if both handles name the same coroutine or thread.
    pub fn same(&self, other: &Coroutine) -> bool {
        self.id() == other.id()
    }
}

impl fmt::Debug for Coroutine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.inner {
            Inner::Task(_) => "coroutine",
            Inner::Thread { .. } => "thread",
            Inner::Job(_) => "blocking job",
        };
        f.debug_struct("Coroutine")
            .field("kind", &kind)
            .field("id", &self.id())
            .field("name", &self.name())
            .finish()
    }
}

/// A waker over a handle of a thread or a blocking job.
struct HandleWaker(Coroutine);

impl Wake for HandleWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// The waker of a coroutine: its data is one strong count of the task (`Arc::into_raw`).
static TASK_WAKER: RawWakerVTable = RawWakerVTable::new(
    |data| {
        // SAFETY: `data` holds a strong count (the waker's), so the task is alive; the clone
        // gets a count of its own.
        unsafe { Arc::increment_strong_count(data as *const Task) };
        RawWaker::new(data, &TASK_WAKER)
    },
    |data| {
        // SAFETY: consumes the waker's count.
        let task = unsafe { Arc::from_raw(data as *const Task) };
        wake(&task);
    },
    |data| {
        // SAFETY: the waker's count keeps the task alive for this call.
        wake(unsafe { &*(data as *const Task) });
    },
    |data| {
        // SAFETY: releases the waker's count.
        drop(unsafe { Arc::from_raw(data as *const Task) });
    },
);

thread_local! {
    static THREAD_ID: u64 = task::next_id();
}

/// The running coroutine, as an owned reference, if there is one.
fn current_task_ref() -> Option<TaskRef> {
    let ptr = context::current_task();
    if ptr.is_null() {
        return None;
    }
    // SAFETY: a non-null current task is alive (its worker holds a reference while running
    // it); we add a strong count before materialising a second `Arc`.
    unsafe {
        Arc::increment_strong_count(ptr);
        Some(Arc::from_raw(ptr))
    }
}

/// A handle to the running coroutine; on a plain thread, to that thread.
///
/// ```
/// let name = greenchan::Builder::new()
///     .name("me".into())
///     .spawn(|| greenchan::current().name().unwrap().to_owned())
///     .unwrap()
///     .join()
///     .unwrap();
/// assert_eq!(name, "me");
/// ```
pub fn current() -> Coroutine {
    match current_task_ref() {
        Some(task) => Coroutine::from_task(task),
        None => Coroutine {
            inner: Inner::Thread {
                thread: thread::current(),
                id: THREAD_ID.with(|id| *id),
            },
        },
    }
}

/// True when called from inside a coroutine.
///
/// ```
/// assert!(!greenchan::in_coroutine());
/// assert!(greenchan::spawn(greenchan::in_coroutine).join().unwrap());
/// ```
pub fn in_coroutine() -> bool {
    !context::current_task().is_null()
}

/// The key ([`Coroutine::key`]) of the running coroutine, 0 outside coroutines: one
/// thread-local read. Plumbing for the channel layer's waiter cache.
#[doc(hidden)]
#[inline]
pub fn running_key() -> usize {
    context::current_task() as usize
}

/// Makes `task` runnable, or leaves it a token: what every unpark of a coroutine does.
fn wake(task: &Task) {
    scheduler::wake(task);
}

/// Waits for a wake-up token (or `deadline`) by blocking the worker's thread, without
/// switching to another coroutine: how a coroutine waits while it is panicking.
///
/// std keeps panic state per OS thread: the panic count behind `thread::panicking()` (which
/// std's locks consult to decide whether to poison) and whether the thread is inside the
/// panic hook (a second panic there aborts the process). A coroutine that parked inside its
/// panic hook or while unwinding would leave that state set for every other coroutine its
/// worker ran meanwhile: their `thread::panicking()` would be true, their std mutex guards
/// would poison what they unlock, and a panic of theirs inside the window would abort the
/// process. std offers no way to save and restore that state per coroutine, so a panicking
/// coroutine keeps its thread to itself, as a thread would, until it has finished panicking.
/// The worker's other started coroutines wait meanwhile (the monitor rescues what may move);
/// a hook or destructor that waits for one of *them* therefore deadlocks, which is the limit
/// of this rule, documented on the crate.
fn block_thread(task: &Task, deadline: Option<Instant>) {
    if !task.begin_blocking() {
        return; // a token was pending
    }
    while !task.is_notified() {
        match deadline {
            None => thread::park(),
            Some(d) => {
                let now = Instant::now();
                if now >= d {
                    break;
                }
                thread::park_timeout(d - now);
            }
        }
    }
    task.end_blocking();
}

/// Wakes one coroutine or thread, like [`Coroutine::unpark`], without holding a reference to
/// it. Plumbing for the channel layer (doc-hidden): a channel's waiter names its coroutine with
/// one, so a blocking operation clones no handle, and the waiter may live in the coroutine's
/// own task ([`take_park_cache`]) without keeping it alive.
///
/// ```
/// let h = greenchan::spawn(|| {
///     let me = green::RawUnparker::current();
///     // SAFETY: this coroutine is running, so it is alive.
///     unsafe { me.unpark() };
///     greenchan::park(); // returns at once: the token is there
/// });
/// h.join().unwrap();
/// ```
#[doc(hidden)]
#[derive(Debug)]
pub struct RawUnparker {
    inner: RawInner,
}

#[derive(Debug)]
enum RawInner {
    Task(std::ptr::NonNull<Task>),
    Thread(Thread),
}

// SAFETY: `Task` is `Send + Sync`; the pointer is only dereferenced under `unpark`'s and
// `keep_alive`'s contracts, from any thread.
unsafe impl Send for RawUnparker {}
// SAFETY: as above.
unsafe impl Sync for RawUnparker {}

impl RawUnparker {
    /// The caller: the running coroutine, or the current thread.
    #[inline]
    pub fn current() -> RawUnparker {
        let task = context::current_task();
        let inner = match std::ptr::NonNull::new(task as *mut Task) {
            Some(task) => RawInner::Task(task),
            None => RawInner::Thread(thread::current()),
        };
        RawUnparker { inner }
    }

    /// The named coroutine's key ([`Coroutine::key`]), 0 for a thread.
    #[inline]
    pub fn key(&self) -> usize {
        match &self.inner {
            RawInner::Task(task) => task.as_ptr() as usize,
            RawInner::Thread(_) => 0,
        }
    }

    /// Wakes it, or leaves it a token.
    ///
    /// # Safety
    /// The named coroutine's task is alive: its coroutine has not finished (it is, for example,
    /// still inside the blocking operation this handle was made for), or
    /// [`keep_alive`](RawUnparker::keep_alive) was called.
    #[inline]
    pub unsafe fn unpark(&self) {
        match &self.inner {
            // SAFETY: alive, by the caller's contract.
            RawInner::Task(task) => wake(unsafe { task.as_ref() }),
            RawInner::Thread(thread) => thread.unpark(),
        }
    }

    /// Keeps the named coroutine's task allocated for good (it is leaked), so that a later
    /// [`unpark`](RawUnparker::unpark) stays sound after the coroutine is gone. For the rare
    /// waiter that must outlive its coroutine (one unwound while a claimer still holds it).
    ///
    /// # Safety
    /// The task is alive now.
    pub unsafe fn keep_alive(&self) {
        if let RawInner::Task(task) = &self.inner {
            // SAFETY: alive now, by the caller's contract, and every task lives in an `Arc`.
            unsafe { Arc::increment_strong_count(task.as_ptr() as *const Task) };
        }
    }
}

/// Blocks until [`Coroutine::unpark`] is called on the current coroutine (or thread), or
/// spuriously. Returns at once if a wake-up token is pending.
///
/// ```
/// let h = greenchan::spawn(|| {
///     greenchan::park(); // until main unparks us
///     7
/// });
/// h.coroutine().unpark();
/// assert_eq!(h.join().unwrap(), 7);
/// ```
pub fn park() {
    let task = context::current_task();
    if task.is_null() {
        return thread::park();
    }
    // SAFETY: non-null means this is the running coroutine, alive while it runs.
    let t = unsafe { &*task };
    if !t.take_token() {
        if thread::panicking() {
            block_thread(t, None);
        } else if !scheduler::park_direct(task) {
            suspend(task, Suspend::Park);
        }
    }
}

/// Like [`park`], but returns after `dur` at the latest.
///
/// ```
/// use std::time::Duration;
/// // Nobody unparks this coroutine: the timeout ends the wait.
/// greenchan::spawn(|| greenchan::park_timeout(Duration::from_millis(5)))
///     .join()
///     .unwrap();
/// ```
pub fn park_timeout(dur: Duration) {
    match Instant::now().checked_add(dur) {
        Some(deadline) => park_deadline(deadline),
        None => park(),
    }
}

/// Like [`park`], but returns at `deadline` at the latest.
///
/// ```
/// use std::time::{Duration, Instant};
/// let deadline = Instant::now() + Duration::from_millis(2);
/// greenchan::spawn(move || greenchan::park_deadline(deadline)).join().unwrap();
/// ```
pub fn park_deadline(deadline: Instant) {
    let task = context::current_task();
    if task.is_null() {
        let now = Instant::now();
        if deadline > now {
            thread::park_timeout(deadline - now);
        }
        return;
    }
    // SAFETY: non-null means this is the running coroutine, alive while it runs.
    let t = unsafe { &*task };
    if !t.take_token() && Instant::now() < deadline {
        if thread::panicking() {
            block_thread(t, Some(deadline));
        } else {
            let gen = t.begin_timed_wait();
            t.set_wait_deadline(t.runtime.nanos_since_epoch(deadline).max(1));
            let me = current_task_ref().expect("running coroutine");
            scheduler::add_timer(me, deadline, gen);
            suspend(task, Suspend::Park);
            t.end_timed_wait();
            t.set_wait_deadline(0);
        }
    }
}

/// Lets other coroutines run; the current one goes to the back of its worker's queue. On a
/// plain thread, `std::thread::yield_now`.
///
/// ```
/// let h = greenchan::spawn(|| {
///     for _ in 0..10 {
///         greenchan::yield_now();
///     }
/// });
/// h.join().unwrap();
/// ```
pub fn yield_now() {
    yield_because(Suspend::Yield);
}

/// Yields the running coroutine, telling its worker `why` (`Yield` or `SliceOver`).
fn yield_because(why: Suspend) {
    let task = context::current_task();
    if task.is_null() || thread::panicking() {
        // A panicking coroutine keeps its thread (see `block_thread`).
        return thread::yield_now();
    }
    if matches!(why, Suspend::Yield) && crate::scheduler::yield_direct(task) {
        return;
    }
    suspend(task, why);
}

/// Sleeps for at least `dur`: suspends the coroutine (its worker runs others), or the thread.
/// A pending wake-up token is kept for the next [`park`].
///
/// ```
/// use std::time::{Duration, Instant};
/// let start = Instant::now();
/// greenchan::spawn(|| greenchan::sleep(Duration::from_millis(3))).join().unwrap();
/// assert!(start.elapsed() >= Duration::from_millis(3));
/// ```
pub fn sleep(dur: Duration) {
    if !in_coroutine() {
        return thread::sleep(dur);
    }
    let _waiting = crate::diagnostics::waiting_on(crate::diagnostics::WaitReason::Sleep);
    let Some(deadline) = Instant::now().checked_add(dur) else {
        loop {
            park();
        }
    };
    let mut token_seen = false;
    loop {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        let task = context::current_task();
        // SAFETY: we are in a coroutine (checked above), so the current task is alive.
        if unsafe { &*task }.take_token() {
            token_seen = true;
            continue;
        }
        park_deadline(deadline);
    }
    if token_seen {
        current().unpark();
    }
}

/// Yields if the running coroutine has used up its time slice (the runtime's `time_slice`,
/// 10 ms by default). Long computations call it so other coroutines on the same worker run.
/// Free to call often; does nothing on a plain thread. Where coroutines are preempted
/// asynchronously (see the `preempt` module) it is not needed for fairness, but it is
/// still the cheaper and always-safe way to yield.
///
/// ```
/// let h = greenchan::spawn(|| {
///     let mut x = 0u64;
///     for i in 0..1_000_000u64 {
///         x = x.wrapping_add(i);
///         if i % 1024 == 0 {
///             greenchan::preempt_point();
///         }
///     }
///     x
/// });
/// assert_eq!(h.join().unwrap(), 499_999_500_000);
/// ```
#[inline]
pub fn preempt_point() {
    // Every runtime call comes through here: the common case is one thread-local read and one
    // load, inlined into the caller.
    if context::slice_flag_raised() {
        preempt_point_slow();
    }
}

#[cold]
#[inline(never)]
fn preempt_point_slow() {
    if in_coroutine() && scheduler::slice_expired() {
        yield_because(Suspend::SliceOver);
    }
}
