//! Resource subscriptions on the reference server (`resources/subscribe`, legacy sessions): a
//! session subscribes to the applications it may read and is told when a refresh changes one of
//! them, and of nothing else; another user's application and the whole list are refused with
//! clear errors; in the session scope a subscription follows the caller's own cache. The
//! cross-replica case (a refresh on another replica, through Redis) is in `scale_out.rs`, the
//! 2026-07-28 `subscriptions/listen` streams in `protocol_2026.rs`.

// `resources/subscribe` is the legacy (pre-2026-07-28) protocol, which rmcp marks deprecated:
// it is what these sessions speak.
#![allow(deprecated)]

mod common;

use std::time::Duration;

use common::{Recorder, call, demo_token};
use mcp_patterns_example::RunningHttp;
use mcp_patterns_example::data::CacheScope;
use mcp_patterns_example::downstream::RunningDownstream;
use mcp_patterns_example::model::{Action, Direction, FirewallRule};
use rmcp::model::{ErrorCode, SubscribeRequestParams, UnsubscribeRequestParams};
use rmcp::service::RunningService;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{RoleClient, ServiceExt};
use serde_json::json;
use tokio::sync::mpsc;

async fn start(scope: CacheScope) -> (RunningDownstream, RunningHttp) {
    // Refreshes come from `refresh_cache` in these tests, not from the clock.
    start_with(scope, Duration::from_secs(3600)).await
}

async fn start_with(scope: CacheScope, ttl: Duration) -> (RunningDownstream, RunningHttp) {
    common::start_over_downstream(scope, ttl, false).await
}

async fn recording_client(
    server: &RunningHttp,
    user: &str,
) -> (
    RunningService<RoleClient, Recorder>,
    mpsc::UnboundedReceiver<String>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let config = StreamableHttpClientTransportConfig::with_uri(server.mcp_url.clone())
        .auth_header(demo_token(server, user));
    let client = Recorder(tx)
        .serve(StreamableHttpClientTransport::from_config(config))
        .await
        .expect("session");
    (client, rx)
}

fn rule(id: &str) -> FirewallRule {
    FirewallRule {
        id: id.into(),
        direction: Direction::Ingress,
        protocol: "tcp".into(),
        ports: "9443".into(),
        cidr: "10.42.0.0/16".into(),
        action: Action::Allow,
        description: "changed while a client is subscribed".into(),
    }
}

/// Forces a refresh as the admin and waits until it has been applied.
async fn refresh(server: &RunningHttp) {
    let admin = common::connect(&server.mcp_url, Some(&demo_token(server, "ada"))).await;
    let result = admin
        .call_tool(call("refresh_cache", json!({})))
        .await
        .expect("refresh_cache");
    assert_ne!(result.is_error, Some(true), "{result:?}");
    let _ = admin.cancel().await;
}

