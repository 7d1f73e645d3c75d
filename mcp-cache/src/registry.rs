//! Session-scoped caches: one [`Cache`] per session or per user key, created on first use with
//! that key's fetch, bounded in count, evicted when idle or removed when the session ends.

use std::fmt;
use std::hash::Hash;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use moka::notification::RemovalCause;
use moka::ops::compute::Op;
use moka::policy::EvictionPolicy;

use tokio::sync::OnceCell;
use tokio::time::Instant;
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::{Cache, CacheBuilder, CacheConfig, CacheError, Fetcher, fetch_fn};

/// Configuration of a [`CacheRegistry`].
///
/// | field | default |
/// |---|---|
/// | `max_entries` | 1024 |
/// | `idle_timeout` | 30 min |
/// | `cache` | [`CacheConfig::default`] |
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RegistryConfig {
    /// Most caches alive at once; creating one more evicts the least recently used.
    pub max_entries: usize,
    /// A cache not read through the registry for this long is evicted (checked every
    /// `idle_timeout / 2`).
    pub idle_timeout: Duration,
    /// Configuration of each per-key cache.
    pub cache: CacheConfig,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        Self {
            max_entries: 1024,
            idle_timeout: Duration::from_secs(30 * 60),
            cache: CacheConfig::default(),
        }
    }
}

impl RegistryConfig {
    /// Sets the largest number of caches.
    #[must_use]
    pub fn max_entries(mut self, max: usize) -> Self {
        self.max_entries = max.max(1);
        self
    }

    /// Sets the idle timeout.
    #[must_use]
    pub fn idle_timeout(mut self, idle: Duration) -> Self {
        self.idle_timeout = idle;
        self
    }

    /// Sets the configuration of each per-key cache.
    #[must_use]
    pub fn cache(mut self, cache: CacheConfig) -> Self {
        self.cache = cache;
        self
    }
}

/// Counters of a registry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RegistryStats {
    /// Caches alive now.
    pub entries: usize,
    /// Caches created (first successful build per key, re-creations included).
    pub created: u64,
    /// Caches evicted because they were idle.
    pub evicted_idle: u64,
    /// Caches evicted to stay within `max_entries`.
    pub evicted_capacity: u64,
    /// Caches removed explicitly ([`CacheRegistry::remove`] or a dropped [`RegistryGuard`]).
    pub removed: u64,
}

type MakeFetcher<K, T> = Arc<dyn Fn(&K) -> Arc<dyn Fetcher<T>> + Send + Sync>;

/// One key's cache, built once, and when it was last used.
struct Slot<T> {
    cell: OnceCell<Cache<T>>,
    /// Milliseconds since the registry's epoch (tokio's clock) of the last use.
    last_used: AtomicU64,
}

impl<T> Slot<T> {
    fn close(&self) {
        if let Some(cache) = self.cell.get() {
            cache.close();
        }
    }
}

struct Inner<K, T> {
    config: RegistryConfig,
    make_fetcher: MakeFetcher<K, T>,
    /// The caches by key: bounded in count, least recently used evicted first.
    entries: moka::sync::Cache<K, Arc<Slot<T>>>,
    /// Origin of the `last_used` timestamps.
    epoch: Instant,
    created: AtomicU64,
    evicted_idle: AtomicU64,
    evicted_capacity: Arc<AtomicU64>,
    removed: AtomicU64,
    _stop: DropGuard,
}

impl<K, T> Inner<K, T>
where
    K: Hash + Eq + Send + Sync + 'static,
    T: Send + Sync + 'static,
{
    /// Milliseconds since the epoch, now.
    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Removes the entry for `key` and stops its cache; counts it as removed.
    fn remove(&self, key: &K) -> bool {
        let removed = self.entries.remove(key);
        if let Some(slot) = &removed {
            slot.close();
            self.removed.fetch_add(1, Ordering::Relaxed);
        }
        removed.is_some()
    }
}

/// A set of caches, one per key (a session id, a user id …), each filled by that key's fetch.
///
/// Cloning is cheap and shares the registry.
///
/// # Guarantees
///
/// - Concurrent first uses of one key are coalesced: one cache is built (one initial fetch),
///   and all callers get it. A failed build (fail-fast or retry policy) leaves no entry; the
///   next use tries again.
/// - Keys are isolated: each cache has its own fetcher, snapshot, counters and refresh task.
/// - At most `max_entries` caches exist; creating one more evicts the least recently used
///   (a concurrent map with LRU eviction, [moka]: no global lock, no scan). Caches idle longer
///   than `idle_timeout` (on tokio's clock) are evicted by a background sweep. An evicted or
///   removed cache stops refreshing at once; handles still held keep reading its last
///   snapshot.
/// - No lock is held across a fetch or an `.await`.
///
/// [moka]: https://docs.rs/moka
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use mcp_cache::{CacheRegistry, RegistryConfig};
///
/// // One cache per user, filled with that user's data.
/// let registry = CacheRegistry::from_fn(RegistryConfig::default(), |user: String| async move {
///     Ok::<_, std::io::Error>(vec![format!("{user}'s rule")])
/// });
/// let alice = registry.get(&"alice".to_owned()).await.expect("built");
/// assert_eq!(alice.snapshot().unwrap().data(), &["alice's rule"]);
/// // When alice's session ends:
/// registry.remove(&"alice".to_owned());
/// assert_eq!(registry.len(), 0);
/// # }
/// ```
pub struct CacheRegistry<K, T> {
    inner: Arc<Inner<K, T>>,
}

