//! One socket's readiness word and its parked waiters: the wake-up protocol between a coroutine
//! whose syscall said `WouldBlock` and the poller, kept apart from the reactor so that loom can
//! model-check it (`RUSTFLAGS="--cfg loom" cargo test -p greenchan-netpoll --release --lib scheduled_io`).
//!
//! The word is `sequence << 4 | bits`: a readiness bit per direction, and a closed bit per
//! direction that events saying the peer hung up (or an error) set with it. The two parties:
//!
//! - An operation (`sys.rs`) reads the word (`snapshot`), tries its syscall, and on
//!   `WouldBlock` calls `clear(dir, snapshot)`, which drops `dir`'s bit only if the sequence is
//!   still the snapshot's, then `wait(dir)`: it returns at once if `dir`'s bit is set;
//!   otherwise it adds itself to the waiter list, looks at the bit again *under the list's
//!   lock*, and parks; it loops until the bit is set, so a spurious wake-up only costs a look.
//! - The poller, for an edge-triggered event, calls `set_ready(bits)`: one read-modify-write
//!   bumps the sequence and adds the bits, then, under the list's lock, it removes and unparks
//!   every waiter whose direction the event concerns; the others stay registered.
//!
//! The invariant: **a coroutine never sleeps through readiness its syscall did not see.**
//! It rests on two facts.
//!
//! 1. A bit set by `set_ready` survives until a `clear` whose snapshot was read after that
//!    `set_ready` (in the word's modification order). An event reports readiness that appeared
//!    after the syscall that missed it, and that syscall ran after its snapshot, so the event
//!    lands after the snapshot: it moves the sequence and the `clear` does nothing. (The
//!    62-bit sequence does not wrap between a snapshot and its `clear`.)
//! 2. `set_ready` publishes the bits before it takes the list's lock, and `wait` checks them
//!    after taking it, having registered: whichever takes the lock second sees the other, so
//!    either the waiter sees the bit and does not park, or the poller sees the waiter and
//!    unparks it (and an unpark that lands before the park leaves a token that makes the park
//!    return at once).
//!
//! Besides: an event wakes only the waiters of its directions and forgets none of the others,
//! and `wait` never returns leaving its entry in the list (a timed-out waiter takes itself
//! out; one that readiness woke was taken out by the poller).
//!
//! Neither fact needs the acquire/release orderings on the word: the first rests on its
//! modification order (the kernel's own locking orders the syscall before the event), the
//! second on the lock. The models pass with every access relaxed; the orderings cost nothing
//! on x86 and are kept.
//!
//! Under `--cfg loom` the atomics and the lock are loom's and a waiter is a loom thread with a
//! park token (a flag and a condition variable, as select's loom `Unparker`); a deadline there
//! has always passed by the time the waiter would park, so the models explore a time-out
//! racing the event. The reactor around this (the slab, the mio `Poll`) is not modelled.

use std::time::Instant;

#[cfg(loom)]
use loom::sync::atomic::{AtomicU64, Ordering};
#[cfg(loom)]
use loom::sync::{Mutex, MutexGuard};
#[cfg(not(loom))]
use std::sync::atomic::{AtomicU64, Ordering};
#[cfg(not(loom))]
use std::sync::Mutex;

// A hint for the poller, not part of the protocol: a plain std atomic even under loom.
use std::sync::atomic::{AtomicUsize, Ordering as HintOrdering};

use park::Handle;

/// Readiness bit: the socket may be readable (or has hung up, or has an error).
pub(crate) const READ: u64 = 1;
/// Readiness bit: the socket may be writable (or has an error).
pub(crate) const WRITE: u64 = 2;
/// Set with `READ` by an event that says the peer hung up (or an error): a read will not
/// block however short the last one was.
pub(crate) const READ_CLOSED: u64 = 4;
/// Set with `WRITE` by an event that says the socket cannot send any more (or an error).
pub(crate) const WRITE_CLOSED: u64 = 8;
const BITS: u64 = READ | WRITE | READ_CLOSED | WRITE_CLOSED;
const SEQ_ONE: u64 = 16;

