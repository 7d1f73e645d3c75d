//! Hostile input against the full reference server (authorization on): random and malformed
//! bearer tokens, malformed JSON-RPC bodies, and hostile tool arguments. Each gets a clear refusal
//! (401, a protocol error, or a tool error), never a 5xx or a crash, and the server keeps serving.

mod common;

use common::{call, text};
use mcp_patterns_example::{HttpOptions, RunningHttp, start_http};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use rmcp::ServiceExt;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Value, json};

const ACCEPT: &str = "application/json, text/event-stream";

async fn start() -> RunningHttp {
    start_http(HttpOptions {
        port: 0,
        ..HttpOptions::default()
    })
    .await
    .expect("server starts")
}

async fn post(server: &RunningHttp, token: &str, body: String) -> reqwest::Response {
    reqwest::Client::new()
        .post(&server.mcp_url)
        .header("authorization", format!("Bearer {token}"))
        .header("accept", ACCEPT)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("the server answers")
}

#[test]
fn random_and_mangled_tokens_get_401_never_a_crash() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let server = rt.block_on(start());
    let good = common::demo_token(&server, "alice");
    let mut runner = TestRunner::new(Config {
        cases: 64,
        ..Config::default()
    });
    // Random printable strings, and the real token with one byte changed, cut, or extended.
    let strategy = prop_oneof![
        "[ -~]{0,300}",
        (0..good.len(), any::<u8>()).prop_map({
            let good = good.clone();
            move |(i, b)| {
                let mut bytes = good.clone().into_bytes();
                bytes[i] = b'A' + b % 26;
                String::from_utf8(bytes).unwrap_or_default()
            }
        }),
        (0..good.len()).prop_map({
            let good = good.clone();
            move |n| good[..n].to_owned()
        }),
        "[A-Za-z0-9_-]{1,64}".prop_map({
            let good = good.clone();
            move |tail| format!("{good}.{tail}")
        }),
    ];
    runner
        .run(&strategy, |token| {
            if token == good {
                return Ok(());
            }
            let status = rt.block_on(async {
                let ping = json!({ "jsonrpc": "2.0", "id": 1, "method": "ping" }).to_string();
                post(&server, &token, ping).await.status()
            });
            prop_assert_eq!(
                status,
                reqwest::StatusCode::UNAUTHORIZED,
                "token {:?}",
                token
            );
            Ok(())
        })
        .expect("every bad token is refused with 401");
    // Still serving, and the good token gets past authentication (a ping outside a session is
    // then refused by the MCP layer with 400, not 401).
    rt.block_on(async {
        let ping = json!({ "jsonrpc": "2.0", "id": 1, "method": "ping" }).to_string();
        let status = post(&server, &good, ping).await.status();
        assert!(
            status != reqwest::StatusCode::UNAUTHORIZED && !status.is_server_error(),
            "{status}"
        );
        server.shutdown().await;
    });
}

#[tokio::test]
async fn malformed_json_rpc_bodies_get_protocol_errors_and_the_server_keeps_serving() {
    let server = start().await;
    let token = common::demo_token(&server, "alice");
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let huge = json!({ "jsonrpc": "2.0", "id": 1, "method": "x".repeat(2_000_000) }).to_string();
    for body in [
        String::new(),
        "{".to_owned(),
        "[]".to_owned(),
        "null".to_owned(),
        "{\"jsonrpc\": \"2.0\"}".to_owned(),
        "{\"jsonrpc\": \"1.0\", \"id\": 1, \"method\": \"ping\"}".to_owned(),
        "\u{feff}{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}".to_owned(),
        deep,
        huge,
    ] {
        let shown: String = body.chars().take(40).collect();
        let status = post(&server, &token, body).await.status();
        assert!(
            status.is_client_error() || status.is_success(),
            "{shown:?}: {status} (must be a refusal, not a server error)"
        );
    }
    // A real session still works afterwards.
    let client = ()
        .serve(StreamableHttpClientTransport::from_config(
            StreamableHttpClientTransportConfig::with_uri(server.mcp_url.clone())
                .auth_header(token),
        ))
        .await
        .expect("initialize after the garbage");
    let listed = client
        .call_tool(call("list_firewall_rules", json!({})))
        .await
        .expect("list");
    assert_ne!(listed.is_error, Some(true));
    client.cancel().await.expect("close");
    server.shutdown().await;
}

#[tokio::test]
async fn hostile_tool_arguments_are_tool_errors() {
    let server = start().await;
    let client = ()
        .serve(StreamableHttpClientTransport::from_config(
            StreamableHttpClientTransportConfig::with_uri(server.mcp_url.clone())
                .auth_header(common::demo_token(&server, "ada")),
        ))
        .await
        .expect("initialize");
    let mut deep = json!("leaf");
    for _ in 0..64 {
        deep = json!({ "a": deep });
    }
    for argument in [
        json!("a".repeat(1_000_000)),
        json!("app-\u{0430}lpha"),  // Cyrillic a
        json!("app-alpha\u{200b}"), // zero-width space
        json!("app-alpha\u{0000}"), // NUL
        json!("..%2F..%2Fetc%2Fpasswd"),
        json!("../app-beta"),
        json!("APP-ALPHA"),
        json!(""),
        json!(42),
        json!(null),
        json!(["app-alpha"]),
        deep,
    ] {
        let shown: String = argument.to_string().chars().take(40).collect();
        let result = client
            .call_tool(call("get_firewall_rule", json!({ "app_name": argument })))
            .await;
        match result {
            Ok(result) => {
                assert_eq!(result.is_error, Some(true), "{shown}: accepted");
                assert!(!text(&result).is_empty(), "{shown}: no message");
            }
            // Wrong JSON types fail argument parsing: a protocol error naming the problem.
            Err(error) => assert!(
                error.to_string().contains("app_name") || error.to_string().contains("invalid"),
                "{shown}: {error}"
            ),
        }
    }
    let alpha = client
        .call_tool(call(
            "get_firewall_rule",
            json!({ "app_name": "app-alpha" }),
        ))
        .await
        .expect("still serving");
    let body: Value = alpha.structured_content.expect("structured");
    assert_eq!(body["app_name"], "app-alpha");
    client.cancel().await.expect("close");
    server.shutdown().await;
}
