//! `spawn_blocking`: blocking work (a C library, a heavy file read, a call that waits in the
//! kernel) on a growable pool of plain threads, so that it holds no worker.
//!
//! A coroutine that blocks its thread delays every coroutine that started on that thread (they
//! cannot move: see the scheduler's docs), so work known to block belongs here. The pool is one
//! per process, as Go's and tokio's blocking threads are per runtime: a job is not a coroutine,
//! has no runtime, and outlives any of them. A thread is started whenever a job arrives and no
//! thread is idle, up to `MAX_THREADS`; past that, jobs queue. A thread idle for `KEEP_ALIVE`
//! exits. The job's result (or its panic) comes back through an ordinary [`JoinHandle`], so a
//! coroutine that joins it parks and a thread that joins it blocks.

use std::collections::VecDeque;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::thread::{self, Thread};
use std::time::Duration;

use crate::coroutine::Coroutine;
use crate::join::JoinHandle;
use crate::locking::{lock, lock_plain};
use crate::mcache::CachedArc;
use crate::task::job::{Packet, PacketOf};

/// Most threads the pool runs at once (tokio's default too).
const MAX_THREADS: usize = 512;
/// How long an idle pool thread waits for a job before it exits.
const KEEP_ALIVE: Duration = Duration::from_secs(10);

type Job = Box<dyn FnOnce() + Send>;

#[derive(Default)]
struct State {
    jobs: VecDeque<Job>,
    threads: usize,
    idle: usize,
}

#[derive(Default)]
struct Pool {
    state: Mutex<State>,
    condvar: Condvar,
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(Pool::default)
}

impl Pool {
    /// Queues `job`, starting a thread for it if none is idle. Gives the job back if no
    /// thread exists and none can be started.
    fn submit(&'static self, job: Job) -> Result<(), (Job, std::io::Error)> {
        let mut state = lock(&self.state);
        state.jobs.push_back(job);
        if state.idle >= state.jobs.len() {
            drop(state);
            self.condvar.notify_one();
            return Ok(());
        }
        if state.threads >= MAX_THREADS {
            return Ok(()); // a busy thread takes it when done
        }
        state.threads += 1;
        drop(state);
        let started = thread::Builder::new()
            .name("greenchan-blocking".into())
            .spawn(move || crate::scheduler::InternalThread::run("blocking pool", || self.serve()));
        match started {
            Ok(_) => Ok(()),
            Err(e) => {
                let mut state = lock(&self.state);
                state.threads -= 1;
                if state.threads == 0 {
                    // Nobody will ever take it: hand it back rather than keep it forever.
                    let job = state.jobs.pop_back().expect("the job just queued");
                    return Err((job, e));
                }
                Ok(())
            }
        }
    }

    /// A pool thread's loop: run jobs until none has come for `KEEP_ALIVE`.
    fn serve(&self) {
        let mut state = lock_plain(&self.state);
        loop {
            if let Some(job) = state.jobs.pop_front() {
                drop(state);
                job();
                state = lock_plain(&self.state);
                continue;
            }
            state.idle += 1;
            let (next, timeout) = self
                .condvar
                .wait_timeout(state, KEEP_ALIVE)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            state = next;
            state.idle -= 1;
            if timeout.timed_out() && state.jobs.is_empty() {
                state.threads -= 1;
                return;
            }
        }
    }
}

/// True while a blocking job runs or waits for a thread (for deadlock detection).
pub(crate) fn busy() -> bool {
    let state = crate::locking::lock(&pool().state);
    !state.jobs.is_empty() || state.threads > state.idle
}

/// What a [`Coroutine`] handle of a blocking job names: the job's id, and the pool thread
/// running it while it runs (so `unpark` reaches a job that parks its thread).
pub(crate) struct JobThread {
    pub(crate) id: u64,
    pub(crate) thread: Mutex<Option<Thread>>,
}

/// A blocking job's result slot, shared by the job and its `JoinHandle`.
struct BlockingJob<T> {
    packet: Packet<T>,
}

impl<T: Send> PacketOf<T> for BlockingJob<T> {
    fn packet(&self) -> &Packet<T> {
        &self.packet
    }
}

/// Runs `f` on a pool of plain threads and returns its [`JoinHandle`]: joining it parks a
/// coroutine (its worker runs others meanwhile) and blocks a thread. For work that blocks
/// (a C library, a heavy file read, a slow system call), which would otherwise hold a worker
/// and delay every coroutine that started on it. A panic in `f` comes back from `join` as
/// `Err`. The pool grows to 512 threads; past that, jobs wait for a free one.
///
/// ```
/// let h = greenchan::spawn(|| {
///     // In a coroutine: the read blocks a pool thread, and this coroutine parks.
///     greenchan::spawn_blocking(|| std::fs::read_to_string("/proc/self/stat").map(|s| s.len()))
///         .join()
///         .unwrap()
/// });
/// assert!(h.join().unwrap().unwrap() > 0);
/// ```
///
/// # Panics
/// If no pool thread exists and none can be started (the job is then dropped unrun).
pub fn spawn_blocking<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let runner = Arc::new(JobThread {
        id: crate::task::next_id(),
        thread: Mutex::new(None),
    });
    let job = CachedArc::new(BlockingJob {
        packet: Packet::new(),
    });
    // SAFETY: `|p| p` is an unsizing coercion.
    let for_handle: CachedArc<dyn PacketOf<T>> = unsafe { job.clone().unsize(|p| p) };
    let handle = JoinHandle {
        job: for_handle,
        coroutine: Coroutine::from_job(runner.clone()),
    };
    let work: Job = Box::new(move || {
        *lock(&runner.thread) = Some(thread::current());
        let result = panic::catch_unwind(AssertUnwindSafe(f));
        *lock(&runner.thread) = None;
        job.packet.complete(result);
    });
    if let Err((work, e)) = pool().submit(work) {
        drop(work);
        panic!("greenchan: cannot start a thread for spawn_blocking: {e}");
    }
    handle
}