/// The closed bit of direction `interest` (`READ` or `WRITE`).
fn closed(interest: u64) -> u64 {
    interest << 2
}

/// Locks a mutex from coroutine code: poison ignored, and asynchronous preemption (the `unsafe`
/// opt-in) off while it is held, or another coroutine of the holder's worker that takes the
/// lock would block the thread the holder must resume on.
#[cfg(not(loom))]
fn lock<T>(m: &Mutex<T>) -> green::preempt::Locked<'_, T> {
    green::preempt::lock_unpreempted(m)
}

/// Locks a mutex, poison ignored (the loom model's: nothing is preempted there).
#[cfg(loom)]
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// How many coroutines are parked on a socket right now, across the process. A non-blocking
/// poll (a busy worker's periodic check) is skipped when it is zero, as Go skips `netpoll`
/// when `netpollAnyWaiters` is false; a blocking poll (an idle worker) always happens.
static WAITERS: AtomicUsize = AtomicUsize::new(0);

/// Coroutines woken by readiness so far, for the runtime's metrics.
static WAKEUPS: AtomicUsize = AtomicUsize::new(0);

pub(crate) fn wakeups() -> u64 {
    WAKEUPS.load(HintOrdering::Relaxed) as u64
}

/// True if some coroutine is parked on a socket (or about to park, or just woken).
pub(crate) fn any_waiters() -> bool {
    WAITERS.load(HintOrdering::Relaxed) != 0
}

/// A coroutine waiting for one direction of a socket.
struct Waiter {
    interest: u64,
    coroutine: Handle,
}

/// One socket's readiness word and its parked waiters.
///
/// Waiters are a short list: usually one reader and one writer, but any number may wait
/// (several coroutines reading one socket through clones); all waiters of a direction are
/// woken by its readiness and race to use it, the losers seeing `WouldBlock` and parking again.
pub(crate) struct ScheduledIo {
    readiness: AtomicU64,
    waiters: Mutex<Vec<Waiter>>,
}

impl ScheduledIo {
    /// A socket's readiness, starting ready both ways: bits only tell an operation whether
    /// its syscall is worth trying, so a new socket's first operation tries it.
    pub(crate) fn new() -> ScheduledIo {
        ScheduledIo {
            readiness: AtomicU64::new(BITS),
            waiters: Mutex::new(Vec::new()),
        }
    }

    /// Whether some coroutine is parked on this socket now.
    pub(crate) fn has_waiters(&self) -> bool {
        !lock(&self.waiters).is_empty()
    }

    /// The readiness word, to be handed back to `clear` after a syscall that would block.
    pub(crate) fn snapshot(&self) -> u64 {
        self.readiness.load(Ordering::Acquire)
    }

