//! The three cache scopes over real Streamable HTTP sessions: every tool and resource answers
//! only with the caller's applications, admin tools are refused to others, and the downstream
//! sees the number of calls each scope promises.
//!
//! The callers here come from a test middleware that maps `Authorization: Bearer <demo user>` to
//! that user's entitlements, standing in for token verification (tested in mcp-authz and in
//! `tests/authorized_http.rs`).

mod common;

use axum::serve::ListenerExt as _;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::Response;
use common::{app_names, call, text};
use mcp_patterns_example::access::Caller;
use mcp_patterns_example::data::{CacheScope, CacheSettings, FirewallCache};
use mcp_patterns_example::devidp::demo_users;
use mcp_patterns_example::downstream::{self, DownstreamClient, FirewallStore, RunningDownstream};
use mcp_patterns_example::server::{FirewallServer, caller_from_extensions};
use rmcp::model::ReadResourceRequestParams;
use rmcp::service::RunningService;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// Sets `TCP_NODELAY` on an accepted connection, as every server should: otherwise the last small
/// write of each response waits for the client's delayed ACK (about 40 ms on a kept-alive
/// connection).
fn nodelay(tcp: &mut tokio::net::TcpStream) {
    let _ = tcp.set_nodelay(true);
}

/// The demo user named by the bearer token, as a caller.
fn caller_for(name: &str) -> Option<Caller> {
    demo_users()
        .into_iter()
        .find(|u| u.subject == name)
        .map(|u| {
            let admin = u.roles.iter().any(|r| r == "admin");
            Caller::with_apps(u.subject, u.applications, admin)
        })
}

async fn identify(mut request: Request, next: Next) -> Response {
    let caller = request
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .and_then(caller_for);
    if let Some(caller) = caller {
        request.extensions_mut().insert(caller);
    }
    next.run(request).await
}

struct Stack {
    url: String,
    downstream: RunningDownstream,
    data: FirewallCache,
    ct: CancellationToken,
}

async fn start(scope: CacheScope) -> Stack {
    start_with(CacheSettings {
        scope,
        ..CacheSettings::default()
    })
    .await
}

async fn start_with(settings: CacheSettings) -> Stack {
    let downstream = downstream::serve(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        FirewallStore::seeded(),
    )
    .await
    .expect("downstream");
    let client = DownstreamClient::new(&downstream.url);
    let data = FirewallCache::build(client.clone(), &settings)
        .await
        .expect("cache");
    // No fallback caller: a request without one is refused.
    let server = FirewallServer::with_callers(data.clone(), client, caller_from_extensions);
    // The tools and, beside them, the cache's resources (what the reference server serves).
    let handler = tower::Layer::layer(&server.resources_layer(), server);
    let ct = CancellationToken::new();
    let service: StreamableHttpService<_, LocalSessionManager> = StreamableHttpService::new(
        move || Ok(handler.clone()),
        Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default().with_cancellation_token(ct.child_token()),
    );
    let app = axum::Router::new()
        .nest_service("/mcp", service)
        .layer(middleware::from_fn(identify));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/mcp", listener.local_addr().expect("addr"));
    let stop = ct.clone();
    tokio::spawn(async move {
        let _ = axum::serve(listener.tap_io(nodelay), app)
            .with_graceful_shutdown(stop.cancelled_owned())
            .await;
    });
    Stack {
        url,
        downstream,
        data,
        ct,
    }
}

async fn connect(url: &str, user: &str) -> RunningService<RoleClient, ()> {
    let config = StreamableHttpClientTransportConfig::with_uri(url.to_owned()).auth_header(user);
    ().serve(StreamableHttpClientTransport::from_config(config))
        .await
        .expect("initialize")
}

async fn read(client: &RunningService<RoleClient, ()>, uri: &str) -> Result<Value, String> {
    client
        .read_resource(ReadResourceRequestParams::new(uri))
        .await
        .map_err(|e| e.to_string())
        .map(|result| {
            let text = match &result.contents[0] {
                rmcp::model::ResourceContents::TextResourceContents { text, .. } => text.clone(),
                other => panic!("expected text contents, got {other:?}"),
            };
            serde_json::from_str(&text).expect("json resource")
        })
}

