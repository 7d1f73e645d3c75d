//! Helpers of mcp-authz's tests: a small MCP server, an HTTP stack with mcp-authz in front, and
//! the shared test support (identity providers, tokens) re-exported.
#![allow(dead_code, unreachable_pub)]

use axum::serve::ListenerExt as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use mcp_authz::{AuthLayer, ProtectedResourceMetadata, TokenVerifier, principal_from};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    CallToolResult, ContentBlock, InitializeRequestParams, InitializeResult, ListResourcesResult,
    PaginatedRequestParams, ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult,
    Resource, ResourceContents, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, RoleServer, ServerHandler, tool, tool_handler, tool_router};
use serde_json::json;
use tokio_util::sync::CancellationToken;

/// Sets `TCP_NODELAY` on an accepted connection, as every server should: otherwise the last small
/// write of each response waits for the client's delayed ACK (about 40 ms on a kept-alive
/// connection).
fn nodelay(tcp: &mut tokio::net::TcpStream) {
    let _ = tcp.set_nodelay(true);
}

// Each test binary uses some of these.
#[allow(unused_imports)]
pub use mcp_patterns_test_support::issuer::Issuer;
#[allow(unused_imports)]
pub use mcp_patterns_test_support::jose::{b64, raw_token};
#[allow(unused_imports)]
pub use mcp_patterns_test_support::oidc::{AUDIENCE, OidcProvider};
#[allow(unused_imports)]
pub use mcp_patterns_test_support::{TestIdp, node_suites_enabled, now};

/// The resources `TestServer` serves.
pub const RESOURCES: [&str; 2] = ["cache://firewalls/app-alpha", "cache://admin/secrets"];

/// A client of `handler` served in process over a duplex pipe (no HTTP), for tests of the
/// MCP-level layers.
pub async fn in_process_client<H: ServerHandler>(
    handler: H,
) -> rmcp::service::RunningService<rmcp::RoleClient, ()> {
    use rmcp::ServiceExt as _;
    let (server_io, client_io) = tokio::io::duplex(64 * 1024);
    tokio::spawn(async move {
        if let Ok(server) = handler.serve(server_io).await {
            let _ = server.waiting().await;
        }
    });
    ().serve(client_io).await.expect("connect")
}

// ---------------------------------------------------------------------------------------------
// A small MCP server that counts every call that reaches it.

#[derive(Clone)]
pub struct TestServer {
    pub calls: Arc<AtomicUsize>,
    tool_router: ToolRouter<Self>,
}

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
pub struct AppArg {
    pub app_name: String,
}

impl TestServer {
    pub fn new() -> Self {
        Self {
            calls: Arc::new(AtomicUsize::new(0)),
            tool_router: Self::tool_router(),
        }
    }

    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    fn hit(&self) {
        self.calls.fetch_add(1, Ordering::SeqCst);
    }
}

#[tool_router]
impl TestServer {
    #[tool(description = "Who is calling")]
    async fn whoami(
        &self,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        self.hit();
        let subject = principal_from(&context).map_or("<none>".to_owned(), |p| p.subject.clone());
        Ok(CallToolResult::success(vec![ContentBlock::text(subject)]))
    }

    #[tool(description = "Read the firewall rule of one application")]
    async fn get_firewall_rule(
        &self,
        Parameters(AppArg { app_name }): Parameters<AppArg>,
    ) -> Result<CallToolResult, ErrorData> {
        self.hit();
        Ok(CallToolResult::success(vec![ContentBlock::text(format!(
            "rule of {app_name}"
        ))]))
    }

    #[tool(description = "Reset all firewall rules")]
    async fn reset_firewall(&self) -> Result<CallToolResult, ErrorData> {
        self.hit();
        Ok(CallToolResult::success(vec![ContentBlock::text("reset")]))
    }

    #[tool(description = "Rotate secrets (hidden from non-admins)")]
    async fn rotate_secrets(&self) -> Result<CallToolResult, ErrorData> {
        self.hit();
        Ok(CallToolResult::success(vec![ContentBlock::text("rotated")]))
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for TestServer {
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
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        Ok(ListResourcesResult::with_all_items(
            RESOURCES
                .iter()
                .map(|uri| Resource::new(*uri, *uri))
                .collect(),
        ))
    }

    /// Unknown URIs get mcp-cache's error shape.
    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        if !RESOURCES.contains(&request.uri.as_str()) {
            return Err(ErrorData::resource_not_found(
                format!("resource not found: {}", request.uri),
                Some(json!({ "uri": request.uri })),
            ));
        }
        self.hit();
        Ok(ReadResourceResult::new(vec![ResourceContents::text(
            format!("contents of {}", request.uri),
            request.uri.clone(),
        )])
        .into())
    }

    async fn initialize(
        &self,
        request: InitializeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<InitializeResult, ErrorData> {
        self.hit();
        context.peer.set_peer_info(request.clone());
        self.negotiate_initialize(&request)
    }
}

// ---------------------------------------------------------------------------------------------
// The HTTP stack: AuthLayer in front of rmcp's Streamable HTTP service, metadata beside it.

pub struct HttpServer {
    pub addr: SocketAddr,
    pub mcp_url: String,
    pub metadata_url: String,
    ct: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl HttpServer {
    /// Serves `handler` at `/mcp` behind `AuthLayer::new(verifier)` requiring `scopes`.
    pub async fn start<H, V>(handler: H, verifier: V, scopes: &[&str]) -> Self
    where
        H: ServerHandler + Clone,
        V: TokenVerifier + 'static,
    {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let ct = CancellationToken::new();
        let service: StreamableHttpService<H, LocalSessionManager> = StreamableHttpService::new(
            move || Ok(handler.clone()),
            Arc::new(LocalSessionManager::default()),
            StreamableHttpServerConfig::default().with_cancellation_token(ct.child_token()),
        );
        let metadata = ProtectedResourceMetadata::new(format!("http://{addr}/mcp"))
            .authorization_server("http://idp.invalid")
            .scopes(["mcp:access"]);
        let layer = AuthLayer::new(verifier)
            .require_scopes(scopes.iter().copied())
            .resource_metadata(metadata.metadata_url());
        let app = axum::Router::new()
            .nest_service("/mcp", service)
            .layer(layer)
            .merge(metadata.router());
        let task = tokio::spawn({
            let ct = ct.clone();
            async move {
                let _ = axum::serve(listener.tap_io(nodelay), app)
                    .with_graceful_shutdown(ct.cancelled_owned())
                    .await;
            }
        });
        Self {
            addr,
            mcp_url: format!("http://{addr}/mcp"),
            metadata_url: metadata.metadata_url(),
            ct,
            task: Some(task),
        }
    }

    pub async fn stop(mut self) {
        self.ct.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.ct.cancel();
    }
}

/// A raw MCP `initialize` POST with `authorization` (if any).
pub async fn raw_initialize(url: &str, authorization: Option<&str>) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(
            json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": "2025-06-18", "capabilities": {},
                "clientInfo": {"name": "mcp-authz-test", "version": "0"}}})
            .to_string(),
        );
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    request.send().await.expect("HTTP request")
}