/// Every URI received within `wait`.
async fn drain(rx: &mut mpsc::UnboundedReceiver<String>, wait: Duration) -> Vec<String> {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + wait;
    while let Ok(Some(uri)) = tokio::time::timeout_at(deadline, rx.recv()).await {
        seen.push(uri);
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_hears_of_changes_to_its_applications_only() {
    let (downstream, server) = start(CacheScope::Server).await;
    let (alice, mut updates) = recording_client(&server, "alice").await;
    let capabilities = alice
        .peer_info()
        .and_then(|info| info.capabilities.resources.clone())
        .expect("resources capability");
    assert_eq!(capabilities.subscribe, Some(true), "{capabilities:?}");

    alice
        .subscribe(SubscribeRequestParams::new("cache://firewalls/app-alpha"))
        .await
        .expect("alice may subscribe to her application");

    // Another user's application answers exactly like a missing one.
    for uri in [
        "cache://firewalls/app-beta",
        "cache://firewalls/no-such-app",
    ] {
        let error = alice
            .subscribe(SubscribeRequestParams::new(uri))
            .await
            .expect_err(uri);
        let rmcp::ServiceError::McpError(error) = error else {
            panic!("{uri}: {error:?}");
        };
        assert_eq!(
            error.code,
            ErrorCode::RESOURCE_NOT_FOUND,
            "{uri}: {error:?}"
        );
    }
    // The whole list would reveal when other users' applications change.
    let error = alice
        .subscribe(SubscribeRequestParams::new("cache://firewalls"))
        .await
        .expect_err("the list");
    let rmcp::ServiceError::McpError(error) = error else {
        panic!("{error:?}");
    };
    assert_eq!(error.code, ErrorCode::INVALID_PARAMS, "{error:?}");
    assert!(
        error.message.contains("cache://firewalls/{app}"),
        "{error:?}"
    );

    // A change to another application: refreshed, but alice hears nothing.
    downstream.store.replace("app-beta", vec![rule("beta-1")]);
    refresh(&server).await;
    assert_eq!(
        drain(&mut updates, Duration::from_millis(500)).await,
        Vec::<String>::new()
    );

    // A change to hers: one notification, for her URI.
    downstream.store.replace("app-alpha", vec![rule("alpha-1")]);
    refresh(&server).await;
    assert_eq!(
        drain(&mut updates, Duration::from_secs(2)).await,
        vec!["cache://firewalls/app-alpha".to_owned()]
    );

    // A refresh that changes nothing: no notification.
    refresh(&server).await;
    assert_eq!(
        drain(&mut updates, Duration::from_millis(500)).await,
        Vec::<String>::new()
    );

    // After unsubscribing: nothing either.
    alice
        .unsubscribe(UnsubscribeRequestParams::new("cache://firewalls/app-alpha"))
        .await
        .expect("unsubscribe");
    downstream.store.replace("app-alpha", vec![rule("alpha-2")]);
    refresh(&server).await;
    assert_eq!(
        drain(&mut updates, Duration::from_millis(500)).await,
        Vec::<String>::new()
    );

    let _ = alice.cancel().await;
    server.shutdown().await;
    downstream.shutdown().await;
}

/// A refresh that changes alice's application and adds one only ada may read: alice hears of
/// her URI, and victor, subscribed to his own application and listing resources like alice,
/// receives no notification of any kind — no URI, no name, no list change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_not_entitled_to_a_change_receives_nothing() {
    let (downstream, server) = start(CacheScope::Server).await;
    let (alice, mut alice_updates) = recording_client(&server, "alice").await;
    let (victor, mut victor_updates) = recording_client(&server, "victor").await;
    for (client, uri) in [
        (&alice, "cache://firewalls/app-alpha"),
        (&victor, "cache://firewalls/app-beta"),
    ] {
        client
            .subscribe(SubscribeRequestParams::new(uri))
            .await
            .expect("subscribe to one's own application");
        let listed = client.list_all_resources().await.expect("resources/list");
        assert!(listed.iter().any(|r| r.uri == uri), "{listed:?}");
    }

    downstream.store.replace("app-alpha", vec![rule("alpha-1")]);
    downstream.store.replace("app-delta", vec![rule("delta-1")]);
    refresh(&server).await;
    assert_eq!(
        drain(&mut alice_updates, Duration::from_secs(2)).await,
        vec!["cache://firewalls/app-alpha".to_owned()]
    );
    assert_eq!(
        drain(&mut victor_updates, Duration::from_millis(500)).await,
        Vec::<String>::new()
    );
    let _ = alice.cancel().await;
    let _ = victor.cancel().await;
    server.shutdown().await;
    downstream.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_the_session_scope_a_subscription_follows_the_callers_own_cache() {
    // Each user's cache refreshes on its own clock: a short TTL, no admin refresh.
    let (downstream, server) = start_with(CacheScope::Session, Duration::from_secs(1)).await;
    let (alice, mut alice_updates) = recording_client(&server, "alice").await;
    let (victor, mut victor_updates) = recording_client(&server, "victor").await;
    let capabilities = alice
        .peer_info()
        .and_then(|info| info.capabilities.resources.clone())
        .expect("resources capability");
    assert_eq!(capabilities.subscribe, Some(true), "{capabilities:?}");
    alice
        .subscribe(SubscribeRequestParams::new("cache://firewalls/app-alpha"))
        .await
        .expect("alice subscribes to her application");
    victor
        .subscribe(SubscribeRequestParams::new("cache://firewalls/app-beta"))
        .await
        .expect("victor subscribes to his");
    let error = alice
        .subscribe(SubscribeRequestParams::new("cache://firewalls/app-beta"))
        .await
        .expect_err("not hers");
    let rmcp::ServiceError::McpError(error) = error else {
        panic!("{error:?}");
    };
    assert_eq!(error.code, ErrorCode::RESOURCE_NOT_FOUND, "{error:?}");

    downstream.store.replace("app-alpha", vec![rule("alpha-1")]);
    assert_eq!(
        drain(&mut alice_updates, Duration::from_secs(4)).await,
        vec!["cache://firewalls/app-alpha".to_owned()],
        "alice's cache refreshed and changed"
    );
    assert_eq!(
        drain(&mut victor_updates, Duration::from_millis(200)).await,
        Vec::<String>::new(),
        "victor's cache holds nothing of app-alpha"
    );
    let _ = alice.cancel().await;
    let _ = victor.cancel().await;
    server.shutdown().await;
    downstream.shutdown().await;
}
