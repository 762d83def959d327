//! The process's one mio `Poll` and the table of registered sockets, each with the
//! [`ScheduledIo`] its waiters park on.
//!
//! Every socket is registered once, edge-triggered, for both directions. An event only *adds*
//! readiness bits to the socket's `ScheduledIo` word and bumps its sequence number; the bits
//! are cleared by the socket's own operations when a syscall says `WouldBlock`, and only if the
//! sequence number is still the one read before that syscall (tokio's `ScheduledIo` rule), so
//! an event that lands between the failed syscall and the park is never lost. That protocol
//! and its invariant live in `scheduled_io.rs`, which loom model-checks.
//!
//! Tokens index a slab of registrations and carry the slot's generation: an event still queued
//! for a socket that has since been closed (and whose slot was reused) is recognised as stale
//! and dropped, with no pointer into freed memory.

use std::io;
use std::os::fd::RawFd;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Registry, Token, Waker};

use crate::scheduled_io::{self, ScheduledIo, READ, WRITE};

const WAKE_TOKEN: Token = Token(usize::MAX);
/// Slot index bits of a token; the rest is the slot's generation.
const INDEX_BITS: u32 = 24;
const INDEX_MASK: usize = (1 << INDEX_BITS) - 1;

/// Locks a mutex from coroutine code: poison ignored, and asynchronous preemption (the `unsafe`
/// opt-in) off while it is held, or another coroutine of the holder's worker that takes the
/// lock would block the thread the holder must resume on.
fn lock<T>(m: &Mutex<T>) -> green::preempt::Locked<'_, T> {
    green::preempt::lock_unpreempted(m)
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
        if timeout == Some(Duration::ZERO) && !scheduled_io::any_waiters() {
            return;
        }
        self.0.poll(timeout);
    }

    fn wake(&self) {
        let _ = self.0.waker.wake();
    }

    fn has_waiters(&self) -> bool {
        scheduled_io::any_waiters()
    }

    fn wakeups(&self) -> u64 {
        scheduled_io::wakeups()
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
