//! Soundness regression tests of greenchan (issue 10, DESIGN §3 and §5): safe code on a
//! coroutine behaves as it would on an OS thread, in the default configuration. Each test file
//! under `tests/` checks one family of thread-affine std and crate state (stdout, thread-locals,
//! global allocators, std locks and `LazyLock`, `errno`, `rand::thread_rng`, socket timeouts,
//! panics) from many busy coroutines, on 1 and on 2 workers.
//!
//! This library holds what the test files share:
//!
//! - [`child`]: every scenario runs in a child process of its own (the test binary re-run with
//!   that one test selected), so that a crash, an abort or a deadlock fails that test with the
//!   child's stderr, or with "hang (deadlock?)" after [`BOUND`], instead of taking the whole
//!   test binary down with it;
//! - [`runtime`], [`run`] and [`on_fresh_runtime`]: explicit runtimes with default settings
//!   (the only API whose name differed on the old scheduler, where `run` was `block_on`);
//! - [`spin_for`] and [`mix`]: busy work that makes no greenchan call; [`XorShift`] for choices;
//! - [`assert_unique`]: no repeated draw among many;
//! - [`quiet_panics`]: keeps the panics a scenario provokes on purpose out of stderr;
//! - [`alloc_churn`]: the allocation-heavy scenario the allocator binaries (`tests/mimalloc.rs`,
//!   `tests/jemalloc.rs`) each run under their own `#[global_allocator]`.
//!
//! Children inherit the environment: `GREENCHAN_ASYNCPREEMPT=0` given to the test run reaches
//! the scenarios (it may only turn unsafe behaviour off).

use std::any::Any;
use std::hint::black_box;
use std::io::Read;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use greenchan::{chan, go, Runtime};

/// Set in a child process to the name of the test whose scenario it runs.
pub const CHILD_ENV: &str = "GREENCHAN_SOUNDNESS_CHILD";

/// How long a scenario may run before its child is killed and the test fails as a hang. Every
/// scenario takes a few seconds at most; the bound is generous for a loaded 2-core machine.
pub const BOUND: Duration = Duration::from_secs(120);

/// What a child prints once its scenario has returned: a parent that does not see it ran no
/// scenario (a test name that does not match, say) and fails instead of passing vacuously.
const DONE_MARK: &str = "greenchan-soundness: scenario finished: ";

/// What a child printed.
#[derive(Debug)]
pub struct ChildOutput {
    pub stdout: String,
    pub stderr: String,
}

/// Runs `body` as the scenario of test `name` in a child process: the test binary re-run with
/// that test alone selected and [`CHILD_ENV`] set. In the parent, returns the child's output
/// once it has exited successfully, and panics (failing the test) if it crashed, aborted,
/// panicked or ran longer than [`BOUND`]. In the child, runs `body` and returns `None`.
///
/// `name` must be the test's own name (its path in the binary): the test calls `child` with it.
pub fn child(name: &str, body: impl FnOnce()) -> Option<ChildOutput> {
    if std::env::var(CHILD_ENV).as_deref() == Ok(name) {
        // The test harness has printed "test NAME ... " without a newline: end that line, so
        // the scenario's own output starts on a line of its own.
        println!();
        body();
        println!("{DONE_MARK}{name}");
        return None;
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut proc = Command::new(exe)
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, name)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot start the child process");
    let stdout = reader(proc.stdout.take().unwrap());
    let stderr = reader(proc.stderr.take().unwrap());
    let start = Instant::now();
    let status = loop {
        if let Some(status) = proc.try_wait().expect("waiting for the child") {
            break Some(status);
        }
        if start.elapsed() > BOUND {
            let _ = proc.kill();
            let _ = proc.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = ChildOutput {
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    };
    match status {
        None => panic!(
            "child {name}: hang (deadlock?): still running after {BOUND:?}, killed\n\
             --- stderr ---\n{}\n--- stdout (tail) ---\n{}",
            out.stderr,
            tail(&out.stdout)
        ),
        Some(status) if !status.success() => panic!(
            "child {name} failed: {}\n--- stderr ---\n{}\n--- stdout (tail) ---\n{}",
            describe(status),
            out.stderr,
            tail(&out.stdout)
        ),
        Some(_) => {}
    }
    assert!(
        out.stdout.contains(&format!("{DONE_MARK}{name}\n")),
        "child {name} exited successfully without running its scenario (is `{name}` the \
         test's exact name?)\n--- stdout (tail) ---\n{}",
        tail(&out.stdout)
    );
    Some(out)
}

fn reader(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = pipe.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    })
}

/// The last lines of a possibly huge output.
fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

fn describe(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match status.signal() {
        Some(sig) => {
            let name = match sig {
                4 => " (SIGILL)",
                6 => " (SIGABRT: abort)",
                7 => " (SIGBUS)",
                9 => " (SIGKILL)",
                11 => " (SIGSEGV: crash)",
                _ => "",
            };
            format!("killed by signal {sig}{name}")
        }
        None => format!("{status}"),
    }
}

