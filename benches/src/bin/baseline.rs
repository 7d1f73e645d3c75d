//! `baseline`: the two reference points of the comparison (`compare`, `scripts/bench-compare`),
//! each a server process on a free loopback port, with `TCP_NODELAY` like the servers measured.
//!
//! - `--kind ceiling`: the HTTP ceiling. A bare axum endpoint that parses each JSON-RPC request
//!   (`serde_json::Value`, as a server must) and answers with the bytes of a real response of
//!   the reference server (`--template`, its id replaced by the request's): the same headers
//!   and body size, without MCP. `initialize` gets a session id, notifications a 202 and
//!   `DELETE` a 200, so the load generator's session and stateless clients both run against it.
//! - `--kind rmcp`: a bare rmcp Streamable HTTP server (default configuration, legacy sessions,
//!   no layers) whose one tool answers a fixed structured result of the same shape. Used to
//!   measure what an idle session costs in rmcp itself.
//!
//! Both allocate through jemalloc, like the reference server binary.
//!
//! It prints `listening on http://127.0.0.1:PORT/mcp` once ready and serves until killed.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use axum::routing::post;
use axum::serve::ListenerExt as _;
use clap::{Parser, ValueEnum};
use serde::Deserialize;
use serde_json::Value;

/// Where the response template's id goes.
pub const ID_PLACEHOLDER: &str = "\"id\":\"{{ID}}\"";

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Kind {
    /// The bare axum endpoint answering canned bytes.
    Ceiling,
    /// A bare rmcp server.
    Rmcp,
}

/// A baseline server for the comparison.
#[derive(Debug, Parser)]
#[command(about)]
struct Args {
    /// Which baseline.
    #[arg(long, value_enum)]
    kind: Kind,
    /// Port on 127.0.0.1; 0 for a free one.
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// For the ceiling: a file with a real response body in which the JSON-RPC id is written
    /// as `"id":"{{ID}}"`.
    #[arg(long)]
    template: Option<PathBuf>,
    /// For the ceiling: the template's content type.
    #[arg(long, default_value = "text/event-stream")]
    content_type: String,
}

/// The canned answer: the bytes before and after the id.
struct Template {
    before: Bytes,
    after: Bytes,
    content_type: String,
    sessions: AtomicU64,
}

/// What the ceiling parses of a request (all of it: `params` is parsed into a JSON value).
#[derive(Deserialize)]
struct JsonRpc {
    #[allow(dead_code)] // parsed like a server must, not used
    jsonrpc: String,
    id: Option<Value>,
    method: String,
    #[allow(dead_code)]
    #[serde(default)]
    params: Option<Value>,
}

async fn ceiling(State(template): State<Arc<Template>>, body: Bytes) -> Response {
    let Ok(request) = serde_json::from_slice::<JsonRpc>(&body) else {
        return status(StatusCode::BAD_REQUEST);
    };
    let Some(id) = request.id else {
        return status(StatusCode::ACCEPTED);
    };
    let id = id.to_string();
    if request.method == "initialize" {
        let n = template.sessions.fetch_add(1, Ordering::Relaxed);
        let body = format!(
            "data: {{\"jsonrpc\":\"2.0\",\"id\":{id},\"result\":{{\"protocolVersion\":\"2025-11-25\",\"capabilities\":{{\"tools\":{{}}}},\"serverInfo\":{{\"name\":\"ceiling\",\"version\":\"0\"}}}}}}\n\n"
        );
        return Response::builder()
            .header(header::CONTENT_TYPE, "text/event-stream")
            .header("mcp-session-id", format!("ceiling-{n}"))
            .body(Body::from(body))
            .unwrap_or_else(|_| status(StatusCode::INTERNAL_SERVER_ERROR));
    }
    let mut out = Vec::with_capacity(template.before.len() + id.len() + template.after.len() + 5);
    out.extend_from_slice(&template.before);
    out.extend_from_slice(b"\"id\":");
    out.extend_from_slice(id.as_bytes());
    out.extend_from_slice(&template.after);
    Response::builder()
        .header(header::CONTENT_TYPE, template.content_type.as_str())
        .body(Body::from(out))
        .unwrap_or_else(|_| status(StatusCode::INTERNAL_SERVER_ERROR))
}

async fn end_session(_headers: HeaderMap) -> Response {
    status(StatusCode::OK)
}

fn status(code: StatusCode) -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = code;
    response
}

