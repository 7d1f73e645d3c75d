//! A complete MCP server over Streamable HTTP whose tools and resources are served from one
//! cached snapshot of a downstream HTTP API (the example of `docs/caching.md`).
//!
//! ```sh
//! cargo run -p mcp-cache --example cache_server
//! ```
//!
//! It starts a small downstream API and the MCP endpoint on loopback ports, prints both URLs,
//! and serves until Ctrl-C. `POST {downstream}/rules/{app}` with a JSON list of strings changes
//! an application's rules; within one TTL (10 s here) subscribed clients receive
//! `notifications/resources/updated` for `cache://firewalls/{app}`.

use axum::serve::ListenerExt as _;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json as AxumJson;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use mcp_cache::{Cache, CacheConfig, CacheResources, CacheResourcesLayer, InitialFetch, JsonView};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::{Json, Parameters};
use rmcp::model::{CallToolResult, ServerCapabilities, ServerConfig};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ServerHandler, tool, tool_handler, tool_router};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use tower_layer::Layer as _;

/// Sets `TCP_NODELAY` on an accepted connection, as every server should: otherwise the last small
/// write of each response waits for the client's delayed ACK (about 40 ms on a kept-alive
/// connection).
fn nodelay(tcp: &mut tokio::net::TcpStream) {
    let _ = tcp.set_nodelay(true);
}

/// The snapshot: application name → its firewall rules.
type Rules = BTreeMap<String, Vec<String>>;

/// Arguments of `get_firewall_rule`: the minimal input, enriched from the snapshot.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
struct AppArgs {
    /// The application, e.g. `app-alpha`.
    app_name: String,
}

/// One application's rules.
#[derive(Debug, Serialize, schemars::JsonSchema)]
struct AppRules {
    app_name: String,
    rules: Vec<String>,
}

#[derive(Clone)]
struct FirewallServer {
    rules: Cache<Rules>,
    tool_router: ToolRouter<Self>,
}

#[tool_router]
impl FirewallServer {
    #[tool(description = "Get the firewall rules of one application, by name (e.g. app-alpha)")]
    async fn get_firewall_rule(
        &self,
        Parameters(AppArgs { app_name }): Parameters<AppArgs>,
    ) -> Result<Json<AppRules>, CallToolResult> {
        // One line of enrichment: O(1), lock-free, no downstream call. "Not available yet"
        // and "no entry" become tool errors the model can read.
        let rules = self.rules.get(app_name.as_str())?;
        Ok(Json(AppRules { app_name, rules }))
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for FirewallServer {
    fn get_info(&self) -> ServerConfig {
        // The resources capability is added by `CacheResourcesLayer`.
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }
}

/// The downstream (non-MCP) API: `GET /rules` returns everything, `POST /rules/{app}` edits.
async fn start_downstream(ct: CancellationToken) -> std::io::Result<String> {
    let store: Arc<Mutex<Rules>> = Arc::new(Mutex::new(Rules::from([
        (
            "app-alpha".into(),
            vec!["allow tcp/443 from 0.0.0.0/0".into()],
        ),
        (
            "app-beta".into(),
            vec!["allow tcp/22 from 10.0.0.0/8".into()],
        ),
    ])));
    let app = axum::Router::new()
        .route(
            "/rules",
            get(|State(store): State<Arc<Mutex<Rules>>>| async move {
                AxumJson(store.lock().map(|s| s.clone()).unwrap_or_default())
            }),
        )
        .route(
            "/rules/{app}",
            post(
                |State(store): State<Arc<Mutex<Rules>>>,
                 Path(app): Path<String>,
                 AxumJson(rules): AxumJson<Vec<String>>| async move {
                    if let Ok(mut store) = store.lock() {
                        store.insert(app, rules);
                    }
                },
            ),
        )
        .with_state(store);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(
        axum::serve(listener.tap_io(nodelay), app)
            .with_graceful_shutdown(ct.cancelled_owned())
            .into_future(),
    );
    Ok(url)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let ct = CancellationToken::new();
    let downstream = start_downstream(ct.clone()).await?;

    // One eager fetch of the whole data set; retry for up to 30 s at start-up.
    let http = reqwest::Client::new();
    let url = format!("{downstream}/rules");
    let rules = Cache::from_fn(move || {
        let request = http.get(&url);
        async move {
            request
                .send()
                .await?
                .error_for_status()?
                .json::<Rules>()
                .await
        }
    })
    .config(
        CacheConfig::with_ttl(Duration::from_secs(10))
            .name("firewall-rules")
            .jitter(Duration::from_secs(1))
            .fetch_timeout(Duration::from_secs(5))
            .initial_fetch(InitialFetch::Retry {
                backoff: mcp_cache::Backoff::new(
                    Duration::from_millis(200),
                    Duration::from_secs(5),
                ),
                deadline: Duration::from_secs(30),
            }),
    )
    .validate(|rules| {
        if rules.is_empty() {
            Err("the downstream returned no applications".into())
        } else {
            Ok(())
        }
    })
    .item_count(BTreeMap::len)
    .build()
    .await?;

    // The same snapshot as resources: cache://firewalls, cache://firewalls/{app},
    // cache://meta/health, with subscriptions and change notifications.
    let resources = CacheResources::new(rules.clone(), JsonView::btree_map("cache://firewalls"));
    let server = CacheResourcesLayer::new(resources).layer(FirewallServer {
        rules,
        tool_router: FirewallServer::tool_router(),
    });

    let service: StreamableHttpService<_, LocalSessionManager> = StreamableHttpService::new(
        move || Ok(server.clone()),
        Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default().with_cancellation_token(ct.child_token()),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("downstream API: {downstream}/rules");
    println!("MCP endpoint:   http://{}/mcp", listener.local_addr()?);
    let app = axum::Router::new().nest_service("/mcp", service);
    axum::serve(listener.tap_io(nodelay), app)
        .with_graceful_shutdown(async move {
            let _ = tokio::signal::ctrl_c().await;
            ct.cancel();
        })
        .await?;
    Ok(())
}
