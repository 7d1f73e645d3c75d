//! The reference server at the seams between its layers, over loopback HTTP: sessions belong to
//! the principal that opened them, audiences are required, streams end with their token, session
//! counts are capped, and unsafe start-up configurations are refused.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use mcp_authz::SessionLimits;
use mcp_patterns_example::auth::{AuthSettings, Identity};
use mcp_patterns_example::devidp::{DemoUser, demo_users, start_dev_issuer};
use mcp_patterns_example::{HttpOptions, RunningHttp, start_http};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_mcp-patterns-example");
const UNKNOWN_SESSION: &str = "Not Found: Session not found";

async fn server(options: HttpOptions) -> RunningHttp {
    start_http(HttpOptions { port: 0, ..options })
        .await
        .expect("server starts")
}

fn user(name: &str) -> DemoUser {
    demo_users()
        .into_iter()
        .find(|u| u.subject == name)
        .expect("demo user")
}

/// A fresh token of the server's development issuer for `name`, valid for `ttl`.
fn token(server: &RunningHttp, name: &str, ttl: Duration) -> String {
    server
        .issuer
        .as_ref()
        .expect("development issuer")
        .issuer
        .mint(&user(name), &server.public_url, ttl)
        .expect("mint")
}

fn rpc(id: u64, method: &str, params: &Value) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params })
}

fn post(
    http: &reqwest::Client,
    server: &RunningHttp,
    token: &str,
    session: Option<&str>,
    body: &Value,
) -> reqwest::RequestBuilder {
    let mut request = http
        .post(&server.mcp_url)
        .bearer_auth(token)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-11-25")
        .json(body);
    if let Some(session) = session {
        request = request.header("mcp-session-id", session);
    }
    request
}

/// Initializes a legacy session for `token`; returns its id.
async fn initialize(http: &reqwest::Client, server: &RunningHttp, token: &str) -> String {
    let init = rpc(
        1,
        "initialize",
        &json!({"protocolVersion": "2025-11-25", "capabilities": {},
                "clientInfo": {"name": "security-test", "version": "0"}}),
    );
    let response = post(http, server, token, None, &init)
        .send()
        .await
        .expect("initialize");
    assert!(response.status().is_success(), "{}", response.status());
    let session = response
        .headers()
        .get("mcp-session-id")
        .expect("session id")
        .to_str()
        .expect("ascii")
        .to_owned();
    let _ = response.bytes().await;
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let response = post(http, server, token, Some(&session), &initialized)
        .send()
        .await
        .expect("initialized");
    assert!(response.status().is_success(), "{}", response.status());
    session
}

