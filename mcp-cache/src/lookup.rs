//! Keyed lookups into snapshot data (O(1) for hash maps).

use std::borrow::Borrow;
use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, Hash};

/// Data that can be looked up by a key of type `Q`, for [`Cache::get`](crate::Cache::get) and
/// friends. Implemented for `HashMap` (O(1)) and `BTreeMap` (O(log n)); implement it for your own
/// snapshot type to look up through an index it keeps.
///
/// ```
/// use std::collections::HashMap;
/// use mcp_cache::Lookup;
///
/// struct Rules { by_app: HashMap<String, Vec<String>> }
///
/// impl Lookup<str> for Rules {
///     type Value = Vec<String>;
///     fn lookup(&self, app: &str) -> Option<&Vec<String>> {
///         self.by_app.get(app)
///     }
/// }
/// ```
pub trait Lookup<Q: ?Sized> {
    /// What a key maps to.
    type Value;

    /// The value for `key`, if any.
    fn lookup(&self, key: &Q) -> Option<&Self::Value>;
}

impl<K, V, S, Q> Lookup<Q> for HashMap<K, V, S>
where
    K: Borrow<Q> + Hash + Eq,
    Q: Hash + Eq + ?Sized,
    S: BuildHasher,
{
    type Value = V;

    fn lookup(&self, key: &Q) -> Option<&V> {
        self.get(key)
    }
}

impl<K, V, Q> Lookup<Q> for BTreeMap<K, V>
where
    K: Borrow<Q> + Ord,
    Q: Ord + ?Sized,
{
    type Value = V;

    fn lookup(&self, key: &Q) -> Option<&V> {
        self.get(key)
    }
}
