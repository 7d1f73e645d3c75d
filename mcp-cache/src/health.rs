//! Health of a cache: what `cache://meta/health` serves.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::{Cache, CacheError, CacheStats, Coordination};

/// Outcome of the latest refresh attempts, kept also while no snapshot exists (degrade policy).
#[derive(Debug, Clone, Default)]
pub(crate) struct RefreshStatus {
    pub(crate) last_error: Option<CacheError>,
    pub(crate) consecutive_failures: u32,
    pub(crate) last_attempt_at: Option<SystemTime>,
}

impl RefreshStatus {
    pub(crate) fn success() -> Self {
        Self {
            last_error: None,
            consecutive_failures: 0,
            last_attempt_at: Some(SystemTime::now()),
        }
    }

    pub(crate) fn with_failure(&self, error: CacheError) -> Self {
        Self {
            last_error: Some(error),
            consecutive_failures: self.consecutive_failures.saturating_add(1),
            last_attempt_at: Some(SystemTime::now()),
        }
    }
}

fn unix_seconds(time: SystemTime) -> f64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// A serializable health report of one cache.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Health {
    /// The cache's configured name.
    pub name: String,
    /// Whether a snapshot has been loaded.
    pub ready: bool,
    /// Generation of the current snapshot (0 when not ready).
    pub generation: u64,
    /// Items in the current snapshot.
    pub items: usize,
    /// Seconds since the current snapshot was swapped in.
    pub age_seconds: Option<f64>,
    /// The TTL in seconds.
    pub ttl_seconds: f64,
    /// Whether the snapshot is older than the TTL (also `true` when not ready).
    pub stale: bool,
    /// Unix time (seconds) of the current snapshot's swap.
    pub refreshed_at_unix: Option<f64>,
    /// Unix time (seconds) of the latest refresh attempt.
    pub last_attempt_at_unix: Option<f64>,
    /// Message of the latest attempt's error, when it failed.
    pub last_error: Option<String>,
    /// Kind of that error (`fetch`, `timeout`, `panic`, `rejected`).
    pub last_error_kind: Option<&'static str>,
    /// Failed attempts since the last success.
    pub consecutive_failures: u32,
    /// The counters.
    pub stats: CacheStats,
    /// How this replica shares refreshes with the others (leader or follower, last shared
    /// generation, backend reachable); absent for a cache that refreshes alone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coordination: Option<Coordination>,
}

impl Health {
    pub(crate) fn of<T>(cache: &Cache<T>) -> Self {
        let inner = &cache.inner;
        let status = inner.status.load();
        let current = inner.current.load();
        let snapshot = current.as_deref();
        Self {
            name: inner.config.name.to_string(),
            ready: snapshot.is_some(),
            generation: snapshot.map_or(0, super::snapshot::Snapshot::generation),
            items: snapshot.map_or(0, |s| s.meta().items),
            age_seconds: snapshot.map(|s| s.meta().age().as_secs_f64()),
            ttl_seconds: inner.config.ttl.as_secs_f64(),
            stale: snapshot.is_none_or(super::snapshot::Snapshot::is_stale),
            refreshed_at_unix: snapshot.map(|s| unix_seconds(s.meta().refreshed_at)),
            last_attempt_at_unix: status.last_attempt_at.map(unix_seconds),
            last_error: status.last_error.as_ref().map(ToString::to_string),
            last_error_kind: status.last_error.as_ref().map(CacheError::kind),
            consecutive_failures: status.consecutive_failures,
            stats: inner.counters.snapshot(),
            coordination: cache.coordination(),
        }
    }

    /// As a JSON value.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}
