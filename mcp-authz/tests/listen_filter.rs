//! `subscriptions/listen` (MCP 2026-07-28) over Streamable HTTP behind `AuthLayer` and
//! `AuthzHandler`: the acknowledgement names only the subscriptions the caller may read, and
//! without the HTTP filter a request naming a forbidden resource is refused as a whole.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use mcp_authz::{
    AuthError, AuthLayer, AuthzHandler, Principal, Requirement, StaticPolicy, TokenVerifier,
};
use mcp_patterns_test_support::Served;
use rmcp::ServerHandler;
use rmcp::model::{ServerCapabilities, ServerConfig, SubscriptionFilter};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use serde_json::{Value, json};

/// Accepts every subscription it is asked for; what the caller may read is not its business.
#[derive(Clone)]
struct Subscribable;

impl ServerHandler for Subscribable {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_resources()
                .enable_resources_subscribe()
                .build(),
        )
    }

    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        Some(requested.clone())
    }
}

/// `Bearer alice` is alice, with a token that does not say when it expires; `Bearer
/// short-lived` is a user whose token expires one second after it is verified.
struct Names;

#[async_trait::async_trait]
impl TokenVerifier for Names {
    async fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        let mut principal = Principal::new(token).with_scopes(["mcp:access"]);
        if token == "short-lived" {
            principal.expires_at = Some(SystemTime::now() + Duration::from_secs(1));
        }
        Ok(principal)
    }
}

async fn serve(with_filter: bool) -> Served {
    let authz = AuthzHandler::builder(Subscribable)
        .policy(StaticPolicy::new().resource("cache://firewalls/app-alpha", Requirement::none()))
        .build();
    let filter = authz.listen_filter_layer();
    let service: StreamableHttpService<AuthzHandler<Subscribable>, LocalSessionManager> =
        StreamableHttpService::new(
            move || Ok(authz.clone()),
            Arc::new(LocalSessionManager::default()),
            StreamableHttpServerConfig::default(),
        );
    let mut app = axum::Router::new().nest_service("/mcp", service);
    if with_filter {
        app = app.layer(filter);
    }
    Served::start(app.layer(AuthLayer::new(Names))).await
}

/// Sends a 2026-07-28 listen request as alice and collects the SSE data lines for up to `wait`.
async fn listen(served: &Served, uris: &[&str], wait: Duration) -> Vec<Value> {
    listen_as(served, "alice", uris, wait).await
}

/// [`listen`] with the bearer token `token`.
async fn listen_as(served: &Served, token: &str, uris: &[&str], wait: Duration) -> Vec<Value> {
    listen_body(served, token, listen_request(uris).to_string(), wait).await
}

/// A 2026-07-28 `subscriptions/listen` request (id 9) for `uris`.
fn listen_request(uris: &[&str]) -> Value {
    json!({
        "jsonrpc": "2.0", "id": 9, "method": "subscriptions/listen",
        "params": {
            "notifications": { "resourceSubscriptions": uris },
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientInfo": { "name": "listen-test", "version": "0" },
                "io.modelcontextprotocol/clientCapabilities": {},
            }
        }
    })
}

/// Posts `body` as a listen request with the bearer token `token` and collects the SSE data
/// lines for up to `wait`.
async fn listen_body(served: &Served, token: &str, body: String, wait: Duration) -> Vec<Value> {
    let mut response = reqwest::Client::new()
        .post(served.url("/mcp"))
        .bearer_auth(token)
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "subscriptions/listen")
        .body(body)
        .send()
        .await
        .expect("POST");
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + wait;
    while let Ok(Ok(Some(chunk))) = tokio::time::timeout_at(deadline, response.chunk()).await {
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    if !text.contains("data:") {
        // A JSON (non-stream) answer.
        return serde_json::from_str(&text).into_iter().collect();
    }
    text.lines()
        .filter_map(|line| line.strip_prefix("data:"))
        .filter_map(|data| serde_json::from_str(data.trim()).ok())
        .collect()
}

