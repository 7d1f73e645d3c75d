//! Cache-resource duality for rmcp servers: the snapshot served as MCP resources, the health
//! resource, and change notifications to subscribed sessions and listen streams.

mod layer;
mod notify;
mod uri;
mod view;

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rmcp::ErrorData;
use rmcp::model::{
    ListResourceTemplatesResult, ListResourcesResult, ProtocolVersion, ReadResourceRequestParams,
    ReadResourceResponse, ReadResourceResult, Resource, ResourceContents, ResourcesCapability,
    SubscribeRequestParams, SubscriptionFilter, UnsubscribeRequestParams,
};
use rmcp::service::{RequestContext, RoleServer, SubscriptionContext, SubscriptionSink};
use tokio_util::sync::{CancellationToken, DropGuard};

pub use layer::{CacheResourcesHandler, CacheResourcesLayer, HANDLED_METHODS, INTERCEPTED_METHODS};
pub use view::{JSON_MIME, JsonView, ResourceError, ResourceView, Viewer};

use crate::{Cache, CacheError};
use notify::{Stream, Subscribers, Tracked};

/// The default URI of the health resource.
pub const DEFAULT_HEALTH_URI: &str = "cache://meta/health";

/// How long one notification may take to reach a session before that session is dropped
/// from the subscriber table (default of [`CacheResourcesBuilder::send_timeout`]).
pub const DEFAULT_SEND_TIMEOUT: Duration = Duration::from_secs(5);

