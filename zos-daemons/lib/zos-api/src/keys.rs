//! Where the server finds a twin's public key: the [`KeyLookup`] trait, a map-backed lookup for
//! tests and fixed setups, and [`CachedKeys`], a bounded TTL cache in front of a slow lookup
//! (the server puts one in front of every lookup it is given): twins found and twins that do
//! not exist are kept apart, so a flood of made-up twin ids never pushes out the real ones, and
//! lookups of twins not kept are rate-limited for all callers together.
//!
//! The chain-backed lookup lives with the daemon that owns the chain handle; nothing here talks
//! to the chain or to the network.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;

/// A failed lookup (e.g. the chain is unreachable); an unknown twin is not an error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot look up the key of twin {twin_id}: {reason}")]
pub struct KeyError {
    pub twin_id: u32,
    pub reason: String,
}

/// Finds a twin's 32-byte public key (its account id on the chain).
#[async_trait]
pub trait KeyLookup: Send + Sync {
    /// `Ok(None)` when the twin does not exist.
    async fn public_key(&self, twin_id: u32) -> Result<Option<[u8; 32]>, KeyError>;
}

#[async_trait]
impl<T: KeyLookup + ?Sized> KeyLookup for std::sync::Arc<T> {
    async fn public_key(&self, twin_id: u32) -> Result<Option<[u8; 32]>, KeyError> {
        (**self).public_key(twin_id).await
    }
}

/// Why [`CachedKeys::lookup`] has no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LookupError {
    /// The lookup behind the cache failed.
    Failed(KeyError),
    /// Too many lookups of twins not kept lately.
    Busy,
}

/// A fixed set of twins (tests, fixed setups).
#[async_trait]
impl KeyLookup for HashMap<u32, [u8; 32]> {
    async fn public_key(&self, twin_id: u32) -> Result<Option<[u8; 32]>, KeyError> {
        Ok(self.get(&twin_id).copied())
    }
}

/// Caches the answers of another lookup for `ttl`, found and not found alike (in two maps of
/// `capacity` twins each); failures are not cached. When a map is full, its expired entries go
/// first; then the oldest found twin, or every twin not found. With a rate, lookups of twins not
/// kept are limited to it (a burst of ten times as many), all twins together.
#[derive(Debug)]
pub struct CachedKeys<L> {
    inner: L,
    ttl: Duration,
    capacity: usize,
    found: Mutex<HashMap<u32, (Instant, [u8; 32])>>,
    missing: Mutex<HashMap<u32, Instant>>,
    /// (per second, tokens, last refill).
    rate: Option<Mutex<(f64, f64, Instant)>>,
}

fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl<L: KeyLookup> CachedKeys<L> {
    pub fn new(inner: L, ttl: Duration, capacity: usize) -> Self {
        CachedKeys {
            inner,
            ttl,
            capacity: capacity.max(1),
            found: Mutex::new(HashMap::new()),
            missing: Mutex::new(HashMap::new()),
            rate: None,
        }
    }

    /// Limits lookups of twins not kept to `per_second` (0: none at all beyond the burst).
    pub fn with_rate(mut self, per_second: u32) -> Self {
        let per_second = f64::from(per_second);
        self.rate = Some(Mutex::new((per_second, per_second * 10.0, Instant::now())));
        self
    }

    /// A token for one lookup behind the cache, if the rate leaves one.
    fn take_token(&self) -> bool {
        let Some(rate) = &self.rate else {
            return true;
        };
        let mut r = locked(rate);
        let (per_second, burst) = (r.0, r.0 * 10.0);
        r.1 = (r.1 + r.2.elapsed().as_secs_f64() * per_second).min(burst);
        r.2 = Instant::now();
        if r.1 >= 1.0 {
            r.1 -= 1.0;
            true
        } else {
            false
        }
    }

    /// The twin's key, `None` when it does not exist.
    pub(crate) async fn lookup(&self, twin_id: u32) -> Result<Option<[u8; 32]>, LookupError> {
        if let Some((at, key)) = locked(&self.found).get(&twin_id) {
            if at.elapsed() < self.ttl {
                return Ok(Some(*key));
            }
        }
        if let Some(at) = locked(&self.missing).get(&twin_id) {
            if at.elapsed() < self.ttl {
                return Ok(None);
            }
        }
        if !self.take_token() {
            return Err(LookupError::Busy);
        }
        let key = self
            .inner
            .public_key(twin_id)
            .await
            .map_err(LookupError::Failed)?;
        match key {
            Some(k) => {
                let mut found = locked(&self.found);
                if found.len() >= self.capacity && !found.contains_key(&twin_id) {
                    found.retain(|_, (at, _)| at.elapsed() < self.ttl);
                    if found.len() >= self.capacity {
                        if let Some(oldest) =
                            found.iter().min_by_key(|(_, (at, _))| *at).map(|(t, _)| *t)
                        {
                            found.remove(&oldest);
                        }
                    }
                }
                found.insert(twin_id, (Instant::now(), k));
            }
            None => {
                let mut missing = locked(&self.missing);
                if missing.len() >= self.capacity && !missing.contains_key(&twin_id) {
                    missing.retain(|_, at| at.elapsed() < self.ttl);
                    if missing.len() >= self.capacity {
                        missing.clear();
                    }
                }
                missing.insert(twin_id, Instant::now());
            }
        }
        Ok(key)
    }
}

