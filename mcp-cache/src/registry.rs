//! Session-scoped caches (requirement C10): one [`Cache`] per session or per user key, created
//! on first use with that key's fetch, bounded in count, evicted when idle or removed when the
//! session ends.

use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

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

struct Entry<T> {
    cell: Arc<OnceCell<Cache<T>>>,
    last_used: Instant,
}

struct Inner<K, T> {
    config: RegistryConfig,
    make_fetcher: MakeFetcher<K, T>,
    entries: Mutex<HashMap<K, Entry<T>>>,
    created: AtomicU64,
    evicted_idle: AtomicU64,
    evicted_capacity: AtomicU64,
    removed: AtomicU64,
    _stop: DropGuard,
}

impl<K, T> Inner<K, T> {
    fn entries(&self) -> MutexGuard<'_, HashMap<K, Entry<T>>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn close<T>(entry: &Entry<T>) {
    if let Some(cache) = entry.cell.get() {
        cache.close();
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
/// - At most `max_entries` caches exist; creating one more evicts the least recently used.
///   Caches idle longer than `idle_timeout` are evicted by a background sweep. An evicted or
///   removed cache stops refreshing at once; handles still held keep reading its last snapshot.
/// - The registry lock is held only for map operations, never across a fetch or an `.await`.
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
            .field("entries", &self.inner.entries().len())
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
        let inner = Arc::new(Inner {
            config,
            make_fetcher,
            entries: Mutex::new(HashMap::new()),
            created: AtomicU64::new(0),
            evicted_idle: AtomicU64::new(0),
            evicted_capacity: AtomicU64::new(0),
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
        let cell = self.slot(key);
        let built = cell
            .get_or_try_init(|| {
                CacheBuilder::from_arc((self.inner.make_fetcher)(key))
                    .config(self.inner.config.cache.clone())
                    .build()
            })
            .await;
        match built {
            Ok(cache) => Ok(cache.clone()),
            Err(error) => {
                let mut entries = self.inner.entries();
                if entries
                    .get(key)
                    .is_some_and(|e| Arc::ptr_eq(&e.cell, &cell) && !e.cell.initialized())
                {
                    entries.remove(key);
                }
                Err(error)
            }
        }
    }

    /// The entry's cell for `key`, created (evicting the least recently used entry if full).
    fn slot(&self, key: &K) -> Arc<OnceCell<Cache<T>>> {
        let now = Instant::now();
        let mut entries = self.inner.entries();
        if let Some(entry) = entries.get_mut(key) {
            entry.last_used = now;
            return Arc::clone(&entry.cell);
        }
        while entries.len() >= self.inner.config.max_entries.max(1) {
            let Some(lru) = entries
                .iter()
                .min_by_key(|(_, e)| e.last_used)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some(evicted) = entries.remove(&lru) {
                close(&evicted);
                self.inner.evicted_capacity.fetch_add(1, Ordering::Relaxed);
            }
        }
        let cell = Arc::new(OnceCell::new());
        entries.insert(
            key.clone(),
            Entry {
                cell: Arc::clone(&cell),
                last_used: now,
            },
        );
        self.inner.created.fetch_add(1, Ordering::Relaxed);
        cell
    }

    /// The cache for `key` if it exists and is built, without creating it or marking it used.
    pub fn peek(&self, key: &K) -> Option<Cache<T>> {
        self.inner
            .entries()
            .get(key)
            .and_then(|e| e.cell.get().cloned())
    }

    /// Removes and stops the cache for `key` (call it when the session ends). Returns whether
    /// there was one.
    pub fn remove(&self, key: &K) -> bool {
        let removed = self.inner.entries().remove(key);
        if let Some(entry) = &removed {
            close(entry);
            self.inner.removed.fetch_add(1, Ordering::Relaxed);
        }
        removed.is_some()
    }

    /// A guard that removes `key` from the registry when dropped: keep it in a per-session
    /// handler so the session's cache goes away with the session.
    pub fn guard(&self, key: K) -> RegistryGuard<K, T> {
        RegistryGuard {
            registry: Arc::downgrade(&self.inner),
            key: Some(key),
        }
    }

    /// Evicts every cache idle for longer than the idle timeout now; returns how many. The
    /// background sweep calls this every `idle_timeout / 2`.
    pub fn evict_idle(&self) -> usize {
        evict_idle(&self.inner)
    }

    /// Number of caches (built or being built).
    pub fn len(&self) -> usize {
        self.inner.entries().len()
    }

    /// Whether the registry holds no cache.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether a cache for `key` exists.
    pub fn contains(&self, key: &K) -> bool {
        self.inner.entries().contains_key(key)
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

fn evict_idle<K: Hash + Eq, T>(inner: &Inner<K, T>) -> usize {
    let idle = inner.config.idle_timeout;
    let now = Instant::now();
    let mut evicted = Vec::new();
    {
        let mut entries = inner.entries();
        entries.retain(|_, entry| {
            let keep = now.duration_since(entry.last_used) <= idle;
            if !keep {
                evicted.push(Arc::clone(&entry.cell));
            }
            keep
        });
    }
    for cell in &evicted {
        if let Some(cache) = cell.get() {
            cache.close();
        }
    }
    inner
        .evicted_idle
        .fetch_add(evicted.len() as u64, Ordering::Relaxed);
    evicted.len()
}

async fn sweep<K: Hash + Eq, T>(weak: Weak<Inner<K, T>>, stop: CancellationToken) {
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
    registry: Weak<Inner<K, T>>,
    key: Option<K>,
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
            let removed = inner.entries().remove(&key);
            if let Some(entry) = removed {
                close(&entry);
                inner.removed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}
