//! Where the server finds a twin's public key: the [`KeyLookup`] trait, a map-backed lookup for
//! tests and fixed setups, and [`CachedKeys`], a bounded TTL cache in front of a slow lookup.
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

/// A fixed set of twins (tests, fixed setups).
#[async_trait]
impl KeyLookup for HashMap<u32, [u8; 32]> {
    async fn public_key(&self, twin_id: u32) -> Result<Option<[u8; 32]>, KeyError> {
        Ok(self.get(&twin_id).copied())
    }
}

/// Caches the answers of another lookup, found and not found alike, for `ttl`; failures are not
/// cached. Holds at most `capacity` twins: when full, expired entries are dropped first and, if
/// that frees nothing, the whole cache is emptied.
#[derive(Debug)]
pub struct CachedKeys<L> {
    inner: L,
    ttl: Duration,
    capacity: usize,
    entries: Mutex<Entries>,
}

/// Twin → (when fetched, key or not found).
type Entries = HashMap<u32, (Instant, Option<[u8; 32]>)>;

impl<L: KeyLookup> CachedKeys<L> {
    pub fn new(inner: L, ttl: Duration, capacity: usize) -> Self {
        CachedKeys {
            inner,
            ttl,
            capacity: capacity.max(1),
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait]
impl<L: KeyLookup> KeyLookup for CachedKeys<L> {
    async fn public_key(&self, twin_id: u32) -> Result<Option<[u8; 32]>, KeyError> {
        if let Some((fetched, key)) = self.entries().get(&twin_id) {
            if fetched.elapsed() < self.ttl {
                return Ok(*key);
            }
        }
        let key = self.inner.public_key(twin_id).await?;
        let mut entries = self.entries();
        if entries.len() >= self.capacity && !entries.contains_key(&twin_id) {
            entries.retain(|_, (fetched, _)| fetched.elapsed() < self.ttl);
            if entries.len() >= self.capacity {
                entries.clear();
            }
        }
        entries.insert(twin_id, (Instant::now(), key));
        Ok(key)
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
    async fn the_cache_stays_within_its_capacity() {
        let cache = CachedKeys::new(Counting::default(), Duration::from_secs(60), 4);
        for twin in 10..100 {
            cache.public_key(twin).await.expect("lookup");
            assert!(cache.entries().len() <= 4);
        }
    }

    #[tokio::test]
    async fn a_map_is_a_lookup() {
        let keys = HashMap::from([(7u32, [7u8; 32])]);
        assert_eq!(keys.public_key(7).await, Ok(Some([7; 32])));
        assert_eq!(keys.public_key(8).await, Ok(None));
    }
}
