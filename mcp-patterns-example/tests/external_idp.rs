//! The server trusting an external identity provider (`--jwks-url` / `--oidc-issuer`) instead of
//! its built-in development issuer. The provider here is a separately started development issuer
//! (its own key, JWKS and discovery document on another port), so the server knows nothing of
//! it beyond the URL.

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use common::{app_names, call};
use mcp_patterns_example::auth::{AuthSettings, Identity};
use mcp_patterns_example::devidp::{demo_users, start_dev_issuer};
use mcp_patterns_example::{HttpOptions, start_http};
use rmcp::ServiceExt;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::json;

/// `discovery`: find the keys by OIDC discovery at the issuer, else take the JWKS URL.
async fn check(discovery: bool) {
    let idp = start_dev_issuer(IpAddr::V4(Ipv4Addr::LOCALHOST), 0)
        .await
        .expect("identity provider");
    let identity = if discovery {
        Identity::OidcIssuer {
            issuer: idp.issuer_url.clone(),
        }
    } else {
        Identity::Jwks {
            url: idp.jwks_url.clone(),
        }
    };
    let server = start_http(HttpOptions {
        port: 0,
        auth: AuthSettings {
            identity,
            issuer: Some(idp.issuer_url.clone()),
            audience: Some("https://mcp.example.test/mcp".into()),
            ..AuthSettings::default()
        },
        ..HttpOptions::default()
    })
    .await
    .expect("server starts");
    assert!(
        server.issuer.is_none() && server.demo_tokens.is_empty(),
        "no built-in issuer"
    );

    let victor = &demo_users()[1];
    let good = idp
        .issuer
        .mint(
            victor,
            "https://mcp.example.test/mcp",
            Duration::from_secs(600),
        )
        .expect("token");
    let client = ()
        .serve(StreamableHttpClientTransport::from_config(
            StreamableHttpClientTransportConfig::with_uri(server.mcp_url.clone()).auth_header(good),
        ))
        .await
        .expect("initialize with the provider's token");
    let listed = client
        .call_tool(call("list_firewall_rules", json!({})))
        .await
        .expect("list");
    assert_eq!(app_names(&listed), ["app-beta"]);
    client.cancel().await.expect("close");

    // A token for another audience is refused before MCP.
    let wrong_audience = idp
        .issuer
        .mint(victor, "someone-else", Duration::from_secs(600))
        .expect("token");
    let response = reqwest::Client::new()
        .post(&server.mcp_url)
        .bearer_auth(wrong_audience)
        .header("accept", "application/json, text/event-stream")
        .json(&json!({ "jsonrpc": "2.0", "id": 1, "method": "ping" }))
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status(), reqwest::StatusCode::UNAUTHORIZED);
    let challenge = response
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(challenge.contains("resource_metadata="), "{challenge}");

    server.shutdown().await;
    idp.shutdown().await;
}

#[tokio::test]
async fn jwks_url_identity_provider() {
    check(false).await;
}

#[tokio::test]
async fn oidc_discovery_identity_provider() {
    check(true).await;
}