/// Serves a [`Cache`] as MCP resources through a [`ResourceView`]: answers `resources/list`,
/// `resources/templates/list`, `resources/read`, `resources/subscribe`,
/// `resources/unsubscribe` and (protocol 2026-07-28) `subscriptions/listen` from the current
/// snapshot, serves the health resource (`cache://meta/health` by default), and after each
/// refresh notifies subscribed sessions of the URIs whose content changed.
///
/// Cloning is cheap and shares the component; hold one clone in every session's handler.
/// A background task (started by [`build`](CacheResourcesBuilder::build), so within a tokio
/// runtime) watches the cache; it ends when the last clone is dropped.
///
/// # Per caller
///
/// Every answer is rendered for the caller of the request ([`Viewer::Request`]) by the
/// [`ResourceView`]: a URI the caller may not see is not listed and reads as not found, like
/// an unknown one. `resources/subscribe` refuses (not found) and `subscriptions/listen` leaves
/// out the URIs the caller may not subscribe to ([`ResourceView::readable`]), so a change is
/// announced only to the sessions and streams that were entitled to the URI when they
/// subscribed. Change detection renders for [`Viewer::Server`]. The health resource is served
/// to every caller.
///
/// # Guarantees
///
/// - Reads and lists render from one snapshot (`Arc` loaded lock-free); they never wait for a
///   refresh or for notifications.
/// - Change detection is per URI: after a successful refresh every listed URI is rendered and
///   hashed; `notifications/resources/updated` goes to the subscribers of each URI whose hash
///   changed (or that disappeared), `notifications/resources/list_changed` when the set of
///   URIs changed. A failed refresh changes no data URI. The health resource counts as updated
///   after every refresh attempt.
/// - Notifications are sent from the background task, concurrently, each bounded by the send
///   timeout: a slow or vanished session never delays the refresh, reads or other sessions. A
///   session whose send fails or times out, or whose transport is closed, is removed.
///
/// # Wiring into a `ServerHandler`
///
/// [`CacheResourcesLayer`](crate::CacheResourcesLayer) wraps an existing handler with all of
/// this. By hand, one line per method:
///
/// ```
/// use std::collections::HashMap;
/// use mcp_cache::{Cache, CacheResources, JsonView, Viewer};
/// use rmcp::model::*;
/// use rmcp::service::{RequestContext, RoleServer, SubscriptionContext};
/// use rmcp::{ErrorData, ServerHandler};
///
/// type Rules = HashMap<String, Vec<String>>;
///
/// #[derive(Clone)]
/// struct Server {
///     resources: CacheResources<Rules>,
/// }
///
/// impl ServerHandler for Server {
///     fn get_info(&self) -> ServerConfig {
///         ServerConfig::new(
///             ServerCapabilities::builder()
///                 .enable_resources()
///                 .enable_resources_subscribe()
///                 .enable_resources_list_changed()
///                 .build(),
///         )
///     }
///     async fn list_resources(
///         &self,
///         _: Option<PaginatedRequestParams>,
///         cx: RequestContext<RoleServer>,
///     ) -> Result<ListResourcesResult, ErrorData> {
///         self.resources.list_resources(&cx)
///     }
///     async fn list_resource_templates(
///         &self,
///         _: Option<PaginatedRequestParams>,
///         cx: RequestContext<RoleServer>,
///     ) -> Result<ListResourceTemplatesResult, ErrorData> {
///         self.resources.list_resource_templates(&cx)
///     }
///     async fn read_resource(
///         &self,
///         request: ReadResourceRequestParams,
///         cx: RequestContext<RoleServer>,
///     ) -> Result<ReadResourceResponse, ErrorData> {
///         self.resources.read_resource(&request, &cx)
///     }
///     async fn subscribe(
///         &self,
///         request: SubscribeRequestParams,
///         cx: RequestContext<RoleServer>,
///     ) -> Result<(), ErrorData> {
///         self.resources.subscribe(&request, &cx)
///     }
///     async fn unsubscribe(
///         &self,
///         request: UnsubscribeRequestParams,
///         cx: RequestContext<RoleServer>,
///     ) -> Result<(), ErrorData> {
///         self.resources.unsubscribe(&request, &cx)
///     }
///     fn accepted_subscription_filter(
///         &self,
///         requested: &SubscriptionFilter,
///     ) -> Option<SubscriptionFilter> {
///         Some(self.resources.accepted_subscription_filter(requested))
///     }
///     async fn listen(&self, cx: SubscriptionContext) -> Result<(), ErrorData> {
///         self.resources.listen(cx).await
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let cache = Cache::from_fn(|| async {
///     Ok::<_, std::io::Error>(Rules::from([("app-alpha".into(), vec!["allow 443".into()])]))
/// })
/// .build()
/// .await
/// .expect("first fetch");
/// let server = Server {
///     resources: CacheResources::new(cache, JsonView::map("cache://data")),
/// };
/// let uris: Vec<String> = server
///     .resources
///     .resources(Viewer::Server)
///     .into_iter()
///     .map(|r| r.uri)
///     .collect();
/// assert_eq!(uris, ["cache://data", "cache://data/app-alpha", "cache://meta/health"]);
/// # }
/// ```
pub struct CacheResources<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Clone for CacheResources<T> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<T> fmt::Debug for CacheResources<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheResources")
            .field("cache", &self.shared.cache)
            .field("health_uri", &self.shared.health_uri)
            .finish_non_exhaustive()
    }
}

pub(crate) struct Shared<T> {
    pub(crate) cache: Cache<T>,
    pub(crate) view: Arc<dyn ResourceView<T>>,
    pub(crate) health_uri: Option<String>,
    pub(crate) send_timeout: Duration,
    ttl_hints: bool,
    pub(crate) list_changed: bool,
    pub(crate) subscribers: Mutex<Subscribers>,
    pub(crate) tracked: Mutex<Tracked>,
    next_stream: AtomicU64,
    _stop: DropGuard,
}

impl<T> Shared<T> {
    pub(crate) fn subscribers(&self) -> std::sync::MutexGuard<'_, Subscribers> {
        self.subscribers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// Builds [`CacheResources`]: the health resource's URI and the notification send timeout.
pub struct CacheResourcesBuilder<T> {
    cache: Cache<T>,
    view: Arc<dyn ResourceView<T>>,
    health_uri: Option<String>,
    send_timeout: Duration,
    ttl_hints: bool,
    list_changed: bool,
}

impl<T> fmt::Debug for CacheResourcesBuilder<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheResourcesBuilder")
            .field("health_uri", &self.health_uri)
            .field("send_timeout", &self.send_timeout)
            .finish_non_exhaustive()
    }
}

