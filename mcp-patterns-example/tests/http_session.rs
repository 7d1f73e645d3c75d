//! Drives the reference server over Streamable HTTP on a free loopback port with rmcp's client.

mod common;

use std::net::{IpAddr, Ipv4Addr};

use common::{app_names, call, text};
use mcp_cache::InitialFetch;
use mcp_patterns_example::data::CacheSettings;
use mcp_patterns_example::{HttpOptions, start_http};
use rmcp::ServiceExt;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Value, json};

#[tokio::test]
#[allow(clippy::too_many_lines)] // one session, step by step
async fn initialize_list_and_call_tools_over_streamable_http() {
    let server = start_http(HttpOptions {
        bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
        port: 0,
        downstream_url: None,
        ..HttpOptions::default()
    })
    .await
    .expect("server starts");

    // The admin demo user of the built-in development issuer sees every tool and application.
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(server.mcp_url.clone())
            .auth_header(common::demo_token(&server, "ada")),
    );
    let client = ().serve(transport).await.expect("initialize succeeds");

    let info = client.peer_info().expect("server info after initialize");
    assert_eq!(
        info.server_info.as_ref().map(|i| i.name.as_str()),
        Some("mcp-patterns-example")
    );
    assert!(
        info.capabilities.tools.is_some(),
        "tools capability advertised"
    );

    let listed = client.list_all_tools().await.expect("tools/list");
    let mut tools: Vec<String> = listed.iter().map(|t| t.name.to_string()).collect();
    tools.sort();
    assert_eq!(tools, mcp_patterns_example::server::TOOL_NAMES);
    // The tools with typed results declare their schema.
    for tool in &listed {
        let properties = tool
            .output_schema
            .as_ref()
            .and_then(|schema| schema.get("properties"))
            .and_then(Value::as_object);
        let expected = match tool.name.as_ref() {
            "get_firewall_rule" => Some("rules"),
            "list_firewall_rules" => Some("apps"),
            "refresh_cache" | "reset_firewall" => Some("generation"),
            _ => None,
        };
        if let Some(property) = expected {
            assert!(
                properties.is_some_and(|p| p.contains_key(property)),
                "{}: {:?}",
                tool.name,
                tool.output_schema
            );
        }
    }

    let all = client
        .call_tool(call("list_firewall_rules", json!({})))
        .await
        .expect("list_firewall_rules");
    assert_ne!(all.is_error, Some(true));
    assert_eq!(app_names(&all), ["app-alpha", "app-beta", "app-gamma"]);

    let alpha = client
        .call_tool(call(
            "get_firewall_rule",
            json!({ "app_name": "app-alpha" }),
        ))
        .await
        .expect("get_firewall_rule app-alpha");
    assert_ne!(alpha.is_error, Some(true));
    // The text block carries the same JSON, for clients that read only `content`.
    let as_text: Value = serde_json::from_str(&text(&alpha)).expect("JSON text content");
    let body = alpha.structured_content.expect("structured result");
    assert_eq!(as_text, body);
    assert_eq!(body["app_name"], "app-alpha");
    let ids: Vec<&str> = body["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .map(|r| r["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, ["alpha-1", "alpha-2", "alpha-3"]);

    // An unknown app is a tool error the caller can read, not a protocol failure. For a caller
    // with an entitlement list it reads like any app outside the list, so it reveals nothing.
    let unknown = client
        .call_tool(call(
            "get_firewall_rule",
            json!({ "app_name": "app-omega" }),
        ))
        .await
        .expect("a tool error is still a result");
    assert_eq!(unknown.is_error, Some(true));
    assert!(
        text(&unknown).contains("no entitlement for application 'app-omega'"),
        "{}",
        text(&unknown)
    );

    // A path-like name is refused before it reaches the downstream.
    let hostile = client
        .call_tool(call(
            "get_firewall_rule",
            json!({ "app_name": "../../admin" }),
        ))
        .await
        .expect("a tool error is still a result");
    assert_eq!(hostile.is_error, Some(true));
    assert!(
        text(&hostile).contains("invalid application name"),
        "{}",
        text(&hostile)
    );

    // A missing argument is refused with a message naming it, and the session keeps working.
    let missing = client.call_tool(call("get_firewall_rule", json!({}))).await;
    let message = match missing {
        Ok(result) => {
            assert_eq!(
                result.is_error,
                Some(true),
                "missing app_name must be refused"
            );
            text(&result)
        }
        Err(error) => error.to_string(),
    };
    assert!(message.contains("app_name"), "{message}");
    let again = client
        .call_tool(call("get_firewall_rule", json!({ "app_name": "app-beta" })))
        .await
        .expect("session still serves");
    assert_eq!(
        again.structured_content.expect("structured")["app_name"],
        "app-beta"
    );

    client.cancel().await.expect("client closes");
    server.shutdown().await;
}

#[tokio::test]
async fn downstream_down_at_start_degrades_to_a_clear_tool_error() {
    // Bind and drop a listener to get a loopback port nobody serves.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let server = start_http(HttpOptions {
        bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
        port: 0,
        downstream_url: Some(format!("http://127.0.0.1:{port}")),
        cache: CacheSettings {
            cache: CacheSettings::default()
                .cache
                .initial_fetch(InitialFetch::Degrade),
            ..CacheSettings::default()
        },
        ..HttpOptions::default()
    })
    .await
    .expect("server starts without reaching the downstream (degrade policy)");
    let client = ()
        .serve(StreamableHttpClientTransport::from_config(
            StreamableHttpClientTransportConfig::with_uri(server.mcp_url.clone())
                .auth_header(common::demo_token(&server, "alice")),
        ))
        .await
        .expect("initialize");
    let result = client
        .call_tool(call("list_firewall_rules", json!({})))
        .await
        .expect("a tool error is still a result");
    assert_eq!(result.is_error, Some(true));
    assert!(
        text(&result).contains("data not available yet"),
        "{}",
        text(&result)
    );
    client.cancel().await.expect("client closes");
    server.shutdown().await;
}
