//! Layers 2 and 3: [`AuthzHandler`], a decorator over any rmcp [`ServerHandler`] that filters
//! lists by policy and checks every invocation before the inner handler runs.

// Logging (`set_level`) and legacy `resources/subscribe` are deprecated in rmcp; they are still
// delegated (and subscribe checked) so that older peers keep working behind the decorator.
#![allow(deprecated)]

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::sync::Arc;

use futures::future::{self, Either, FutureExt as _};

use rmcp::model::{
    CacheScope, CallToolRequestParams, CallToolResponse, CallToolResult, CancelTaskParams,
    CancelledNotificationParam, CompleteRequestParams, CompleteResult, ContentBlock,
    CustomNotification, CustomRequest, CustomResult, DiscoverResult, GetPromptRequestParams,
    GetPromptResponse, GetSkillRequestParams, GetSkillResult, GetTaskParams, GetTaskResult,
    InitializeRequestParams, InitializeResult, ListPromptsResult, ListResourceTemplatesResult,
    ListResourcesResult, ListSkillsResult, ListToolsResult, PaginatedRequestParams,
    ProgressNotificationParam, ProtocolVersion, ReadResourceDirectoryRequestParams,
    ReadResourceDirectoryResult, ReadResourceRequestParams, ReadResourceResponse, Reference,
    ServerConfig, SetLevelRequestParams, SubscribeRequestParams, SubscriptionFilter, Tool,
    UnsubscribeRequestParams, UpdateTaskParams,
};
use rmcp::service::{MaybeSendFuture, NotificationContext, RequestContext, SubscriptionContext};
use rmcp::{ErrorData, RoleServer, ServerHandler};

use crate::Principal;
use crate::audit;
use crate::error::AccessError;
use crate::policy::{AccessRequest, Action, AllOf, Decision, Policy, TargetKind};

/// How long before the token expires a `subscriptions/listen` stream ends with its final
/// result.
const LISTEN_END_MARGIN: std::time::Duration = std::time::Duration::from_millis(500);

type PrincipalFn = dyn Fn(&RequestContext<RoleServer>) -> Option<Principal> + Send + Sync;
type HiddenErrorFn = dyn Fn(&str) -> ErrorData + Send + Sync;

/// The verified principal of an MCP request, if any: put into the request context by
/// [`AuthzHandler`] (every mode, stdio included) or by the HTTP layer
/// ([`AuthLayer`](crate::AuthLayer)) through the `http::request::Parts` rmcp's Streamable HTTP
/// service stores in the context.
///
/// Tools behind an `AuthzHandler` can also take it with rmcp's `Extension<Principal>` extractor.
pub fn principal_from(context: &RequestContext<RoleServer>) -> Option<&Principal> {
    context.extensions.get::<Principal>().or_else(|| {
        context
            .extensions
            .get::<http::request::Parts>()?
            .extensions
            .get::<Principal>()
    })
}

struct Config {
    policy: AllOf,
    principal: Option<Arc<PrincipalFn>>,
    /// The principal of [`AuthzLayerBuilder::principal`], for the calls rmcp makes without a
    /// request context (the `subscriptions/listen` acknowledgement).
    fixed_principal: Option<Principal>,
    hidden_tool: Arc<HiddenErrorFn>,
    hidden_resource: Arc<HiddenErrorFn>,
    hidden_prompt: Arc<HiddenErrorFn>,
    /// Whether `get_tool` answers with the inner handler's tool, for rmcp's `Mcp-Param-*`
    /// header validation.
    tool_header_validation: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            policy: AllOf::new(),
            principal: None,
            fixed_principal: None,
            hidden_tool: Arc::new(|_| ErrorData::invalid_params("tool not found", None)),
            hidden_resource: Arc::new(|uri| {
                ErrorData::resource_not_found(
                    format!("resource not found: {uri}"),
                    Some(serde_json::json!({ "uri": uri })),
                )
            }),
            hidden_prompt: Arc::new(|name| {
                ErrorData::invalid_params(format!("prompt '{name}' not found"), None)
            }),
            tool_header_validation: false,
        }
    }
}

