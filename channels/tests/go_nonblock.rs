//! Port of Go's `test/chan/nonblock.go` (golang/go): non-blocking sends and receives, over
//! channels of capacity 0 and 1 and of several element types (i32, i64, bool, String).
//!
//! For each type and capacity: a non-blocking receive on an empty channel fails; with a
//! receiver waiting, a non-blocking send succeeds (at once when there is room; for a
//! rendezvous channel, once the receiver is parked); with a sender waiting, a non-blocking
//! receive succeeds. Go waits for the other goroutine with sleeps; here the test retries the
//! non-blocking operation, yielding, until it succeeds (an event, bounded by the watchdog), and
//! checks that it never fails for any reason but "not ready yet". Each round is done with the
//! methods (`try_send`, `try_recv`) and with `select!` + `default`, in coroutines, on one
//! worker, and with the main side on a plain thread.

mod common;

use std::fmt::Debug;

use channels::{bounded, select, TryRecvError, TrySendError};
use common::{in_coroutine, on_one_worker, on_thread, wait_until};

#[derive(Clone, Copy, Debug)]
enum Form {
    Methods,
    Select,
}

/// One non-blocking send; `Ok(false)` means "not ready", anything closed is a failure.
fn nb_send<T: Clone + Debug>(form: Form, tx: &channels::Sender<T>, v: &T) -> bool {
    match form {
        Form::Methods => match tx.try_send(v.clone()) {
            Ok(()) => true,
            Err(TrySendError::Full(back)) => {
                assert_eq!(
                    format!("{back:?}"),
                    format!("{v:?}"),
                    "Full returns the value"
                );
                false
            }
            Err(TrySendError::Closed(_)) => panic!("channel closed unexpectedly"),
        },
        Form::Select => select! {
            send(tx, v.clone()) -> res => { res.expect("channel closed unexpectedly"); true },
            default => false,
        },
    }
}

/// One non-blocking receive; `None` means "not ready".
fn nb_recv<T>(form: Form, rx: &channels::Receiver<T>) -> Option<T> {
    match form {
        Form::Methods => match rx.try_recv() {
            Ok(v) => Some(v),
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Closed) => panic!("channel closed unexpectedly"),
        },
        Form::Select => select! {
            recv(rx) -> v => Some(v.expect("channel closed unexpectedly")),
            default => None,
        },
    }
}

fn round<T>(form: Form, buffer: usize, to_receiver: T, from_sender: T)
where
    T: Clone + Debug + PartialEq + Send + 'static,
{
    let (tx, rx) = bounded::<T>(buffer);
    let (sync_tx, sync_rx) = bounded::<()>(0);

    // Nothing to receive: the non-blocking receive reports "not ready".
    assert!(
        nb_recv(form, &rx).is_none(),
        "blocked sender? (buffer {buffer})"
    );

    // A receiver is (or will be) waiting: the non-blocking send goes through.
    let expect = to_receiver.clone();
    let (r, s) = (rx.clone(), sync_tx.clone());
    green::spawn(move || {
        assert_eq!(r.recv().unwrap(), expect, "value");
        s.send(()).unwrap();
    });
    if buffer > 0 {
        assert!(nb_send(form, &tx, &to_receiver), "room in the buffer");
    } else {
        wait_until("a non-blocking send to a waiting receiver", || {
            nb_send(form, &tx, &to_receiver)
        });
    }
    sync_rx.recv().unwrap();

    // A sender is (or will be) waiting: the non-blocking receive gets its value.
    let (t, s, v) = (tx.clone(), sync_tx.clone(), from_sender.clone());
    green::spawn(move || {
        t.send(v).unwrap();
        s.send(()).unwrap();
    });
    let got = if buffer > 0 {
        sync_rx.recv().unwrap(); // the send completed into the buffer
        nb_recv(form, &rx).expect("a buffered value is ready")
    } else {
        let mut got = None;
        wait_until("a non-blocking receive from a waiting sender", || {
            got = nb_recv(form, &rx);
            got.is_some()
        });
        sync_rx.recv().unwrap();
        got.unwrap()
    };
    assert_eq!(got, from_sender, "value");
    assert!(rx.is_empty());
}

fn nonblock() {
    for form in [Form::Methods, Form::Select] {
        for buffer in 0..2 {
            round::<i32>(form, buffer, 123, 234);
            round::<i64>(form, buffer, 123_456, 234_567);
            round::<bool>(form, buffer, true, true);
            round::<String>(form, buffer, "hello".into(), "hello again".into());
        }
    }
}

#[test]
fn nonblock_in_coroutines() {
    in_coroutine(nonblock);
}

#[test]
fn nonblock_on_one_worker() {
    on_one_worker(nonblock);
}

#[test]
fn nonblock_main_side_on_a_thread() {
    on_thread(nonblock);
}
