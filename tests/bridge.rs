//! The async bridge through the facade: coroutines awaiting futures of a tokio runtime that runs
//! on its own threads (`greenchan::block_on`), tokio tasks awaiting coroutines
//! (`JoinHandle: IntoFuture`), and the two exchanging values. Every wait is on an event and
//! bounded; nothing asserts a timing.

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use greenchan::{chan, go};

/// Generous bound for any single wait: CI is a loaded 2-core machine.
const BOUND: Duration = Duration::from_secs(60);

fn tokio_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// 1,000 coroutines park in `block_on` on tokio futures (half a oneshot that a tokio task
/// completes, half a tokio timer) while other coroutines keep exchanging messages: those finish
/// their work before any awaited future is released, so they ran while the 1,000 were parked.
#[test]
fn thousand_coroutines_await_tokio_while_others_run() {
    const AWAITERS: usize = 1_000;
    const ROUNDS: usize = 1_000;
    let rt = tokio_runtime();
    let handle = rt.handle().clone();

    // The tokio side: holds every oneshot sender until `release` fires.
    let (senders_tx, mut senders_rx) = tokio::sync::mpsc::unbounded_channel();
    let release = Arc::new(tokio::sync::Notify::new());
    let release2 = release.clone();
    let releaser = rt.spawn(async move {
        release2.notified().await;
        let mut n = 0;
        while let Ok((i, tx)) = senders_rx.try_recv() {
            let tx: tokio::sync::oneshot::Sender<usize> = tx;
            tx.send(i).unwrap();
            n += 1;
        }
        n
    });

    let done = Arc::new(AtomicUsize::new(0));
    let (parked_tx, parked_rx) = chan::unbounded::<()>();
    let awaiters: Vec<_> = (0..AWAITERS)
        .map(|i| {
            let (handle, done, parked_tx) = (handle.clone(), done.clone(), parked_tx.clone());
            let senders_tx = senders_tx.clone();
            go!(move || {
                let got = if i % 2 == 0 {
                    let (tx, rx) = tokio::sync::oneshot::channel();
                    senders_tx.send((i, tx)).unwrap();
                    parked_tx.send(()).unwrap();
                    greenchan::block_on(rx).unwrap()
                } else {
                    // A tokio timer: created inside the runtime's context (entered only for the
                    // creation, never across a greenchan call), polled here.
                    let sleep = {
                        let _enter = handle.enter();
                        tokio::time::sleep(Duration::from_millis(1))
                    };
                    parked_tx.send(()).unwrap();
                    greenchan::block_on(sleep);
                    i
                };
                done.fetch_add(1, Ordering::SeqCst);
                got
            })
        })
        .collect();
    drop(senders_tx);
    for _ in 0..AWAITERS {
        parked_rx.recv_timeout(BOUND).unwrap();
    }

    // Other coroutines keep running: a ping-pong over rendezvous channels, to the end, while
    // the oneshot half of the awaiters cannot have finished (nothing is released yet).
    let (ping_tx, ping_rx) = chan::bounded::<usize>(0);
    let (pong_tx, pong_rx) = chan::bounded::<usize>(0);
    let echo = go!(move || {
        for v in &ping_rx {
            pong_tx.send(v + 1).unwrap();
        }
    });
    let player = go!(move || {
        let mut sum = 0;
        for i in 0..ROUNDS {
            ping_tx.send(i).unwrap();
            sum += pong_rx.recv().unwrap();
        }
        sum
    });
    assert_eq!(
        player.join().unwrap(),
        (0..ROUNDS).map(|i| i + 1).sum::<usize>()
    );
    echo.join().unwrap();
    assert!(
        done.load(Ordering::SeqCst) <= AWAITERS / 2,
        "a oneshot awaiter finished before its value was sent"
    );

    release.notify_one();
    let released = rt.block_on(async {
        tokio::time::timeout(BOUND, releaser)
            .await
            .unwrap()
            .unwrap()
    });
    assert_eq!(released, AWAITERS / 2);
    for (i, h) in awaiters.into_iter().enumerate() {
        assert_eq!(h.join().unwrap(), i);
    }
    assert_eq!(done.load(Ordering::SeqCst), AWAITERS);
}

