//! Audit (requirement A13): every decision is an `auth.verify_token` / `auth.check_scope` span
//! with `enduser.id`, scopes, tool, decision and reason — and the token appears nowhere.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use mcp_authz::{
    AuthzHandler, JwtVerifier, KeySet, Principal, Requirement, StaticPolicy, TokenVerifier,
    VerificationKey,
};
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use serde_json::json;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::{Layer, Registry};

mod common;

type Spans = Arc<Mutex<Vec<(u64, String, HashMap<String, String>)>>>;

#[derive(Clone, Default)]
struct Capture {
    spans: Spans,
    events: Arc<Mutex<Vec<HashMap<String, String>>>>,
}

struct Fields<'a>(&'a mut HashMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.0.insert(
            field.name().to_owned(),
            format!("{value:?}").trim_matches('"').to_owned(),
        );
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl<S: tracing::Subscriber> Layer<S> for Capture {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, _: Context<'_, S>) {
        let mut fields = HashMap::new();
        attrs.record(&mut Fields(&mut fields));
        self.spans.lock().unwrap().push((
            id.into_u64(),
            attrs.metadata().name().to_owned(),
            fields,
        ));
    }
    fn on_record(&self, id: &Id, values: &Record<'_>, _: Context<'_, S>) {
        let mut spans = self.spans.lock().unwrap();
        if let Some((_, _, fields)) = spans.iter_mut().rev().find(|(i, _, _)| *i == id.into_u64()) {
            values.record(&mut Fields(fields));
        }
    }
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let mut fields = HashMap::new();
        event.record(&mut Fields(&mut fields));
        self.events.lock().unwrap().push(fields);
    }
}

impl Capture {
    fn spans_named(&self, name: &str) -> Vec<HashMap<String, String>> {
        self.spans
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, n, _)| n == name)
            .map(|(_, _, f)| f.clone())
            .collect()
    }

    fn mentions(&self, needle: &str) -> bool {
        let in_spans = self
            .spans
            .lock()
            .unwrap()
            .iter()
            .any(|(_, _, f)| f.values().any(|v| v.contains(needle)));
        let in_events = self
            .events
            .lock()
            .unwrap()
            .iter()
            .any(|f| f.values().any(|v| v.contains(needle)));
        in_spans || in_events
    }
}

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
    let (server_io, client_io) = tokio::io::duplex(64 * 1024);
    tokio::spawn(async move {
        if let Ok(server) = handler.serve(server_io).await {
            let _ = server.waiting().await;
        }
    });
    let client = ().serve(client_io).await.expect("connect");
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
