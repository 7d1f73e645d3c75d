//! `AuthzHandler` implements every method of rmcp's `ServerHandler`: an inner handler overrides
//! each one with a marker, the decorator (allow-all policy, fixed principal) is called through
//! each, and each must reach the inner handler (forwarded, after its check) or be deliberately
//! answered by the decorator (`get_tool`). A method rmcp adds later fails
//! `handled_methods_are_exactly_rmcp_server_handler_methods`: it would otherwise fall back to
//! rmcp's default silently, bypassing both the inner handler and the policy.
//!
//! Requests are direct trait calls (with a real request context); client notifications go
//! through rmcp's client over an in-process duplex pipe; `subscriptions/listen` over Streamable
//! HTTP on loopback (rmcp builds its context only there).

// `logging/setLevel` and `resources/subscribe` are deprecated in rmcp, and still forwarded.
#![allow(deprecated, clippy::too_many_lines)]

mod probe;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use mcp_authz::{AuthzHandler, Decision, FnPolicy, HANDLED_METHODS, Principal};
use mcp_patterns_test_support::Served;
use probe::{
    ACCEPTED_SUBSCRIPTION_FILTER, CUSTOM_NOTIFICATION, CUSTOM_REQUEST, GET_INFO,
    NEGOTIATE_INITIALIZE, Probe, RESOURCE, SUPPORTED_PROTOCOL_VERSIONS, TOOL, call_plain,
    call_request, peer,
};
use rmcp::model::{
    CallToolRequestMethod, CancelTaskMethod, CancelledNotificationMethod,
    CancelledNotificationParam, CompleteRequestMethod, ConstString, CustomNotification,
    DiscoverRequestMethod, GetPromptRequestMethod, GetSkillRequestMethod, GetTaskMethod,
    InitializeResultMethod, InitializedNotificationMethod, ListPromptsRequestMethod,
    ListResourceTemplatesRequestMethod, ListResourcesRequestMethod, ListSkillsRequestMethod,
    ListToolsRequestMethod, NumberOrString, PingRequestMethod, ProgressNotificationMethod,
    ProgressNotificationParam, ProgressToken, ReadResourceDirectoryRequestMethod,
    ReadResourceRequestMethod, RootsListChangedNotificationMethod, SetLevelRequestMethod,
    SubscribeRequestMethod, SubscriptionsListenRequestMethod, UnsubscribeRequestMethod,
    UpdateTaskMethod,
};
use rmcp::service::RequestContext;
use rmcp::{ServerHandler, ServiceExt};

fn wrapped(marker: &Probe) -> AuthzHandler<Probe> {
    AuthzHandler::builder(marker.clone())
        .policy(FnPolicy::new(|_| Decision::Allow))
        .principal(Principal::new("probe"))
        .build()
}

/// How the decorator treats a `ServerHandler` method, by the method's name in the trait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Handling {
    /// Reaches the inner handler (after its check, for requests), which the marker records.
    Forwarded(&'static str),
    /// Answered by the decorator itself by design; the inner handler is never asked.
    Intercepted,
}

