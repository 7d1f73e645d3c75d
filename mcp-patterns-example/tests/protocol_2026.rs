//! The reference server under MCP 2026-07-28, in every cache scope, with and without
//! `--stateless`: raw 2026-07-28 requests (no `initialize`, no session; protocol version, client
//! info and capabilities in each request's `_meta`) get honest cache hints — a developer's
//! filtered `tools/list` and her resource reads are `private`, reads carry the time until the
//! next refresh — and a `subscriptions/listen` stream is acknowledged only for the caller's
//! applications and told, under its subscription id, when a refresh changes one. Legacy
//! `initialize` clients keep working in `--stateless`, without a session.

mod common;

use std::time::Duration;

use common::{call, demo_token};
use mcp_patterns_example::RunningHttp;
use mcp_patterns_example::data::CacheScope;
use mcp_patterns_example::downstream::RunningDownstream;
use mcp_patterns_example::model::{Action, Direction, FirewallRule};
use rmcp::ServiceExt as _;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Value, json};
use tokio::sync::mpsc;

const ALPHA: &str = "cache://firewalls/app-alpha";
const BETA: &str = "cache://firewalls/app-beta";
/// Each cache refreshes on its own clock in these tests (the session scope's per-user caches
/// have no admin to refresh them).
const TTL: Duration = Duration::from_secs(2);

async fn start(scope: CacheScope, stateless: bool) -> (RunningDownstream, RunningHttp) {
    common::start_over_downstream(scope, TTL, stateless).await
}

/// A 2026-07-28 request as `user`, with the `Mcp-Method`/`Mcp-Name` routing headers.
fn request(
    server: &RunningHttp,
    user: &str,
    id: u64,
    method: &str,
    params: Value,
) -> reqwest::RequestBuilder {
    let mut params = params;
    params["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": { "name": "protocol-2026-test", "version": "0" },
        "io.modelcontextprotocol/clientCapabilities": {},
    });
    let mut http = reqwest::Client::new()
        .post(&server.mcp_url)
        .bearer_auth(demo_token(server, user))
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", method);
    if let Some(name) = params["uri"].as_str().or(params["name"].as_str()) {
        http = http.header("mcp-name", name);
    }
    http.json(&json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }))
}

/// The JSON-RPC messages of a response body: SSE `data:` lines or one JSON document.
fn parse_messages(text: &str) -> Vec<Value> {
    if !text.contains("data:") {
        return serde_json::from_str(text).into_iter().collect();
    }
    text.lines()
        .filter_map(|line| line.strip_prefix("data:"))
        .filter_map(|data| serde_json::from_str(data.trim()).ok())
        .collect()
}

/// The result of one request (panics on an error answer).
async fn result(server: &RunningHttp, user: &str, method: &str, params: Value) -> Value {
    let text = request(server, user, 1, method, params)
        .send()
        .await
        .expect("POST")
        .text()
        .await
        .expect("body");
    let answer = parse_messages(&text)
        .into_iter()
        .find(|m| m["id"] == 1)
        .unwrap_or_else(|| panic!("{method}: no answer in {text}"));
    assert!(answer.get("error").is_none(), "{method}: {answer}");
    answer["result"].clone()
}

/// An open `subscriptions/listen` stream: its messages as they arrive.
struct Listen {
    messages: mpsc::UnboundedReceiver<Value>,
    task: tokio::task::JoinHandle<()>,
}

impl Listen {
    async fn open(server: &RunningHttp, user: &str, id: u64, uris: &[&str]) -> Self {
        let mut response = request(
            server,
            user,
            id,
            "subscriptions/listen",
            json!({ "notifications": { "resourceSubscriptions": uris } }),
        )
        .send()
        .await
        .expect("listen");
        let (tx, messages) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            let mut buffer = String::new();
            while let Ok(Some(chunk)) = response.chunk().await {
                buffer.push_str(&String::from_utf8_lossy(&chunk));
                while let Some(end) = buffer.find("\n\n") {
                    let event: String = buffer.drain(..end + 2).collect();
                    for message in messages_of_event(&event) {
                        let _ = tx.send(message);
                    }
                }
            }
            for message in parse_messages(&buffer) {
                let _ = tx.send(message);
            }
        });
        Self { messages, task }
    }

    /// The next message whose `method` is `method`, within `wait`.
    async fn next(&mut self, method: &str, wait: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + wait;
        while let Ok(Some(message)) = tokio::time::timeout_at(deadline, self.messages.recv()).await
        {
            if message["method"] == method {
                return Some(message);
            }
            assert!(message.get("error").is_none(), "listen refused: {message}");
        }
        None
    }
}

