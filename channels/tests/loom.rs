//! Model checks of the channel wake-up protocol with loom: the real channel and select code,
//! built with `--cfg loom` so its locks, atomics and park/unpark come from loom.
//! Run: `RUSTFLAGS="--cfg loom" cargo test -p greenchan-channels --release --test loom`.
//!
//! The select models bound preemptions (loom's `preemption_bound`) to keep the run to seconds;
//! select's case shuffle is off under loom, which needs deterministic replays.
//!
//! What loom cannot see: the value slots are plain memory, so a claimer's slot write always
//! looks atomic with its claim here. That ordering (claim, write the slot, then `finish`, and
//! the waiter reads only after `done`) is argued in `select::waiter` and exercised by the
//! release-mode stress tests.
#![cfg(loom)]

use loom::thread;
use select::select;

/// Explores every schedule with at most `bound` preemptions.
fn model(bound: usize, f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(bound);
    b.check(f);
}

#[test]
fn blocked_receiver_gets_the_value() {
    loom::model(|| {
        let (tx, rx) = channels::bounded::<i32>(1);
        let r = thread::spawn(move || rx.recv());
        tx.send(7).unwrap();
        assert_eq!(r.join().unwrap(), Ok(7));
    });
}

#[test]
fn rendezvous_hand_off_is_never_lost() {
    loom::model(|| {
        let (tx, rx) = channels::bounded::<i32>(0);
        let s = thread::spawn(move || tx.send(1));
        assert_eq!(rx.recv(), Ok(1));
        assert!(s.join().unwrap().is_ok());
    });
}

#[test]
fn two_receivers_race_for_one_value() {
    loom::model(|| {
        let (tx, rx) = channels::bounded::<i32>(1);
        let rx2 = rx.clone();
        let a = thread::spawn(move || rx2.recv().ok());
        tx.send(5).unwrap();
        drop(tx); // close: the loser wakes with Err
        let b = rx.recv().ok();
        let a = a.join().unwrap();
        assert_eq!(
            [a, b].iter().filter(|v| **v == Some(5)).count(),
            1,
            "exactly one receiver gets the value: {a:?} {b:?}"
        );
    });
}

#[test]
fn close_wakes_a_parked_receiver() {
    loom::model(|| {
        let (tx, rx) = channels::bounded::<i32>(0);
        let r = thread::spawn(move || rx.recv());
        tx.close();
        assert!(r.join().unwrap().is_err());
    });
}

/// Two selectors, each over the same two channels, race for one message; then its channel
/// closes (the other stays open and empty). Exactly one selector gets the message, the other
/// the close.
#[test]
fn two_selectors_race_for_one_message() {
    model(3, || {
        let (tx_a, rx_a) = channels::bounded::<i32>(1);
        let (tx_b, rx_b) = channels::bounded::<i32>(1);
        let selector = |rx_a: channels::Receiver<i32>, rx_b: channels::Receiver<i32>| {
            move || {
                select! {
                    recv(rx_a) -> v => v.ok(),
                    recv(rx_b) -> v => v.ok(),
                }
            }
        };
        let s1 = thread::spawn(selector(rx_a.clone(), rx_b.clone()));
        let s2 = thread::spawn(selector(rx_a, rx_b));
        tx_a.send(5).unwrap();
        drop(tx_a);
        let got = [s1.join().unwrap(), s2.join().unwrap()];
        assert_eq!(
            got.iter().filter(|v| **v == Some(5)).count(),
            1,
            "exactly one selector gets the message: {got:?}"
        );
        drop(tx_b);
    });
}

/// A close while a selector is registering on two channels wakes it with the close.
#[test]
fn close_wakes_a_parking_selector() {
    model(4, || {
        let (tx_a, rx_a) = channels::bounded::<i32>(0);
        let (_tx_b, rx_b) = channels::bounded::<i32>(0);
        let r = thread::spawn(move || {
            select! {
                recv(rx_a) -> v => v.is_err(),
                recv(rx_b) -> _ => false,
            }
        });
        tx_a.close();
        assert!(r.join().unwrap(), "the selector saw the close of a");
    });
}

