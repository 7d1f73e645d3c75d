//! The MCP handler: firewall tools and resources answered from the cache, for the caller's
//! applications only.
//!
//! Tools: `list_firewall_rules`, `get_firewall_rule(app_name)`, `cache_status`, and the
//! admin-only `reset_firewall(app_name)` and `refresh_cache`. Resources: `cache://firewalls`
//! (the caller's applications), `cache://firewalls/{app}` (one application, a template) and
//! `cache://meta/health`.
//!
//! Resource subscriptions, in every cache scope and both protocol revisions: a client
//! subscribes to `cache://firewalls/{app}` for an application it may read — a legacy session
//! with `resources/subscribe`, a 2026-07-28 client with a `subscriptions/listen` stream — and
//! receives `notifications/resources/updated` whenever a refresh changes that application's
//! rules: a refresh on this replica or, with `--redis-url`, a new generation another replica
//! wrote. In the session scope the subscription follows the caller's own cache. The
//! bookkeeping and change detection are [`mcp_cache::CacheResources`]'; the entitlement check
//! before a subscription is this server's.
//!
//! Cache hints (2026-07-28): reads and lists of the firewall data carry `ttlMs`, the time until
//! the caller's cache refreshes next (0 when stale); the authorization layer marks them
//! `cacheScope: "private"`, since they are filtered per caller.

use std::sync::Arc;

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::{Json, Parameters};
use rmcp::model::{
    CallToolResult, Implementation, ListResourceTemplatesResult, ListResourcesResult,
    PaginatedRequestParams, ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult,
    Resource, ResourceContents, ResourceTemplate, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, tool, tool_handler, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use mcp_cache::{Cache, CacheError, CacheResources, JsonView};
use rmcp::model::{
    ResourcesCapability, SubscribeRequestParams, SubscriptionFilter, UnsubscribeRequestParams,
};
use rmcp::service::SubscriptionContext;

use crate::ExampleError;
use crate::access::Caller;
use crate::data::{CacheScope, FirewallCache, FirewallData, UserKey};
use crate::downstream::DownstreamClient;
use crate::model::{AppFirewall, ChangeRequest, validate_app_name};

/// URI of the caller's whole rule set.
pub const FIREWALLS_URI: &str = "cache://firewalls";
/// URI template of one application's rules.
pub const FIREWALL_TEMPLATE: &str = "cache://firewalls/{app}";
/// URI of the cache health resource.
pub const HEALTH_URI: &str = "cache://meta/health";
const JSON_MIME: &str = "application/json";

/// Arguments of `get_firewall_rule` and `reset_firewall`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct AppNameArgs {
    /// The application, e.g. `app-alpha`.
    pub app_name: String,
}

/// Result of `list_firewall_rules`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct FirewallRuleList {
    /// The caller's applications with their rules.
    pub apps: Vec<AppFirewall>,
    /// The caller's own change requests on those applications, from their per-user overlay:
    /// present in the hybrid cache scope only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change_requests: Option<Vec<ChangeRequest>>,
}

/// Result of `refresh_cache` and `reset_firewall`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct RefreshOutcome {
    /// The cache generation after the refresh.
    pub generation: u64,
    /// What was done.
    pub message: String,
}

/// Names of the tools this server offers.
pub const TOOL_NAMES: [&str; 5] = [
    "cache_status",
    "get_firewall_rule",
    "list_firewall_rules",
    "refresh_cache",
    "reset_firewall",
];

/// The tools only admins may see and call.
pub const ADMIN_TOOLS: [&str; 2] = ["refresh_cache", "reset_firewall"];

/// How the handler finds the caller of a request.
pub type CallerFn = dyn Fn(&RequestContext<RoleServer>) -> Option<Caller> + Send + Sync;

/// The firewall MCP server. Cheap to clone: one per session shares the cache.
#[derive(Clone)]
pub struct FirewallServer {
    data: FirewallCache,
    downstream: DownstreamClient,
    caller: Arc<CallerFn>,
    data_filter: bool,
    /// Subscribers and change notifications.
    subscriptions: Subscriptions,
    tool_router: ToolRouter<Self>,
}

/// Where subscriptions are kept: one component watching the shared snapshot (server and
/// hybrid scopes), or one per user cache (session scope).
#[derive(Clone)]
enum Subscriptions {
    Shared(CacheResources<FirewallData>),
    PerUser(moka::sync::Cache<UserKey, CacheResources<FirewallData>>),
}

