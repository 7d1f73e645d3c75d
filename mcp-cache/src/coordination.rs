//! Coordination of refreshes across replicas: the state a shared backend reports, and the
//! crate-internal seam through which the refresh path uses it.

use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;

use crate::CacheError;
use crate::cache::Inner;

/// What this replica did in the latest coordinated refresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Role {
    /// No coordinated refresh has completed yet.
    Starting,
    /// This replica fetched from the downstream and wrote the shared snapshot.
    Leader,
    /// This replica loaded the shared snapshot another replica wrote (or found it unchanged).
    Follower,
    /// This replica fetched on its own: the shared backend was unreachable, or the shared
    /// snapshot was in a format this replica cannot read (a rolling deploy).
    Local,
}

/// The coordination state of a cache that shares its refreshes with other replicas, as shown
/// in [`Health::coordination`](crate::Health::coordination).
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Coordination {
    /// The shared backend (`"redis"`).
    pub backend: &'static str,
    /// This replica's random id (the owner value of the leases it takes).
    pub replica: String,
    /// What this replica did in the latest refresh.
    pub role: Role,
    /// Whether the latest call to the backend succeeded.
    pub reachable: bool,
    /// Whether this replica receives new-generation messages right now (pub/sub connected).
    pub subscribed: bool,
    /// The shared generation last written or loaded by this replica (0 before any).
    pub shared_generation: u64,
    /// The epoch of the shared store that generation belongs to: a random id the store gets when
    /// it is first used, so that a store restarted empty is noticed.
    pub epoch: Option<String>,
    /// The replica that wrote the shared snapshot last seen.
    pub writer: Option<String>,
    /// Whether the shared snapshot last seen was in a format this replica cannot read.
    pub format_mismatch: bool,
    /// The latest backend error (cleared by the next successful call).
    pub last_error: Option<String>,
    /// Refreshes this replica led (fetched and wrote).
    pub leads: u64,
    /// Shared snapshots this replica loaded from the backend.
    pub loads: u64,
    /// Writes the fence rejected because another replica had taken over meanwhile.
    pub fenced: u64,
    /// Refreshes this replica fetched on its own (backend unreachable or format mismatch).
    pub local_fetches: u64,
}

/// What a coordinated refresh produced.
pub(crate) enum Refreshed<T> {
    /// Data to swap in under `generation`.
    Swap {
        data: T,
        items: usize,
        generation: u64,
        /// Whether the data came from the downstream (counts as a refresh) or the backend.
        fetched: bool,
    },
    /// The current snapshot is still the latest.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    Unchanged,
}

/// A backend through which replicas share one refresh per TTL. Implemented by the Redis
/// backend; the seam keeps the refresh path free of feature flags.
#[async_trait]
pub(crate) trait Coordinator<T>: Send + Sync {
    /// One refresh: lead, follow or fall back to a local fetch.
    async fn refresh(&self, inner: &Inner<T>) -> Result<Refreshed<T>, CacheError>;

    /// The delay before this replica's next look, after a successful refresh.
    fn next_delay(&self, inner: &Inner<T>) -> Duration;

    /// Starts the listener for new-generation messages, if the backend has one.
    fn start(&self, inner: std::sync::Weak<Inner<T>>, stop: tokio_util::sync::CancellationToken);

    /// The current state.
    fn status(&self) -> Coordination;
}