/// Every `ServerHandler` method and what the test expects of it.
fn expectations() -> Vec<(&'static str, Handling)> {
    use Handling::{Forwarded, Intercepted};
    vec![
        ("ping", Forwarded(PingRequestMethod::VALUE)),
        ("initialize", Forwarded(InitializeResultMethod::VALUE)),
        ("negotiate_initialize", Forwarded(NEGOTIATE_INITIALIZE)),
        (
            "supported_protocol_versions",
            Forwarded(SUPPORTED_PROTOCOL_VERSIONS),
        ),
        ("discover", Forwarded(DiscoverRequestMethod::VALUE)),
        ("complete", Forwarded(CompleteRequestMethod::VALUE)),
        ("set_level", Forwarded(SetLevelRequestMethod::VALUE)),
        ("get_prompt", Forwarded(GetPromptRequestMethod::VALUE)),
        ("list_prompts", Forwarded(ListPromptsRequestMethod::VALUE)),
        (
            "list_resources",
            Forwarded(ListResourcesRequestMethod::VALUE),
        ),
        (
            "list_resource_templates",
            Forwarded(ListResourceTemplatesRequestMethod::VALUE),
        ),
        ("read_resource", Forwarded(ReadResourceRequestMethod::VALUE)),
        ("subscribe", Forwarded(SubscribeRequestMethod::VALUE)),
        ("unsubscribe", Forwarded(UnsubscribeRequestMethod::VALUE)),
        ("call_tool", Forwarded(CallToolRequestMethod::VALUE)),
        ("list_tools", Forwarded(ListToolsRequestMethod::VALUE)),
        // rmcp asks without a caller: no tool schema leaves the decorator.
        ("get_tool", Intercepted),
        ("on_custom_request", Forwarded(CUSTOM_REQUEST)),
        (
            "accepted_subscription_filter",
            Forwarded(ACCEPTED_SUBSCRIPTION_FILTER),
        ),
        ("listen", Forwarded(SubscriptionsListenRequestMethod::VALUE)),
        ("get_task", Forwarded(GetTaskMethod::VALUE)),
        ("update_task", Forwarded(UpdateTaskMethod::VALUE)),
        ("cancel_task", Forwarded(CancelTaskMethod::VALUE)),
        ("list_skills", Forwarded(ListSkillsRequestMethod::VALUE)),
        ("get_skill", Forwarded(GetSkillRequestMethod::VALUE)),
        (
            "read_resource_directory",
            Forwarded(ReadResourceDirectoryRequestMethod::VALUE),
        ),
        (
            "on_cancelled",
            Forwarded(CancelledNotificationMethod::VALUE),
        ),
        ("on_progress", Forwarded(ProgressNotificationMethod::VALUE)),
        (
            "on_initialized",
            Forwarded(InitializedNotificationMethod::VALUE),
        ),
        (
            "on_roots_list_changed",
            Forwarded(RootsListChangedNotificationMethod::VALUE),
        ),
        ("on_custom_notification", Forwarded(CUSTOM_NOTIFICATION)),
        ("get_info", Forwarded(GET_INFO)),
    ]
}

/// Sends each client notification through rmcp's client to the decorator over a duplex pipe.
async fn send_notifications(handler: AuthzHandler<Probe>, marker: &Probe) {
    let (server_io, client_io) = tokio::io::duplex(64 * 1024);
    let server = tokio::spawn(async move { handler.serve(server_io).await });
    let client = ().serve(client_io).await.expect("client handshake");
    let server = server.await.expect("join").expect("server handshake");
    marker.wait_for(InitializedNotificationMethod::VALUE).await;
    let peer = client.peer().clone();
    peer.notify_cancelled(CancelledNotificationParam::new(
        Some(NumberOrString::Number(7)),
        None,
    ))
    .await
    .expect("cancelled");
    peer.notify_progress(ProgressNotificationParam::new(
        ProgressToken(NumberOrString::Number(7)),
        0.5,
    ))
    .await
    .expect("progress");
    peer.notify_roots_list_changed().await.expect("roots");
    peer.send_notification(rmcp::model::ClientNotification::CustomNotification(
        CustomNotification::new(CUSTOM_NOTIFICATION, None),
    ))
    .await
    .expect("custom notification");
    for marker_name in [
        CancelledNotificationMethod::VALUE,
        ProgressNotificationMethod::VALUE,
        RootsListChangedNotificationMethod::VALUE,
        CUSTOM_NOTIFICATION,
    ] {
        marker.wait_for(marker_name).await;
    }
    let _ = client.cancel().await;
    let _ = server.cancel().await;
}

