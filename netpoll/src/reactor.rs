//! The process's one mio `Poll`, the table of registered sockets, and the readiness state each
//! socket's waiters park on.
//!
//! Every socket is registered once, edge-triggered, for both directions. An event only *adds*
//! readiness bits to the socket's [`ScheduledIo`] word and bumps its sequence number; the bits
//! are cleared by the socket's own operations when a syscall says `WouldBlock`, and only if the
//! sequence number is still the one read before that syscall (tokio's `ScheduledIo` rule), so
//! an event that lands between the failed syscall and the park is never lost.
//!
//! Tokens index a slab of registrations and carry the slot's generation: an event still queued
//! for a socket that has since been closed (and whose slot was reused) is recognised as stale
//! and dropped, with no pointer into freed memory.

use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Registry, Token, Waker};

/// Readiness bit: the socket may be readable (or has hung up, or has an error).
pub(crate) const READ: u64 = 1;
/// Readiness bit: the socket may be writable (or has an error).
pub(crate) const WRITE: u64 = 2;
const BITS: u64 = READ | WRITE;
const SEQ_ONE: u64 = 4;

const WAKE_TOKEN: Token = Token(usize::MAX);
/// Slot index bits of a token; the rest is the slot's generation.
const INDEX_BITS: u32 = 24;
const INDEX_MASK: usize = (1 << INDEX_BITS) - 1;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// How many coroutines are parked on a socket right now, across the process. A non-blocking
/// poll (a busy worker's periodic check) is skipped when it is zero, as Go skips `netpoll`
/// when `netpollAnyWaiters` is false; a blocking poll (an idle worker) always happens.
static WAITERS: AtomicUsize = AtomicUsize::new(0);

/// A coroutine waiting for one direction of a socket.
struct Waiter {
    interest: u64,
    coroutine: green::Coroutine,
}

/// One socket's readiness word and its parked waiters.
///
/// The word is `sequence << 2 | bits`. Waiters are a short list: usually one reader and one
/// writer, but any number may wait (several coroutines reading one socket through clones);
/// all waiters of a direction are woken by its readiness and race to use it, the losers
/// seeing `WouldBlock` and parking again.
pub(crate) struct ScheduledIo {
    readiness: AtomicU64,
    waiters: Mutex<Vec<Waiter>>,
}

impl ScheduledIo {
    fn new() -> ScheduledIo {
        ScheduledIo {
            readiness: AtomicU64::new(0),
            waiters: Mutex::new(Vec::new()),
        }
    }

    /// The readiness word, to be handed back to `clear` after a syscall that would block.
    pub(crate) fn snapshot(&self) -> u64 {
        self.readiness.load(Ordering::Acquire)
    }

    /// Forgets readiness `interest` if no event arrived since `snapshot` was taken.
    pub(crate) fn clear(&self, interest: u64, snapshot: u64) {
        let _ = self
            .readiness
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |cur| {
                (cur & !BITS == snapshot & !BITS).then_some(cur & !interest)
            });
    }

    /// Records readiness `bits` and wakes the waiters it concerns. Called by the poller.
    fn set_ready(&self, bits: u64) {
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
                false
            } else {
                true
            }
        });
    }

    /// Parks the running coroutine until `interest` is ready or `deadline` passes; returns
    /// false on timeout.
    pub(crate) fn wait(&self, interest: u64, deadline: Option<Instant>) -> bool {
        let me = green::current();
        WAITERS.fetch_add(1, Ordering::Relaxed);
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
            match deadline {
                None => green::park(),
                Some(d) => {
                    if Instant::now() >= d {
                        break false;
                    }
                    green::park_deadline(d);
                }
            }
        };
        // Woken by readiness, the poller removed us; by a timeout or spuriously, we leave.
        let mut waiters = lock(&self.waiters);
        waiters.retain(|w| !w.coroutine.same(&me));
        WAITERS.fetch_sub(1, Ordering::Relaxed);
        ready
    }
}

struct Slot {
    generation: usize,
    io: Option<Arc<ScheduledIo>>,
}

#[derive(Default)]
struct Slab {
    slots: Vec<Slot>,
    free: Vec<usize>,
}

/// What the polling thread owns while it polls.
struct Poller {
    poll: Poll,
    events: Events,
    ready: Vec<(Arc<ScheduledIo>, u64)>,
}

/// The process-wide poller: one mio `Poll` that idle workers block in (see `green::driver`).
pub(crate) struct Reactor {
    poller: Mutex<Poller>,
    registry: Registry,
    waker: Waker,
    slab: Mutex<Slab>,
}

/// A socket's place in the reactor; deregistered when dropped.
pub(crate) struct Registration {
    reactor: &'static Reactor,
    token: Token,
    fd: RawFd,
    io: Arc<ScheduledIo>,
}