/// A tokio task awaits coroutines' handles: values and panics come back as `join` gives them.
#[test]
fn tokio_task_awaits_join_handles() {
    let rt = tokio_runtime();
    let (gate_tx, gate_rx) = chan::bounded::<()>(0);
    let got = rt.block_on(async move {
        let waits: Vec<_> = (0..100u64)
            .map(|i| {
                let gate_rx = gate_rx.clone();
                let h = go!(move || {
                    let _ = gate_rx.recv(); // closed below: every coroutine waits for it
                    i * 2
                });
                tokio::spawn(async move { h.await.unwrap() })
            })
            .collect();
        // The coroutines are still parked on the gate: the tokio tasks are pending on them.
        drop(gate_tx);
        let mut sum = 0;
        for w in waits {
            sum += tokio::time::timeout(BOUND, w).await.unwrap().unwrap();
        }
        let failed = go!(|| -> u32 { panic!("expected panic: delivered to the awaiting task") });
        let err = failed.await.unwrap_err();
        assert_eq!(
            err.downcast_ref::<&str>(),
            Some(&"expected panic: delivered to the awaiting task")
        );
        sum
    });
    assert_eq!(got, (0..100u64).map(|i| i * 2).sum::<u64>());
}

/// A coroutine and a tokio task play ping-pong over two tokio channels, the coroutine through
/// `block_on`.
#[test]
fn coroutine_and_tokio_task_exchange_values() {
    const ROUNDS: u64 = 1_000;
    let rt = tokio_runtime();
    let (to_tokio, mut from_coroutine) = tokio::sync::mpsc::channel::<u64>(1);
    let (to_coroutine, mut from_tokio) = tokio::sync::mpsc::channel::<u64>(1);
    let task = rt.spawn(async move {
        let mut n = 0;
        while let Some(v) = from_coroutine.recv().await {
            to_coroutine.send(v * 2).await.unwrap();
            n += 1;
        }
        n
    });
    let sum = greenchan::run(move || {
        let player = go!(move || {
            let mut sum = 0;
            for i in 0..ROUNDS {
                greenchan::block_on(to_tokio.send(i)).unwrap();
                sum += greenchan::block_on(from_tokio.recv()).unwrap();
            }
            sum
        });
        player.join().unwrap()
    });
    assert_eq!(sum, (0..ROUNDS).map(|i| i * 2).sum::<u64>());
    let rounds = rt.block_on(async { tokio::time::timeout(BOUND, task).await.unwrap().unwrap() });
    assert_eq!(rounds, ROUNDS);
}

/// A future that wakes itself `n` times before it is ready, and keeps a clone of the last
/// waker it saw.
struct WakeSelf {
    left: usize,
    kept: Arc<Mutex<Option<Waker>>>,
}

impl Future for WakeSelf {
    type Output = &'static str;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<&'static str> {
        *self.kept.lock().unwrap() = Some(cx.waker().clone());
        if self.left == 0 {
            return Poll::Ready("ready");
        }
        self.left -= 1;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// Wake-ups during the poll, extra wake-ups after `block_on` returned and after the coroutine
/// ended, and `block_on` on a plain thread: all harmless.
#[test]
fn block_on_tolerates_early_late_and_stray_wakeups() {
    let kept = Arc::new(Mutex::new(None));
    let k = kept.clone();
    let h = go!(move || {
        let got = greenchan::block_on(WakeSelf {
            left: 100,
            kept: k.clone(),
        });
        // A stray wake-up of the finished `block_on` makes at most one later park spurious.
        k.lock().unwrap().as_ref().unwrap().wake_by_ref();
        greenchan::yield_now();
        got
    });
    assert_eq!(h.join().unwrap(), "ready");
    // The coroutine has ended: its waker still works (it does nothing).
    let waker = kept.lock().unwrap().take().unwrap();
    for _ in 0..10 {
        waker.wake_by_ref();
    }
    waker.wake();

    // On a plain thread it blocks the thread.
    let kept = Arc::new(Mutex::new(None));
    assert_eq!(greenchan::block_on(WakeSelf { left: 3, kept }), "ready");
    assert_eq!(greenchan::block_on(std::future::ready(5)), 5);
}

/// Counts its wake-ups and signals each.
struct CountingWaker(AtomicUsize, std::sync::mpsc::Sender<()>);

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
        let _ = self.1.send(());
    }
}

