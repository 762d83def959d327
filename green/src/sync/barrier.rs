//! `Barrier`: std's barrier, parking coroutines.
//!
//! A short lock guards the arrival count and the list of parked arrivals. The `n`th arrival of
//! a generation is its leader: it resets the count for the next generation, takes the list and
//! wakes everyone in it. A woken node was taken by exactly one leader, so each generation's
//! parties leave together, and a party arriving early for the next generation joins a fresh
//! list. Nothing is held across a park.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use super::waiter::WaitReason;
use super::waiter::{Waiter, WOKEN};

/// Lets `n` coroutines (or threads) wait until all `n` have arrived, over and over. The API is
/// `std::sync::Barrier`'s.
///
/// ```
/// use greenchan::sync::Barrier;
/// use std::sync::Arc;
///
/// let barrier = Arc::new(Barrier::new(3));
/// let hs: Vec<_> = (0..3)
///     .map(|_| {
///         let b = barrier.clone();
///         greenchan::spawn(move || b.wait().is_leader())
///     })
///     .collect();
/// let leaders = hs.into_iter().map(|h| h.join().unwrap()).filter(|&leader| leader).count();
/// assert_eq!(leaders, 1);
/// ```
pub struct Barrier {
    n: usize,
    state: Mutex<Arrivals>,
}

struct Arrivals {
    count: usize,
    parked: Vec<Arc<Waiter>>,
}

/// What [`Barrier::wait`] returns: whether this party was the generation's leader.
///
/// ```
/// let b = greenchan::sync::Barrier::new(1);
/// assert!(b.wait().is_leader());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BarrierWaitResult(bool);

impl BarrierWaitResult {
    /// True for exactly one party of each generation (the last to arrive).
    pub fn is_leader(&self) -> bool {
        self.0
    }
}

impl Barrier {
    /// A barrier for `n` parties. `n == 0` behaves like 1 (every `wait` returns at once, as
    /// leader), as std's does.
    ///
    /// ```
    /// let b = greenchan::sync::Barrier::new(0);
    /// assert!(b.wait().is_leader());
    /// ```
    pub const fn new(n: usize) -> Barrier {
        Barrier {
            n,
            state: Mutex::new(Arrivals {
                count: 0,
                parked: Vec::new(),
            }),
        }
    }

    /// Parks until `n` parties have called `wait` in this generation.
    ///
    /// ```
    /// use std::sync::Arc;
    /// let b = Arc::new(greenchan::sync::Barrier::new(2));
    /// let b2 = b.clone();
    /// let h = greenchan::spawn(move || b2.wait().is_leader());
    /// let me = b.wait().is_leader();
    /// assert!(me != h.join().unwrap());
    /// ```
    pub fn wait(&self) -> BarrierWaitResult {
        let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        st.count += 1;
        if st.count >= self.n {
            st.count = 0;
            let parked = std::mem::take(&mut st.parked);
            drop(st);
            for w in parked {
                w.wake(WOKEN);
            }
            return BarrierWaitResult(true);
        }
        let node = Waiter::new(0, WaitReason::Barrier);
        st.parked.push(node.clone());
        drop(st);
        node.wait();
        BarrierWaitResult(false)
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Barrier")
            .field("n", &self.n)
            .finish_non_exhaustive()
    }
}