/// The configuration of [`AuthzHandler`] (policies, how the principal is found, the errors of
/// hidden targets) as a [`tower_layer::Layer`]: `layer(server)` wraps any rmcp
/// [`ServerHandler`] in an [`AuthzHandler`]. Cheap to clone (one `Arc`), so one layer can wrap
/// the handler of every session.
///
/// # Order of the layers
///
/// The MCP-level decorators compose with `tower::ServiceBuilder` (the first `layer` is the
/// outermost, the one that sees a request first):
///
/// ```text
/// ServiceBuilder::new()
///     .layer(otel)            // OtelLayer (mcp-otel)
///     .layer(authz)           // AuthzLayer (this crate)
///     .layer(cache_resources) // CacheResourcesLayer (mcp-cache)
///     .service(server)
/// ```
///
/// - `OtelLayer` outermost: every request gets its span, also the ones `AuthzLayer` refuses,
///   so denials are traced with their reason. Inside `AuthzLayer` it would never see them.
/// - `AuthzLayer` outside `CacheResourcesLayer`: the cache's resources are listed, read and
///   subscribed through the policy like any other resource. Inside it, cached resources would
///   be served to every caller unchecked.
/// - Over HTTP, [`AuthLayer`](crate::AuthLayer) (token verification) and
///   [`listen_filter_layer`](Self::listen_filter_layer) go in front of rmcp's Streamable HTTP
///   service at the axum level; they are HTTP layers, not MCP ones, and put the verified
///   [`Principal`] into the request that `AuthzHandler` then reads.
///
/// ```
/// use mcp_authz::{AuthzLayer, Principal, Requirement, StaticPolicy};
/// # #[derive(Clone)] struct MyServer;
/// # impl rmcp::ServerHandler for MyServer {}
///
/// let authz = AuthzLayer::builder()
///     .policy(StaticPolicy::new().tool("list_rules", Requirement::none().scopes(["rules:read"])))
///     .principal(Principal::new("alice").with_scopes(["rules:read"]))
///     .build();
/// let handler = tower::ServiceBuilder::new().layer(authz).service(MyServer);
/// # let _: mcp_authz::AuthzHandler<MyServer> = handler;
/// ```
#[derive(Clone)]
pub struct AuthzLayer {
    config: Arc<Config>,
}

impl fmt::Debug for AuthzLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthzLayer")
            .field("policies", &self.config.policy.len())
            .finish_non_exhaustive()
    }
}

impl AuthzLayer {
    /// Starts building a layer. Defaults: no policy (everything allowed, which is rarely what
    /// you want: add at least one), the principal read from the request (see
    /// [`principal_from`]), and the "unknown target" errors rmcp's own routers return.
    pub fn builder() -> AuthzLayerBuilder {
        AuthzLayerBuilder {
            config: Config::default(),
        }
    }

    /// An HTTP layer that filters `subscriptions/listen` requests with this layer's policy
    /// before rmcp acknowledges them (see [`ListenFilterLayer`](crate::ListenFilterLayer)). Put
    /// it inside [`AuthLayer`](crate::AuthLayer) when the handler is served over Streamable HTTP:
    /// without it, a listen request naming a resource the caller may not read is refused as a
    /// whole instead of being acknowledged for the permitted part.
    pub fn listen_filter_layer(&self) -> crate::ListenFilterLayer {
        listen_filter(&self.config)
    }
}

impl<H: ServerHandler> tower_layer::Layer<H> for AuthzLayer {
    type Service = AuthzHandler<H>;

    fn layer(&self, inner: H) -> AuthzHandler<H> {
        AuthzHandler {
            inner,
            config: Arc::clone(&self.config),
        }
    }
}

fn listen_filter(config: &Arc<Config>) -> crate::ListenFilterLayer {
    let config = Arc::clone(config);
    crate::ListenFilterLayer::from_fn(move |principal, uri| {
        config
            .policy
            .evaluate(&AccessRequest::new(
                principal,
                Action::Invoke,
                TargetKind::Resource,
                uri,
            ))
            .is_allowed()
    })
}

/// Builds an [`AuthzLayer`]; see [`AuthzLayer::builder`] for the defaults.
#[must_use]
pub struct AuthzLayerBuilder {
    config: Config,
}

impl fmt::Debug for AuthzLayerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthzLayerBuilder")
            .field("policies", &self.config.policy.len())
            .finish_non_exhaustive()
    }
}

impl AuthzLayerBuilder {
    /// Adds a policy. With several, every one must allow ([`AllOf`]).
    pub fn policy(mut self, policy: impl Policy) -> Self {
        self.config.policy.push(Arc::new(policy));
        self
    }

    /// For stdio and other transports without HTTP: every request is made by `principal` (the
    /// embedding application verified the user's token itself). A principal in the request
    /// context still takes precedence. Once its `exp` passes, every request is refused.
    pub fn principal(mut self, principal: Principal) -> Self {
        self.config.fixed_principal = Some(principal.clone());
        self.principal_fn(move |_| Some(principal.clone()))
    }

    /// Resolves the principal of requests that carry none in their context (e.g. from a handle
    /// the embedding application updates when the user re-authenticates).
    pub fn principal_fn<F>(mut self, f: F) -> Self
    where
        F: Fn(&RequestContext<RoleServer>) -> Option<Principal> + Send + Sync + 'static,
    {
        self.config.principal = Some(Arc::new(f));
        self
    }

    /// The error a hidden tool gets; it must be exactly the inner handler's error for a tool
    /// that does not exist. Default: rmcp's `ToolRouter` error, `-32602 "tool not found"`.
    pub fn hidden_tool_error(
        mut self,
        f: impl Fn(&str) -> ErrorData + Send + Sync + 'static,
    ) -> Self {
        self.config.hidden_tool = Arc::new(f);
        self
    }

