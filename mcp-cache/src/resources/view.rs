//! Mapping a snapshot to MCP resources (requirement C7): the [`ResourceView`] trait and the
//! ready-made [`JsonView`].

use std::borrow::Borrow;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::sync::Arc;

use rmcp::ErrorData;
use rmcp::model::{Resource, ResourceContents, ResourceTemplate};
use serde::Serialize;
use serde_json::{Value, json};

use super::uri::{decode_segment, encode_segment};

/// The MIME type of JSON resources.
pub const JSON_MIME: &str = "application/json";

/// Why a resource could not be read.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ResourceError {
    /// No resource has this URI (MCP resource-not-found).
    #[error("resource not found: {uri}")]
    NotFound {
        /// The URI asked for.
        uri: String,
    },
    /// The URI matches a template but its parameter is malformed or unsafe.
    #[error("invalid resource URI '{uri}': {reason}")]
    InvalidUri {
        /// The URI asked for.
        uri: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The snapshot could not be rendered (e.g. serialization failed).
    #[error("resource '{uri}' could not be rendered: {reason}")]
    Render {
        /// The URI asked for.
        uri: String,
        /// What failed.
        reason: String,
    },
    /// No snapshot has been loaded yet.
    #[error("data not available yet: the first fetch from the downstream has not succeeded")]
    NotReady,
}

impl ResourceError {
    /// The JSON-RPC error for this failure: resource-not-found for an unknown URI (rmcp picks
    /// the code the negotiated protocol version expects), invalid params for a malformed one,
    /// internal error otherwise.
    pub fn to_error_data(&self) -> ErrorData {
        match self {
            Self::NotFound { uri } => {
                ErrorData::resource_not_found(self.to_string(), Some(json!({ "uri": uri })))
            }
            Self::InvalidUri { uri, .. } => {
                ErrorData::invalid_params(self.to_string(), Some(json!({ "uri": uri })))
            }
            Self::Render { uri, .. } => {
                ErrorData::internal_error(self.to_string(), Some(json!({ "uri": uri })))
            }
            Self::NotReady => {
                ErrorData::internal_error(self.to_string(), Some(json!({ "kind": "not_ready" })))
            }
        }
    }
}

impl From<ResourceError> for ErrorData {
    fn from(error: ResourceError) -> Self {
        error.to_error_data()
    }
}

/// Maps a snapshot of `T` to MCP resources: what `resources/list`,
/// `resources/templates/list` and `resources/read` answer. A view renders from the snapshot
/// on each call; nothing is copied at refresh time.
///
/// Implement it for full control (several resources, non-JSON mime types), or use
/// [`JsonView`]. `read` must be deterministic for a given snapshot: change detection hashes
/// what it returns.
pub trait ResourceView<T>: Send + Sync + 'static {
    /// The concrete resources of this snapshot (every URI that `read` answers).
    fn resources(&self, data: &T) -> Vec<Resource>;

    /// Resource templates (RFC 6570), e.g. `cache://data/{segment}`. None by default.
    fn templates(&self) -> Vec<ResourceTemplate> {
        Vec::new()
    }

    /// Whether `uri` belongs to this view's namespace (its listed URIs and anything its
    /// templates match), so a server combining several sources can dispatch, and so that
    /// `resources/subscribe` can refuse URIs that can never exist.
    fn owns(&self, uri: &str) -> bool;

    /// Reads `uri` from the snapshot: its contents with their mime type,
    /// [`ResourceError::NotFound`] for an unknown URI, [`ResourceError::InvalidUri`] for a
    /// malformed template parameter.
    fn read(&self, data: &T, uri: &str) -> Result<ResourceContents, ResourceError>;
}

type WholeFn<T> = Arc<dyn Fn(&T) -> serde_json::Result<Value> + Send + Sync>;
type KeysFn<T> = Arc<dyn Fn(&T) -> Vec<String> + Send + Sync>;
type SegmentFn<T> = Arc<dyn Fn(&T, &str) -> Option<serde_json::Result<Value>> + Send + Sync>;

