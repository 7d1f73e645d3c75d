//! Refreshing: the initial fetch policy, single-flight copy-on-write refresh, the background
//! TTL task and failure handling.

use std::any::Any;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError, Weak};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::Instrument;

use crate::cache::Inner;
use crate::coordination::Refreshed;
use crate::health::RefreshStatus;
use crate::{Cache, CacheError, InitialFetch, Snapshot, SnapshotMeta};

/// Aborts a spawned task when dropped, so a cancelled refresh leaves no fetch running.
struct AbortOnDrop<R>(JoinHandle<R>);

impl<R> Drop for AbortOnDrop<R> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".to_owned())
}

/// 128 random bits as 32 hex digits (lease owners, epochs), from std's randomly keyed hasher.
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
pub(crate) fn random_id() -> String {
    let a = RandomState::new().hash_one(Instant::now());
    let b = RandomState::new().hash_one((a, std::process::id()));
    format!("{a:016x}{b:016x}")
}

/// A random fraction in `[0, 1)`, from std's randomly keyed hasher (no `rand` dependency).
pub(crate) fn random_fraction() -> f64 {
    let bits = RandomState::new().hash_one(Instant::now()) >> 11;
    #[allow(clippy::cast_precision_loss)] // 53 random bits fit an f64 mantissa exactly
    let fraction = bits as f64 / (1u64 << 53) as f64;
    fraction
}

impl<T: Send + Sync + 'static> Cache<T> {
    /// Refreshes now and returns the new generation, or the error of the attempt (the old
    /// snapshot is then still served).
    ///
    /// Single flight: if a refresh is already running (background or another `refresh_now`),
    /// this call waits for it and returns its outcome instead of fetching again, so N concurrent
    /// calls cause one fetch. Dropping the returned future cancels the attempt it started (its
    /// fetch task is aborted and nothing is swapped); callers waiting on it then run their own.
    /// Returns [`CacheError::ShutDown`] after [`shutdown`](Self::shutdown).
    ///
    /// With a shared backend ([`CacheBuilder::shared`](crate::CacheBuilder::shared)) it takes
    /// part in the group's refresh: while the shared snapshot is fresh it loads that snapshot (if
    /// new) instead of fetching; once it is due, this replica takes the lease and fetches.
    pub async fn refresh_now(&self) -> Result<u64, CacheError> {
        self.inner.refresh().await
    }

    pub(crate) async fn initial_fetch(&self) -> Result<(), CacheError> {
        match self.inner.config.initial_fetch.clone() {
            InitialFetch::FailFast => self.inner.refresh().await.map(|_| ()),
            InitialFetch::Degrade => Ok(()),
            InitialFetch::Retry { backoff, deadline } => {
                let start = Instant::now();
                let mut delay = backoff.initial;
                loop {
                    match self.inner.refresh().await {
                        Ok(_) => return Ok(()),
                        Err(error) => {
                            if start.elapsed() + delay > deadline {
                                tracing::error!(
                                    cache.name = %self.inner.config.name,
                                    %error,
                                    "initial fetch gave up at its deadline"
                                );
                                return Err(error);
                            }
                            tracing::warn!(
                                cache.name = %self.inner.config.name,
                                %error,
                                retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                                "initial fetch failed; retrying"
                            );
                            tokio::time::sleep(delay).await;
                            delay = backoff.next(delay);
                        }
                    }
                }
            }
        }
    }

    pub(crate) fn start_background(&self) {
        let degrade_pending = !self.is_ready();
        if !self.inner.config.background_refresh && !degrade_pending {
            return;
        }
        let weak = Arc::downgrade(&self.inner);
        let ct = self.inner.ct.clone();
        let changes = self.inner.changes.subscribe();
        let first = if degrade_pending {
            Duration::ZERO
        } else {
            self.inner.next_delay()
        };
        let task = tokio::spawn(background(weak, ct, changes, first));
        *self
            .inner
            .task
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(task);
    }
}