#[async_trait]
impl<L: KeyLookup> KeyLookup for CachedKeys<L> {
    async fn public_key(&self, twin_id: u32) -> Result<Option<[u8; 32]>, KeyError> {
        self.lookup(twin_id).await.map_err(|e| match e {
            LookupError::Failed(e) => e,
            LookupError::Busy => KeyError {
                twin_id,
                reason: "too many lookups of unknown twins; try again later".into(),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Twin 1 exists, twin 2 does not, twin 3 fails; counts the calls.
    #[derive(Default)]
    struct Counting {
        calls: AtomicUsize,
    }

    #[async_trait]
    impl KeyLookup for Counting {
        async fn public_key(&self, twin_id: u32) -> Result<Option<[u8; 32]>, KeyError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            match twin_id {
                1 => Ok(Some([1; 32])),
                3 => Err(KeyError {
                    twin_id,
                    reason: "chain down".into(),
                }),
                _ => Ok(None),
            }
        }
    }

    #[tokio::test]
    async fn answers_are_cached_for_the_ttl() {
        let cache = CachedKeys::new(Counting::default(), Duration::from_secs(60), 10);
        assert_eq!(cache.public_key(1).await, Ok(Some([1; 32])));
        assert_eq!(cache.public_key(1).await, Ok(Some([1; 32])));
        assert_eq!(cache.public_key(2).await, Ok(None));
        assert_eq!(cache.public_key(2).await, Ok(None));
        assert_eq!(cache.inner.calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn expired_answers_and_failures_are_fetched_again() {
        let cache = CachedKeys::new(Counting::default(), Duration::ZERO, 10);
        cache.public_key(1).await.expect("found");
        cache.public_key(1).await.expect("found");
        assert_eq!(cache.inner.calls.load(Ordering::SeqCst), 2);

        let cache = CachedKeys::new(Counting::default(), Duration::from_secs(60), 10);
        let err = cache.public_key(3).await.expect_err("fails");
        assert!(zos_base::report(&err).contains("chain down"), "{err}");
        cache.public_key(3).await.expect_err("fails again");
        assert_eq!(cache.inner.calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn the_cache_stays_within_its_capacity_and_unknown_twins_do_not_push_out_known_ones() {
        let cache = CachedKeys::new(Counting::default(), Duration::from_secs(60), 4);
        cache.public_key(1).await.expect("lookup");
        for twin in 10..100 {
            cache.public_key(twin).await.expect("lookup");
            assert!(locked(&cache.missing).len() <= 4);
        }
        let calls = cache.inner.calls.load(Ordering::SeqCst);
        assert_eq!(cache.public_key(1).await, Ok(Some([1; 32])));
        assert_eq!(
            cache.inner.calls.load(Ordering::SeqCst),
            calls,
            "twin 1 still kept"
        );
    }

    #[tokio::test]
    async fn lookups_of_twins_not_kept_are_rate_limited() {
        let cache =
            CachedKeys::new(Counting::default(), Duration::from_secs(60), 1000).with_rate(1);
        let mut busy = 0;
        for twin in 10..40 {
            if cache.lookup(twin).await == Err(LookupError::Busy) {
                busy += 1;
            }
        }
        // a burst of 10, then about one a second
        assert!((19..=20).contains(&busy), "{busy}");
        // kept answers need no token
        assert_eq!(cache.lookup(10).await, Ok(None));
    }

    #[tokio::test]
    async fn a_map_is_a_lookup() {
        let keys = HashMap::from([(7u32, [7u8; 32])]);
        assert_eq!(keys.public_key(7).await, Ok(Some([7; 32])));
        assert_eq!(keys.public_key(8).await, Ok(None));
    }
}
