//! The facade as a user meets it: `go!` in both forms, `run`, and the re-exported runtime API.

use std::time::Duration;

use greenchan::{go, Builder, Runtime};

#[test]
fn go_macro_both_forms() {
    let a = go!(|| 1);
    let b = go!(Builder::new().name("b".into()), || {
        greenchan::current().name().map(str::to_owned)
    })
    .unwrap();
    assert_eq!(a.join().unwrap(), 1);
    assert_eq!(b.join().unwrap().as_deref(), Some("b"));
    // Bad input through the builder form is an error value.
    assert!(go!(Builder::new().stack_size(0), || ()).is_err());
}

#[test]
fn run_returns_the_value_and_resumes_panics() {
    assert_eq!(greenchan::run(|| go!(|| 40).join().unwrap() + 2), 42);
    let caught = std::panic::catch_unwind(|| greenchan::run(|| panic!("inside run")));
    assert!(caught.is_err());
    // The global runtime is unharmed.
    assert_eq!(greenchan::run(|| 7), 7);
}

#[test]
fn coroutines_spawned_in_run_outlive_it() {
    let (tx, rx) = std::sync::mpsc::channel();
    greenchan::run(move || {
        go!(move || {
            greenchan::sleep(Duration::from_millis(20));
            tx.send("still running").unwrap();
        });
    });
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(60)).unwrap(),
        "still running"
    );
}

#[test]
fn explicit_runtime_through_the_facade() {
    let rt = Runtime::builder().workers(1).build().unwrap();
    let v = rt.run(|| {
        let h = go!(|| {
            greenchan::yield_now();
            greenchan::preempt_point();
            5
        });
        h.join().unwrap()
    });
    assert_eq!(v, 5);
    rt.shutdown().unwrap();
}
