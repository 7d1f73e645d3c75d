//! A verification cache in front of any verifier.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;
use tracing::Instrument;

use crate::{AuthError, Principal, TokenVerifier, audit};

/// Cache limits. Plain data; defaults documented per field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheConfig {
    /// At most this many principals are kept; when full, expired entries go first, then the
    /// entry closest to expiry. Default: 10 000.
    pub max_entries: usize,
    /// No entry lives longer than this, even if its token's `exp` is later (and tokens without
    /// `exp`, e.g. from userinfo, live exactly this long). Default: 5 minutes.
    pub max_ttl: Duration,
    /// A refused token (invalid, expired, too large) is refused again from memory for this long
    /// instead of reaching the inner verifier (and the identity provider) again; zero turns
    /// refusal caching off. "Identity provider unavailable" and a JWT's unknown `kid` are never
    /// cached. Default: 30 s.
    pub negative_ttl: Duration,
    /// At most this many refusals are remembered (least recently used go first).
    /// Default: 10 000.
    pub max_negative_entries: u64,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            max_entries: 10_000,
            max_ttl: Duration::from_secs(300),
            negative_ttl: Duration::from_secs(30),
            max_negative_entries: 10_000,
        }
    }
}

impl CacheConfig {
    /// Sets [`CacheConfig::max_entries`].
    #[must_use]
    pub fn max_entries(mut self, max: usize) -> Self {
        self.max_entries = max;
        self
    }

    /// Sets [`CacheConfig::max_ttl`].
    #[must_use]
    pub fn max_ttl(mut self, ttl: Duration) -> Self {
        self.max_ttl = ttl;
        self
    }

    /// Sets [`CacheConfig::negative_ttl`] and [`CacheConfig::max_negative_entries`].
    #[must_use]
    pub fn refusals(mut self, ttl: Duration, max_entries: u64) -> Self {
        self.negative_ttl = ttl;
        self.max_negative_entries = max_entries;
        self
    }
}

/// Counters of a [`CachedVerifier`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheStats {
    /// Verifications answered from the cache.
    pub hits: u64,
    /// Verifications passed to the inner verifier (concurrent first verifications of one token
    /// share one).
    pub misses: u64,
    /// Entries currently held (expired ones included until they are evicted).
    pub entries: usize,
    /// Verifications refused from the remembered refusals, without the inner verifier.
    pub refusal_hits: u64,
}

type Key = [u8; 32];
type Flight = Arc<OnceCell<Result<Principal, AuthError>>>;

struct Entry {
    principal: Principal,
    expires: Instant,
}

/// Caches the principals another verifier returns, so stateless HTTP requests do not call the
/// identity provider (introspection, userinfo) or redo signature checks per request.
///
/// - The key is the SHA-256 of the token; the token itself is never stored.
/// - An entry expires at the token's `exp` or after [`CacheConfig::max_ttl`], whichever is
///   first; an expired entry is never returned.
/// - The cache holds at most [`CacheConfig::max_entries`] entries.
/// - A refusal (invalid, expired or oversized token) is remembered for
///   [`CacheConfig::negative_ttl`], bounded by [`CacheConfig::max_negative_entries`], so
///   replaying a bad token costs the identity provider nothing. Two refusals are not
///   remembered: "identity provider unavailable", and a JWT whose `kid` the key set lacks (it
///   is accepted as soon as a JWKS refetch brings its key, e.g. right after a key rotation; the
///   JWT verifier's own refetch limit keeps unknown `kid`s cheap).
///
/// Concurrency: short `std::sync::Mutex` sections per lookup or insert, never held across an
/// `.await`. Concurrent first verifications of the same token are coalesced into one call of the
/// inner verifier (per-token single flight), so a burst of parallel requests with a fresh token
/// costs the identity provider one introspection or userinfo request.
pub struct CachedVerifier<V> {
    inner: V,
    config: CacheConfig,
    entries: Mutex<HashMap<Key, Entry>>,
    in_flight: Mutex<HashMap<Key, Flight>>,
    refusals: Option<moka::sync::Cache<Key, AuthError>>,
    hits: AtomicU64,
    misses: AtomicU64,
    refusal_hits: AtomicU64,
}

impl<V> fmt::Debug for CachedVerifier<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachedVerifier")
            .field("config", &self.config)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

fn key(token: &str) -> Key {
    Sha256::digest(token.as_bytes()).into()
}

impl<V> CachedVerifier<V> {
    /// Caches `inner` with [`CacheConfig::default`].
    pub fn new(inner: V) -> Self {
        Self::with_config(inner, CacheConfig::default())
    }

