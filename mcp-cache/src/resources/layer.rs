//! [`CacheResourcesLayer`]: adds a [`CacheResources`] component (or one per caller) to an
//! existing `ServerHandler`.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

#[allow(deprecated)] // logging/setLevel is deprecated in rmcp, and still forwarded
use rmcp::model::SetLevelRequestParams;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CancelTaskParams, CancelledNotificationParam,
    CompleteRequestParams, CompleteResult, CustomNotification, CustomRequest, CustomResult,
    DiscoverResult, ErrorCode, GetPromptRequestParams, GetPromptResponse, GetSkillRequestParams,
    GetSkillResult, GetTaskParams, GetTaskResult, InitializeRequestParams, InitializeResult,
    ListPromptsResult, ListResourceTemplatesResult, ListResourcesResult, ListSkillsResult,
    ListToolsResult, PaginatedRequestParams, ProgressNotificationParam, ProtocolVersion,
    ReadResourceDirectoryRequestParams, ReadResourceDirectoryResult, ReadResourceRequestParams,
    ReadResourceResponse, ServerCapabilities, ServerConfig, SubscribeRequestParams,
    SubscriptionFilter, Tool, UnsubscribeRequestParams, UpdateTaskParams,
};
use rmcp::service::{
    MaybeSendFuture, NotificationContext, RequestContext, RoleServer, SubscriptionContext,
};
use rmcp::{ErrorData, ServerHandler};

use super::CacheResources;

type Resolved<T> = Pin<Box<dyn Future<Output = Result<CacheResources<T>, ErrorData>> + Send>>;
type ResolveFn<T> = dyn Fn(&RequestContext<RoleServer>) -> Resolved<T> + Send + Sync;
type OwnsFn = dyn Fn(&str) -> bool + Send + Sync;

/// Where the handler finds the component answering a request.
enum Source<T> {
    /// One component for every caller.
    Shared(CacheResources<T>),
    /// The component of the request's caller.
    PerCaller {
        owns: Arc<OwnsFn>,
        resolve: Arc<ResolveFn<T>>,
        list_changed: bool,
    },
}

impl<T> Clone for Source<T> {
    fn clone(&self) -> Self {
        match self {
            Self::Shared(resources) => Self::Shared(resources.clone()),
            Self::PerCaller {
                owns,
                resolve,
                list_changed,
            } => Self::PerCaller {
                owns: Arc::clone(owns),
                resolve: Arc::clone(resolve),
                list_changed: *list_changed,
            },
        }
    }
}

impl<T: Send + Sync + 'static> Source<T> {
    fn owns(&self, uri: &str) -> bool {
        match self {
            Self::Shared(resources) => resources.owns(uri),
            Self::PerCaller { owns, .. } => owns(uri),
        }
    }

    /// Whether a subscription to `uri` (one the source owns) can be accepted at all, before the
    /// caller is known: not for a URI the component's view refuses subscriptions to by design.
    fn acceptable(&self, uri: &str) -> bool {
        match self {
            Self::Shared(resources) => resources.readable(uri, super::Viewer::Server),
            Self::PerCaller { .. } => true,
        }
    }

    /// Whether list-changed notifications are offered.
    fn list_changed(&self) -> bool {
        match self {
            Self::Shared(resources) => resources.offers_list_changed(),
            Self::PerCaller { list_changed, .. } => *list_changed,
        }
    }

    async fn resolve(
        &self,
        context: &RequestContext<RoleServer>,
    ) -> Result<CacheResources<T>, ErrorData> {
        match self {
            Self::Shared(resources) => Ok(resources.clone()),
            Self::PerCaller { resolve, .. } => resolve(context).await,
        }
    }
}

