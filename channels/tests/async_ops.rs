//! The async operations of the channel ends (`recv_async`, `send_async`, `stream`,
//! `into_stream`): tokio tasks and coroutines on one channel, cancel-safety (a dropped receive
//! loses no message, a dropped send delivers nothing), close, waker replacement, timer
//! channels. Cancellation is tested deterministically: a future polled once by hand (so that
//! it registers), an operation that completes against it, then the drop.
//!
//! Every wait is on an event, bounded by the watchdog or a generous timeout; nothing asserts
//! a duration beyond what the semantics promise (an `after(d)` is not received before `d`).

mod common;

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use channels::{
    after, bounded, never, select, tick, unbounded, Receiver, RecvError, Select, Sender,
};
use common::{in_coroutine, on_thread, scale, DropLedger, WATCHDOG};
use futures_core::{FusedFuture, FusedStream, Stream};

/// A waker that counts its wake-ups.
#[derive(Default)]
struct CountingWaker(AtomicUsize);

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

impl CountingWaker {
    fn new() -> (Arc<CountingWaker>, Waker) {
        let c = Arc::new(CountingWaker::default());
        let w = Waker::from(c.clone());
        (c, w)
    }
    fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

/// Polls `fut` once with `waker`.
fn poll_once<F: Future + Unpin>(fut: &mut F, waker: &Waker) -> Poll<F::Output> {
    Pin::new(fut).poll(&mut Context::from_waker(waker))
}

/// The next item of a stream.
async fn next<S: Stream + Unpin>(s: &mut S) -> Option<S::Item> {
    poll_fn(|cx| Pin::new(&mut *s).poll_next(cx)).await
}

fn tokio_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Runs `fut` on a fresh tokio runtime, failing the test after the watchdog's bound.
fn tokio_run<F: Future + Send + 'static>(fut: F) -> F::Output
where
    F::Output: Send + 'static,
{
    on_thread(move || {
        let rt = tokio_runtime();
        rt.block_on(async move {
            tokio::time::timeout(WATCHDOG, fut)
                .await
                .expect("watchdog: the async test body hangs")
        })
    })
}

#[test]
fn ready_operations_complete_at_the_first_poll() {
    let (waker_count, waker) = CountingWaker::new();
    let (tx, rx) = bounded(1);
    let mut send = tx.send_async(1);
    assert_eq!(poll_once(&mut send, &waker), Poll::Ready(Ok(())));
    assert!(send.is_terminated());
    let mut recv = rx.recv_async();
    assert_eq!(poll_once(&mut recv, &waker), Poll::Ready(Ok(1)));
    assert!(recv.is_terminated());
    drop((send, recv));
    // Closed: a send gives its value back, a receive reports the close.
    tx.close();
    let mut send = tx.send_async(2);
    match poll_once(&mut send, &waker) {
        Poll::Ready(Err(e)) => assert_eq!(e.into_inner(), 2),
        other => panic!("a send on a closed channel: {other:?}"),
    }
    assert_eq!(
        poll_once(&mut rx.recv_async(), &waker),
        Poll::Ready(Err(RecvError))
    );
    assert_eq!(waker_count.count(), 0);
}

/// A pending receive is woken by a send, which hands the value straight to it (a rendezvous
/// send completes against a waiting future), and the next poll returns it.
#[test]
fn a_pending_receive_is_woken_with_the_value() {
    for cap in [0, 1, usize::MAX] {
        let (tx, rx) = if cap == usize::MAX {
            unbounded()
        } else {
            bounded(cap)
        };
        let (count, waker) = CountingWaker::new();
        let mut fut = rx.recv_async();
        assert!(poll_once(&mut fut, &waker).is_pending());
        assert!(
            tx.try_send(7).is_ok(),
            "cap {cap}: a waiting future takes the value"
        );
        assert_eq!(count.count(), 1, "cap {cap}: woken once");
        assert!(rx.is_empty(), "cap {cap}: handed over, not buffered");
        assert_eq!(poll_once(&mut fut, &waker), Poll::Ready(Ok(7)));
    }
}

/// The deterministic cancel test for receives: a future polled once registers; a send hands
/// it the value; the future is dropped without being polled again. The value must be the next
/// one received. Without the give-back on drop, `try_recv` finds nothing.
#[test]
fn a_dropped_receive_loses_nothing() {
    for cap in [0, 1, 4, usize::MAX] {
        let (tx, rx) = if cap == usize::MAX {
            unbounded()
        } else {
            bounded(cap)
        };
        let (_count, waker) = CountingWaker::new();
        let mut fut = rx.recv_async();
        assert!(poll_once(&mut fut, &waker).is_pending());
        tx.try_send(1).unwrap(); // handed to the future
        drop(fut);
        assert_eq!(rx.try_recv(), Ok(1), "cap {cap}: the value came back");
        assert!(
            rx.try_recv().unwrap_err().is_empty(),
            "cap {cap}: exactly once"
        );
    }
}

/// A value given back goes first: before what was sent after it.
#[test]
fn a_given_back_value_keeps_its_place() {
    let (tx, rx) = bounded(2);
    let (_count, waker) = CountingWaker::new();
    let mut fut = rx.recv_async();
    assert!(poll_once(&mut fut, &waker).is_pending());
    tx.try_send(1).unwrap(); // handed to the future
    tx.try_send(2).unwrap(); // buffered
    drop(fut);
    assert_eq!(rx.try_recv(), Ok(1));
    assert_eq!(rx.try_recv(), Ok(2));
}

/// A value given back goes to a receiver already waiting, here a parked coroutine.
#[test]
fn a_given_back_value_goes_to_a_waiting_receiver() {
    in_coroutine(|| {
        let (tx, rx) = bounded::<u32>(0);
        let (_count, waker) = CountingWaker::new();
        let mut fut = rx.recv_async();
        assert!(poll_once(&mut fut, &waker).is_pending());
        tx.try_send(1).unwrap(); // handed to the future
        let rx2 = rx.clone();
        let waiting = green::spawn(move || rx2.recv());
        // Wait until the coroutine is parked on the channel: then a send could pair with it.
        let mut sel = Select::new();
        sel.send(&tx, 0);
        let _ = sel.ready(); // completes nothing
        drop(fut);
        assert_eq!(waiting.join().unwrap(), Ok(1));
        assert!(rx.try_recv().unwrap_err().is_empty());
    });
}

/// On a rendezvous channel a given-back value sits in the buffer above capacity; a sender
/// parked meanwhile must still wait for a receiver to take its own value, not be moved into
/// the buffer by the receive that takes the given-back one.
#[test]
fn a_given_back_value_does_not_turn_a_rendezvous_into_a_buffer() {
    in_coroutine(|| {
        let (tx, rx) = bounded::<u32>(0);
        let (_count, waker) = CountingWaker::new();
        let mut fut = rx.recv_async();
        assert!(poll_once(&mut fut, &waker).is_pending());
        tx.try_send(1).unwrap(); // handed to the future
        let tx2 = tx.clone();
        let sender = green::spawn(move || tx2.send(2));
        // Wait until the sender is parked: a receive is then ready.
        let mut sel = Select::new();
        sel.recv(&rx);
        let _ = sel.ready();
        drop(fut); // 1 goes back, into the buffer
        assert_eq!(rx.len(), 1);
        assert_eq!(rx.recv(), Ok(1));
        assert_eq!(
            rx.len(),
            0,
            "the parked sender's value was moved into the buffer"
        );
        assert!(
            !sender.is_finished(),
            "a rendezvous send completed with nobody receiving"
        );
        assert_eq!(rx.recv(), Ok(2));
        assert_eq!(sender.join().unwrap(), Ok(()));
    });
}

/// The deterministic cancel test for sends: a send future polled once registers with its
/// value; dropped, it delivers nothing, and the value is dropped once, with it.
#[test]
fn a_dropped_send_delivers_nothing() {
    for cap in [0, 1] {
        let ledger = DropLedger::new();
        let (tx, rx) = bounded(cap);
        if cap == 1 {
            tx.send(ledger.make(0)).unwrap(); // full
        }
        let (_count, waker) = CountingWaker::new();
        let mut fut = tx.send_async(ledger.make(1));
        assert!(poll_once(&mut fut, &waker).is_pending());
        drop(fut);
        assert_eq!(
            ledger.alive(),
            cap,
            "cap {cap}: the unsent value was dropped"
        );
        if cap == 1 {
            assert_eq!(rx.try_recv().unwrap().id, 0);
        }
        assert!(
            rx.try_recv().unwrap_err().is_empty(),
            "cap {cap}: nothing more"
        );
        drop((tx, rx));
        assert_eq!(ledger.alive(), 0);
        assert_eq!(ledger.dropped(), ledger.created());
    }
}

/// A send future whose value a receiver took before the future was polled again has sent it,
/// once: dropping the future then drops nothing and delivers nothing more.
#[test]
fn a_send_taken_before_the_drop_is_sent_once() {
    let ledger = DropLedger::new();
    let (tx, rx) = bounded(0);
    let (count, waker) = CountingWaker::new();
    let mut fut = tx.send_async(ledger.make(1));
    assert!(poll_once(&mut fut, &waker).is_pending());
    let got = rx.try_recv().expect("the pending send's value");
    assert_eq!(got.id, 1);
    assert_eq!(count.count(), 1);
    drop(fut);
    assert_eq!(ledger.alive(), 1, "only the received value is alive");
    assert!(rx.try_recv().unwrap_err().is_empty());
    drop(got);
    assert_eq!(ledger.dropped(), 1);
}

/// A pending send into a full buffer completes when a receive makes room (its value moves
/// into the buffer, in order).
#[test]
fn a_pending_send_completes_when_room_appears() {
    let (tx, rx) = bounded(1);
    tx.send(1).unwrap();
    let (count, waker) = CountingWaker::new();
    let mut fut = tx.send_async(2);
    assert!(poll_once(&mut fut, &waker).is_pending());
    assert_eq!(rx.recv(), Ok(1));
    assert_eq!(count.count(), 1);
    assert_eq!(poll_once(&mut fut, &waker), Poll::Ready(Ok(())));
    assert_eq!(rx.try_recv(), Ok(2));
}

/// Closing wakes waiting futures with errors: receives with `RecvError`, sends with their
/// value.
#[test]
fn close_wakes_pending_futures_with_errors() {
    let (tx, rx) = bounded::<u32>(0);
    let (rc, rw) = CountingWaker::new();
    let mut recvs: Vec<_> = (0..3).map(|_| rx.recv_async()).collect();
    for f in &mut recvs {
        assert!(poll_once(f, &rw).is_pending());
    }
    let (tx2, rx2) = bounded::<u32>(0);
    let (sc, sw) = CountingWaker::new();
    let mut sends: Vec<_> = (0..3).map(|i| tx2.send_async(i)).collect();
    for f in &mut sends {
        assert!(poll_once(f, &sw).is_pending());
    }
    assert!(tx.close());
    assert!(rx2.close());
    assert_eq!(rc.count(), 3);
    assert_eq!(sc.count(), 3);
    for f in &mut recvs {
        assert_eq!(poll_once(f, &rw), Poll::Ready(Err(RecvError)));
    }
    for (i, f) in sends.iter_mut().enumerate() {
        match poll_once(f, &sw) {
            Poll::Ready(Err(e)) => assert_eq!(e.into_inner(), i as u32),
            other => panic!("a send woken by a close: {other:?}"),
        }
    }
}

/// A future polled again with another waker: only the latest one is woken.
#[test]
fn the_latest_waker_is_woken() {
    let (tx, rx) = bounded::<u32>(0);
    let (first, w1) = CountingWaker::new();
    let (second, w2) = CountingWaker::new();
    let mut fut = rx.recv_async();
    assert!(poll_once(&mut fut, &w1).is_pending());
    assert!(poll_once(&mut fut, &w2).is_pending());
    tx.try_send(3).unwrap();
    assert_eq!((first.count(), second.count()), (0, 1));
    assert_eq!(poll_once(&mut fut, &w2), Poll::Ready(Ok(3)));

    let (first, w1) = CountingWaker::new();
    let (second, w2) = CountingWaker::new();
    let mut fut = tx.send_async(4);
    assert!(poll_once(&mut fut, &w1).is_pending());
    assert!(poll_once(&mut fut, &w2).is_pending());
    assert_eq!(rx.try_recv(), Ok(4));
    assert_eq!((first.count(), second.count()), (0, 1));
    assert_eq!(poll_once(&mut fut, &w2), Poll::Ready(Ok(())));
}

/// A tokio task and a coroutine play ping-pong over greenchan channels, both directions: the
/// task receives and sends with the async operations, the coroutine with the blocking ones.
#[test]
fn tokio_task_and_coroutine_ping_pong() {
    for cap in [0, 1, 16] {
        let rounds = scale(20_000) as u64;
        let (ping_tx, ping_rx) = bounded::<u64>(cap);
        let (pong_tx, pong_rx) = bounded::<u64>(cap);
        let coroutine = green::spawn(move || {
            let mut sum = 0;
            for i in 0..rounds {
                ping_tx.send(i).unwrap();
                sum += pong_rx.recv().unwrap();
            }
            sum
        });
        let served = tokio_run(async move {
            let mut n = 0u64;
            while let Ok(v) = ping_rx.recv_async().await {
                pong_tx.send_async(v * 2).await.unwrap();
                n += 1;
            }
            n
        });
        assert_eq!(served, rounds, "cap {cap}");
        assert_eq!(
            coroutine.join().unwrap(),
            (0..rounds).map(|i| i * 2).sum::<u64>(),
            "cap {cap}"
        );
    }
}

/// The same with the roles swapped: the tokio task leads, the coroutine echoes.
#[test]
fn coroutine_echoes_a_tokio_task() {
    for cap in [0, 4] {
        let rounds = scale(20_000) as u64;
        let (ping_tx, ping_rx) = bounded::<u64>(cap);
        let (pong_tx, pong_rx) = bounded::<u64>(cap);
        let echo = green::spawn(move || {
            for v in &ping_rx {
                pong_tx.send(v + 1).unwrap();
            }
        });
        let sum = tokio_run(async move {
            let mut sum = 0;
            for i in 0..rounds {
                ping_tx.send_async(i).await.unwrap();
                sum += pong_rx.recv_async().await.unwrap();
            }
            sum
        });
        assert_eq!(sum, (0..rounds).map(|i| i + 1).sum::<u64>(), "cap {cap}");
        echo.join().unwrap();
    }
}

/// Many tokio tasks and coroutines produce and consume on one channel; the tokio consumers
/// race every receive against a yield in `tokio::select!`, so that many receive futures are
/// dropped while pending, some after a value was handed to them, and half the coroutine
/// consumers receive in a `select!` with a timeout. Every message is received exactly once.
#[test]
fn mpmc_tokio_tasks_and_coroutines_exactly_once() {
    for cap in [0, 8] {
        const PRODUCERS: usize = 4; // per side
        const CONSUMERS: usize = 4; // per side
        let per = scale(5_000);
        let total = 2 * PRODUCERS * per;
        let (tx, rx) = bounded::<usize>(cap);
        let (got_tx, got_rx) = unbounded::<Vec<usize>>();
        let cancelled = Arc::new(AtomicUsize::new(0));

        let mut coroutines = Vec::new();
        for p in 0..PRODUCERS {
            let tx = tx.clone();
            coroutines.push(green::spawn(move || {
                for i in 0..per {
                    tx.send(p * per + i).unwrap();
                }
            }));
        }
        for c in 0..CONSUMERS {
            let (rx, got_tx) = (rx.clone(), got_tx.clone());
            coroutines.push(green::spawn(move || {
                if c % 2 == 0 {
                    got_tx.send(rx.iter().collect()).unwrap();
                    return;
                }
                // Half the coroutines select, with a timeout: their waiters are claimed by
                // compare-exchange, also by a cancelled future giving its value back.
                let mut got = Vec::new();
                loop {
                    select! {
                        recv(rx) -> v => match v {
                            Ok(v) => got.push(v),
                            Err(RecvError) => break,
                        },
                        default(Duration::from_micros(50)) => {}
                    }
                }
                got_tx.send(got).unwrap();
            }));
        }
        let (tx2, rx2, got_tx2, cancelled2) =
            (tx.clone(), rx.clone(), got_tx.clone(), cancelled.clone());
        drop((tx, rx, got_tx));
        tokio_run(async move {
            let mut tasks = Vec::new();
            for p in PRODUCERS..2 * PRODUCERS {
                let tx = tx2.clone();
                tasks.push(tokio::spawn(async move {
                    for i in 0..per {
                        tx.send_async(p * per + i).await.unwrap();
                    }
                }));
            }
            drop(tx2);
            for _ in 0..CONSUMERS {
                let (rx, got_tx, cancelled) = (rx2.clone(), got_tx2.clone(), cancelled2.clone());
                tasks.push(tokio::spawn(async move {
                    let mut got = Vec::new();
                    loop {
                        tokio::select! {
                            v = rx.recv_async() => match v {
                                Ok(v) => got.push(v),
                                Err(RecvError) => break,
                            },
                            _ = tokio::task::yield_now() => {
                                cancelled.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                    got_tx.send_async(got).await.unwrap();
                }));
            }
            drop((rx2, got_tx2));
            for t in tasks {
                t.await.unwrap();
            }
        });
        for c in coroutines {
            c.join().unwrap();
        }
        let mut all: Vec<usize> = got_rx.iter().flatten().collect();
        assert_eq!(
            all.len(),
            total,
            "cap {cap}: every message once (no loss, no duplicate)"
        );
        all.sort_unstable();
        assert!(all.iter().copied().eq(0..total), "cap {cap}: the exact set");
        assert!(
            cancelled.load(Ordering::Relaxed) > 0,
            "cap {cap}: no receive future was ever cancelled; the test did not test that"
        );
    }
}

/// `stream()` collects everything a coroutine sends, then ends at the close; `into_stream()`
/// the same from a spawned tokio task.
#[test]
fn streams_collect_everything_until_close() {
    let n = scale(10_000);
    for cap in [0, 3, usize::MAX] {
        let (tx, rx) = if cap == usize::MAX {
            unbounded()
        } else {
            bounded(cap)
        };
        let producer = green::spawn(move || {
            for i in 0..n {
                tx.send(i).unwrap();
            }
        });
        let got = tokio_run(async move {
            let mut s = rx.stream();
            let mut got = Vec::new();
            while let Some(v) = next(&mut s).await {
                got.push(v);
            }
            assert!(s.is_terminated());
            assert_eq!(next(&mut s).await, None, "it stays ended");
            got
        });
        assert!(got.iter().copied().eq(0..n), "cap {cap}");
        producer.join().unwrap();
    }

    let (tx, rx) = bounded(0);
    let producer = green::spawn(move || {
        for i in 0..n {
            tx.send(i).unwrap();
        }
    });
    let got = tokio_run(async move {
        let mut s = rx.into_stream();
        tokio::spawn(async move {
            let mut got = Vec::new();
            while let Some(v) = next(&mut s).await {
                got.push(v);
            }
            got
        })
        .await
        .unwrap()
    });
    assert!(got.iter().copied().eq(0..n));
    producer.join().unwrap();
}

/// A stream dropped while it waits, after a value was handed to it, gives the value back.
#[test]
fn a_dropped_stream_loses_nothing() {
    let (tx, rx) = bounded(0);
    let (_count, waker) = CountingWaker::new();
    let mut s = rx.stream();
    assert!(Pin::new(&mut s)
        .poll_next(&mut Context::from_waker(&waker))
        .is_pending());
    tx.try_send(5).unwrap();
    drop(s);
    assert_eq!(rx.try_recv(), Ok(5));
}

/// Timer channels: `after(d).recv_async()` completes with the due instant, not before it; a
/// `tick` stream delivers increasing instants; `never()` stays pending; a cancelled timer
/// future is harmless.
#[test]
fn timer_channels_work_asynchronously() {
    let d = Duration::from_millis(20);
    let (got, start) = tokio_run(async move {
        let start = Instant::now();
        let timer = after(d);
        (timer.recv_async().await, start)
    });
    let at = got.unwrap();
    assert!(at >= start + d, "received before it was due");
    assert!(Instant::now() >= at);

    let ticks = tokio_run(async {
        let t = tick(Duration::from_millis(2));
        let mut s = t.stream();
        let mut v = Vec::new();
        for _ in 0..5 {
            v.push(next(&mut s).await.unwrap());
        }
        v
    });
    assert!(ticks.windows(2).all(|w| w[0] < w[1]), "{ticks:?}");

    // Cancel a far timer, then wait for a near one: the far one's registration goes without
    // trace and the near one still fires.
    let got = tokio_run(async {
        let far = after(Duration::from_secs(3600));
        let (_c, w) = CountingWaker::new();
        let mut f = far.recv_async();
        assert!(poll_once(&mut f, &w).is_pending());
        drop(f);
        after(Duration::from_millis(1)).recv_async().await
    });
    assert!(got.is_ok());

    let (count, w) = CountingWaker::new();
    let n = never::<u8>();
    let mut f = n.recv_async();
    assert!(poll_once(&mut f, &w).is_pending());
    assert!(poll_once(&mut f, &w).is_pending());
    assert_eq!(count.count(), 0);
}

/// The same operations work from a coroutine through `block_on`, mixed with blocking ones.
#[test]
fn async_operations_from_a_coroutine() {
    in_coroutine(|| {
        let (tx, rx) = bounded::<u32>(0);
        let h = green::spawn(move || {
            for i in 0..100 {
                green::block_on(tx.send_async(i)).unwrap();
            }
        });
        let mut sum = 0;
        while let Ok(v) = green::block_on(rx.recv_async()) {
            sum += v;
        }
        h.join().unwrap();
        assert_eq!(sum, (0..100).sum::<u32>());
        let t0 = Instant::now();
        green::block_on(after(Duration::from_millis(2)).recv_async()).unwrap();
        assert!(t0.elapsed() >= Duration::from_millis(2));
    });
}

/// Senders and receivers used only by async code still close when the last one goes.
#[test]
fn dropping_handles_closes_for_async_parties() {
    let (tx, rx): (Sender<u8>, Receiver<u8>) = bounded(0);
    let (count, w) = CountingWaker::new();
    let mut f = rx.recv_async();
    assert!(poll_once(&mut f, &w).is_pending());
    drop(tx);
    assert_eq!(count.count(), 1);
    assert_eq!(poll_once(&mut f, &w), Poll::Ready(Err(RecvError)));

    let (tx, rx) = bounded::<u8>(0);
    let (count, w) = CountingWaker::new();
    let mut f = tx.send_async(9);
    assert!(poll_once(&mut f, &w).is_pending());
    drop(rx);
    assert_eq!(count.count(), 1);
    assert!(matches!(poll_once(&mut f, &w), Poll::Ready(Err(e)) if e.into_inner() == 9));
}

/// `SendFuture::cancel` says whether the send took effect: the value back if not (waiting,
/// never polled, or closed meanwhile), `None` if a receiver took it or the future completed.
#[test]
fn cancelling_a_send_tells_whether_it_happened() {
    let ledger = DropLedger::new();
    let (tx, rx) = bounded(0);
    let (_count, waker) = CountingWaker::new();

    let fut = tx.send_async(ledger.make(0));
    assert_eq!(fut.cancel().map(|v| v.id), Some(0), "never polled");

    let mut fut = tx.send_async(ledger.make(1));
    assert!(poll_once(&mut fut, &waker).is_pending());
    assert_eq!(fut.cancel().map(|v| v.id), Some(1), "waiting: withdrawn");
    assert!(
        rx.try_recv().unwrap_err().is_empty(),
        "a withdrawn send delivers nothing"
    );

    let mut fut = tx.send_async(ledger.make(2));
    assert!(poll_once(&mut fut, &waker).is_pending());
    assert_eq!(rx.try_recv().unwrap().id, 2);
    assert!(fut.cancel().is_none(), "taken by a receiver: sent");

    let mut fut = tx.send_async(ledger.make(3));
    assert!(poll_once(&mut fut, &waker).is_pending());
    rx.close();
    assert_eq!(fut.cancel().map(|v| v.id), Some(3), "closed: not sent");

    let mut fut = tx.send_async(ledger.make(4));
    assert!(matches!(poll_once(&mut fut, &waker), Poll::Ready(Err(_))));
    assert!(fut.cancel().is_none(), "completed: its output told");
    assert_eq!(ledger.alive(), 0);
    assert_eq!(ledger.dropped(), ledger.created());
}

/// `RecvFuture::cancel` keeps a value handed to the future instead of giving it back, and
/// withdraws a receive that got nothing.
#[test]
fn cancelling_a_receive_keeps_a_handed_value() {
    let (tx, rx) = bounded(1);
    let (_count, waker) = CountingWaker::new();
    let mut fut = rx.recv_async();
    assert!(poll_once(&mut fut, &waker).is_pending());
    assert_eq!(fut.cancel(), None);
    tx.try_send(1).unwrap();
    assert_eq!(
        rx.try_recv(),
        Ok(1),
        "the withdrawn receive left no entry behind"
    );

    let mut fut = rx.recv_async();
    assert!(poll_once(&mut fut, &waker).is_pending());
    tx.try_send(2).unwrap();
    assert_eq!(fut.cancel(), Some(2));
    assert!(
        rx.try_recv().unwrap_err().is_empty(),
        "kept, not given back as well"
    );

    let mut fut = rx.recv_async();
    tx.try_send(3).unwrap();
    assert_eq!(poll_once(&mut fut, &waker), Poll::Ready(Ok(3)));
    assert_eq!(fut.cancel(), None, "completed: its output had the value");
}

/// A waker that panics when woken.
struct PanickingWaker;

impl Wake for PanickingWaker {
    fn wake(self: Arc<Self>) {
        panic!("expected panic: a broken waker");
    }
}

/// A close that meets a panicking waker still finishes every other waiter: the panic reaches
/// the closer, and the other futures see the close instead of waiting forever.
#[test]
fn a_panicking_waker_does_not_strand_the_others_on_close() {
    let (tx, rx) = bounded::<u32>(0);
    let bad = Waker::from(Arc::new(PanickingWaker));
    let (count, good) = CountingWaker::new();
    let mut first = rx.recv_async();
    assert!(poll_once(&mut first, &bad).is_pending());
    let mut second = rx.recv_async();
    assert!(poll_once(&mut second, &good).is_pending());
    let closed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| tx.close()));
    assert!(closed.is_err(), "the waker's panic reaches the closer");
    if count.count() != 1 {
        // Unfinished: dropping it would wait for the claimer forever. Fail instead.
        std::mem::forget((first, second));
        panic!("the other waiter was stranded by the panicking waker");
    }
    assert_eq!(poll_once(&mut second, &good), Poll::Ready(Err(RecvError)));
    assert_eq!(poll_once(&mut first, &good), Poll::Ready(Err(RecvError)));
}
