#![doc = include_str!("../README.md")]

mod cache;
mod config;
mod coordination;
mod error;
mod fetch;
mod health;
mod hybrid;
mod lookup;
mod refresh;
mod registry;
#[cfg(feature = "rmcp")]
mod resources;
#[cfg(feature = "redis")]
mod shared;
mod snapshot;
mod stats;

pub use cache::{Cache, CacheBuilder};
pub use config::{Backoff, CacheConfig, InitialFetch};
pub use coordination::{Coordination, Role};
pub use error::{CacheError, FetchError};
pub use fetch::{Fetcher, FnFetcher, fetch_fn};
pub use health::Health;
pub use hybrid::{Hybrid, HybridView};
pub use lookup::Lookup;
pub use registry::{CacheRegistry, RegistryConfig, RegistryGuard, RegistryStats};
#[cfg(feature = "rmcp")]
pub use resources::{
    CacheResources, CacheResourcesBuilder, CacheResourcesHandler, CacheResourcesLayer,
    DEFAULT_HEALTH_URI, DEFAULT_SEND_TIMEOUT, JSON_MIME, JsonView, ResourceError, ResourceView,
    SubscriberStats, Viewer,
};
#[cfg(feature = "rmcp")]
#[doc(hidden)]
pub use resources::{HANDLED_METHODS, INTERCEPTED_METHODS};
#[cfg(feature = "redis")]
pub use shared::{JsonCodec, RedisShared, SharedError, SnapshotCodec};
pub use snapshot::{Snapshot, SnapshotMeta};
pub use stats::CacheStats;
