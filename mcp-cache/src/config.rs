//! Cache configuration: plain data with documented defaults.

use std::borrow::Cow;
use std::time::Duration;

/// Exponential backoff: the first delay is `initial`, each next one doubles, capped at `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Delay before the first retry.
    pub initial: Duration,
    /// Largest delay between two attempts.
    pub max: Duration,
}

impl Backoff {
    /// A backoff starting at `initial`, doubling, capped at `max`.
    pub const fn new(initial: Duration, max: Duration) -> Self {
        Self { initial, max }
    }

    /// The delay after `delay`: doubled, capped at `max` (and never below `initial`).
    pub fn next(&self, delay: Duration) -> Duration {
        delay
            .saturating_mul(2)
            .min(self.max)
            .max(self.initial.min(self.max))
    }
}

impl Default for Backoff {
    /// 1 s, doubling, capped at 60 s.
    fn default() -> Self {
        Self::new(Duration::from_secs(1), Duration::from_secs(60))
    }
}

/// What a cache does when its first fetch fails.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum InitialFetch {
    /// Start-up ([`CacheBuilder::build`](crate::CacheBuilder::build)) returns the fetch error.
    FailFast,
    /// Start-up returns at once with an empty cache and the first fetch runs in the background.
    /// Readers get [`CacheError::NotReady`](crate::CacheError::NotReady) until a fetch succeeds;
    /// failed attempts are retried with [`CacheConfig::failure_backoff`].
    Degrade,
    /// Start-up retries with exponential `backoff` until `deadline` (measured from the first
    /// attempt) would be passed, then returns the last error. No attempt starts after the
    /// deadline.
    Retry {
        /// Delays between attempts.
        backoff: Backoff,
        /// Total time after which start-up gives up.
        deadline: Duration,
    },
}

/// Configuration of a cache.
///
/// | field | default |
/// |---|---|
/// | `name` | `"cache"` |
/// | `ttl` | 5 min |
/// | `jitter` | 0 |
/// | `fetch_timeout` | 30 s |
/// | `initial_fetch` | [`InitialFetch::FailFast`] |
/// | `failure_backoff` | 1 s doubling to 60 s ([`Backoff::default`]) |
/// | `background_refresh` | `true` |
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CacheConfig {
    /// Name used in tracing spans (`cache.name`) and in the health resource.
    pub name: Cow<'static, str>,
    /// Lifetime of a snapshot: a snapshot older than this is stale ([`SnapshotMeta::is_stale`]).
    /// The background task refreshes every `ttl - U(0, jitter)` after the last successful swap.
    ///
    /// [`SnapshotMeta::is_stale`]: crate::SnapshotMeta::is_stale
    pub ttl: Duration,
    /// Largest random amount taken off each refresh interval, so that many caches (or many
    /// replicas) do not all hit the downstream at the same instant, and so that a refresh
    /// usually lands before the snapshot goes stale.
    pub jitter: Duration,
    /// Time allowed for one fetch (and its validation) before it counts as failed.
    pub fetch_timeout: Duration,
    /// Behaviour when the first fetch fails.
    pub initial_fetch: InitialFetch,
    /// After a failed background refresh, the next attempt comes after this backoff (capped at
    /// the TTL interval) rather than a full TTL later.
    pub failure_backoff: Backoff,
    /// Whether to run the background refresh task at all. With `false` the cache only changes
    /// through [`Cache::refresh_now`](crate::Cache::refresh_now).
    pub background_refresh: bool,
}

impl CacheConfig {
    /// The default configuration with a TTL of `ttl`.
    pub fn with_ttl(ttl: Duration) -> Self {
        Self {
            ttl,
            ..Self::default()
        }
    }

    /// Sets the name used in spans and the health resource.
    #[must_use]
    pub fn name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.name = name.into();
        self
    }

    /// Sets the TTL.
    #[must_use]
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Sets the jitter.
    #[must_use]
    pub fn jitter(mut self, jitter: Duration) -> Self {
        self.jitter = jitter;
        self
    }

    /// Sets the per-fetch timeout.
    #[must_use]
    pub fn fetch_timeout(mut self, timeout: Duration) -> Self {
        self.fetch_timeout = timeout;
        self
    }

    /// Sets the initial-fetch policy.
    #[must_use]
    pub fn initial_fetch(mut self, policy: InitialFetch) -> Self {
        self.initial_fetch = policy;
        self
    }

    /// Sets the backoff used after failed background refreshes.
    #[must_use]
    pub fn failure_backoff(mut self, backoff: Backoff) -> Self {
        self.failure_backoff = backoff;
        self
    }

    /// Turns the background refresh task on or off.
    #[must_use]
    pub fn background_refresh(mut self, enabled: bool) -> Self {
        self.background_refresh = enabled;
        self
    }
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            name: Cow::Borrowed("cache"),
            ttl: Duration::from_secs(300),
            jitter: Duration::ZERO,
            fetch_timeout: Duration::from_secs(30),
            initial_fetch: InitialFetch::FailFast,
            failure_backoff: Backoff::default(),
            background_refresh: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let b = Backoff::new(Duration::from_millis(100), Duration::from_millis(350));
        assert_eq!(b.next(b.initial), Duration::from_millis(200));
        assert_eq!(
            b.next(Duration::from_millis(200)),
            Duration::from_millis(350)
        );
        assert_eq!(
            b.next(Duration::from_millis(350)),
            Duration::from_millis(350)
        );
    }
}
