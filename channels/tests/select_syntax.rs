//! crossbeam-channel's `select!` syntax, which DESIGN §2 adopts, in the forms its users write:
//! temporaries as operands (`recv(after(d))`, the usual way to bound a wait), patterns in the
//! result position (any irrefutable one, `mut` included), block bodies with and without trailing commas, and `default(timeout)` with
//! an expression. Kept apart from `select.rs` so that a form the macro does not accept fails
//! this file only.

mod common;

use std::time::{Duration, Instant};

use channels::{after, bounded, never, select, tick, unbounded, RecvError};
use common::in_coroutine;

#[test]
fn temporaries_as_operands() {
    in_coroutine(|| {
        let d = Duration::from_millis(10);
        let (_tx, rx) = bounded::<i32>(0);
        let start = Instant::now();
        let r = select! {
            recv(rx) -> _ => "value",
            recv(after(d)) -> t => { assert!(t.unwrap() >= start + d); "after" }
        };
        assert_eq!(r, "after");
        let r = select! {
            recv(never::<i32>()) -> _ => "never",
            recv(tick(d)) -> t => { assert!(t.is_ok()); "tick" }
        };
        assert_eq!(r, "tick");
        let chans = [unbounded::<i32>(), unbounded::<i32>()];
        chans[1].0.send(5).unwrap();
        let r = select! {
            recv(chans[0].1.clone()) -> _ => -1,
            recv(chans[1].1.clone()) -> v => v.unwrap(),
        };
        assert_eq!(r, 5);
        let r = select! {
            send(chans[0].0.clone(), 6) -> res => res.is_ok(),
        };
        assert!(r);
        assert_eq!(chans[0].1.try_recv(), Ok(6));
    });
}

#[test]
fn patterns_bodies_and_commas() {
    in_coroutine(|| {
        let (tx, rx) = bounded::<(i32, &str)>(1);
        tx.send((1, "one")).unwrap();
        let got = select! {
            recv(rx) -> mut msg => {
                let (n, s) = msg.as_mut().unwrap();
                *n += 1;
                format!("{n}{s}")
            }
            default => String::new(),
        };
        assert_eq!(got, "2one");
        drop(tx);
        let got = select! {
            recv(rx) -> msg => { assert_eq!(msg, Err(RecvError)); 1 }
            default => { 2 }
        };
        assert_eq!(got, 1);
        let timeout = Duration::from_millis(1);
        let nv = never::<()>();
        let got = select! {
            recv(nv) -> _ => 0,
            default(timeout * 2) => 3,
        };
        assert_eq!(got, 3);
        // Used as a statement, with unit bodies.
        let (tx, rx) = bounded::<u8>(1);
        select! {
            send(tx, 1) -> res => res.unwrap(),
        }
        select! {
            recv(rx) -> v => assert_eq!(v, Ok(1)),
        }
    });
}