    /// The error a hidden resource gets (default `-32002 "resource not found: {uri}"` with
    /// `data = {"uri": uri}`, the error mcp-cache's resources give an unknown URI; rmcp turns the
    /// code into `-32602` for 2026-07-28 peers, as it does for the inner handler's own).
    pub fn hidden_resource_error(
        mut self,
        f: impl Fn(&str) -> ErrorData + Send + Sync + 'static,
    ) -> Self {
        self.config.hidden_resource = Arc::new(f);
        self
    }

    /// The error a hidden prompt gets (default: rmcp's `PromptRouter` message
    /// `-32602 "prompt '{name}' not found"`; the router's list of available prompts is removed
    /// from its own errors so it cannot reveal hidden ones).
    pub fn hidden_prompt_error(
        mut self,
        f: impl Fn(&str) -> ErrorData + Send + Sync + 'static,
    ) -> Self {
        self.config.hidden_prompt = Arc::new(f);
        self
    }

    /// Whether rmcp validates the `Mcp-Param-*` headers of 2026-07-28 tool calls against the
    /// tool's schema (SEP-2243). rmcp looks the tool up through `get_tool`, without a caller,
    /// and uses the schema only on the server; still, for a tool the caller may not see,
    /// whether its headers are checked tells the caller that the tool exists. Off by default:
    /// `get_tool` answers `None`, the headers go unchecked, and the tool checks its own
    /// arguments when called. Turn it on when the tools that declare header parameters are
    /// visible to every caller, or when their existence is no secret.
    pub fn tool_header_validation(mut self, enabled: bool) -> Self {
        self.config.tool_header_validation = enabled;
        self
    }

    /// Builds the layer.
    pub fn build(self) -> AuthzLayer {
        AuthzLayer {
            config: Arc::new(self.config),
        }
    }
}

/// Builds an [`AuthzHandler`] around a given handler: the settings of [`AuthzLayerBuilder`]
/// (same defaults), then [`build`](Self::build) applies the layer.
#[must_use]
pub struct AuthzHandlerBuilder<H> {
    inner: H,
    layer: AuthzLayerBuilder,
}

impl<H> fmt::Debug for AuthzHandlerBuilder<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthzHandlerBuilder")
            .field("policies", &self.layer.config.policy.len())
            .finish_non_exhaustive()
    }
}

impl<H: ServerHandler> AuthzHandlerBuilder<H> {
    /// Adds a policy; see [`AuthzLayerBuilder::policy`].
    pub fn policy(mut self, policy: impl Policy) -> Self {
        self.layer = self.layer.policy(policy);
        self
    }

    /// A fixed principal; see [`AuthzLayerBuilder::principal`].
    pub fn principal(mut self, principal: Principal) -> Self {
        self.layer = self.layer.principal(principal);
        self
    }

    /// A principal resolver; see [`AuthzLayerBuilder::principal_fn`].
    pub fn principal_fn<F>(mut self, f: F) -> Self
    where
        F: Fn(&RequestContext<RoleServer>) -> Option<Principal> + Send + Sync + 'static,
    {
        self.layer = self.layer.principal_fn(f);
        self
    }

    /// The error of a hidden tool; see [`AuthzLayerBuilder::hidden_tool_error`].
    pub fn hidden_tool_error(
        mut self,
        f: impl Fn(&str) -> ErrorData + Send + Sync + 'static,
    ) -> Self {
        self.layer = self.layer.hidden_tool_error(f);
        self
    }

    /// The error of a hidden resource; see [`AuthzLayerBuilder::hidden_resource_error`].
    pub fn hidden_resource_error(
        mut self,
        f: impl Fn(&str) -> ErrorData + Send + Sync + 'static,
    ) -> Self {
        self.layer = self.layer.hidden_resource_error(f);
        self
    }

    /// The error of a hidden prompt; see [`AuthzLayerBuilder::hidden_prompt_error`].
    pub fn hidden_prompt_error(
        mut self,
        f: impl Fn(&str) -> ErrorData + Send + Sync + 'static,
    ) -> Self {
        self.layer = self.layer.hidden_prompt_error(f);
        self
    }

    /// See [`AuthzLayerBuilder::tool_header_validation`].
    pub fn tool_header_validation(mut self, enabled: bool) -> Self {
        self.layer = self.layer.tool_header_validation(enabled);
        self
    }

    /// Builds the handler.
    pub fn build(self) -> AuthzHandler<H> {
        tower_layer::Layer::layer(&self.layer.build(), self.inner)
    }
}

