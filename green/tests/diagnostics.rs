//! What the runtime tells about itself (issue 11): `dump` lists coroutines and what each does,
//! `metrics` counts them, and `dump_on_sigquit` prints the dump on `SIGQUIT`. Every wait is on
//! an event (polling the runtime's own report until it shows what the test set up), bounded
//! by the watchdog.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::within;
use green::sync::Mutex;
use green::{Builder, Runtime};

/// Polls `dump()` until `ok` accepts it; returns it.
fn dump_until(what: &str, ok: impl Fn(&str) -> bool) -> String {
    let start = Instant::now();
    loop {
        let text = green::dump();
        if ok(&text) {
            return text;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the dump never showed {what}:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn dump_lists_each_coroutine_with_what_it_waits_on() {
    within(|| {
        let rt = Runtime::builder().workers(2).build().unwrap();
        let lock = Arc::new(Mutex::new(()));
        let guard_taken = Arc::new(AtomicBool::new(false));
        let release = Arc::new(AtomicBool::new(false));
        // A holder that parks while holding the lock, and a waiter blocked on it.
        let holder = {
            let (lock, taken, release) = (lock.clone(), guard_taken.clone(), release.clone());
            Builder::new()
                .name("holder".into())
                .spawn_on(&rt, move || {
                    let _g = lock.lock().unwrap();
                    taken.store(true, Ordering::SeqCst);
                    while !release.load(Ordering::SeqCst) {
                        green::park();
                    }
                })
                .unwrap()
        };
        while !guard_taken.load(Ordering::SeqCst) {
            std::thread::yield_now();
        }
        let waiter = {
            let lock = lock.clone();
            Builder::new()
                .name("waiter".into())
                .spawn_on(&rt, move || drop(lock.lock().unwrap()))
                .unwrap()
        };
        let sleeper = Builder::new()
            .name("sleeper".into())
            .spawn_on(&rt, || green::sleep(Duration::from_secs(3600)))
            .unwrap();
        let sleeper_id = sleeper.coroutine().clone();
        let joiner = {
            let other = sleeper_id.clone();
            Builder::new()
                .name("joiner".into())
                .spawn_on(&rt, move || {
                    // Joins the sleeper through a handle it cannot own: parks on a wait group.
                    let wg = green::sync::WaitGroup::new();
                    wg.add(1);
                    let _keep = other;
                    wg.wait();
                })
                .unwrap()
        };
        let text = dump_until("all four parked", |t| {
            t.contains("'holder': parked on park")
                && t.contains("'waiter': parked on mutex")
                && t.contains("'sleeper': sleeping, wakes in")
                && t.contains("'joiner': parked on wait group")
        });
        assert!(text.contains("greenchan runtime"), "{text}");
        assert!(
            text.contains("worker 0:") && text.contains("worker 1:"),
            "{text}"
        );
        // Release them all and see them go.
        release.store(true, Ordering::SeqCst);
        holder.coroutine().unpark();
        holder.join().unwrap();
        waiter.join().unwrap();
        sleeper_id.unpark(); // a spurious wake-up: it sleeps on
        drop(joiner);
        rt.shutdown().unwrap();
        assert!(sleeper.join().is_err(), "unwound by the shutdown");
    });
}

/// A coroutine that parks at once on a fresh runtime (before the monitor's first tick of the
/// coarse clock) still shows when it last ran: the clock used to start at 0, which the dump
/// reads as "never ran", so the line had no "last ran".
#[test]
fn a_coroutine_parked_at_once_shows_when_it_last_ran() {
    within(|| {
        let rt = Runtime::builder().workers(1).build().unwrap();
        let release = Arc::new(AtomicBool::new(false));
        let early = {
            let release = release.clone();
            Builder::new()
                .name("early".into())
                .spawn_on(&rt, move || {
                    while !release.load(Ordering::SeqCst) {
                        green::park();
                    }
                })
                .unwrap()
        };
        let text = dump_until("the early coroutine parked", |t| {
            t.contains("'early': parked on park")
        });
        let line = text
            .lines()
            .find(|l| l.contains("'early'"))
            .expect("listed");
        assert!(line.contains("last ran"), "{text}");
        release.store(true, Ordering::SeqCst);
        early.coroutine().unpark();
        early.join().unwrap();
        rt.shutdown().unwrap();
    });
}

#[test]
fn a_running_coroutine_shows_on_its_worker() {
    within(|| {
        let rt = Runtime::builder()
            .workers(1)
            .max_spare_threads(0)
            .build()
            .unwrap();
        let (started, stop) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicBool::new(false)),
        );
        let h = {
            let (started, stop) = (started.clone(), stop.clone());
            rt.spawn(move || {
                started.store(true, Ordering::SeqCst);
                while !stop.load(Ordering::Relaxed) {
                    std::hint::spin_loop();
                }
                green::current().id()
            })
            .unwrap()
        };
        while !started.load(Ordering::SeqCst) {
            std::thread::yield_now();
        }
        let id = h.coroutine().id();
        let text = dump_until("the spinner", |t| {
            t.contains(&format!("worker 0: running coroutine {id} for"))
                || t.contains(&format!("worker 0: stuck in coroutine {id} for"))
        });
        // After a slice the monitor calls it stuck.
        let text2 = dump_until("the spinner stuck", |t| {
            t.contains(&format!("worker 0: stuck in coroutine {id}"))
        });
        stop.store(true, Ordering::Relaxed);
        assert_eq!(h.join().unwrap(), id, "{text}\n{text2}");
        rt.shutdown().unwrap();
    });
}

#[test]
fn metrics_count_spawned_alive_parked_and_runnable() {
    within(|| {
        let rt = Runtime::builder().workers(2).build().unwrap();
        let before = rt.metrics();
        assert_eq!(before.alive, 0);
        let handles: Vec<_> = (0..10).map(|_| rt.spawn(green::park).unwrap()).collect();
        let start = Instant::now();
        loop {
            let m = rt.metrics();
            if m.parked == 10 {
                assert_eq!(m.alive, 10);
                assert_eq!(m.spawned, 10);
                assert_eq!(m.workers.len(), 2);
                break;
            }
            assert!(start.elapsed() < Duration::from_secs(60), "{m:?}");
            std::thread::yield_now();
        }
        for h in &handles {
            h.coroutine().unpark();
        }
        for h in handles {
            h.join().unwrap();
        }
        let m = rt.metrics();
        assert_eq!(m.alive, 0, "{m:?}");
        assert_eq!(m.parked, 0, "{m:?}");
        assert_eq!(
            m.workers.iter().map(|w| w.finished).sum::<u64>(),
            10,
            "{m:?}"
        );
        rt.shutdown().unwrap();
    });
}

/// In a child process: a runtime with `dump_on_sigquit` gets `SIGQUIT`, prints the dump, and
/// exits with status 2, as Go does.
#[test]
fn sigquit_prints_the_dump_and_exits() {
    const CHILD: &str = "GREEN_SIGQUIT_CHILD";
    if std::env::var_os(CHILD).is_some() {
        let rt = Runtime::builder()
            .workers(1)
            .dump_on_sigquit(true)
            .build()
            .unwrap();
        let h = Builder::new()
            .name("patient".into())
            .spawn_on(&rt, green::park)
            .unwrap();
        dump_until("the patient parked", |t| t.contains("'patient': parked"));
        println!("ready");
        std::thread::sleep(Duration::from_secs(120)); // until the signal ends the process
        drop(h);
        return;
    }
    use std::io::{BufRead, BufReader, Read};
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "sigquit_prints_the_dump_and_exits",
            "--exact",
            "--nocapture",
        ])
        .env(CHILD, "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while !line.contains("ready") {
        line.clear();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "the child ended early"
        );
    }
    // SAFETY: signalling our own child by its pid.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGQUIT) }, 0);
    let status = child.wait().unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(err.contains("SIGQUIT: greenchan dump"), "{err}");
    assert!(err.contains("'patient': parked on park"), "{err}");
}

