#![doc = include_str!("../README.md")]

mod config;
mod error;
mod snapshot;

pub use config::{CacheConfig, InitialFetch};
pub use error::CacheError;
pub use snapshot::SnapshotMeta;