/// A 2026-07-28 `subscriptions/listen` over Streamable HTTP; the stream ends at once (the marker's
/// `listen` returns), so this returns the SSE body.
async fn listen_over_http(handler: AuthzHandler<Probe>) -> String {
    use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
    use rmcp::transport::streamable_http_server::{
        StreamableHttpServerConfig, StreamableHttpService,
    };
    let service: StreamableHttpService<AuthzHandler<Probe>, LocalSessionManager> =
        StreamableHttpService::new(
            move || Ok(handler.clone()),
            Arc::new(LocalSessionManager::default()),
            StreamableHttpServerConfig::default(),
        );
    let served = Served::start(axum::Router::new().nest_service("/mcp", service)).await;
    let body = serde_json::json!({
        "jsonrpc": "2.0", "id": 9, "method": SubscriptionsListenRequestMethod::VALUE,
        "params": {
            "notifications": { "resourceSubscriptions": [RESOURCE] },
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientInfo": { "name": "forwarding", "version": "0" },
                "io.modelcontextprotocol/clientCapabilities": {},
            }
        }
    });
    let response = reqwest::Client::new()
        .post(served.url("/mcp"))
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", SubscriptionsListenRequestMethod::VALUE)
        .json(&body)
        .send()
        .await
        .expect("POST");
    tokio::time::timeout(Duration::from_secs(10), response.text())
        .await
        .expect("the stream ends")
        .expect("body")
}

#[tokio::test]
async fn every_method_is_forwarded_or_deliberately_intercepted() {
    let marker = Probe::default();
    let handler = wrapped(&marker);
    let (peer, _keep) = peer().await;
    let mut notifications_sent = false;
    for (name, handling) in expectations() {
        // The notifications all arrive in one session; each then finds its marker.
        if !name.starts_with("on_") {
            marker.take();
        }
        let outcome = if let Some(result) = call_request(
            &handler,
            name,
            RequestContext::new(NumberOrString::Number(1), peer.clone()),
        )
        .await
        {
            format!("{result:?}")
        } else if let Some(result) = call_plain(&handler, name) {
            result
        } else if name == "listen" {
            listen_over_http(handler.clone()).await
        } else if name.starts_with("on_") {
            if !notifications_sent {
                send_notifications(handler.clone(), &marker).await;
                notifications_sent = true;
            }
            String::new()
        } else {
            panic!("the test has no way to call {name}: add one");
        };
        match handling {
            Handling::Forwarded(expected) => {
                marker.wait_for(expected).await;
                // A request the marker answers with an error comes back with that error, not a
                // refusal of the decorator's own.
                if outcome.contains("reached") {
                    assert!(outcome.contains(expected), "{name}: {outcome}");
                }
            }
            Handling::Intercepted => {
                assert!(
                    marker.take().is_empty(),
                    "{name} is answered by the decorator"
                );
            }
        }
        // Specific answers: the inner handler's own values come back where forwarded.
        match name {
            "get_info" => assert!(outcome.contains("the probe server"), "{outcome}"),
            "supported_protocol_versions" => {
                assert!(outcome.contains("2026-07-28"), "{outcome}");
                assert!(!outcome.contains("2024-11-05"), "{outcome}");
            }
            "get_tool" => assert_eq!(outcome, "None"),
            "accepted_subscription_filter" => assert!(outcome.contains(RESOURCE), "{outcome}"),
            "listen" => assert!(outcome.contains("\"result\""), "a final result: {outcome}"),
            _ => {}
        }
    }
    // Without a caller rmcp may still ask for a tool's schema; the inner handler has one.
    assert!(marker.get_tool(TOOL).is_some());
}

fn rmcp_server_handler_methods() -> BTreeSet<String> {
    mcp_patterns_test_support::rmcp_server_handler_methods(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn handled_methods_are_exactly_rmcp_server_handler_methods() {
    let rmcp = rmcp_server_handler_methods();
    assert!(rmcp.len() > 20, "found only {rmcp:?}");
    let handled: BTreeSet<String> = HANDLED_METHODS.iter().map(|m| (*m).to_owned()).collect();
    assert_eq!(
        HANDLED_METHODS.len(),
        handled.len(),
        "HANDLED_METHODS names a method twice"
    );
    let missing: Vec<_> = rmcp.difference(&handled).collect();
    let stale: Vec<_> = handled.difference(&rmcp).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "AuthzHandler does not implement rmcp's {missing:?} (decide or forward them in \
         handler.rs) and lists {stale:?} that rmcp no longer has"
    );
    let tested: BTreeSet<String> = expectations()
        .iter()
        .map(|(m, _)| (*m).to_owned())
        .collect();
    assert_eq!(tested, rmcp, "every method has an expectation in this test");
}