/// A `tower_layer::Layer` that serves a [`CacheResources`] component beside an existing
/// `ServerHandler`: the wrapped handler ([`CacheResourcesHandler`]) answers the resource
/// requests for the URIs the component owns, merges the resource lists with the inner
/// handler's, advertises the resources capability, and forwards everything else unchanged.
///
/// - [`new`](Self::new): one component for every caller (a server-scoped or hybrid cache);
///   what each caller sees is still decided per request by the component's
///   [`ResourceView`](crate::ResourceView).
/// - [`per_caller`](Self::per_caller): one component per caller (a session-scoped cache, one
///   per user), found by an asynchronous resolver for every request.
///
/// ```
/// # use std::collections::HashMap;
/// use mcp_cache::{Cache, CacheResources, CacheResourcesLayer, JsonView};
/// use tower_layer::Layer as _;
///
/// #[derive(Clone)]
/// struct MyServer;
/// impl rmcp::ServerHandler for MyServer {}
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let cache = Cache::from_fn(|| async {
///     Ok::<_, std::io::Error>(HashMap::from([("a".to_owned(), 1_u32)]))
/// })
/// .build()
/// .await
/// .expect("first fetch");
/// let resources = CacheResources::new(cache, JsonView::map("cache://data"));
/// let handler = CacheResourcesLayer::new(resources).layer(MyServer);
/// # let _ = handler;
/// # }
/// ```
pub struct CacheResourcesLayer<T> {
    source: Source<T>,
}

impl<T> Clone for CacheResourcesLayer<T> {
    fn clone(&self) -> Self {
        Self {
            source: self.source.clone(),
        }
    }
}

impl<T> fmt::Debug for CacheResourcesLayer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let source = match &self.source {
            Source::Shared(_) => "shared",
            Source::PerCaller { .. } => "per caller",
        };
        f.debug_struct("CacheResourcesLayer")
            .field("source", &source)
            .finish_non_exhaustive()
    }
}

impl<T: Send + Sync + 'static> CacheResourcesLayer<T> {
    /// Serves `resources` to every caller.
    pub fn new(resources: CacheResources<T>) -> Self {
        Self {
            source: Source::Shared(resources),
        }
    }

    /// Serves each caller from its own component: `resolve` maps the request context to that
    /// caller's [`CacheResources`] (say, the component watching the caller's cache in a
    /// [`CacheRegistry`](crate::CacheRegistry)); its error is the request's answer. `owns`
    /// says which URIs these components answer (their views' namespace and health URI) without
    /// asking who calls: it routes the request to a component or to the inner handler, and
    /// decides the `subscriptions/listen` filter before any caller is known.
    ///
    /// The subscriptions of a caller live in the component `resolve` returns for it, which
    /// sends that caller's change notifications: return the same component for the same
    /// caller (keep them, e.g. in a map with a bounded size) for as long as its subscriptions
    /// should last. A `subscriptions/listen` stream holds its component until it ends.
    pub fn per_caller<O, R, F>(owns: O, resolve: R) -> Self
    where
        O: Fn(&str) -> bool + Send + Sync + 'static,
        R: Fn(&RequestContext<RoleServer>) -> F + Send + Sync + 'static,
        F: Future<Output = Result<CacheResources<T>, ErrorData>> + Send + 'static,
    {
        Self {
            source: Source::PerCaller {
                owns: Arc::new(owns),
                resolve: Arc::new(move |context| Box::pin(resolve(context))),
                list_changed: true,
            },
        }
    }

    /// For [`per_caller`](Self::per_caller): whether list-changed notifications are offered
    /// (the capability advertised and `resourcesListChanged` accepted); build the components
    /// with the same [`CacheResourcesBuilder::list_changed`](crate::CacheResourcesBuilder::list_changed).
    /// On by default. A layer made with [`new`](Self::new) follows its component's setting and
    /// ignores this.
    #[must_use]
    pub fn list_changed(mut self, enabled: bool) -> Self {
        if let Source::PerCaller { list_changed, .. } = &mut self.source {
            *list_changed = enabled;
        }
        self
    }
}

impl<H, T> tower_layer::Layer<H> for CacheResourcesLayer<T> {
    type Service = CacheResourcesHandler<H, T>;

    fn layer(&self, inner: H) -> Self::Service {
        CacheResourcesHandler {
            inner,
            source: self.source.clone(),
        }
    }
}

