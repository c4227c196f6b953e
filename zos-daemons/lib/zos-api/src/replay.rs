//! The replay guard: remembers every accepted (twin, nonce) long enough that a captured request
//! cannot be sent again while its timestamp is still accepted.
//!
//! A request is accepted while its timestamp is within `skew` of the node's clock, i.e. until
//! `timestamp + skew`, and the timestamp is at most `skew` ahead when first seen, so remembering
//! each nonce for `2 * skew` after it was first seen covers its whole acceptance window. Entries
//! expire in insertion order, which keeps pruning cheap.
//!
//! The guard is bounded, in total and per twin, and a full guard never locks anyone out: to
//! make room it forgets the oldest nonce of the twin that holds the most, and raises that twin's
//! floor to the forgotten request's timestamp; from then on that twin's requests signed at or
//! before its floor are refused (they could be replays of what was forgotten). So twins that
//! fill the guard only make their own older requests fail, which a client answers by signing
//! again. A twin past its own share is refused (429) without forgetting anything.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Why a nonce is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ReplayError {
    #[error("this nonce was already used by this twin")]
    Replayed,
    #[error("this twin sent {0} requests in the replay window, the most the node remembers; try again later")]
    TwinFull(usize),
    #[error("the node forgot this twin's requests signed at or before {0}; sign again with the current time")]
    Forgotten(u64),
}

pub(crate) struct ReplayGuard {
    remember: Duration,
    skew: u64,
    capacity: usize,
    per_twin: usize,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    seen: HashSet<(u32, String)>,
    /// (expiry, twin, insertion number), oldest first; entries forgotten early are skipped on
    /// expiry (their number is no longer the twin's oldest).
    order: VecDeque<(Instant, u32, u64)>,
    inserted: u64,
    twins: HashMap<u32, Twin>,
    /// (remembered nonces, twin) of every twin holding some: the heaviest last.
    load: BTreeSet<(usize, u32)>,
}

#[derive(Default)]
struct Twin {
    /// (insertion number, timestamp, nonce) in insertion order.
    nonces: VecDeque<(u64, u64, String)>,
    /// Requests signed at or before this were (or may have been) forgotten.
    floor: u64,
}

impl ReplayGuard {
    /// A guard for timestamps accepted within `skew` of the clock, holding at most `capacity`
    /// nonces, at most `per_twin` of them for one twin.
    pub(crate) fn new(skew: Duration, capacity: usize, per_twin: usize) -> Self {
        ReplayGuard {
            remember: skew.saturating_mul(2),
            skew: skew.as_secs(),
            capacity: capacity.max(1),
            per_twin,
            state: Mutex::new(State::default()),
        }
    }

    /// Records `(twin, nonce)` of a request signed at `timestamp` (unix seconds) as used at
    /// `now` (`unix_now` on the clock); refuses it if it was used before, or may have been.
    pub(crate) fn check(
        &self,
        twin: u32,
        nonce: &str,
        timestamp: u64,
        now: Instant,
        unix_now: u64,
    ) -> Result<(), ReplayError> {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        state.expire(now, unix_now.saturating_sub(self.skew));
        let key = (twin, nonce.to_string());
        if state.seen.contains(&key) {
            return Err(ReplayError::Replayed);
        }
        let (held, floor) = state
            .twins
            .get(&twin)
            .map_or((0, 0), |t| (t.nonces.len(), t.floor));
        if floor > 0 && timestamp <= floor {
            return Err(ReplayError::Forgotten(floor));
        }
        if held >= self.per_twin {
            return Err(ReplayError::TwinFull(held));
        }
        if state.seen.len() >= self.capacity {
            state.forget_heaviest();
        }
        state.inserted += 1;
        let number = state.inserted;
        state.order.push_back((now + self.remember, twin, number));
        state.seen.insert(key.clone());
        state.add(twin, number, timestamp, key.1);
        Ok(())
    }
}

impl State {
    /// Moves `twin` in the load order after its count changed from `before`.
    fn reload(&mut self, twin: u32, before: usize) {
        self.load.remove(&(before, twin));
        let now = self.twins.get(&twin).map_or(0, |t| t.nonces.len());
        if now > 0 {
            self.load.insert((now, twin));
        }
    }

    fn add(&mut self, twin: u32, number: u64, timestamp: u64, nonce: String) {
        let t = self.twins.entry(twin).or_default();
        let before = t.nonces.len();
        t.nonces.push_back((number, timestamp, nonce));
        self.reload(twin, before);
    }

    /// Forgets the oldest nonce of the twin holding the most, raising its floor.
    fn forget_heaviest(&mut self) {
        let Some(&(count, twin)) = self.load.last() else {
            return;
        };
        let Some(t) = self.twins.get_mut(&twin) else {
            return;
        };
        if let Some((_, timestamp, nonce)) = t.nonces.pop_front() {
            t.floor = t.floor.max(timestamp);
            self.seen.remove(&(twin, nonce));
        }
        self.reload(twin, count);
    }