impl Registration {
    /// Registers `fd` for edge-triggered read and write readiness.
    pub(crate) fn new(fd: RawFd) -> io::Result<Registration> {
        let reactor = reactor()?;
        let io = Arc::new(ScheduledIo::new());
        let token = {
            let mut slab = lock(&reactor.slab);
            let index = match slab.free.pop() {
                Some(i) => i,
                None => {
                    if slab.slots.len() > INDEX_MASK - 1 {
                        return Err(io::Error::other("netpoll: too many registered sockets"));
                    }
                    slab.slots.push(Slot {
                        generation: 0,
                        io: None,
                    });
                    slab.slots.len() - 1
                }
            };
            let slot = &mut slab.slots[index];
            slot.io = Some(io.clone());
            Token(index | (slot.generation << INDEX_BITS))
        };
        let interest = Interest::READABLE | Interest::WRITABLE;
        if let Err(e) = reactor
            .registry
            .register(&mut SourceFd(&fd), token, interest)
        {
            reactor.release(token);
            return Err(e);
        }
        Ok(Registration {
            reactor,
            token,
            fd,
            io,
        })
    }

    pub(crate) fn io(&self) -> &ScheduledIo {
        &self.io
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        // The descriptor is still open here (its owner closes it after dropping us).
        let _ = self.reactor.registry.deregister(&mut SourceFd(&self.fd));
        self.reactor.release(self.token);
    }
}

struct Driver(&'static Reactor);

impl green::driver::IdleDriver for Driver {
    fn poll(&self, timeout: Option<Duration>) {
        if timeout == Some(Duration::ZERO) && WAITERS.load(Ordering::Relaxed) == 0 {
            return;
        }
        self.0.poll(timeout);
    }

    fn wake(&self) {
        let _ = self.0.waker.wake();
    }
}

static REACTOR: OnceLock<&'static Reactor> = OnceLock::new();

/// The reactor, created (and installed as green's idle driver) on first use. Creation can
/// fail (no descriptors left for the epoll instance); a later call tries again.
fn reactor() -> io::Result<&'static Reactor> {
    if let Some(r) = REACTOR.get() {
        return Ok(r);
    }
    static INIT: Mutex<()> = Mutex::new(());
    let _init = lock(&INIT);
    if let Some(r) = REACTOR.get() {
        return Ok(r);
    }
    let poll = Poll::new()?;
    let registry = poll.registry().try_clone()?;
    let waker = Waker::new(poll.registry(), WAKE_TOKEN)?;
    let reactor: &'static Reactor = Box::leak(Box::new(Reactor {
        poller: Mutex::new(Poller {
            poll,
            events: Events::with_capacity(1024),
            ready: Vec::new(),
        }),
        registry,
        waker,
        slab: Mutex::new(Slab::default()),
    }));
    let driver: &'static Driver = Box::leak(Box::new(Driver(reactor)));
    if green::driver::install(driver).is_err() {
        // Another driver owns the workers' idle time: poll on a thread of our own.
        std::thread::Builder::new()
            .name("greenchan-netpoll".into())
            .spawn(move || loop {
                reactor.poll(None);
            })?;
    }
    let _ = REACTOR.set(reactor);
    Ok(reactor)
}

impl Reactor {
    fn release(&self, token: Token) {
        let mut slab = lock(&self.slab);
        let index = token.0 & INDEX_MASK;
        if let Some(slot) = slab.slots.get_mut(index) {
            slot.io = None;
            slot.generation = (slot.generation + 1) & (usize::MAX >> INDEX_BITS);
            slab.free.push(index);
        }
    }

    /// Polls for at most `timeout` and wakes the waiters of every socket that became ready.
    /// Returns at once if another thread is polling.
    fn poll(&self, timeout: Option<Duration>) {
        let Ok(mut guard) = self.poller.try_lock() else {
            return;
        };
        let poller = &mut *guard;
        if let Err(e) = poller.poll.poll(&mut poller.events, timeout) {
            if e.kind() != io::ErrorKind::Interrupted {
                // Never expected from epoll_wait with valid arguments; do not spin on it.
                std::thread::sleep(
                    timeout
                        .unwrap_or(Duration::MAX)
                        .min(Duration::from_millis(1)),
                );
            }
            return;
        }
        {
            let slab = lock(&self.slab);
            for event in poller.events.iter() {
                let token = event.token();
                if token == WAKE_TOKEN {
                    continue;
                }
                let Some(slot) = slab.slots.get(token.0 & INDEX_MASK) else {
                    continue;
                };
                let (Some(io), true) = (&slot.io, slot.generation == token.0 >> INDEX_BITS) else {
                    continue; // a socket closed since
                };
                let mut bits = 0;
                if event.is_readable() || event.is_read_closed() || event.is_error() {
                    bits |= READ;
                }
                if event.is_writable() || event.is_write_closed() || event.is_error() {
                    bits |= WRITE;
                }
                if bits != 0 {
                    poller.ready.push((io.clone(), bits));
                }
            }
        }
        for (io, bits) in poller.ready.drain(..) {
            io.set_ready(bits);
        }
    }
}