/// The `ServerHandler` [`CacheResourcesLayer`] produces: the inner handler `H` with the
/// cache's resources added.
///
/// # What it answers, what it forwards
///
/// - `resources/read`, `resources/subscribe`, `resources/unsubscribe`: answered by the
///   component for the URIs it owns (per caller: the caller's component), forwarded to the
///   inner handler for every other URI. An inner handler without resources ("method not
///   found") makes such a URI what an unknown one gets: resource not found, with the URI
///   (unsubscribing from it succeeds).
/// - `resources/list`, `resources/templates/list`: the component's entries first, then the
///   inner handler's (an inner entry with a URI the component owns is left out). The
///   component's list is not paginated: a request with a cursor continues the inner
///   handler's pages and is forwarded as is. An inner handler without resources (method not
///   found) contributes nothing. `ttlMs` is the smaller of both, none when either has none.
/// - `subscriptions/listen` (protocol 2026-07-28): the accepted filter is the component's
///   part (the requested URIs it owns, `resourcesListChanged`) merged with what the inner
///   handler's `accepted_subscription_filter` accepts of the rest. The stream runs the
///   component's listen and the inner handler's concurrently, stays open until both have
///   ended, and ends with the first error of either.
/// - `get_info`, `initialize`, `server/discover`: the inner handler's answer with the
///   resources capability (subscribe, listChanged) added.
/// - Every other method is forwarded to the inner handler unchanged.
pub struct CacheResourcesHandler<H, T> {
    inner: H,
    source: Source<T>,
}

impl<H: Clone, T> Clone for CacheResourcesHandler<H, T> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            source: self.source.clone(),
        }
    }
}

impl<H: fmt::Debug, T> fmt::Debug for CacheResourcesHandler<H, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheResourcesHandler")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<H, T> CacheResourcesHandler<H, T> {
    /// The wrapped handler.
    pub fn inner(&self) -> &H {
        &self.inner
    }
}

/// Adds the resources capability (subscribe, and listChanged when offered) to `capabilities`.
fn add_capability(capabilities: &mut ServerCapabilities, list_changed: bool) {
    let resources = capabilities.resources.get_or_insert_with(Default::default);
    resources.subscribe = Some(true);
    if list_changed {
        resources.list_changed = Some(true);
    }
}

/// The smaller of two `ttlMs` hints; none when either has none.
fn min_ttl(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    a.zip(b).map(|(a, b)| a.min(b))
}

/// The inner handler's answer, or `None` when it serves no such list (method not found).
fn served<R>(result: Result<R, ErrorData>) -> Result<Option<R>, ErrorData> {
    match result {
        Ok(result) => Ok(Some(result)),
        Err(error) if error.code == ErrorCode::METHOD_NOT_FOUND => Ok(None),
        Err(error) => Err(error),
    }
}

/// The inner handler's error for a URI the component does not own, except that an inner handler
/// without resources ("method not found": the layer advertises the capability, not the inner
/// handler) makes it what an unknown URI gets: resource not found, with the URI.
fn unknown_if_unserved(error: ErrorData, uri: String) -> ErrorData {
    if error.code == ErrorCode::METHOD_NOT_FOUND {
        super::ResourceError::NotFound { uri }.into()
    } else {
        error
    }
}

/// Whether a paginated request asks for a page after the first.
fn continues(request: Option<&PaginatedRequestParams>) -> bool {
    request.is_some_and(|r| r.cursor.is_some())
}

/// The methods the handler answers itself (in whole or in part); the macro below generates
/// their trait methods as calls of these.
struct Intercept<'a, H, T>(&'a CacheResourcesHandler<H, T>);

#[allow(deprecated)] // resources/subscribe is legacy-only in rmcp, and still answered
impl<H: ServerHandler, T: Send + Sync + 'static> Intercept<'_, H, T> {
    fn get_info(&self) -> ServerConfig {
        let mut info = self.0.inner.get_info();
        add_capability(&mut info.capabilities, self.0.source.list_changed());
        info
    }

