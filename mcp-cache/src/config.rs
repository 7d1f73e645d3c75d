//! Cache configuration.

use std::time::Duration;

/// What a cache does when its first fetch fails (requirement C2).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum InitialFetch {
    /// Start-up returns the fetch error.
    FailFast,
    /// Start empty; readers get [`CacheError::NotReady`](crate::CacheError::NotReady) until a
    /// background refresh succeeds.
    Degrade,
    /// Retry with exponential backoff (starting at `initial_backoff`, doubling, capped at
    /// `max_backoff`) until `deadline` has passed, then fail.
    Retry {
        /// Delay before the first retry.
        initial_backoff: Duration,
        /// Largest delay between two attempts.
        max_backoff: Duration,
        /// Total time after which start-up gives up.
        deadline: Duration,
    },
}

/// Configuration of a cache. The defaults are a 5-minute TTL, no jitter, a 30-second
/// per-fetch timeout and [`InitialFetch::FailFast`].
#[derive(Debug, Clone)]
pub struct CacheConfig {
    /// Interval between background refreshes; a snapshot older than this is stale.
    pub ttl: Duration,
    /// Largest random delay added to each refresh interval, to spread refreshes of many caches.
    pub jitter: Duration,
    /// Time allowed for one fetch before it counts as failed.
    pub fetch_timeout: Duration,
    /// Behaviour when the first fetch fails.
    pub initial_fetch: InitialFetch,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(300),
            jitter: Duration::ZERO,
            fetch_timeout: Duration::from_secs(30),
            initial_fetch: InitialFetch::FailFast,
        }
    }
}
