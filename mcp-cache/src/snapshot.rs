//! Snapshots: typed data plus metadata.

use std::ops::Deref;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use crate::CacheError;

/// Metadata carried by every snapshot.
///
/// Time is measured with [`tokio::time::Instant`], so [`age`](Self::age) and
/// [`is_stale`](Self::is_stale) follow tokio's paused clock in tests.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SnapshotMeta {
    /// Monotonic counter, bumped by each successful refresh; the first snapshot is generation 1.
    pub generation: u64,
    /// Number of items in the snapshot (as counted by the builder's `item_count`; 1 by default).
    pub items: usize,
    /// The TTL the snapshot was built under.
    pub ttl: Duration,
    /// Wall-clock time at which the data was swapped in, for display.
    pub refreshed_at: SystemTime,
    /// The error of the latest refresh attempt, if it failed (cleared by the next success).
    pub last_error: Option<CacheError>,
    /// Failed refresh attempts since the last success.
    pub consecutive_failures: u32,
    refreshed_instant: Instant,
}

impl SnapshotMeta {
    /// Metadata for a snapshot built now, without errors.
    pub fn new(generation: u64, items: usize, ttl: Duration) -> Self {
        Self {
            generation,
            items,
            ttl,
            refreshed_at: SystemTime::now(),
            last_error: None,
            consecutive_failures: 0,
            refreshed_instant: Instant::now(),
        }
    }

    /// The same metadata with a failed attempt recorded.
    pub(crate) fn with_failure(&self, error: CacheError) -> Self {
        Self {
            last_error: Some(error),
            consecutive_failures: self.consecutive_failures.saturating_add(1),
            ..self.clone()
        }
    }

    /// The instant at which the data was swapped in.
    pub fn refreshed_instant(&self) -> Instant {
        self.refreshed_instant
    }

    /// Time since the snapshot was built.
    pub fn age(&self) -> Duration {
        self.refreshed_instant.elapsed()
    }

    /// Whether the snapshot is older than its TTL (a refresh is overdue or failing).
    pub fn is_stale(&self) -> bool {
        self.age() > self.ttl
    }

    /// Time left until the snapshot goes stale (zero when it already is).
    pub fn remaining_ttl(&self) -> Duration {
        self.ttl.saturating_sub(self.age())
    }
}

/// One consistent snapshot: the data of one successful fetch and its metadata.
///
/// Immutable: a refresh never changes a snapshot, it swaps in a new one. Holding an
/// `Arc<Snapshot<T>>` keeps that version alive (and its memory) until it is dropped.
#[derive(Debug)]
pub struct Snapshot<T> {
    data: Arc<T>,
    meta: SnapshotMeta,
}

impl<T> Snapshot<T> {
    /// A snapshot of `data` with `meta`.
    pub fn new(data: T, meta: SnapshotMeta) -> Self {
        Self {
            data: Arc::new(data),
            meta,
        }
    }

    /// Same data, new metadata (used to record a failed refresh without copying the data).
    pub(crate) fn with_meta(&self, meta: SnapshotMeta) -> Self {
        Self {
            data: Arc::clone(&self.data),
            meta,
        }
    }

    /// The data.
    pub fn data(&self) -> &T {
        &self.data
    }

    /// A shared handle to the data alone (no copy).
    pub fn data_arc(&self) -> Arc<T> {
        Arc::clone(&self.data)
    }

    /// The metadata.
    pub fn meta(&self) -> &SnapshotMeta {
        &self.meta
    }

    /// Shorthand for `self.meta().generation`.
    pub fn generation(&self) -> u64 {
        self.meta.generation
    }

    /// Shorthand for `self.meta().is_stale()`.
    pub fn is_stale(&self) -> bool {
        self.meta.is_stale()
    }
}

impl<T> Deref for Snapshot<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.data
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn staleness_follows_the_clock() {
        let meta = SnapshotMeta::new(1, 2, Duration::from_secs(60));
        assert!(!meta.is_stale());
        tokio::time::advance(Duration::from_secs(59)).await;
        assert!(!meta.is_stale());
        assert_eq!(meta.remaining_ttl(), Duration::from_secs(1));
        tokio::time::advance(Duration::from_secs(2)).await;
        assert!(meta.is_stale());
        assert_eq!(meta.remaining_ttl(), Duration::ZERO);
    }

    #[test]
    fn failure_keeps_generation() {
        let meta = SnapshotMeta::new(3, 2, Duration::from_secs(60));
        let failed = meta
            .with_failure(CacheError::NotReady)
            .with_failure(CacheError::NotReady);
        assert_eq!(failed.generation, 3);
        assert_eq!(failed.consecutive_failures, 2);
        assert!(failed.last_error.is_some());
    }
}
