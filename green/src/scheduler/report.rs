//! What the scheduler can tell about itself, as plain data: the coroutines of a runtime (from
//! the registries), what each worker is doing, and the counters. The coroutine API formats it
//! (`dump`, `metrics`, the deadlock report); nothing here interprets a wait reason.
//!
//! Everything is read without stopping anyone: counts are sums of counters each written by
//! one worker, states are snapshots, so a report taken while the runtime runs is approximate
//! the way a `ps` listing is.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Shared, RUNTIMES};
use crate::locking::lock;
use crate::task::state::Phase;

/// One coroutine that has suspended at least once and not ended.
#[derive(Debug, Clone)]
pub(crate) struct CoroutineInfo {
    pub(crate) id: u64,
    pub(crate) name: Option<String>,
    pub(crate) phase: Phase,
    /// The worker it runs on (`None`: it may migrate).
    pub(crate) worker: Option<usize>,
    /// True if a worker is running it now.
    pub(crate) running: bool,
    /// The wait reason code it set before parking (0: none).
    pub(crate) wait: u8,
    /// The deadline of its timed wait, from now (`None`: no timed wait).
    pub(crate) wait_deadline: Option<Duration>,
    /// How long ago it last ran (`None`: unknown).
    pub(crate) last_ran: Option<Duration>,
}

/// What one worker does.
#[derive(Debug, Clone)]
pub(crate) struct WorkerInfo {
    pub(crate) index: usize,
    pub(crate) spare: bool,
    /// The coroutine it runs, and for how long.
    pub(crate) running: Option<(u64, Duration)>,
    pub(crate) stuck: bool,
    pub(crate) asleep: bool,
    /// Unstarted coroutines in its local queue, and coroutines woken for it by other threads.
    pub(crate) unstarted: usize,
    pub(crate) inbox: usize,
    pub(crate) live: usize,
    pub(crate) switches: u64,
    pub(crate) spawned: u64,
    pub(crate) finished: u64,
    pub(crate) steals: u64,
    pub(crate) polls: u64,
    pub(crate) timers_fired: u64,
    pub(crate) slice_yields: u64,
    pub(crate) direct_switches: u64,
}

/// A runtime, as `dump` and `metrics` see it.
#[derive(Debug, Clone)]
pub(crate) struct RuntimeInfo {
    pub(crate) workers: usize,
    pub(crate) shutdown: bool,
    pub(crate) worker_info: Vec<WorkerInfo>,
    pub(crate) coroutines: Vec<CoroutineInfo>,
    pub(crate) global_queue: usize,
    pub(crate) spawned: u64,
    pub(crate) finished: u64,
    pub(crate) discarded: u64,
    pub(crate) rescues: u64,
    pub(crate) spares: usize,
    pub(crate) spares_started: u64,
    pub(crate) timers: usize,
}

/// Every runtime of the process that is still alive, oldest first.
pub(crate) fn all_runtimes() -> Vec<Arc<Shared>> {
    lock(&RUNTIMES).iter().filter_map(|r| r.upgrade()).collect()
}

impl Shared {
    /// A snapshot of the runtime; with `coroutines`, also one entry per registered coroutine.
    pub(crate) fn info(&self, coroutines: bool) -> RuntimeInfo {
        let now = self.nanos_since_epoch(Instant::now());
        let ago = |at: u64| (at != 0).then(|| Duration::from_nanos(now.saturating_sub(at)));
        let used = self.slots_used.load(Ordering::Acquire);
        let mut worker_info = Vec::new();
        let mut running_ids = Vec::new();
        for (index, remote) in self.remotes[..used].iter().enumerate() {
            if !remote.active.load(Ordering::Acquire) {
                continue;
            }
            let running_id = remote.running_id.load(Ordering::Relaxed);
            let running = (running_id != 0).then(|| {
                running_ids.push(running_id);
                // Not sampled yet: it began after the monitor's last sample, which is when the
                // clock last moved.
                let since = remote.slice.running_since().unwrap_or_else(|| self.clock());
                (running_id, ago(since).unwrap_or_default())
            });
            let c = &remote.counters;
            worker_info.push(WorkerInfo {
                index,
                spare: index >= self.config.workers,
                running,
                stuck: remote.stuck.load(Ordering::Relaxed),
                asleep: self.idle.is_asleep(index),
                unstarted: self.stealers[index].len(),
                inbox: remote.inbox.len(),
                live: remote.live.load(Ordering::Relaxed),
                switches: remote.slice.sample().0,
                spawned: c.spawned.load(Ordering::Relaxed),
                finished: c.finished.load(Ordering::Relaxed),
                steals: c.steals.load(Ordering::Relaxed),
                polls: c.polls.load(Ordering::Relaxed),
                timers_fired: c.timers_fired.load(Ordering::Relaxed),
                slice_yields: c.slice_yields.load(Ordering::Relaxed),
                direct_switches: remote.direct_switches.load(Ordering::Relaxed),
            });
        }
        let mut list = Vec::new();
        if coroutines {
            let mut add = |task: &super::TaskRef, worker: Option<usize>| {
                let deadline = task.wait_deadline();
                list.push(CoroutineInfo {
                    id: task.id,
                    name: task.name.as_deref().map(|n| n.to_string()),
                    phase: task.phase(),
                    worker,
                    running: running_ids.contains(&task.id),
                    wait: task.wait_reason(),
                    wait_deadline: (deadline != 0)
                        .then(|| Duration::from_nanos(deadline.saturating_sub(now))),
                    last_ran: ago(task.last_ran()),
                });
            };
            for (index, remote) in self.remotes[..used].iter().enumerate() {
                remote.registry.for_each(|task| add(task, Some(index)));
            }
            self.migrating.for_each(|task| add(task, None));
            list.sort_by_key(|c| c.id);
        }
        let spawned_on_workers: u64 = worker_info.iter().map(|w| w.spawned).sum();
        RuntimeInfo {
            workers: self.config.workers,
            shutdown: self.is_shutdown(),
            global_queue: self.injector.len(),
            spawned: spawned_on_workers + self.spawned_outside.load(Ordering::Relaxed),
            finished: self.remotes[..used]
                .iter()
                .map(|r| r.counters.finished.load(Ordering::Relaxed))
                .sum(),
            discarded: self.discarded.load(Ordering::Relaxed),
            rescues: self.rescues.load(Ordering::Relaxed),
            spares: self.spares_running(),
            spares_started: self.spares_started.load(Ordering::Relaxed),
            timers: self.timer_entries(),
            worker_info,
            coroutines: list,
        }
    }

    /// Counts, by phase, of the registered coroutines (those that have suspended): parked,
    /// and active but not running (runnable).
    pub(crate) fn count_phases(&self) -> (usize, usize) {
        let used = self.slots_used.load(Ordering::Acquire);
        let running: Vec<u64> = self.remotes[..used]
            .iter()
            .map(|r| r.running_id.load(Ordering::Relaxed))
            .filter(|&id| id != 0)
            .collect();
        let (mut parked, mut runnable) = (0, 0);
        let mut count = |task: &super::TaskRef| match task.phase() {
            Phase::Parked => parked += 1,
            Phase::Active if !running.contains(&task.id) => runnable += 1,
            _ => {}
        };
        for remote in self.remotes[..used].iter() {
            remote.registry.for_each(&mut count);
        }
        self.migrating.for_each(&mut count);
        (parked, runnable)
    }
}
