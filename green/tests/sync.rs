//! Behaviour of `green::sync` through its public API: mutual exclusion under stress with
//! coroutines and threads mixed, condvars, poisoning, rwlock sharing and exclusion, wait
//! groups in both styles, semaphores, barriers, once-cells, threads and coroutines waiting on
//! each other, and that no primitive blocks its worker thread.
//!
//! Every wait is on an event and bounded by `WATCHDOG`; nothing asserts an upper bound on time.

mod common;

use std::cell::UnsafeCell;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, TryLockError};
use std::time::{Duration, Instant};

use common::{within, WATCHDOG};
use green::sync::{Barrier, Condvar, Lazy, Mutex, OnceLock, RwLock, Semaphore, WaitGroup};
use green::Runtime;

fn runtime(workers: usize) -> Runtime {
    Runtime::builder().workers(workers).build().unwrap()
}

/// A counter with no synchronisation of its own: only the lock around it keeps it right.
struct Racy(UnsafeCell<u64>);
// SAFETY: every access in these tests happens under a lock; that is what they check.
unsafe impl Sync for Racy {}

const STRESS: u64 = if cfg!(debug_assertions) { 200 } else { 1000 };

#[test]
fn mutex_excludes_coroutines_and_threads_mixed() {
    within(|| {
        let rt = runtime(2);
        let m = Arc::new(Mutex::new(0u64));
        let (coros, threads) = (40u64, 2u64);
        let mut hs = Vec::new();
        for i in 0..coros {
            let m = m.clone();
            hs.push(
                rt.spawn(move || {
                    for j in 0..STRESS {
                        let mut g = m.lock().unwrap();
                        let v = *g;
                        if (i + j) % 16 == 0 {
                            // Park while holding the lock: the guard may come back on the
                            // other worker, and nobody may get in meanwhile.
                            green::yield_now();
                        }
                        *g = v + 1;
                    }
                })
                .unwrap(),
            );
        }
        let ths: Vec<_> = (0..threads)
            .map(|_| {
                let m = m.clone();
                std::thread::spawn(move || {
                    for _ in 0..STRESS {
                        let mut g = m.lock().unwrap();
                        let v = *g;
                        std::hint::spin_loop();
                        *g = v + 1;
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        for t in ths {
            t.join().unwrap();
        }
        assert_eq!(*m.lock().unwrap(), (coros + threads) * STRESS);
    });
}

#[test]
fn many_coroutines_on_two_workers_contend_one_lock() {
    within(|| {
        let rt = runtime(2);
        let racy = Arc::new(Racy(UnsafeCell::new(0)));
        let m = Arc::new(Mutex::new(()));
        let n = 500u64;
        let per = 20u64;
        let total = rt.run({
            let (racy, m) = (racy.clone(), m.clone());
            move || {
                let hs: Vec<_> = (0..n)
                    .map(|_| {
                        let (racy, m) = (racy.clone(), m.clone());
                        green::spawn(move || {
                            for k in 0..per {
                                let _g = m.lock().unwrap();
                                // SAFETY: under the lock.
                                let v = unsafe { *racy.0.get() };
                                if k % 5 == 0 {
                                    green::yield_now();
                                }
                                // SAFETY: under the lock.
                                unsafe { *racy.0.get() = v + 1 };
                            }
                        })
                    })
                    .collect();
                for h in hs {
                    h.join().unwrap();
                }
                let _g = m.lock().unwrap();
                // SAFETY: under the lock.
                unsafe { *racy.0.get() }
            }
        });
        assert_eq!(total, n * per);
    });
}

/// Two threads lock and unlock in a tight loop; a coroutine and a thread that need the lock
/// 100 times each still get it (the starvation hand-off: after a millisecond of waiting the
/// lock is handed to the waiter instead of being released to whoever grabs it first).
#[test]
fn a_waiter_is_not_starved_by_hot_lockers() {
    within(|| {
        let m = Arc::new(Mutex::new(0u64));
        let stop = Arc::new(AtomicBool::new(false));
        let hot: Vec<_> = (0..2)
            .map(|_| {
                let (m, stop) = (m.clone(), stop.clone());
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        *m.lock().unwrap() += 1;
                    }
                })
            })
            .collect();
        let m2 = m.clone();
        let co = green::spawn(move || {
            for _ in 0..100 {
                *m2.lock().unwrap() += 1;
            }
        });
        let m3 = m.clone();
        let th = std::thread::spawn(move || {
            for _ in 0..100 {
                *m3.lock().unwrap() += 1;
            }
        });
        co.join().unwrap();
        th.join().unwrap();
        stop.store(true, Ordering::Relaxed);
        for h in hot {
            h.join().unwrap();
        }
        assert!(*m.lock().unwrap() >= 200);
    });
}

/// Guards are `Send`: a coroutine may migrate while holding one, and a guard may even be
/// handed to another thread and released there; the lock stays correct.
#[test]
fn guards_may_be_released_on_another_thread() {
    fn assert_send<T: Send>() {}
    assert_send::<green::sync::MutexGuard<'static, Vec<u8>>>();
    assert_send::<green::sync::RwLockReadGuard<'static, u8>>();
    assert_send::<green::sync::RwLockWriteGuard<'static, u8>>();
    assert_send::<green::sync::SemaphorePermit<'static>>();
    within(|| {
        static M: Mutex<u32> = Mutex::new(0);
        let released = green::spawn(|| {
            let mut g = M.lock().unwrap();
            *g += 1;
            std::thread::spawn(move || drop(g)).join().unwrap();
            *M.lock().unwrap() += 1; // the other thread's unlock freed it
            *M.lock().unwrap()
        });
        assert_eq!(released.join().unwrap(), 2);
    });
}

/// Stray unparks of a coroutine blocked in `lock`, `acquire` or `wait` are spurious wake-ups:
/// it goes back to waiting until what it waits for really happens.
#[test]
fn spurious_unparks_do_not_end_a_wait() {
    within(|| {
        let m = Arc::new(Mutex::new(0));
        let sem = Arc::new(Semaphore::new(0));
        let wg = WaitGroup::new();
        let member = wg.clone();
        let guard = m.lock().unwrap();
        let (m2, s2) = (m.clone(), sem.clone());
        let waiter = green::spawn(move || {
            *m2.lock().unwrap() += 1;
            drop(s2.acquire());
            wg.wait();
        });
        let me = waiter.coroutine().clone();
        for _ in 0..200 {
            me.unpark();
            green::yield_now();
        }
        assert!(
            !waiter.is_finished(),
            "returned from lock while it was held"
        );
        drop(guard);
        for _ in 0..200 {
            me.unpark();
            green::yield_now();
        }
        assert!(
            !waiter.is_finished(),
            "returned from acquire with no permit"
        );
        sem.add_permits(1);
        for _ in 0..200 {
            me.unpark();
            green::yield_now();
        }
        assert!(
            !waiter.is_finished(),
            "returned from wait with a member alive"
        );
        drop(member);
        waiter.join().unwrap();
        assert_eq!(*m.lock().unwrap(), 1);
        assert_eq!(sem.available_permits(), 1);
    });
}

#[test]
fn try_lock_reports_would_block_and_poison() {
    within(|| {
        let m = Arc::new(Mutex::new(1));
        let g = m.lock().unwrap();
        assert!(matches!(m.try_lock(), Err(TryLockError::WouldBlock)));
        drop(g);
        let m2 = m.clone();
        let r = green::spawn(move || {
            let _g = m2.lock().unwrap();
            panic!("poisoning on purpose");
        })
        .join();
        assert!(r.is_err());
        assert!(matches!(m.try_lock(), Err(TryLockError::Poisoned(_))));
    });
}

#[test]
fn a_panic_in_a_coroutine_poisons_mutex_and_rwlock() {
    within(|| {
        let m = Arc::new(Mutex::new(vec![1]));
        let l = Arc::new(RwLock::new(5));
        let (m2, l2) = (m.clone(), l.clone());
        let r = green::spawn(move || {
            let _r = l2.read().unwrap(); // a reader's panic does not poison
            drop(_r);
            let mut w = l2.write().unwrap();
            *w = 6;
            let mut g = m2.lock().unwrap();
            g.push(2);
            panic!("both guards held");
        })
        .join();
        assert!(r.is_err());
        assert!(m.is_poisoned());
        assert!(l.is_poisoned());
        // The data is still there, behind the error.
        let g = m.lock().unwrap_err().into_inner();
        assert_eq!(*g, [1, 2]);
        drop(g);
        assert_eq!(*l.read().unwrap_err().into_inner(), 6);
        m.clear_poison();
        assert!(m.lock().is_ok());
        let m = Arc::try_unwrap(m).unwrap();
        assert_eq!(m.into_inner().unwrap(), [1, 2]);
        let mut l = Arc::try_unwrap(l).unwrap();
        assert!(l.get_mut().is_err());
        assert!(l.into_inner().is_err());
    });
}

#[test]
fn a_panic_while_not_holding_does_not_poison() {
    within(|| {
        let m = Arc::new(Mutex::new(0));
        let m2 = m.clone();
        let _ = green::spawn(move || {
            *m2.lock().unwrap() += 1;
            panic!("after the guard is gone");
        })
        .join();
        assert!(!m.is_poisoned());
        assert_eq!(*m.lock().unwrap(), 1);
    });
}

/// A bounded queue on one mutex and two condvars, producers and consumers on two workers and a
/// thread among the consumers: every item arrives exactly once.
#[test]
fn condvar_producer_consumer() {
    within(|| {
        let rt = runtime(2);
        struct Q {
            items: Mutex<(VecDeque<u64>, bool)>,
            not_empty: Condvar,
            not_full: Condvar,
        }
        let q = Arc::new(Q {
            items: Mutex::new((VecDeque::new(), false)),
            not_empty: Condvar::new(),
            not_full: Condvar::new(),
        });
        let (producers, per, cap) = (4u64, 500u64, 8usize);
        let consume = |q: Arc<Q>| {
            let mut sum = 0u64;
            let mut count = 0u64;
            loop {
                let g = q.items.lock().unwrap();
                let mut g = q
                    .not_empty
                    .wait_while(g, |(items, closed)| items.is_empty() && !*closed)
                    .unwrap();
                match g.0.pop_front() {
                    Some(v) => {
                        sum += v;
                        count += 1;
                        drop(g);
                        q.not_full.notify_one();
                    }
                    None => return (sum, count), // closed and drained
                }
            }
        };
        let consumers: Vec<_> = (0..3)
            .map(|_| {
                let q = q.clone();
                rt.spawn(move || consume(q)).unwrap()
            })
            .collect();
        let thread_consumer = {
            let q = q.clone();
            std::thread::spawn(move || consume(q))
        };
        let prods: Vec<_> = (0..producers)
            .map(|p| {
                let q = q.clone();
                rt.spawn(move || {
                    for i in 0..per {
                        let g = q.items.lock().unwrap();
                        let mut g = q.not_full.wait_while(g, |(it, _)| it.len() >= cap).unwrap();
                        g.0.push_back(p * per + i);
                        drop(g);
                        q.not_empty.notify_one();
                    }
                })
                .unwrap()
            })
            .collect();
        for p in prods {
            p.join().unwrap();
        }
        q.items.lock().unwrap().1 = true;
        q.not_empty.notify_all();
        let mut sum = 0;
        let mut count = 0;
        for c in consumers {
            let (s, n) = c.join().unwrap();
            sum += s;
            count += n;
        }
        let (s, n) = thread_consumer.join().unwrap();
        sum += s;
        count += n;
        let total = producers * per;
        assert_eq!(count, total);
        assert_eq!(sum, total * (total - 1) / 2);
    });
}

/// Every waiter is in a single `wait` (no loop) when `notify_all` is called once: all return.
#[test]
fn notify_all_wakes_every_waiter() {
    within(|| {
        let rt = runtime(2);
        let n = 50;
        let state = Arc::new((Mutex::new(0usize), Condvar::new(), Condvar::new()));
        let mut hs = Vec::new();
        for _ in 0..n {
            let s = state.clone();
            hs.push(
                rt.spawn(move || {
                    let mut g = s.0.lock().unwrap();
                    *g += 1;
                    s.2.notify_one();
                    let _g = s.1.wait(g).unwrap();
                })
                .unwrap(),
            );
        }
        // A thread waiter too.
        let s = state.clone();
        let th = std::thread::spawn(move || {
            let mut g = s.0.lock().unwrap();
            *g += 1;
            s.2.notify_one();
            let _g = s.1.wait(g).unwrap();
        });
        // Once the count is n + 1 with the lock held, every waiter is inside `wait`.
        let g = state
            .2
            .wait_while(state.0.lock().unwrap(), |c| *c < n + 1)
            .unwrap();
        state.1.notify_all();
        drop(g);
        for h in hs {
            h.join().unwrap();
        }
        th.join().unwrap();
    });
}

#[test]
fn wait_timeout_times_out_and_leaves_cleanly() {
    within(|| {
        let pair = Arc::new((Mutex::new(false), Condvar::new()));
        let p = pair.clone();
        let timed = green::spawn(move || {
            let start = Instant::now();
            let (g, r) =
                p.1.wait_timeout(p.0.lock().unwrap(), Duration::from_millis(20))
                    .unwrap();
            assert!(start.elapsed() >= Duration::from_millis(20));
            assert!(!*g);
            r.timed_out()
        });
        assert!(
            timed.join().unwrap(),
            "wait_timeout did not report its timeout"
        );

        // The timed-out waiter left the queue: a single notify_one goes to the next waiter.
        let p = pair.clone();
        let waiter = green::spawn(move || {
            let g = p.0.lock().unwrap();
            let (g, r) =
                p.1.wait_timeout_while(g, WATCHDOG, |ready| !*ready)
                    .unwrap();
            assert!(*g);
            r.timed_out()
        });
        *pair.0.lock().unwrap() = true;
        pair.1.notify_one();
        assert!(!waiter.join().unwrap());

        // wait_timeout_while on a condition that never comes true times out.
        let (g, r) = pair
            .1
            .wait_timeout_while(pair.0.lock().unwrap(), Duration::from_millis(5), |r| *r)
            .unwrap();
        assert!(r.timed_out() && *g);
    });
}

/// N readers hold the lock at the same time (each waits at a barrier while holding it, which
/// only works if all are inside), then writers and readers mixed never overlap a writer.
#[test]
fn rwlock_shares_readers_and_excludes_writers() {
    within(|| {
        let rt = runtime(2);
        let n = 8;
        let lock = Arc::new(RwLock::new(0u64));
        let all_in = Arc::new(Barrier::new(n));
        let hs: Vec<_> = (0..n)
            .map(|_| {
                let (l, b) = (lock.clone(), all_in.clone());
                rt.spawn(move || {
                    let g = l.read().unwrap();
                    b.wait(); // every reader holds its read guard here at once
                    *g
                })
                .unwrap()
            })
            .collect();
        for h in hs {
            assert_eq!(h.join().unwrap(), 0);
        }

        let writing = Arc::new(AtomicBool::new(false));
        let readers_in = Arc::new(AtomicUsize::new(0));
        let mut hs = Vec::new();
        for i in 0..40u64 {
            let (l, w, r) = (lock.clone(), writing.clone(), readers_in.clone());
            hs.push(
                rt.spawn(move || {
                    for k in 0..STRESS / 4 {
                        if (i + k) % 4 == 0 {
                            let mut g = l.write().unwrap();
                            assert!(!w.swap(true, Ordering::SeqCst), "two writers");
                            assert_eq!(r.load(Ordering::SeqCst), 0, "reader inside a write");
                            let v = *g;
                            green::yield_now();
                            *g = v + 1;
                            w.store(false, Ordering::SeqCst);
                        } else {
                            let _g = l.read().unwrap();
                            r.fetch_add(1, Ordering::SeqCst);
                            assert!(!w.load(Ordering::SeqCst), "writer inside a read");
                            green::yield_now();
                            r.fetch_sub(1, Ordering::SeqCst);
                        }
                    }
                })
                .unwrap(),
            );
        }
        for h in hs {
            h.join().unwrap();
        }
        let writes: u64 = (0..40u64)
            .map(|i| (0..STRESS / 4).filter(|k| (i + k) % 4 == 0).count() as u64)
            .sum();
        assert_eq!(*lock.read().unwrap(), writes);
    });
}

#[test]
fn wait_group_crossbeam_style_go_style_and_mixed() {
    within(|| {
        let rt = runtime(2);
        let done = Arc::new(AtomicUsize::new(0));

        let wg = WaitGroup::new();
        for _ in 0..20 {
            let (wg, d) = (wg.clone(), done.clone());
            rt.spawn(move || {
                green::yield_now();
                d.fetch_add(1, Ordering::SeqCst);
                drop(wg);
            })
            .unwrap();
        }
        wg.wait(); // a thread waits on coroutines
        assert_eq!(done.load(Ordering::SeqCst), 20);

        let d = done.clone();
        rt.run(move || {
            // A coroutine waits on coroutines and threads, Go style.
            let wg = WaitGroup::new();
            wg.add(10);
            for i in 0..10 {
                let (wg, d) = (wg.clone(), d.clone());
                if i % 2 == 0 {
                    green::spawn(move || {
                        d.fetch_add(1, Ordering::SeqCst);
                        wg.done();
                    });
                } else {
                    std::thread::spawn(move || {
                        d.fetch_add(1, Ordering::SeqCst);
                        wg.done();
                    });
                }
            }
            wg.wait();
            assert_eq!(d.load(Ordering::SeqCst), 30);

            // Mixed: one add/done pair plus a member handle.
            let wg = WaitGroup::new();
            wg.add(1);
            let (a, b) = (wg.clone(), wg.clone());
            let gate = Arc::new(AtomicBool::new(false));
            let g2 = gate.clone();
            green::spawn(move || {
                a.done();
                drop(a);
            });
            green::spawn(move || {
                g2.store(true, Ordering::SeqCst);
                drop(b);
            });
            wg.wait();
            assert!(
                gate.load(Ordering::SeqCst),
                "wait returned before a member left"
            );
        });
    });
}

#[test]
#[should_panic(expected = "without a matching add")]
fn wait_group_done_without_add_panics() {
    WaitGroup::new().done();
}

#[test]
fn semaphore_never_exceeds_its_permits() {
    within(|| {
        let rt = runtime(2);
        let sem = Arc::new(Semaphore::new(3));
        let inside = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let mut hs = Vec::new();
        for _ in 0..60 {
            let (s, i, m) = (sem.clone(), inside.clone(), most.clone());
            hs.push(
                rt.spawn(move || {
                    for _ in 0..20 {
                        let _p = s.acquire();
                        let now = i.fetch_add(1, Ordering::SeqCst) + 1;
                        m.fetch_max(now, Ordering::SeqCst);
                        green::yield_now();
                        i.fetch_sub(1, Ordering::SeqCst);
                    }
                })
                .unwrap(),
            );
        }
        // A thread competes too.
        let (s, i) = (sem.clone(), inside.clone());
        let th = std::thread::spawn(move || {
            for _ in 0..50 {
                let _p = s.acquire();
                assert!(i.fetch_add(1, Ordering::SeqCst) < 3);
                i.fetch_sub(1, Ordering::SeqCst);
            }
        });
        for h in hs {
            h.join().unwrap();
        }
        th.join().unwrap();
        assert!(most.load(Ordering::SeqCst) <= 3);
        assert_eq!(sem.available_permits(), 3);
    });
}

#[test]
fn semaphore_timeout_leaves_the_queue_cleanly() {
    within(|| {
        let sem = Arc::new(Semaphore::new(1));
        let held = sem.acquire();
        let s = sem.clone();
        let timed = green::spawn(move || {
            let start = Instant::now();
            let got = s.acquire_timeout(Duration::from_millis(20)).is_some();
            (got, start.elapsed())
        });
        let (got, waited) = timed.join().unwrap();
        assert!(!got);
        assert!(waited >= Duration::from_millis(20));
        drop(held);
        // The permit came back to the semaphore, not to the departed waiter.
        assert_eq!(sem.available_permits(), 1);
        assert!(sem.try_acquire().is_some());

        // A permit released while a timed waiter waits goes to it.
        let held = sem.acquire();
        let s = sem.clone();
        let timed = green::spawn(move || s.acquire_timeout(WATCHDOG).map(|p| p.forget()).is_some());
        // Whether the waiter queued before this release or not, the permit ends up its.
        green::yield_now();
        drop(held);
        assert!(timed.join().unwrap());
        assert_eq!(sem.available_permits(), 0); // forgotten by the waiter
        sem.add_permits(2);
        assert_eq!(sem.available_permits(), 2);
    });
}

#[test]
fn barrier_has_one_leader_per_generation() {
    within(|| {
        let rt = runtime(2);
        let parties = 5;
        let generations = 30;
        let barrier = Arc::new(Barrier::new(parties));
        let leaders: Arc<Vec<AtomicUsize>> =
            Arc::new((0..generations).map(|_| AtomicUsize::new(0)).collect());
        let arrived: Arc<Vec<AtomicUsize>> =
            Arc::new((0..generations).map(|_| AtomicUsize::new(0)).collect());
        let party = move |b: Arc<Barrier>, l: Arc<Vec<AtomicUsize>>, a: Arc<Vec<AtomicUsize>>| {
            for g in 0..generations {
                a[g].fetch_add(1, Ordering::SeqCst);
                if b.wait().is_leader() {
                    l[g].fetch_add(1, Ordering::SeqCst);
                }
                // Nobody leaves a generation before everyone arrived at it.
                assert_eq!(a[g].load(Ordering::SeqCst), parties);
            }
        };
        let mut hs = Vec::new();
        for _ in 0..parties - 1 {
            let (b, l, a) = (barrier.clone(), leaders.clone(), arrived.clone());
            hs.push(rt.spawn(move || party(b, l, a)).unwrap());
        }
        let (b, l, a) = (barrier.clone(), leaders.clone(), arrived.clone());
        let th = std::thread::spawn(move || party(b, l, a));
        for h in hs {
            h.join().unwrap();
        }
        th.join().unwrap();
        for (g, l) in leaders.iter().enumerate() {
            assert_eq!(l.load(Ordering::SeqCst), 1, "generation {g}");
        }
    });
}

#[test]
fn once_lock_runs_init_exactly_once_with_concurrent_callers() {
    within(|| {
        let rt = runtime(2);
        let cell = Arc::new(OnceLock::new());
        let runs = Arc::new(AtomicUsize::new(0));
        let mut hs = Vec::new();
        for _ in 0..30 {
            let (c, r) = (cell.clone(), runs.clone());
            hs.push(
                rt.spawn(move || {
                    *c.get_or_init(|| {
                        r.fetch_add(1, Ordering::SeqCst);
                        // Stay a while so the others find it running and park.
                        for _ in 0..20 {
                            green::yield_now();
                        }
                        42
                    })
                })
                .unwrap(),
            );
        }
        let (c, r) = (cell.clone(), runs.clone());
        let th = std::thread::spawn(move || {
            *c.get_or_init(|| {
                r.fetch_add(1, Ordering::SeqCst);
                42
            })
        });
        for h in hs {
            assert_eq!(h.join().unwrap(), 42);
        }
        assert_eq!(th.join().unwrap(), 42);
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert_eq!(cell.set(7), Err(7));
    });
}

#[test]
fn once_lock_init_panic_lets_a_waiter_retry() {
    within(|| {
        let cell = Arc::new(OnceLock::new());
        let c = cell.clone();
        let r = green::spawn(move || *c.get_or_init(|| panic!("first init fails"))).join();
        assert!(r.is_err());
        assert!(cell.get().is_none());
        assert_eq!(*cell.get_or_init(|| 5), 5);

        static LAZY: Lazy<Vec<u8>> = Lazy::new(|| vec![1, 2, 3]);
        let hs: Vec<_> = (0..4).map(|_| green::spawn(|| LAZY.len())).collect();
        for h in hs {
            assert_eq!(h.join().unwrap(), 3);
        }
    });
}

/// A thread blocks on a lock a coroutine holds, and a coroutine parks on a condvar a thread
/// notifies.
#[test]
fn threads_and_coroutines_wait_on_each_other() {
    within(|| {
        let m = Arc::new(Mutex::new(0));
        let cv = Arc::new(Condvar::new());
        let taken = Arc::new(AtomicBool::new(false));
        let release = Arc::new(AtomicBool::new(false));
        let (m2, t2, r2) = (m.clone(), taken.clone(), release.clone());
        let holder = green::spawn(move || {
            let mut g = m2.lock().unwrap();
            t2.store(true, Ordering::SeqCst);
            while !r2.load(Ordering::SeqCst) {
                green::yield_now();
            }
            *g += 1;
        });
        while !taken.load(Ordering::SeqCst) {
            std::thread::yield_now();
        }
        let (m3, r3) = (m.clone(), release.clone());
        let thread_waiter = std::thread::spawn(move || {
            r3.store(true, Ordering::SeqCst);
            *m3.lock().unwrap() += 1; // blocks this thread until the coroutine unlocks
        });
        holder.join().unwrap();
        thread_waiter.join().unwrap();
        assert_eq!(*m.lock().unwrap(), 2);

        let (m4, cv4) = (m.clone(), cv.clone());
        let waiter = green::spawn(move || *cv4.wait_while(m4.lock().unwrap(), |v| *v < 3).unwrap());
        let (m5, cv5) = (m.clone(), cv.clone());
        std::thread::spawn(move || {
            *m5.lock().unwrap() = 3;
            cv5.notify_all();
        })
        .join()
        .unwrap();
        assert_eq!(waiter.join().unwrap(), 3);
    });
}

/// On a one-worker runtime: A holds a primitive and waits for C; B blocks on the primitive;
/// C, queued behind B on the same single worker, lets A go. If blocking on the primitive
/// blocked the worker thread, C would never run and this would hang (the watchdog fails it).
fn must_not_block_the_worker<S: Send + Sync + 'static>(
    shared: S,
    hold: impl Fn(&S, &dyn Fn()) + Send + Sync + 'static,
    block: impl Fn(&S) + Send + Sync + 'static,
) {
    within(move || {
        let rt = runtime(1);
        let shared = Arc::new(shared);
        let hold = Arc::new(hold);
        let block = Arc::new(block);
        rt.run(move || {
            let let_go = Arc::new(AtomicBool::new(false));
            let b_trying = Arc::new(AtomicBool::new(false));
            let holding = Arc::new(AtomicBool::new(false));
            let (s, l, h, hold) = (
                shared.clone(),
                let_go.clone(),
                holding.clone(),
                hold.clone(),
            );
            let a = green::spawn(move || {
                hold(&s, &|| {
                    h.store(true, Ordering::SeqCst);
                    while !l.load(Ordering::SeqCst) {
                        green::park();
                    }
                })
            });
            while !holding.load(Ordering::SeqCst) {
                green::yield_now();
            }
            let (s, t) = (shared.clone(), b_trying.clone());
            let b = green::spawn(move || {
                t.store(true, Ordering::SeqCst);
                block(&s); // no yield point before this: it parks here, or hangs the worker
            });
            let a_co = a.coroutine().clone();
            let (t, l) = (b_trying.clone(), let_go.clone());
            let c = green::spawn(move || {
                while !t.load(Ordering::SeqCst) {
                    green::yield_now();
                }
                l.store(true, Ordering::SeqCst);
                a_co.unpark();
            });
            a.join().unwrap();
            b.join().unwrap();
            c.join().unwrap();
        });
    });
}

#[test]
fn mutex_lock_does_not_block_the_worker() {
    must_not_block_the_worker(
        Mutex::new(0),
        |m, wait| {
            let _g = m.lock().unwrap();
            wait();
        },
        |m| *m.lock().unwrap() += 1,
    );
}

#[test]
fn rwlock_does_not_block_the_worker() {
    must_not_block_the_worker(
        RwLock::new(0),
        |l, wait| {
            let _g = l.write().unwrap();
            wait();
        },
        |l| drop(l.read().unwrap()),
    );
}

#[test]
fn semaphore_does_not_block_the_worker() {
    must_not_block_the_worker(
        Semaphore::new(1),
        |s, wait| {
            let _p = s.acquire();
            wait();
        },
        |s| drop(s.acquire()),
    );
}

#[test]
fn once_lock_does_not_block_the_worker() {
    must_not_block_the_worker(
        OnceLock::new(),
        |c, wait| {
            c.get_or_init(|| {
                wait();
                1
            });
        },
        |c| assert_eq!(*c.get_or_init(|| 2), 1),
    );
}

#[test]
fn condvar_and_barrier_do_not_block_the_worker() {
    must_not_block_the_worker(
        (Mutex::new(false), Condvar::new()),
        |(m, cv), wait| {
            wait();
            *m.lock().unwrap() = true;
            cv.notify_all();
        },
        |(m, cv)| drop(cv.wait_while(m.lock().unwrap(), |ready| !*ready).unwrap()),
    );
    must_not_block_the_worker(
        Barrier::new(2),
        |b, wait| {
            wait();
            b.wait();
        },
        |b| {
            b.wait();
        },
    );
}