/// The background loop: sleeps, refreshes, repeats; on failure retries with backoff; a swap made
/// by `refresh_now` restarts the interval. Holds only a weak reference between refreshes, so
/// dropping the last `Cache` handle ends it.
async fn background<T: Send + Sync + 'static>(
    weak: Weak<Inner<T>>,
    ct: tokio_util::sync::CancellationToken,
    mut changes: tokio::sync::watch::Receiver<u64>,
    first: Duration,
) {
    let mut delay = first;
    let mut failure_delay: Option<Duration> = None;
    loop {
        match weak.upgrade() {
            Some(inner) => inner.schedule_refresh(Some(delay)),
            None => return,
        }
        tokio::select! {
            () = ct.cancelled() => return,
            () = tokio::time::sleep(delay) => {}
            notified = changes.changed() => {
                if notified.is_err() {
                    return;
                }
                // Someone else refreshed: start the interval again from now.
                let Some(inner) = weak.upgrade() else { return };
                if inner.current.load().is_some() && inner.status.load().consecutive_failures == 0 {
                    delay = inner.next_delay();
                    failure_delay = None;
                }
                continue;
            }
        }
        let Some(inner) = weak.upgrade() else { return };
        let result = tokio::select! {
            () = ct.cancelled() => return,
            result = inner.refresh() => result,
        };
        changes.borrow_and_update();
        match result {
            Ok(_) => {
                failure_delay = None;
                if !inner.config.background_refresh {
                    inner.schedule_refresh(None);
                    return;
                }
                delay = inner.next_delay();
            }
            Err(CacheError::ShutDown) => return,
            Err(_) => {
                let backoff = inner.config.failure_backoff;
                let next = failure_delay.map_or(backoff.initial, |d| backoff.next(d));
                failure_delay = Some(next);
                delay = next.min(inner.interval());
            }
        }
    }
}

impl<T> Cache<T> {
    /// Stops the background refresh task and waits until it has ended (an in-flight fetch is
    /// aborted). Readers keep getting the last snapshot; `refresh_now` returns
    /// [`CacheError::ShutDown`]. Idempotent.
    pub async fn shutdown(&self) {
        self.inner.shut_down.store(true, Ordering::SeqCst);
        self.inner.schedule_refresh(None);
        self.inner.ct.cancel();
        let task = self
            .inner
            .task
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }

    /// Like [`shutdown`](Self::shutdown) but without waiting: cancels and aborts the background
    /// task. Used when a registry evicts a cache.
    pub fn close(&self) {
        self.inner.shut_down.store(true, Ordering::SeqCst);
        self.inner.schedule_refresh(None);
        self.inner.ct.cancel();
        if let Some(task) = self
            .inner
            .task
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            task.abort();
        }
    }

    /// Whether the background task is running.
    pub fn is_refreshing_in_background(&self) -> bool {
        self.inner
            .task
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .is_some_and(|task| !task.is_finished())
    }
}

