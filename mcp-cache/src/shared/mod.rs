//! Shared refresh across replicas on Redis (feature `redis`).

mod codec;
mod coordinator;
mod scripts;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

pub use codec::{JsonCodec, SnapshotCodec};
pub(crate) use coordinator::RedisCoordinator;

use crate::CacheConfig;

/// A configuration error of the shared backend.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SharedError {
    /// The Redis URL could not be parsed.
    #[error("invalid Redis URL: {source}")]
    InvalidUrl {
        /// What the Redis client reported.
        #[source]
        source: redis::RedisError,
    },
    /// A setting is out of range.
    #[error("invalid shared-refresh setting: {reason}")]
    InvalidConfig {
        /// Which setting and why.
        reason: String,
    },
}

/// Shares one cache's refreshes among the replicas of a server through Redis: per TTL one
/// replica fetches from the downstream and the others load its snapshot.
///
/// Attach it with [`CacheBuilder::shared`](crate::CacheBuilder::shared). Creating it does not
/// touch the network: a replica that starts while Redis is down refreshes on its own and joins
/// when Redis comes back.
///
/// # Guarantees
///
/// - **Reads stay local.** Every replica keeps its own copy-on-write snapshot; reads never
///   touch Redis and never wait for it.
/// - **One downstream fetch per TTL** for the whole group while Redis is reachable: the replica
///   that takes the lease (`SET NX PX` with a random owner value) fetches; the others find the
///   shared snapshot fresh and load it.
/// - **No stale overwrite.** Each leader takes a fencing token (`INCR`); the write of the new
///   snapshot checks it atomically in Redis, so a leader paused past its lease, while another
///   took over, cannot overwrite newer data. It loads the newer snapshot instead.
/// - **Followers learn of a new generation** by pub/sub within milliseconds, and by looking
///   every TTL, which catches messages lost while disconnected.
/// - **Failures keep the last good snapshot everywhere.** A failing downstream fetch holds the
///   lease for the backoff delay, so the group retries at one backoff pace. Redis unreachable:
///   each replica refreshes from the downstream on its own (with jitter) and says so in
///   [`Coordination`](crate::Coordination); it rejoins when Redis answers again. Redis
///   restarted empty: the store gets a new epoch, one replica fetches, all converge.
/// - **Rolling deploys.** A shared snapshot in another format (see [`SnapshotCodec`]) is not
///   loaded; that replica fetches on its own.
///
/// # Example
///
/// ```no_run
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::collections::HashMap;
/// use std::time::Duration;
/// use mcp_cache::{Cache, CacheConfig, JsonCodec, RedisShared};
///
/// type Rules = HashMap<String, Vec<String>>;
///
/// let shared = RedisShared::new("redis://127.0.0.1:6379", JsonCodec::<Rules>::new("rules/v1"))?
///     .key("firewall-rules");
/// let cache = Cache::from_fn(|| async {
///     Ok::<_, std::io::Error>(Rules::from([("app".into(), vec!["allow 443".into()])]))
/// })
/// .config(CacheConfig::with_ttl(Duration::from_secs(60)))
/// .shared(shared)
/// .build()
/// .await?;
/// let coordination = cache.coordination().expect("shared");
/// println!("{:?} at shared generation {}", coordination.role, coordination.shared_generation);
/// # Ok(()) }
/// ```
pub struct RedisShared<T> {
    client: redis::Client,
    codec: Arc<dyn SnapshotCodec<T>>,
    key: Option<String>,
    lease: Option<Duration>,
    pubsub: bool,
    replica: Option<String>,
    command_timeout: Duration,
}

impl<T: 'static> fmt::Debug for RedisShared<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisShared")
            .field("key", &self.key)
            .field("format", &self.codec.format())
            .field("lease", &self.lease)
            .field("pubsub", &self.pubsub)
            .field("replica", &self.replica)
            .finish_non_exhaustive()
    }
}

impl<T: Send + Sync + 'static> RedisShared<T> {
    /// Shares through the Redis at `url` (`redis://host:port/db`, `rediss://` needs the
    /// `redis` crate's TLS features), storing snapshots with `codec`. Parses the URL only.
    pub fn new(url: &str, codec: impl SnapshotCodec<T>) -> Result<Self, SharedError> {
        let client =
            redis::Client::open(url).map_err(|source| SharedError::InvalidUrl { source })?;
        Ok(Self {
            client,
            codec: Arc::new(codec),
            key: None,
            lease: None,
            pubsub: true,
            replica: None,
            command_timeout: Duration::from_secs(1),
        })
    }

    /// The name under which the replicas share this cache: keys `mcp-cache:{KEY}:…` and the
    /// channel `mcp-cache:{KEY}:generations`. Default: the cache's
    /// [`name`](crate::CacheConfig::name). Replicas of one server use the same key; different
    /// data sets must not.
    #[must_use]
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// How long a leader owns the refresh before another replica may take over (when the
    /// leader died or hangs). Default: the cache's
    /// [`fetch_timeout`](crate::CacheConfig::fetch_timeout), since a fetch cannot
    /// legitimately run longer.
    #[must_use]
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = Some(lease);
        self
    }

    /// Whether to listen for new-generation messages (default `true`). Without them this
    /// replica still converges, by looking every TTL; use `false` behind proxies that do not
    /// relay pub/sub.
    #[must_use]
    pub fn pubsub(mut self, enabled: bool) -> Self {
        self.pubsub = enabled;
        self
    }

    /// This replica's id, the owner value of its leases and the `writer` of its snapshots.
    /// Default: random. Give each replica a distinct one (e.g. the host name) to see which one
    /// leads in [`Coordination::writer`](crate::Coordination::writer).
    #[must_use]
    pub fn replica_id(mut self, id: impl Into<String>) -> Self {
        self.replica = Some(id.into());
        self
    }

    /// The longest a Redis command may take before it counts as Redis being unreachable
    /// (default 1 s).
    #[must_use]
    pub fn command_timeout(mut self, timeout: Duration) -> Self {
        self.command_timeout = timeout;
        self
    }

    pub(crate) fn into_coordinator(self, config: &CacheConfig) -> RedisCoordinator<T> {
        RedisCoordinator::new(self, config)
    }
}
