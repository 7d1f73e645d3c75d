//! The cache handle, its builder and the read helpers.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::{ArcSwap, ArcSwapOption};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::coordination::{Coordination, Coordinator};
use crate::health::{Health, RefreshStatus};
use crate::stats::Counters;
use crate::{CacheConfig, CacheError, CacheStats, Fetcher, Lookup, Snapshot, fetch_fn};

pub(crate) type Validator<T> = Arc<dyn Fn(&T) -> Result<(), String> + Send + Sync>;
pub(crate) type ItemCount<T> = Arc<dyn Fn(&T) -> usize + Send + Sync>;

/// The shared state of one cache.
pub(crate) struct Inner<T> {
    pub(crate) config: CacheConfig,
    pub(crate) current: ArcSwapOption<Snapshot<T>>,
    pub(crate) status: ArcSwap<RefreshStatus>,
    pub(crate) fetcher: Arc<dyn Fetcher<T>>,
    /// Shares refreshes with other replicas (feature `redis`); `None` refreshes alone.
    pub(crate) coordinator: Option<Arc<dyn Coordinator<T>>>,
    pub(crate) validator: Option<Validator<T>>,
    pub(crate) item_count: Option<ItemCount<T>>,
    pub(crate) counters: Counters,
    /// Held for the duration of one refresh; holds the outcome of the latest one.
    pub(crate) refresh_slot: tokio::sync::Mutex<Option<Result<u64, CacheError>>>,
    /// Completed refresh attempts (successful or not).
    pub(crate) attempts: AtomicU64,
    /// Bumped after every refresh attempt; receivers learn that the state changed.
    pub(crate) changes: watch::Sender<u64>,
    pub(crate) ct: CancellationToken,
    pub(crate) task: Mutex<Option<JoinHandle<()>>>,
    pub(crate) shut_down: AtomicBool,
    /// When the background task will refresh next: nanoseconds after [`clock_base`], or
    /// [`NO_REFRESH_SCHEDULED`].
    pub(crate) next_refresh: AtomicU64,
}

impl<T> Inner<T> {
    /// Records when the background task refreshes next (`None`: not scheduled), for
    /// [`Cache::fresh_for`](crate::Cache::fresh_for).
    pub(crate) fn schedule_refresh(&self, delay: Option<std::time::Duration>) {
        let at = delay.map_or(NO_REFRESH_SCHEDULED, |delay| {
            let at = clock_base().elapsed().saturating_add(delay);
            u64::try_from(at.as_nanos()).map_or(NO_REFRESH_SCHEDULED - 1, |n| {
                n.min(NO_REFRESH_SCHEDULED - 1)
            })
        });
        self.next_refresh
            .store(at, std::sync::atomic::Ordering::Release);
    }
}

/// [`Inner::next_refresh`] when no background refresh is scheduled.
pub(crate) const NO_REFRESH_SCHEDULED: u64 = u64::MAX;

/// The instant scheduled refreshes are counted from (the first time it is asked for). Tokio's
/// clock, like the snapshot's age, so both agree under a paused test clock.
pub(crate) fn clock_base() -> tokio::time::Instant {
    static BASE: std::sync::OnceLock<tokio::time::Instant> = std::sync::OnceLock::new();
    *BASE.get_or_init(tokio::time::Instant::now)
}

impl<T> Drop for Inner<T> {
    fn drop(&mut self) {
        self.ct.cancel();
        if let Some(task) = self
            .task
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            task.abort();
        }
    }
}

/// An eagerly fetched, copy-on-write, TTL-refreshed cache of a downstream data set.
///
/// Cloning is cheap and shares the cache. Readers ([`read`](Self::read), [`get`](Self::get),
/// [`snapshot`](Self::snapshot) …) never take a lock and never wait for a refresh: they load the
/// current `Arc<Snapshot<T>>` from an [`ArcSwap`] (lock-free). A refresh builds a complete new
/// snapshot off to the side and swaps it in atomically; readers see either the old snapshot or
/// the new one, never a mix. At most one refresh runs at a time.
///
/// The background refresh task stops when [`shutdown`](Self::shutdown) is awaited, or is
/// aborted when the last clone of the cache is dropped.
pub struct Cache<T> {
    pub(crate) inner: Arc<Inner<T>>,
}

impl<T> Clone for Cache<T> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<T> fmt::Debug for Cache<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let current = self.inner.current.load();
        f.debug_struct("Cache")
            .field("name", &self.inner.config.name)
            .field("generation", &current.as_ref().map(|s| s.generation()))
            .finish_non_exhaustive()
    }
}