/// A JSON [`ResourceView`] rooted at one base URI (e.g. `cache://data`):
///
/// - monolithic: the whole snapshot at the base URI ([`whole`](Self::whole));
/// - segmented: one resource per key at `{base}/{segment}`, listed individually and described
///   by the template `{base}/{segment}` ([`segments`](Self::segments));
/// - or both ([`JsonView::map`] sets up both for a string-keyed map).
///
/// Segment names are percent-encoded in listed URIs; on read they are decoded and validated
/// (no `/`, `\`, `?`, `#`, control characters, `.` or `..`; at most 256 bytes).
///
/// ```
/// use std::collections::HashMap;
/// use mcp_cache::JsonView;
///
/// // `cache://data` (the whole map) and `cache://data/{segment}` (one entry each).
/// let view = JsonView::<HashMap<String, Vec<String>>>::map("cache://data");
/// # let _ = view;
/// ```
pub struct JsonView<T> {
    base: String,
    name: String,
    description: Option<String>,
    whole: Option<WholeFn<T>>,
    keys: Option<KeysFn<T>>,
    segment: Option<SegmentFn<T>>,
}

impl<T> fmt::Debug for JsonView<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JsonView")
            .field("base", &self.base)
            .field("whole", &self.whole.is_some())
            .field("segments", &self.segment.is_some())
            .finish_non_exhaustive()
    }
}

impl<T> JsonView<T> {
    /// An empty view rooted at `base` (no trailing slash); add [`whole`](Self::whole) and/or
    /// [`segments`](Self::segments).
    pub fn new(base: impl Into<String>) -> Self {
        let base: String = base.into();
        let base = base.trim_end_matches('/').to_owned();
        let name = base
            .rsplit(['/', ':'])
            .find(|s| !s.is_empty())
            .unwrap_or("data")
            .to_owned();
        Self {
            base,
            name,
            description: None,
            whole: None,
            keys: None,
            segment: None,
        }
    }

    /// Sets the resource name (default: the last path segment of the base URI).
    #[must_use]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Sets a description shown in `resources/list` and `resources/templates/list`.
    #[must_use]
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// Serves the whole snapshot, rendered by `render`, at the base URI.
    #[must_use]
    pub fn whole(
        mut self,
        render: impl Fn(&T) -> serde_json::Result<Value> + Send + Sync + 'static,
    ) -> Self {
        self.whole = Some(Arc::new(render));
        self
    }

    /// Serves one resource per key at `{base}/{segment}`: `keys` lists the segments of a
    /// snapshot, `segment` renders one (`None` when the key does not exist).
    #[must_use]
    pub fn segments(
        mut self,
        keys: impl Fn(&T) -> Vec<String> + Send + Sync + 'static,
        segment: impl Fn(&T, &str) -> Option<serde_json::Result<Value>> + Send + Sync + 'static,
    ) -> Self {
        self.keys = Some(Arc::new(keys));
        self.segment = Some(Arc::new(segment));
        self
    }

    /// The base URI.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The URI of segment `key`.
    pub fn segment_uri(&self, key: &str) -> String {
        format!("{}/{}", self.base, encode_segment(key))
    }

    fn render(
        uri: &str,
        value: serde_json::Result<Value>,
    ) -> Result<ResourceContents, ResourceError> {
        let value = value.map_err(|e| ResourceError::Render {
            uri: uri.to_owned(),
            reason: e.to_string(),
        })?;
        let text = serde_json::to_string(&value).map_err(|e| ResourceError::Render {
            uri: uri.to_owned(),
            reason: e.to_string(),
        })?;
        Ok(ResourceContents::text(text, uri).with_mime_type(JSON_MIME))
    }
}

