//! A task is one coroutine as the scheduler sees it: its fiber (context and stack), its
//! identity, and the small state machine that decides who may run it next.
//!
//! Its scheduling state (`state.rs`, model-checked with loom) is the heart of park/unpark: a
//! park is committed once the coroutine has switched out (by its worker, or by the coroutine a
//! direct switch went to), so no wake-up is lost and a parked task is never resumed twice.
//!
//! Ownership follows the state: every `ACTIVE` task is owned by one queue entry or by the worker
//! running it, and a `PARKED` task owns one reference to itself, which the unparker that moves
//! it back to `ACTIVE` takes over.
//! A coroutine that parks and is never woken is therefore leaked, as a blocked goroutine is in Go.

use std::cell::UnsafeCell;
use std::ptr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

use crate::fiber::{Fiber, Link};
use crate::join::Job;
use crate::mcache::{CachedArc, Slot};
use crate::scheduler::Shared;
use crate::state::{SchedState, Wake};

/// Why a coroutine handed control back to its worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Suspend {
    /// Runnable again at once; goes to the back of the queue.
    Yield,
    /// Waiting for `unpark`; the worker commits the park (see `Task::commit_park`).
    Park,
    /// Preempted asynchronously (`preempt/`): runnable, but pinned to its worker until it
    /// next switches out cooperatively.
    Preempted,
}

/// A coroutine's name, boxed twice so that it takes one word in every task: names are rare,
/// tasks are many.
#[allow(clippy::box_collection)]
pub(crate) type Name = Option<Box<String>>;

/// A shared reference to a task; run queues, timers and handles hold these.
pub(crate) type TaskRef = Arc<Task>;

/// What an unpark of a task asks of the unparker (see `Task::unpark`).
pub(crate) enum Woken {
    /// It was parked: schedule it (the reference is the one its park left).
    Run(TaskRef),
    /// It blocks its worker's thread: wake that thread.
    Unblock,
    /// A token was left, or it has ended: nothing to do.
    Nothing,
}

/// `Task::flags`: started coroutine may move between workers (`allow_migration`).
pub(crate) const MIGRATE: u8 = 1;
/// `Task::flags`: the coroutine may be preempted asynchronously (`allow_async_preemption`).
pub(crate) const ASYNC_PREEMPT: u8 = 2;

/// `Task::home` of a task that has not started yet.
const NO_HOME: u32 = u32::MAX;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Ids a thread takes from `NEXT_ID` at a time.
const ID_BLOCK: u64 = 1024;

thread_local! {
    /// This thread's block of ids: the next one and the end (exclusive).
    static IDS: std::cell::Cell<(u64, u64)> = const { std::cell::Cell::new((0, 0)) };
}

/// Allocates a coroutine id; thread handles draw from the same sequence so ids never collide.
/// Each thread takes blocks of ids, so workers spawning at once do not contend on one
/// counter; ids are unique, not ordered by spawn time.
pub(crate) fn next_id() -> u64 {
    // The read-modify-write of the block must not be interleaved with another coroutine's on
    // this thread, as an asynchronous preemption could otherwise do.
    let _no_preempt = crate::preempt::disable();
    IDS.with(|ids| {
        let (next, end) = ids.get();
        if next < end {
            ids.set((next + 1, end));
            next
        } else {
            let base = NEXT_ID.fetch_add(ID_BLOCK, Ordering::Relaxed);
            ids.set((base + 1, base + ID_BLOCK));
            base
        }
    })
}

/// What a spawned coroutine runs: the user's closure and its join packet. Dropping an entry
/// whose closure never ran tells the joiner.
pub(crate) struct Entry(CachedArc<dyn Job>);

impl Drop for Entry {
    fn drop(&mut self) {
        // SAFETY: an entry is dropped by the task's owner: the worker or queue holder of an
        // unstarted task, or the coroutine itself after `run` returned or unwound.
        unsafe { self.0.abandon() };
    }
}

/// The body of every coroutine, on its own stack: records the link it suspends through, then
/// runs the closure.
pub(crate) fn run_entry(entry: Entry, link: Link) {
    let task = crate::context::current_task();
    // SAFETY: this runs as the coroutine of `task`, which owns its link cell; the link (its
    // fiber's header, or its yielder, both on its stack) lives as long as the coroutine.
    unsafe { *(*task).link.get() = link };
    // SAFETY: this is the task's coroutine, on its one run.
    unsafe { entry.0.run() };
}

/// What a task runs: its closure until the first run, then the coroutine made from it.
enum Body {
    Entry(Entry),
    Coroutine(Fiber),
    Gone,
}

