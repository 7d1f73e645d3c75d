//! Errors of the cache.

/// An error from a cache operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CacheError {
    /// No snapshot has been loaded yet (the degrade policy before the first successful fetch).
    #[error("data not available yet: the first fetch from the downstream has not succeeded")]
    NotReady,
    /// The fetch returned an error.
    #[error("fetch failed: {source}")]
    Fetch {
        /// What the fetch reported.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The fetch did not finish within the configured timeout.
    #[error("fetch timed out after {timeout:?}")]
    Timeout {
        /// The configured per-fetch timeout.
        timeout: std::time::Duration,
    },
}