    fn negotiate_initialize(
        &self,
        request: &InitializeRequestParams,
    ) -> Result<InitializeResult, ErrorData> {
        let mut result = self.0.inner.negotiate_initialize(request)?;
        add_capability(&mut result.capabilities, self.0.source.list_changed());
        Ok(result)
    }

    async fn initialize(
        &self,
        request: InitializeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<InitializeResult, ErrorData> {
        let mut result = self.0.inner.initialize(request, context).await?;
        add_capability(&mut result.capabilities, self.0.source.list_changed());
        Ok(result)
    }

    async fn discover(
        &self,
        context: RequestContext<RoleServer>,
    ) -> Result<DiscoverResult, ErrorData> {
        let mut result = self.0.inner.discover(context).await?;
        add_capability(&mut result.capabilities, self.0.source.list_changed());
        Ok(result)
    }

    async fn list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        if continues(request.as_ref()) {
            return self.0.inner.list_resources(request, context).await;
        }
        let resources = self.0.source.resolve(&context).await?;
        let mut own = resources.list_resources(&context)?;
        let Some(mut inner) = served(self.0.inner.list_resources(request, context).await)? else {
            return Ok(own);
        };
        inner
            .resources
            .retain(|resource| !self.0.source.owns(&resource.uri));
        own.resources.append(&mut inner.resources);
        own.next_cursor = inner.next_cursor;
        own.ttl_ms = min_ttl(own.ttl_ms, inner.ttl_ms);
        if own.cache_scope != inner.cache_scope {
            own.cache_scope = None;
        }
        Ok(own)
    }

    async fn list_resource_templates(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        if continues(request.as_ref()) {
            return self.0.inner.list_resource_templates(request, context).await;
        }
        let resources = self.0.source.resolve(&context).await?;
        let mut own = resources.list_resource_templates(&context)?;
        let Some(mut inner) = served(self.0.inner.list_resource_templates(request, context).await)?
        else {
            return Ok(own);
        };
        own.resource_templates.append(&mut inner.resource_templates);
        own.next_cursor = inner.next_cursor;
        own.ttl_ms = min_ttl(own.ttl_ms, inner.ttl_ms);
        if own.cache_scope != inner.cache_scope {
            own.cache_scope = None;
        }
        Ok(own)
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        if !self.0.source.owns(&request.uri) {
            let uri = request.uri.clone();
            return self
                .0
                .inner
                .read_resource(request, context)
                .await
                .map_err(|error| unknown_if_unserved(error, uri));
        }
        let resources = self.0.source.resolve(&context).await?;
        resources.read_resource(&request, &context)
    }

    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        if !self.0.source.owns(&request.uri) {
            let uri = request.uri.clone();
            return self
                .0
                .inner
                .subscribe(request, context)
                .await
                .map_err(|error| unknown_if_unserved(error, uri));
        }
        let resources = self.0.source.resolve(&context).await?;
        resources.subscribe(&request, &context)
    }

    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        if !self.0.source.owns(&request.uri) {
            // An inner handler without resources has nothing to unsubscribe from.
            return match self.0.inner.unsubscribe(request, context).await {
                Err(error) if error.code == ErrorCode::METHOD_NOT_FOUND => Ok(()),
                other => other,
            };
        }
        let resources = self.0.source.resolve(&context).await?;
        resources.unsubscribe(&request, &context)
    }

    #[allow(clippy::unnecessary_wraps)] // the signature of the trait method it answers
    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        let (owned, others): (Vec<String>, Vec<String>) = requested
            .resource_subscriptions
            .iter()
            .flatten()
            .cloned()
            .partition(|uri| self.0.source.owns(uri));
        let owned: Vec<String> = owned
            .into_iter()
            .filter(|uri| self.0.source.acceptable(uri))
            .collect();
        let mut rest = requested.clone();
        rest.resource_subscriptions = (!others.is_empty()).then_some(others);
        let mut accepted = self
            .0
            .inner
            .accepted_subscription_filter(&rest)
            .unwrap_or_default();
        if requested.resources_list_changed == Some(true) && self.0.source.list_changed() {
            accepted.resources_list_changed = Some(true);
        }
        if !owned.is_empty() {
            let mut uris = owned;
            uris.extend(
                accepted
                    .resource_subscriptions
                    .take()
                    .into_iter()
                    .flatten()
                    .filter(|uri| !self.0.source.owns(uri)),
            );
            accepted.resource_subscriptions = Some(uris);
        }
        Some(accepted)
    }

    async fn listen(&self, context: SubscriptionContext) -> Result<(), ErrorData> {
        let request = context.request_context().clone();
        let sink = context.sink().clone();
        let accepted = context.accepted().clone();
        let source = self.0.source.clone();
        let own = async move {
            let wanted = accepted.resources_list_changed == Some(true)
                || accepted
                    .resource_subscriptions
                    .iter()
                    .flatten()
                    .any(|uri| source.owns(uri));
            if !wanted {
                request.ct.cancelled().await;
                return Ok(());
            }
            let resources = source.resolve(&request).await?;
            resources.hold_stream(&request, sink, &accepted).await
        };
        tokio::try_join!(own, self.0.inner.listen(context)).map(|((), ())| ())
    }
}