impl<T: Send + Sync + 'static> Inner<T> {
    /// `ttl - U(0, jitter)`, at least 1 ms.
    pub(crate) fn interval(&self) -> Duration {
        let ttl = self.config.ttl;
        let jitter = self.config.jitter.min(ttl);
        let off = if jitter.is_zero() {
            Duration::ZERO
        } else {
            jitter.mul_f64(random_fraction())
        };
        ttl.saturating_sub(off).max(Duration::from_millis(1))
    }

    /// The delay until the next background refresh after a successful one: the TTL interval,
    /// or what the shared backend says (when the shared snapshot goes due).
    pub(crate) fn next_delay(&self) -> Duration {
        match &self.coordinator {
            Some(coordinator) => coordinator.next_delay(self),
            None => self.interval(),
        }
    }

    /// The generation after the current one.
    pub(crate) fn next_generation(&self) -> u64 {
        self.current.load().as_ref().map_or(0, |s| s.generation()) + 1
    }

    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    /// Counts a snapshot's items with the builder's counter (1 without one).
    pub(crate) fn count_items(&self, data: &T) -> usize {
        self.item_count.as_ref().map_or(1, |count| count(data))
    }

    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    /// Runs the validation hook on data that did not come from this replica's fetch.
    pub(crate) fn check(&self, data: &T) -> Result<(), CacheError> {
        match &self.validator {
            Some(validate) => validate(data).map_err(|reason| CacheError::Rejected { reason }),
            None => Ok(()),
        }
    }

    pub(crate) async fn refresh(&self) -> Result<u64, CacheError> {
        if self.shut_down.load(Ordering::SeqCst) {
            return Err(CacheError::ShutDown);
        }
        let seen = self.attempts.load(Ordering::Acquire);
        let mut slot = self.refresh_slot.lock().await;
        if self.attempts.load(Ordering::Acquire) != seen
            && let Some(outcome) = slot.as_ref()
        {
            // A refresh completed while we waited for the slot: share its outcome.
            self.counters.coalesced.fetch_add(1, Ordering::Relaxed);
            return outcome.clone();
        }
        let outcome = self.refresh_once().await;
        *slot = Some(outcome.clone());
        self.attempts.fetch_add(1, Ordering::Release);
        self.changes.send_modify(|n| *n += 1);
        outcome
    }

    async fn refresh_once(&self) -> Result<u64, CacheError> {
        let span = tracing::info_span!(
            "cache.refresh",
            cache.name = %self.config.name,
            cache.items = tracing::field::Empty,
            cache.generation = tracing::field::Empty,
            cache.outcome = tracing::field::Empty,
            cache.duration_seconds = tracing::field::Empty,
            error.type = tracing::field::Empty,
        );
        let started = Instant::now();
        let result = match &self.coordinator {
            None => self
                .fetch_validated()
                .instrument(span.clone())
                .await
                .map(|(data, items)| Refreshed::Swap {
                    data,
                    items,
                    generation: self.next_generation(),
                    fetched: true,
                }),
            Some(coordinator) => coordinator.refresh(self).instrument(span.clone()).await,
        };
        let _entered = span.enter();
        span.record("cache.duration_seconds", started.elapsed().as_secs_f64());
        match result {
            Ok(Refreshed::Swap {
                data,
                items,
                generation,
                fetched,
            }) => {
                let meta = SnapshotMeta::new(generation, items, self.config.ttl);
                self.current
                    .store(Some(Arc::new(Snapshot::new(data, meta))));
                self.status.store(Arc::new(RefreshStatus::success()));
                if fetched {
                    self.counters.refreshes.fetch_add(1, Ordering::Relaxed);
                }
                span.record("cache.items", items);
                span.record("cache.generation", generation);
                span.record("cache.outcome", "success");
                tracing::debug!(generation, items, fetched, "cache refreshed");
                Ok(generation)
            }
            Ok(Refreshed::Unchanged) => {
                self.status.store(Arc::new(RefreshStatus::success()));
                let current = self.current.load();
                let generation = current.as_ref().map_or(0, |s| s.generation());
                if let Some(snapshot) = current.as_ref() {
                    span.record("cache.items", snapshot.meta().items);
                }
                span.record("cache.generation", generation);
                span.record("cache.outcome", "unchanged");
                Ok(generation)
            }
            Err(error) => {
                self.record_failure(&error);
                span.record("cache.outcome", "failure");
                span.record("error.type", error.kind());
                if let Some(current) = self.current.load().as_ref() {
                    span.record("cache.generation", current.generation());
                }
                tracing::warn!(%error, "cache refresh failed; keeping the last good snapshot");
                Err(error)
            }
        }
    }

    fn record_failure(&self, error: &CacheError) {
        let counters = &self.counters;
        counters.failures.fetch_add(1, Ordering::Relaxed);
        let by_kind = match error {
            CacheError::Rejected { .. } => Some(&counters.rejections),
            CacheError::Timeout { .. } => Some(&counters.timeouts),
            CacheError::Panicked { .. } => Some(&counters.panics),
            _ => None,
        };
        if let Some(counter) = by_kind {
            counter.fetch_add(1, Ordering::Relaxed);
        }
        let status = self.status.load().with_failure(error.clone());
        self.status.store(Arc::new(status));
        if let Some(current) = self.current.load_full() {
            let meta = current.meta().with_failure(error.clone());
            self.current.store(Some(Arc::new(current.with_meta(meta))));
        }
    }

    /// Runs the fetch (and validation and counting) in its own task under the timeout; a panic
    /// there is contained and reported as [`CacheError::Panicked`].
    pub(crate) async fn fetch_validated(&self) -> Result<(T, usize), CacheError> {
        let fetcher = Arc::clone(&self.fetcher);
        let validator = self.validator.clone();
        let item_count = self.item_count.clone();
        let mut task = AbortOnDrop(tokio::spawn(async move {
            let data = fetcher.fetch().await.map_err(CacheError::fetch)?;
            if let Some(validate) = validator {
                validate(&data).map_err(|reason| CacheError::Rejected { reason })?;
            }
            let items = item_count.map_or(1, |count| count(&data));
            Ok::<_, CacheError>((data, items))
        }));
        let timeout = self.config.fetch_timeout;
        match tokio::time::timeout(timeout, &mut task.0).await {
            Err(_elapsed) => Err(CacheError::Timeout { timeout }),
            Ok(Err(join)) if join.is_panic() => Err(CacheError::Panicked {
                message: panic_message(join.into_panic().as_ref()),
            }),
            Ok(Err(_cancelled)) => Err(CacheError::ShutDown),
            Ok(Ok(result)) => result,
        }
    }
}