impl<K, T> Clone for CacheRegistry<K, T> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<K, T> fmt::Debug for CacheRegistry<K, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheRegistry")
            .field("config", &self.inner.config)
            .field("entries", &self.inner.entries.entry_count())
            .finish_non_exhaustive()
    }
}

impl<K, T> CacheRegistry<K, T>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    T: Send + Sync + 'static,
{
    /// A registry whose cache for key `k` is filled by the fetcher `make_fetcher(&k)`.
    /// Starts the idle sweep, so must be called within a tokio runtime.
    pub fn new<F>(
        config: RegistryConfig,
        make_fetcher: impl Fn(&K) -> F + Send + Sync + 'static,
    ) -> Self
    where
        F: Fetcher<T>,
    {
        let make_fetcher: MakeFetcher<K, T> =
            Arc::new(move |key: &K| -> Arc<dyn Fetcher<T>> { Arc::new(make_fetcher(key)) });
        let stop = CancellationToken::new();
        let evicted_capacity = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&evicted_capacity);
        let entries = moka::sync::Cache::builder()
            .max_capacity(u64::try_from(config.max_entries.max(1)).unwrap_or(u64::MAX))
            .eviction_policy(EvictionPolicy::lru())
            .eviction_listener(move |_key: Arc<K>, slot: Arc<Slot<T>>, cause| {
                // Explicit removals are closed and counted by whoever removed them.
                if cause == RemovalCause::Size {
                    slot.close();
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            })
            .build();
        let inner = Arc::new(Inner {
            config,
            make_fetcher,
            entries,
            epoch: Instant::now(),
            created: AtomicU64::new(0),
            evicted_idle: AtomicU64::new(0),
            evicted_capacity,
            removed: AtomicU64::new(0),
            _stop: stop.clone().drop_guard(),
        });
        tokio::spawn(sweep(Arc::downgrade(&inner), stop));
        Self { inner }
    }

    /// A registry whose cache for key `k` is filled by the async closure `fetch(k)`.
    pub fn from_fn<F, Fut, E>(config: RegistryConfig, fetch: F) -> Self
    where
        F: Fn(K) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        E: Into<crate::FetchError>,
    {
        let fetch = Arc::new(fetch);
        Self::new(config, move |key: &K| {
            let fetch = Arc::clone(&fetch);
            let key = key.clone();
            fetch_fn(move || fetch(key.clone()))
        })
    }

    /// The cache for `key`, built on first use (running the initial-fetch policy of
    /// [`RegistryConfig::cache`]). Marks the key as used.
    pub async fn get(&self, key: &K) -> Result<Cache<T>, CacheError> {
        let slot = self.slot(key);
        let built = slot
            .cell
            .get_or_try_init(|| {
                CacheBuilder::from_arc((self.inner.make_fetcher)(key))
                    .config(self.inner.config.cache.clone())
                    .build()
            })
            .await;
        match built {
            Ok(cache) => Ok(cache.clone()),
            Err(error) => {
                // Leave no entry behind, unless another caller has replaced it meanwhile.
                self.inner
                    .entries
                    .entry(key.clone())
                    .and_compute_with(|entry| match entry {
                        Some(entry)
                            if Arc::ptr_eq(entry.value(), &slot)
                                && !entry.value().cell.initialized() =>
                        {
                            Op::Remove
                        }
                        _ => Op::Nop,
                    });
                Err(error)
            }
        }
    }

    /// The slot for `key`, created (evicting the least recently used entry if full) and
    /// marked used.
    fn slot(&self, key: &K) -> Arc<Slot<T>> {
        let now = self.inner.now();
        let mut inserted = false;
        let slot = self.inner.entries.get_with_by_ref(key, || {
            inserted = true;
            Arc::new(Slot {
                cell: OnceCell::new(),
                last_used: AtomicU64::new(now),
            })
        });
        slot.last_used.fetch_max(now, Ordering::Relaxed);
        if inserted {
            self.inner.created.fetch_add(1, Ordering::Relaxed);
            // Apply the capacity bound now rather than at the map's next maintenance, so
            // that at most `max_entries` caches are ever refreshing.
            self.inner.entries.run_pending_tasks();
        }
        slot
    }

    /// The cache for `key` if it exists and is built, without creating it or resetting its
    /// idle time. (It does count as a use for the capacity bound's least-recently-used order.)
    pub fn peek(&self, key: &K) -> Option<Cache<T>> {
        self.inner
            .entries
            .get(key)
            .and_then(|slot| slot.cell.get().cloned())
    }