/// Generates the `ServerHandler` impl of [`CacheResourcesHandler`] and the list of the
/// methods it handles, from one list of rmcp's `ServerHandler` methods: each either forwarded
/// to the inner handler or intercepted (answered by [`Intercept`]).
macro_rules! server_handler {
    (
        forward { $( fn $f:ident(&self $(, $fa:ident: $ft:ty)*) -> $fr:ty; )* }
        forward_sync { $( fn $s:ident(&self $(, $sa:ident: $st:ty)*) -> $sr:ty; )* }
        intercept { $( fn $i:ident(&self $(, $ia:ident: $it:ty)*) -> $ir:ty; )* }
        intercept_sync { $( fn $j:ident(&self $(, $ja:ident: $jt:ty)*) -> $jr:ty; )* }
    ) => {
        #[allow(deprecated)] // resources/subscribe and logging/setLevel are deprecated in rmcp
        impl<H: ServerHandler, T: Send + Sync + 'static> ServerHandler
            for CacheResourcesHandler<H, T>
        {
            // Forwarded as the inner handler's own future: an `async fn` awaiting it would
            // store the arguments beside it, making every request's task larger.
            $(
                fn $f(&self $(, $fa: $ft)*) -> impl Future<Output = $fr> + MaybeSendFuture + '_ {
                    self.inner.$f($($fa),*)
                }
            )*
            $( fn $s(&self $(, $sa: $st)*) -> $sr { self.inner.$s($($sa),*) } )*
            $( async fn $i(&self $(, $ia: $it)*) -> $ir { Intercept(self).$i($($ia),*).await } )*
            $( fn $j(&self $(, $ja: $jt)*) -> $jr { Intercept(self).$j($($ja),*) } )*
        }

        /// Every `ServerHandler` method [`CacheResourcesHandler`] implements (for the test
        /// that compares them with rmcp's trait).
        #[doc(hidden)]
        pub const HANDLED_METHODS: &[&str] = &[
            $( stringify!($f), )* $( stringify!($s), )* $( stringify!($i), )* $( stringify!($j), )*
        ];

        /// The `ServerHandler` methods [`CacheResourcesHandler`] answers itself, in whole or
        /// in part; the others are forwarded unchanged.
        #[doc(hidden)]
        pub const INTERCEPTED_METHODS: &[&str] = &[ $( stringify!($i), )* $( stringify!($j), )* ];
    };
}