    /// Caches `inner` with `config`.
    pub fn with_config(inner: V, config: CacheConfig) -> Self {
        Self {
            inner,
            config,
            entries: Mutex::new(HashMap::new()),
            in_flight: Mutex::new(HashMap::new()),
            refusals: (!config.negative_ttl.is_zero() && config.max_negative_entries > 0).then(
                || {
                    moka::sync::Cache::builder()
                        .max_capacity(config.max_negative_entries)
                        .time_to_live(config.negative_ttl)
                        .build()
                },
            ),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            refusal_hits: AtomicU64::new(0),
        }
    }

    /// The wrapped verifier.
    pub fn get_ref(&self) -> &V {
        &self.inner
    }

    /// Current counters.
    pub fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            entries: self.lock().len(),
            refusal_hits: self.refusal_hits.load(Ordering::Relaxed),
        }
    }

    /// Drops every entry (e.g. after a user's entitlements changed at the identity provider).
    pub fn clear(&self) {
        self.lock().clear();
        if let Some(refusals) = &self.refusals {
            refusals.invalidate_all();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Entry>> {
        // A panic while holding the lock cannot leave the map inconsistent; keep serving.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn lookup(&self, key: &Key) -> Option<Principal> {
        let now = Instant::now();
        let mut entries = self.lock();
        match entries.get(key) {
            Some(entry) if entry.expires > now => Some(entry.principal.clone()),
            Some(_) => {
                entries.remove(key);
                None
            }
            None => None,
        }
    }

    fn insert(&self, key: Key, principal: &Principal) {
        if self.config.max_entries == 0 {
            return;
        }
        let now = Instant::now();
        let mut ttl = self.config.max_ttl;
        if let Some(exp) = principal.expires_at {
            match exp.duration_since(SystemTime::now()) {
                Ok(left) => ttl = ttl.min(left),
                Err(_) => return, // already expired
            }
        }
        let mut entries = self.lock();
        if entries.len() >= self.config.max_entries && !entries.contains_key(&key) {
            entries.retain(|_, e| e.expires > now);
            if entries.len() >= self.config.max_entries
                && let Some(victim) = entries
                    .iter()
                    .min_by_key(|(_, e)| e.expires)
                    .map(|(k, _)| *k)
            {
                entries.remove(&victim);
            }
        }
        entries.insert(
            key,
            Entry {
                principal: principal.clone(),
                expires: now + ttl,
            },
        );
    }
}

#[async_trait::async_trait]
impl<V: TokenVerifier> TokenVerifier for CachedVerifier<V> {
    async fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        let key = key(token);
        if let Some(principal) = self.lookup(&key) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            let span = audit::cached_verify_span();
            span.record("auth.cache_hit", true);
            let result = Ok(principal);
            audit::record_verify(&span, &result);
            return result;
        }
        if let Some(refused) = self.refusals.as_ref().and_then(|r| r.get(&key)) {
            self.refusal_hits.fetch_add(1, Ordering::Relaxed);
            let span = audit::verify_span("cache");
            span.record("auth.cache_hit", true);
            let result = Err(refused);
            audit::record_verify(&span, &result);
            return result;
        }
        let span = audit::verify_span("cache");
        span.record("auth.cache_hit", false);
        let flight: Flight = Arc::clone(
            self.in_flight
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .entry(key)
                .or_default(),
        );
        let result = flight
            .get_or_init(|| async {
                self.misses.fetch_add(1, Ordering::Relaxed);
                let result = self.inner.verify(token).instrument(span.clone()).await;
                match &result {
                    Ok(principal) => self.insert(key, principal),
                    // Unavailable: the next attempt may succeed. An unknown key: the key set may
                    // gain it at the next refetch (a key rotation), and the token must then be
                    // accepted at once, not refused from memory.
                    Err(AuthError::Unavailable { .. }) => {}
                    Err(refused) if refused.is_unknown_key() => {}
                    Err(refused) => {
                        if let Some(refusals) = &self.refusals {
                            refusals.insert(key, refused.clone());
                        }
                    }
                }
                result
            })
            .await
            .clone();
        {
            let mut in_flight = self
                .in_flight
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if in_flight.get(&key).is_some_and(|f| Arc::ptr_eq(f, &flight)) {
                in_flight.remove(&key);
            }
        }
        audit::record_verify(&span, &result);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts calls and returns a principal expiring `exp_in` from now.
    struct Counting {
        calls: Arc<AtomicU64>,
        exp_in: Option<Duration>,
    }

    #[async_trait::async_trait]
    impl TokenVerifier for Counting {
        async fn verify(&self, token: &str) -> Result<Principal, AuthError> {
            self.calls.fetch_add(1, Ordering::Relaxed);
            if token.starts_with("slow") {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            if token.starts_with("bad") {
                return Err(AuthError::invalid("bad"));
            }
            if token.starts_with("down") {
                return Err(AuthError::unavailable("idp down"));
            }
            let mut p = Principal::new(token);
            if let Some(d) = self.exp_in {
                p = p.with_expiry(SystemTime::now() + d);
            }
            Ok(p)
        }
    }

    fn cached(
        exp_in: Option<Duration>,
        config: CacheConfig,
    ) -> (CachedVerifier<Counting>, Arc<AtomicU64>) {
        let calls = Arc::new(AtomicU64::new(0));
        let v = CachedVerifier::with_config(
            Counting {
                calls: calls.clone(),
                exp_in,
            },
            config,
        );
        (v, calls)
    }

    #[tokio::test]
    async fn hits_misses_and_refusals() {
        let (v, calls) = cached(Some(Duration::from_secs(60)), CacheConfig::default());
        assert_eq!(v.verify("t1").await.unwrap().subject, "t1");
        assert_eq!(v.verify("t1").await.unwrap().subject, "t1");
        assert!(v.verify("bad").await.is_err());
        assert!(v.verify("bad").await.is_err());
        assert_eq!(
            calls.load(Ordering::Relaxed),
            2,
            "one call for t1, one for the refusal (then remembered)"
        );
        let stats = v.stats();
        assert_eq!(
            (stats.hits, stats.misses, stats.entries, stats.refusal_hits),
            (1, 2, 1, 1)
        );
        // The map holds the token's SHA-256, never the token.
        assert!(v.lock().contains_key(&key("t1")));
    }

    #[tokio::test]
    async fn expired_tokens_are_not_kept() {
        let (v, calls) = cached(Some(Duration::ZERO), CacheConfig::default());
        v.verify("t").await.unwrap();
        v.verify("t").await.unwrap();
        assert_eq!(calls.load(Ordering::Relaxed), 2);
        assert_eq!(v.stats().entries, 0);
    }

    #[tokio::test]
    async fn entry_never_outlives_exp() {
        let (v, _) = cached(Some(Duration::from_secs(30)), CacheConfig::default());
        v.verify("t").await.unwrap();
        let expires = v.lock().values().next().unwrap().expires;
        assert!(expires <= Instant::now() + Duration::from_secs(30));
        let (v, _) = cached(None, CacheConfig::default().max_ttl(Duration::from_secs(7)));
        v.verify("t").await.unwrap();
        let expires = v.lock().values().next().unwrap().expires;
        assert!(expires <= Instant::now() + Duration::from_secs(7));
    }

    #[tokio::test]
    async fn concurrent_first_verifications_share_one_inner_call() {
        let (v, calls) = cached(Some(Duration::from_secs(60)), CacheConfig::default());
        let v = Arc::new(v);
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let v = Arc::clone(&v);
                tokio::spawn(async move { v.verify("slow-token").await })
            })
            .collect();
        for task in tasks {
            assert_eq!(task.await.unwrap().unwrap().subject, "slow-token");
        }
        assert_eq!(calls.load(Ordering::Relaxed), 1);
        assert!(
            v.in_flight.lock().unwrap().is_empty(),
            "no flight left behind"
        );
    }

    #[tokio::test]
    async fn refusals_are_remembered_briefly_and_never_when_the_idp_is_down() {
        let (v, calls) = cached(
            None,
            CacheConfig::default().refusals(Duration::from_millis(100), 100),
        );
        for _ in 0..5 {
            assert!(v.verify("bad-1").await.is_err());
        }
        assert_eq!(calls.load(Ordering::Relaxed), 1);
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert!(v.verify("bad-1").await.is_err());
        assert_eq!(calls.load(Ordering::Relaxed), 2, "forgotten after the ttl");
        assert!(v.verify("down").await.is_err());
        assert!(v.verify("down").await.is_err());
        assert_eq!(
            calls.load(Ordering::Relaxed),
            4,
            "unavailability is not remembered"
        );
        let (v, calls) = cached(None, CacheConfig::default().refusals(Duration::ZERO, 0));
        assert!(v.verify("bad-1").await.is_err());
        assert!(v.verify("bad-1").await.is_err());
        assert_eq!(calls.load(Ordering::Relaxed), 2, "off");
    }

    #[tokio::test]
    async fn bounded() {
        let (v, _) = cached(None, CacheConfig::default().max_entries(3));
        for i in 0..10 {
            v.verify(&format!("t{i}")).await.unwrap();
        }
        assert_eq!(v.stats().entries, 3);
    }
}
