//! The replay guard: remembers every accepted (twin, nonce) long enough that a captured request
//! cannot be sent again while its timestamp is still accepted.
//!
//! A request is accepted while its timestamp is within `skew` of the node's clock, i.e. until
//! `timestamp + skew`, and the timestamp is at most `skew` ahead when first seen, so remembering
//! each nonce for `2 * skew` after it was first seen covers its whole acceptance window. Entries
//! expire in insertion order, which keeps pruning cheap. The guard is bounded: when it is full of
//! unexpired entries, new requests are refused rather than old nonces forgotten.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Why a nonce is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ReplayError {
    #[error("this nonce was already used by this twin")]
    Replayed,
    #[error("too many requests in the replay window ({0} remembered); try again later")]
    Full(usize),
}

pub(crate) struct ReplayGuard {
    remember: Duration,
    capacity: usize,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    seen: HashSet<(u32, String)>,
    /// (expiry, twin, nonce), oldest first.
    order: VecDeque<(Instant, u32, String)>,
}

impl ReplayGuard {
    /// A guard for timestamps accepted within `skew` of the clock, holding at most `capacity`
    /// nonces.
    pub(crate) fn new(skew: Duration, capacity: usize) -> Self {
        ReplayGuard {
            remember: skew.saturating_mul(2),
            capacity,
            state: Mutex::new(State::default()),
        }
    }

    /// Records `(twin, nonce)` as used at `now`; refuses it if it was used before.
    pub(crate) fn check(&self, twin: u32, nonce: &str, now: Instant) -> Result<(), ReplayError> {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        while let Some((expiry, _, _)) = state.order.front() {
            if *expiry > now {
                break;
            }
            if let Some((_, twin, nonce)) = state.order.pop_front() {
                state.seen.remove(&(twin, nonce));
            }
        }
        let key = (twin, nonce.to_string());
        if state.seen.contains(&key) {
            return Err(ReplayError::Replayed);
        }
        if state.seen.len() >= self.capacity {
            return Err(ReplayError::Full(state.seen.len()));
        }
        state
            .order
            .push_back((now + self.remember, twin, key.1.clone()));
        state.seen.insert(key);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SKEW: Duration = Duration::from_secs(60);

    #[test]
    fn a_nonce_is_accepted_once_per_twin() {
        let guard = ReplayGuard::new(SKEW, 10);
        let now = Instant::now();
        assert_eq!(guard.check(1, "aaaa", now), Ok(()));
        assert_eq!(guard.check(1, "aaaa", now), Err(ReplayError::Replayed));
        assert_eq!(guard.check(2, "aaaa", now), Ok(()));
        assert_eq!(guard.check(1, "bbbb", now), Ok(()));
    }

    #[test]
    fn nonces_are_remembered_for_twice_the_skew() {
        let guard = ReplayGuard::new(SKEW, 10);
        let now = Instant::now();
        guard.check(1, "aaaa", now).expect("first use");
        let almost = now + 2 * SKEW - Duration::from_millis(1);
        assert_eq!(guard.check(1, "aaaa", almost), Err(ReplayError::Replayed));
        assert_eq!(guard.check(1, "aaaa", now + 2 * SKEW), Ok(()));
    }

    #[test]
    fn a_full_guard_refuses_until_entries_expire() {
        let guard = ReplayGuard::new(SKEW, 2);
        let now = Instant::now();
        guard.check(1, "a1", now).expect("room");
        guard.check(1, "a2", now).expect("room");
        assert_eq!(guard.check(1, "a3", now), Err(ReplayError::Full(2)));
        assert_eq!(guard.check(1, "a3", now + 2 * SKEW), Ok(()));
    }
}
