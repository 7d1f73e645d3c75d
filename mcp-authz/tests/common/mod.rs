//! Shared test helpers: the real node `oidc-provider` on loopback, token crafting with its own
//! keys, a small MCP server, and an HTTP stack with mcp-authz in front.
#![allow(dead_code, unreachable_pub)]

use axum::serve::ListenerExt as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
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
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio_util::sync::CancellationToken;

/// Sets `TCP_NODELAY` on an accepted connection, as every server should: otherwise the last small
/// write of each response waits for the client's delayed ACK (about 40 ms on a kept-alive
/// connection).
fn nodelay(tcp: &mut tokio::net::TcpStream) {
    let _ = tcp.set_nodelay(true);
}

pub const AUDIENCE: &str = "urn:mcp-patterns";

/// The resources `TestServer` serves.
pub const RESOURCES: [&str; 2] = ["cache://firewalls/app-alpha", "cache://admin/secrets"];

/// Where scripts/setup/oidc-provider.sh installs the provider.
fn provider_module() -> PathBuf {
    let cache = std::env::var_os("MCP_PATTERNS_CACHE").map_or_else(
        || {
            let home = std::env::var_os("HOME").expect("HOME is set");
            PathBuf::from(home).join(".cache/mcp-patterns")
        },
        PathBuf::from,
    );
    let module = cache.join("oidc-provider/node_modules/oidc-provider/lib/index.js");
    assert!(
        module.exists(),
        "the real OIDC provider is not installed ({} is missing): run scripts/setup/oidc-provider.sh \
         (or scripts/test, which runs it) first",
        module.display()
    );
    module
}

/// A signing key of the running provider, as the fixture exported it.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct ProviderKey {
    pub kid: String,
    pub alg: String,
    pub private_pem: String,
    pub public_pem: String,
}

/// The real node `oidc-provider` on a loopback port; killed on drop (also when a test panics).
pub struct OidcProvider {
    pub issuer: String,
    pub port: u16,
    pub keys: Vec<ProviderKey>,
    child: Child,
    _dir: TempDir,
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free loopback port")
        .port()
}

impl OidcProvider {
    pub async fn start() -> Self {
        Self::start_on(free_port()).await
    }

    /// Starts on `port`; every start has fresh keys, so a restart is a key rotation.
    pub async fn start_on(port: u16) -> Self {
        let module = provider_module();
        let dir =
            std::env::temp_dir().join(format!("mcp-authz-oidc-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let keys_file = dir.join("keys.json");
        let fixture =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/oidc-provider.mjs");
        let mut child = Command::new("node")
            .arg(&fixture)
            .env("PORT", port.to_string())
            .env("OIDC_PROVIDER_MODULE", &module)
            .env("PRIVATE_KEYS_OUT", &keys_file)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect(
                "node must be installed to run the OIDC provider (scripts/setup/oidc-provider.sh)",
            );
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await.expect("provider output") {
                if line.trim() == "ready" {
                    return;
                }
            }
            panic!("the OIDC provider exited before it was ready");
        })
        .await
        .expect("the OIDC provider is ready within 30 s");
        // Keep draining stdout so the provider never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let keys: Vec<ProviderKey> =
            serde_json::from_slice(&std::fs::read(&keys_file).expect("keys file"))
                .expect("keys json");
        Self {
            issuer: format!("http://127.0.0.1:{port}"),
            port,
            keys,
            child,
            _dir: TempDir(dir),
        }
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }

    pub fn jwks_url(&self) -> String {
        format!("{}/jwks", self.issuer)
    }

    pub fn key(&self, alg: &str) -> &ProviderKey {
        self.keys
            .iter()
            .find(|k| k.alg == alg)
            .expect("key for alg")
    }

    /// A client-credentials access token from the real token endpoint.
    pub async fn client_token(&self, client: &str, scope: &str, resource: &str) -> String {
        let response: Value = reqwest::Client::new()
            .post(format!("{}/token", self.issuer))
            .basic_auth(client, Some("secret"))
            .form(&[
                ("grant_type", "client_credentials"),
                ("scope", scope),
                ("resource", resource),
            ])
            .send()
            .await
            .expect("token request")
            .json()
            .await
            .expect("token response");
        response["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no access_token in {response}"))
            .to_owned()
    }

    /// An end user's opaque access token (see the fixture's `/test/user-token`).
    pub async fn user_token(&self, sub: &str, scope: &str) -> String {
        let response: Value = reqwest::Client::new()
            .post(format!("{}/test/user-token", self.issuer))
            .form(&[("sub", sub), ("scope", scope)])
            .send()
            .await
            .expect("user token request")
            .json()
            .await
            .expect("user token response");
        response["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }

    /// How many times the provider served `/jwks`.
    pub async fn jwks_count(&self) -> u64 {
        let response: Value = reqwest::get(format!("{}/test/jwks-count", self.issuer))
            .await
            .expect("count request")
            .json()
            .await
            .expect("count json");
        response["count"].as_u64().expect("count")
    }

    /// Claims a valid token of this provider would carry, `exp` in 10 minutes.
    pub fn claims(&self) -> Value {
        let now = now();
        json!({
            "iss": self.issuer, "aud": AUDIENCE, "sub": "app1", "client_id": "app1",
            "scope": "mcp:access firewall:read", "iat": now, "exp": now + 600,
            "roles": ["developer"], "entitlements": {"applications": {"app-alpha": ["read"]}},
        })
    }

    /// Signs `claims` with the provider's own key for `alg` (RS256 or ES256).
    pub fn sign(&self, alg: &str, claims: &Value) -> String {
        let key = self.key(alg);
        let (algorithm, encoding) = match alg {
            "RS256" => (
                Algorithm::RS256,
                EncodingKey::from_rsa_pem(key.private_pem.as_bytes()),
            ),
            "ES256" => (
                Algorithm::ES256,
                EncodingKey::from_ec_pem(key.private_pem.as_bytes()),
            ),
            other => panic!("no key for {other}"),
        };
        let mut header = Header::new(algorithm);
        header.kid = Some(key.kid.clone());
        jsonwebtoken::encode(&header, claims, &encoding.expect("private key")).expect("sign")
    }
}

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

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

/// base64url without padding (for hand-made hostile tokens).
pub fn b64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// A token made of raw header and claims and an arbitrary signature.
pub fn raw_token(header: &Value, claims: &Value, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes()),
        b64(signature)
    )
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