/// Layers 2-3 of the authorization model around any rmcp [`ServerHandler`]. It decides every
/// request method rmcp has:
///
/// - `tools/list`, `resources/list`, `resources/templates/list`, `prompts/list` and
///   `skills/list` show only what the policy lets the principal see ([`Action::List`]);
/// - `tools/call`, `resources/read`, `resources/subscribe`, `prompts/get`, `skills/get`,
///   `resources/directory/read` and `tasks/*` are checked ([`Action::Invoke`], with the call's
///   arguments) before the inner handler runs. A target the principal cannot see gets exactly the
///   error an unknown one gets; a visible one it may not use gets a clear
///   [`AccessError::Forbidden`] (for tools as an error *result*, which the model reads; for the
///   others as a JSON-RPC error);
/// - `completion/complete` answers only for prompts and resource templates the principal sees;
/// - `subscriptions/listen` never serves a resource the principal may not read (over HTTP, put
///   [`listen_filter_layer`](Self::listen_filter_layer) in front so the acknowledgement is
///   filtered rather than the request refused), and a stream ends with its final result just
///   before the token it was authorized with expires, so the client listens again with a
///   fresh token;
/// - every list and read it lets through is marked `cacheScope: "private"` (MCP 2026-07-28
///   cache hints), whatever the inner handler said: the answer depends on who asks, so a
///   shared cache must not serve it to anyone else. The inner handler's `ttlMs` is kept;
/// - `get_tool`, which rmcp calls without a caller, answers `None` unless
///   [`tool_header_validation`](AuthzLayerBuilder::tool_header_validation) is on, so nothing
///   tells a caller that a hidden tool exists;
/// - `initialize`, `server/discover`, `ping`, `logging/setLevel`, `resources/unsubscribe` and
///   custom requests need an authenticated principal;
/// - a principal whose token has expired is refused on every request
///   ([`AccessError::Expired`]), in stateful sessions and stdio alike;
/// - the principal is put into the request context for the tools (layer 4).
///
/// Every decision is an `auth.check_scope` span. Protocol metadata (`get_info`, version
/// negotiation) and client notifications are delegated unchanged. Cheap to clone when `H` is.
///
/// ```
/// use mcp_authz::{AuthzHandler, Principal, Requirement, StaticPolicy};
/// # #[derive(Clone)] struct MyServer;
/// # impl rmcp::ServerHandler for MyServer {}
///
/// let policy = StaticPolicy::new()
///     .tool("list_firewall_rules", Requirement::none().scopes(["firewall:read"]));
/// // Behind `AuthLayer` over HTTP the principal comes with each request; on stdio the embedding
/// // application supplies it.
/// let handler = AuthzHandler::builder(MyServer)
///     .policy(policy)
///     .principal(Principal::new("alice").with_scopes(["firewall:read"]))
///     .build();
/// # let _ = handler;
/// ```
pub struct AuthzHandler<H> {
    inner: H,
    config: Arc<Config>,
}

impl<H: Clone> Clone for AuthzHandler<H> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            config: Arc::clone(&self.config),
        }
    }
}

impl<H> fmt::Debug for AuthzHandler<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthzHandler")
            .field("policies", &self.config.policy.len())
            .finish_non_exhaustive()
    }
}

enum Check {
    Allowed,
    Hidden,
    Refused(AccessError),
}

impl<H: ServerHandler> AuthzHandler<H> {
    /// Starts building a handler around `inner`: shorthand for [`AuthzLayer::builder`] and
    /// `layer(inner)`.
    pub fn builder(inner: H) -> AuthzHandlerBuilder<H> {
        AuthzHandlerBuilder {
            inner,
            layer: AuthzLayer::builder(),
        }
    }

    /// The layer this handler was built with (its configuration, shared, not copied): wrap
    /// further handlers with the same policies.
    pub fn layer(&self) -> AuthzLayer {
        AuthzLayer {
            config: Arc::clone(&self.config),
        }
    }

    /// The same as [`AuthzLayer::listen_filter_layer`] for this handler's configuration.
    pub fn listen_filter_layer(&self) -> crate::ListenFilterLayer {
        listen_filter(&self.config)
    }

    /// The wrapped handler.
    pub fn get_ref(&self) -> &H {
        &self.inner
    }

    /// The wrapped handler, mutably.
    pub fn get_mut(&mut self) -> &mut H {
        &mut self.inner
    }

    /// Unwraps the handler.
    pub fn into_inner(self) -> H {
        self.inner
    }

    fn resolve(&self, context: &RequestContext<RoleServer>) -> Result<Principal, AccessError> {
        let principal = principal_from(context)
            .cloned()
            .or_else(|| self.config.principal.as_ref().and_then(|f| f(context)))
            .ok_or(AccessError::Unauthenticated)?;
        if principal.is_expired() {
            return Err(AccessError::Expired);
        }
        Ok(principal)
    }

    /// Resolves the principal and puts it into the context for the inner handler.
    fn authenticate(
        &self,
        context: &mut RequestContext<RoleServer>,
        method: &str,
    ) -> Result<Principal, AccessError> {
        match self.resolve(context) {
            Ok(principal) => {
                context.extensions.insert(principal.clone());
                Ok(principal)
            }
            Err(error) => {
                let span = audit::check_span(None, method, "");
                audit::record_check(&span, false, error.reason_code());
                Err(error)
            }
        }
    }