/// A `JoinFuture` polled with one waker, then another: only the last one is woken when the
/// coroutine ends, and the result is then ready.
#[test]
fn join_future_wakes_the_latest_waker() {
    let (gate_tx, gate_rx) = chan::bounded::<()>(0);
    let mut fut = go!(move || {
        gate_rx.recv().unwrap();
        "finished"
    })
    .into_future();
    let (signal, woken) = std::sync::mpsc::channel();
    let first = Arc::new(CountingWaker(AtomicUsize::new(0), signal.clone()));
    let second = Arc::new(CountingWaker(AtomicUsize::new(0), signal));
    let (w1, w2) = (Waker::from(first.clone()), Waker::from(second.clone()));
    assert!(Pin::new(&mut fut)
        .poll(&mut Context::from_waker(&w1))
        .is_pending());
    assert!(Pin::new(&mut fut)
        .poll(&mut Context::from_waker(&w2))
        .is_pending());
    assert!(!fut.is_finished());
    gate_tx.send(()).unwrap();
    woken.recv_timeout(BOUND).expect("never woken");
    assert_eq!(second.0.load(Ordering::SeqCst), 1);
    assert_eq!(first.0.load(Ordering::SeqCst), 0);
    match Pin::new(&mut fut).poll(&mut Context::from_waker(&w2)) {
        Poll::Ready(r) => assert_eq!(r.unwrap(), "finished"),
        Poll::Pending => panic!("woken but not ready"),
    }
}

/// Awaiting a coroutine that already finished is ready at the first poll; a handle awaited in
/// a coroutine (through `block_on`) works as `join` does.
#[test]
fn join_future_of_a_finished_coroutine_and_from_a_coroutine() {
    let h = go!(|| 1);
    while !h.is_finished() {
        std::thread::yield_now();
    }
    assert_eq!(greenchan::block_on(h.into_future()).unwrap(), 1);
    let outer = go!(|| {
        let inner = go!(|| {
            greenchan::yield_now();
            2
        });
        greenchan::block_on(async { inner.await.unwrap() + 1 })
    });
    assert_eq!(outer.join().unwrap(), 3);
}

/// A waker that signals which one it is.
struct Signal(usize, std::sync::mpsc::Sender<usize>);

impl Wake for Signal {
    fn wake(self: Arc<Self>) {
        let _ = self.1.send(self.0);
    }
}

/// Re-registering a waker races with the coroutine's end, many times: no wake-up is lost (a
/// pending poll is always followed by a wake of the last waker given) and a replaced waker is
/// never woken.
#[test]
fn join_future_reregistration_races_with_the_end() {
    for i in 0..2_000u32 {
        // Fresh wakers each round: a wake-up may land after the round saw the result.
        let (tx, rx) = std::sync::mpsc::channel();
        let a = Waker::from(Arc::new(Signal(0, tx.clone())));
        let b = Waker::from(Arc::new(Signal(1, tx)));
        let mut fut = go!(move || {
            if i % 2 == 0 {
                greenchan::yield_now();
            }
            i
        })
        .into_future();
        let mut last = None;
        let got = loop {
            // Poll with one waker, then at once with the other, racing the coroutine's end.
            let mut ready = None;
            for (id, w) in [(0, &a), (1, &b)] {
                if let Poll::Ready(r) = Pin::new(&mut fut).poll(&mut Context::from_waker(w)) {
                    ready = Some(r);
                    break;
                }
                last = Some(id);
            }
            if let Some(r) = ready {
                break r;
            }
            let woken = rx.recv_timeout(BOUND).expect("a wake-up was lost");
            assert_eq!(Some(woken), last, "a replaced waker was woken");
        };
        assert_eq!(got.unwrap(), i);
        // Any wake-up left over belongs to the last waker registered.
        drop((a, b, fut));
        while let Ok(woken) = rx.recv_timeout(Duration::ZERO) {
            assert_eq!(Some(woken), last);
        }
    }
}

