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
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;

use crate::fiber::{Fiber, Link};
use crate::mcache::{CachedArc, Slot};
use crate::stack::GreenStack;

pub(crate) mod job;
pub(crate) mod locals;
pub(crate) mod park_cache;
pub(crate) mod state;

use job::Job;
use locals::Locals;
use park_cache::ParkCache;
use state::{SchedState, Wake};

/// The runtime a task belongs to, as the task layer sees it: the one thing a task asks of it is
/// to release a coroutine that will never run again (`Task::discard`, or the task's drop). A
/// scheduler implements it; tasks are generic over it so that this layer imports nothing of
/// the layers above.
pub(crate) trait Home: Send + Sync + Sized + 'static {
    /// Releases `fiber`, the coroutine of `task`, which will never be resumed: unwinds it (so
    /// its destructors run) if that may be done on this thread, else leaks it; and takes its
    /// stack back.
    fn release(task: &Task<Self>, fiber: Fiber);

    /// The coroutine of `task` is about to end (its result is about to be published, on its
    /// own stack and thread): the runtime forgets it, so that whoever hears of the end finds it
    /// gone from the runtime's counts and lists. Not called for a coroutine its runtime unwinds
    /// at shutdown (the runtime counts that one as it discards it).
    fn ending(task: &Task<Self>);
}

/// A coroutine's name, boxed twice so that it takes one word in every task: names are rare,
/// tasks are many.
#[allow(clippy::box_collection)]
pub(crate) type Name = Option<Box<String>>;

/// What an unpark of a task asks of the unparker (see `Task::unpark`).
pub(crate) enum Woken<R: Home> {
    /// It was parked: schedule it (the reference is the one its park left).
    Run(Arc<Task<R>>),
    /// It blocks its worker's thread: wake that thread.
    Unblock,
    /// A token was left, or it has ended: nothing to do.
    Nothing,
}

/// `Task::flags`: started coroutine may move between workers (`allow_migration`).
pub(crate) const MIGRATE: u8 = 1;
/// `Task::flags`: the coroutine may be preempted asynchronously (`allow_async_preemption`).
pub(crate) const ASYNC_PREEMPT: u8 = 2;
/// `Task::flags`: its stack was promised at spawn (`StackPool::promise` said it is tracked),
/// and must be given back if the coroutine never starts.
pub(crate) const STACK_PROMISED: u8 = 4;

/// `Task::home` of a task that has not started yet.
const NO_HOME: u32 = u32::MAX;

/// `Task::registry_index` of a task not in its runtime's registry.
pub(crate) const NOT_REGISTERED: u32 = u32::MAX;

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
    let _no_preempt = crate::critical::disable();
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

impl Entry {
    /// Drops the closure unrun, telling the joiner `why`.
    fn abandon(self, why: &'static str) {
        // SAFETY: an entry is dropped by the task's owner: the worker or queue holder of an
        // unstarted task, or the coroutine itself after `run` returned or unwound.
        unsafe { self.0.abandon(why) };
    }
}

impl Drop for Entry {
    fn drop(&mut self) {
        // SAFETY: as in `abandon`; a second abandon finds nothing left to drop.
        unsafe { self.0.abandon(job::SHUT_DOWN) };
    }
}