    fn check(
        &self,
        context: &mut RequestContext<RoleServer>,
        method: &str,
        kind: TargetKind,
        name: &str,
        arguments: Option<&rmcp::model::JsonObject>,
    ) -> Check {
        let principal = match self.authenticate(context, method) {
            Ok(principal) => principal,
            Err(error) => return Check::Refused(error),
        };
        let span = audit::check_span(Some(&principal), method, name);
        let request =
            AccessRequest::new(&principal, Action::Invoke, kind, name).with_arguments(arguments);
        match self.config.policy.evaluate(&request) {
            Decision::Allow => {
                audit::record_check(&span, true, "allowed");
                Check::Allowed
            }
            Decision::Deny { reason } => {
                let visible = self
                    .config
                    .policy
                    .evaluate(&AccessRequest::new(&principal, Action::List, kind, name))
                    .is_allowed();
                audit::record_check(&span, false, &reason);
                if visible {
                    Check::Refused(AccessError::Forbidden {
                        kind: kind.as_str(),
                        name: name.to_owned(),
                        reason,
                    })
                } else {
                    Check::Hidden
                }
            }
        }
    }

    /// Whether the principal may read resource `uri` (what a subscription to it reveals).
    fn readable(&self, principal: &Principal, uri: &str) -> bool {
        self.config
            .policy
            .evaluate(&AccessRequest::new(
                principal,
                Action::Invoke,
                TargetKind::Resource,
                uri,
            ))
            .is_allowed()
    }

    /// Checks an invocation that has no "visible but forbidden" distinction in its answer: both
    /// hidden and refused targets get the access error.
    fn require(
        &self,
        context: &mut RequestContext<RoleServer>,
        method: &str,
        kind: TargetKind,
        name: &str,
    ) -> Result<(), ErrorData> {
        match self.check(context, method, kind, name, None) {
            Check::Allowed => Ok(()),
            Check::Hidden => Err(AccessError::Forbidden {
                kind: kind.as_str(),
                name: name.to_owned(),
                reason: "not permitted".into(),
            }
            .into()),
            Check::Refused(error) => Err(error.into()),
        }
    }

    /// Keeps the items `principal` may see, with an `auth.check_scope` span saying how many, and
    /// (at debug level, for development) an `auth.filter` span naming the hidden ones.
    fn filter<T>(
        &self,
        principal: &Principal,
        method: &str,
        kind: TargetKind,
        items: &mut Vec<T>,
        name: impl Fn(&T) -> &str,
    ) {
        let total = items.len();
        let debug = tracing::enabled!(tracing::Level::DEBUG);
        let mut hidden = Vec::new();
        items.retain(|item| {
            let visible = self.visible(principal, kind, name(item));
            if !visible && debug {
                hidden.push(name(item).to_owned());
            }
            visible
        });
        list_span(principal, method, items.len(), total);
        if !hidden.is_empty() {
            let _span = tracing::debug_span!(
                "auth.filter",
                enduser.id = principal.subject.as_str(),
                mcp.method.name = method,
                auth.hidden = hidden.join(", "),
            )
            .entered();
        }
    }

    fn visible(&self, principal: &Principal, kind: TargetKind, name: &str) -> bool {
        self.config
            .policy
            .evaluate(&AccessRequest::new(principal, Action::List, kind, name))
            .is_allowed()
    }
}

fn list_span(principal: &Principal, method: &str, shown: usize, total: usize) {
    let span = audit::check_span(Some(principal), method, "");
    audit::record_check(&span, true, &format!("{shown} of {total} visible"));
}

fn forbidden_tool_result(error: &AccessError) -> CallToolResponse {
    CallToolResult::error(vec![ContentBlock::text(error.to_string())]).into()
}

/// Removes rmcp's `PromptRouter` list of available prompts from an error, so that an unknown
/// prompt's error does not list hidden ones and equals the hidden-prompt error.
fn strip_prompt_list(mut error: ErrorData) -> ErrorData {
    if let Some(serde_json::Value::Object(data)) = &mut error.data
        && data.remove("available_prompts").is_some()
        && data.is_empty()
    {
        error.data = None;
    }
    error
}

impl<H: ServerHandler> ServerHandler for AuthzHandler<H> {
    // `call_tool` and `read_resource` are the calls a client makes most; written without
    // `async fn` so that the inner handler's future is stored once (an `async fn` awaiting it
    // would also keep the request and context it was built from), and started when first
    // polled, as an `async fn` is.
    fn call_tool(
        &self,
        request: CallToolRequestParams,
        mut context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<CallToolResponse, ErrorData>> + MaybeSendFuture + '_ {
        future::lazy(move |_| {
            let check = self.check(
                &mut context,
                "tools/call",
                TargetKind::Tool,
                &request.name,
                request.arguments.as_ref(),
            );
            match check {
                Check::Allowed => Either::Left(self.inner.call_tool(request, context)),
                Check::Hidden => {
                    Either::Right(future::ready(Err((self.config.hidden_tool)(&request.name))))
                }
                Check::Refused(error @ AccessError::Forbidden { .. }) => {
                    Either::Right(future::ready(Ok(forbidden_tool_result(&error))))
                }
                Check::Refused(error) => Either::Right(future::ready(Err(error.into()))),
            }
        })
        .flatten()
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        mut context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let principal = self.authenticate(&mut context, "tools/list")?;
        let mut result = self.inner.list_tools(request, context).await?;
        self.filter(
            &principal,
            "tools/list",
            TargetKind::Tool,
            &mut result.tools,
            |t| &t.name,
        );
        result.cache_scope = Some(CacheScope::Private);
        Ok(result)
    }

    fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        mut context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<ReadResourceResponse, ErrorData>> + MaybeSendFuture + '_ {
        future::lazy(move |_| {
            let check = self.check(
                &mut context,
                "resources/read",
                TargetKind::Resource,
                &request.uri,
                None,
            );
            match check {
                Check::Allowed => {
                    Either::Left(self.inner.read_resource(request, context).map(|response| {
                        let mut response = response?;
                        if let ReadResourceResponse::Complete(result) = &mut response {
                            result.cache_scope = Some(CacheScope::Private);
                        }
                        Ok(response)
                    }))
                }
                Check::Hidden => Either::Right(future::ready(Err((self.config.hidden_resource)(
                    &request.uri,
                )))),
                Check::Refused(error) => Either::Right(future::ready(Err(error.into()))),
            }
        })
        .flatten()
    }

    async fn list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        mut context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let principal = self.authenticate(&mut context, "resources/list")?;
        let mut result = self.inner.list_resources(request, context).await?;
        self.filter(
            &principal,
            "resources/list",
            TargetKind::Resource,
            &mut result.resources,
            |r| &r.uri,
        );
        result.cache_scope = Some(CacheScope::Private);
        Ok(result)
    }

    async fn list_resource_templates(
        &self,
        request: Option<PaginatedRequestParams>,
        mut context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        let principal = self.authenticate(&mut context, "resources/templates/list")?;
        let mut result = self.inner.list_resource_templates(request, context).await?;
        self.filter(
            &principal,
            "resources/templates/list",
            TargetKind::Resource,
            &mut result.resource_templates,
            |t| &t.uri_template,
        );
        result.cache_scope = Some(CacheScope::Private);
        Ok(result)
    }

    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        mut context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let uri = request.uri.clone();
        match self.check(
            &mut context,
            "resources/subscribe",
            TargetKind::Resource,
            &uri,
            None,
        ) {
            Check::Allowed => self.inner.subscribe(request, context).await,
            Check::Hidden => Err((self.config.hidden_resource)(&uri)),
            Check::Refused(error) => Err(error.into()),
        }
    }

    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        mut context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.authenticate(&mut context, "resources/unsubscribe")?;
        self.inner.unsubscribe(request, context).await
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        mut context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        let name = request.name.clone();
        match self.check(
            &mut context,
            "prompts/get",
            TargetKind::Prompt,
            &name,
            request.arguments.as_ref(),
        ) {
            Check::Allowed => self
                .inner
                .get_prompt(request, context)
                .await
                .map_err(strip_prompt_list),
            Check::Hidden => Err((self.config.hidden_prompt)(&name)),
            Check::Refused(error) => Err(error.into()),
        }
    }

    async fn list_prompts(
        &self,
        request: Option<PaginatedRequestParams>,
        mut context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        let principal = self.authenticate(&mut context, "prompts/list")?;
        let mut result = self.inner.list_prompts(request, context).await?;
        self.filter(
            &principal,
            "prompts/list",
            TargetKind::Prompt,
            &mut result.prompts,
            |p| &p.name,
        );
        result.cache_scope = Some(CacheScope::Private);
        Ok(result)
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        mut context: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, ErrorData> {
        // Completing an argument of a prompt or resource template the caller cannot see would
        // reveal that it exists (and its argument values): hidden targets answer as unknown.
        let principal = self.authenticate(&mut context, "completion/complete")?;
        match &request.r#ref {
            Reference::Prompt(prompt) => {
                if !self.visible(&principal, TargetKind::Prompt, &prompt.name) {
                    return Err((self.config.hidden_prompt)(&prompt.name));
                }
            }
            Reference::Resource(resource) => {
                if !self.visible(&principal, TargetKind::Resource, &resource.uri) {
                    return Err((self.config.hidden_resource)(&resource.uri));
                }
            }
            // A kind of reference rmcp adds later is refused until it can be checked.
            _ => {
                return Err(ErrorData::invalid_params(
                    "unsupported completion reference",
                    None,
                ));
            }
        }
        self.inner.complete(request, context).await
    }

    async fn on_custom_request(
        &self,
        request: CustomRequest,
        mut context: RequestContext<RoleServer>,
    ) -> Result<CustomResult, ErrorData> {
        self.authenticate(&mut context, "custom")?;
        self.inner.on_custom_request(request, context).await
    }

    async fn ping(&self, mut context: RequestContext<RoleServer>) -> Result<(), ErrorData> {
        self.authenticate(&mut context, "ping")?;
        self.inner.ping(context).await
    }

    async fn initialize(
        &self,
        request: InitializeRequestParams,
        mut context: RequestContext<RoleServer>,
    ) -> Result<InitializeResult, ErrorData> {
        self.authenticate(&mut context, "initialize")?;
        self.inner.initialize(request, context).await
    }

    async fn discover(
        &self,
        mut context: RequestContext<RoleServer>,
    ) -> Result<DiscoverResult, ErrorData> {
        self.authenticate(&mut context, "server/discover")?;
        self.inner.discover(context).await
    }

    async fn set_level(
        &self,
        request: SetLevelRequestParams,
        mut context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.authenticate(&mut context, "logging/setLevel")?;
        self.inner.set_level(request, context).await
    }

    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        let mut accepted = self.inner.accepted_subscription_filter(requested)?;
        // rmcp asks this without a request context. With a fixed principal (stdio) the
        // acknowledgement is filtered here; over HTTP the request is filtered before it reaches
        // rmcp (`AuthzHandler::listen_filter_layer`) and `listen` refuses any URI that is left.
        if let Some(principal) = &self.config.fixed_principal
            && let Some(uris) = &mut accepted.resource_subscriptions
        {
            uris.retain(|uri| self.readable(principal, uri));
        }
        Some(accepted)
    }

    async fn listen(&self, context: SubscriptionContext) -> Result<(), ErrorData> {
        let mut request = context.request_context().clone();
        let principal = self.authenticate(&mut request, "subscriptions/listen")?;
        if let Some(uris) = &context.accepted().resource_subscriptions {
            for uri in uris {
                let span = audit::check_span(Some(&principal), "subscriptions/listen", uri);
                if self.readable(&principal, uri) {
                    audit::record_check(&span, true, "allowed");
                } else {
                    // Fail closed: nothing is ever sent for a URI the caller may not read.
                    audit::record_check(&span, false, "not readable");
                    return Err((self.config.hidden_resource)(uri));
                }
            }
        }
        // The stream was authorized with this token: it ends, with its final result, just
        // before the token does (over HTTP, `AuthLayer` cuts the response at the expiry itself;
        // ending first tells the client the end is graceful). The client then listens again
        // with a fresh token, and is authorized again.
        let Some(expires_at) = principal.expires_at else {
            return self.inner.listen(context).await;
        };
        let remaining = expires_at
            .duration_since(std::time::SystemTime::now())
            .unwrap_or_default()
            .saturating_sub(LISTEN_END_MARGIN);
        tokio::select! {
            result = self.inner.listen(context) => result,
            () = tokio::time::sleep(remaining) => {
                tracing::info!(
                    user.id = %principal.subject,
                    "subscriptions/listen stream ended: the token it was authorized with expired"
                );
                Ok(())
            }
        }
    }

    /// `None` by default: rmcp asks without a caller (to validate `Mcp-Param-*` headers), and
    /// whether a hidden tool's headers are checked would reveal that it exists. Header
    /// validation is then skipped; the tool still checks its own arguments when called. With
    /// [`AuthzLayerBuilder::tool_header_validation`] the inner handler's answer.
    fn get_tool(&self, name: &str) -> Option<Tool> {
        if self.config.tool_header_validation {
            self.inner.get_tool(name)
        } else {
            None
        }
    }

    async fn get_task(
        &self,
        request: GetTaskParams,
        mut context: RequestContext<RoleServer>,
    ) -> Result<GetTaskResult, ErrorData> {
        let id = request.task_id.clone();
        self.require(&mut context, "tasks/get", TargetKind::Task, &id)?;
        self.inner.get_task(request, context).await
    }

    async fn update_task(
        &self,
        request: UpdateTaskParams,
        mut context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let id = request.task_id.clone();
        self.require(&mut context, "tasks/update", TargetKind::Task, &id)?;
        self.inner.update_task(request, context).await
    }

    async fn cancel_task(
        &self,
        request: CancelTaskParams,
        mut context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let id = request.task_id.clone();
        self.require(&mut context, "tasks/cancel", TargetKind::Task, &id)?;
        self.inner.cancel_task(request, context).await
    }

    async fn list_skills(
        &self,
        request: Option<PaginatedRequestParams>,
        mut context: RequestContext<RoleServer>,
    ) -> Result<ListSkillsResult, ErrorData> {
        let principal = self.authenticate(&mut context, "skills/list")?;
        let mut result = self.inner.list_skills(request, context).await?;
        self.filter(
            &principal,
            "skills/list",
            TargetKind::Skill,
            &mut result.skills,
            |s| &s.uri,
        );
        result.cache_scope = Some(CacheScope::Private);
        Ok(result)
    }

    async fn get_skill(
        &self,
        request: GetSkillRequestParams,
        mut context: RequestContext<RoleServer>,
    ) -> Result<GetSkillResult, ErrorData> {
        let uri = request.uri.clone();
        match self.check(&mut context, "skills/get", TargetKind::Skill, &uri, None) {
            Check::Allowed => {
                let mut result = self.inner.get_skill(request, context).await?;
                result.cache_scope = Some(CacheScope::Private);
                Ok(result)
            }
            Check::Hidden => Err((self.config.hidden_resource)(&uri)),
            Check::Refused(error) => Err(error.into()),
        }
    }

    async fn read_resource_directory(
        &self,
        request: ReadResourceDirectoryRequestParams,
        mut context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceDirectoryResult, ErrorData> {
        let uri = request.uri.clone();
        match self.check(
            &mut context,
            "resources/directory/read",
            TargetKind::Resource,
            &uri,
            None,
        ) {
            Check::Allowed => {
                let principal = context.extensions.get::<Principal>().cloned();
                let mut result = self.inner.read_resource_directory(request, context).await?;
                if let Some(principal) = principal {
                    result
                        .resources
                        .retain(|r| self.visible(&principal, TargetKind::Resource, &r.uri));
                }
                Ok(result)
            }
            Check::Hidden => Err((self.config.hidden_resource)(&uri)),
            Check::Refused(error) => Err(error.into()),
        }
    }

    // Protocol metadata and client notifications, which carry no request for a target (the
    // principal of a notification's session was checked when the session's requests were).
    forwarded_methods!(forward_to_inner);
}

