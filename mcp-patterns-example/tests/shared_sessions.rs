//! Legacy Streamable HTTP sessions across replicas with `--redis-url` (a real `redis-server`,
//! `MCP_PATTERNS_REDIS=1`): a session initialized on replica A is served by replica B (restored
//! from Redis) where a replica without Redis answers 404; and the session's owner travels with
//! it, so replica B refuses the session to another user's token.

mod common;

use std::net::SocketAddr;

use common::redis::RedisServer;
use mcp_patterns_example::auth::{AuthSettings, Identity};
use mcp_patterns_example::data::CacheSettings;
use mcp_patterns_example::downstream::{FirewallStore, serve};
use mcp_patterns_example::{HttpOptions, RunningHttp, start_http};
use serde_json::{Value, json};

const PROTOCOL: &str = "2025-06-18";

async fn replica(downstream: &str, redis: Option<&str>, auth: AuthSettings) -> RunningHttp {
    start_http(HttpOptions {
        port: 0,
        downstream_url: Some(downstream.to_owned()),
        cache: CacheSettings {
            redis_url: redis.map(str::to_owned),
            ..CacheSettings::default()
        },
        auth,
        public_url: Some("http://mcp.replicas.test/mcp".into()),
        ..HttpOptions::default()
    })
    .await
    .expect("replica starts")
}

/// The JSON-RPC message of a response, whether sent as JSON or as an SSE event.
async fn message(response: reqwest::Response) -> Value {
    let text = response.text().await.expect("body");
    if let Ok(value) = serde_json::from_str(&text) {
        return value;
    }
    text.lines()
        .filter_map(|line| line.strip_prefix("data:"))
        .filter_map(|data| serde_json::from_str::<Value>(data.trim()).ok())
        .find(|value| value.get("id").is_some())
        .unwrap_or_else(|| panic!("no JSON-RPC response in {text:?}"))
}

fn request(url: &str, token: Option<&str>, session: Option<&str>) -> reqwest::RequestBuilder {
    let mut request = reqwest::Client::new()
        .post(url)
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json");
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(session) = session {
        request = request
            .header("mcp-session-id", session)
            .header("mcp-protocol-version", PROTOCOL);
    }
    request
}

/// Initializes a session on `url`; returns its id.
async fn initialize(url: &str, token: Option<&str>) -> String {
    let response = request(url, token, None)
        .json(&json!({
            "jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {
                "protocolVersion": PROTOCOL,
                "capabilities": {},
                "clientInfo": {"name": "replica-test", "version": "1"}
            }
        }))
        .send()
        .await
        .expect("initialize");
    assert!(response.status().is_success(), "{}", response.status());
    let session = response
        .headers()
        .get("mcp-session-id")
        .expect("a legacy session id")
        .to_str()
        .expect("ascii")
        .to_owned();
    let body = message(response).await;
    assert!(body["result"]["serverInfo"].is_object(), "{body}");
    let initialized = request(url, token, Some(&session))
        .json(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
        .send()
        .await
        .expect("initialized");
    assert!(
        initialized.status().is_success(),
        "{}",
        initialized.status()
    );
    session
}

async fn list_rules(url: &str, token: Option<&str>, session: &str) -> reqwest::Response {
    request(url, token, Some(session))
        .json(&json!({
            "jsonrpc": "2.0", "id": 2, "method": "tools/call",
            "params": {"name": "list_firewall_rules", "arguments": {}}
        }))
        .send()
        .await
        .expect("tools/call")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_opened_on_one_replica_is_served_by_another() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let downstream = serve(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        FirewallStore::seeded(),
    )
    .await
    .expect("downstream");
    let open = || AuthSettings {
        identity: Identity::Disabled,
        ..AuthSettings::default()
    };
    let a = replica(&downstream.url, Some(&redis.url()), open()).await;
    let b = replica(&downstream.url, Some(&redis.url()), open()).await;
    let alone = replica(&downstream.url, None, open()).await;

    let session = initialize(&a.mcp_url, None).await;
    let on_b = list_rules(&b.mcp_url, None, &session).await;
    assert!(on_b.status().is_success(), "{}", on_b.status());
    let body = message(on_b).await;
    assert!(body.to_string().contains("app-alpha"), "{body}");
    // Without the shared store the session is unknown elsewhere.
    let elsewhere = list_rules(&alone.mcp_url, None, &session).await;
    assert_eq!(elsewhere.status(), reqwest::StatusCode::NOT_FOUND);
    for server in [a, b, alone] {
        server.shutdown().await;
    }
    downstream.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_session_owner_is_checked_on_every_replica() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let downstream = serve(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        FirewallStore::seeded(),
    )
    .await
    .expect("downstream");
    // A runs the development issuer; B trusts A's keys.
    let a = replica(&downstream.url, Some(&redis.url()), AuthSettings::default()).await;
    let issuer = a.issuer.as_ref().expect("development issuer");
    let b = replica(
        &downstream.url,
        Some(&redis.url()),
        AuthSettings {
            identity: Identity::Jwks {
                url: issuer.jwks_url.clone(),
            },
            issuer: Some(issuer.issuer_url.clone()),
            ..AuthSettings::default()
        },
    )
    .await;
    let alice = common::demo_token(&a, "alice");
    let victor = common::demo_token(&a, "victor");

    let session = initialize(&a.mcp_url, Some(&alice)).await;
    let owner_on_b = list_rules(&b.mcp_url, Some(&alice), &session).await;
    assert!(owner_on_b.status().is_success(), "{}", owner_on_b.status());
    let body = message(owner_on_b).await;
    assert!(body["result"].is_object(), "{body}");
    let thief_on_b = list_rules(&b.mcp_url, Some(&victor), &session).await;
    assert!(
        thief_on_b.status().is_client_error(),
        "victor used alice's session on replica b: {}",
        thief_on_b.status()
    );
    for server in [a, b] {
        server.shutdown().await;
    }
    downstream.shutdown().await;
}