    /// Forgets readiness `interest` (and its closed bit) if no event arrived since `snapshot`
    /// was taken: the syscall said `WouldBlock`.
    pub(crate) fn clear(&self, interest: u64, snapshot: u64) {
        let _ = self
            .readiness
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |cur| {
                (cur & !BITS == snapshot & !BITS).then_some(cur & !(interest | closed(interest)))
            });
    }

    /// After a stream transfer shorter than asked for: forgets readiness `interest` as
    /// `clear` does, unless `snapshot` says the direction was closed. A short read drains the
    /// queue only if no end of stream (or error) is behind the data; once the event saying so
    /// has been seen, no other edge will come for it, so the bit must stay for the read that
    /// returns it.
    pub(crate) fn clear_drained(&self, interest: u64, snapshot: u64) {
        if snapshot & closed(interest) == 0 {
            self.clear(interest, snapshot);
        }
    }

    /// Records readiness `bits` and wakes the waiters it concerns. Called by the poller.
    // Inlined into `Reactor::poll`, its one caller, as it was when both lived in one module.
    #[inline]
    pub(crate) fn set_ready(&self, bits: u64) {
        let _ = self
            .readiness
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |cur| {
                Some(((cur & !BITS).wrapping_add(SEQ_ONE)) | (cur & BITS) | bits)
            });
        let mut waiters = lock(&self.waiters);
        // The readiness store above happens before this lock; a waiter checks readiness under
        // the same lock before parking, so either it sees the bits or we see it here.
        waiters.retain(|w| {
            if w.interest & bits != 0 {
                w.coroutine.unpark();
                WAKEUPS.fetch_add(1, HintOrdering::Relaxed);
                false
            } else {
                true
            }
        });
    }

    /// Parks the running coroutine until `interest` is ready or `deadline` passes; returns
    /// false on timeout.
    pub(crate) fn wait(&self, interest: u64, deadline: Option<Instant>) -> bool {
        #[cfg(not(loom))]
        let _waiting = green::waiting_on(if interest & READ != 0 {
            green::WaitReason::SocketRead
        } else {
            green::WaitReason::SocketWrite
        });
        let me = park::current();
        WAITERS.fetch_add(1, HintOrdering::Relaxed);
        let ready = loop {
            if self.snapshot() & interest != 0 {
                break true;
            }
            {
                let mut waiters = lock(&self.waiters);
                if self.snapshot() & interest != 0 {
                    break true;
                }
                if !waiters.iter().any(|w| w.coroutine.same(&me)) {
                    waiters.push(Waiter {
                        interest,
                        coroutine: me.clone(),
                    });
                }
            }
            if !park::park(deadline) {
                break false;
            }
        };
        // Woken by readiness, the poller removed us; by a timeout or spuriously, we leave.
        let mut waiters = lock(&self.waiters);
        waiters.retain(|w| !w.coroutine.same(&me));
        WAITERS.fetch_sub(1, HintOrdering::Relaxed);
        ready
    }
}

/// Who waits and how it parks: green's coroutine (or thread) handle normally.
#[cfg(not(loom))]
mod park {
    use std::time::Instant;

    pub(super) use green::Coroutine as Handle;

    #[inline]
    pub(super) fn current() -> Handle {
        green::current()
    }

    /// Parks the caller until unparked (or spuriously) or until `deadline`; false, without
    /// parking, if `deadline` has passed.
    #[inline]
    pub(super) fn park(deadline: Option<Instant>) -> bool {
        // What this coroutine spawned before is not what it waits for: the scheduler may
        // start it on a lighter worker.
        green::driver::parking_on_io();
        match deadline {
            None => green::park(),
            Some(d) => {
                if Instant::now() >= d {
                    return false;
                }
                green::park_deadline(d);
            }
        }
        true
    }
}

/// Who waits and how it parks under loom: a loom thread with a park token of its own, a flag
/// and a condition variable (loom's own `unpark` may also wake a thread blocked on a mutex,
/// which a real coroutine never sees). The token outlives a `wait`, as a coroutine's does: an
/// unpark that finds the waiter gone makes its next park return at once.
#[cfg(loom)]
mod park {
    use std::time::Instant;

    use loom::sync::{Arc, Condvar, Mutex};

    use super::lock;

    #[derive(Clone)]
    pub(super) struct Handle(Arc<(Mutex<bool>, Condvar)>);

    impl Handle {
        pub(super) fn unpark(&self) {
            *lock(&self.0 .0) = true;
            self.0 .1.notify_one();
        }

        pub(super) fn same(&self, other: &Handle) -> bool {
            Arc::ptr_eq(&self.0, &other.0)
        }
    }

    loom::thread_local! {
        static ME: Handle = Handle(Arc::new((Mutex::new(false), Condvar::new())));
    }

    pub(super) fn current() -> Handle {
        ME.with(Handle::clone)
    }