/// Builds a [`Cache`]: a fetcher, a [`CacheConfig`], an optional validation hook and an
/// optional item counter. [`build`](Self::build) runs the initial fetch policy.
pub struct CacheBuilder<T> {
    fetcher: Arc<dyn Fetcher<T>>,
    config: CacheConfig,
    validator: Option<Validator<T>>,
    item_count: Option<ItemCount<T>>,
    coordinator: Option<Arc<dyn Coordinator<T>>>,
}

impl<T> fmt::Debug for CacheBuilder<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheBuilder")
            .field("config", &self.config)
            .field("validator", &self.validator.is_some())
            .field("shared", &self.coordinator.is_some())
            .finish_non_exhaustive()
    }
}

impl<T: Send + Sync + 'static> CacheBuilder<T> {
    /// A builder for a cache filled by `fetcher`, with the default configuration.
    pub fn new(fetcher: impl Fetcher<T>) -> Self {
        Self::from_arc(Arc::new(fetcher))
    }

    /// A builder for a cache filled by a shared fetcher.
    pub fn from_arc(fetcher: Arc<dyn Fetcher<T>>) -> Self {
        Self {
            fetcher,
            config: CacheConfig::default(),
            validator: None,
            item_count: None,
            coordinator: None,
        }
    }

    /// Sets the configuration.
    #[must_use]
    pub fn config(mut self, config: CacheConfig) -> Self {
        self.config = config;
        self
    }

    /// Sets a validation hook (cache corruption guard): data for which it
    /// returns `Err(reason)` is never swapped in; the old snapshot stays and the failure is
    /// recorded as [`CacheError::Rejected`]. It runs in the fetch task, under the fetch timeout.
    #[must_use]
    pub fn validate(
        mut self,
        hook: impl Fn(&T) -> Result<(), String> + Send + Sync + 'static,
    ) -> Self {
        self.validator = Some(Arc::new(hook));
        self
    }

    /// Sets how to count the items of a snapshot (for metadata, spans and health), e.g.
    /// `HashMap::len`. Without it every snapshot counts as one item.
    #[must_use]
    pub fn item_count(mut self, count: impl Fn(&T) -> usize + Send + Sync + 'static) -> Self {
        self.item_count = Some(Arc::new(count));
        self
    }

    /// Shares refreshes with the other replicas of the server through Redis (feature `redis`):
    /// per TTL one replica fetches from the downstream and the others load its snapshot. See
    /// [`RedisShared`](crate::RedisShared).
    #[cfg(feature = "redis")]
    #[must_use]
    pub fn shared(mut self, shared: crate::RedisShared<T>) -> Self {
        self.coordinator = Some(Arc::new(shared.into_coordinator(&self.config)));
        self
    }

    /// Creates the cache and runs the initial fetch policy
    /// ([`InitialFetch`](crate::InitialFetch)): fail-fast and retry return only once the first
    /// snapshot is in (or with the error); degrade returns at once. Then starts the background
    /// refresh task. Must be called within a tokio runtime.
    pub async fn build(self) -> Result<Cache<T>, CacheError> {
        let (changes, _) = watch::channel(0);
        let cache = Cache {
            inner: Arc::new(Inner {
                config: self.config,
                current: ArcSwapOption::empty(),
                status: ArcSwap::from_pointee(RefreshStatus::default()),
                fetcher: self.fetcher,
                coordinator: self.coordinator,
                validator: self.validator,
                item_count: self.item_count,
                counters: Counters::default(),
                refresh_slot: tokio::sync::Mutex::new(None),
                attempts: AtomicU64::new(0),
                changes,
                ct: CancellationToken::new(),
                task: Mutex::new(None),
                shut_down: AtomicBool::new(false),
                next_refresh: AtomicU64::new(NO_REFRESH_SCHEDULED),
            }),
        };
        if let Some(coordinator) = &cache.inner.coordinator {
            coordinator.start(Arc::downgrade(&cache.inner), cache.inner.ct.clone());
        }
        cache.initial_fetch().await?;
        cache.start_background();
        Ok(cache)
    }
}

impl<T: Send + Sync + 'static> Cache<T> {
    /// A builder for a cache filled by `fetcher`.
    pub fn builder(fetcher: impl Fetcher<T>) -> CacheBuilder<T> {
        CacheBuilder::new(fetcher)
    }

    /// A builder for a cache filled by an async closure (see [`fetch_fn`]).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use std::collections::HashMap;
    /// let cache = mcp_cache::Cache::from_fn(|| async {
    ///     Ok::<_, std::io::Error>(HashMap::from([("a".to_owned(), 1)]))
    /// })
    /// .build()
    /// .await
    /// .expect("first fetch");
    /// assert_eq!(cache.get("a").unwrap(), 1);
    /// # }
    /// ```
    pub fn from_fn<F, Fut, E>(f: F) -> CacheBuilder<T>
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        E: Into<crate::FetchError>,
    {
        CacheBuilder::new(fetch_fn(f))
    }
}

