#![doc = include_str!("../README.md")]

mod cache;
mod config;
mod error;
mod fetch;
mod health;
mod lookup;
mod refresh;
mod snapshot;
mod stats;

pub use cache::{Cache, CacheBuilder};
pub use config::{Backoff, CacheConfig, InitialFetch};
pub use error::{CacheError, FetchError};
pub use fetch::{Fetcher, FnFetcher, fetch_fn};
pub use health::Health;
pub use lookup::Lookup;
pub use snapshot::{Snapshot, SnapshotMeta};
pub use stats::CacheStats;