/// The start of every coroutine, on its own stack (the fiber's `Start`): records the link it
/// suspends through, then runs the closure, and, before the joiner hears of the end, drops the
/// coroutine's locals and makes it unpreemptible.
///
/// # Safety
/// `data` is the task (`*const Task<R>`) whose fiber this is, alive while the coroutine runs
/// (its runner holds a reference), and this is the fiber's first resume.
unsafe fn coroutine_main<R: Home>(data: *const (), link: Link) {
    // SAFETY: as the caller promises.
    let task = unsafe { &*(data as *const Task<R>) };
    // SAFETY: this runs as the task's coroutine, which owns its link, entry and locals cells
    // while it runs; the link (its fiber's header, or its yielder, both on its stack) lives as
    // long as the coroutine.
    unsafe { *task.link.get() = link };
    // SAFETY: as above.
    let Some(entry) = (unsafe { task.entry.get() }).take() else {
        return;
    };
    crate::critical::coroutine_started(task.async_preemptible());
    let mut before_complete = || {
        if !crate::fiber::unwinding_forcibly() {
            R::ending(task);
        }
        // Coroutine-locals die with the coroutine, in it, before its joiner hears of the end.
        // SAFETY: as above; the reference ends here.
        let locals = unsafe { task.locals.get() }.take();
        drop(locals);
        // Not preemptible from here on: a joiner that hears of the end has seen every
        // asynchronous preemption this coroutine took.
        crate::critical::coroutine_finished();
    };
    // SAFETY: this is the task's coroutine, on its one run.
    unsafe { entry.0.run(&mut before_complete) };
    // The closure has run: dropping the entry finds nothing to abandon.
    drop(entry);
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

/// One coroutine, of a runtime `R`.
///
/// The fields in `Owned` cells belong to whoever owns the task at the moment: the holder of
/// its queue entry while it is queued, the worker running it while it runs. The worker
/// touches `fiber`, `guard` and `preempted`; the coroutine itself, while it runs, touches
/// `link`, `entry`, `locals` and `park_cache`. Separate cells keep those two parties from ever
/// aliasing one another.
///
/// The stack is taken from the pool when the coroutine first runs, not when it is spawned:
/// a burst of spawns that have not run yet holds closures, not stacks, and a coroutine that
/// runs to completion hands a warm stack straight to the next one.
pub(crate) struct Task<R: Home> {
    state: SchedState,
    /// Generation of the current timed wait; a timer fires only if it still matches.
    wait_gen: AtomicU32,
    /// The worker (slot index) the coroutine runs on: set by that worker each time it
    /// resumes the coroutine, which for a coroutine that may not migrate (the default) means
    /// once, at its start. Read by whoever wakes it, after the park that published it.
    home: AtomicU32,
    /// `MIGRATE` and `ASYNC_PREEMPT`, fixed at spawn.
    flags: u8,
    /// What the coroutine waits on while parked (a `WaitReason` code, set by the blocking
    /// call before it parks), for diagnostics.
    wait: AtomicU8,
    /// The position of the task in its runtime's registry of coroutines that have suspended
    /// at least once (`NOT_REGISTERED` before), kept by the runtime.
    registry_index: AtomicU32,
    /// The deadline of the current timed wait, and when the coroutine last ran, in the
    /// runtime's clock (nanoseconds since its start; 0 for none), for diagnostics.
    wait_deadline: AtomicU64,
    last_ran: AtomicU64,
    pub(crate) id: u64,
    pub(crate) name: Name,
    /// Usable stack size in bytes (at most `MAX_STACK_SIZE`, 1 GiB).
    stack_size: u32,
    /// The runtime the task belongs to.
    pub(crate) runtime: Arc<R>,
    /// The closure and join packet, until the coroutine takes them at its start.
    entry: Owned<Option<Entry>>,
    /// The coroutine, once its first run gave it a stack.
    fiber: Owned<Option<Fiber>>,
    /// The lowest address of the stack's guard page (one page), for the overflow report.
    guard: Owned<usize>,
    /// Set by the worker while the coroutine is suspended by asynchronous preemption.
    preempted: Owned<bool>,
    /// Set by the coroutine on its first run: what it suspends through.
    link: Owned<Link>,
    /// Coroutine-local values, created on first use.
    locals: Owned<Option<Box<Locals>>>,
    /// What the channel layer keeps between two blocking operations of this coroutine (its
    /// waiter), see `park_cache.rs`. Kept when the task is reused.
    park_cache: Owned<Option<ParkCache>>,
    /// Where the closure and join packet live when they are small, which they usually are:
    /// the task is reused, so a spawn then allocates nothing for them (see `new_or_reused`).
    job_slot: Slot<JOB_SLOT_SIZE>,
}

/// Bytes a task keeps for its job: a closure capturing up to 32 bytes (four words: a channel
/// end and three numbers, say) fits with a result of up to 16 bytes; a larger one takes a
/// cached block. Every task carries the slot for its whole life, parked or not, so it is
/// sized for the common closure, not the largest: with it a task is 232 bytes, which with its
/// `Arc` header is one 256-byte allocation.
const JOB_SLOT_SIZE: usize = 88;

// SAFETY: the `Owned` fields are only accessed by the task's current owner, as documented on
// `Task`, and ownership passes between threads through the queue and state machine (with
// acquire/release ordering); every other field is immutable or atomic. What the task *refers
// to* moves between threads only in two cases: a coroutine that has not started (its stack
// holds nothing yet; its closure is `Send`, which the spawn bounds require), and, once started,
// a coroutine whose spawner promised with the `unsafe` `allow_migration` that it keeps no
// thread-affine state across greenchan calls. A started coroutine is otherwise only ever
// resumed by the worker whose thread it started on (the scheduler routes every wake-up to that
// worker), so the `!Send` values and thread-local addresses on its stack stay on their thread,
// which is what std, allocators and other crates on that thread assume. A task reference on
// another thread is used there only for its atomics (`unpark`) or to be queued back home.
unsafe impl<R: Home> Send for Task<R> {}
// SAFETY: as above; shared access goes through atomics only.
unsafe impl<R: Home> Sync for Task<R> {}

impl<R: Home> Task<R> {
    /// A task for a new coroutine that runs `job`: `reused`, a finished task of the same
    /// runtime reset in place, when the caller has one nobody else references, else a new
    /// allocation. Returns the task and a second reference to the job, for the `JoinHandle`,
    /// which must be dropped before that handle's reference to the task (the job may lie in
    /// the task's slot).
    pub(crate) fn new_or_reused<J: Job + 'static>(
        reused: Option<Arc<Self>>,
        runtime: &Arc<R>,
        name: Name,
        stack_size: usize,
        flags: u8,
        job: J,
    ) -> (Arc<Self>, CachedArc<J>) {
        debug_assert!(stack_size <= crate::stack::MAX_STACK_SIZE);
        let mut task = 'task: {
            if let Some(mut task) = reused {
                if let Some(t) = Arc::get_mut(&mut task) {
                    debug_assert!(Arc::ptr_eq(&t.runtime, runtime));
                    t.reset(name, stack_size, flags);
                    break 'task task;
                }
            }
            Arc::new(Task::fresh(runtime.clone(), name, stack_size, flags))
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
        *t.entry.0.get_mut() = Some(Entry(entry));
        (task, job)
    }

    /// Makes a finished task of the same runtime as a `fresh` one, in place, keeping its park
    /// cache. Its `runtime` stays: replacing it would add and drop a reference on the
    /// runtime's count, a cache line every worker's spawns would then fight over. The pattern
    /// names every field, so a new one cannot be forgotten here.
    fn reset(&mut self, name: Name, stack_size: usize, new_flags: u8) {
        let Task {
            state,
            wait_gen,
            home,
            flags,
            wait,
            registry_index,
            wait_deadline,
            last_ran,
            id,
            name: old_name,
            stack_size: size,
            runtime: _,
            entry,
            fiber,
            guard,
            preempted,
            link,
            locals,
            park_cache: _,
            job_slot,
        } = self;
        debug_assert!(entry.0.get_mut().is_none() && fiber.0.get_mut().is_none());
        *state = SchedState::new_queued();
        *wait_gen.get_mut() = 0;
        *home.get_mut() = NO_HOME;
        *flags = new_flags;
        *wait.get_mut() = 0;
        debug_assert_eq!(*registry_index.get_mut(), NOT_REGISTERED);
        *wait_deadline.get_mut() = 0;
        *last_ran.get_mut() = 0;
        *id = next_id();
        *old_name = name;
        *size = stack_size as u32;
        *guard = Owned::new(0);
        *preempted = Owned::new(false);
        *link = Owned::new(ptr::null_mut());
        *locals = Owned::new(None);
        *job_slot = Slot::new();
    }

    /// A task without its job (see `new_or_reused`).
    fn fresh(runtime: Arc<R>, name: Name, stack_size: usize, flags: u8) -> Task<R> {
        Task {
            state: SchedState::new_queued(),
            wait_gen: AtomicU32::new(0),
            home: AtomicU32::new(NO_HOME),
            flags,
            wait: AtomicU8::new(0),
            registry_index: AtomicU32::new(NOT_REGISTERED),
            wait_deadline: AtomicU64::new(0),
            last_ran: AtomicU64::new(0),
            id: next_id(),
            name,
            stack_size: stack_size as u32,
            runtime,
            entry: Owned::new(None),
            fiber: Owned::new(None),
            guard: Owned::new(0),
            preempted: Owned::new(false),
            link: Owned::new(ptr::null_mut()),
            locals: Owned::new(None),
            park_cache: Owned::new(None),
            job_slot: Slot::new(),
        }
    }

    /// The coroutine's fiber, if it has one (it has had its first run, or is about to).
    ///
    /// # Safety
    /// The caller is the worker running the task (it dequeued it and set it running).
    #[inline]
    pub(crate) unsafe fn fiber(&self) -> Option<*mut Fiber> {
        // SAFETY: the caller owns the task (the worker running it).
        unsafe { self.fiber.get() }
            .as_mut()
            .map(|f| f as *mut Fiber)
    }

    /// Builds the coroutine's fiber on `stack`, for its first run.
    ///
    /// # Safety
    /// As for [`fiber`](Task::fiber); the task has no fiber yet, and lives in an `Arc` (the
    /// fiber refers to it by address).
    #[cold]
    #[inline(never)]
    pub(crate) unsafe fn install_fiber(&self, stack: GreenStack) -> *mut Fiber {
        let (guard_lo, _) = stack.guard_range();
        // SAFETY: the caller owns the task.
        unsafe { *self.guard.get() = guard_lo };
        let data = self as *const Task<R> as *const ();
        // SAFETY: as above.
        let fiber = unsafe { self.fiber.get() };
        debug_assert!(fiber.is_none());
        fiber.insert(Fiber::new(stack, coroutine_main::<R>, data)) as *mut Fiber
    }

    /// The fiber of a coroutine that has run before and is suspended, for a direct switch;
    /// `None` for a task that has not started.
    ///
    /// # Safety
    /// The caller owns the task: it dequeued it and will run it.
    #[inline]
    pub(crate) unsafe fn started_fiber(&self) -> Option<*mut Fiber> {
        // SAFETY: as the caller promises.
        match unsafe { self.fiber.get() } {
            Some(fiber) if fiber.is_started() => Some(fiber as *mut Fiber),
            _ => None,
        }
    }

    /// Takes the coroutine's fiber back from the task (finished: to recycle its stack).
    ///
    /// # Safety
    /// The caller owns the task (the worker that ran it, or the holder of its queue entry).
    pub(crate) unsafe fn take_fiber(&self) -> Option<Fiber> {
        // SAFETY: the caller owns the task.
        unsafe { self.fiber.get() }.take()
    }

    /// The guard range of the stack (zeros before the first run).
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

    /// Whether the coroutine is suspended by asynchronous preemption.
    ///
    /// # Safety
    /// The caller owns the task.
    pub(crate) unsafe fn is_preempted(&self) -> bool {
        // SAFETY: the caller owns the task.
        unsafe { *self.preempted.get() }
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
    pub(crate) unsafe fn locals(&self) -> &mut Option<Box<Locals>> {
        // SAFETY: the caller is the running coroutine, which owns this cell.
        unsafe { self.locals.get() }
    }

    /// The channel layer's cache (see `park_cache`).
    ///
    /// # Safety
    /// As for [`locals`](Task::locals).
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn park_cache(&self) -> &mut Option<ParkCache> {
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
    pub(crate) fn commit_park(this: Arc<Self>) -> Option<Arc<Self>> {
        if !this.state.commit_park() {
            return Some(this);
        }
        let _ = Arc::into_raw(this);
        None
    }

    /// Makes the task runnable or leaves it a token; says what the caller must do next.
    pub(crate) fn unpark(&self) -> Woken<R> {
        match self.state.unpark() {
            Wake::Token => Woken::Nothing,
            Wake::Unblock => Woken::Unblock,
            // SAFETY: every task lives in an `Arc`, so `self` is the pointer `Arc::into_raw`
            // gives for it; a parked task owns one strong count of itself, leaked by
            // `Task::commit_park`; `SchedState::unpark` returned `Schedule` to exactly one
            // unparker, which takes that count back here, once.
            Wake::Schedule => Woken::Run(unsafe { Arc::from_raw(self as *const Task<R>) }),
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

    /// True if a tracked stack was promised to it at spawn (see `STACK_PROMISED`).
    pub(crate) fn stack_promised(&self) -> bool {
        self.flags & STACK_PROMISED != 0
    }

    /// What the coroutine waits on (a code of the runtime's; 0: nothing said).
    pub(crate) fn wait_reason(&self) -> u8 {
        self.wait.load(Ordering::Relaxed)
    }

    /// Says what the coroutine is about to wait on; only the running coroutine calls it.
    pub(crate) fn set_wait_reason(&self, reason: u8) {
        self.wait.store(reason, Ordering::Relaxed);
    }

    /// The deadline of the current timed wait (0: none), in the runtime's clock.
    pub(crate) fn wait_deadline(&self) -> u64 {
        self.wait_deadline.load(Ordering::Relaxed)
    }

    pub(crate) fn set_wait_deadline(&self, at: u64) {
        self.wait_deadline.store(at, Ordering::Relaxed);
    }

    /// When the coroutine last ran (0: never), in the runtime's clock.
    pub(crate) fn last_ran(&self) -> u64 {
        self.last_ran.load(Ordering::Relaxed)
    }

    pub(crate) fn set_last_ran(&self, at: u64) {
        self.last_ran.store(at, Ordering::Relaxed);
    }

    /// The task's position in its runtime's registry (`NOT_REGISTERED`: not in it).
    #[inline]
    pub(crate) fn registry_index(&self) -> u32 {
        self.registry_index.load(Ordering::Relaxed)
    }

    pub(crate) fn set_registry_index(&self, index: u32) {
        self.registry_index.store(index, Ordering::Relaxed);
    }

    /// The scheduling phase, for diagnostics (racy by nature).
    pub(crate) fn phase(&self) -> state::Phase {
        self.state.phase()
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

    /// Drops a task that will never run again: its runtime shut down (`why` is then
    /// `job::SHUT_DOWN`), or it could not start. The caller owns the task (it holds its queue
    /// entry, or took it from its park). A coroutine that has run is released by its runtime
    /// (`Home::release`, which unwinds it where it may); an unstarted closure is dropped here,
    /// which tells its joiner `why`.
    pub(crate) fn discard(self: Arc<Self>, why: &'static str) {
        // SAFETY: as stated, the caller owns the task.
        if let Some(fiber) = unsafe { self.fiber.get() }.take() {
            R::release(&self, fiber);
        }
        // SAFETY: as above.
        if let Some(entry) = unsafe { self.entry.get() }.take() {
            entry.abandon(why);
        }
        self.finish();
    }
}

impl<R: Home> Drop for Task<R> {
    fn drop(&mut self) {
        if let Some(fiber) = self.fiber.0.get_mut().take() {
            R::release(self, fiber);
        }
    }
}