impl<T: Send + Sync + 'static> CacheResourcesBuilder<T> {
    /// Serves the health resource at `uri` (default [`DEFAULT_HEALTH_URI`]).
    #[must_use]
    pub fn health_uri(mut self, uri: impl Into<String>) -> Self {
        self.health_uri = Some(uri.into());
        self
    }

    /// Serves no health resource.
    #[must_use]
    pub fn without_health(mut self) -> Self {
        self.health_uri = None;
        self
    }

    /// Sets how long one notification may take (default [`DEFAULT_SEND_TIMEOUT`]).
    #[must_use]
    pub fn send_timeout(mut self, timeout: Duration) -> Self {
        self.send_timeout = timeout;
        self
    }

    /// Whether `resources/read` and `resources/list` results carry `ttlMs`, the cache hint of
    /// MCP 2026-07-28: how long the snapshot they were rendered from stays current
    /// ([`Cache::fresh_for_snapshot`]: until the next scheduled refresh or until it goes stale,
    /// 0 when it is stale). On by default.
    ///
    /// Clients that honour the hint (rmcp's and the Python SDK's do) serve the read from their
    /// own cache until it expires, so a change made earlier by [`Cache::refresh_now`] (or by
    /// another replica's early refresh) reaches them only through a subscription: the
    /// `notifications/resources/updated` this component sends invalidates their cached read.
    /// Turn the hints off for clients that read after a manual refresh without subscribing;
    /// rmcp then answers `ttlMs: 0`.
    ///
    /// The hints say nothing about who may see the answer: rmcp marks a result without
    /// `cacheScope` as `private`. A server whose resources are filtered per caller needs
    /// nothing more (`mcp-authz`'s handler marks every answer it authorizes `private` too).
    #[must_use]
    pub fn ttl_hints(mut self, enabled: bool) -> Self {
        self.ttl_hints = enabled;
        self
    }

    /// Whether the component offers `notifications/resources/list_changed` (on by default): to
    /// legacy sessions that listed its resources, and to `subscriptions/listen` streams that ask
    /// for `resourcesListChanged`. Turn it off when the set of URIs changes with data some
    /// callers may not see (per-caller views): the notification would tell every caller when
    /// entries they cannot see come or go. The capability this component and
    /// [`CacheResourcesLayer`] advertise follows.
    #[must_use]
    pub fn list_changed(mut self, enabled: bool) -> Self {
        self.list_changed = enabled;
        self
    }

    /// Creates the component and starts its change-watching task. Must be called within a
    /// tokio runtime.
    pub fn build(self) -> CacheResources<T> {
        let stop = CancellationToken::new();
        let changes = self.cache.watch();
        let shared = Arc::new(Shared {
            cache: self.cache,
            view: self.view,
            health_uri: self.health_uri,
            send_timeout: self.send_timeout,
            ttl_hints: self.ttl_hints,
            list_changed: self.list_changed,
            subscribers: Mutex::new(Subscribers::default()),
            tracked: Mutex::new(Tracked::default()),
            next_stream: AtomicU64::new(0),
            _stop: stop.clone().drop_guard(),
        });
        // Baseline hashes of the current snapshot, so the first refresh compares against it.
        let _ = notify::detect_changes(&shared);
        tokio::spawn(notify::run(Arc::downgrade(&shared), changes, stop));
        CacheResources { shared }
    }
}

impl<T: Send + Sync + 'static> CacheResources<T> {
    /// Serves `cache` through `view`, with the health resource at [`DEFAULT_HEALTH_URI`].
    /// Must be called within a tokio runtime.
    pub fn new(cache: Cache<T>, view: impl ResourceView<T>) -> Self {
        Self::builder(cache, view).build()
    }

    /// A builder, to configure the health URI or the send timeout.
    pub fn builder(cache: Cache<T>, view: impl ResourceView<T>) -> CacheResourcesBuilder<T> {
        CacheResourcesBuilder {
            cache,
            view: Arc::new(view),
            health_uri: Some(DEFAULT_HEALTH_URI.to_owned()),
            send_timeout: DEFAULT_SEND_TIMEOUT,
            ttl_hints: true,
            list_changed: true,
        }
    }
}

/// A duration as a `ttlMs` value.
fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Whether the request runs under a protocol version with `resources/subscribe` sessions
/// (before 2026-07-28).
fn is_legacy(context: &RequestContext<RoleServer>) -> bool {
    context
        .protocol_version()
        .is_none_or(|v| v.as_str() < ProtocolVersion::V_2026_07_28.as_str())
}