/// Admin tools: refused to a developer, done for the admin.
async fn check_admin_tools(
    stack: &Stack,
    alice: &RunningService<RoleClient, ()>,
    ada: &RunningService<RoleClient, ()>,
    scope: CacheScope,
) {
    let denied = alice
        .call_tool(call("refresh_cache", json!({})))
        .await
        .expect("result");
    assert_eq!(denied.is_error, Some(true));
    assert!(
        text(&denied).contains("requires the admin role"),
        "{}",
        text(&denied)
    );
    stack.downstream.store.replace("app-gamma", Vec::new());
    let reset = ada
        .call_tool(call("reset_firewall", json!({ "app_name": "app-gamma" })))
        .await
        .expect("reset");
    assert_ne!(reset.is_error, Some(true), "{}", text(&reset));
    let gamma = ada
        .call_tool(call(
            "get_firewall_rule",
            json!({ "app_name": "app-gamma" }),
        ))
        .await
        .expect("gamma");
    assert_eq!(
        gamma.structured_content.expect("structured")["rules"]
            .as_array()
            .expect("rules")
            .len(),
        2,
        "{scope:?}: reset restored the seeded rules and refreshed the cache"
    );
}

async fn check_isolation(scope: CacheScope) {
    let stack = start(scope).await;
    let alice = connect(&stack.url, "alice").await;
    let victor = connect(&stack.url, "victor").await;
    let ada = connect(&stack.url, "ada").await;
    let nobody = connect(&stack.url, "nobody").await;

    for (client, expected) in [
        (&alice, vec!["app-alpha"]),
        (&victor, vec!["app-beta"]),
        (&ada, vec!["app-alpha", "app-beta", "app-gamma"]),
        (&nobody, vec![]),
    ] {
        let listed = client
            .call_tool(call("list_firewall_rules", json!({})))
            .await
            .expect("list");
        assert_ne!(listed.is_error, Some(true), "{scope:?}: {}", text(&listed));
        assert_eq!(app_names(&listed), expected, "{scope:?}");
        let whole = read(client, "cache://firewalls")
            .await
            .expect("whole resource");
        let mut names: Vec<&str> = whole["apps"]
            .as_array()
            .expect("apps")
            .iter()
            .map(|a| a["app_name"].as_str().expect("name"))
            .collect();
        names.sort_unstable();
        assert_eq!(names, expected, "{scope:?}: cache://firewalls");
    }

    // Layer 4: a clear refusal for an application without entitlement...
    let refused = alice
        .call_tool(call("get_firewall_rule", json!({ "app_name": "app-beta" })))
        .await
        .expect("a tool error is a result");
    assert_eq!(refused.is_error, Some(true));
    assert_eq!(
        text(&refused),
        "no entitlement for application 'app-beta' (needs 'read')"
    );
    let own = alice
        .call_tool(call(
            "get_firewall_rule",
            json!({ "app_name": "app-alpha" }),
        ))
        .await
        .expect("own app");
    assert_eq!(
        own.structured_content.expect("structured")["app_name"],
        "app-alpha"
    );
    // ...and resources of other applications are indistinguishable from missing ones.
    let other = read(&alice, "cache://firewalls/app-beta")
        .await
        .expect_err("not entitled");
    let missing = read(&alice, "cache://firewalls/app-omega")
        .await
        .expect_err("missing");
    assert_eq!(
        other.replace("app-beta", "X"),
        missing.replace("app-omega", "X"),
        "{scope:?}"
    );
    let listed = alice.list_all_resources().await.expect("resources/list");
    let uris: Vec<&str> = listed.iter().map(|r| r.uri.as_str()).collect();
    assert!(uris.contains(&"cache://firewalls/app-alpha"), "{uris:?}");
    assert!(
        !uris
            .iter()
            .any(|u| u.ends_with("app-beta") || u.ends_with("app-gamma")),
        "{uris:?}"
    );

    check_admin_tools(&stack, &alice, &ada, scope).await;

    for client in [alice, victor, ada, nobody] {
        client.cancel().await.expect("close");
    }
    stack.ct.cancel();
    stack.downstream.shutdown().await;
}

#[tokio::test]
async fn server_scope_isolates_callers() {
    check_isolation(CacheScope::Server).await;
}

#[tokio::test]
async fn session_scope_isolates_callers() {
    check_isolation(CacheScope::Session).await;
}

#[tokio::test]
async fn hybrid_scope_isolates_callers() {
    check_isolation(CacheScope::Hybrid).await;
}

/// What each scope costs the downstream: three users each list their rules twice.
#[tokio::test]
async fn downstream_calls_per_scope() {
    for (scope, expected_calls, expected_user_caches) in [
        // One bulk fetch at start, shared by all.
        (CacheScope::Server, 1, 0),
        // One fetch per entitled app per user: alice 1, victor 1, ada 3.
        (CacheScope::Session, 5, 3),
        // One bulk fetch, plus one per-user call per user for their overlay.
        (CacheScope::Hybrid, 4, 3),
    ] {
        let stack = start(scope).await;
        for user in ["alice", "victor", "ada"] {
            let client = connect(&stack.url, user).await;
            for _ in 0..2 {
                let listed = client
                    .call_tool(call("list_firewall_rules", json!({})))
                    .await
                    .expect("list");
                assert_ne!(listed.is_error, Some(true));
            }
            client.cancel().await.expect("close");
        }
        assert_eq!(
            stack.downstream.store.requests(),
            expected_calls,
            "{scope:?}"
        );
        assert_eq!(stack.data.user_caches(), expected_user_caches, "{scope:?}");
        stack.ct.cancel();
        stack.downstream.shutdown().await;
    }
}

