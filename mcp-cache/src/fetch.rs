//! The user-supplied fetch: a trait for types, [`fetch_fn`] for closures.

use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;

use crate::FetchError;

/// Loads the whole data set from the downstream.
///
/// One call builds one complete snapshot. It may fan out to several downstream calls
/// concurrently (e.g. with `tokio::join!`) and aggregate them. The cache runs each call in its
/// own task, under [`CacheConfig::fetch_timeout`](crate::CacheConfig::fetch_timeout), and
/// contains a panic: neither a hang nor a panic can take the cache down.
///
/// ```
/// use mcp_cache::{FetchError, Fetcher};
///
/// struct Numbers;
///
/// #[async_trait::async_trait]
/// impl Fetcher<Vec<u32>> for Numbers {
///     async fn fetch(&self) -> Result<Vec<u32>, FetchError> {
///         Ok(vec![1, 2, 3])
///     }
/// }
/// ```
#[async_trait]
pub trait Fetcher<T>: Send + Sync + 'static {
    /// Fetches a complete new data set.
    async fn fetch(&self) -> Result<T, FetchError>;
}

#[async_trait]
impl<T, F: Fetcher<T> + ?Sized> Fetcher<T> for Arc<F> {
    async fn fetch(&self) -> Result<T, FetchError> {
        (**self).fetch().await
    }
}

/// A [`Fetcher`] made from a closure returning a future; see [`fetch_fn`].
#[derive(Clone)]
pub struct FnFetcher<F>(F);

impl<F> std::fmt::Debug for FnFetcher<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FnFetcher")
    }
}

/// Makes a [`Fetcher`] from an async closure (any `Fn() -> impl Future<Output = Result<T, E>>`
/// whose error converts into [`FetchError`]).
///
/// ```
/// let fetcher = mcp_cache::fetch_fn(|| async { Ok::<_, std::io::Error>(vec![1, 2, 3]) });
/// # let _ = fetcher;
/// ```
pub fn fetch_fn<F, Fut, T, E>(f: F) -> FnFetcher<F>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<T, E>> + Send + 'static,
    E: Into<FetchError>,
{
    FnFetcher(f)
}

#[async_trait]
impl<T, F, Fut, E> Fetcher<T> for FnFetcher<F>
where
    T: Send + 'static,
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<T, E>> + Send + 'static,
    E: Into<FetchError>,
{
    async fn fetch(&self) -> Result<T, FetchError> {
        (self.0)().await.map_err(Into::into)
    }
}