impl Body {
    fn take(&mut self) -> Body {
        std::mem::replace(self, Body::Gone)
    }
}

/// A cell only the party that currently owns the task may touch (see `Task`).
struct Owned<T>(UnsafeCell<T>);

impl<T> Owned<T> {
    fn new(v: T) -> Owned<T> {
        Owned(UnsafeCell::new(v))
    }

    /// # Safety
    /// The caller owns the task in the sense given on `Task`, and holds the reference only
    /// while nobody else can come to own it.
    #[allow(clippy::mut_from_ref)]
    unsafe fn get(&self) -> &mut T {
        // SAFETY: exclusivity is the caller's obligation, stated above.
        unsafe { &mut *self.0.get() }
    }
}

/// One coroutine.
///
/// The fields in `Owned` cells belong to whoever owns the task at the moment: the holder of
/// its queue entry while it is queued, the worker running it while it runs. The worker
/// touches `body` and `guard`; the coroutine itself, while it runs, touches
/// `link`, `locals` and `park_cache`. Separate cells keep those two parties from ever aliasing one another.
///
/// The stack is taken from the pool when the coroutine first runs, not when it is spawned:
/// a burst of spawns that have not run yet holds closures, not stacks, and a coroutine that
/// runs to completion hands a warm stack straight to the next one.
pub(crate) struct Task {
    state: SchedState,
    /// Generation of the current timed wait; a timer fires only if it still matches.
    wait_gen: AtomicU32,
    /// The worker (slot index) the coroutine runs on: set by that worker each time it
    /// resumes the coroutine, which for a coroutine that may not migrate (the default) means
    /// once, at its start. Read by whoever wakes it, after the park that published it.
    home: AtomicU32,
    /// `MIGRATE` and `ASYNC_PREEMPT`, fixed at spawn.
    flags: u8,
    pub(crate) id: u64,
    pub(crate) name: Name,
    /// Usable stack size in bytes (at most `MAX_STACK_SIZE`, 1 GiB).
    stack_size: u32,
    pub(crate) shared: Arc<Shared>,
    body: Owned<Body>,
    /// The lowest address of the stack's guard page (one page), for the overflow report.
    guard: Owned<usize>,
    /// Set by the worker while the coroutine is suspended by asynchronous preemption.
    preempted: Owned<bool>,
    /// Set by the coroutine on its first run: what it suspends through.
    link: Owned<Link>,
    /// Coroutine-local values, created on first use.
    locals: Owned<Option<Box<crate::local::Locals>>>,
    /// What the channel layer keeps between two blocking operations of this coroutine (its
    /// waiter), see `park_cache.rs`. Kept when the task is reused.
    park_cache: Owned<Option<crate::ParkCache>>,
    /// Where the closure and join packet live when they are small, which they usually are:
    /// the task is reused, so a spawn then allocates nothing for them (see `new_or_reused`).
    job_slot: Slot<JOB_SLOT_SIZE>,
}

/// Bytes a task keeps for its job: a closure capturing up to about 60 bytes fits.
const JOB_SLOT_SIZE: usize = 128;

// SAFETY: the `Owned` fields are only accessed by the task's current owner, as documented on
// `Task`, and ownership passes between threads through the queue and state machine (with
// acquire/release ordering); every other field is immutable or atomic. What the task *refers
// to* moves between threads only in two cases: a coroutine that has not started (its stack
// holds nothing yet; its closure is `Send`, which the spawn bounds require), and, once started,
// a coroutine whose spawner promised with the `unsafe` `allow_migration` that it keeps no
// thread-affine state across greenchan calls. A started coroutine is otherwise only ever
// resumed by the worker whose thread it started on (the scheduler routes every wake-up to that
// worker), so the `!Send` values and thread-local addresses on its stack stay on their thread,
// which is what std, allocators and other crates on that thread assume. A `TaskRef` on another
// thread is used there only for its atomics (`unpark`) or to be queued back home.
unsafe impl Send for Task {}
// SAFETY: as above; shared access goes through atomics only.
unsafe impl Sync for Task {}

