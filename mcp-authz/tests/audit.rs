//! Audit: every decision is an `auth.verify_token` / `auth.check_scope` span
//! with `enduser.id`, scopes, tool, decision and reason — and the token appears nowhere.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use mcp_authz::{
    AuthzHandler, JwtVerifier, KeySet, Principal, Requirement, StaticPolicy, TokenVerifier,
    VerificationKey,
};
use rmcp::model::CallToolRequestParams;
use serde_json::json;
use tracing_subscriber::Registry;
use tracing_subscriber::layer::SubscriberExt;

mod common;

use mcp_patterns_test_support::capture::Capture;

#[tokio::test]
async fn decisions_are_audited_without_the_token() {
    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(Registry::default().with(capture.clone()));

    // auth.verify_token: an accepted and a refused token.
    let secret = b"audit-test-secret";
    let verifier = JwtVerifier::from_static_keys(
        KeySet::new().with_key(None, VerificationKey::hmac_secret(secret)),
    )
    .algorithms([Algorithm::HS256])
    .danger_accept_any_audience()
    .build()
    .await
    .expect("verifier");
    let claims =
        json!({"sub": "alice", "scope": "mcp:access firewall:read", "exp": common::now() + 600});
    let token = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret),
    )
    .expect("token");
    verifier.verify(&token).await.expect("valid");
    let forged = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(b"other"),
    )
    .expect("token");
    verifier.verify(&forged).await.expect_err("forged");

    let verify = capture.spans_named("auth.verify_token");
    assert_eq!(verify.len(), 2);
    assert_eq!(verify[0]["enduser.id"], "alice");
    assert_eq!(verify[0]["enduser.scope"], "firewall:read mcp:access");
    assert_eq!(verify[0]["auth.decision"], "allow");
    assert_eq!(verify[1]["auth.decision"], "deny");
    assert_eq!(verify[1]["auth.reason"], "invalid token: bad signature");

    // auth.check_scope: one allowed and one denied tool call through AuthzHandler.
    let handler = AuthzHandler::builder(common::TestServer::new())
        .policy(
            StaticPolicy::new()
                .tool("whoami", Requirement::none().scopes(["mcp:access"]))
                .tool("reset_firewall", Requirement::none().roles(["admin"])),
        )
        .principal(Principal::new("alice").with_scopes(["mcp:access"]))
        .build();
    let client = common::in_process_client(handler).await;
    client
        .call_tool(CallToolRequestParams::new("whoami"))
        .await
        .expect("allowed");
    client
        .call_tool(CallToolRequestParams::new("reset_firewall"))
        .await
        .expect_err("hidden");
    client.cancel().await.expect("close");

    let checks = capture.spans_named("auth.check_scope");
    let whoami = checks
        .iter()
        .find(|f| f.get("gen_ai.tool.name").map(String::as_str) == Some("whoami"))
        .expect("whoami check");
    assert_eq!(whoami["enduser.id"], "alice");
    assert_eq!(whoami["enduser.scope"], "mcp:access");
    assert_eq!(whoami["mcp.method.name"], "tools/call");
    assert_eq!(whoami["auth.decision"], "allow");
    let reset = checks
        .iter()
        .find(|f| f.get("gen_ai.tool.name").map(String::as_str) == Some("reset_firewall"))
        .expect("reset check");
    assert_eq!(reset["auth.decision"], "deny");
    assert_eq!(reset["auth.reason"], "requires role admin");

    assert!(
        !capture.mentions(&token),
        "the token must never be recorded"
    );
    assert!(!capture.mentions(&forged), "not even a refused one");
    let signature = token.rsplit('.').next().expect("signature");
    assert!(!capture.mentions(signature));
}