/// A selector sending on one rendezvous channel and receiving on another meets a receiver
/// on the first: the value is handed over exactly once and the selector reports the send.
#[test]
fn select_send_meets_a_receiver() {
    model(4, || {
        let (tx, rx) = channels::bounded::<i32>(0);
        let (_tx2, rx2) = channels::bounded::<i32>(0);
        let s = thread::spawn(move || {
            select! {
                send(tx, 9) -> res => res.is_ok(),
                recv(rx2) -> _ => false,
            }
        });
        assert_eq!(rx.recv(), Ok(9));
        assert!(s.join().unwrap(), "the send arm completed");
    });
}

/// `Select::ready` watching a rendezvous receive wakes when a sender parks: the watch is
/// registered and notified under the channel's lock, so no schedule loses the wake-up; and it
/// took nothing (the value is still the sender's to hand over).
#[test]
fn ready_sees_a_sender_arrive() {
    model(3, || {
        let (tx, rx) = channels::bounded::<i32>(0);
        let s = thread::spawn(move || tx.send(3));
        let mut sel = channels::Select::new();
        let r = sel.recv(&rx);
        assert_eq!(sel.ready(), r);
        assert_eq!(rx.recv(), Ok(3));
        assert!(s.join().unwrap().is_ok());
    });
}

/// A timed select whose deadline has already passed still registers once, so a value that
/// lands on the first channel while it looks at the second is not missed: with the partner
/// moving the only value from `a` to `b`, some arm is ready at every instant.
#[test]
fn zero_timeout_select_misses_no_moving_value() {
    model(3, || {
        let (tx_a, rx_a) = channels::bounded::<i32>(1);
        let (tx_b, rx_b) = channels::bounded::<i32>(1);
        tx_a.send(1).unwrap();
        let rx_a2 = rx_a.clone();
        let mover = thread::spawn(move || {
            tx_b.send(2).unwrap();
            let _ = rx_a2.try_recv();
        });
        let found = select! {
            recv(rx_b) -> _ => true,
            recv(rx_a) -> _ => true,
            default(std::time::Duration::ZERO) => false,
        };
        assert!(found, "some arm was ready at every instant");
        mover.join().unwrap();
        drop(tx_a);
    });
}

/// A waker that counts its wake-ups in a loom atomic, so that loom orders them.
struct Flag(loom::sync::atomic::AtomicUsize);

