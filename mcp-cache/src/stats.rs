//! Counters, readable as a plain [`CacheStats`] struct.
//!
//! Read-path counters are striped over cache-line-padded shards chosen per thread, so that
//! readers on many cores do not contend on one atomic (a single shared `AtomicU64` costs more
//! than the `ArcSwap::load` it would count).

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

const SHARDS: usize = 16;

#[repr(align(128))]
#[derive(Default)]
struct Padded(AtomicU64);

/// A counter striped over [`SHARDS`] padded atomics.
#[derive(Default)]
pub(crate) struct StripedCounter {
    shards: [Padded; SHARDS],
}

fn shard_index() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static INDEX: Cell<usize> = const { Cell::new(usize::MAX) };
    }
    INDEX.with(|index| {
        let mut value = index.get();
        if value == usize::MAX {
            value = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
            index.set(value);
        }
        value
    })
}

impl StripedCounter {
    pub(crate) fn incr(&self) {
        self.shards[shard_index()].0.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn get(&self) -> u64 {
        self.shards
            .iter()
            .map(|s| s.0.load(Ordering::Relaxed))
            .sum()
    }
}

impl std::fmt::Debug for StripedCounter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.get().fmt(f)
    }
}

/// The live counters of one cache.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) refreshes: AtomicU64,
    pub(crate) failures: AtomicU64,
    pub(crate) rejections: AtomicU64,
    pub(crate) timeouts: AtomicU64,
    pub(crate) panics: AtomicU64,
    pub(crate) coalesced: AtomicU64,
    pub(crate) reads: StripedCounter,
    pub(crate) hits: StripedCounter,
    pub(crate) misses: StripedCounter,
    pub(crate) not_ready: StripedCounter,
}

impl Counters {
    pub(crate) fn snapshot(&self) -> CacheStats {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        CacheStats {
            refreshes: load(&self.refreshes),
            refresh_failures: load(&self.failures),
            rejections: load(&self.rejections),
            timeouts: load(&self.timeouts),
            panics: load(&self.panics),
            coalesced_refreshes: load(&self.coalesced),
            reads: self.reads.get(),
            hits: self.hits.get(),
            misses: self.misses.get(),
            not_ready: self.not_ready.get(),
        }
    }
}

/// A point-in-time copy of a cache's counters. Counters only grow; they are read with relaxed
/// ordering, so a copy taken while readers run may be a few increments behind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct CacheStats {
    /// Successful refreshes (swaps), the initial fetch included.
    pub refreshes: u64,
    /// Failed refresh attempts of any kind (error, timeout, panic, rejection).
    pub refresh_failures: u64,
    /// Of the failures, those where validation rejected the data.
    pub rejections: u64,
    /// Of the failures, those that hit the fetch timeout.
    pub timeouts: u64,
    /// Of the failures, those where the fetch panicked.
    pub panics: u64,
    /// `refresh_now` calls that joined a refresh already in flight instead of fetching.
    pub coalesced_refreshes: u64,
    /// Reads through the helpers (`read`, `get`, `lookup`, `snapshot`).
    pub reads: u64,
    /// Keyed lookups that found their key.
    pub hits: u64,
    /// Keyed lookups that did not.
    pub misses: u64,
    /// Reads refused with [`CacheError::NotReady`](crate::CacheError::NotReady).
    pub not_ready: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn striped_counter_sums_across_threads() {
        let counter = std::sync::Arc::new(StripedCounter::default());
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let counter = counter.clone();
                std::thread::spawn(move || (0..1000).for_each(|_| counter.incr()))
            })
            .collect();
        for t in threads {
            t.join().expect("thread");
        }
        assert_eq!(counter.get(), 4000);
    }
}
