//! A JWKS fetched over HTTP and kept in an [`ArcSwap`]: lock-free reads, periodic refresh, and a
//! rate-limited, single-flight refetch when a token names an unknown `kid`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use tokio::sync::Mutex;

use crate::error::ConfigError;
use crate::keys::KeySet;

/// How a JWKS is kept fresh. Plain data; the defaults are documented per field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct JwksRefresh {
    /// Periodic refresh interval; `None` disables the background refresh. Default: 5 minutes.
    pub interval: Option<Duration>,
    /// Minimum time between two fetches triggered by unknown `kid`s. Within this window an
    /// unknown `kid` is refused without contacting the identity provider. Default: 30 s.
    pub min_refetch_interval: Duration,
    /// Timeout of one JWKS request. Default: 5 s.
    pub timeout: Duration,
}

impl Default for JwksRefresh {
    fn default() -> Self {
        Self {
            interval: Some(Duration::from_secs(300)),
            min_refetch_interval: Duration::from_secs(30),
            timeout: Duration::from_secs(5),
        }
    }
}

impl JwksRefresh {
    /// Sets [`JwksRefresh::interval`].
    #[must_use]
    pub fn interval(mut self, interval: Option<Duration>) -> Self {
        self.interval = interval;
        self
    }

    /// Sets [`JwksRefresh::min_refetch_interval`].
    #[must_use]
    pub fn min_refetch_interval(mut self, interval: Duration) -> Self {
        self.min_refetch_interval = interval;
        self
    }

    /// Sets [`JwksRefresh::timeout`].
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

/// A remote JWKS.
///
/// Concurrency: [`JwksCache::current`] is a lock-free `ArcSwap` load, so verifying a token whose
/// `kid` is known never waits for a fetch. Refetches for unknown `kid`s are single-flight (one
/// fetch at a time; callers that queued behind it reuse its result) and rate-limited to one per
/// [`JwksRefresh::min_refetch_interval`], so a flood of tokens with made-up `kid`s costs the
/// identity provider at most one request per interval.
#[derive(Debug)]
pub(crate) struct JwksCache {
    url: String,
    client: reqwest::Client,
    refresh: JwksRefresh,
    keys: ArcSwap<KeySet>,
    generation: AtomicU64,
    fetches: AtomicU64,
    /// Held only by a refetch on an unknown `kid`; stores when the last fetch happened.
    refetch: Mutex<Instant>,
}

impl JwksCache {
    /// Fetches the JWKS once (fails when it cannot) and starts the periodic refresh.
    pub(crate) async fn start(
        url: String,
        client: reqwest::Client,
        refresh: JwksRefresh,
    ) -> Result<Arc<Self>, ConfigError> {
        let cache = Arc::new(Self {
            keys: ArcSwap::from_pointee(KeySet::new()),
            generation: AtomicU64::new(0),
            fetches: AtomicU64::new(0),
            refetch: Mutex::new(Instant::now()),
            url,
            client,
            refresh,
        });
        let keys = cache.fetch().await?;
        cache.install(keys);
        if let Some(interval) = refresh.interval {
            spawn_refresh(Arc::downgrade(&cache), interval);
        }
        Ok(cache)
    }

    pub(crate) fn current(&self) -> arc_swap::Guard<Arc<KeySet>> {
        self.keys.load()
    }

    /// How many times the JWKS was requested.
    pub(crate) fn fetch_count(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    fn install(&self, keys: KeySet) {
        self.keys.store(Arc::new(keys));
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    async fn fetch(&self) -> Result<KeySet, ConfigError> {
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let http = |source| ConfigError::Http {
            url: self.url.clone(),
            source,
        };
        let response = self
            .client
            .get(&self.url)
            .timeout(self.refresh.timeout)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(http)?;
        let doc: serde_json::Value =
            crate::idp::read_json(response, crate::idp::DEFAULT_MAX_IDP_RESPONSE_BYTES)
                .await
                .map_err(|error| match error {
                    crate::idp::BodyError::Transport(source) => http(source),
                    other => ConfigError::BadResponse {
                        url: self.url.clone(),
                        reason: other.to_string(),
                    },
                })?;
        let keys = KeySet::from_jwks_json(&doc)?;
        // An empty or wholly unusable document never replaces working keys (and never starts a
        // verifier that could accept nothing).
        if keys.is_empty() {
            return Err(ConfigError::BadResponse {
                url: self.url.clone(),
                reason: "the JWKS has no usable signing key".into(),
            });
        }
        Ok(keys)
    }

    /// Called when a token names `kid` and the current set lacks it. Returns the key set to
    /// retry with (which may still lack `kid`).
    pub(crate) async fn refetch_for(&self, kid: &str) -> Arc<KeySet> {
        let seen = self.generation.load(Ordering::Acquire);
        let mut last_fetch = self.refetch.lock().await;
        // Someone else fetched while we waited: use their result.
        if self.generation.load(Ordering::Acquire) != seen {
            return self.keys.load_full();
        }
        // `last_fetch` starts at creation time, i.e. the initial fetch.
        if last_fetch.elapsed() < self.refresh.min_refetch_interval {
            tracing::debug!(kid, "unknown kid; JWKS refetch rate-limited");
            return self.keys.load_full();
        }
        *last_fetch = Instant::now();
        match self.fetch().await {
            Ok(keys) => {
                tracing::info!(kid, keys = keys.len(), "JWKS refetched for unknown kid");
                self.install(keys);
            }
            Err(error) => tracing::warn!(%error, "JWKS refetch failed; keeping old keys"),
        }
        self.keys.load_full()
    }

    async fn refresh_now(&self) {
        let mut last_fetch = self.refetch.lock().await;
        *last_fetch = Instant::now();
        match self.fetch().await {
            Ok(keys) => self.install(keys),
            Err(error) => tracing::warn!(%error, "periodic JWKS refresh failed; keeping old keys"),
        }
    }
}

/// The refresh task holds only a `Weak`, so it ends when the verifier is dropped.
fn spawn_refresh(cache: Weak<JwksCache>, interval: Duration) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        tracing::warn!("no tokio runtime; periodic JWKS refresh disabled");
        return;
    };
    runtime.spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await; // the first tick is immediate; the initial fetch already ran
        loop {
            ticker.tick().await;
            let Some(cache) = cache.upgrade() else { return };
            cache.refresh_now().await;
        }
    });
}
