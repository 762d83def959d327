//! Time as channels: `after` delivers one instant, `tick` one per period, each from a small
//! coroutine that sleeps on the runtime's timers and stops when nobody listens any more.

use std::time::{Duration, Instant};

use crate::handles::{bounded, Receiver};

/// A channel that receives the current instant once, after `d`.
///
/// ```
/// use std::time::{Duration, Instant};
/// let start = Instant::now();
/// let at = channels::after(Duration::from_millis(5)).recv().unwrap();
/// assert!(at >= start + Duration::from_millis(5));
/// ```
pub fn after(d: Duration) -> Receiver<Instant> {
    let (tx, rx) = bounded(1);
    let deadline = Instant::now().checked_add(d);
    green::spawn(move || {
        match deadline {
            Some(deadline) => {
                while Instant::now() < deadline {
                    green::sleep(deadline - Instant::now());
                }
            }
            None => loop {
                green::park();
            },
        }
        let _ = tx.try_send(Instant::now());
    });
    rx
}

/// A channel that receives the current instant every `d`. Like Go's ticker, it keeps one tick
/// buffered and drops ticks a slow receiver misses; it stops once every receiver is gone.
///
/// ```
/// use std::time::Duration;
/// let ticks = channels::tick(Duration::from_millis(1));
/// let a = ticks.recv().unwrap();
/// let b = ticks.recv().unwrap();
/// assert!(b > a);
/// ```
pub fn tick(d: Duration) -> Receiver<Instant> {
    let (tx, rx) = bounded(1);
    let period = d.max(Duration::from_nanos(1));
    green::spawn(move || {
        let mut next = Instant::now();
        loop {
            next = match next.checked_add(period) {
                Some(n) => n,
                None => return,
            };
            while Instant::now() < next {
                green::sleep(next - Instant::now());
            }
            if let Err(e) = tx.try_send(Instant::now()) {
                if e.is_closed() {
                    return;
                }
            }
        }
    });
    rx
}