server_handler! {
    forward {
        fn ping(&self, context: RequestContext<RoleServer>) -> Result<(), ErrorData>;
        fn complete(
            &self, request: CompleteRequestParams, context: RequestContext<RoleServer>
        ) -> Result<CompleteResult, ErrorData>;
        fn set_level(
            &self, request: SetLevelRequestParams, context: RequestContext<RoleServer>
        ) -> Result<(), ErrorData>;
        fn get_prompt(
            &self, request: GetPromptRequestParams, context: RequestContext<RoleServer>
        ) -> Result<GetPromptResponse, ErrorData>;
        fn list_prompts(
            &self, request: Option<PaginatedRequestParams>, context: RequestContext<RoleServer>
        ) -> Result<ListPromptsResult, ErrorData>;
        fn call_tool(
            &self, request: CallToolRequestParams, context: RequestContext<RoleServer>
        ) -> Result<CallToolResponse, ErrorData>;
        fn list_tools(
            &self, request: Option<PaginatedRequestParams>, context: RequestContext<RoleServer>
        ) -> Result<ListToolsResult, ErrorData>;
        fn on_custom_request(
            &self, request: CustomRequest, context: RequestContext<RoleServer>
        ) -> Result<CustomResult, ErrorData>;
        fn on_cancelled(
            &self, notification: CancelledNotificationParam, context: NotificationContext<RoleServer>
        ) -> ();
        fn on_progress(
            &self, notification: ProgressNotificationParam, context: NotificationContext<RoleServer>
        ) -> ();
        fn on_initialized(&self, context: NotificationContext<RoleServer>) -> ();
        fn on_roots_list_changed(&self, context: NotificationContext<RoleServer>) -> ();
        fn on_custom_notification(
            &self, notification: CustomNotification, context: NotificationContext<RoleServer>
        ) -> ();
        fn get_task(
            &self, request: GetTaskParams, context: RequestContext<RoleServer>
        ) -> Result<GetTaskResult, ErrorData>;
        fn update_task(
            &self, request: UpdateTaskParams, context: RequestContext<RoleServer>
        ) -> Result<(), ErrorData>;
        fn cancel_task(
            &self, request: CancelTaskParams, context: RequestContext<RoleServer>
        ) -> Result<(), ErrorData>;
        fn list_skills(
            &self, request: Option<PaginatedRequestParams>, context: RequestContext<RoleServer>
        ) -> Result<ListSkillsResult, ErrorData>;
        fn get_skill(
            &self, request: GetSkillRequestParams, context: RequestContext<RoleServer>
        ) -> Result<GetSkillResult, ErrorData>;
        fn read_resource_directory(
            &self,
            request: ReadResourceDirectoryRequestParams,
            context: RequestContext<RoleServer>
        ) -> Result<ReadResourceDirectoryResult, ErrorData>;
    }
    forward_sync {
        fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]>;
        fn get_tool(&self, name: &str) -> Option<Tool>;
    }
    intercept {
        fn initialize(
            &self, request: InitializeRequestParams, context: RequestContext<RoleServer>
        ) -> Result<InitializeResult, ErrorData>;
        fn discover(&self, context: RequestContext<RoleServer>) -> Result<DiscoverResult, ErrorData>;
        fn list_resources(
            &self, request: Option<PaginatedRequestParams>, context: RequestContext<RoleServer>
        ) -> Result<ListResourcesResult, ErrorData>;
        fn list_resource_templates(
            &self, request: Option<PaginatedRequestParams>, context: RequestContext<RoleServer>
        ) -> Result<ListResourceTemplatesResult, ErrorData>;
        fn read_resource(
            &self, request: ReadResourceRequestParams, context: RequestContext<RoleServer>
        ) -> Result<ReadResourceResponse, ErrorData>;
        fn subscribe(
            &self, request: SubscribeRequestParams, context: RequestContext<RoleServer>
        ) -> Result<(), ErrorData>;
        fn unsubscribe(
            &self, request: UnsubscribeRequestParams, context: RequestContext<RoleServer>
        ) -> Result<(), ErrorData>;
        fn listen(&self, context: SubscriptionContext) -> Result<(), ErrorData>;
    }
    intercept_sync {
        fn get_info(&self) -> ServerConfig;
        fn negotiate_initialize(
            &self, request: &InitializeRequestParams
        ) -> Result<InitializeResult, ErrorData>;
        fn accepted_subscription_filter(
            &self, requested: &SubscriptionFilter
        ) -> Option<SubscriptionFilter>;
    }
}
