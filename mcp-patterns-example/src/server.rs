//! The MCP handler: firewall tools and resources answered from the cache, for the caller's
//! applications only.
//!
//! Tools: `list_firewall_rules`, `get_firewall_rule(app_name)`, `cache_status`, and the
//! admin-only `reset_firewall(app_name)` and `refresh_cache`. Resources: `cache://firewalls`
//! (the caller's applications), `cache://firewalls/{app}` (one application, a template) and
//! `cache://meta/health`.
//!
//! The resources (`cache://firewalls`, `cache://firewalls/{app}`, `cache://meta/health`) and
//! their subscriptions are served beside the tools by mcp-cache's `CacheResourcesLayer`
//! ([`crate::resources`]); the authorization layer marks every list and read
//! `cacheScope: "private"`, since they are filtered per caller.

use std::sync::Arc;

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, Implementation, ServerCapabilities, ServerConfig};
use rmcp::service::RequestContext;
use rmcp::{RoleServer, ServerHandler, tool, tool_handler, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::ExampleError;
use crate::access::Caller;
use crate::data::{CacheScope, FirewallCache};
use crate::downstream::DownstreamClient;
use crate::model::{AppFirewall, ChangeRequest, validate_app_name};
use crate::structured::Json;

pub use crate::resources::{FIREWALL_TEMPLATE, FIREWALLS_URI, HEALTH_URI};

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

/// Who the caller of a request is, shared by the tools and the resource view: a function of
/// the request context, and whether the data filter is on. Cheap to clone.
#[derive(Clone)]
pub struct CallerSource {
    caller: Arc<CallerFn>,
    data_filter: bool,
}

impl std::fmt::Debug for CallerSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallerSource")
            .field("data_filter", &self.data_filter)
            .finish_non_exhaustive()
    }
}

impl CallerSource {
    /// The caller of the request; [`ExampleError::Unauthenticated`] without one.
    pub fn caller(&self, context: &RequestContext<RoleServer>) -> Result<Caller, ExampleError> {
        (self.caller)(context).ok_or(ExampleError::Unauthenticated)
    }

    /// The caller whose entitlements filter the data: the caller itself, or, with the data
    /// filter off, the caller entitled to every application.
    pub fn data_caller(
        &self,
        context: &RequestContext<RoleServer>,
    ) -> Result<Caller, ExampleError> {
        let caller = self.caller(context)?;
        Ok(if self.data_filter {
            caller
        } else {
            caller.entitled_to_everything()
        })
    }
}

/// The firewall MCP server: the tools. Cheap to clone: one per session shares the cache.
#[derive(Clone)]
pub struct FirewallServer {
    data: FirewallCache,
    downstream: DownstreamClient,
    callers: CallerSource,
    // Shared by every clone (rmcp clones the server for each session, and for each request of
    // a 2026-07-28 client): the routes are built once and never change.
    tool_router: Arc<ToolRouter<Self>>,
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
        Self {
            data,
            downstream,
            callers: CallerSource {
                caller: Arc::new(caller),
                data_filter: true,
            },
            tool_router: Arc::new(Self::tool_router()),
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
        self.callers.data_filter = on;
        self
    }

    /// How this server finds the caller of a request (for the resource view).
    pub fn callers(&self) -> &CallerSource {
        &self.callers
    }

    /// The resources of this server's data, for the callers it knows:
    /// [`crate::resources::layer`]. Must be called within a tokio runtime.
    pub fn resources_layer(&self) -> mcp_cache::CacheResourcesLayer<crate::data::FirewallData> {
        crate::resources::layer(&self.data, &self.callers)
    }

    /// The cached data.
    pub fn data(&self) -> &FirewallCache {
        &self.data
    }

    fn caller(&self, context: &RequestContext<RoleServer>) -> Result<Caller, ExampleError> {
        self.callers.caller(context)
    }

    fn data_caller(&self, context: &RequestContext<RoleServer>) -> Result<Caller, ExampleError> {
        self.callers.data_caller(context)
    }

    /// Whether `caller` may subscribe to `uri`: one of their applications'
    /// `cache://firewalls/{app}`. What the listen filter in front of the server asks.
    pub fn subscribable(caller: &Caller, uri: &str) -> bool {
        crate::resources::subscribable(caller, uri)
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

#[tool_handler(router = self.tool_router)]
impl ServerHandler for FirewallServer {
    fn get_info(&self) -> ServerConfig {
        // The resources capability is added by the resources layer that serves them.
        let capabilities = ServerCapabilities::builder().enable_tools().build();
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
}

/// The scope of a server, for the start-up banner.
pub fn describe_scope(scope: CacheScope) -> &'static str {
    match scope {
        CacheScope::Server => "server-scoped cache (shared, filtered per caller)",
        CacheScope::Session => "session-scoped cache (one per user, only their applications)",
        CacheScope::Hybrid => "hybrid cache (shared data, per-user overlay of change requests)",
    }
}
