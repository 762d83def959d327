//! Behaviour that needs a process of its own: the global runtime's worker count from
//! `GREENCHAN_WORKERS`, and an idle runtime's CPU use. Each test re-runs this test binary with
//! an environment variable naming the scenario, so the global runtime starts fresh there.

use std::process::Command;
use std::time::{Duration, Instant};

const SCENARIO: &str = "GREEN_PROCESS_SCENARIO";

/// Re-runs the named test of this binary in a child with `scenario` set; returns its stdout.
fn child(test: &str, scenario: &str, envs: &[(&str, &str)]) -> String {
    let exe = std::env::current_exe().unwrap();
    let mut cmd = Command::new(exe);
    cmd.args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(SCENARIO, scenario)
        .env_remove("GREENCHAN_WORKERS");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "child {scenario} failed: {}\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn field(stdout: &str, key: &str) -> String {
    // The test harness may print its own words on the same line before ours.
    stdout
        .lines()
        .find_map(|l| l.find(key).map(|i| &l[i + key.len()..]))
        .unwrap_or_else(|| panic!("no {key} in child output:\n{stdout}"))
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn greenchan_workers_sets_the_global_worker_count() {
    match std::env::var(SCENARIO).as_deref() {
        Ok("workers") => {
            // Proves the runtime works with that count, then reports it.
            assert_eq!(green::run(|| green::spawn(|| 1).join().unwrap()), 1);
            println!("WORKERS={}", green::global().workers());
        }
        Ok(_) => {}
        Err(_) => {
            let test = "greenchan_workers_sets_the_global_worker_count";
            let out = child(test, "workers", &[("GREENCHAN_WORKERS", "3")]);
            assert_eq!(field(&out, "WORKERS="), "3");
            let out = child(test, "workers", &[("GREENCHAN_WORKERS", "1")]);
            assert_eq!(field(&out, "WORKERS="), "1");
            // Invalid values fall back to one worker per CPU, with a warning, not a crash.
            let cpus = std::thread::available_parallelism().unwrap().get();
            let out = child(test, "workers", &[("GREENCHAN_WORKERS", "0")]);
            assert_eq!(field(&out, "WORKERS="), cpus.to_string());
            let out = child(test, "workers", &[("GREENCHAN_WORKERS", "lots")]);
            assert_eq!(field(&out, "WORKERS="), cpus.to_string());
        }
    }
}

/// CPU time (user + system) this process has used, from /proc/self/stat, in clock ticks.
fn cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

#[test]
fn an_idle_runtime_uses_no_cpu() {
    match std::env::var(SCENARIO).as_deref() {
        Ok("idle") => {
            let rt = green::Runtime::builder().workers(4).build().unwrap();
            // Exercise it first so every worker has been awake, spun and gone back to sleep.
            let hs: Vec<_> = (0..1000)
                .map(|_| rt.spawn(green::yield_now).unwrap())
                .collect();
            for h in hs {
                h.join().unwrap();
            }
            std::thread::sleep(Duration::from_millis(200));
            let before = cpu_ticks();
            let start = Instant::now();
            std::thread::sleep(Duration::from_secs(1));
            let used = cpu_ticks() - before;
            println!("TICKS={used}");
            println!("WALL_MS={}", start.elapsed().as_millis());
            rt.shutdown().unwrap();
        }
        Ok(_) => {}
        Err(_) => {
            let out = child("an_idle_runtime_uses_no_cpu", "idle", &[]);
            let ticks: u64 = field(&out, "TICKS=").parse().unwrap();
            // Clock ticks are 10 ms. Four busy-polling workers would use ~400 ticks in that
            // second; a sleeping runtime uses none. Allow a couple for the kernel's rounding.
            assert!(
                ticks <= 3,
                "idle runtime used {ticks} clock ticks of CPU in 1 s"
            );
        }
    }
}