impl<T: Serialize + 'static> JsonView<T> {
    /// A monolithic view: the whole snapshot serialized at `base`.
    pub fn serialized(base: impl Into<String>) -> Self {
        Self::new(base).whole(|data: &T| serde_json::to_value(data))
    }
}

impl<K, V, S> JsonView<HashMap<K, V, S>>
where
    K: Borrow<str> + Hash + Eq + Serialize + 'static,
    V: Serialize + 'static,
    S: BuildHasher + 'static,
{
    /// Monolithic and segmented at once for a string-keyed map: the whole map at `base`, each
    /// entry at `{base}/{key}`, listed in key order.
    pub fn map(base: impl Into<String>) -> Self {
        Self::new(base)
            .whole(|map: &HashMap<K, V, S>| serde_json::to_value(map))
            .segments(
                |map: &HashMap<K, V, S>| {
                    let mut keys: Vec<String> = map.keys().map(|k| k.borrow().to_owned()).collect();
                    keys.sort_unstable();
                    keys
                },
                |map, key| map.get(key).map(serde_json::to_value),
            )
    }
}

impl<K, V> JsonView<BTreeMap<K, V>>
where
    K: Borrow<str> + Ord + Serialize + 'static,
    V: Serialize + 'static,
{
    /// Monolithic and segmented at once for a string-keyed map: the whole map at `base`, each
    /// entry at `{base}/{key}`.
    pub fn btree_map(base: impl Into<String>) -> Self {
        Self::new(base)
            .whole(|map: &BTreeMap<K, V>| serde_json::to_value(map))
            .segments(
                |map: &BTreeMap<K, V>| map.keys().map(|k| k.borrow().to_owned()).collect(),
                |map, key| map.get(key).map(serde_json::to_value),
            )
    }
}

impl<T: Send + Sync + 'static> ResourceView<T> for JsonView<T> {
    fn resources(&self, data: &T) -> Vec<Resource> {
        let mut out = Vec::new();
        if self.whole.is_some() {
            let mut resource = Resource::new(&self.base, &self.name).with_mime_type(JSON_MIME);
            if let Some(d) = &self.description {
                resource = resource.with_description(d);
            }
            out.push(resource);
        }
        if let Some(keys) = &self.keys {
            out.extend(keys(data).into_iter().map(|key| {
                Resource::new(self.segment_uri(&key), format!("{}/{key}", self.name))
                    .with_mime_type(JSON_MIME)
            }));
        }
        out
    }

    fn templates(&self) -> Vec<ResourceTemplate> {
        if self.segment.is_none() {
            return Vec::new();
        }
        let mut template = ResourceTemplate::new(
            format!("{}/{{segment}}", self.base),
            format!("{}-segment", self.name),
        )
        .with_mime_type(JSON_MIME);
        if let Some(d) = &self.description {
            template = template.with_description(d);
        }
        vec![template]
    }

    fn owns(&self, uri: &str) -> bool {
        uri == self.base
            || (self.segment.is_some()
                && uri
                    .strip_prefix(self.base.as_str())
                    .is_some_and(|rest| rest.starts_with('/')))
    }

    fn read(&self, data: &T, uri: &str) -> Result<ResourceContents, ResourceError> {
        let not_found = || ResourceError::NotFound {
            uri: uri.to_owned(),
        };
        if uri == self.base {
            let whole = self.whole.as_ref().ok_or_else(not_found)?;
            return Self::render(uri, whole(data));
        }
        let (Some(segment), Some(raw)) = (
            self.segment.as_ref(),
            uri.strip_prefix(self.base.as_str())
                .and_then(|rest| rest.strip_prefix('/')),
        ) else {
            return Err(not_found());
        };
        let key = decode_segment(raw).map_err(|reason| ResourceError::InvalidUri {
            uri: uri.to_owned(),
            reason: reason.to_string(),
        })?;
        let value = segment(data, &key).ok_or_else(not_found)?;
        Self::render(uri, value)
    }
}
