//! The server binary against the real node `oidc-provider` served over HTTPS with a certificate
//! from a CA the test generates: trusted through `SSL_CERT_FILE` and through `--ca-file`, behind
//! a public URL (the audience and RFC 9728 `resource`), and refused at start-up with an error
//! naming the certificate problem when the server trusts another CA.
//!
//! Needs Node and the provider (`scripts/setup/oidc-provider.sh`); runs when
//! `MCP_PATTERNS_NODE_TESTS=1`, as `scripts/test` sets it.

mod common;

use std::time::Duration;

use common::binary::Server;
use common::oidc::{AUDIENCE, OidcProvider, ProviderOptions, ProviderTls};
use common::tls::{TestCa, node_suites_enabled, temp_dir};
use common::{app_names, call, free_port};
use rmcp::ServiceExt;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Value, json};

const PUBLIC_URL: &str = "https://mcp.example.test/mcp";

/// The provider over HTTPS with a certificate from `ca`.
async fn https_provider(ca: &TestCa, extra_audiences: &[&str]) -> OidcProvider {
    let cert = ca.server_cert("oidc-provider");
    OidcProvider::start_with(
        free_port(),
        ProviderOptions {
            tls: Some(ProviderTls {
                cert_file: cert.cert_file,
                key_file: cert.key_file,
                ca_pem: ca.pem.clone(),
            }),
            extra_audiences: extra_audiences.iter().map(|a| (*a).to_owned()).collect(),
        },
    )
    .await
}

/// `POST /mcp` with `token`: the status.
async fn ping_status(url: &str, token: &str) -> u16 {
    reqwest::Client::new()
        .post(url)
        .bearer_auth(token)
        .header("accept", "application/json, text/event-stream")
        .json(
            &json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "t", "version": "0"}}}),
        )
        .send()
        .await
        .expect("answers")
        .status()
        .as_u16()
}

/// The token with its signature's last characters changed: a forgery of a real token.
fn forged(token: &str) -> String {
    let mut forged = token.to_owned();
    let tail = if forged.ends_with('A') { "B" } else { "A" };
    forged.truncate(forged.len() - 2);
    forged.push_str(tail);
    forged.push_str(tail);
    forged
}

/// An MCP session with `token`; lists the applications the caller sees.
async fn apps_seen(url: &str, token: &str) -> Vec<String> {
    let client = ()
        .serve(StreamableHttpClientTransport::from_config(
            StreamableHttpClientTransportConfig::with_uri(url.to_owned())
                .auth_header(token.to_owned()),
        ))
        .await
        .expect("MCP session with the provider's token");
    let listed = client
        .call_tool(call("list_firewall_rules", json!({})))
        .await
        .expect("list");
    client.cancel().await.expect("close");
    app_names(&listed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_url_behind_a_private_ca_trusted_through_ssl_cert_file() {
    if !node_suites_enabled("public_url_behind_a_private_ca_trusted_through_ssl_cert_file") {
        return;
    }
    let dir = temp_dir("tls-idp-env");
    let ca = TestCa::new("idp-ca", &dir);
    let idp = https_provider(&ca, &[PUBLIC_URL]).await;
    assert!(idp.issuer.starts_with("https://127.0.0.1:"));
    let ca_file = ca.file.to_str().expect("utf-8 path").to_owned();
    let server = Server::start_with_env(
        &[
            "--port",
            "0",
            "--oidc-issuer",
            &idp.issuer,
            "--public-url",
            PUBLIC_URL,
        ],
        &[("SSL_CERT_FILE", &ca_file)],
    );

    // A token issued for the public URL, signed by the provider's key, is accepted.
    let token = idp
        .client_token("app1", "mcp:access firewall:read", PUBLIC_URL)
        .await;
    assert_eq!(apps_seen(&server.url, &token).await, ["app-alpha"]);
    // A forged one (signature altered) and one for another audience are refused.
    assert_eq!(ping_status(&server.url, &forged(&token)).await, 401);
    let other = idp
        .client_token("app1", "mcp:access firewall:read", AUDIENCE)
        .await;
    assert_eq!(ping_status(&server.url, &other).await, 401);

    // The RFC 9728 document names the public URL as the resource, at the public URL's path.
    let base = server.url.trim_end_matches("/mcp").to_owned();
    let metadata: Value = reqwest::get(format!("{base}/.well-known/oauth-protected-resource/mcp"))
        .await
        .expect("metadata")
        .json()
        .await
        .expect("JSON");
    assert_eq!(metadata["resource"], json!(PUBLIC_URL), "{metadata}");
    assert_eq!(
        metadata["authorization_servers"],
        json!([idp.issuer]),
        "{metadata}"
    );
    drop(server);
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_ca_trusted_through_ca_file() {
    if !node_suites_enabled("private_ca_trusted_through_ca_file") {
        return;
    }
    let dir = temp_dir("tls-idp-flag");
    let ca = TestCa::new("idp-ca", &dir);
    let idp = https_provider(&ca, &[]).await;
    let ca_file = ca.file.to_str().expect("utf-8 path").to_owned();
    let server = Server::start(&[
        "--port",
        "0",
        "--oidc-issuer",
        &idp.issuer,
        "--audience",
        AUDIENCE,
        "--ca-file",
        &ca_file,
    ]);
    let token = idp
        .client_token("app1", "mcp:access firewall:read", AUDIENCE)
        .await;
    assert_eq!(apps_seen(&server.url, &token).await, ["app-alpha"]);
    assert_eq!(ping_status(&server.url, &forged(&token)).await, 401);
    drop(server);
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_certificate_from_an_untrusted_ca_fails_start_up_naming_the_problem() {
    if !node_suites_enabled("a_provider_certificate_from_an_untrusted_ca_fails_start_up") {
        return;
    }
    let dir = temp_dir("tls-idp-wrong");
    let ca = TestCa::new("idp-ca", &dir);
    let other = TestCa::new("other-ca", &dir);
    let idp = https_provider(&ca, &[]).await;
    let other_file = other.file.to_str().expect("utf-8 path").to_owned();
    for (args, env) in [
        // Another private CA given: the provider's chain does not lead to it.
        (vec!["--ca-file", other_file.as_str()], vec![]),
        (vec![], vec![("SSL_CERT_FILE", other_file.as_str())]),
        // Only the platform's roots: the test CA is not among them.
        (vec![], vec![]),
    ] {
        let mut all = vec![
            "--port",
            "0",
            "--oidc-issuer",
            &idp.issuer,
            "--audience",
            AUDIENCE,
        ];
        all.extend(args.iter().copied());
        let server = Server::spawn(&all, &env);
        let (status, lines) = server.exit(Duration::from_secs(30));
        assert!(!status.success(), "started anyway: {lines:#?}");
        let text = lines.join("\n");
        assert!(
            text.contains("invalid peer certificate") && text.contains("UnknownIssuer"),
            "the error does not name the certificate problem ({args:?} {env:?}): {text}"
        );
        assert!(text.contains(&idp.issuer), "{text}");
    }
    let _ = std::fs::remove_dir_all(dir);
}
