//! `GET /healthz` and `GET /readyz`: unauthenticated, outside the MCP endpoint; readiness
//! follows the firewall data under the `degrade` initial-fetch policy (503 with the reason
//! until the downstream answers, 200 after) while liveness is 200 throughout.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::free_port;
use mcp_cache::{Backoff, InitialFetch};
use mcp_patterns_example::data::{CacheScope, CacheSettings};
use mcp_patterns_example::downstream::{self, FirewallStore};
use mcp_patterns_example::{HttpOptions, start_http};
use serde_json::{Value, json};

fn degrade(scope: CacheScope) -> CacheSettings {
    let mut settings = CacheSettings {
        scope,
        ..CacheSettings::default()
    };
    settings.cache = settings
        .cache
        .clone()
        .fetch_timeout(Duration::from_millis(500))
        .failure_backoff(Backoff::new(
            Duration::from_millis(50),
            Duration::from_millis(200),
        ))
        .initial_fetch(InitialFetch::Degrade);
    settings
}

async fn get(url: &str) -> (u16, Value) {
    let response = reqwest::get(url).await.expect("probe answers");
    let status = response.status().as_u16();
    let cache_control = response
        .headers()
        .get("cache-control")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body: Value = response.json().await.expect("JSON body");
    if url.ends_with("/readyz") {
        assert_eq!(cache_control.as_deref(), Some("no-store"), "{url}");
    }
    (status, body)
}

#[tokio::test]
async fn readiness_follows_the_data_under_degrade_and_probes_need_no_token() {
    let port = free_port();
    // Authorization on (the development issuer): the probes still answer without a token.
    let server = start_http(HttpOptions {
        port: 0,
        downstream_url: Some(format!("http://127.0.0.1:{port}")),
        cache: degrade(CacheScope::Server),
        ..HttpOptions::default()
    })
    .await
    .expect("degrade starts with the downstream down");
    let base = format!("http://{}", server.local_addr);

    let unauthenticated = reqwest::Client::new()
        .post(&server.mcp_url)
        .header("accept", "application/json, text/event-stream")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}))
        .send()
        .await
        .expect("answers");
    assert_eq!(
        unauthenticated.status(),
        401,
        "the MCP endpoint needs a token"
    );

    let (status, body) = get(&format!("{base}/healthz")).await;
    assert_eq!((status, &body), (200, &json!({"status": "ok"})));

    // Not ready: the data is not loaded; the reason says so and names the failing fetch.
    let start = Instant::now();
    let body = loop {
        let (status, body) = get(&format!("{base}/readyz")).await;
        assert_eq!(status, 503, "{body}");
        assert_eq!(body["ready"], json!(false), "{body}");
        if body["cache"]["consecutive_failures"].as_u64() >= Some(1) {
            break body;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "{body}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    let reason = body["reason"].as_str().expect("a reason");
    assert!(
        reason.contains("firewall data is not loaded") && reason.contains(&port.to_string()),
        "{body}"
    );
    assert_eq!(body["cache"]["ready"], json!(false), "{body}");
    assert_eq!(body["identity"]["ready"], json!(true), "{body}");
    assert_eq!(body["identity"]["source"], json!("development"), "{body}");

    // The downstream comes up: the background refresh loads the data, readiness turns 200.
    let downstream = downstream::serve(
        SocketAddr::from(([127, 0, 0, 1], port)),
        FirewallStore::seeded(),
    )
    .await
    .expect("downstream on its port");
    let start = Instant::now();
    let body = loop {
        let (status, body) = get(&format!("{base}/readyz")).await;
        if status == 200 {
            break body;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "{body}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    assert_eq!(body["ready"], json!(true), "{body}");
    assert!(body.get("reason").is_none(), "{body}");
    assert!(body["cache"]["generation"].as_u64() >= Some(1), "{body}");
    let (status, _) = get(&format!("{base}/healthz")).await;
    assert_eq!(status, 200);

    server.shutdown().await;
    downstream.shutdown().await;
}

#[tokio::test]
async fn session_scope_is_ready_without_a_shared_snapshot() {
    // Per-user caches are fetched on a user's first call: nothing to wait for at start.
    let server = start_http(HttpOptions {
        port: 0,
        downstream_url: Some(format!("http://127.0.0.1:{}", free_port())),
        cache: degrade(CacheScope::Session),
        ..HttpOptions::default()
    })
    .await
    .expect("starts");
    let (status, body) = get(&format!("http://{}/readyz", server.local_addr)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["cache"]["scope"], json!("session"), "{body}");
    server.shutdown().await;
}