/// A tokio task and a coroutine ping-pong over greenchan channels, rendezvous and buffered:
/// the task with `recv_async`/`send_async`, the coroutine with the blocking operations.
#[test]
fn tokio_task_and_coroutine_ping_pong_over_greenchan_channels() {
    const ROUNDS: u64 = 2_000;
    let rt = tokio_runtime();
    for cap in [0, 8] {
        let (ping_tx, ping_rx) = chan::bounded::<u64>(cap);
        let (pong_tx, pong_rx) = chan::bounded::<u64>(cap);
        let task = rt.spawn(async move {
            let mut n = 0;
            while let Ok(v) = ping_rx.recv_async().await {
                pong_tx.send_async(v * 3).await.unwrap();
                n += 1;
            }
            n
        });
        let sum = greenchan::run(move || {
            let mut sum = 0;
            for i in 0..ROUNDS {
                ping_tx.send(i).unwrap();
                sum += pong_rx.recv().unwrap();
            }
            sum
        });
        assert_eq!(sum, (0..ROUNDS).map(|i| i * 3).sum::<u64>(), "cap {cap}");
        let served =
            rt.block_on(async { tokio::time::timeout(BOUND, task).await.unwrap().unwrap() });
        assert_eq!(served, ROUNDS, "cap {cap}");
    }
}

/// A tokio task's receive, dropped while pending after a coroutine handed it a value, loses
/// nothing: the coroutine's next receive gets the value. The hand-off is forced: the
/// coroutine sends only once the tokio side has registered (it told us so), and the tokio side
/// drops the future only after the send completed.
#[test]
fn a_cancelled_tokio_receive_loses_nothing() {
    let rt = tokio_runtime();
    let (tx, rx) = chan::bounded::<u32>(0);
    let (registered_tx, registered_rx) = chan::bounded::<()>(1);
    let (sent_tx, sent_rx) = chan::bounded::<()>(1);
    let rx2 = rx.clone();
    let task = rt.spawn(async move {
        let mut fut = rx2.recv_async();
        // One poll registers the receive.
        let first = std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut fut).poll(cx))).await;
        assert!(first.is_pending());
        registered_tx.send_async(()).await.unwrap();
        sent_rx.recv_async().await.unwrap();
        drop(fut); // cancelled, with the value in it
    });
    let got = greenchan::run(move || {
        registered_rx.recv().unwrap();
        tx.send(11).unwrap(); // completes against the registered future
        sent_tx.send(()).unwrap();
        rx.recv_timeout(BOUND)
    });
    assert_eq!(got, Ok(11));
    rt.block_on(async { tokio::time::timeout(BOUND, task).await.unwrap().unwrap() });
}

/// `stream()` from a tokio task collects what coroutines send until the channel closes.
#[test]
fn tokio_task_streams_what_coroutines_send() {
    let rt = tokio_runtime();
    let (tx, rx) = chan::unbounded::<usize>();
    let producers: Vec<_> = (0..4)
        .map(|p| {
            let tx = tx.clone();
            go!(move || {
                for i in 0..250 {
                    tx.send(p * 250 + i).unwrap();
                }
            })
        })
        .collect();
    drop(tx);
    let mut got = rt.block_on(async move {
        let mut stream = rx.stream();
        let mut got = Vec::new();
        while let Some(v) =
            std::future::poll_fn(|cx| futures_core::Stream::poll_next(Pin::new(&mut stream), cx))
                .await
        {
            got.push(v);
        }
        got
    });
    for p in producers {
        p.join().unwrap();
    }
    got.sort_unstable();
    assert!(got.into_iter().eq(0..1_000));
}
