//! Mapping a snapshot to MCP resources per caller: the [`Viewer`] asking, the [`ResourceView`]
//! trait and the ready-made [`JsonView`].

use std::borrow::Borrow;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::sync::Arc;

use rmcp::ErrorData;
use rmcp::model::{Resource, ResourceContents, ResourceTemplate};
use rmcp::service::{RequestContext, RoleServer};
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

/// Who a resource is rendered for: the caller of a request, or the component itself.
///
/// A [`ResourceView`] receives the viewer with every call that answers a caller, so that
/// `resources/list`, `resources/templates/list`, `resources/read` and subscriptions answer with
/// what that caller may see. Find the caller's identity with [`extension`](Self::extension):
/// an authorization layer in front of rmcp's Streamable HTTP service puts the verified
/// principal into the HTTP request's extensions, which rmcp hands on to the request.
#[derive(Debug, Clone, Copy)]
pub enum Viewer<'a> {
    /// The caller of this request (a `resources/*` request, or the `subscriptions/listen`
    /// request of a stream).
    Request(&'a RequestContext<RoleServer>),
    /// The component rendering for itself, for change detection: it sees every resource.
    /// Never used to answer a caller.
    Server,
}

impl<'a> Viewer<'a> {
    /// The request context, unless the viewer is [`Viewer::Server`].
    pub fn context(self) -> Option<&'a RequestContext<RoleServer>> {
        match self {
            Self::Request(context) => Some(context),
            Self::Server => None,
        }
    }

    /// Whether this is the component itself ([`Viewer::Server`]).
    pub fn is_server(self) -> bool {
        matches!(self, Self::Server)
    }

    /// An extension of type `E` of the request: looked up in the request's own extensions,
    /// then in the extensions of the HTTP request it came with (the `http::request::Parts`
    /// rmcp's Streamable HTTP service stores), where an HTTP authentication layer puts the
    /// principal. `None` for [`Viewer::Server`] and when neither holds an `E`.
    pub fn extension<E: Send + Sync + 'static>(self) -> Option<&'a E> {
        let context = self.context()?;
        context.extensions.get::<E>().or_else(|| {
            context
                .extensions
                .get::<http::request::Parts>()
                .and_then(|parts| parts.extensions.get::<E>())
        })
    }
}

/// Maps a snapshot of `T` to MCP resources, for one [`Viewer`] at a time: what
/// `resources/list`, `resources/templates/list` and `resources/read` answer to that caller. A
/// view renders from the snapshot on each call; nothing is copied at refresh time.
///
/// Implement it for full control (several resources, non-JSON mime types, per-caller
/// filtering), or use [`JsonView`].
///
/// # Contract
///
/// - `read` must be deterministic for a given snapshot and viewer: change detection hashes what
///   it returns for [`Viewer::Server`], which sees every resource.
/// - A URI a viewer may not see answers exactly like an unknown one:
///   [`ResourceError::NotFound`] from `read`, absent from `resources`, `false` from
///   `readable`. Nothing in an answer to one caller depends on what another may see.
/// - `owns` is the same for every caller: it says which URIs this view answers at all (so a
///   server combining several sources can dispatch), not who may read them.
pub trait ResourceView<T>: Send + Sync + 'static {
    /// The concrete resources of this snapshot that `viewer` may read (every URI that `read`
    /// answers for that viewer).
    fn resources(&self, data: &T, viewer: Viewer<'_>) -> Vec<Resource>;

    /// Resource templates (RFC 6570) shown to `viewer`, e.g. `cache://data/{segment}`. None by
    /// default.
    fn templates(&self, viewer: Viewer<'_>) -> Vec<ResourceTemplate> {
        let _ = viewer;
        Vec::new()
    }

    /// Whether `uri` belongs to this view's namespace (its listed URIs and anything its
    /// templates match), whoever asks.
    fn owns(&self, uri: &str) -> bool;

    /// Reads `uri` from the snapshot for `viewer`: its contents with their mime type,
    /// [`ResourceError::NotFound`] for an unknown URI or one the viewer may not see,
    /// [`ResourceError::InvalidUri`] for a malformed template parameter.
    fn read(
        &self,
        data: &T,
        uri: &str,
        viewer: Viewer<'_>,
    ) -> Result<ResourceContents, ResourceError>;

    /// Why no caller may subscribe to `uri` (a URI this view owns), when that is so by design:
    /// say, an aggregate whose updates would tell a caller when entries it may not see change.
    /// `resources/subscribe` then answers invalid params with this reason, rather than the
    /// not-found error an unknown or hidden URI gets, and `subscriptions/listen` drops the
    /// URI. `None` (subscriptions allowed, per [`readable`](Self::readable)) by default.
    fn subscription_refused(&self, uri: &str) -> Option<String> {
        let _ = uri;
        None
    }

    /// Whether `viewer` may subscribe to `uri` (a URI this view owns): `resources/subscribe`
    /// refuses, and `subscriptions/listen` drops, the URIs for which this is `false`, so a
    /// change to them is never announced to that viewer. `data` is the current snapshot
    /// (`None` before the first successful fetch).
    ///
    /// By default: [`Viewer::Server`] may subscribe to every owned URI; a caller to the URIs
    /// `read` answers for it from the current snapshot (none before the first fetch).
    fn readable(&self, data: Option<&T>, uri: &str, viewer: Viewer<'_>) -> bool {
        if viewer.is_server() {
            return self.owns(uri);
        }
        data.is_some_and(|data| {
            !matches!(
                self.read(data, uri, viewer),
                Err(ResourceError::NotFound { .. } | ResourceError::InvalidUri { .. })
            )
        })
    }
}