/// The session a request belongs to: the `Mcp-Session-Id` header over Streamable HTTP, the
/// empty key off HTTP (one session per connection, e.g. stdio), and `None` for HTTP requests
/// without a session (stateless mode), which have no stream to receive notifications on.
fn session_key(context: &RequestContext<RoleServer>) -> Option<String> {
    match context.extensions.get::<http::request::Parts>() {
        None => Some(String::new()),
        Some(parts) => parts
            .headers
            .get("mcp-session-id")
            .and_then(|value| value.to_str().ok())
            .map(ToOwned::to_owned),
    }
}

/// Counts of the subscriber table, for observability and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SubscriberStats {
    /// Live sessions (legacy `resources/subscribe` protocol) known to the component.
    pub sessions: usize,
    /// Open `subscriptions/listen` streams (protocol 2026-07-28).
    pub streams: usize,
    /// URI subscriptions over all sessions and streams.
    pub subscriptions: usize,
}

impl<T: Send + Sync + 'static> CacheResources<T> {
    /// The cache served.
    pub fn cache(&self) -> &Cache<T> {
        &self.shared.cache
    }

    /// The capability to advertise: subscribe and list-changed.
    pub fn capabilities() -> ResourcesCapability {
        let mut capability = ResourcesCapability::default();
        capability.subscribe = Some(true);
        capability.list_changed = Some(true);
        capability
    }

    /// The capability this component supports: subscribe, and list-changed unless turned off
    /// ([`CacheResourcesBuilder::list_changed`]).
    pub fn capability(&self) -> ResourcesCapability {
        let mut capability = Self::capabilities();
        capability.list_changed = Some(self.shared.list_changed);
        capability
    }

    /// Whether the component sends list-changed notifications
    /// ([`CacheResourcesBuilder::list_changed`]).
    pub fn offers_list_changed(&self) -> bool {
        self.shared.list_changed
    }

    /// The health resource's URI, if served.
    pub fn health_uri(&self) -> Option<&str> {
        self.shared.health_uri.as_deref()
    }

    /// Whether `uri` is served by this component (the view's namespace or the health URI),
    /// whoever asks.
    pub fn owns(&self, uri: &str) -> bool {
        self.shared.health_uri.as_deref() == Some(uri) || self.shared.view.owns(uri)
    }

    /// Whether `viewer` may subscribe to `uri`: the health URI, or a URI of the view's
    /// namespace the view lets the viewer read ([`ResourceView::readable`], asked with the
    /// current snapshot).
    pub fn readable(&self, uri: &str, viewer: Viewer<'_>) -> bool {
        if self.shared.health_uri.as_deref() == Some(uri) {
            return true;
        }
        if !self.shared.view.owns(uri) || self.shared.view.subscription_refused(uri).is_some() {
            return false;
        }
        let snapshot = self.shared.cache.try_snapshot();
        self.shared
            .view
            .readable(snapshot.as_ref().map(|s| s.data()), uri, viewer)
    }

    /// The resources of the current snapshot that `viewer` may see, then the health resource.
    /// Before the first successful fetch only the health resource.
    pub fn resources(&self, viewer: Viewer<'_>) -> Vec<Resource> {
        self.resources_fresh_for(viewer).0
    }

    /// [`resources`](Self::resources) and how long the snapshot they came from stays current
    /// (`None` before the first successful fetch).
    fn resources_fresh_for(&self, viewer: Viewer<'_>) -> (Vec<Resource>, Option<Duration>) {
        let (mut resources, fresh_for) = self
            .shared
            .cache
            .read(|snapshot| {
                (
                    self.shared.view.resources(snapshot.data(), viewer),
                    Some(self.shared.cache.fresh_for_snapshot(snapshot)),
                )
            })
            .unwrap_or_default();
        if let Some(uri) = &self.shared.health_uri {
            resources.push(
                Resource::new(uri, format!("{}-health", self.shared.cache.config().name))
                    .with_description(
                        "Cache health: age, TTL, staleness, generation, items, last error",
                    )
                    .with_mime_type(JSON_MIME),
            );
        }
        (resources, fresh_for)
    }

    /// Reads `uri` from the current snapshot for `viewer` (or the health resource): not found
    /// for a URI the viewer may not see, as for an unknown one. With
    /// [`ttl_hints`](CacheResourcesBuilder::ttl_hints) (the default) the result carries how
    /// long the snapshot stays current as `ttlMs`; the health resource carries none (it
    /// changes with every refresh attempt).
    pub fn read(&self, uri: &str, viewer: Viewer<'_>) -> Result<ReadResourceResult, ResourceError> {
        if self.shared.health_uri.as_deref() == Some(uri) {
            let text = serde_json::to_string(&self.shared.cache.health()).map_err(|e| {
                ResourceError::Render {
                    uri: uri.to_owned(),
                    reason: e.to_string(),
                }
            })?;
            return Ok(ReadResourceResult::new(vec![
                ResourceContents::text(text, uri).with_mime_type(JSON_MIME),
            ]));
        }
        if !self.shared.view.owns(uri) {
            return Err(ResourceError::NotFound {
                uri: uri.to_owned(),
            });
        }
        let ttl_hints = self.shared.ttl_hints;
        let read = self.shared.cache.read(|snapshot| {
            let contents = self.shared.view.read(snapshot.data(), uri, viewer)?;
            let result = ReadResourceResult::new(vec![contents]);
            Ok(if ttl_hints {
                result.with_ttl_ms(millis(self.shared.cache.fresh_for_snapshot(snapshot)))
            } else {
                result
            })
        });
        match read {
            Ok(result) => result,
            Err(CacheError::NotReady) => Err(ResourceError::NotReady),
            Err(other) => Err(ResourceError::Render {
                uri: uri.to_owned(),
                reason: other.to_string(),
            }),
        }
    }

    /// `resources/list`: every resource of the current snapshot the caller may see and the
    /// health resource (unpaginated), with `ttlMs` as for [`read`](Self::read). Under the legacy protocol, also
    /// registers the session for `notifications/resources/list_changed` (when offered).
    pub fn list_resources(
        &self,
        context: &RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        if is_legacy(context)
            && let Some(key) = session_key(context)
        {
            self.shared.subscribers().touch_session(key, &context.peer);
        }
        let (resources, fresh_for) = self.resources_fresh_for(Viewer::Request(context));
        let result = ListResourcesResult::with_all_items(resources);
        Ok(match fresh_for {
            Some(fresh_for) if self.shared.ttl_hints => result.with_ttl_ms(millis(fresh_for)),
            _ => result,
        })
    }

    /// `resources/templates/list`: the view's templates shown to the caller.
    pub fn list_resource_templates(
        &self,
        context: &RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        Ok(ListResourceTemplatesResult::with_all_items(
            self.shared.view.templates(Viewer::Request(context)),
        ))
    }

    /// `resources/read`: the contents from the current snapshot for the caller;
    /// resource-not-found for an unknown URI or one the caller may not see, invalid params for
    /// a malformed template parameter.
    pub fn read_resource(
        &self,
        request: &ReadResourceRequestParams,
        context: &RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        self.read(&request.uri, Viewer::Request(context))
            .map(ReadResourceResponse::from)
            .map_err(ResourceError::into)
    }

    /// `resources/subscribe` (protocols before 2026-07-28): the session receives
    /// `notifications/resources/updated` for `request.uri` when its content changes.
    /// Resource-not-found for URIs outside this component's namespace and for URIs the caller
    /// may not subscribe to ([`ResourceView::readable`]), alike; invalid request for an HTTP
    /// request without a session (stateless mode), which could never be notified.
    pub fn subscribe(
        &self,
        request: &SubscribeRequestParams,
        context: &RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        if self.owns(&request.uri)
            && let Some(reason) = self.shared.view.subscription_refused(&request.uri)
        {
            return Err(ErrorData::invalid_params(
                reason,
                Some(serde_json::json!({ "uri": request.uri })),
            ));
        }
        if !self.readable(&request.uri, Viewer::Request(context)) {
            return Err(ResourceError::NotFound {
                uri: request.uri.clone(),
            }
            .into());
        }
        let Some(key) = session_key(context) else {
            return Err(ErrorData::invalid_request(
                "resources/subscribe needs a session: this HTTP request has no Mcp-Session-Id \
                 (stateless mode); use subscriptions/listen",
                None,
            ));
        };
        self.shared
            .subscribers()
            .subscribe(key, &context.peer, request.uri.clone());
        Ok(())
    }

    /// `resources/unsubscribe`. Unsubscribing from a URI not subscribed is not an error.
    pub fn unsubscribe(
        &self,
        request: &UnsubscribeRequestParams,
        context: &RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        if let Some(key) = session_key(context) {
            self.shared.subscribers().unsubscribe(&key, &request.uri);
        }
        Ok(())
    }

    /// For `ServerHandler::accepted_subscription_filter` (protocol 2026-07-28): accepts
    /// `resourcesListChanged` and the requested resource URIs this component serves.
    pub fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> SubscriptionFilter {
        let mut builder = SubscriptionFilter::builder();
        if requested.resources_list_changed == Some(true) && self.shared.list_changed {
            builder = builder.resources_list_changed();
        }
        if let Some(uris) = &requested.resource_subscriptions {
            let owned: Vec<&String> = uris.iter().filter(|uri| self.owns(uri)).collect();
            if !owned.is_empty() {
                builder = builder.resource_subscriptions(owned.into_iter().cloned());
            }
        }
        builder.build()
    }

    /// For `ServerHandler::listen` (protocol 2026-07-28): registers the stream for the
    /// accepted URIs the caller of the listen request may subscribe to
    /// ([`ResourceView::readable`]; the others are left out, never notified) and for list
    /// changes, and holds it until the client cancels it. The registration is removed when
    /// this future ends or is dropped.
    pub async fn listen(&self, context: SubscriptionContext) -> Result<(), ErrorData> {
        self.hold_stream(
            context.request_context(),
            context.sink().clone(),
            context.accepted(),
        )
        .await
    }

    /// [`listen`](Self::listen) from its parts: the listen request, its sink and the accepted
    /// filter.
    pub(crate) async fn hold_stream(
        &self,
        request: &RequestContext<RoleServer>,
        sink: SubscriptionSink,
        accepted: &SubscriptionFilter,
    ) -> Result<(), ErrorData> {
        let viewer = Viewer::Request(request);
        let uris = accepted
            .resource_subscriptions
            .iter()
            .flatten()
            .filter(|uri| self.readable(uri, viewer))
            .cloned()
            .collect::<std::collections::HashSet<_>>();
        let list_changed =
            accepted.resources_list_changed == Some(true) && self.shared.list_changed;
        if uris.is_empty() && !list_changed {
            request.ct.cancelled().await;
            return Ok(());
        }
        let id = self.shared.next_stream.fetch_add(1, Ordering::Relaxed);
        self.shared.subscribers().streams.insert(
            id,
            Stream {
                sink,
                uris,
                list_changed,
            },
        );
        let _registration = notify::StreamRegistration {
            shared: Arc::downgrade(&self.shared),
            id,
        };
        request.ct.cancelled().await;
        Ok(())
    }

    /// Forgets a session's subscriptions at once (call it when a session ends; sessions whose
    /// transport closed are also dropped lazily).
    pub fn end_session(&self, session_id: &str) {
        self.shared.subscribers().sessions.remove(session_id);
    }

    /// Counts of the subscriber table. Sessions whose transport has closed since the last
    /// notification are dropped first, so the counts are of live subscribers.
    pub fn subscriber_stats(&self) -> SubscriberStats {
        let mut subscribers = self.shared.subscribers();
        subscribers.prune();
        SubscriberStats {
            sessions: subscribers.sessions.len(),
            streams: subscribers.streams.len(),
            subscriptions: subscribers
                .sessions
                .values()
                .map(|s| s.uris.len())
                .chain(subscribers.streams.values().map(|s| s.uris.len()))
                .sum(),
        }
    }

    /// URI → content hash of the snapshot last compared (for tests and debugging).
    pub fn content_hashes(&self) -> HashMap<String, u64> {
        self.shared
            .tracked
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .hashes
            .clone()
    }
}
