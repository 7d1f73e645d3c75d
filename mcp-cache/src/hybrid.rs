//! The hybrid scope: one shared base cache for everyone plus a small
//! per-key overlay cache from a [`CacheRegistry`].

use std::fmt;
use std::hash::Hash;
use std::sync::Arc;

use crate::{Cache, CacheError, CacheRegistry, Lookup, Snapshot};

/// A shared base [`Cache`] plus per-key overlays (e.g. the public firewall rules for all, and
/// each user's private rules on top).
///
/// The base is fetched once for all sessions; only the overlay is per key, so memory grows
/// with the overlay size, not the base size. Reads through [`HybridView::get`] look in the
/// overlay first, then in the base: overlay entries shadow base entries with the same key.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use std::collections::HashMap;
/// use mcp_cache::{Cache, CacheRegistry, Hybrid, RegistryConfig};
///
/// let base = Cache::from_fn(|| async {
///     Ok::<_, std::io::Error>(HashMap::from([("shared".to_owned(), 1), ("x".to_owned(), 2)]))
/// })
/// .build()
/// .await
/// .expect("base");
/// let overlays = CacheRegistry::from_fn(RegistryConfig::default(), |user: String| async move {
///     Ok::<_, std::io::Error>(HashMap::from([("x".to_owned(), user.len())]))
/// });
/// let hybrid = Hybrid::new(base, overlays);
/// let view = hybrid.view(&"alice".to_owned()).await.expect("overlay built");
/// assert_eq!(view.get("shared"), Some(&1)); // from the base
/// assert_eq!(view.get("x"), Some(&5)); // the overlay shadows the base
/// # }
/// ```
pub struct Hybrid<K, B, O> {
    base: Cache<B>,
    overlays: CacheRegistry<K, O>,
}

impl<K, B, O> Clone for Hybrid<K, B, O> {
    fn clone(&self) -> Self {
        Self {
            base: self.base.clone(),
            overlays: self.overlays.clone(),
        }
    }
}

impl<K, B, O> fmt::Debug for Hybrid<K, B, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hybrid")
            .field("base", &self.base)
            .field("overlays", &self.overlays)
            .finish()
    }
}

impl<K, B, O> Hybrid<K, B, O>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    B: Send + Sync + 'static,
    O: Send + Sync + 'static,
{
    /// Combines a shared base with a registry of overlays.
    pub fn new(base: Cache<B>, overlays: CacheRegistry<K, O>) -> Self {
        Self { base, overlays }
    }

    /// The shared base.
    pub fn base(&self) -> &Cache<B> {
        &self.base
    }

    /// The overlays.
    pub fn overlays(&self) -> &CacheRegistry<K, O> {
        &self.overlays
    }

    /// The current base snapshot and `key`'s overlay snapshot (building the overlay on first
    /// use). Both are consistent snapshots; they come from independent refreshes.
    pub async fn view(&self, key: &K) -> Result<HybridView<B, O>, CacheError> {
        let overlay = self.overlays.get(key).await?.snapshot()?;
        let base = self.base.snapshot()?;
        Ok(HybridView { base, overlay })
    }
}

/// One read of a [`Hybrid`]: a base snapshot and an overlay snapshot.
pub struct HybridView<B, O> {
    base: Arc<Snapshot<B>>,
    overlay: Arc<Snapshot<O>>,
}

impl<B, O> fmt::Debug for HybridView<B, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HybridView")
            .field("base_generation", &self.base.generation())
            .field("overlay_generation", &self.overlay.generation())
            .finish()
    }
}

impl<B, O> HybridView<B, O> {
    /// The base snapshot.
    pub fn base(&self) -> &Snapshot<B> {
        &self.base
    }

    /// The overlay snapshot.
    pub fn overlay(&self) -> &Snapshot<O> {
        &self.overlay
    }

    /// The value for `key`: the overlay's if it has one, otherwise the base's.
    pub fn get<Q, V>(&self, key: &Q) -> Option<&V>
    where
        Q: ?Sized,
        B: Lookup<Q, Value = V>,
        O: Lookup<Q, Value = V>,
    {
        self.overlay
            .data()
            .lookup(key)
            .or_else(|| self.base.data().lookup(key))
    }
}