type PlainFn<T> = Arc<dyn Fn(&T) -> serde_json::Result<Value> + Send + Sync>;
type ForViewerFn<T> = Arc<dyn Fn(&T, Viewer<'_>) -> serde_json::Result<Value> + Send + Sync>;
type EntriesFn<T> =
    Arc<dyn Fn(&T, &dyn Fn(&str) -> bool) -> serde_json::Result<Value> + Send + Sync>;
type KeysFn<T> = Arc<dyn Fn(&T) -> Vec<String> + Send + Sync>;
type SegmentFn<T> = Arc<dyn Fn(&T, &str) -> Option<serde_json::Result<Value>> + Send + Sync>;
type VisibleFn = Arc<dyn Fn(Viewer<'_>, &str) -> bool + Send + Sync>;

/// How the resource at the base URI is rendered.
enum Whole<T> {
    /// The same for every viewer ([`JsonView::whole`]).
    Plain(PlainFn<T>),
    /// Per viewer ([`JsonView::whole_for`]).
    ForViewer(ForViewerFn<T>),
    /// The entries whose key the viewer may see (the map constructors).
    Entries(EntriesFn<T>),
}

/// A JSON [`ResourceView`] rooted at one base URI (e.g. `cache://data`):
///
/// - monolithic: the whole snapshot at the base URI ([`whole`](Self::whole), or
///   [`whole_for`](Self::whole_for) to render it per caller);
/// - segmented: one resource per key at `{base}/{segment}`, listed individually and described
///   by the template `{base}/{segment}` ([`segments`](Self::segments));
/// - or both ([`JsonView::map`] sets up both for a string-keyed map).
///
/// Segment names are percent-encoded in listed URIs; on read they are decoded and validated
/// (no `/`, `\`, `?`, `#`, control characters, `.` or `..`; at most 256 bytes).
///
/// # Per caller
///
/// [`visible`](Self::visible) decides which segments a caller may see: the others are not
/// listed, read as not found and cannot be subscribed to. The whole resource follows suit:
/// the map constructors render only the visible entries, [`whole_for`](Self::whole_for)
/// renders what its function returns for the viewer, and a [`whole`](Self::whole) that cannot
/// tell callers apart is served only to [`Viewer::Server`] once `visible` is set (fail
/// closed). Without `visible` every caller sees everything.
///
/// Change notifications follow the [`Viewer::Server`] rendering: a subscriber to the whole
/// resource is notified when any entry changes, including one it cannot see (the
/// notification carries only the base URI).
///
/// ```
/// use std::collections::HashMap;
/// use mcp_cache::{JsonView, Viewer};
///
/// #[derive(Clone)]
/// struct Tenant(String);
///
/// // `cache://data` (the caller's part of the map) and `cache://data/{segment}` (one entry
/// // each), where a caller sees the keys prefixed with its tenant.
/// let view = JsonView::<HashMap<String, Vec<String>>>::map("cache://data").visible(
///     |viewer: Viewer<'_>, key: &str| {
///         viewer.is_server()
///             || viewer
///                 .extension::<Tenant>()
///                 .is_some_and(|tenant| key.starts_with(&format!("{}-", tenant.0)))
///     },
/// );
/// # let _ = view;
/// ```
pub struct JsonView<T> {
    base: String,
    name: String,
    description: Option<String>,
    whole: Option<Whole<T>>,
    keys: Option<KeysFn<T>>,
    segment: Option<SegmentFn<T>>,
    visible: Option<VisibleFn>,
}

impl<T> fmt::Debug for JsonView<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JsonView")
            .field("base", &self.base)
            .field("whole", &self.whole.is_some())
            .field("segments", &self.segment.is_some())
            .field("visible", &self.visible.is_some())
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
            visible: None,
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

    /// Serves the whole snapshot, rendered by `render` the same for every caller, at the base
    /// URI. Once [`visible`](Self::visible) is set, only [`Viewer::Server`] sees it; use
    /// [`whole_for`](Self::whole_for) to serve callers.
    #[must_use]
    pub fn whole(
        mut self,
        render: impl Fn(&T) -> serde_json::Result<Value> + Send + Sync + 'static,
    ) -> Self {
        self.whole = Some(Whole::Plain(Arc::new(render)));
        self
    }

    /// Serves the whole snapshot at the base URI, rendered by `render` for each viewer (what
    /// that caller may see of it; [`Viewer::Server`] for change detection).
    #[must_use]
    pub fn whole_for(
        mut self,
        render: impl Fn(&T, Viewer<'_>) -> serde_json::Result<Value> + Send + Sync + 'static,
    ) -> Self {
        self.whole = Some(Whole::ForViewer(Arc::new(render)));
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

    /// Lets a caller see only the segments for which `visible(viewer, segment)` holds (the
    /// decoded key); see [Per caller](Self#per-caller). It is asked for [`Viewer::Server`] too;
    /// return `true` for it, or change detection misses the segments it hides.
    #[must_use]
    pub fn visible(
        mut self,
        visible: impl Fn(Viewer<'_>, &str) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.visible = Some(Arc::new(visible));
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

    /// Whether `viewer` may see segment `key`.
    fn sees(&self, viewer: Viewer<'_>, key: &str) -> bool {
        self.visible
            .as_ref()
            .is_none_or(|visible| visible(viewer, key))
    }

    /// Whether `viewer` may see the whole resource (when there is one).
    fn sees_whole(&self, viewer: Viewer<'_>) -> bool {
        match &self.whole {
            None => false,
            Some(Whole::Plain(_)) => self.visible.is_none() || viewer.is_server(),
            Some(Whole::ForViewer(_) | Whole::Entries(_)) => true,
        }
    }

    /// The decoded segment of `uri`: `None` when `uri` is not a segment URI of this view.
    fn segment_key(&self, uri: &str) -> Option<Result<String, ResourceError>> {
        self.segment.as_ref()?;
        let raw = uri
            .strip_prefix(self.base.as_str())
            .and_then(|rest| rest.strip_prefix('/'))?;
        Some(
            decode_segment(raw).map_err(|reason| ResourceError::InvalidUri {
                uri: uri.to_owned(),
                reason: reason.to_string(),
            }),
        )
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

/// The entries of `entries` whose key `keep` accepts, as a JSON object.
fn entries_object<'e, K, V>(
    entries: impl Iterator<Item = (&'e K, &'e V)>,
    keep: &dyn Fn(&str) -> bool,
) -> serde_json::Result<Value>
where
    K: Borrow<str> + 'e,
    V: Serialize + 'e,
{
    let mut object = serde_json::Map::new();
    for (key, value) in entries {
        let key: &str = key.borrow();
        if keep(key) {
            object.insert(key.to_owned(), serde_json::to_value(value)?);
        }
    }
    Ok(Value::Object(object))
}

impl<K, V, S> JsonView<HashMap<K, V, S>>
where
    K: Borrow<str> + Hash + Eq + Serialize + 'static,
    V: Serialize + 'static,
    S: BuildHasher + 'static,
{
    /// Monolithic and segmented at once for a string-keyed map: the whole map at `base` (the
    /// entries the caller may see), each entry at `{base}/{key}`, listed in key order.
    pub fn map(base: impl Into<String>) -> Self {
        let mut view = Self::new(base).segments(
            |map: &HashMap<K, V, S>| {
                let mut keys: Vec<String> = map.keys().map(|k| k.borrow().to_owned()).collect();
                keys.sort_unstable();
                keys
            },
            |map, key| map.get(key).map(serde_json::to_value),
        );
        view.whole = Some(Whole::Entries(Arc::new(|map: &HashMap<K, V, S>, keep| {
            let mut entries: Vec<(&K, &V)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.borrow().cmp(b.0.borrow()));
            entries_object(entries.into_iter(), keep)
        })));
        view
    }
}

impl<K, V> JsonView<BTreeMap<K, V>>
where
    K: Borrow<str> + Ord + Serialize + 'static,
    V: Serialize + 'static,
{
    /// Monolithic and segmented at once for a string-keyed map: the whole map at `base` (the
    /// entries the caller may see), each entry at `{base}/{key}`.
    pub fn btree_map(base: impl Into<String>) -> Self {
        let mut view = Self::new(base).segments(
            |map: &BTreeMap<K, V>| map.keys().map(|k| k.borrow().to_owned()).collect(),
            |map, key| map.get(key).map(serde_json::to_value),
        );
        view.whole = Some(Whole::Entries(Arc::new(|map: &BTreeMap<K, V>, keep| {
            entries_object(map.iter(), keep)
        })));
        view
    }
}

impl<T: Send + Sync + 'static> ResourceView<T> for JsonView<T> {
    fn resources(&self, data: &T, viewer: Viewer<'_>) -> Vec<Resource> {
        let mut out = Vec::new();
        if self.sees_whole(viewer) {
            let mut resource = Resource::new(&self.base, &self.name).with_mime_type(JSON_MIME);
            if let Some(d) = &self.description {
                resource = resource.with_description(d);
            }
            out.push(resource);
        }
        if let Some(keys) = &self.keys {
            out.extend(
                keys(data)
                    .into_iter()
                    .filter(|key| self.sees(viewer, key))
                    .map(|key| {
                        Resource::new(self.segment_uri(&key), format!("{}/{key}", self.name))
                            .with_mime_type(JSON_MIME)
                    }),
            );
        }
        out
    }

    fn templates(&self, _viewer: Viewer<'_>) -> Vec<ResourceTemplate> {
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

    fn read(
        &self,
        data: &T,
        uri: &str,
        viewer: Viewer<'_>,
    ) -> Result<ResourceContents, ResourceError> {
        let not_found = || ResourceError::NotFound {
            uri: uri.to_owned(),
        };
        if uri == self.base {
            if !self.sees_whole(viewer) {
                return Err(not_found());
            }
            let value = match self.whole.as_ref().ok_or_else(not_found)? {
                Whole::Plain(render) => render(data),
                Whole::ForViewer(render) => render(data, viewer),
                Whole::Entries(render) => render(data, &|key| self.sees(viewer, key)),
            };
            return Self::render(uri, value);
        }
        let (Some(key), Some(segment)) = (self.segment_key(uri), self.segment.as_ref()) else {
            return Err(not_found());
        };
        let key = key?;
        if !self.sees(viewer, &key) {
            return Err(not_found());
        }
        let value = segment(data, &key).ok_or_else(not_found)?;
        Self::render(uri, value)
    }

    /// Whether `viewer` may subscribe to `uri`: the whole resource when it sees it, a segment
    /// when its name is valid and [`visible`](JsonView::visible) lets the viewer see it,
    /// whether or not it exists in the current snapshot.
    fn readable(&self, _data: Option<&T>, uri: &str, viewer: Viewer<'_>) -> bool {
        if uri == self.base {
            return self.sees_whole(viewer);
        }
        matches!(self.segment_key(uri), Some(Ok(key)) if self.sees(viewer, &key))
    }
}