/// A runtime with default settings and `workers` worker threads.
pub fn runtime(workers: usize) -> Runtime {
    Runtime::builder()
        .workers(workers)
        .build()
        .expect("cannot start a runtime")
}

/// Runs `f` as a coroutine on `rt` and returns its value (a panic in `f` resumes here).
pub fn run<T, F>(rt: &Runtime, f: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    rt.run(f)
}

/// Runs `f` on a fresh runtime of `workers` workers (fresh worker threads), then shuts the
/// runtime down; a shutdown that fails (a coroutine that would not finish) fails the scenario.
pub fn on_fresh_runtime<T, F>(workers: usize, f: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let rt = runtime(workers);
    let v = run(&rt, f);
    rt.shutdown()
        .expect("the runtime did not shut down cleanly");
    v
}

/// A 64-bit mixing function (splitmix64's finaliser): cheap, deterministic busy work and
/// patterns.
#[inline]
pub fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Computes for at least `d` without any greenchan call (a coroutine doing this is "busy":
/// only asynchronous preemption could switch it). The length is the workload's shape, never
/// something a test asserts.
pub fn spin_for(d: Duration) -> u64 {
    let start = Instant::now();
    let mut x = black_box(d.as_nanos() as u64);
    loop {
        for _ in 0..32 {
            x = mix(black_box(x));
        }
        if start.elapsed() >= d {
            return x;
        }
    }
}

/// A small deterministic generator (xorshift64*) for sizes and choices.
#[derive(Debug, Clone)]
pub struct XorShift(u64);

impl XorShift {
    pub fn new(seed: u64) -> XorShift {
        XorShift(mix(seed) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `lo..=hi` (close enough for sizes).
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next_u64() % (hi - lo + 1) as u64) as usize
    }
}

/// Panics if any value occurs twice in `all`, saying how many repeats there are.
pub fn assert_unique(mut all: Vec<u64>) {
    let n = all.len();
    all.sort_unstable();
    let repeats = all.windows(2).filter(|w| w[0] == w[1]).count();
    assert_eq!(repeats, 0, "{repeats} repeated draws among {n}");
}

/// Replaces the panic hook with one that stays silent for the panics a scenario provokes on
/// purpose (`expected` says which, from the payload) and reports every other panic as std's
/// default hook does.
pub fn quiet_panics(expected: fn(&(dyn Any + Send)) -> bool) {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !expected(info.payload()) {
            default(info);
        }
    }));
}

/// An allocation whose contents are a function of its tag, so that any corruption, a double
/// use or a premature free shows when it is verified.
#[derive(Debug)]
pub struct Block {
    tag: u64,
    payload: Payload,
}

#[derive(Debug)]
enum Payload {
    Bytes(Vec<u8>),
    Words(Vec<u64>),
    Boxed(Box<[u32; 48]>),
    Text(String),
    /// Many small allocations on purpose.
    #[allow(clippy::vec_box)]
    Nested(Vec<Box<u64>>),
}

const LETTERS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
/// Blocks up to this size get a pattern that varies byte by byte.
const SMALL: usize = 64;

/// The byte a large block of bytes is filled with.
fn big_byte(tag: u64) -> u8 {
    (tag as u8) | 1
}

impl Block {
    /// A block of a random kind and size (mostly tiny or small, some medium, a few large and
    /// huge): the work is mostly the allocator's.
    pub fn new(tag: u64, rng: &mut XorShift) -> Block {
        let class = rng.next_u64() % 64;
        let size = match class {
            0..=31 => rng.range(1, 32),
            32..=47 => rng.range(33, 512),
            48..=57 => rng.range(513, 8 << 10),
            58..=62 => rng.range(8 << 10, 128 << 10),
            _ => rng.range(128 << 10, 1 << 20),
        };
        let byte = |i: usize| (tag as u8).wrapping_add((i as u8).wrapping_mul(31));
        let payload = match rng.next_u64() % 8 {
            // Up to `SMALL` bytes a varied pattern; beyond, one byte value set by `memset` (the
            // point is the allocation, not the filling).
            0 if size <= SMALL => Payload::Bytes((0..size).map(byte).collect()),
            0 => Payload::Bytes(vec![big_byte(tag); size]),
            1 => Payload::Words(
                (0..size.min(SMALL).div_ceil(8))
                    .map(|i| tag ^ i as u64)
                    .collect(),
            ),
            2 => {
                let mut b = Box::new([0u32; 48]);
                for (i, w) in b.iter_mut().enumerate() {
                    *w = (tag as u32).wrapping_mul(7).wrapping_add(i as u32);
                }
                Payload::Boxed(b)
            }
            3 => {
                // Grown a character at a time: reallocations.
                let mut s = String::new();
                for i in 0..size.min(SMALL) {
                    s.push(LETTERS[(tag as usize + i) % LETTERS.len()] as char);
                }
                Payload::Text(s)
            }
            // Half the blocks: one allocation per element.
            _ => Payload::Nested(
                (0..size.min(64) as u64)
                    .map(|i| Box::new(tag.wrapping_add(i)))
                    .collect(),
            ),
        };
        Block { tag, payload }
    }