#[tokio::test]
async fn the_acknowledgement_names_only_what_the_caller_may_read() {
    let served = serve(true).await;
    let messages = listen(
        &served,
        &["cache://firewalls/app-alpha", "cache://firewalls/app-beta"],
        Duration::from_secs(2),
    )
    .await;
    let ack = messages
        .iter()
        .find(|m| {
            m["method"]
                .as_str()
                .is_some_and(|m| m.contains("acknowledged"))
        })
        .unwrap_or_else(|| panic!("no acknowledgement in {messages:?}"));
    assert_eq!(
        ack["params"]["notifications"]["resourceSubscriptions"],
        json!(["cache://firewalls/app-alpha"]),
        "{ack}"
    );
    assert!(
        !serde_json::to_string(&messages)
            .unwrap()
            .contains("app-beta"),
        "nothing names the forbidden resource: {messages:?}"
    );
}

/// The acknowledgement's resource subscriptions, or the messages when there is none.
fn acknowledged(messages: &[Value]) -> Result<&Value, String> {
    messages
        .iter()
        .find(|m| {
            m["method"]
                .as_str()
                .is_some_and(|m| m.contains("acknowledged"))
        })
        .map(|ack| &ack["params"]["notifications"]["resourceSubscriptions"])
        .ok_or_else(|| format!("no acknowledgement in {messages:?}"))
}

#[tokio::test]
async fn a_request_whose_json_escapes_its_strings_is_filtered_the_same() {
    // JSON may escape any character of a string, and some encoders escape `/` by default: rmcp
    // reads `subscriptions\/listen` as `subscriptions/listen`, so the filter must as well.
    let served = serve(true).await;
    let uris = ["cache://firewalls/app-alpha", "cache://firewalls/app-beta"];
    let plain = listen_request(&uris).to_string();
    let escaped_slashes = plain.replace('/', "\\/");
    let escaped_letters = plain
        .replace("subscriptions/listen", "\\u0073ubscriptions/listen")
        .replace("app-beta", "app-\\u0062eta");
    for body in [escaped_slashes, escaped_letters] {
        let messages = listen_body(&served, "alice", body.clone(), Duration::from_secs(2)).await;
        let subscriptions = acknowledged(&messages).unwrap_or_else(|e| panic!("{body}: {e}"));
        assert_eq!(
            subscriptions,
            &json!(["cache://firewalls/app-alpha"]),
            "{body}: {messages:?}"
        );
    }
}

#[tokio::test]
async fn without_the_filter_a_forbidden_subscription_is_refused_and_never_served() {
    let served = serve(false).await;
    let messages = listen(
        &served,
        &["cache://firewalls/app-alpha", "cache://firewalls/app-beta"],
        Duration::from_secs(2),
    )
    .await;
    let error = messages
        .iter()
        .find(|m| m.get("error").is_some() && m["id"] == 9)
        .unwrap_or_else(|| panic!("no error for the listen request in {messages:?}"));
    assert!(
        error["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("not found")),
        "{error}"
    );
}

/// The final `subscriptions/listen` result (request id 9): the server ended the stream.
fn final_result(messages: &[Value]) -> Option<&Value> {
    messages
        .iter()
        .find(|m| m["id"] == 9 && m.get("result").is_some())
}

#[tokio::test]
async fn the_stream_ends_when_the_token_it_was_authorized_with_expires() {
    let served = serve(true).await;
    let started = Instant::now();
    let messages = listen_as(
        &served,
        "short-lived",
        &["cache://firewalls/app-alpha"],
        Duration::from_secs(20),
    )
    .await;
    assert!(
        final_result(&messages).is_some(),
        "the server ended the stream with its final result: {messages:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "ended at the token's expiry, not at the client's wait"
    );
}

#[tokio::test]
async fn a_stream_with_a_live_token_stays_open() {
    let served = serve(true).await;
    let messages = listen(
        &served,
        &["cache://firewalls/app-alpha"],
        Duration::from_secs(3),
    )
    .await;
    assert!(
        final_result(&messages).is_none(),
        "still open after 3 s: {messages:?}"
    );
    assert!(
        messages.iter().any(|m| m["method"]
            .as_str()
            .is_some_and(|m| m.contains("acknowledged"))),
        "{messages:?}"
    );
}