fn ceiling_app(args: &Args) -> Result<Router, String> {
    let path = args
        .template
        .as_ref()
        .ok_or("--kind ceiling needs --template")?;
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let (before, after) = text
        .split_once(ID_PLACEHOLDER)
        .ok_or_else(|| format!("{}: no {ID_PLACEHOLDER} in the template", path.display()))?;
    let template = Arc::new(Template {
        before: Bytes::from(before.to_owned()),
        after: Bytes::from(after.to_owned()),
        content_type: args.content_type.clone(),
        sessions: AtomicU64::new(0),
    });
    Ok(Router::new()
        .route("/mcp", post(ceiling).delete(end_session))
        .with_state(template))
}

mod bare {
    //! The bare rmcp server: one tool with a fixed structured answer, nothing else.

    use rmcp::model::{
        CallToolRequestParams, CallToolResponse, CallToolResult, ListToolsResult,
        PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
    };
    use rmcp::service::RequestContext;
    use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
    use rmcp::transport::streamable_http_server::{
        StreamableHttpServerConfig, StreamableHttpService,
    };
    use rmcp::{ErrorData, RoleServer, ServerHandler};
    use serde_json::json;
    use std::sync::Arc;

    #[derive(Clone)]
    pub(super) struct Bare {
        tool: Tool,
    }

    impl ServerHandler for Bare {
        fn get_info(&self) -> ServerConfig {
            ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
        }

        async fn list_tools(
            &self,
            _request: Option<PaginatedRequestParams>,
            _context: RequestContext<RoleServer>,
        ) -> Result<ListToolsResult, ErrorData> {
            Ok(ListToolsResult::with_all_items(vec![self.tool.clone()]))
        }

        async fn call_tool(
            &self,
            request: CallToolRequestParams,
            _context: RequestContext<RoleServer>,
        ) -> Result<CallToolResponse, ErrorData> {
            let app = request
                .arguments
                .as_ref()
                .and_then(|a| a.get("app_name"))
                .cloned()
                .unwrap_or_default();
            Ok(CallToolResult::structured(json!({
                "app_name": app,
                "rules": [
                    { "id": "alpha-1", "direction": "ingress", "protocol": "tcp", "ports": "443", "cidr": "0.0.0.0/0", "action": "allow", "description": "HTTPS from anywhere" },
                    { "id": "alpha-2", "direction": "ingress", "protocol": "tcp", "ports": "22", "cidr": "10.0.0.0/8", "action": "allow", "description": "SSH from the corporate network" },
                    { "id": "alpha-3", "direction": "egress", "protocol": "tcp", "ports": "5432", "cidr": "10.20.0.0/16", "action": "allow", "description": "PostgreSQL in the data subnet" },
                ],
            }))
            .into())
        }
    }

    pub(super) fn app() -> axum::Router {
        let schema = json!({ "type": "object", "properties": { "app_name": { "type": "string" } }, "required": ["app_name"] });
        let schema = match schema {
            serde_json::Value::Object(map) => map,
            _ => serde_json::Map::new(),
        };
        let handler = Bare {
            tool: Tool::new(
                "get_firewall_rule",
                "Get one application's rules",
                Arc::new(schema),
            ),
        };
        let service: StreamableHttpService<Bare, LocalSessionManager> = StreamableHttpService::new(
            move || Ok(handler.clone()),
            Arc::new(LocalSessionManager::default()),
            StreamableHttpServerConfig::default(),
        );
        axum::Router::new().nest_service("/mcp", service)
    }
}

fn nodelay(tcp: &mut tokio::net::TcpStream) {
    let _ = tcp.set_nodelay(true);
}

/// The same allocator as the reference server binary, so that the comparison is of the
/// servers, not of the allocators.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let app = match args.kind {
        Kind::Ceiling => match ceiling_app(&args) {
            Ok(app) => app,
            Err(message) => {
                eprintln!("baseline: {message}");
                return ExitCode::from(2);
            }
        },
        Kind::Rmcp => bare::app(),
    };
    let listener =
        match tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, args.port)))
            .await
        {
            Ok(listener) => listener,
            Err(error) => {
                eprintln!("baseline: bind: {error}");
                return ExitCode::FAILURE;
            }
        };
    match listener.local_addr() {
        Ok(addr) => println!("listening on http://{addr}/mcp"),
        Err(error) => {
            eprintln!("baseline: {error}");
            return ExitCode::FAILURE;
        }
    }
    if let Err(error) = axum::serve(listener.tap_io(nodelay), app).await {
        eprintln!("baseline: {error}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
