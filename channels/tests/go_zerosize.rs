//! Port of Go's `test/chan/zerosize.go` (golang/go), which only makes channels of zero-sized
//! types (`[0]byte`, `struct{}`), extended with crossbeam-channel's zero-sized-type themes: such
//! channels count, block, close, drain, select and drop their values like any other.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};

use channels::{bounded, select, unbounded, RecvError, TryRecvError, TrySendError};
use common::{in_coroutine, on_thread, scale};

#[derive(Debug, PartialEq)]
struct Empty;

#[test]
fn making_channels_of_zero_sized_types() {
    // The Go program itself.
    let _ = bounded::<[u8; 0]>(0);
    let _ = bounded::<[u8; 0]>(1);
    let _ = bounded::<()>(0);
    let _ = bounded::<()>(1);
    let _ = bounded::<Empty>(0);
    let _ = unbounded::<Empty>();
    assert_eq!(std::mem::size_of::<Empty>(), 0);
}

#[test]
fn zero_sized_values_are_counted_and_bounded() {
    in_coroutine(|| {
        let (tx, rx) = bounded::<()>(3);
        for _ in 0..3 {
            tx.send(()).unwrap();
        }
        assert_eq!((tx.len(), rx.len()), (3, 3));
        assert!(tx.is_full());
        assert!(matches!(tx.try_send(()), Err(TrySendError::Full(()))));
        assert_eq!(rx.try_iter().count(), 3);
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));

        let (tx, rx) = unbounded::<[u8; 0]>();
        let n = scale(100_000);
        for _ in 0..n {
            tx.send([]).unwrap();
        }
        assert_eq!(rx.len(), n);
        drop(tx);
        assert_eq!(rx.iter().count(), n, "drained after close");
        assert_eq!(rx.recv(), Err(RecvError));
    });
}

#[test]
fn zero_sized_rendezvous_and_select() {
    in_coroutine(|| {
        let (tx, rx) = bounded::<Empty>(0);
        let n = scale(10_000);
        let h = green::spawn(move || {
            for _ in 0..n {
                tx.send(Empty).unwrap();
            }
        });
        let (utx, urx) = unbounded::<()>();
        let mut got = 0;
        while got < n {
            select! {
                recv(rx) -> v => { assert_eq!(v, Ok(Empty)); got += 1; utx.send(()).unwrap(); }
                recv(urx) -> v => { assert_eq!(v, Ok(())); }
            }
        }
        h.join().unwrap();
        assert_eq!(rx.recv(), Err(RecvError), "the sender finished and left");
    });
}

#[test]
fn zero_sized_across_threads() {
    on_thread(|| {
        let (tx, rx) = bounded::<()>(1);
        let n = scale(20_000);
        let h = green::spawn(move || rx.iter().count());
        for _ in 0..n {
            tx.send(()).unwrap();
        }
        drop(tx);
        assert_eq!(h.join().unwrap(), n);
    });
}

static ZST_DROPS: AtomicUsize = AtomicUsize::new(0);

/// A zero-sized type with a destructor: buffered ones must still be dropped exactly once.
#[derive(Debug)]
struct DropZst;

impl Drop for DropZst {
    fn drop(&mut self) {
        ZST_DROPS.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn zero_sized_values_with_drop_are_dropped_once() {
    assert_eq!(std::mem::size_of::<DropZst>(), 0);
    let (tx, rx) = bounded::<DropZst>(10);
    for _ in 0..7 {
        tx.send(DropZst).unwrap();
    }
    drop(rx.recv().unwrap());
    assert_eq!(ZST_DROPS.load(Ordering::SeqCst), 1);
    let e = tx.send_timeout(DropZst, std::time::Duration::ZERO);
    assert!(e.is_ok(), "room for one more");
    let (utx, urx) = unbounded::<DropZst>();
    for _ in 0..5 {
        utx.send(DropZst).unwrap();
    }
    drop((tx, rx));
    assert_eq!(
        ZST_DROPS.load(Ordering::SeqCst),
        1 + 7,
        "buffered ones dropped with it"
    );
    drop(utx);
    drop(urx);
    assert_eq!(ZST_DROPS.load(Ordering::SeqCst), 1 + 7 + 5);
}