/// At most this many users' subscription tables are kept in the session scope (the least
/// recently used go first, their subscribers with them)...
const USER_SUBSCRIPTIONS_MAX: u64 = 4096;
/// ...and a table nobody subscribed with or listened through for this long is dropped.
const USER_SUBSCRIPTIONS_IDLE: std::time::Duration = std::time::Duration::from_secs(30 * 60);

/// A component watching `cache` for changes to the firewall URIs.
fn watch(cache: Cache<FirewallData>) -> CacheResources<FirewallData> {
    CacheResources::builder(cache, firewall_view())
        .without_health()
        .build()
}

impl std::fmt::Debug for FirewallServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FirewallServer")
            .field("scope", &self.data.scope())
            .field("downstream", &self.downstream.base_url())
            .finish_non_exhaustive()
    }
}

/// The caller a request carries: a [`Caller`] in the request's extensions, or in the HTTP
/// request's extensions (where the authorization layer puts it).
pub fn caller_from_extensions(context: &RequestContext<RoleServer>) -> Option<Caller> {
    context.extensions.get::<Caller>().cloned().or_else(|| {
        context
            .extensions
            .get::<http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<Caller>().cloned())
    })
}

impl FirewallServer {
    /// A server over `data` whose every caller is the local operator (all applications, admin):
    /// stdio without an identity, or HTTP without authorization.
    pub fn new(data: FirewallCache, downstream: DownstreamClient) -> Self {
        Self::with_callers(data, downstream, |context| {
            Some(caller_from_extensions(context).unwrap_or_else(Caller::operator))
        })
    }

    /// A server whose caller of each request is `caller(context)`; a request without one is
    /// refused. The authorization integration passes a function reading the verified principal.
    pub fn with_callers(
        data: FirewallCache,
        downstream: DownstreamClient,
        caller: impl Fn(&RequestContext<RoleServer>) -> Option<Caller> + Send + Sync + 'static,
    ) -> Self {
        let subscriptions = match data.shared() {
            Some(cache) => Subscriptions::Shared(watch(cache.clone())),
            None => Subscriptions::PerUser(
                moka::sync::Cache::builder()
                    .max_capacity(USER_SUBSCRIPTIONS_MAX)
                    .time_to_idle(USER_SUBSCRIPTIONS_IDLE)
                    .build(),
            ),
        };
        Self {
            data,
            downstream,
            caller: Arc::new(caller),
            data_filter: true,
            subscriptions,
            tool_router: Self::tool_router(),
        }
    }

    /// Whether each caller sees only the applications they are entitled to: `true`, the
    /// default. `false` is INSECURE, for testing evaluators only: the server then answers every
    /// caller with every application's rules, as if each were entitled to all of them (tools,
    /// resources and the resource list), while who the caller is, the admin role and the tool
    /// policy still apply. It exists so that an entitlement-leak check over the traces
    /// (`scripts/evals`) can be shown to catch a server whose data filter is broken; never
    /// serve real users with it.
    #[must_use]
    pub fn data_filter(mut self, on: bool) -> Self {
        self.data_filter = on;
        self
    }

    /// The cached data.
    pub fn data(&self) -> &FirewallCache {
        &self.data
    }

    fn caller(&self, context: &RequestContext<RoleServer>) -> Result<Caller, ExampleError> {
        (self.caller)(context).ok_or(ExampleError::Unauthenticated)
    }

    /// The caller whose entitlements filter the data: the caller itself, or, with the data
    /// filter off, the caller holding every application.
    fn data_caller(&self, context: &RequestContext<RoleServer>) -> Result<Caller, ExampleError> {
        let caller = self.caller(context)?;
        Ok(if self.data_filter {
            caller
        } else {
            caller.entitled_to_everything()
        })
    }