impl std::task::Wake for Flag {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Flag {
    fn new() -> (std::sync::Arc<Flag>, std::task::Waker) {
        let f = std::sync::Arc::new(Flag(loom::sync::atomic::AtomicUsize::new(0)));
        (f.clone(), std::task::Waker::from(f))
    }
    fn count(&self) -> usize {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

fn poll_once<F: std::future::Future + Unpin>(
    f: &mut F,
    waker: &std::task::Waker,
) -> std::task::Poll<F::Output> {
    std::future::Future::poll(
        std::pin::Pin::new(f),
        &mut std::task::Context::from_waker(waker),
    )
}

/// A pending `recv_async` future is dropped while a sender hands it the value (the waker
/// waiter's claim and the owner's cancel race under the channel's lock, and the owner settles
/// a claim that is not finished yet): in every schedule the value is received once, by the
/// next receive.
#[test]
fn dropped_async_receive_loses_nothing() {
    loom::model(|| {
        let (tx, rx) = channels::bounded::<i32>(0);
        let (_flag, waker) = Flag::new();
        let mut fut = rx.recv_async();
        assert!(poll_once(&mut fut, &waker).is_pending());
        let s = thread::spawn(move || tx.send(1));
        drop(fut);
        assert_eq!(rx.recv(), Ok(1));
        assert!(s.join().unwrap().is_ok());
    });
}

/// A pending `recv_async` future is woken by a send, and the poll after the wake-up is ready
/// with the value: `done` is published before the waker is woken.
#[test]
fn async_receive_is_woken_then_ready() {
    loom::model(|| {
        let (tx, rx) = channels::bounded::<i32>(0);
        let (flag, waker) = Flag::new();
        let mut fut = rx.recv_async();
        assert!(poll_once(&mut fut, &waker).is_pending());
        let s = thread::spawn(move || tx.send(1));
        while flag.count() == 0 {
            thread::yield_now();
        }
        assert_eq!(poll_once(&mut fut, &waker), std::task::Poll::Ready(Ok(1)));
        assert!(s.join().unwrap().is_ok());
    });
}

/// A pending future polled again with a new waker while a sender claims it: either the poll
/// sees the claim (ready), or the sender wakes the new waker, never only the replaced one.
#[test]
fn async_receive_replacing_its_waker_races_a_send() {
    loom::model(|| {
        let (tx, rx) = channels::bounded::<i32>(0);
        let (first, w1) = Flag::new();
        let (second, w2) = Flag::new();
        let mut fut = rx.recv_async();
        assert!(poll_once(&mut fut, &w1).is_pending());
        let s = thread::spawn(move || tx.send(1));
        if poll_once(&mut fut, &w2).is_pending() {
            while second.count() == 0 {
                thread::yield_now();
            }
            assert_eq!(poll_once(&mut fut, &w2), std::task::Poll::Ready(Ok(1)));
            assert_eq!(first.count(), 0, "the replaced waker was woken");
        }
        assert!(s.join().unwrap().is_ok());
    });
}

/// A value that counts its drops.
struct Counted(std::sync::Arc<loom::sync::atomic::AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A pending `send_async` future is dropped while a receiver comes for its value: the value
/// is either received (the send happened) or dropped with the future (withdrawn), once.
#[test]
fn dropped_async_send_delivers_at_most_once() {
    loom::model(|| {
        let drops = std::sync::Arc::new(loom::sync::atomic::AtomicUsize::new(0));
        let (tx, rx) = channels::bounded::<Counted>(0);
        let (_flag, waker) = Flag::new();
        let mut fut = tx.send_async(Counted(drops.clone()));
        assert!(poll_once(&mut fut, &waker).is_pending());
        let r = thread::spawn(move || rx.recv().is_ok());
        drop(fut);
        drop(tx); // closes: a receiver that found nothing wakes with Err
        let _received = r.join().unwrap();
        assert_eq!(drops.load(std::sync::atomic::Ordering::SeqCst), 1);
    });
}

/// `SendFuture::cancel` races a receiver for a pending send's value: exactly one of them ends
/// up with it (the receiver: it was sent; the canceller: it was not).
#[test]
fn cancelled_async_send_is_sent_or_returned() {
    loom::model(|| {
        let (tx, rx) = channels::bounded::<i32>(0);
        let (_flag, waker) = Flag::new();
        let mut fut = tx.send_async(1);
        assert!(poll_once(&mut fut, &waker).is_pending());
        let r = thread::spawn(move || rx.try_recv().ok());
        let back = fut.cancel();
        let got = r.join().unwrap();
        assert!(
            back.is_some() != got.is_some(),
            "the value must be either returned or received: {back:?} {got:?}"
        );
    });
}

/// A stream reuses its waiter for the next item (`WakerWaiter::rearm`): two values sent by
/// another thread arrive in order, each wake-up followed by a ready poll.
#[test]
fn stream_rearms_its_waiter_for_the_next_item() {
    model(3, || {
        let (tx, rx) = channels::bounded::<i32>(0);
        let (flag, waker) = Flag::new();
        let s = thread::spawn(move || {
            tx.send(1).unwrap();
            tx.send(2).unwrap();
        });
        let mut stream = rx.stream();
        let mut got = Vec::new();
        let mut seen = 0;
        while got.len() < 2 {
            let polled = futures_core::Stream::poll_next(
                std::pin::Pin::new(&mut stream),
                &mut std::task::Context::from_waker(&waker),
            );
            match polled {
                std::task::Poll::Ready(v) => got.push(v.unwrap()),
                std::task::Poll::Pending => {
                    while flag.count() == seen {
                        thread::yield_now();
                    }
                    seen = flag.count();
                }
            }
        }
        assert_eq!(got, [1, 2]);
        s.join().unwrap();
    });
}