impl Drop for Listen {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn messages_of_event(event: &str) -> Vec<Value> {
    event
        .lines()
        .filter_map(|line| line.strip_prefix("data:"))
        .filter_map(|data| serde_json::from_str(data.trim()).ok())
        .collect()
}

fn changed_rule() -> FirewallRule {
    FirewallRule {
        id: "alpha-2026".into(),
        direction: Direction::Ingress,
        protocol: "tcp".into(),
        ports: "8443".into(),
        cidr: "10.26.0.0/16".into(),
        action: Action::Allow,
        description: "changed while a 2026-07-28 client listens".into(),
    }
}

/// Everything the revision promises, against one server.
async fn check(scope: CacheScope, stateless: bool) {
    let label = format!("{scope:?} scope, stateless {stateless}");
    let (downstream, server) = start(scope, stateless).await;

    let tools = result(&server, "alice", "tools/list", json!({})).await;
    let names: Vec<&str> = tools["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert!(!names.contains(&"refresh_cache"), "{label}: {names:?}");
    assert_eq!(
        tools["cacheScope"], "private",
        "{label}: a filtered tool list is private: {tools}"
    );

    let read = result(&server, "alice", "resources/read", json!({ "uri": ALPHA })).await;
    assert_eq!(read["cacheScope"], "private", "{label}: {read}");
    let ttl = read["ttlMs"].as_u64().expect("ttlMs");
    assert!(
        ttl > 0 && ttl <= 2_000,
        "{label}: until the next refresh, within the TTL: {read}"
    );
    let list = result(&server, "alice", "resources/list", json!({})).await;
    assert_eq!(list["cacheScope"], "private", "{label}: {list}");
    assert!(
        list["ttlMs"].as_u64().is_some_and(|t| t <= 2_000),
        "{label}: {list}"
    );

    let mut listen = Listen::open(&server, "alice", 77, &[ALPHA, BETA]).await;
    let ack = listen
        .next(
            "notifications/subscriptions/acknowledged",
            Duration::from_secs(10),
        )
        .await
        .unwrap_or_else(|| panic!("{label}: no acknowledgement"));
    assert_eq!(
        ack["params"]["notifications"]["resourceSubscriptions"],
        json!([ALPHA]),
        "{label}: only her application: {ack}"
    );
    assert!(!ack.to_string().contains("app-beta"), "{label}: {ack}");

    // Another user's application changes: refreshed, but alice hears nothing.
    downstream.store.replace("app-beta", vec![changed_rule()]);
    let nothing = listen
        .next("notifications/resources/updated", TTL * 2)
        .await;
    assert!(nothing.is_none(), "{label}: {nothing:?}");
    // Hers changes: the next refresh tells her stream, under its subscription id.
    downstream.store.replace("app-alpha", vec![changed_rule()]);
    let updated = listen
        .next("notifications/resources/updated", TTL * 3)
        .await
        .unwrap_or_else(|| panic!("{label}: no update after app-alpha changed"));
    assert_eq!(updated["params"]["uri"], ALPHA, "{label}: {updated}");
    assert_eq!(
        updated["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"], 77,
        "{label}: {updated}"
    );
    drop(listen);
    server.shutdown().await;
    downstream.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_scope() {
    check(CacheScope::Server, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_scope() {
    check(CacheScope::Session, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hybrid_scope() {
    check(CacheScope::Hybrid, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_scope_stateless() {
    check(CacheScope::Server, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_scope_stateless() {
    check(CacheScope::Session, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hybrid_scope_stateless() {
    check(CacheScope::Hybrid, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_clients_work_in_stateless_mode_without_a_session() {
    let (downstream, server) = start(CacheScope::Session, true).await;
    // The handshake answers, but opens no session.
    let initialize = reqwest::Client::new()
        .post(&server.mcp_url)
        .bearer_auth(demo_token(&server, "alice"))
        .header("accept", "application/json, text/event-stream")
        .json(&json!({
            "jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": { "name": "legacy", "version": "0" },
            }
        }))
        .send()
        .await
        .expect("initialize");
    assert!(initialize.status().is_success(), "{initialize:?}");
    assert!(
        initialize.headers().get("mcp-session-id").is_none(),
        "no session: {:?}",
        initialize.headers()
    );
    assert_eq!(
        initialize
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/json"),
        "a JSON response where no stream is needed"
    );

    // rmcp's legacy client: tools and filtered data, request by request.
    let config = StreamableHttpClientTransportConfig::with_uri(server.mcp_url.clone())
        .auth_header(demo_token(&server, "alice"));
    let client =
        ().serve(StreamableHttpClientTransport::from_config(config))
            .await
            .expect("initialize");
    let mine = client
        .call_tool(call(
            "get_firewall_rule",
            json!({ "app_name": "app-alpha" }),
        ))
        .await
        .expect("tools/call");
    assert_ne!(mine.is_error, Some(true), "{mine:?}");
    let theirs = client
        .call_tool(call("get_firewall_rule", json!({ "app_name": "app-beta" })))
        .await
        .expect("tools/call");
    assert_eq!(theirs.is_error, Some(true), "{theirs:?}");
    assert_eq!(
        server.open_sessions().await,
        0,
        "nothing is kept per session"
    );
    let _ = client.cancel().await;
    server.shutdown().await;
    downstream.shutdown().await;
}