    /// The application of a `cache://firewalls/{app}` URI, when the caller may read it; `None`
    /// for any other URI. Another application's URI (or an invalid name) answers exactly like
    /// a missing one.
    fn readable_app<'u>(caller: &Caller, uri: &'u str) -> Result<Option<&'u str>, ErrorData> {
        let Some(app) = uri
            .strip_prefix(FIREWALLS_URI)
            .and_then(|rest| rest.strip_prefix('/'))
        else {
            return Ok(None);
        };
        if validate_app_name(app).is_err() || !caller.allows(app, crate::access::READ) {
            return Err(not_found(uri));
        }
        Ok(Some(app))
    }

    /// The component holding `caller`'s subscriptions: the shared one, or (session scope) the
    /// one watching the caller's own cache, created with it.
    async fn subscriptions_for(
        &self,
        caller: &Caller,
    ) -> Result<CacheResources<FirewallData>, ErrorData> {
        match &self.subscriptions {
            Subscriptions::Shared(resources) => Ok(resources.clone()),
            Subscriptions::PerUser(tables) => {
                let cache = self
                    .data
                    .user_cache(caller)
                    .await
                    .map_err(ExampleError::into_error_data)?
                    .ok_or_else(|| ErrorData::internal_error("no per-user cache", None))?;
                let key = UserKey::of(caller);
                let resources = tables.get_with(key.clone(), || watch(cache.clone()));
                if resources.cache().ptr_eq(&cache) {
                    return Ok(resources);
                }
                // The user's cache was evicted and rebuilt since: watch the new one.
                tables.invalidate(&key);
                Ok(tables.get_with(key, || watch(cache)))
            }
        }
    }

    /// Whether `caller` may subscribe to `uri`: one of their applications'
    /// `cache://firewalls/{app}`. What the listen filter in front of the server asks.
    pub fn subscribable(caller: &Caller, uri: &str) -> bool {
        matches!(Self::readable_app(caller, uri), Ok(Some(_)))
    }

    async fn get_app(
        &self,
        context: &RequestContext<RoleServer>,
        app_name: &str,
    ) -> Result<AppFirewall, ExampleError> {
        validate_app_name(app_name)?;
        let caller = self.data_caller(context)?;
        caller.require_read(app_name)?;
        self.data
            .view(&caller)
            .await?
            .app(app_name)?
            .ok_or_else(|| ExampleError::UnknownApp {
                app: app_name.to_owned(),
            })
    }
}

#[tool_router]
impl FirewallServer {
    /// Lists the caller's applications with their firewall rules.
    #[tool(
        description = "List the firewall rules of every application you are entitled to (with the hybrid cache scope, also your own change requests on them)"
    )]
    async fn list_firewall_rules(
        &self,
        context: RequestContext<RoleServer>,
    ) -> Result<Json<FirewallRuleList>, CallToolResult> {
        let list = async {
            let caller = self.data_caller(&context)?;
            let view = self.data.view(&caller).await?;
            Ok::<_, ExampleError>(FirewallRuleList {
                apps: view.apps()?,
                change_requests: view.change_requests()?,
            })
        };
        list.await.map(Json).map_err(ExampleError::into_tool_result)
    }

    /// Returns one application's firewall rules.
    #[tool(description = "Get the firewall rules of one application, by name (e.g. app-alpha)")]
    async fn get_firewall_rule(
        &self,
        context: RequestContext<RoleServer>,
        Parameters(AppNameArgs { app_name }): Parameters<AppNameArgs>,
    ) -> Result<Json<AppFirewall>, CallToolResult> {
        self.get_app(&context, &app_name)
            .await
            .map(Json)
            .map_err(ExampleError::into_tool_result)
    }

    /// The health of the cache the caller reads from.
    #[tool(
        description = "Show the state of the firewall-rule cache: age, TTL, staleness, generation, items, last error"
    )]
    async fn cache_status(
        &self,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, CallToolResult> {
        let status = async {
            let caller = self.caller(&context)?;
            // Answers before the first successful fetch too (ready: false, last error).
            let health = self.data.health(&caller).await?;
            Ok::<_, ExampleError>(json!({
                "scope": self.data.scope(),
                "health": health,
                "user_caches": self.data.user_caches(),
            }))
        };
        status
            .await
            .map(CallToolResult::structured)
            .map_err(ExampleError::into_tool_result)
    }

    /// Refreshes the cache from the downstream now (admin only).
    #[tool(description = "Admin: refresh the firewall-rule cache from the downstream API now")]
    async fn refresh_cache(
        &self,
        context: RequestContext<RoleServer>,
    ) -> Result<Json<RefreshOutcome>, CallToolResult> {
        let refresh = async {
            let caller = self.caller(&context)?;
            caller.require_admin("refresh_cache")?;
            let generation = self.data.refresh_now(&caller).await?;
            Ok::<_, ExampleError>(RefreshOutcome {
                generation,
                message: "cache refreshed".into(),
            })
        };
        refresh
            .await
            .map(Json)
            .map_err(ExampleError::into_tool_result)
    }

    /// Restores an application's default rules in the downstream, then refreshes (admin only).
    #[tool(
        description = "Admin: reset one application's firewall rules to their defaults in the downstream API, then refresh the cache"
    )]
    async fn reset_firewall(
        &self,
        context: RequestContext<RoleServer>,
        Parameters(AppNameArgs { app_name }): Parameters<AppNameArgs>,
    ) -> Result<Json<RefreshOutcome>, CallToolResult> {
        let reset = async {
            validate_app_name(&app_name)?;
            let caller = self.caller(&context)?;
            caller.require_admin("reset_firewall")?;
            self.downstream.reset(&app_name).await?;
            let generation = self.data.refresh_now(&caller).await?;
            Ok::<_, ExampleError>(RefreshOutcome {
                generation,
                message: format!("rules of {app_name} reset to their defaults"),
            })
        };
        reset
            .await
            .map(Json)
            .map_err(ExampleError::into_tool_result)
    }
}