    /// Panics unless the contents are the ones [`Block::new`] wrote.
    pub fn verify(&self) {
        let tag = self.tag;
        let ok = match &self.payload {
            Payload::Bytes(v) if v.len() <= SMALL => v
                .iter()
                .enumerate()
                .all(|(i, &b)| b == (tag as u8).wrapping_add((i as u8).wrapping_mul(31))),
            // Both ends, and every 61st byte between.
            Payload::Bytes(v) => v[..64]
                .iter()
                .chain(&v[v.len() - 64..])
                .chain(v.iter().step_by(61))
                .all(|&b| b == big_byte(tag)),
            Payload::Words(v) => v.iter().enumerate().all(|(i, &w)| w == tag ^ i as u64),
            Payload::Boxed(b) => b
                .iter()
                .enumerate()
                .all(|(i, &w)| w == (tag as u32).wrapping_mul(7).wrapping_add(i as u32)),
            Payload::Text(s) => s
                .bytes()
                .enumerate()
                .all(|(i, c)| c == LETTERS[(tag as usize + i) % LETTERS.len()]),
            Payload::Nested(v) => v
                .iter()
                .enumerate()
                .all(|(i, b)| **b == tag.wrapping_add(i as u64)),
        };
        assert!(ok, "allocation {tag:#x} corrupted: {:?}", self.kind());
    }

    fn kind(&self) -> &'static str {
        match self.payload {
            Payload::Bytes(_) => "bytes",
            Payload::Words(_) => "words",
            Payload::Boxed(_) => "box",
            Payload::Text(_) => "string",
            Payload::Nested(_) => "boxes",
        }
    }
}

/// What one churning coroutine passes to the next.
enum Handoff {
    Block(Block),
    Done,
}

/// The allocator scenario: `coroutines` allocation-heavy coroutines on a fresh runtime of
/// `workers` workers, each for about `work`: it keeps a window of live blocks of varied kinds
/// and sizes, verifies and frees the oldest as it allocates new ones, and hands some of them to
/// the next coroutine in a ring (frees on another coroutine, often another thread). Every block
/// is verified before it is freed; at the end every coroutine drains what was handed to it.
/// Returns the number of blocks allocated.
///
/// `stack_size` is the coroutines' stack size, `None` for the runtime's default (64 KiB).
pub fn alloc_churn(
    workers: usize,
    coroutines: usize,
    work: Duration,
    stack_size: Option<usize>,
) -> u64 {
    on_fresh_runtime(workers, move || {
        let (txs, rxs): (Vec<_>, Vec<_>) = (0..coroutines).map(|_| chan::unbounded()).unzip();
        let handles: Vec<_> = (0..coroutines)
            .map(|id| {
                let next = txs[(id + 1) % coroutines].clone();
                let mine = rxs[id].clone();
                let mut builder = greenchan::Builder::new();
                if let Some(size) = stack_size {
                    builder = builder.stack_size(size);
                }
                go!(builder, move || churn(id as u64, work, next, mine)).unwrap()
            })
            .collect();
        drop((txs, rxs));
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    })
}

fn churn(
    id: u64,
    work: Duration,
    next: chan::Sender<Handoff>,
    mine: chan::Receiver<Handoff>,
) -> u64 {
    const WINDOW: usize = 128;
    let mut rng = XorShift::new(id);
    let mut live: Vec<Option<Block>> = (0..WINDOW).map(|_| None).collect();
    let start = Instant::now();
    let mut made = 0u64;
    let mut received = 0u64;
    let mut predecessor_done = false;
    while made % 64 != 0 || start.elapsed() < work {
        let slot = (made as usize) % WINDOW;
        if let Some(old) = live[slot].take() {
            old.verify();
            if made % 16 == 0 {
                next.send(Handoff::Block(old)).unwrap();
            }
        }
        live[slot] = Some(Block::new((id << 48) | made, &mut rng));
        made += 1;
        if made % 256 == 0 {
            while !predecessor_done {
                match mine.try_recv() {
                    Ok(Handoff::Block(b)) => {
                        b.verify();
                        received += 1;
                    }
                    Ok(Handoff::Done) => predecessor_done = true,
                    Err(_) => break,
                }
            }
        }
        if made % 2048 == 0 {
            greenchan::preempt_point();
        }
    }
    for b in live.into_iter().flatten() {
        b.verify();
    }
    next.send(Handoff::Done).unwrap();
    while !predecessor_done {
        match mine.recv().unwrap() {
            Handoff::Block(b) => {
                b.verify();
                received += 1;
            }
            Handoff::Done => predecessor_done = true,
        }
    }
    black_box(received);
    made
}
