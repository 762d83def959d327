//! Descriptor exhaustion in `accept` (DESIGN §5): in a child process (this test binary re-run
//! with `SCENARIO` set, so the lowered limit touches nothing else) every descriptor is taken,
//! `accept` must return `EMFILE` as an error, neither panicking nor hanging, and once
//! descriptors are freed the same listener accepts the waiting connection and serves it.

use std::io::{Read, Write};
use std::process::Command;

use netpoll::{TcpListener, TcpStream};

const SCENARIO: &str = "NETPOLL_EMFILE_SCENARIO";

fn child() {
    let rt = green::Runtime::builder().workers(2).build().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    // Queued in the backlog before the descriptors run out.
    let mut client = TcpStream::connect(addr).unwrap();
    client.write_all(b"ping").unwrap();

    // Take every descriptor below a lowered limit.
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit fills the struct we pass.
    assert_eq!(
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) },
        0
    );
    let open = std::fs::read_dir("/proc/self/fd").unwrap().count() as u64;
    limit.rlim_cur = (open + 32).min(limit.rlim_max);
    // SAFETY: setrlimit with a valid struct; it lowers this process's soft limit only.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) }, 0);
    let mut hogs = Vec::new();
    loop {
        match std::fs::File::open("/dev/null") {
            Ok(f) => hogs.push(f),
            Err(e) => {
                assert_eq!(e.raw_os_error(), Some(libc::EMFILE), "{e}");
                break;
            }
        }
    }

    let listener = std::sync::Arc::new(listener);
    let l = listener.clone();
    let err = rt
        .spawn(move || l.accept().map(|_| ()))
        .unwrap()
        .join()
        .unwrap()
        .unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EMFILE), "{err}");
    // A plain thread gets the same error.
    let err = listener.accept().unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EMFILE), "{err}");

    drop(hogs);
    let l = listener.clone();
    let served = rt
        .spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut buf = [0; 4];
            s.read_exact(&mut buf).unwrap();
            s.write_all(&buf).unwrap();
            buf
        })
        .unwrap();
    let mut back = [0; 4];
    client.read_exact(&mut back).unwrap();
    assert_eq!(&back, b"ping");
    assert_eq!(&served.join().unwrap(), b"ping");
    println!("EMFILE-SCENARIO-PASSED");
}

#[test]
fn accept_reports_emfile_and_recovers() {
    let test = "accept_reports_emfile_and_recovers";
    if std::env::var(SCENARIO).is_ok() {
        return child();
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(SCENARIO, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("EMFILE-SCENARIO-PASSED"),
        "child failed: {}\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// CPU time (user + system) this process has used, from /proc/self/stat, in clock ticks.
fn cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

/// With the netpoller installed, an idle runtime (a coroutine parked in `accept`, one in
/// `read`) sleeps in `epoll_wait` and uses no CPU.
#[test]
fn an_idle_runtime_with_sockets_uses_no_cpu() {
    let test = "an_idle_runtime_with_sockets_uses_no_cpu";
    if std::env::var(SCENARIO).is_ok() {
        let rt = green::Runtime::builder().workers(2).build().unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let _client = TcpStream::connect(addr).unwrap();
        let (server_side, _) = listener.accept().unwrap();
        rt.spawn(move || listener.accept().map(|_| ())).unwrap();
        rt.spawn(move || (&server_side).read(&mut [0; 1])).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(200));
        let before = cpu_ticks();
        std::thread::sleep(std::time::Duration::from_secs(1));
        println!("TICKS={}", cpu_ticks() - before);
        return;
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(SCENARIO, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "child failed:\n{stdout}");
    let ticks: u64 = stdout
        .lines()
        .find_map(|l| l.find("TICKS=").map(|i| l[i + 6..].trim().to_owned()))
        .unwrap_or_else(|| panic!("no TICKS in:\n{stdout}"))
        .parse()
        .unwrap();
    // Clock ticks are 10 ms; a busy-polling worker would use ~100 in that second.
    assert!(ticks <= 3, "idle runtime used {ticks} clock ticks in 1 s");
}