impl Task {
    /// A task for a new coroutine that runs `job`: a finished one of the same runtime, reset
    /// in place, when the spawning worker kept one, else a new allocation. Returns the task
    /// and a second reference to the job, for the `JoinHandle`, which must be dropped before
    /// that handle's reference to the task (the job may lie in the task's slot).
    pub(crate) fn new_or_reused<J: Job + 'static>(
        shared: &Arc<Shared>,
        name: Name,
        stack_size: usize,
        flags: u8,
        job: J,
    ) -> (TaskRef, CachedArc<J>) {
        debug_assert!(stack_size <= crate::stack::MAX_STACK_SIZE);
        let mut task = 'task: {
            if let Some(mut task) = crate::scheduler::take_reusable_task(shared) {
                if let Some(t) = Arc::get_mut(&mut task) {
                    debug_assert!(Arc::ptr_eq(&t.shared, shared));
                    t.reset(name, stack_size, flags);
                    break 'task task;
                }
            }
            Arc::new(Task::fresh(shared.clone(), name, stack_size, flags))
        };
        let t = Arc::get_mut(&mut task).expect("a new or reset task has no other reference");
        // SAFETY: nothing placed earlier in the slot is referenced any more: a new task's slot
        // was never used, and a task is kept for reuse only once its strong count is one, so
        // no `JoinHandle` (which holds a task reference, dropped after its job reference) is
        // left, and its coroutine dropped its entry when it finished. The task lives in an
        // `Arc`, so the slot does not move, and it is placed into again only when the task is
        // reused, under the same condition; a task that is dropped instead outlives its job's
        // references the same way (the entry is one of its fields, the handle holds it).
        let job = unsafe { t.job_slot.place(job) };
        // SAFETY: `|p| p` is an unsizing coercion.
        let entry: CachedArc<dyn Job> = unsafe { job.clone().unsize(|p| p) };
        *t.body.0.get_mut() = Body::Entry(Entry(entry));
        (task, job)
    }

    /// Makes a finished task of the same runtime as a `fresh` one, in place, keeping its park
    /// cache. Its `shared` stays: replacing it would add and drop a reference on the
    /// runtime's count, a cache line every worker's spawns would then fight over. The pattern
    /// names every field, so a new one cannot be forgotten here.
    fn reset(&mut self, name: Name, stack_size: usize, new_flags: u8) {
        let Task {
            state,
            wait_gen,
            home,
            flags,
            id,
            name: old_name,
            stack_size: size,
            shared: _,
            body,
            guard,
            preempted,
            link,
            locals,
            park_cache: _,
            job_slot,
        } = self;
        debug_assert!(matches!(body.0.get_mut(), Body::Gone));
        *state = SchedState::new_queued();
        *wait_gen.get_mut() = 0;
        *home.get_mut() = NO_HOME;
        *flags = new_flags;
        *id = next_id();
        *old_name = name;
        *size = stack_size as u32;
        *body = Owned::new(Body::Gone);
        *guard = Owned::new(0);
        *preempted = Owned::new(false);
        *link = Owned::new(ptr::null_mut());
        *locals = Owned::new(None);
        *job_slot = Slot::new();
    }

    /// A task without its job (see `new_or_reused`).
    fn fresh(shared: Arc<Shared>, name: Name, stack_size: usize, flags: u8) -> Task {
        Task {
            state: SchedState::new_queued(),
            wait_gen: AtomicU32::new(0),
            home: AtomicU32::new(NO_HOME),
            flags,
            id: next_id(),
            name,
            stack_size: stack_size as u32,
            shared,
            body: Owned::new(Body::Gone),
            guard: Owned::new(0),
            preempted: Owned::new(false),
            link: Owned::new(ptr::null_mut()),
            locals: Owned::new(None),
            park_cache: Owned::new(None),
            job_slot: Slot::new(),
        }
    }

    /// The coroutine's fiber, created with a pooled stack on the first call. `Err` if no stack
    /// could be had; the closure is then dropped, which tells the joiner.
    ///
    /// # Safety
    /// The caller is the worker running the task (it dequeued it and set it running).
    #[inline]
    pub(crate) unsafe fn context(&self) -> std::io::Result<*mut Fiber> {
        // SAFETY: the caller owns the task (the worker running it).
        match unsafe { self.body.get() } {
            Body::Coroutine(fiber) => Ok(fiber as *mut Fiber),
            // SAFETY: as above.
            _ => unsafe { self.start_coroutine() },
        }
    }

    /// The fiber of a coroutine that has run before and is suspended, for a direct switch;
    /// `None` for a task that has not started.
    ///
    /// # Safety
    /// The caller owns the task: it dequeued it and will run it.
    #[inline]
    pub(crate) unsafe fn started_fiber(&self) -> Option<*mut Fiber> {
        // SAFETY: as the caller promises.
        match unsafe { self.body.get() } {
            Body::Coroutine(fiber) if fiber.is_started() => Some(fiber as *mut Fiber),
            _ => None,
        }
    }

    /// The first run: takes the task's closure, gets it a stack and builds its fiber.
    ///
    /// # Safety
    /// As for [`context`](Task::context).
    #[cold]
    #[inline(never)]
    unsafe fn start_coroutine(&self) -> std::io::Result<*mut Fiber> {
        // SAFETY: the caller owns the task (the worker running it).
        let body = unsafe { self.body.get() };
        let Body::Entry(entry) = body.take() else {
            unreachable!("a runnable task has its closure or its coroutine")
        };
        let stack = self.shared.stacks.get(self.stack_size())?;
        let (guard_lo, guard_hi) = stack.guard_range();
        debug_assert_eq!(guard_hi - guard_lo, crate::stack::page_size());
        // SAFETY: as above.
        unsafe { *self.guard.get() = guard_lo };
        *body = Body::Coroutine(Fiber::new(stack, entry));
        match body {
            Body::Coroutine(fiber) => Ok(fiber as *mut Fiber),
            _ => unreachable!("just built"),
        }
    }

    /// Takes the finished coroutine's fiber back from the task, to recycle its stack.
    ///
    /// # Safety
    /// The caller is the worker that ran the task to completion.
    pub(crate) unsafe fn take_context(&self) -> Option<Fiber> {
        // SAFETY: the caller owns the task.
        match unsafe { self.body.get() }.take() {
            Body::Coroutine(fiber) => Some(fiber),
            _ => None,
        }
    }

    /// The guard page of the stack (zeros before the first run).
    ///
    /// # Safety
    /// The caller is the worker running the task.
    #[inline]
    pub(crate) unsafe fn guard(&self) -> (usize, usize) {
        // SAFETY: the caller owns the task.
        let lo = unsafe { *self.guard.get() };
        (
            lo,
            if lo == 0 {
                0
            } else {
                lo + crate::stack::page_size()
            },
        )
    }

    /// Records whether the coroutine is suspended by asynchronous preemption.
    ///
    /// # Safety
    /// The caller is the worker running (or that just suspended) the task.
    #[inline]
    pub(crate) unsafe fn set_preempted(&self, preempted: bool) {
        // SAFETY: the caller owns the task.
        unsafe { *self.preempted.get() = preempted };
    }

    pub(crate) fn stack_size(&self) -> usize {
        self.stack_size as usize
    }

    /// What the running coroutine suspends through.
    ///
    /// # Safety
    /// Only the coroutine itself, while running, calls this.
    #[inline]
    pub(crate) unsafe fn link(&self) -> Link {
        // SAFETY: the caller is the running coroutine, which owns this cell.
        unsafe { *self.link.get() }
    }

    /// The coroutine-local table.
    ///
    /// # Safety
    /// Only the coroutine itself, while running, calls this, and it holds the reference only
    /// while it does not suspend.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn locals(&self) -> &mut Option<Box<crate::local::Locals>> {
        // SAFETY: the caller is the running coroutine, which owns this cell.
        unsafe { self.locals.get() }
    }

    /// The channel layer's cache (see `park_cache`).
    ///
    /// # Safety
    /// As for [`locals`](Task::locals).
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn park_cache(&self) -> &mut Option<crate::ParkCache> {
        // SAFETY: the caller is the running coroutine, which owns this cell.
        unsafe { self.park_cache.get() }
    }

    /// A worker dequeued the task; see `SchedState`.
    pub(crate) fn start_running(&self) {
        self.state.start_running();
    }

    /// The task goes back to a queue after a yield; see `SchedState`.
    pub(crate) fn requeue(&self) {
        self.state.requeue();
    }

    pub(crate) fn finish(&self) {
        self.state.finish();
    }

    /// Consumes a pending wake-up token of the running task; true if there was one.
    pub(crate) fn take_token(&self) -> bool {
        self.state.take_token()
    }

    /// Parks the task once its coroutine has switched out to park, handing the caller's
    /// reference to the parked state (see `unpark`). Gives the reference back if a wake-up
    /// arrived first: the token is consumed and the task must run again.
    pub(crate) fn commit_park(this: TaskRef) -> Option<TaskRef> {
        if !this.state.commit_park() {
            return Some(this);
        }
        let _ = Arc::into_raw(this);
        None
    }

    /// Makes the task runnable or leaves it a token; says what the caller must do next.
    pub(crate) fn unpark(&self) -> Woken {
        match self.state.unpark() {
            Wake::Token => Woken::Nothing,
            Wake::Unblock => Woken::Unblock,
            // SAFETY: every task lives in an `Arc` (`TaskRef`), so `self` is the pointer
            // `Arc::into_raw` gives for it; a parked task owns one strong count of itself,
            // leaked by `Task::commit_park`; `SchedState::unpark` returned `Schedule` to
            // exactly one unparker, which takes that count back here, once.
            Wake::Schedule => Woken::Run(unsafe { Arc::from_raw(self as *const Task) }),
        }
    }

    /// The running coroutine starts to wait by blocking its thread; false if a token was
    /// pending (consumed). See `SchedState::begin_blocking`.
    pub(crate) fn begin_blocking(&self) -> bool {
        self.state.begin_blocking()
    }

    /// Whether a token is pending.
    pub(crate) fn is_notified(&self) -> bool {
        self.state.is_notified()
    }

    /// Ends a blocking wait; true if a token came (consumed).
    pub(crate) fn end_blocking(&self) -> bool {
        self.state.end_blocking()
    }

    /// The worker slot the coroutine runs on (meaningless before its first run).
    #[inline]
    pub(crate) fn home(&self) -> usize {
        self.home.load(Ordering::Relaxed) as usize
    }

    /// Records the worker that resumes the coroutine. Relaxed: an unparker reads it only
    /// after the coroutine's next park, whose commit (acquire-release) publishes it.
    #[inline]
    pub(crate) fn set_home(&self, index: usize) {
        self.home.store(index as u32, Ordering::Relaxed);
    }

    /// True once the coroutine has been resumed once (it has a home).
    #[inline]
    pub(crate) fn has_started(&self) -> bool {
        self.home.load(Ordering::Relaxed) != NO_HOME
    }

    /// True if the coroutine may move between workers after it started (`allow_migration`).
    #[inline]
    pub(crate) fn may_migrate(&self) -> bool {
        self.flags & MIGRATE != 0
    }

    /// True if the coroutine may be preempted asynchronously (`allow_async_preemption`).
    #[inline]
    pub(crate) fn async_preemptible(&self) -> bool {
        self.flags & ASYNC_PREEMPT != 0
    }

    /// Starts a new timed wait and returns its generation.
    pub(crate) fn begin_timed_wait(&self) -> u32 {
        self.wait_gen.fetch_add(1, Ordering::AcqRel).wrapping_add(1)
    }

    /// Ends the current timed wait: its timer, if still pending, becomes stale.
    pub(crate) fn end_timed_wait(&self) {
        self.wait_gen.fetch_add(1, Ordering::AcqRel);
    }

    pub(crate) fn wait_gen(&self) -> u32 {
        self.wait_gen.load(Ordering::Acquire)
    }
}

