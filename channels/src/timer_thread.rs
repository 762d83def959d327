//! The helper thread that wakes futures waiting on timer channels (`after`, `at`, `tick`).
//!
//! A coroutine that waits for a timer channel parks with a deadline in its worker's timer heap
//! (`green::park_deadline`). A future cannot: green's timers end a coroutine's timed wait, they
//! do not wake a `Waker`, and an async receive must work on any executor, including one that
//! never starts greenchan's runtime. So a pending `recv_async` on a timer channel registers
//! its deadline and waker here, with one process-wide helper thread that sleeps until the
//! earliest deadline and wakes the waker. The thread starts when a future first waits, and
//! ends once no future has waited for [`LINGER`]: a program that never awaits a timer channel
//! never has it, and one that awaits them in a loop does not start a thread per wait.
//!
//! A registration is an `Arc` held by its future; the thread's heap holds a `Weak`, so a
//! dropped future releases its waker at once, and its heap entry is dropped when it comes
//! due, or by a sweep once the heap has doubled since the last one (as green's timer heaps do,
//! so a loop of cancelled long timeouts keeps the heap within twice the live ones). Dropping a
//! registration does not wake the thread: a loop that races each receive against a fresh
//! far timeout (`after(1h)`) then costs no thread wake-up per turn. Instead the thread never
//! sleeps longer than [`RECHECK`], so it notices within that time that nothing waits any more.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, Weak};
use std::task::Waker;
use std::time::{Duration, Instant};

/// How long the thread outlives the last pending registration, once it has noticed.
pub(crate) const LINGER: Duration = Duration::from_millis(100);

/// The longest the thread sleeps while registrations are pending: how soon it notices that
/// the last one was dropped long before its deadline.
pub(crate) const RECHECK: Duration = Duration::from_secs(1);

/// Heaps smaller than this are never swept.
const SWEEP_MIN: usize = 64;

/// One future's wait for an instant.
pub(crate) struct Registration {
    entry: Arc<TimerEntry>,
}

struct TimerEntry {
    deadline: Instant,
    /// Taken by the thread when it fires.
    waker: Mutex<Option<Waker>>,
}

struct Due {
    deadline: Instant,
    seq: u64,
    entry: Weak<TimerEntry>,
}

impl PartialEq for Due {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Due {}
impl PartialOrd for Due {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Due {
    // Reversed: `BinaryHeap` is a max-heap and the earliest deadline must come first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.deadline, other.seq).cmp(&(self.deadline, self.seq))
    }
}

#[derive(Default)]
struct State {
    heap: BinaryHeap<Due>,
    seq: u64,
    /// Registrations alive (held by a future).
    live: usize,
    /// Length after the last sweep.
    swept_len: usize,
    /// True while the thread runs (from its spawn until it decides to end, under the lock).
    running: bool,
}

#[derive(Default)]
struct Timers {
    state: Mutex<State>,
    wake: Condvar,
}

fn timers() -> &'static Timers {
    static TIMERS: OnceLock<Timers> = OnceLock::new();
    TIMERS.get_or_init(Timers::default)
}

/// Nothing here runs user code under the lock except dropping heap entries (`Weak`s), so a
/// poisoned lock still holds consistent state.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Registration {
    /// Wakes `waker` at `deadline` (at once if it has passed), unless dropped first.
    pub(crate) fn new(deadline: Instant, waker: &Waker) -> Registration {
        let entry = Arc::new(TimerEntry {
            deadline,
            waker: Mutex::new(Some(waker.clone())),
        });
        let t = timers();
        let mut st = lock(&t.state);
        if st.heap.len() >= SWEEP_MIN.max(2 * st.swept_len) {
            st.heap.retain(|d| d.entry.strong_count() > 0);
            st.swept_len = st.heap.len();
        }
        let earliest = st.heap.peek().map(|d| d.deadline);
        st.seq += 1;
        let seq = st.seq;
        st.heap.push(Due {
            deadline,
            seq,
            entry: Arc::downgrade(&entry),
        });
        st.live += 1;
        if !st.running {
            st.running = true;
            std::thread::Builder::new()
                .name("greenchan-timer".into())
                .spawn(run)
                .expect("greenchan: cannot start the timer thread for async receives");
        } else if earliest.is_none_or(|e| deadline < e) {
            t.wake.notify_one();
        }
        drop(st);
        Registration { entry }
    }

    /// The instant it wakes its waker at.
    pub(crate) fn deadline(&self) -> Instant {
        self.entry.deadline
    }

    /// True once the thread has woken the waker.
    pub(crate) fn fired(&self) -> bool {
        lock(&self.entry.waker).is_none()
    }

    /// Makes `waker` the one woken, unless the stored one wakes the same task. False if the
    /// registration has fired already (nothing is stored then).
    pub(crate) fn set_waker(&self, waker: &Waker) -> bool {
        let mut w = lock(&self.entry.waker);
        match &mut *w {
            None => false,
            Some(old) => {
                if !old.will_wake(waker) {
                    let old = std::mem::replace(old, waker.clone());
                    drop(w);
                    drop(old);
                }
                true
            }
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        // The thread notices within `RECHECK` (see the module doc).
        lock(&timers().state).live -= 1;
    }
}

/// The thread: fires due registrations, sleeps until the next deadline, and ends after
/// lingering with nothing registered.
fn run() {
    let t = timers();
    let mut st = lock(&t.state);
    loop {
        let now = Instant::now();
        let mut fire = Vec::new();
        while let Some(top) = st.heap.peek() {
            if top.entry.strong_count() > 0 && top.deadline > now {
                break;
            }
            if let Some(e) = st.heap.pop().and_then(|d| d.entry.upgrade()) {
                fire.push(e);
            }
        }
        if !fire.is_empty() {
            drop(st);
            for e in fire {
                let waker = lock(&e.waker).take();
                if let Some(w) = waker {
                    w.wake();
                }
            }
            st = lock(&t.state);
            continue;
        }
        if st.live == 0 {
            st.heap.clear();
            st.swept_len = 0;
            st = t
                .wake
                .wait_timeout(st, LINGER)
                .unwrap_or_else(|p| p.into_inner())
                .0;
            if st.live == 0 {
                st.running = false;
                return;
            }
            continue;
        }
        // Until the earliest deadline, and `RECHECK` at most: the heap may also be empty while
        // registrations live (they fired, and their futures have not dropped them yet).
        let sleep = st.heap.peek().map_or(RECHECK, |d| {
            d.deadline.saturating_duration_since(now).min(RECHECK)
        });
        st = t
            .wake
            .wait_timeout(st, sleep)
            .unwrap_or_else(|p| p.into_inner())
            .0;
    }
}
