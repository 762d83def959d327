//! The pollers (one mio `Poll` per worker index) and the table of registered sockets, each
//! with the [`ScheduledIo`] its waiters park on.
//!
//! A socket is registered, edge-triggered for both directions, with the poller of the worker
//! whose coroutine first waits on it, not when it is created: an accepted connection handed
//! to a coroutine on another worker is polled by that worker, which then runs the coroutines
//! its events wake without a cross-thread wake-up (they stay on their thread). A later waiter
//! on another worker moves the registration to its own poller (register there, then leave the
//! old one, so no edge falls between: registering reports the current readiness), unless
//! other waiters are parked on it and their worker still polls. Sockets used only from plain
//! threads are never registered (those wait in `poll(2)`). When the last worker of an index
//! exits, its registrations move to a poller that still has one (`orphaned`).
//!
//! An event only *adds* readiness bits to the socket's `ScheduledIo` word and bumps its
//! sequence number; the bits are cleared by the socket's own operations when a syscall says
//! `WouldBlock` (or a stream transfer comes up short), and only if the sequence number is still
//! the one read before that syscall (tokio's `ScheduledIo` rule), so an event that lands
//! between the failed syscall and the park is never lost. That protocol and its invariant live
//! in `scheduled_io.rs`, which loom model-checks.
//!
//! Tokens index a slab of registrations and carry the slot's generation: an event still queued
//! for a socket that has since been closed (and whose slot was reused) is recognised as stale
//! and dropped, with no pointer into freed memory. A token is the same in every poller.

use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use green::driver::Polled;

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Registry, Token, Waker};

use crate::scheduled_io::{self, ScheduledIo, READ, READ_CLOSED, WRITE, WRITE_CLOSED};

const WAKE_TOKEN: Token = Token(usize::MAX);
/// Slot index bits of a token; the rest is the slot's generation.
const INDEX_BITS: u32 = 24;
const INDEX_MASK: usize = (1 << INDEX_BITS) - 1;
/// Pollers; worker index `i` uses poller `i % POLLERS`.
const POLLERS: usize = 256;
/// `Entry::owner` of a socket registered with no poller yet.
const UNREGISTERED: usize = usize::MAX;
/// `Entry::owner` of a socket being dropped: it must not be registered again.
const CLOSED: usize = usize::MAX - 1;

/// Locks a mutex from coroutine code: poison ignored, and asynchronous preemption (the `unsafe`
/// opt-in) off while it is held, or another coroutine of the holder's worker that takes the
/// lock would block the thread the holder must resume on.
fn lock<T>(m: &Mutex<T>) -> green::preempt::Locked<'_, T> {
    green::preempt::lock_unpreempted(m)
}

/// One socket's state in the reactor, shared by its `Registration` and its slab slot.
struct Entry {
    io: ScheduledIo,
    fd: RawFd,
    /// The poller it is registered with, [`UNREGISTERED`] or [`CLOSED`]; changed only under
    /// this lock, which also covers the registration syscalls.
    owner: Mutex<usize>,
    /// A copy of `owner` for the fast path of `prepare` (a stale value only sends the caller
    /// to the lock).
    owner_hint: AtomicUsize,
}

struct Slot {
    generation: usize,
    entry: Option<Arc<Entry>>,
}

impl Slot {
    /// The token of this slot, at index `index`, in its current generation.
    fn token(&self, index: usize) -> Token {
        Token(index | (self.generation << INDEX_BITS))
    }
}

#[derive(Default)]
struct Slab {
    slots: Vec<Slot>,
    free: Vec<usize>,
}

/// What the polling thread owns while it polls.
struct PollState {
    poll: Poll,
    events: Events,
    ready: Vec<(Arc<Entry>, u64)>,
}

/// One worker index's poller.
struct Poller {
    state: Mutex<PollState>,
    registry: Registry,
    waker: Waker,
    /// When a poll of it last ended, in microseconds since the reactor's creation.
    last_poll: AtomicU64,
}

/// The process-wide reactor: the pollers, created on first use, and the socket table.
pub(crate) struct Reactor {
    pollers: Box<[OnceLock<Poller>]>,
    /// Serialises the creation of pollers (which can fail, so `OnceLock` alone cannot).
    creating: Mutex<()>,
    slab: Mutex<Slab>,
    /// Another driver owns the workers' idle time: every socket is registered with poller 0,
    /// which a thread of our own polls.
    own_thread: AtomicBool,
    epoch: Instant,
}

/// A socket's place in the reactor; deregistered when dropped.
pub(crate) struct Registration {
    reactor: &'static Reactor,
    token: Token,
    entry: Arc<Entry>,
}