impl<T> Cache<T> {
    /// The configuration.
    pub fn config(&self) -> &CacheConfig {
        &self.inner.config
    }

    /// The current snapshot, or `None` before the first successful fetch. Not counted in
    /// [`stats`](Self::stats) and creates no span: the cheapest way to look.
    pub fn try_snapshot(&self) -> Option<Arc<Snapshot<T>>> {
        self.inner.current.load_full()
    }

    /// The current snapshot, or [`CacheError::NotReady`]. The `Arc` keeps that version alive
    /// while held; later refreshes do not change it.
    pub fn snapshot(&self) -> Result<Arc<Snapshot<T>>, CacheError> {
        self.inner.counters.reads.incr();
        match self.inner.current.load_full() {
            Some(snapshot) => Ok(snapshot),
            None => {
                self.inner.counters.not_ready.incr();
                Err(CacheError::NotReady)
            }
        }
    }

    /// Runs `f` on the current snapshot without cloning the `Arc` (the fastest read), inside a
    /// `cache.read` span. [`CacheError::NotReady`] before the first successful fetch.
    ///
    /// `f` should be short: while it runs, the snapshot it sees stays alive.
    pub fn read<R>(&self, f: impl FnOnce(&Snapshot<T>) -> R) -> Result<R, CacheError> {
        self.inner.counters.reads.incr();
        let guard = self.inner.current.load();
        let Some(snapshot) = guard.as_deref() else {
            self.inner.counters.not_ready.incr();
            read_span::<T>(&self.inner.config.name, None, None);
            return Err(CacheError::NotReady);
        };
        let _span = read_span(&self.inner.config.name, Some(snapshot), None).entered();
        Ok(f(snapshot))
    }

    /// Looks `key` up in the current snapshot and runs `f` on the value; `Ok(None)` when the key
    /// is absent. Counts a hit or a miss.
    pub fn lookup_with<Q, R>(
        &self,
        key: &Q,
        f: impl FnOnce(&<T as Lookup<Q>>::Value) -> R,
    ) -> Result<Option<R>, CacheError>
    where
        T: Lookup<Q>,
        Q: ?Sized,
    {
        self.inner.counters.reads.incr();
        let guard = self.inner.current.load();
        let Some(snapshot) = guard.as_deref() else {
            self.inner.counters.not_ready.incr();
            read_span::<T>(&self.inner.config.name, None, None);
            return Err(CacheError::NotReady);
        };
        let found = snapshot.data().lookup(key);
        if found.is_some() {
            self.inner.counters.hits.incr();
        } else {
            self.inner.counters.misses.incr();
        }
        let _span = read_span(
            &self.inner.config.name,
            Some(snapshot),
            Some(found.is_some()),
        )
        .entered();
        Ok(found.map(f))
    }

    /// The value for `key`, cloned; `Ok(None)` when absent.
    pub fn lookup<Q>(&self, key: &Q) -> Result<Option<<T as Lookup<Q>>::Value>, CacheError>
    where
        T: Lookup<Q>,
        <T as Lookup<Q>>::Value: Clone,
        Q: ?Sized,
    {
        self.lookup_with(key, Clone::clone)
    }

    /// The value for `key`, cloned, or [`CacheError::KeyNotFound`] / [`CacheError::NotReady`]:
    /// the one-line enrichment helper for tools.
    ///
    /// ```
    /// # use std::collections::HashMap;
    /// # use mcp_cache::{Cache, CacheError};
    /// # use rmcp::model::CallToolResult;
    /// async fn tool(cache: &Cache<HashMap<String, u32>>, app: &str) -> Result<u32, CallToolResult> {
    ///     Ok(cache.get(app)? * 2) // NotReady / KeyNotFound become a readable tool error
    /// }
    /// ```
    pub fn get<Q>(&self, key: &Q) -> Result<<T as Lookup<Q>>::Value, CacheError>
    where
        T: Lookup<Q>,
        <T as Lookup<Q>>::Value: Clone,
        Q: fmt::Display + ?Sized,
    {
        self.lookup(key)?.ok_or_else(|| CacheError::KeyNotFound {
            key: key.to_string(),
        })
    }

