//! Sequential calls on one kept-alive connection, each response read to its end (what curl,
//! browsers, proxies and the TypeScript SDK do), are answered without a delayed-ACK stall: the
//! server sets `TCP_NODELAY`, so the last small write of a response does not wait about 40 ms
//! for the client's ACK of the previous one.
//!
//! The bounds are generous (a loaded CI machine is far below them); a 40 ms stall per call
//! breaks both: 50 calls take at least 2 s and the median call at least 40 ms.

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use common::keepalive::KeepAlive;
use mcp_patterns_example::{HttpOptions, start_http};
use serde_json::{Value, json};

const CALLS: u64 = 50;
const TOTAL_BOUND: Duration = Duration::from_secs(2);
const MEDIAN_BOUND: Duration = Duration::from_millis(20);

fn get_firewall_rule(id: u64, meta: Option<Value>) -> Value {
    let mut params =
        json!({ "name": "get_firewall_rule", "arguments": { "app_name": "app-alpha" } });
    if let Some(meta) = meta {
        params["_meta"] = meta;
    }
    json!({ "jsonrpc": "2.0", "id": id, "method": "tools/call", "params": params })
}

/// Asserts that `answer` to request `id` is alice's `app-alpha` rules.
fn assert_alpha_rules(answer: &common::keepalive::Answer, id: u64) {
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    let message = answer
        .message(id)
        .unwrap_or_else(|| panic!("no response to request {id} in {:?}", answer.body));
    let result = &message["result"];
    assert_ne!(result["isError"], true, "{message}");
    assert_eq!(
        result["structuredContent"]["app_name"], "app-alpha",
        "{message}"
    );
    let ids: Vec<&str> = result["structuredContent"]["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .filter_map(|r| r["id"].as_str())
        .collect();
    assert_eq!(ids, ["alpha-1", "alpha-2", "alpha-3"], "{message}");
}

/// Checks the total and the median of the calls' latencies against the bounds.
fn assert_no_stall(what: &str, latencies: &mut [Duration], total: Duration) {
    latencies.sort();
    let median = latencies[latencies.len() / 2];
    assert!(
        total < TOTAL_BOUND && median < MEDIAN_BOUND,
        "{what}: {CALLS} sequential calls on one kept-alive connection took {total:?} \
         (median {median:?}, max {:?}); a delayed-ACK stall (no TCP_NODELAY) makes every \
         call at least 40 ms",
        latencies[latencies.len() - 1]
    );
}

#[tokio::test]
async fn sequential_calls_on_a_kept_alive_session_connection_do_not_stall() {
    let server = start_http(HttpOptions {
        bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
        port: 0,
        ..HttpOptions::default()
    })
    .await
    .expect("server starts");
    let bearer = format!("Bearer {}", common::demo_token(&server, "alice"));
    let mut http = KeepAlive::connect(&server.mcp_url).await;

    let init = http
        .post(
            &[("authorization", &bearer)],
            &json!({ "jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
                "protocolVersion": "2025-11-25", "capabilities": {},
                "clientInfo": { "name": "keep-alive-test", "version": "0" } } }),
        )
        .await;
    assert_eq!(init.status, 200, "{:?}", init.body);
    let session = init
        .headers
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .expect("a session id")
        .to_owned();
    let version = init.message(0).expect("initialize result")["result"]["protocolVersion"]
        .as_str()
        .expect("negotiated version")
        .to_owned();
    let headers = [
        ("authorization", bearer.as_str()),
        ("mcp-session-id", session.as_str()),
        ("mcp-protocol-version", version.as_str()),
    ];
    let initialized = http
        .post(
            &headers,
            &json!({ "jsonrpc": "2.0", "method": "notifications/initialized" }),
        )
        .await;
    assert_eq!(initialized.status, 202);

    let mut latencies = Vec::new();
    let start = Instant::now();
    for id in 1..=CALLS {
        let call = Instant::now();
        let answer = http.post(&headers, &get_firewall_rule(id, None)).await;
        latencies.push(call.elapsed());
        assert_alpha_rules(&answer, id);
    }
    let total = start.elapsed();
    assert_no_stall("legacy session (SSE responses)", &mut latencies, total);
    drop(http);
    server.shutdown().await;
}

#[tokio::test]
async fn sequential_stateless_calls_on_a_kept_alive_connection_do_not_stall() {
    let server = start_http(HttpOptions {
        bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
        port: 0,
        ..HttpOptions::default()
    })
    .await
    .expect("server starts");
    let bearer = format!("Bearer {}", common::demo_token(&server, "alice"));
    let mut http = KeepAlive::connect(&server.mcp_url).await;
    // The 2026-07-28 revision: no session; each request carries its protocol version, client
    // info and capabilities in `_meta`, and its method and name in headers.
    let meta = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": { "name": "keep-alive-test", "version": "0" },
        "io.modelcontextprotocol/clientCapabilities": {},
    });
    let headers = [
        ("authorization", bearer.as_str()),
        ("mcp-protocol-version", "2026-07-28"),
        ("mcp-method", "tools/call"),
        ("mcp-name", "get_firewall_rule"),
    ];
    let mut latencies = Vec::new();
    let start = Instant::now();
    for id in 1..=CALLS {
        let call = Instant::now();
        let answer = http
            .post(&headers, &get_firewall_rule(id, Some(meta.clone())))
            .await;
        latencies.push(call.elapsed());
        assert!(
            answer.headers.get("mcp-session-id").is_none(),
            "a stateless answer opens no session"
        );
        assert_alpha_rules(&answer, id);
    }
    let total = start.elapsed();
    assert_no_stall("stateless 2026-07-28", &mut latencies, total);
    drop(http);
    server.shutdown().await;
}