    /// Forgets the nonces whose expiry is at or before `now`, and the floors no accepted
    /// timestamp can reach any more (before `oldest_accepted`).
    fn expire(&mut self, now: Instant, oldest_accepted: u64) {
        while let Some((expiry, _, _)) = self.order.front() {
            if *expiry > now {
                break;
            }
            let Some((_, twin, number)) = self.order.pop_front() else {
                break;
            };
            let Some(t) = self.twins.get_mut(&twin) else {
                continue;
            };
            // Forgotten early (to make room): already gone.
            if t.nonces.front().map(|n| n.0) != Some(number) {
                continue;
            }
            let before = t.nonces.len();
            if let Some((_, _, nonce)) = t.nonces.pop_front() {
                self.seen.remove(&(twin, nonce));
            }
            let gone = t.nonces.is_empty() && t.floor < oldest_accepted;
            self.reload(twin, before);
            if gone {
                self.twins.remove(&twin);
            }
        }
        if self.twins.len() > 2 * self.seen.len() + 1024 {
            self.twins
                .retain(|_, t| !t.nonces.is_empty() || t.floor >= oldest_accepted);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SKEW: Duration = Duration::from_secs(60);
    const T: u64 = 1_700_000_000;

    fn check(
        g: &ReplayGuard,
        twin: u32,
        nonce: &str,
        ts: u64,
        now: Instant,
    ) -> Result<(), ReplayError> {
        g.check(twin, nonce, ts, now, T)
    }

    #[test]
    fn a_nonce_is_accepted_once_per_twin() {
        let guard = ReplayGuard::new(SKEW, 10, 10);
        let now = Instant::now();
        assert_eq!(check(&guard, 1, "aaaa", T, now), Ok(()));
        assert_eq!(check(&guard, 1, "aaaa", T, now), Err(ReplayError::Replayed));
        assert_eq!(check(&guard, 2, "aaaa", T, now), Ok(()));
        assert_eq!(check(&guard, 1, "bbbb", T, now), Ok(()));
    }

    #[test]
    fn nonces_are_remembered_for_twice_the_skew() {
        let guard = ReplayGuard::new(SKEW, 10, 10);
        let now = Instant::now();
        check(&guard, 1, "aaaa", T, now).expect("first use");
        let almost = now + 2 * SKEW - Duration::from_millis(1);
        assert_eq!(
            check(&guard, 1, "aaaa", T, almost),
            Err(ReplayError::Replayed)
        );
        assert_eq!(check(&guard, 1, "aaaa", T, now + 2 * SKEW), Ok(()));
    }

    #[test]
    fn a_full_guard_forgets_the_heaviest_twin_and_refuses_its_older_requests() {
        let guard = ReplayGuard::new(SKEW, 4, 10);
        let now = Instant::now();
        for (i, n) in ["a1", "a2", "a3"].iter().enumerate() {
            check(&guard, 1, n, T + i as u64, now).expect("room");
        }
        check(&guard, 2, "b1", T, now).expect("room");
        // full: twin 3 gets in, twin 1 (the heaviest) loses a1 and its floor is T
        assert_eq!(check(&guard, 3, "c1", T, now), Ok(()));
        assert_eq!(
            check(&guard, 1, "a1", T, now),
            Err(ReplayError::Forgotten(T))
        );
        assert_eq!(
            check(&guard, 1, "x", T, now),
            Err(ReplayError::Forgotten(T))
        );
        // still remembered, so still a replay
        assert_eq!(
            check(&guard, 1, "a2", T + 1, now),
            Err(ReplayError::Replayed)
        );
        // a fresh request of twin 1 is fine, and twin 2 was never touched
        assert_eq!(check(&guard, 1, "a4", T + 5, now), Ok(()));
        assert_eq!(check(&guard, 2, "b1", T, now), Err(ReplayError::Replayed));
        let state = guard.state.lock().expect("lock");
        assert_eq!(state.seen.len(), 4);
    }

    #[test]
    fn one_twin_cannot_fill_the_guard() {
        let guard = ReplayGuard::new(SKEW, 10, 2);
        let now = Instant::now();
        check(&guard, 1, "a1", T, now).expect("room");
        check(&guard, 1, "a2", T, now).expect("room");
        assert_eq!(
            check(&guard, 1, "a3", T, now),
            Err(ReplayError::TwinFull(2))
        );
        assert_eq!(check(&guard, 2, "b1", T, now), Ok(()));
        let later = now + 2 * SKEW;
        assert_eq!(check(&guard, 1, "a3", T, later), Ok(()));
        let state = guard.state.lock().expect("lock");
        assert_eq!(state.twins.get(&1).map(|t| t.nonces.len()), Some(1));
        assert!(!state.twins.contains_key(&2));
    }
}