    /// How long the current snapshot stays current: until the background task's next
    /// scheduled refresh or until the snapshot goes stale, whichever comes first. Zero before
    /// the first successful fetch and while the snapshot is stale (a refresh is overdue or
    /// failing). This is what a cache hint (`ttlMs` in MCP 2026-07-28) can honestly promise:
    /// the data will not change before then unless someone calls
    /// [`refresh_now`](Self::refresh_now) (or, with a shared cache, another replica refreshes
    /// early), which is what change notifications are for.
    pub fn fresh_for(&self) -> std::time::Duration {
        let guard = self.inner.current.load();
        match guard.as_deref() {
            Some(snapshot) => fresh_for(&self.inner, snapshot.meta()),
            None => std::time::Duration::ZERO,
        }
    }

    /// [`fresh_for`](Self::fresh_for) of `snapshot`, for a hint on an answer rendered from it
    /// inside [`read`](Self::read): zero when `snapshot` is no longer the current one.
    ///
    /// ```
    /// # use mcp_cache::Cache;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let cache = Cache::from_fn(|| async { Ok::<_, std::io::Error>(vec![1, 2, 3]) })
    ///     .build()
    ///     .await
    ///     .expect("first fetch");
    /// let (sum, fresh_for) = cache
    ///     .read(|snapshot| (snapshot.iter().sum::<i32>(), cache.fresh_for_snapshot(snapshot)))
    ///     .expect("ready");
    /// assert_eq!(sum, 6);
    /// assert!(fresh_for > std::time::Duration::ZERO && fresh_for <= cache.config().ttl);
    /// # }
    /// ```
    pub fn fresh_for_snapshot(&self, snapshot: &Snapshot<T>) -> std::time::Duration {
        let guard = self.inner.current.load();
        match guard.as_deref() {
            Some(current) if std::ptr::eq(current, snapshot) => {
                fresh_for(&self.inner, snapshot.meta())
            }
            _ => std::time::Duration::ZERO,
        }
    }

    /// Whether a snapshot has been loaded.
    pub fn is_ready(&self) -> bool {
        self.inner.current.load().is_some()
    }

    /// The current generation (0 before the first successful fetch).
    pub fn generation(&self) -> u64 {
        self.inner
            .current
            .load()
            .as_ref()
            .map_or(0, |s| s.generation())
    }

    /// A copy of the counters.
    pub fn stats(&self) -> CacheStats {
        self.inner.counters.snapshot()
    }

    /// Age, TTL, staleness, generation, items, last error and failure count, ready to serialize
    /// (what the `cache://meta/health` resource serves).
    pub fn health(&self) -> Health {
        Health::of(self)
    }

    /// The coordination state when the cache shares its refreshes with other replicas
    /// ([`CacheBuilder::shared`], feature `redis`); `None` for a cache that refreshes alone.
    pub fn coordination(&self) -> Option<Coordination> {
        self.inner.coordinator.as_ref().map(|c| c.status())
    }

    /// A receiver that changes after every refresh attempt (success or failure). The value is a
    /// counter of attempts; look at [`try_snapshot`](Self::try_snapshot) for what changed.
    pub fn watch(&self) -> watch::Receiver<u64> {
        self.inner.changes.subscribe()
    }

    /// Whether the two handles share one cache.
    pub fn ptr_eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

/// [`Cache::fresh_for`] of a snapshot with `meta`.
pub(crate) fn fresh_for<T>(inner: &Inner<T>, meta: &crate::SnapshotMeta) -> std::time::Duration {
    let remaining = meta.remaining_ttl();
    match inner
        .next_refresh
        .load(std::sync::atomic::Ordering::Acquire)
    {
        NO_REFRESH_SCHEDULED => remaining,
        at => {
            let now = clock_base().elapsed();
            let until = std::time::Duration::from_nanos(at).saturating_sub(now);
            remaining.min(until)
        }
    }
}

/// Creates the `cache.read` span (attribute names as mcp-otel's conventions document). Its
/// values are given when it is created, in one call to the subscriber, and computed only when a
/// subscriber wants the span.
fn read_span<T>(name: &str, snapshot: Option<&Snapshot<T>>, hit: Option<bool>) -> tracing::Span {
    tracing::info_span!(
        "cache.read",
        cache.name = name,
        cache.hit = snapshot.is_some() && hit.unwrap_or(true),
        cache.age_seconds = snapshot.map(|s| s.meta().age().as_secs_f64()),
        cache.generation = snapshot.map(Snapshot::generation),
        cache.stale = snapshot.map(Snapshot::is_stale),
    )
}