/// The one list of the [`ServerHandler`] methods [`AuthzHandler`] delegates unchanged to the
/// inner handler: `$then!` receives their signatures (the implementations and the names in
/// [`HANDLED_METHODS`] are both generated from it).
macro_rules! forwarded_methods {
    ($then:ident) => {
        $then! {
            fn negotiate_initialize(
                request: &InitializeRequestParams,
            ) -> Result<InitializeResult, ErrorData>;
            fn supported_protocol_versions() -> Cow<'static, [ProtocolVersion]>;
            fn on_cancelled(
                notification: CancelledNotificationParam,
                context: NotificationContext<RoleServer>,
            ) -> impl Future<Output = ()> + MaybeSendFuture + '_;
            fn on_progress(
                notification: ProgressNotificationParam,
                context: NotificationContext<RoleServer>,
            ) -> impl Future<Output = ()> + MaybeSendFuture + '_;
            fn on_initialized(
                context: NotificationContext<RoleServer>,
            ) -> impl Future<Output = ()> + MaybeSendFuture + '_;
            fn on_roots_list_changed(
                context: NotificationContext<RoleServer>,
            ) -> impl Future<Output = ()> + MaybeSendFuture + '_;
            fn on_custom_notification(
                notification: CustomNotification,
                context: NotificationContext<RoleServer>,
            ) -> impl Future<Output = ()> + MaybeSendFuture + '_;
            fn get_info() -> ServerConfig;
        }
    };
}
use forwarded_methods;