impl Registration {
    /// Takes a slot for `fd`; it is registered with a poller when a coroutine first waits.
    pub(crate) fn new(fd: RawFd) -> io::Result<Registration> {
        let reactor = reactor()?;
        let entry = Arc::new(Entry {
            io: ScheduledIo::new(),
            fd,
            owner: Mutex::new(UNREGISTERED),
            owner_hint: AtomicUsize::new(UNREGISTERED),
        });
        let mut slab = lock(&reactor.slab);
        let index = match slab.free.pop() {
            Some(i) => i,
            None => {
                if slab.slots.len() > INDEX_MASK - 1 {
                    return Err(io::Error::other("netpoll: too many registered sockets"));
                }
                slab.slots.push(Slot {
                    generation: 0,
                    entry: None,
                });
                slab.slots.len() - 1
            }
        };
        let slot = &mut slab.slots[index];
        slot.entry = Some(entry.clone());
        let token = slot.token(index);
        Ok(Registration {
            reactor,
            token,
            entry,
        })
    }

    pub(crate) fn io(&self) -> &ScheduledIo {
        &self.entry.io
    }

    /// Before a coroutine waits on the socket: makes sure it is registered with a poller that
    /// is polled, preferably the waiting worker's own.
    pub(crate) fn prepare(&self) -> io::Result<()> {
        let reactor = self.reactor;
        let want = if reactor.own_thread.load(Ordering::Relaxed) {
            0
        } else {
            green::driver::current_poller().map_or(0, |i| i % POLLERS)
        };
        if self.entry.owner_hint.load(Ordering::Relaxed) == want {
            return Ok(());
        }
        let mut owner = lock(&self.entry.owner);
        let from = *owner;
        if from == want || from == CLOSED {
            return Ok(());
        }
        if from != UNREGISTERED && self.entry.io.has_waiters() && green::driver::attended(from) {
            // Other coroutines wait on it, on a worker that polls it: leave it there.
            return Ok(());
        }
        reactor.register(&self.entry, self.token, from, want)?;
        *owner = want;
        self.entry.owner_hint.store(want, Ordering::Relaxed);
        Ok(())
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        // The descriptor is still open here (its owner closes it after dropping us).
        {
            let mut owner = lock(&self.entry.owner);
            if let Some(poller) = self.reactor.existing(*owner) {
                let _ = poller.registry.deregister(&mut SourceFd(&self.entry.fd));
            }
            *owner = CLOSED;
            self.entry.owner_hint.store(CLOSED, Ordering::Relaxed);
        }
        self.reactor.release(self.token);
    }
}

struct Driver(&'static Reactor);

impl green::driver::IdleDriver for Driver {
    fn poll(&self, poller: usize, timeout: Option<Duration>) -> Polled {
        self.0.poll(poller % POLLERS, timeout)
    }

    fn wake(&self, poller: usize) {
        if let Some(p) = self.0.pollers[poller % POLLERS].get() {
            let _ = p.waker.wake();
        }
    }

    fn has_waiters(&self) -> bool {
        scheduled_io::any_waiters()
    }

    fn wakeups(&self) -> u64 {
        scheduled_io::wakeups()
    }

    fn rescue(&self, stale: Duration) {
        if !scheduled_io::any_waiters() {
            return;
        }
        let now = self.0.micros();
        let stale = stale.as_micros() as u64;
        for (i, p) in self.0.pollers.iter().enumerate() {
            if let Some(p) = p.get() {
                if now.saturating_sub(p.last_poll.load(Ordering::Relaxed)) >= stale {
                    self.0.poll(i, Some(Duration::ZERO));
                }
            }
        }
    }

    fn orphaned(&self, poller: usize) -> Option<usize> {
        let from = poller % POLLERS;
        if self.0.own_thread.load(Ordering::Relaxed) || green::driver::attended(from) {
            return None;
        }
        self.0.existing(from)?;
        let to = (0..POLLERS).find(|&j| j != from && green::driver::attended(j))?;
        self.0.move_all(from, to);
        Some(to)
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
    let reactor: &'static Reactor = Box::leak(Box::new(Reactor {
        pollers: (0..POLLERS).map(|_| OnceLock::new()).collect(),
        creating: Mutex::new(()),
        slab: Mutex::new(Slab::default()),
        own_thread: AtomicBool::new(false),
        epoch: Instant::now(),
    }));
    let driver: &'static Driver = Box::leak(Box::new(Driver(reactor)));
    if green::driver::install(driver).is_err() {
        // Another driver owns the workers' idle time: poll on a thread of our own. (Set
        // before the reactor is published, so every socket sees it.)
        reactor.own_thread.store(true, Ordering::Relaxed);
        reactor.poller(0)?;
        std::thread::Builder::new()
            .name("greenchan-netpoll".into())
            .spawn(move || loop {
                reactor.poll(0, None);
            })?;
    }
    let _ = REACTOR.set(reactor);
    Ok(reactor)
}