fn json_contents(uri: &str, value: &impl Serialize) -> Result<ReadResourceResult, ErrorData> {
    let text = serde_json::to_string(value)
        .map_err(|e| ErrorData::internal_error(format!("cannot render {uri}: {e}"), None))?;
    Ok(ReadResourceResult::new(vec![
        ResourceContents::text(text, uri).with_mime_type(JSON_MIME),
    ]))
}

fn resource(uri: String, name: String, description: &str) -> Resource {
    Resource::new(uri, name)
        .with_description(description)
        .with_mime_type(JSON_MIME)
}

/// The shared snapshot as resources, for change detection: `cache://firewalls` and one
/// `cache://firewalls/{app}` per application, with the content `resources/read` answers for an
/// application (its rules).
fn firewall_view() -> JsonView<FirewallData> {
    JsonView::new(FIREWALLS_URI)
        .whole(|data: &FirewallData| serde_json::to_value(data))
        .segments(
            |data: &FirewallData| data.keys().cloned().collect(),
            |data, app| data.get(app).map(serde_json::to_value),
        )
}

/// A duration as a `ttlMs` value.
fn millis(duration: std::time::Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// The "resource not found" error, the same for an application that does not exist and one the
/// caller is not entitled to.
fn not_found(uri: &str) -> ErrorData {
    ErrorData::resource_not_found(
        format!("resource not found: {uri}"),
        Some(json!({ "uri": uri })),
    )
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for FirewallServer {
    fn get_info(&self) -> ServerConfig {
        let mut capabilities = ServerCapabilities::builder()
            .enable_tools()
            .enable_resources()
            .build();
        // Subscriptions to single applications; no list-changed notifications: the set of
        // URIs changes with other users' applications too.
        let mut resources = ResourcesCapability::default();
        resources.subscribe = Some(true);
        capabilities.resources = Some(resources);
        ServerConfig::new(capabilities)
            .with_server_info(Implementation::new(
                "mcp-patterns-example",
                env!("CARGO_PKG_VERSION"),
            ))
            .with_instructions(
                "Firewall rules per application, limited to the applications you are entitled to. \
             Use list_firewall_rules for all of yours, get_firewall_rule with an app_name for \
             one; the same data is readable as resources cache://firewalls and \
             cache://firewalls/{app}.",
            )
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let caller = self
            .data_caller(&context)
            .map_err(ExampleError::into_error_data)?;
        // Before the first successful fetch (degrade policy) the fixed resources are listed,
        // so the health resource can be found; the per-application ones follow once data is in.
        let (names, fresh_for) = match self.data.view(&caller).await {
            Ok(view) => {
                let fresh_for = view.fresh_for();
                let names = view.app_names().map_err(ExampleError::into_error_data)?;
                (names, fresh_for)
            }
            Err(ExampleError::Cache(CacheError::NotReady)) => {
                (Vec::new(), std::time::Duration::ZERO)
            }
            Err(error) => return Err(error.into_error_data()),
        };
        let mut resources = vec![
            resource(
                FIREWALLS_URI.into(),
                "firewalls".into(),
                "The firewall rules of every application you are entitled to",
            ),
            resource(
                HEALTH_URI.into(),
                "cache-health".into(),
                "Age, TTL, staleness, generation, items and last error of the cache",
            ),
        ];
        resources.extend(names.into_iter().map(|app| {
            resource(
                format!("{FIREWALLS_URI}/{app}"),
                app,
                "The firewall rules of one application",
            )
        }));
        Ok(ListResourcesResult::with_all_items(resources).with_ttl_ms(millis(fresh_for)))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        let template = ResourceTemplate::new(FIREWALL_TEMPLATE, "firewall")
            .with_description("The firewall rules of one application you are entitled to")
            .with_mime_type(JSON_MIME);
        Ok(ListResourceTemplatesResult::with_all_items(vec![template]))
    }

    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let uri = request.uri.as_str();
        let caller = self
            .data_caller(&context)
            .map_err(ExampleError::into_error_data)?;
        match Self::readable_app(&caller, uri)? {
            Some(_) => self
                .subscriptions_for(&caller)
                .await?
                .subscribe(&request, &context),
            // The list changes with every application's data, including applications the
            // caller may not see: its updates would tell them when those change.
            None if uri == FIREWALLS_URI => Err(ErrorData::invalid_params(
                format!(
                    "{FIREWALLS_URI} cannot be subscribed to; subscribe to \
                     {FIREWALL_TEMPLATE} for each of your applications"
                ),
                Some(json!({ "uri": uri })),
            )),
            None => Err(not_found(uri)),
        }
    }

    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        match &self.subscriptions {
            Subscriptions::Shared(resources) => resources.unsubscribe(&request, &context),
            Subscriptions::PerUser(tables) => {
                let caller = self
                    .data_caller(&context)
                    .map_err(ExampleError::into_error_data)?;
                match tables.get(&UserKey::of(&caller)) {
                    Some(resources) => resources.unsubscribe(&request, &context),
                    None => Ok(()),
                }
            }
        }
    }

    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        // Asked without a caller: accept the shape (one application's URI); whose it is is
        // decided per caller before the acknowledgement (the HTTP listen filter) and again in
        // `listen`. No list-changed stream, as in the capabilities.
        let uris: Vec<String> = requested
            .resource_subscriptions
            .iter()
            .flatten()
            .filter(|uri| {
                uri.strip_prefix(FIREWALLS_URI)
                    .and_then(|rest| rest.strip_prefix('/'))
                    .is_some_and(|app| validate_app_name(app).is_ok())
            })
            .cloned()
            .collect();
        let mut accepted = SubscriptionFilter::builder();
        if !uris.is_empty() {
            accepted = accepted.resource_subscriptions(uris);
        }
        Some(accepted.build())
    }

    async fn listen(&self, context: SubscriptionContext) -> Result<(), ErrorData> {
        let caller = self
            .data_caller(context.request_context())
            .map_err(ExampleError::into_error_data)?;
        // Fail closed: a URI of another user's application never gets a notification, even
        // when nothing in front filtered the request.
        for uri in context.accepted().resource_subscriptions.iter().flatten() {
            if Self::readable_app(&caller, uri)?.is_none() {
                return Err(not_found(uri));
            }
        }
        self.subscriptions_for(&caller).await?.listen(context).await
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let uri = request.uri.as_str();
        let caller = self
            .data_caller(&context)
            .map_err(ExampleError::into_error_data)?;
        let app = Self::readable_app(&caller, uri)?;
        if uri != FIREWALLS_URI && uri != HEALTH_URI && app.is_none() {
            return Err(not_found(uri));
        }
        if uri == HEALTH_URI {
            // Answers before the first successful fetch too: that is when it matters most.
            let health = self
                .data
                .health(&caller)
                .await
                .map_err(ExampleError::into_error_data)?;
            return Ok(json_contents(uri, &health)?.into());
        }
        let view = self
            .data
            .view(&caller)
            .await
            .map_err(ExampleError::into_error_data)?;
        let fresh_for = view.fresh_for();
        let result = match app {
            Some(app) => {
                let rules = view
                    .app(app)
                    .map_err(ExampleError::into_error_data)?
                    .ok_or_else(|| not_found(uri))?;
                json_contents(uri, &rules)?
            }
            None => {
                let apps = view.apps().map_err(ExampleError::into_error_data)?;
                json_contents(
                    uri,
                    &FirewallRuleList {
                        apps,
                        change_requests: None,
                    },
                )?
            }
        };
        Ok(result.with_ttl_ms(millis(fresh_for)).into())
    }
}

/// The scope of a server, for the start-up banner.
pub fn describe_scope(scope: CacheScope) -> &'static str {
    match scope {
        CacheScope::Server => "server-scoped cache (shared, filtered per caller)",
        CacheScope::Session => "session-scoped cache (one per user, only their applications)",
        CacheScope::Hybrid => "hybrid cache (shared data, per-user overlay of change requests)",
    }
}
