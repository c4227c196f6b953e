//! The replay guard: remembers every accepted (twin, nonce) long enough that a captured request
//! cannot be sent again while its timestamp is still accepted.
//!
//! A request is accepted while its timestamp is within `skew` of the node's clock, i.e. until
//! `timestamp + skew`, and the timestamp is at most `skew` ahead when first seen, so remembering
//! each nonce for `2 * skew` after it was first seen covers its whole acceptance window. Entries
//! expire in insertion order, which keeps pruning cheap. The guard is bounded, in total and per
//! twin: when full of unexpired entries, new requests are refused rather than old nonces
//! forgotten.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Why a nonce is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ReplayError {
    #[error("this nonce was already used by this twin")]
    Replayed,
    #[error("this twin sent {0} requests in the replay window, the most the node remembers; try again later")]
    TwinFull(usize),
    #[error("too many requests in the replay window ({0} remembered); try again later")]
    Full(usize),
}

pub(crate) struct ReplayGuard {
    remember: Duration,
    capacity: usize,
    per_twin: usize,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    seen: HashSet<(u32, String)>,
    /// (expiry, twin, nonce), oldest first.
    order: VecDeque<(Instant, u32, String)>,
    /// Remembered nonces per twin (twins with none are removed).
    per_twin: HashMap<u32, usize>,
}

impl ReplayGuard {
    /// A guard for timestamps accepted within `skew` of the clock, holding at most `capacity`
    /// nonces, at most `per_twin` of them for one twin.
    pub(crate) fn new(skew: Duration, capacity: usize, per_twin: usize) -> Self {
        ReplayGuard {
            remember: skew.saturating_mul(2),
            capacity,
            per_twin,
            state: Mutex::new(State::default()),
        }
    }

    /// Records `(twin, nonce)` as used at `now`; refuses it if it was used before.
    pub(crate) fn check(&self, twin: u32, nonce: &str, now: Instant) -> Result<(), ReplayError> {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        state.expire(now);
        let key = (twin, nonce.to_string());
        if state.seen.contains(&key) {
            return Err(ReplayError::Replayed);
        }
        let of_twin = state.per_twin.get(&twin).copied().unwrap_or(0);
        if of_twin >= self.per_twin {
            return Err(ReplayError::TwinFull(of_twin));
        }
        if state.seen.len() >= self.capacity {
            return Err(ReplayError::Full(state.seen.len()));
        }
        state
            .order
            .push_back((now + self.remember, twin, key.1.clone()));
        state.seen.insert(key);
        *state.per_twin.entry(twin).or_default() += 1;
        Ok(())
    }
}

impl State {
    /// Forgets the nonces whose expiry is at or before `now`.
    fn expire(&mut self, now: Instant) {
        while let Some((expiry, _, _)) = self.order.front() {
            if *expiry > now {
                break;
            }
            let Some((_, twin, nonce)) = self.order.pop_front() else {
                break;
            };
            self.seen.remove(&(twin, nonce));
            if let Some(count) = self.per_twin.get_mut(&twin) {
                *count -= 1;
                if *count == 0 {
                    self.per_twin.remove(&twin);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SKEW: Duration = Duration::from_secs(60);

    #[test]
    fn a_nonce_is_accepted_once_per_twin() {
        let guard = ReplayGuard::new(SKEW, 10, 10);
        let now = Instant::now();
        assert_eq!(guard.check(1, "aaaa", now), Ok(()));
        assert_eq!(guard.check(1, "aaaa", now), Err(ReplayError::Replayed));
        assert_eq!(guard.check(2, "aaaa", now), Ok(()));
        assert_eq!(guard.check(1, "bbbb", now), Ok(()));
    }

    #[test]
    fn nonces_are_remembered_for_twice_the_skew() {
        let guard = ReplayGuard::new(SKEW, 10, 10);
        let now = Instant::now();
        guard.check(1, "aaaa", now).expect("first use");
        let almost = now + 2 * SKEW - Duration::from_millis(1);
        assert_eq!(guard.check(1, "aaaa", almost), Err(ReplayError::Replayed));
        assert_eq!(guard.check(1, "aaaa", now + 2 * SKEW), Ok(()));
    }

    #[test]
    fn a_full_guard_refuses_until_entries_expire() {
        let guard = ReplayGuard::new(SKEW, 2, 10);
        let now = Instant::now();
        guard.check(1, "a1", now).expect("room");
        guard.check(2, "a2", now).expect("room");
        assert_eq!(guard.check(3, "a3", now), Err(ReplayError::Full(2)));
        assert_eq!(guard.check(3, "a3", now + 2 * SKEW), Ok(()));
    }

    #[test]
    fn one_twin_cannot_fill_the_guard() {
        let guard = ReplayGuard::new(SKEW, 10, 2);
        let now = Instant::now();
        guard.check(1, "a1", now).expect("room");
        guard.check(1, "a2", now).expect("room");
        assert_eq!(guard.check(1, "a3", now), Err(ReplayError::TwinFull(2)));
        assert_eq!(guard.check(2, "b1", now), Ok(()));
        let later = now + 2 * SKEW;
        assert_eq!(guard.check(1, "a3", later), Ok(()));
        let state = guard.state.lock().expect("lock");
        assert_eq!(state.per_twin.get(&1), Some(&1));
        assert_eq!(state.per_twin.get(&2), None);
    }
}
