//! Verbosity: list filtering names the hidden targets in a debug-level `auth.filter` span, for
//! development; at info level (production) only the `auth.check_scope` count remains. The HTTP
//! layer records the decisions it repeats for every admitted request (a cached token, the
//! global scopes present) at debug level, refusals and first verifications at info. In a test
//! binary of its own, so no other test's subscriber shares tracing's per-callsite interest cache.

mod common;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use mcp_authz::{
    AuthLayer, AuthzHandler, CachedVerifier, JwtVerifier, KeySet, Principal, Requirement,
    StaticPolicy, VerificationKey,
};
use mcp_patterns_test_support::capture::Capture;
use tracing_subscriber::Registry;
use tracing_subscriber::layer::SubscriberExt;

/// The spans and events `run` records at `level` and above, with a subscriber of its own.
async fn captured(
    level: tracing_subscriber::filter::LevelFilter,
    run: impl std::future::Future<Output = ()>,
) -> Capture {
    use tracing_subscriber::Layer as _;

    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(
        Registry::default().with(capture.clone().with_filter(level)),
    );
    tracing::callsite::rebuild_interest_cache();
    run.await;
    capture
}

/// Lists `tools/list` as alice (who may not see `reset_firewall`) under `subscriber`.
async fn list_tools_as_alice() {
    let handler = AuthzHandler::builder(common::TestServer::new())
        .policy(StaticPolicy::new().tool("whoami", Requirement::none()))
        .principal(Principal::new("alice").with_scopes(["mcp:access"]))
        .build();
    let client = common::in_process_client(handler).await;
    let tools = client.list_all_tools().await.expect("tools/list");
    assert!(tools.iter().all(|t| t.name != "reset_firewall"));
    client.cancel().await.expect("close");
}

#[tokio::test]
async fn hidden_targets_are_named_at_debug_level_only() {
    use tracing_subscriber::filter::LevelFilter;

    // Development verbosity: a debug-level `auth.filter` span names what was hidden.
    let debug = captured(LevelFilter::DEBUG, list_tools_as_alice()).await;
    let filters = debug.spans_named("auth.filter");
    assert_eq!(filters.len(), 1, "{filters:?}");
    assert_eq!(filters[0]["enduser.id"], "alice");
    assert_eq!(filters[0]["mcp.method.name"], "tools/list");
    assert!(
        filters[0]["auth.hidden"].contains("reset_firewall"),
        "{filters:?}"
    );

    // Production verbosity (info): only the count, in `auth.check_scope`.
    let info = captured(LevelFilter::INFO, list_tools_as_alice()).await;
    assert!(info.spans_named("auth.filter").is_empty());
    assert!(
        info.spans_named("auth.check_scope")
            .iter()
            .any(|s| s.get("mcp.method.name").map(String::as_str) == Some("tools/list"))
    );
}

const SECRET: &[u8] = b"verbosity-test-secret";

fn token(subject: &str, scope: &str) -> String {
    let claims = serde_json::json!({"sub": subject, "scope": scope, "exp": common::now() + 600});
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(SECRET),
    )
    .expect("token")
}

/// Serves `POST /mcp` behind a fresh `AuthLayer` (with its own verification cache) on loopback
/// and sends: alice three times, a request without a token, bob (valid token, no `mcp:access`).
async fn admitted_and_refused_requests() {
    let verifier = JwtVerifier::from_static_keys(
        KeySet::new().with_key(None, VerificationKey::hmac_secret(SECRET)),
    )
    .algorithms([Algorithm::HS256])
    .danger_accept_any_audience()
    .build()
    .await
    .expect("verifier");
    let app = axum::Router::new()
        .route("/mcp", axum::routing::post(|| async { "ok" }))
        .layer(AuthLayer::new(CachedVerifier::new(verifier)).require_scopes(["mcp:access"]));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/mcp", listener.local_addr().expect("addr"));
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let client = reqwest::Client::new();
    let post = |bearer: Option<String>| {
        let mut request = client.post(&url);
        if let Some(bearer) = bearer {
            request = request.bearer_auth(bearer);
        }
        async move { request.send().await.expect("send").status().as_u16() }
    };
    let alice = token("alice", "mcp:access");
    for _ in 0..3 {
        assert_eq!(post(Some(alice.clone())).await, 200);
    }
    assert_eq!(post(None).await, 401);
    assert_eq!(post(Some(token("bob", "other"))).await, 403);
    server.abort();
}

fn field<'a>(span: &'a std::collections::HashMap<String, String>, name: &str) -> &'a str {
    span.get(name).map_or("", String::as_str)
}

#[tokio::test]
async fn the_http_layer_records_admissions_at_debug_and_refusals_at_info() {
    use tracing_subscriber::filter::LevelFilter;

    // Info (the default span filter): only the first verification of each token and the
    // refusals; the requests alice repeats leave no span outside their own trace.
    let info = captured(LevelFilter::INFO, admitted_and_refused_requests()).await;
    let verified = info.spans_named("auth.verify_token");
    let cached: Vec<_> = verified
        .iter()
        .filter(|s| field(s, "auth.verifier") == "cache")
        .collect();
    assert_eq!(
        cached.len(),
        2,
        "one first verification per token: {verified:?}"
    );
    assert!(cached.iter().all(|s| field(s, "auth.cache_hit") == "false"));
    assert_eq!(field(cached[0], "enduser.id"), "alice");
    assert_eq!(field(cached[1], "enduser.id"), "bob");
    let checks = info.spans_named("auth.check_scope");
    let reasons: Vec<_> = checks.iter().map(|s| field(s, "auth.reason")).collect();
    assert_eq!(
        reasons,
        ["missing_token", "insufficient_scope"],
        "{checks:?}"
    );
    assert!(checks.iter().all(|s| field(s, "auth.decision") == "deny"));
    assert_eq!(field(&checks[1], "enduser.id"), "bob");

    // Debug (the development profile's filter for mcp_authz): every admission too.
    let debug = captured(LevelFilter::DEBUG, admitted_and_refused_requests()).await;
    let hits: Vec<_> = debug
        .spans_named("auth.verify_token")
        .into_iter()
        .filter(|s| field(s, "auth.cache_hit") == "true")
        .collect();
    assert_eq!(hits.len(), 2, "alice's second and third request: {hits:?}");
    assert!(
        hits.iter()
            .all(|s| field(s, "enduser.id") == "alice" && field(s, "auth.decision") == "allow")
    );
    let admitted: Vec<_> = debug
        .spans_named("auth.check_scope")
        .into_iter()
        .filter(|s| field(s, "auth.decision") == "allow")
        .collect();
    assert_eq!(admitted.len(), 3, "{admitted:?}");
    assert!(
        admitted
            .iter()
            .all(|s| field(s, "mcp.method.name") == "http"
                && field(s, "auth.reason") == "global scopes present")
    );
}
