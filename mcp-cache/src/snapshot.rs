//! Snapshot metadata.

use std::time::{Duration, Instant, SystemTime};

/// Metadata carried by every snapshot (requirement C3).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SnapshotMeta {
    /// Monotonic counter, bumped by each successful refresh; the first snapshot is generation 1.
    pub generation: u64,
    /// Number of items in the snapshot.
    pub items: usize,
    /// The TTL the snapshot was built under.
    pub ttl: Duration,
    /// Wall-clock time of the refresh, for display.
    pub refreshed_at: SystemTime,
    refreshed_instant: Instant,
}

impl SnapshotMeta {
    /// Metadata for a snapshot built now.
    pub fn new(generation: u64, items: usize, ttl: Duration) -> Self {
        Self {
            generation,
            items,
            ttl,
            refreshed_at: SystemTime::now(),
            refreshed_instant: Instant::now(),
        }
    }

    /// Time since the snapshot was built.
    pub fn age(&self) -> Duration {
        self.refreshed_instant.elapsed()
    }

    /// Whether the snapshot is older than its TTL.
    pub fn is_stale(&self) -> bool {
        self.age() > self.ttl
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_snapshot_is_not_stale_and_zero_ttl_is() {
        let fresh = SnapshotMeta::new(1, 2, Duration::from_secs(60));
        assert!(!fresh.is_stale());
        let zero = SnapshotMeta::new(1, 2, Duration::ZERO);
        std::thread::sleep(Duration::from_millis(2));
        assert!(zero.is_stale());
    }
}