    /// As the real `park`, except that a deadline has always passed.
    pub(super) fn park(deadline: Option<Instant>) -> bool {
        if deadline.is_some() {
            return false;
        }
        let me = current();
        let mut token = lock(&me.0 .0);
        while !*token {
            token = me.0 .1.wait(token).unwrap_or_else(|p| p.into_inner());
        }
        *token = false;
        true
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    //! Each model runs the real `ScheduledIo` against a stand-in kernel: an atomic per
    //! direction holding what a syscall would find (bytes to read, room to write), which the
    //! "network" fills before the poller delivers the edge for it, as the kernel queues an
    //! epoll event only after the socket's state changed. The party doing I/O runs the loop of
    //! `sys::Socket::io_within`: snapshot, syscall, on `WouldBlock` clear and wait. A lost
    //! wake-up leaves it parked with nobody to wake it, which loom reports as a deadlock.
    //!
    //! loom 0.7's search remembers only the last access to an atomic (tokio-rs/loom#166), so
    //! it does not always try a store before an earlier load that another thread's load
    //! followed: with three threads reading the readiness word some schedules are never run,
    //! bounded or not. `scheduled_io_reader_keeps_the_writers_readiness` forces the one that
    //! matters. Each model's doc names the deliberate bugs it was checked to catch.

    use super::*;
    use loom::sync::atomic::AtomicUsize;
    use loom::sync::{Arc, Condvar};
    use loom::thread;

    /// What the kernel holds for one direction of the socket.
    type Kernel = AtomicUsize;

    /// The syscall: takes everything there is, or `None` for `WouldBlock`. The kernel's own
    /// locking orders it with the network's writes, hence `SeqCst`.
    fn syscall(k: &Kernel) -> Option<usize> {
        match k.swap(0, Ordering::SeqCst) {
            0 => None,
            n => Some(n),
        }
    }

    /// The network makes `n` units available in `k`, then the poller delivers the edge.
    fn deliver(io: &ScheduledIo, k: &Kernel, n: usize, bits: u64) {
        k.fetch_add(n, Ordering::SeqCst);
        io.set_ready(bits);
    }

    /// `Socket::io_within` without a timeout: retries until the syscall succeeds. The model's
    /// syscall takes everything, so a success is always a drained transfer (`io_stream`'s
    /// short read), which clears the readiness with the snapshot; a clear bit skips the
    /// syscall and waits at once.
    fn operate(io: &ScheduledIo, k: &Kernel, interest: u64) -> usize {
        loop {
            let snapshot = io.snapshot();
            if snapshot & interest != 0 {
                if let Some(n) = syscall(k) {
                    io.clear_drained(interest, snapshot);
                    return n;
                }
                io.clear(interest, snapshot);
            }
            assert!(io.wait(interest, None), "woke without readiness");
            assert_not_listed(io);
        }
    }

    /// `wait` never returns leaving the caller in the waiter list.
    fn assert_not_listed(io: &ScheduledIo) {
        let me = park::current();
        let waiters = lock(&io.waiters);
        assert!(
            !waiters.iter().any(|w| w.coroutine.same(&me)),
            "wait returned with its waiter still listed"
        );
    }

    /// Explores every schedule with at most `bound` preemptions (`None`: every schedule).
    /// The models with two threads besides the main one take many minutes unbounded; a bound
    /// of 3 keeps each to a few seconds.
    fn model(bound: Option<usize>, f: impl Fn() + Sync + Send + 'static) {
        let mut b = loom::model::Builder::new();
        b.preemption_bound = bound;
        b.check(f);
    }

    /// (a) The event lands anywhere around the failed syscall, the `clear` and the park, in
    /// particular between the syscall and the park: the reader always gets the data.
    /// Catches: `clear` ignoring the sequence; `set_ready` not bumping it; `wait` not looking
    /// again under the lock; `set_ready` waking before it publishes the bits.
    #[test]
    fn scheduled_io_event_between_syscall_and_park_is_not_lost() {
        model(None, || {
            let io = Arc::new(ScheduledIo::new());
            let data = Arc::new(Kernel::new(0));
            let (io2, data2) = (io.clone(), data.clone());
            let poller = thread::spawn(move || deliver(&io2, &data2, 1, READ));
            assert_eq!(operate(&io, &data, READ), 1);
            poller.join().unwrap();
        });
    }

    /// (b) Two events, for two chunks, race with one reader (and each other): the reader
    /// gets both, whether it finds them together or one at a time, and the second event is
    /// not swallowed by the readiness the first left behind.
    /// Catches: `set_ready` leaving the word alone when the bits are already set.
    #[test]
    fn scheduled_io_two_events_racing_one_reader() {
        model(Some(3), || {
            let io = Arc::new(ScheduledIo::new());
            let data = Arc::new(Kernel::new(0));
            let pollers: Vec<_> = (0..2)
                .map(|_| {
                    let (io, data) = (io.clone(), data.clone());
                    thread::spawn(move || deliver(&io, &data, 1, READ))
                })
                .collect();
            let mut got = 0;
            while got < 2 {
                got += operate(&io, &data, READ);
            }
            assert_eq!(got, 2);
            for p in pollers {
                p.join().unwrap();
            }
        });
    }

    /// (c) A reader and a writer wait on one socket; the poller delivers the write edge, then
    /// the read edge. Each is woken for its own direction, and neither direction's readiness
    /// is forgotten because of the other. (loom does not reach the schedule where the reader
    /// starts after the write edge while the writer has yet to look: the next model does.)
    /// Catches: `set_ready` dropping the other direction's waiters without waking them.
    #[test]
    fn scheduled_io_reader_and_writer_each_woken_for_their_direction() {
        model(Some(3), || {
            let io = Arc::new(ScheduledIo::new());
            let inbound = Arc::new(Kernel::new(0));
            let room = Arc::new(Kernel::new(0));
            let (io2, room2) = (io.clone(), room.clone());
            let writer = thread::spawn(move || operate(&io2, &room2, WRITE));
            let (io3, inbound3, room3) = (io.clone(), inbound.clone(), room.clone());
            let poller = thread::spawn(move || {
                deliver(&io3, &room3, 1, WRITE);
                deliver(&io3, &inbound3, 1, READ);
            });
            assert_eq!(operate(&io, &inbound, READ), 1);
            assert_eq!(writer.join().unwrap(), 1);
            poller.join().unwrap();
        });
    }

    /// (c, continued) The state the general model cannot reach (see above): the writer has
    /// seen `WouldBlock` before the write edge, and the reader starts its operation after that
    /// edge, racing the writer's `clear` and `wait`. The reader's `clear` must not take the
    /// write readiness the writer has yet to see.
    /// Catches: `clear` dropping both directions' bits.
    #[test]
    fn scheduled_io_reader_keeps_the_writers_readiness() {
        model(Some(3), || {
            let io = Arc::new(ScheduledIo::new());
            let inbound = Arc::new(Kernel::new(0));
            let room = Arc::new(Kernel::new(0));
            // The writer's first try, before anything else happens.
            let snapshot = io.snapshot();
            assert_eq!(syscall(&room), None);
            let (io2, room2) = (io.clone(), room.clone());
            let writer = thread::spawn(move || {
                io2.clear(WRITE, snapshot);
                assert!(io2.wait(WRITE, None), "woke without readiness");
                operate(&io2, &room2, WRITE)
            });
            let write_edge = Arc::new((Mutex::new(false), Condvar::new()));
            let (io3, inbound3, room3) = (io.clone(), inbound.clone(), room.clone());
            let edge3 = write_edge.clone();
            let poller = thread::spawn(move || {
                deliver(&io3, &room3, 1, WRITE);
                *lock(&edge3.0) = true;
                edge3.1.notify_one();
                deliver(&io3, &inbound3, 1, READ);
            });
            let mut delivered = lock(&write_edge.0);
            while !*delivered {
                delivered = write_edge.1.wait(delivered).unwrap();
            }
            drop(delivered);
            assert_eq!(operate(&io, &inbound, READ), 1);
            assert_eq!(writer.join().unwrap(), 1);
            poller.join().unwrap();
        });
    }

    /// (e) A reader drains the socket twice while the network delivers twice: each drained
    /// read clears the readiness with its snapshot, and the next read waits without a
    /// syscall. An edge landing between a read's snapshot and its clear must survive the clear.
    /// Catches: a clear that ignores the snapshot (the second read then sleeps forever).
    #[test]
    fn scheduled_io_drained_read_keeps_a_later_edge() {
        model(Some(3), || {
            let io = Arc::new(ScheduledIo::new());
            let data = Arc::new(Kernel::new(0));
            let (io2, data2) = (io.clone(), data.clone());
            let poller = thread::spawn(move || {
                deliver(&io2, &data2, 1, READ);
                deliver(&io2, &data2, 1, READ);
            });
            let mut got = operate(&io, &data, READ);
            if got < 2 {
                got += operate(&io, &data, READ);
            }
            assert_eq!(got, 2);
            poller.join().unwrap();
        });
    }

    /// (f) Data and the end of the stream arrive in one edge (the kernel holds the data, then
    /// the end): the reader's first read returns the data, shorter than asked for, and its
    /// next read must find the end with no other edge to come. If the edge was seen before
    /// the first read's snapshot, only its closed bit keeps the readiness.
    /// Catches: `clear_drained` clearing despite the closed bit (the reader never wakes).
    #[test]
    fn scheduled_io_end_of_stream_behind_data_is_not_lost() {
        /// Data units and whether the end of the stream follows them, under the kernel's lock.
        type Stream = Mutex<(usize, bool)>;
        /// A read: the data if any (`Some(n)`), else the end (`Some(0)`), else `WouldBlock`.
        fn read(k: &Stream) -> Option<usize> {
            let mut k = lock(k);
            match *k {
                (0, true) => Some(0),
                (0, false) => None,
                (n, _) => {
                    k.0 = 0;
                    Some(n)
                }
            }
        }
        model(None, || {
            let io = Arc::new(ScheduledIo::new());
            let stream = Arc::new(Stream::new((0, false)));
            let (io2, stream2) = (io.clone(), stream.clone());
            let poller = thread::spawn(move || {
                *lock(&stream2) = (1, true);
                io2.set_ready(READ | READ_CLOSED);
            });
            // `io_within` for reads until the end, each a drained read if it returns data.
            let mut total = 0;
            loop {
                let snapshot = io.snapshot();
                if snapshot & READ != 0 {
                    match read(&stream) {
                        Some(0) => break,
                        Some(n) => {
                            total += n;
                            io.clear_drained(READ, snapshot);
                            continue;
                        }
                        None => io.clear(READ, snapshot),
                    }
                }
                assert!(io.wait(READ, None), "woke without readiness");
            }
            assert_eq!(total, 1);
            poller.join().unwrap();
        });
    }

    /// (d) A waiter times out (takes itself out of the list) while the event arrives and the
    /// poller takes it out and unparks it. Either way it leaves no entry behind, the stale
    /// unpark does no harm, and the readiness is still there for its next operation.
    /// Catches: a timed-out `wait` leaving its entry in the list.
    #[test]
    fn scheduled_io_timeout_racing_the_event() {
        model(None, || {
            let io = Arc::new(ScheduledIo::new());
            let data = Arc::new(Kernel::new(0));
            let (io2, data2) = (io.clone(), data.clone());
            let poller = thread::spawn(move || deliver(&io2, &data2, 1, READ));
            // `io_within` with a deadline: one try, then a wait that may time out.
            let snapshot = io.snapshot();
            let first = syscall(&data);
            if first.is_none() {
                io.clear(READ, snapshot);
                let _ = io.wait(READ, Some(Instant::now()));
                assert_not_listed(&io);
            }
            // The next operation (no deadline) still gets the data.
            let got = first.unwrap_or_else(|| operate(&io, &data, READ));
            assert_eq!(got, 1);
            poller.join().unwrap();
            assert!(lock(&io.waiters).is_empty());
        });
    }
}
