//! Identity-provider faults through the reference server, with the real node
//! `oidc-provider` (the fixture of mcp-authz's tests) and rmcp's client over HTTP:
//!
//! - the provider is down at start-up: start-up fails with a configuration error naming it
//!   (JWT verifiers fetch the keys before serving);
//! - the JWKS endpoint goes away after the keys were fetched: tokens signed by a cached key keep
//!   working (also ones never seen before), a token naming an unknown `kid` gets a 401 at once,
//!   and the server keeps serving;
//! - the keys are rotated mid-run (the provider restarts with a new key set): new tokens are
//!   accepted after one refetch; an old token already verified keeps working from the
//!   verification cache (until its `exp`, at most 5 minutes), an old token never seen is refused;
//! - userinfo and introspection hang (`SIGSTOP`: the provider's socket still accepts
//!   connections, nothing answers): a token that needs the provider gets a 503 once the
//!   configured timeout passes, instead of hanging; cached tokens and token-less requests are
//!   answered meanwhile; after `SIGCONT` the same token is accepted.
//!
//! The tests that need the provider run with `MCP_PATTERNS_NODE_TESTS=1`, as `scripts/test` sets
//! it (a missing provider is then an error); plain `cargo test` skips them and says so.

mod common;

use std::time::{Duration, Instant};

use common::oidc::{AUDIENCE, INTROSPECTION_CLIENT, OPAQUE_AUDIENCE, OidcProvider};
use common::{app_names, call, connect, free_port};
use mcp_authz::JwksRefresh;
use mcp_patterns_example::auth::{AuthSettings, Identity};
use mcp_patterns_example::{ExampleError, HttpOptions, RunningHttp, start_http};
use reqwest::StatusCode;
use serde_json::json;

const SCOPES: &str = "mcp:access firewall:read";

/// The server trusting the provider's JWTs by its JWKS URL.
async fn jwt_server(provider: &OidcProvider, refresh: JwksRefresh) -> RunningHttp {
    start_http(HttpOptions {
        port: 0,
        auth: AuthSettings {
            identity: Identity::Jwks {
                url: provider.jwks_url(),
            },
            issuer: Some(provider.issuer.clone()),
            audience: Some(AUDIENCE.to_owned()),
            jwks_refresh: refresh,
            ..AuthSettings::default()
        },
        ..HttpOptions::default()
    })
    .await
    .expect("server starts")
}

/// A raw `initialize` POST with `token`: the status and `WWW-Authenticate` header.
async fn initialize(url: &str, token: Option<&str>) -> (StatusCode, String) {
    let mut request = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(
            json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": "2025-06-18", "capabilities": {},
                "clientInfo": {"name": "idp-faults", "version": "0"}}})
            .to_string(),
        );
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("the server answers");
    let challenge = response
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (response.status(), challenge)
}