#[tokio::test]
async fn a_request_without_a_caller_is_refused() {
    let stack = start(CacheScope::Server).await;
    let anonymous =
        ().serve(StreamableHttpClientTransport::from_uri(stack.url.clone()))
            .await
            .expect("initialize");
    let result = anonymous
        .call_tool(call("list_firewall_rules", json!({})))
        .await
        .expect("result");
    assert_eq!(result.is_error, Some(true));
    assert!(
        text(&result).contains("unauthenticated"),
        "{}",
        text(&result)
    );
    anonymous.cancel().await.expect("close");
    stack.ct.cancel();
    stack.downstream.shutdown().await;
}

/// The ids of the change requests in a `list_firewall_rules` result; `None` without the field.
async fn list(client: &RunningService<RoleClient, ()>) -> rmcp::model::CallToolResult {
    client
        .call_tool(call("list_firewall_rules", json!({})))
        .await
        .expect("list")
}

fn change_request_ids(result: &rmcp::model::CallToolResult) -> Option<Vec<String>> {
    let value = result.structured_content.as_ref().expect("structured");
    value.get("change_requests").map(|list| {
        list.as_array()
            .expect("array")
            .iter()
            .map(|r| r["id"].as_str().expect("id").to_owned())
            .collect()
    })
}

/// The hybrid scope's overlay is the user's own data, fetched from the downstream's per-user
/// endpoint with the user's identity, kept to the applications the user may read, refreshed on
/// its own TTL (the shared base is not refetched), and bounded.
#[tokio::test]
async fn hybrid_overlay_is_per_user_data_on_its_own_ttl() {
    let stack = start_with(CacheSettings {
        scope: CacheScope::Hybrid,
        overlay_ttl: std::time::Duration::from_secs(1),
        max_users: 2,
        ..CacheSettings::default()
    })
    .await;
    let alice = connect(&stack.url, "alice").await;
    // cr-1002 is alice's own, but on app-beta, which she may not read.
    assert_eq!(
        change_request_ids(&list(&alice).await),
        Some(vec!["cr-1001".to_owned()])
    );
    let victor = connect(&stack.url, "victor").await;
    assert_eq!(
        change_request_ids(&list(&victor).await),
        Some(vec!["cr-2001".to_owned()])
    );
    assert_eq!(stack.downstream.store.user_requests(), 2);

    stack.downstream.store.add_change_request(
        "alice",
        mcp_patterns_example::model::ChangeRequest {
            id: "cr-1003".into(),
            app_name: "app-alpha".into(),
            summary: "allow icmp from 10.0.0.0/8".into(),
            status: "pending".into(),
        },
    );
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let ids = change_request_ids(&list(&alice).await).expect("field");
        if ids == ["cr-1001", "cr-1003"] {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the overlay did not refresh: {ids:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let store = &stack.downstream.store;
    // The base was fetched once; everything else went to the per-user endpoint.
    assert_eq!(store.requests() - store.user_requests(), 1);

    // At most two overlays are kept: a third user pushes one out.
    let ada = connect(&stack.url, "ada").await;
    assert_eq!(
        change_request_ids(&list(&ada).await),
        Some(vec!["cr-3001".to_owned()])
    );
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    while stack.data.user_caches() > 2 {
        assert!(tokio::time::Instant::now() < deadline, "not bounded");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    for client in [alice, victor, ada] {
        client.cancel().await.expect("close");
    }
    stack.ct.cancel();
    stack.downstream.shutdown().await;
}

/// Only the hybrid scope has an overlay: the others answer without the field.
#[tokio::test]
async fn other_scopes_have_no_overlay() {
    for scope in [CacheScope::Server, CacheScope::Session] {
        let stack = start(scope).await;
        let alice = connect(&stack.url, "alice").await;
        let listed = alice
            .call_tool(call("list_firewall_rules", json!({})))
            .await
            .expect("list");
        assert_eq!(change_request_ids(&listed), None, "{scope:?}");
        assert_eq!(stack.downstream.store.user_requests(), 0, "{scope:?}");
        alice.cancel().await.expect("close");
        stack.ct.cancel();
        stack.downstream.shutdown().await;
    }
}