async fn status_and_body(request: reqwest::RequestBuilder) -> (u16, String) {
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

#[tokio::test]
#[allow(clippy::too_many_lines)] // one scenario, step by step
async fn a_session_answers_only_its_owner_and_looks_unknown_to_everyone_else() {
    let server = server(HttpOptions::default()).await;
    let http = reqwest::Client::new();
    let alice = common::demo_token(&server, "alice");
    let victor = common::demo_token(&server, "victor");
    let session = initialize(&http, &server, &alice).await;
    let list = rpc(2, "tools/list", &json!({}));

    // What an unknown session gets, as the reference for "looks unknown".
    let unknown = status_and_body(post(
        &http,
        &server,
        &victor,
        Some("no-such-session"),
        &list,
    ))
    .await;
    assert_eq!(unknown, (404, UNKNOWN_SESSION.to_owned()));

    // Victor, with a valid token of his own, on alice's session: POST, GET, GET with
    // Last-Event-ID, DELETE all get exactly that answer.
    assert_eq!(
        status_and_body(post(&http, &server, &victor, Some(&session), &list)).await,
        unknown
    );
    let get = |token: &str, last_event: Option<&str>| {
        let mut request = http
            .get(&server.mcp_url)
            .bearer_auth(token)
            .header("accept", "text/event-stream")
            .header("mcp-protocol-version", "2025-11-25")
            .header("mcp-session-id", &session);
        if let Some(id) = last_event {
            request = request.header("last-event-id", id);
        }
        request
    };
    assert_eq!(status_and_body(get(&victor, None)).await, unknown);
    assert_eq!(status_and_body(get(&victor, Some("0"))).await, unknown);
    let delete = |token: &str| {
        http.delete(&server.mcp_url)
            .bearer_auth(token)
            .header("mcp-protocol-version", "2025-11-25")
            .header("mcp-session-id", &session)
    };
    assert_eq!(status_and_body(delete(&victor)).await, unknown);

    // Alice's session is untouched, and a renewed token of hers continues it.
    let (status, body) = status_and_body(post(&http, &server, &alice, Some(&session), &list)).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("get_firewall_rule"), "{body}");
    let renewed = token(&server, "alice", Duration::from_secs(600));
    assert_ne!(renewed, alice);
    let (status, body) =
        status_and_body(post(&http, &server, &renewed, Some(&session), &list)).await;
    assert_eq!(status, 200, "{body}");

    // Her DELETE ends it; afterwards it is unknown to her too.
    assert!(matches!(status_and_body(delete(&alice)).await.0, 200 | 202));
    assert_eq!(
        status_and_body(post(&http, &server, &alice, Some(&session), &list)).await,
        unknown
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_stream_ends_when_the_token_that_opened_it_expires() {
    let server = server(HttpOptions::default()).await;
    let http = reqwest::Client::new();
    let short = token(&server, "alice", Duration::from_secs(3));
    let session = initialize(&http, &server, &short).await;
    let response = http
        .get(&server.mcp_url)
        .bearer_auth(&short)
        .header("accept", "text/event-stream")
        .header("mcp-protocol-version", "2025-11-25")
        .header("mcp-session-id", &session)
        .send()
        .await
        .expect("GET stream");
    assert_eq!(response.status(), 200);
    let opened = Instant::now();
    // The server keeps SSE streams alive with pings; only the token's expiry ends this one.
    let ended = tokio::time::timeout(Duration::from_secs(30), response.bytes()).await;
    assert!(ended.is_ok(), "the stream outlived its token");
    assert!(
        opened.elapsed() < Duration::from_secs(20),
        "ended {:?} after opening",
        opened.elapsed()
    );
    // And the expired token opens nothing new.
    let again = http
        .get(&server.mcp_url)
        .bearer_auth(&short)
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &session)
        .send()
        .await
        .expect("GET");
    assert_eq!(again.status(), 401);
    server.shutdown().await;
}

#[tokio::test]
async fn sessions_are_capped_per_user_and_in_total() {
    let server = server(HttpOptions {
        session_limits: SessionLimits::default().max_per_principal(2).max_total(3),
        ..HttpOptions::default()
    })
    .await;
    let http = reqwest::Client::new();
    let alice = common::demo_token(&server, "alice");
    let victor = common::demo_token(&server, "victor");
    let ada = common::demo_token(&server, "ada");
    let init = rpc(
        1,
        "initialize",
        &json!({"protocolVersion": "2025-11-25", "capabilities": {},
                "clientInfo": {"name": "security-test", "version": "0"}}),
    );
    let first = initialize(&http, &server, &alice).await;
    initialize(&http, &server, &alice).await;
    let (status, body) = status_and_body(post(&http, &server, &alice, None, &init)).await;
    assert_eq!(status, 429, "a third session for alice: {body}");
    initialize(&http, &server, &victor).await;
    let (status, _) = status_and_body(post(&http, &server, &ada, None, &init)).await;
    assert_eq!(status, 503, "a fourth session on the server");
    assert_eq!(server.owned_sessions(), Some(3));

    // Closing one frees a place.
    let closed = http
        .delete(&server.mcp_url)
        .bearer_auth(&alice)
        .header("mcp-protocol-version", "2025-11-25")
        .header("mcp-session-id", &first)
        .send()
        .await
        .expect("DELETE");
    assert!(closed.status().is_success());
    initialize(&http, &server, &ada).await;
    server.shutdown().await;
}

#[tokio::test]
async fn tokens_for_another_audience_are_refused_even_when_they_claim_admin() {
    // An external issuer (the development issuer, as an outside IdP) and a server that names
    // only the issuer: the audience defaults to the server's public URL.
    let idp = start_dev_issuer(std::net::Ipv4Addr::LOCALHOST.into(), 0)
        .await
        .expect("issuer");
    let public = "https://mcp.example.test/mcp";
    let server = server(HttpOptions {
        public_url: Some(public.into()),
        auth: AuthSettings {
            identity: Identity::Jwks {
                url: idp.jwks_url.clone(),
            },
            issuer: Some(idp.issuer_url.clone()),
            ..AuthSettings::default()
        },
        ..HttpOptions::default()
    })
    .await;
    let http = reqwest::Client::new();
    let admin = user("ada");
    let init = rpc(
        1,
        "initialize",
        &json!({"protocolVersion": "2025-11-25", "capabilities": {},
                "clientInfo": {"name": "security-test", "version": "0"}}),
    );
    for audience in ["https://calendar.example/api", "mcp-patterns-example"] {
        let foreign = idp
            .issuer
            .mint(&admin, audience, Duration::from_secs(600))
            .expect("mint");
        let response = post(&http, &server, &foreign, None, &init)
            .send()
            .await
            .expect("POST");
        assert_eq!(response.status(), 401, "aud {audience}");
        let challenge = response.headers()["www-authenticate"].to_str().unwrap();
        assert!(challenge.contains("wrong audience"), "{challenge}");
        assert!(
            challenge.contains("resource_metadata=\"https://mcp.example.test/.well-known/oauth-protected-resource/mcp\""),
            "{challenge}"
        );
    }
    let good = idp
        .issuer
        .mint(&admin, public, Duration::from_secs(600))
        .expect("mint");
    initialize(&http, &server, &good).await;
    // The RFC 9728 document names the public URL.
    let metadata: Value = http
        .get(format!(
            "http://{}/.well-known/oauth-protected-resource/mcp",
            server.local_addr
        ))
        .send()
        .await
        .expect("metadata")
        .json()
        .await
        .expect("json");
    assert_eq!(metadata["resource"], public);
    server.shutdown().await;
    idp.shutdown().await;
}

#[tokio::test]
async fn demo_tokens_are_for_the_public_url_and_live_one_hour() {
    let server = server(HttpOptions::default()).await;
    let token = common::demo_token(&server, "alice");
    let claims = token.split('.').nth(1).expect("claims");
    let claims: Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, claims)
            .expect("base64"),
    )
    .expect("json");
    assert_eq!(claims["aud"], server.public_url);
    let lifetime = claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap();
    assert_eq!(lifetime, 3600);
    server.shutdown().await;
}

fn refused(args: &[&str]) -> String {
    let output = Command::new(BIN)
        .args(args)
        .env_remove("MCP_OTEL")
        .output()
        .expect("runs");
    assert!(!output.status.success(), "{args:?} must not start");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn unsafe_start_up_configurations_are_refused_with_a_clear_message() {
    let stderr = refused(&["--bind", "0.0.0.0", "--port", "0"]);
    assert!(
        stderr.contains("refusing to bind 0.0.0.0") && stderr.contains("--insecure-public-bind"),
        "{stderr}"
    );
    let stderr = refused(&["--bind", "0.0.0.0", "--port", "0", "--no-auth"]);
    assert!(stderr.contains("--no-auth"), "{stderr}");
    let stderr = refused(&["--port", "0", "--jwks-url", "http://127.0.0.1:9/jwks"]);
    assert!(stderr.contains("--jwks-url needs --issuer"), "{stderr}");
    let stderr = refused(&["--port", "0", "--userinfo-url", "http://127.0.0.1:9/me"]);
    assert!(stderr.contains("--userinfo-without-audience"), "{stderr}");
    let stderr = refused(&["--port", "0", "--oidc-issuer", "http://idp.example.com"]);
    assert!(stderr.contains("must use https"), "{stderr}");
}