/// Implements each listed method as a call of the same method of `self.inner`.
macro_rules! forward_to_inner {
    ($(fn $name:ident($($arg:ident: $ty:ty),* $(,)?) -> $ret:ty;)*) => {
        $(
            fn $name(&self, $($arg: $ty),*) -> $ret {
                self.inner.$name($($arg),*)
            }
        )*
    };
}
use forward_to_inner;

/// The names of the listed methods, as a slice.
macro_rules! method_names {
    ($(fn $name:ident($($arg:ident: $ty:ty),* $(,)?) -> $ret:ty;)*) => {
        &[$(stringify!($name)),*]
    };
}

/// The [`ServerHandler`] methods [`AuthzHandler`] delegates unchanged.
const FORWARDED_METHODS: &[&str] = forwarded_methods!(method_names);

/// The [`ServerHandler`] methods [`AuthzHandler`] decides itself (written out above).
const INTERCEPTED_METHODS: &[&str] = &[
    "ping",
    "initialize",
    "discover",
    "complete",
    "set_level",
    "get_prompt",
    "list_prompts",
    "list_resources",
    "list_resource_templates",
    "read_resource",
    "subscribe",
    "unsubscribe",
    "call_tool",
    "list_tools",
    "get_tool",
    "on_custom_request",
    "accepted_subscription_filter",
    "listen",
    "get_task",
    "update_task",
    "cancel_task",
    "list_skills",
    "get_skill",
    "read_resource_directory",
];

const fn concat<const N: usize>(a: &[&'static str], b: &[&'static str]) -> [&'static str; N] {
    let mut out = [""; N];
    let mut i = 0;
    while i < a.len() {
        out[i] = a[i];
        i += 1;
    }
    let mut j = 0;
    while j < b.len() {
        out[i + j] = b[j];
        j += 1;
    }
    out
}

/// Every [`ServerHandler`] method [`AuthzHandler`] implements: the ones it decides, then the
/// ones it delegates unchanged. Kept for a test that compares it with rmcp's trait, so that a
/// method rmcp adds is never silently left to its default.
#[doc(hidden)]
pub const HANDLED_METHODS: &[&str] = &concat::<
    { INTERCEPTED_METHODS.len() + FORWARDED_METHODS.len() },
>(INTERCEPTED_METHODS, FORWARDED_METHODS);