    /// Removes and stops the cache for `key` (call it when the session ends). Returns whether
    /// there was one.
    pub fn remove(&self, key: &K) -> bool {
        self.inner.remove(key)
    }

    /// A guard that removes `key` from the registry when dropped: keep it in a per-session
    /// handler so the session's cache goes away with the session.
    pub fn guard(&self, key: K) -> RegistryGuard<K, T> {
        let registry: Weak<dyn RemoveKey<K>> = Arc::downgrade(&self.inner) as Weak<Inner<K, T>>;
        RegistryGuard {
            registry,
            key: Some(key),
            _cache: PhantomData,
        }
    }

    /// Evicts every cache idle for longer than the idle timeout now; returns how many. The
    /// background sweep calls this every `idle_timeout / 2`.
    pub fn evict_idle(&self) -> usize {
        evict_idle(&self.inner)
    }

    /// Number of caches (built or being built).
    pub fn len(&self) -> usize {
        self.inner.entries.run_pending_tasks();
        usize::try_from(self.inner.entries.entry_count()).unwrap_or(usize::MAX)
    }

    /// Whether the registry holds no cache.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether a cache for `key` exists.
    pub fn contains(&self, key: &K) -> bool {
        self.inner.entries.contains_key(key)
    }

    /// The counters.
    pub fn stats(&self) -> RegistryStats {
        RegistryStats {
            entries: self.len(),
            created: self.inner.created.load(Ordering::Relaxed),
            evicted_idle: self.inner.evicted_idle.load(Ordering::Relaxed),
            evicted_capacity: self.inner.evicted_capacity.load(Ordering::Relaxed),
            removed: self.inner.removed.load(Ordering::Relaxed),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &RegistryConfig {
        &self.inner.config
    }
}

fn evict_idle<K, T>(inner: &Inner<K, T>) -> usize
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    T: Send + Sync + 'static,
{
    let idle = u64::try_from(inner.config.idle_timeout.as_millis()).unwrap_or(u64::MAX);
    let now = inner.now();
    let is_idle =
        |slot: &Slot<T>| now.saturating_sub(slot.last_used.load(Ordering::Relaxed)) > idle;
    let candidates: Vec<K> = inner
        .entries
        .iter()
        .filter(|(_, slot)| is_idle(slot))
        .map(|(key, _)| K::clone(&key))
        .collect();
    let mut evicted = 0;
    for key in candidates {
        // Only if still idle: a use since the scan keeps it.
        let outcome = inner
            .entries
            .entry(key)
            .and_compute_with(|entry| match entry {
                Some(entry) if is_idle(entry.value()) => Op::Remove,
                _ => Op::Nop,
            });
        if let moka::ops::compute::CompResult::Removed(entry) = outcome {
            entry.value().close();
            evicted += 1;
        }
    }
    inner
        .evicted_idle
        .fetch_add(evicted as u64, Ordering::Relaxed);
    evicted
}

async fn sweep<K, T>(weak: Weak<Inner<K, T>>, stop: CancellationToken)
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    T: Send + Sync + 'static,
{
    let Some(period) = weak
        .upgrade()
        .map(|inner| (inner.config.idle_timeout / 2).max(Duration::from_millis(1)))
    else {
        return;
    };
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(period) => {}
        }
        let Some(inner) = weak.upgrade() else { return };
        let evicted = evict_idle(&inner);
        if evicted > 0 {
            tracing::debug!(evicted, "evicted idle session caches");
        }
    }
}

/// Removes its key from a [`CacheRegistry`] when dropped (see [`CacheRegistry::guard`]).
pub struct RegistryGuard<K: Hash + Eq, T> {
    registry: Weak<dyn RemoveKey<K>>,
    key: Option<K>,
    _cache: PhantomData<fn() -> T>,
}

/// What a guard needs of the registry: removing its key.
trait RemoveKey<K>: Send + Sync {
    fn remove_key(&self, key: &K) -> bool;
}

impl<K, T> RemoveKey<K> for Inner<K, T>
where
    K: Hash + Eq + Send + Sync + 'static,
    T: Send + Sync + 'static,
{
    fn remove_key(&self, key: &K) -> bool {
        self.remove(key)
    }
}

impl<K: Hash + Eq + fmt::Debug, T> fmt::Debug for RegistryGuard<K, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryGuard")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl<K: Hash + Eq, T> RegistryGuard<K, T> {
    /// The key guarded.
    pub fn key(&self) -> Option<&K> {
        self.key.as_ref()
    }

    /// Keeps the entry: the guard no longer removes it.
    pub fn disarm(mut self) {
        self.key = None;
    }
}

impl<K: Hash + Eq, T> Drop for RegistryGuard<K, T> {
    fn drop(&mut self) {
        if let (Some(inner), Some(key)) = (self.registry.upgrade(), self.key.take()) {
            inner.remove_key(&key);
        }
    }
}
