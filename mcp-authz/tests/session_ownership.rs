//! `SessionOwnershipLayer` in front of an rmcp Streamable HTTP service: a session answers only the
//! principal (issuer, subject, client) that initialized it, everyone else gets rmcp's own
//! unknown-session answer and an audit span, and owners can live in a store of the user's.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use mcp_authz::{
    AuthError, AuthLayer, OwnerStoreError, Principal, SessionLimits, SessionOwner,
    SessionOwnerStore, SessionOwnershipLayer, TokenVerifier,
};
use mcp_patterns_test_support::Served;
use mcp_patterns_test_support::capture::Capture;
use rmcp::ServerHandler;
use rmcp::model::{ServerCapabilities, ServerConfig};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use serde_json::json;
use tracing_subscriber::Registry;
use tracing_subscriber::layer::SubscriberExt;

#[derive(Clone)]
struct Tools;

impl ServerHandler for Tools {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }
}

/// `alice` and `alice-renewed` are alice at idp.a, `alice-elsewhere` is a user called alice at
/// another issuer, anything else is a user of that name at idp.a.
struct Names;

#[async_trait::async_trait]
impl TokenVerifier for Names {
    async fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        let (subject, issuer) = match token {
            "alice" | "alice-renewed" => ("alice", "https://idp.a"),
            "alice-elsewhere" => ("alice", "https://idp.b"),
            other => (other, "https://idp.a"),
        };
        let mut principal = Principal::new(subject).with_client_id("app");
        principal.issuer = Some(issuer.into());
        Ok(principal)
    }
}

/// An owner store of the user's, recording what the layer asks of it.
#[derive(Default)]
struct Recording {
    owners: Mutex<HashMap<String, SessionOwner>>,
    forgotten: Mutex<Vec<String>>,
}

#[async_trait::async_trait]
impl SessionOwnerStore for Recording {
    async fn owner(&self, id: &str) -> Result<Option<SessionOwner>, OwnerStoreError> {
        Ok(self.owners.lock().unwrap().get(id).cloned())
    }
    async fn record(&self, id: &str, owner: &SessionOwner) -> Result<(), OwnerStoreError> {
        self.owners
            .lock()
            .unwrap()
            .insert(id.to_owned(), owner.clone());
        Ok(())
    }
    async fn forget(&self, id: &str) -> Result<(), OwnerStoreError> {
        self.owners.lock().unwrap().remove(id);
        self.forgotten.lock().unwrap().push(id.to_owned());
        Ok(())
    }
}

async fn serve(store: Arc<Recording>) -> Served {
    let service: StreamableHttpService<Tools, LocalSessionManager> = StreamableHttpService::new(
        || Ok(Tools),
        Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default(),
    );
    let app = axum::Router::new()
        .nest_service("/mcp", service)
        .layer(SessionOwnershipLayer::with_store(
            SessionLimits::default(),
            store,
        ))
        .layer(AuthLayer::new(Names));
    Served::start(app).await
}

fn request(
    served: &Served,
    method: reqwest::Method,
    token: &str,
    session: Option<&str>,
) -> reqwest::RequestBuilder {
    let mut request = reqwest::Client::new()
        .request(method, served.url("/mcp"))
        .bearer_auth(token)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-11-25");
    if let Some(session) = session {
        request = request.header("mcp-session-id", session);
    }
    request
}

async fn answer(request: reqwest::RequestBuilder) -> (u16, String) {
    let response = request.send().await.expect("request");
    (
        response.status().as_u16(),
        response.text().await.unwrap_or_default(),
    )
}

fn tools_list() -> serde_json::Value {
    json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"})
}

#[tokio::test]
async fn only_the_owner_reaches_a_session_and_others_are_audited() {
    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(Registry::default().with(capture.clone()));
    let store = Arc::new(Recording::default());
    let served = serve(Arc::clone(&store)).await;

    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "ownership-test", "version": "0"}}});
    let response = request(&served, reqwest::Method::POST, "alice", None)
        .json(&init)
        .send()
        .await
        .expect("initialize");
    assert!(response.status().is_success());
    let session = response.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let _ = response.bytes().await;
    assert_eq!(
        store.owners.lock().unwrap().get(&session),
        Some(&SessionOwner {
            issuer: Some("https://idp.a".into()),
            subject: "alice".into(),
            client_id: Some("app".into()),
        })
    );
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let (status, _) =
        answer(request(&served, reqwest::Method::POST, "alice", Some(&session)).json(&initialized))
            .await;
    assert_eq!(status, 202);

    let unknown =
        answer(request(&served, reqwest::Method::POST, "bob", Some("made-up")).json(&tools_list()))
            .await;
    assert_eq!(unknown, (404, "Not Found: Session not found".to_owned()));
    for token in ["bob", "alice-elsewhere"] {
        for method in [
            reqwest::Method::POST,
            reqwest::Method::GET,
            reqwest::Method::DELETE,
        ] {
            let got =
                answer(request(&served, method.clone(), token, Some(&session)).json(&tools_list()))
                    .await;
            assert_eq!(got, unknown, "{token} {method}");
        }
    }
    let refusals: Vec<_> = capture
        .spans_named("auth.check_scope")
        .into_iter()
        .filter(|s| s.get("auth.reason").map(String::as_str) == Some("session_owner_mismatch"))
        .collect();
    assert_eq!(refusals.len(), 7, "one audit span per refused request");
    assert!(
        refusals
            .iter()
            .any(|s| s.get("enduser.id").map(String::as_str) == Some("bob"))
    );

    let (status, body) = answer(
        request(
            &served,
            reqwest::Method::POST,
            "alice-renewed",
            Some(&session),
        )
        .json(&tools_list()),
    )
    .await;
    assert_eq!(status, 200, "the owner with a renewed token: {body}");

    let (status, _) = answer(request(
        &served,
        reqwest::Method::DELETE,
        "alice",
        Some(&session),
    ))
    .await;
    assert!(matches!(status, 200 | 202), "{status}");
    assert_eq!(*store.forgotten.lock().unwrap(), [session]);
    assert!(store.owners.lock().unwrap().is_empty());
}
