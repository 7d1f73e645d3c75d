//! Cache hints (MCP 2026-07-28) through `AuthzHandler`: every list and read it authorizes says
//! `cacheScope: "private"` — the answer depends on who asks, so a shared cache must not hand
//! it to someone else — even where the inner handler says `public`, and the inner handler's
//! `ttlMs` is kept.

use std::sync::Arc;

use mcp_authz::{
    AuthError, AuthLayer, AuthzHandler, DefaultDecision, Principal, Requirement, StaticPolicy,
    TokenVerifier,
};
use mcp_patterns_test_support::Served;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::model::{
    CacheScope, ListResourcesResult, PaginatedRequestParams, ReadResourceRequestParams,
    ReadResourceResponse, ReadResourceResult, Resource, ResourceContents, ServerCapabilities,
    ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, RoleServer, ServerHandler, tool, tool_handler, tool_router};
use serde_json::{Value, json};

/// Two tools (the `#[tool_handler]` macro marks its list `public`) and one resource its
/// handler marks `public` with a 5 s TTL.
#[derive(Clone)]
struct Catalogue {
    tool_router: ToolRouter<Self>,
}

#[tool_router]
impl Catalogue {
    #[tool(description = "Everyone may call this")]
    async fn open(&self) -> String {
        "open".into()
    }

    #[tool(description = "Admins only")]
    async fn admin(&self) -> String {
        "admin".into()
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Catalogue {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .build(),
        )
    }

    async fn list_resources(
        &self,
        _: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        Ok(
            ListResourcesResult::with_all_items(vec![Resource::new("data://a", "a")])
                .with_ttl_ms(5_000)
                .with_cache_scope(CacheScope::Public),
        )
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        Ok(
            ReadResourceResult::new(vec![ResourceContents::text("a", request.uri)])
                .with_ttl_ms(5_000)
                .with_cache_scope(CacheScope::Public)
                .into(),
        )
    }
}

/// `Bearer <name>` is `<name>`; `ada` is an admin.
struct Names;

#[async_trait::async_trait]
impl TokenVerifier for Names {
    async fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        let principal = Principal::new(token).with_scopes(["mcp:access"]);
        Ok(if token == "ada" {
            principal.with_roles(["admin"])
        } else {
            principal
        })
    }
}

async fn serve(authorized: bool) -> Served {
    let catalogue = Catalogue {
        tool_router: Catalogue::tool_router(),
    };
    let config = StreamableHttpServerConfig::default();
    let sessions = Arc::new(LocalSessionManager::default());
    let app = if authorized {
        let authz = AuthzHandler::builder(catalogue)
            .policy(
                StaticPolicy::new()
                    .tool("admin", Requirement::none().roles(["admin"]))
                    .default_decision(DefaultDecision::Allow),
            )
            .build();
        let service: StreamableHttpService<AuthzHandler<Catalogue>, LocalSessionManager> =
            StreamableHttpService::new(move || Ok(authz.clone()), sessions, config);
        axum::Router::new()
            .nest_service("/mcp", service)
            .layer(AuthLayer::new(Names))
    } else {
        let service: StreamableHttpService<Catalogue, LocalSessionManager> =
            StreamableHttpService::new(move || Ok(catalogue.clone()), sessions, config);
        axum::Router::new().nest_service("/mcp", service)
    };
    Served::start(app).await
}

/// One 2026-07-28 request as `token`; the JSON-RPC result.
async fn request(served: &Served, token: &str, method: &str, params: Value) -> Value {
    let mut params = params;
    params["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": { "name": "hints-test", "version": "0" },
        "io.modelcontextprotocol/clientCapabilities": {},
    });
    let mut http = reqwest::Client::new()
        .post(served.url("/mcp"))
        .bearer_auth(token)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", method);
    if let Some(uri) = params["uri"].as_str() {
        http = http.header("mcp-name", uri);
    }
    let text = http
        .json(&json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params }))
        .send()
        .await
        .expect("POST")
        .text()
        .await
        .expect("body");
    let message: Value = text
        .lines()
        .filter_map(|line| line.strip_prefix("data:"))
        .find_map(|data| serde_json::from_str(data.trim()).ok())
        .or_else(|| serde_json::from_str(&text).ok())
        .unwrap_or_else(|| panic!("no JSON-RPC message in {text}"));
    message["result"].clone()
}

fn tool_names(result: &Value) -> Vec<&str> {
    result["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["name"].as_str())
        .collect()
}

#[tokio::test]
async fn without_authorization_the_inner_handlers_hints_stand() {
    let served = serve(false).await;
    let tools = request(&served, "anyone", "tools/list", json!({})).await;
    assert_eq!(tools["cacheScope"], "public", "{tools}");
}

#[tokio::test]
async fn filtered_tool_lists_are_private() {
    let served = serve(true).await;
    let alice = request(&served, "alice", "tools/list", json!({})).await;
    let ada = request(&served, "ada", "tools/list", json!({})).await;
    assert_eq!(tool_names(&alice), ["open"], "{alice}");
    assert_eq!(tool_names(&ada).len(), 2, "{ada}");
    assert_eq!(alice["cacheScope"], "private", "{alice}");
    assert_eq!(ada["cacheScope"], "private", "{ada}");
}

#[tokio::test]
async fn authorized_lists_and_reads_are_private_and_keep_their_ttl() {
    let served = serve(true).await;
    let list = request(&served, "alice", "resources/list", json!({})).await;
    assert_eq!(
        (&list["cacheScope"], &list["ttlMs"]),
        (&json!("private"), &json!(5_000)),
        "{list}"
    );
    let read = request(
        &served,
        "alice",
        "resources/read",
        json!({ "uri": "data://a" }),
    )
    .await;
    assert_eq!(
        (&read["cacheScope"], &read["ttlMs"]),
        (&json!("private"), &json!(5_000)),
        "{read}"
    );
}