impl Reactor {
    fn micros(&self) -> u64 {
        self.epoch.elapsed().as_micros() as u64
    }

    /// Poller `index`, if it has been created.
    fn existing(&self, index: usize) -> Option<&Poller> {
        self.pollers.get(index)?.get()
    }

    /// Poller `index`, created if need be.
    fn poller(&self, index: usize) -> io::Result<&Poller> {
        if let Some(p) = self.pollers[index].get() {
            return Ok(p);
        }
        let _creating = lock(&self.creating);
        if let Some(p) = self.pollers[index].get() {
            return Ok(p);
        }
        let poll = Poll::new()?;
        let registry = poll.registry().try_clone()?;
        let waker = Waker::new(poll.registry(), WAKE_TOKEN)?;
        Ok(self.pollers[index].get_or_init(|| Poller {
            state: Mutex::new(PollState {
                poll,
                events: Events::with_capacity(1024),
                ready: Vec::new(),
            }),
            registry,
            waker,
            last_poll: AtomicU64::new(self.micros()),
        }))
    }

    /// Registers `entry` with poller `to`, then takes it out of poller `from` (if it was in
    /// one): never out of both, so no edge is missed (registering reports the current
    /// readiness). The caller holds `entry.owner`.
    fn register(&self, entry: &Entry, token: Token, from: usize, to: usize) -> io::Result<()> {
        let interest = Interest::READABLE | Interest::WRITABLE;
        self.poller(to)?
            .registry
            .register(&mut SourceFd(&entry.fd), token, interest)?;
        if let Some(old) = self.existing(from) {
            let _ = old.registry.deregister(&mut SourceFd(&entry.fd));
        }
        Ok(())
    }

    /// Moves every registration of poller `from` to poller `to`.
    fn move_all(&self, from: usize, to: usize) {
        let slab = lock(&self.slab);
        for (index, slot) in slab.slots.iter().enumerate() {
            let Some(entry) = &slot.entry else { continue };
            let mut owner = lock(&entry.owner);
            if *owner != from {
                continue;
            }
            if self.register(entry, slot.token(index), from, to).is_ok() {
                *owner = to;
                entry.owner_hint.store(to, Ordering::Relaxed);
            }
        }
    }

    fn release(&self, token: Token) {
        let mut slab = lock(&self.slab);
        let index = token.0 & INDEX_MASK;
        if let Some(slot) = slab.slots.get_mut(index) {
            slot.entry = None;
            slot.generation = (slot.generation + 1) & (usize::MAX >> INDEX_BITS);
            slab.free.push(index);
        }
    }

    /// Polls poller `index` for at most `timeout` and wakes the waiters of every socket that
    /// became ready. Returns at once if the poller does not exist or another thread polls it.
    fn poll(&self, index: usize, timeout: Option<Duration>) -> Polled {
        let Some(poller) = self.existing(index) else {
            return Polled::Empty;
        };
        let Ok(mut guard) = poller.state.try_lock() else {
            return Polled::Busy;
        };
        let state = &mut *guard;
        let polled = state.poll.poll(&mut state.events, timeout);
        poller.last_poll.store(self.micros(), Ordering::Relaxed);
        if let Err(e) = polled {
            if e.kind() != io::ErrorKind::Interrupted {
                // Never expected from epoll_wait with valid arguments; do not spin on it.
                std::thread::sleep(
                    timeout
                        .unwrap_or(Duration::MAX)
                        .min(Duration::from_millis(1)),
                );
            }
            return Polled::Yes;
        }
        if state.events.is_empty() {
            return Polled::Yes;
        }
        {
            let slab = lock(&self.slab);
            for event in state.events.iter() {
                let token = event.token();
                if token == WAKE_TOKEN {
                    continue;
                }
                let Some(slot) = slab.slots.get(token.0 & INDEX_MASK) else {
                    continue;
                };
                let (Some(entry), true) = (&slot.entry, slot.generation == token.0 >> INDEX_BITS)
                else {
                    continue; // a socket closed since
                };
                let mut bits = 0;
                if event.is_readable() {
                    bits |= READ;
                }
                if event.is_read_closed() || event.is_error() {
                    bits |= READ | READ_CLOSED;
                }
                if event.is_writable() {
                    bits |= WRITE;
                }
                if event.is_write_closed() || event.is_error() {
                    bits |= WRITE | WRITE_CLOSED;
                }
                if bits != 0 {
                    state.ready.push((entry.clone(), bits));
                }
            }
        }
        for (entry, bits) in state.ready.drain(..) {
            entry.io.set_ready(bits);
        }
        Polled::Yes
    }
}