/// Polls until `token` is accepted (200), for at most 10 s.
async fn accepted_eventually(url: &str, token: &str, what: &str) {
    let start = Instant::now();
    loop {
        let (status, challenge) = initialize(url, Some(token)).await;
        if status == StatusCode::OK {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{what}: still {status} ({challenge}) after 10 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `token` with its header replaced by one naming `kid` (payload and signature kept).
fn with_kid(token: &str, kid: &str) -> String {
    let rest = token.split_once('.').expect("a JWT").1;
    let header = json!({"alg": "RS256", "typ": "at+jwt", "kid": kid}).to_string();
    format!("{}.{rest}", b64url(header.as_bytes()))
}

fn b64url(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

#[tokio::test]
async fn idp_down_at_start_up_fails_start_up_with_a_clear_error() {
    let port = free_port(); // nothing listens there
    let jwks_url = format!("http://127.0.0.1:{port}/jwks");
    let error = start_http(HttpOptions {
        port: 0,
        auth: AuthSettings {
            identity: Identity::Jwks {
                url: jwks_url.clone(),
            },
            issuer: Some("http://127.0.0.1".into()),
            ..AuthSettings::default()
        },
        ..HttpOptions::default()
    })
    .await
    .expect_err("no keys, no start");
    match &error {
        ExampleError::Config { reason } => {
            assert!(reason.starts_with("identity provider:"), "{reason}");
            assert!(reason.contains(&jwks_url), "{reason}");
        }
        other => panic!("expected a configuration error, got {other:?}"),
    }
    assert!(
        error.report().to_lowercase().contains("connect"),
        "{}",
        error.report()
    );
}

#[tokio::test]
async fn jwks_down_cached_keys_keep_working_and_unknown_kids_are_refused_at_once() {
    if !common::tls::node_suites_enabled(
        "jwks_down_cached_keys_keep_working_and_unknown_kids_are_refused_at_once",
    ) {
        return;
    }
    let provider = OidcProvider::start().await;
    let jwks_timeout = Duration::from_secs(3);
    let refresh = JwksRefresh::default()
        .interval(Some(Duration::from_millis(200)))
        .min_refetch_interval(Duration::from_millis(200))
        .timeout(jwks_timeout);
    let server = jwt_server(&provider, refresh).await;
    let used = provider.client_token("app1", SCOPES, AUDIENCE).await;
    let unused = provider.client_token("app1", SCOPES, AUDIENCE).await;
    let session = connect(&server.mcp_url, Some(&used)).await;
    let listed = session
        .call_tool(call("list_firewall_rules", json!({})))
        .await
        .expect("list");
    assert_eq!(app_names(&listed), ["app-alpha"]);

    provider.stop(); // the JWKS endpoint is gone: connections are refused

    // Several periodic refreshes (every 200 ms) fail meanwhile; the cached keys stay.
    let until = Instant::now() + Duration::from_secs(1);
    while Instant::now() < until {
        let listed = session
            .call_tool(call("list_firewall_rules", json!({})))
            .await
            .expect("the session keeps working with the IdP down");
        assert_eq!(app_names(&listed), ["app-alpha"]);
    }
    // A token never presented before, signed by a cached key: verified locally.
    let fresh = connect(&server.mcp_url, Some(&unused)).await;
    let listed = fresh
        .call_tool(call("list_firewall_rules", json!({})))
        .await
        .expect("list");
    assert_eq!(app_names(&listed), ["app-alpha"]);

    // A key the server never saw: one refetch is tried (refused at once), then 401.
    let forged = with_kid(&used, "kid-the-server-never-saw");
    let started = Instant::now();
    let (status, challenge) = initialize(&server.mcp_url, Some(&forged)).await;
    let took = started.elapsed();
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{challenge}");
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    assert!(
        took < jwks_timeout,
        "the 401 must not wait out the JWKS timeout ({took:?})"
    );
    // Again, inside the refetch rate limit: refused without asking the IdP.
    let (status, _) = initialize(&server.mcp_url, Some(&forged)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Still serving: the session, a new session with a valid token, and 401 without one.
    let listed = session
        .call_tool(call("get_firewall_rule", json!({"app_name": "app-alpha"})))
        .await
        .expect("get");
    assert_ne!(listed.is_error, Some(true));
    assert_eq!(
        initialize(&server.mcp_url, Some(&used)).await.0,
        StatusCode::OK
    );
    assert_eq!(
        initialize(&server.mcp_url, None).await.0,
        StatusCode::UNAUTHORIZED
    );
    session.cancel().await.expect("close");
    fresh.cancel().await.expect("close");
    server.shutdown().await;
}

#[tokio::test]
async fn key_rotation_mid_run_accepts_new_tokens_and_old_ones_per_the_cache_policy() {
    if !common::tls::node_suites_enabled(
        "key_rotation_mid_run_accepts_new_tokens_and_old_ones_per_the_cache_policy",
    ) {
        return;
    }
    let port = free_port();
    let provider = OidcProvider::start_on(port).await;
    // No periodic refresh: only the unknown-kid refetch can pick the new keys up.
    let refresh = JwksRefresh::default()
        .interval(None)
        .min_refetch_interval(Duration::from_millis(200))
        .timeout(Duration::from_secs(3));
    let server = jwt_server(&provider, refresh).await;
    let old_used = provider.client_token("app1", SCOPES, AUDIENCE).await;
    let old_unused = provider.client_token("app1", SCOPES, AUDIENCE).await;
    let old_session = connect(&server.mcp_url, Some(&old_used)).await;
    let listed = old_session
        .call_tool(call("list_firewall_rules", json!({})))
        .await
        .expect("list");
    assert_eq!(app_names(&listed), ["app-alpha"]);

    // Rotation: the provider comes back on the same issuer URL with a new key set; the old
    // keys are no longer published.
    provider.stop();
    let provider = OidcProvider::start_on(port).await;
    let new = provider.client_token("app1", SCOPES, AUDIENCE).await;

    accepted_eventually(&server.mcp_url, &new, "a token signed by the new key").await;
    let new_session = connect(&server.mcp_url, Some(&new)).await;
    let listed = new_session
        .call_tool(call("list_firewall_rules", json!({})))
        .await
        .expect("list with the new token");
    assert_eq!(app_names(&listed), ["app-alpha"]);

    // The old token already verified is answered from the verification cache (entries live
    // until the token's exp, at most CacheConfig::max_ttl = 5 min): its session goes on.
    let listed = old_session
        .call_tool(call("list_firewall_rules", json!({})))
        .await
        .expect("the verified old token keeps its session");
    assert_eq!(app_names(&listed), ["app-alpha"]);
    // An old token never verified before needs its key, which is gone: refused.
    let (status, challenge) = initialize(&server.mcp_url, Some(&old_unused)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{challenge}");
    assert!(challenge.contains("invalid_token"), "{challenge}");

    old_session.cancel().await.expect("close");
    new_session.cancel().await.expect("close");
    server.shutdown().await;
    drop(provider);
}

/// Resumes a stopped provider when dropped, so a failed assertion leaves no stopped process.
struct Resume<'a>(&'a OidcProvider);

impl Drop for Resume<'_> {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .arg("-CONT")
            .arg(self.0.pid().to_string())
            .status();
    }
}

/// With the provider stopped, `waiting` (never verified) gets a 503 once `timeout` passes while
/// `verified` (cached) and token-less requests are answered at once; after `SIGCONT` `waiting`
/// is accepted.
async fn stalled_idp_gives_503_then_recovers(
    provider: &OidcProvider,
    server: &RunningHttp,
    verified: &str,
    waiting: &str,
    timeout: Duration,
) {
    let url = server.mcp_url.clone();
    assert_eq!(initialize(&url, Some(verified)).await.0, StatusCode::OK);

    provider.signal("STOP");
    let resume = Resume(provider);
    let stalled = {
        let url = url.clone();
        let waiting = waiting.to_owned();
        tokio::spawn(async move {
            let started = Instant::now();
            let answer = initialize(&url, Some(&waiting)).await;
            (answer, started.elapsed())
        })
    };
    // Meanwhile the server answers what does not need the provider.
    assert_eq!(initialize(&url, Some(verified)).await.0, StatusCode::OK);
    assert_eq!(initialize(&url, None).await.0, StatusCode::UNAUTHORIZED);
    assert!(
        !stalled.is_finished(),
        "the stalled verification is still waiting on the provider"
    );
    let ((status, challenge), took) = tokio::time::timeout(timeout * 5, stalled)
        .await
        .expect("no hang: answered within a few timeouts")
        .expect("request task");
    assert_eq!(
        status,
        StatusCode::SERVICE_UNAVAILABLE,
        "a hung IdP is a 503, not a 401 ({challenge})"
    );
    assert!(
        took >= timeout.mul_f64(0.9),
        "the 503 came after the configured timeout ({took:?})"
    );

    drop(resume); // SIGCONT
    accepted_eventually(&url, waiting, "the same token after the provider resumed").await;
}

#[tokio::test]
async fn userinfo_hung_gets_503_after_the_timeout_and_recovers() {
    if !common::tls::node_suites_enabled("userinfo_hung_gets_503_after_the_timeout_and_recovers") {
        return;
    }
    let provider = OidcProvider::start().await;
    let timeout = Duration::from_secs(2);
    let server = start_http(HttpOptions {
        port: 0,
        auth: AuthSettings {
            identity: Identity::Userinfo {
                url: provider.userinfo_url(),
            },
            // Userinfo releases claims, not scopes: no global scope can be required.
            required_scopes: Vec::new(),
            idp_timeout: timeout,
            userinfo_without_audience: true,
            ..AuthSettings::default()
        },
        ..HttpOptions::default()
    })
    .await
    .expect("server starts");
    let verified = provider.user_token("alice", "openid profile").await;
    let waiting = provider.user_token("alice", "openid profile").await;
    stalled_idp_gives_503_then_recovers(&provider, &server, &verified, &waiting, timeout).await;
    server.shutdown().await;
}

#[tokio::test]
async fn introspection_hung_gets_503_after_the_timeout_and_recovers() {
    if !common::tls::node_suites_enabled(
        "introspection_hung_gets_503_after_the_timeout_and_recovers",
    ) {
        return;
    }
    let provider = OidcProvider::start().await;
    let timeout = Duration::from_secs(2);
    let (client_id, client_secret) = INTROSPECTION_CLIENT;
    let server = start_http(HttpOptions {
        port: 0,
        auth: AuthSettings {
            identity: Identity::Introspection {
                url: provider.introspection_url(),
                client_id: client_id.to_owned(),
                client_secret: client_secret.to_owned(),
            },
            audience: Some(OPAQUE_AUDIENCE.to_owned()),
            idp_timeout: timeout,
            ..AuthSettings::default()
        },
        ..HttpOptions::default()
    })
    .await
    .expect("server starts");
    let verified = provider.client_token("app1", SCOPES, OPAQUE_AUDIENCE).await;
    let waiting = provider.client_token("app1", SCOPES, OPAQUE_AUDIENCE).await;
    stalled_idp_gives_503_then_recovers(&provider, &server, &verified, &waiting, timeout).await;
    // After recovery the introspected caller gets their data through every layer.
    let session = connect(&server.mcp_url, Some(&waiting)).await;
    let listed = session
        .call_tool(call("list_firewall_rules", json!({})))
        .await
        .expect("list");
    assert_eq!(app_names(&listed), ["app-alpha"]);
    session.cancel().await.expect("close");
    server.shutdown().await;
}