/// Unwinds a coroutine that will never be resumed (its stack unwinds so its destructors
/// run) and returns its stack to the pool. A coroutine that can not be unwound here is leaked
/// instead, as one parked forever is: one stopped at an arbitrary instruction by asynchronous
/// preemption (there may be no unwind information there), and a started one on a thread that
/// is not its own (its destructors may use its thread's thread-locals, and its frames may
/// hold their addresses).
fn release(task: &Task, mut context: Fiber) {
    if !context.is_done() {
        // SAFETY: the caller owns the task (see `discard` and `drop`).
        let preempted = unsafe { *task.preempted.get() };
        if preempted || !crate::scheduler::on_home_thread(task) {
            std::mem::forget(context);
            return;
        }
        // No coroutine may be current while it unwinds on this thread, so that nothing its
        // destructors do suspends another coroutine; its stack is announced to the overflow
        // handler as while it runs.
        let _guard = crate::context::NoCurrentTask::enter();
        // SAFETY: the caller owns the task (see `discard` and `drop`).
        let guard = unsafe { task.guard() };
        crate::stack::set_running(Some(crate::stack::RunningStack::of(task, guard)));
        context.force_unwind();
        crate::stack::set_running(None);
    }
    task.shared.stacks.put(context.into_stack());
}

impl Task {
    /// Drops a queued task that will never run because its runtime shut down. The caller owns
    /// the queue entry, hence the task. Its joiner learns of it through the completion guard
    /// that the dropped closure carries.
    pub(crate) fn discard(self: TaskRef) {
        // SAFETY: a queued task belongs to whoever holds its queue entry.
        let body = unsafe { self.body.get() }.take();
        if let Body::Coroutine(context) = body {
            release(&self, context);
        }
        // An unstarted closure is dropped here, which tells its joiner.
        self.finish();
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        // SAFETY: `&mut self`: nobody else can reach the task any more.
        if let Body::Coroutine(context) = unsafe { self.body.get() }.take() {
            release(self, context);
        }
    }
}