/// In a child process: a coroutine's panic message names the coroutine (issue 11), and a hook
/// the program installed before the runtime started still runs.
#[test]
fn panic_messages_name_the_coroutine() {
    const CHILD: &str = "GREEN_PANIC_NAME_CHILD";
    if std::env::var_os(CHILD).is_some() {
        static USER_HOOK_RAN: AtomicBool = AtomicBool::new(false);
        let std_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            USER_HOOK_RAN.store(true, Ordering::SeqCst);
            std_hook(info);
        }));
        let rt = Runtime::builder().workers(1).build().unwrap();
        let named = Builder::new()
            .name("worker-3".into())
            .spawn_on(&rt, || panic!("boom"))
            .unwrap();
        let id = named.coroutine().id();
        assert!(named.join().is_err());
        let unnamed = rt.spawn(|| panic!("bang")).unwrap();
        let id2 = unnamed.coroutine().id();
        assert!(unnamed.join().is_err());
        assert!(USER_HOOK_RAN.load(Ordering::SeqCst));
        println!("ids {id} {id2}");
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "panic_messages_name_the_coroutine",
            "--exact",
            "--nocapture",
        ])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let ids: Vec<&str> = stdout
        .lines()
        .find_map(|l| l.strip_prefix("ids "))
        .expect("the child printed the ids")
        .split(' ')
        .collect();
    assert!(
        stderr.contains(&format!("coroutine 'worker-3' (id {}) panicked at", ids[0])),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("coroutine (id {}) panicked at", ids[1])),
        "{stderr}"
    );
    assert!(
        stderr.contains("boom") && stderr.contains("bang"),
        "{stderr}"
    );
}
