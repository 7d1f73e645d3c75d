//! MCP 2026-07-28 over Streamable HTTP on loopback — no `initialize`, no session, the protocol
//! version in every request's `_meta` — next to a legacy 2025-11-25 session: which spans and
//! session metrics each produces, and the span of a `subscriptions/listen` stream.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::serve::ListenerExt as _;
use common::{NOTE_URI, Telemetry, TestServer, attr, attr_str, call, histogram_points};
use mcp_otel::{OtelLayer, openinference as oi, semconv};
use opentelemetry::Value;
use opentelemetry::trace::{SpanId, SpanKind, Status};
use opentelemetry_sdk::trace::SpanData;
use rmcp::model::{
    ClientConfig, ProtocolVersion, ReadResourceRequestParams, ServerCapabilities, ServerConfig,
    ServerNotification, SubscriptionFilter,
};
use rmcp::service::{RoleClient, RunningService, SubscriptionContext};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ClientLifecycleMode, ClientServiceExt, ErrorData, ServerHandler};
use serde_json::json;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

const V_2026: &str = "2026-07-28";
const V_2025: &str = "2025-11-25";
/// Deadline for something that must happen (a failure bound, not a timing assertion).
const DEADLINE: Duration = Duration::from_secs(20);
/// A resource `ListenServer` refuses to watch: `listen` fails with an internal error.
const BROKEN_URI: &str = "memo://notes/broken";

/// A server for `subscriptions/listen`: accepts subscriptions to `memo://notes/…` only, sends
/// one `resources/updated` per accepted URI from inside a `tracing` span, then waits for the
/// client to cancel. Fails the stream when it is asked to watch [`BROKEN_URI`].
struct ListenServer;

impl ServerHandler for ListenServer {
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
        let ours = requested
            .resource_subscriptions
            .iter()
            .flatten()
            .filter(|uri| uri.starts_with("memo://notes/"));
        Some(
            SubscriptionFilter::builder()
                .resource_subscriptions(ours)
                .build(),
        )
    }

    async fn listen(&self, context: SubscriptionContext) -> Result<(), ErrorData> {
        let uris = context
            .accepted()
            .resource_subscriptions
            .clone()
            .unwrap_or_default();
        if uris.iter().any(|uri| uri == BROKEN_URI) {
            return Err(ErrorData::internal_error("the watch could not start", None));
        }
        async {
            tracing::info!(count = uris.len(), "watching");
            for uri in uris {
                let _ = context.sink().notify_resource_updated(uri).await;
            }
        }
        .instrument(tracing::info_span!("listen.watch"))
        .await;
        context.cancelled().await;
        Ok(())
    }
}

/// Sets `TCP_NODELAY` on an accepted connection (else small writes wait for a delayed ACK).
fn nodelay(tcp: &mut tokio::net::TcpStream) {
    let _ = tcp.set_nodelay(true);
}

/// A Streamable HTTP server (rmcp's defaults: legacy sessions for `initialize` clients,
/// stateless for 2026-07-28 requests) on a free loopback port, serving `otel.layer(make())`.
struct Http {
    url: String,
    ct: CancellationToken,
}

impl Drop for Http {
    fn drop(&mut self) {
        self.ct.cancel();
    }
}

fn serve_http<H, F>(otel: OtelLayer, make: F) -> Http
where
    H: ServerHandler,
    F: Fn() -> H + Send + Sync + 'static,
{
    serve_http_with(otel, make, false)
}

/// [`serve_http`], or with `stateless` rmcp's stateless mode (`legacy_session_mode = false`:
/// even `initialize` clients get no session) and handlers from `OtelLayer::layer_stateless`.
fn serve_http_with<H, F>(otel: OtelLayer, make: F, stateless: bool) -> Http
where
    H: ServerHandler,
    F: Fn() -> H + Send + Sync + 'static,
{
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let url = format!("http://{}/mcp", listener.local_addr().expect("addr"));
    let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
    let ct = CancellationToken::new();
    let service: StreamableHttpService<_, LocalSessionManager> = StreamableHttpService::new(
        move || {
            Ok(if stateless {
                otel.layer_stateless(make())
            } else {
                otel.layer(make())
            })
        },
        Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default()
            .with_cancellation_token(ct.child_token())
            .with_legacy_session_mode(!stateless),
    );
    let app = axum::Router::new().nest_service("/mcp", service);
    tokio::spawn(
        axum::serve(listener.tap_io(nodelay), app)
            .with_graceful_shutdown(ct.clone().cancelled_owned())
            .into_future(),
    );
    Http { url, ct }
}

/// A 2026-07-28 client: `server/discover`, then self-contained requests.
async fn client_2026(url: &str) -> RunningService<RoleClient, ClientConfig> {
    ClientConfig::default()
        .serve_with_lifecycle(
            StreamableHttpClientTransport::from_uri(url.to_owned()),
            ClientLifecycleMode::Discover {
                preferred_versions: vec![ProtocolVersion::V_2026_07_28],
            },
        )
        .await
        .expect("server/discover")
}

/// The MCP server spans (those with `mcp.method.name`), leaving out rmcp's and axum's own.
fn mcp_spans(telemetry: &Telemetry) -> Vec<SpanData> {
    telemetry
        .finished_spans()
        .into_iter()
        .filter(|span| attr(span, semconv::MCP_METHOD_NAME).is_some())
        .collect()
}

/// Waits until the span named `name` has ended, and returns it.
async fn ended_span(telemetry: &Telemetry, name: &str) -> SpanData {
    tokio::time::timeout(DEADLINE, async {
        loop {
            if let Some(span) = telemetry
                .finished_spans()
                .into_iter()
                .find(|span| span.name == name)
            {
                return span;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("span {name:?} ended"))
}

/// Asserts the attributes every server span of a 2026-07-28 request over HTTP has, and that it
/// names no session.
fn assert_sessionless_2026(span: &SpanData) {
    assert_eq!(span.span_kind, SpanKind::Server, "{}", span.name);
    assert_eq!(
        attr_str(span, semconv::MCP_PROTOCOL_VERSION),
        V_2026,
        "{}",
        span.name
    );
    assert!(
        attr(span, semconv::MCP_SESSION_ID).is_none() && attr(span, oi::SESSION_ID).is_none(),
        "no session in 2026-07-28, yet {:?} has {:?}",
        span.name,
        span.attributes
    );
    assert!(!attr_str(span, semconv::JSONRPC_REQUEST_ID).is_empty());
    assert_eq!(attr_str(span, semconv::NETWORK_TRANSPORT), "tcp");
    assert_eq!(attr_str(span, semconv::NETWORK_PROTOCOL_NAME), "http");
    assert_eq!(attr_str(span, semconv::NETWORK_PROTOCOL_VERSION), "1.1");
}

#[tokio::test]
async fn discover_and_every_request_of_2026_07_28_are_traced_without_a_session() {
    let telemetry = Telemetry::install();
    let http = serve_http(telemetry.layer().build(), TestServer::default);
    let client = client_2026(&http.url).await;
    let tools = client.list_all_tools().await.expect("tools/list");
    assert_eq!(tools.len(), 3);
    client
        .call_tool(call("lookup", json!({"app": "app-alpha"})))
        .await
        .expect("tools/call");
    client
        .read_resource(ReadResourceRequestParams::new(NOTE_URI))
        .await
        .expect("resources/read");
    client.cancel().await.expect("client closes");
    // Every request had its own handler; let the last ones finish and drop.
    tokio::time::sleep(Duration::from_millis(200)).await;

    let discover = telemetry.span("server/discover");
    assert_sessionless_2026(&discover);
    assert_eq!(discover.status, Status::Unset);
    assert_eq!(
        attr_str(&discover, semconv::MCP_METHOD_NAME),
        "server/discover"
    );
    assert!(attr(&discover, semconv::ERROR_TYPE).is_none());
    assert!(attr(&discover, semconv::GEN_AI_OPERATION_NAME).is_none());
    assert_eq!(discover.parent_span_id, SpanId::INVALID, "a root span");

    let spans = mcp_spans(&telemetry);
    let mut names: Vec<_> = spans.iter().map(|s| s.name.to_string()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "resources/read",
            "server/discover",
            "tools/call lookup",
            "tools/list"
        ],
        "no initialize, one span per request"
    );
    for span in &spans {
        assert_sessionless_2026(span);
    }

    let metrics = telemetry.collect_metrics();
    let ops = histogram_points(&metrics, semconv::MCP_SERVER_OPERATION_DURATION);
    assert!(
        ops.iter()
            .any(|p| p.attr(semconv::MCP_METHOD_NAME).as_deref() == Some("server/discover")),
        "{ops:?}"
    );
    for point in &ops {
        assert_eq!(
            point.attr(semconv::MCP_PROTOCOL_VERSION).as_deref(),
            Some(V_2026),
            "{point:?}"
        );
    }
    let sessions = histogram_points(&metrics, semconv::MCP_SERVER_SESSION_DURATION);
    assert!(sessions.is_empty(), "no session, no duration: {sessions:?}");
}

#[tokio::test]
async fn a_session_id_header_on_a_2026_07_28_request_is_not_recorded() {
    let telemetry = Telemetry::install();
    let http = serve_http(telemetry.layer().build(), TestServer::default);
    // A raw request: rmcp's client never sends the header on 2026-07-28 (and refuses it as a
    // custom header), but other clients may.
    let body = json!({
        "jsonrpc": "2.0",
        "id": 7,
        "method": "tools/list",
        "params": {"_meta": {
            "io.modelcontextprotocol/protocolVersion": V_2026,
            "io.modelcontextprotocol/clientInfo": {"name": "raw-test", "version": "0"},
            "io.modelcontextprotocol/clientCapabilities": {},
        }},
    });
    let headers: HashMap<&str, &str> = HashMap::from([
        ("accept", "application/json, text/event-stream"),
        ("mcp-protocol-version", V_2026),
        ("mcp-method", "tools/list"),
        ("mcp-session-id", "stray-session-id"),
    ]);
    let mut request = reqwest::Client::new().post(&http.url).json(&body);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let response = request.send().await.expect("POST");
    assert!(response.status().is_success(), "{}", response.status());
    let text = response.text().await.expect("body");
    assert!(text.contains("lookup"), "{text}");

    let span = ended_span(&telemetry, "tools/list").await;
    assert_sessionless_2026(&span);
    assert_eq!(attr_str(&span, semconv::JSONRPC_REQUEST_ID), "7");
}

#[tokio::test]
async fn a_listen_stream_has_one_span_for_its_life() {
    let telemetry = Telemetry::install();
    let http = serve_http(telemetry.layer().build(), || ListenServer);
    let client = client_2026(&http.url).await;
    let mut subscription = client
        .listen(
            SubscriptionFilter::builder()
                .resource_subscriptions([NOTE_URI, "memo://elsewhere/x"])
                .build(),
        )
        .await
        .expect("subscriptions/listen");
    assert_eq!(
        subscription.acknowledged().resource_subscriptions,
        Some(vec![NOTE_URI.to_owned()])
    );
    let note = tokio::time::timeout(DEADLINE, subscription.next())
        .await
        .expect("a notification arrives")
        .expect("stream open")
        .expect("a notification");
    assert!(
        matches!(&note, ServerNotification::ResourceUpdatedNotification(n) if n.params.uri == NOTE_URI),
        "{note:?}"
    );
    let watch = ended_span(&telemetry, "listen.watch").await;
    assert!(
        !telemetry
            .finished_spans()
            .iter()
            .any(|s| s.name == "subscriptions/listen"),
        "the stream's span stays open while the stream does"
    );

    subscription.cancel().await.expect("cancel");
    let listen = ended_span(&telemetry, "subscriptions/listen").await;
    client.cancel().await.expect("client closes");

    assert_sessionless_2026(&listen);
    assert_eq!(
        attr_str(&listen, semconv::MCP_METHOD_NAME),
        "subscriptions/listen"
    );
    assert_eq!(
        attr(&listen, semconv::MCP_SUBSCRIPTION_RESOURCE_COUNT),
        Some(Value::I64(1)),
        "one of the two requested URIs accepted"
    );
    assert_eq!(listen.status, Status::Unset);
    assert!(attr(&listen, semconv::ERROR_TYPE).is_none());
    assert!(attr(&listen, semconv::RPC_RESPONSE_STATUS_CODE).is_none());
    assert!(listen.end_time >= watch.end_time);
    // The inner `listen` runs inside the span: its own spans nest under it.
    assert_eq!(watch.parent_span_id, listen.span_context.span_id());
    assert_eq!(
        watch.span_context.trace_id(),
        listen.span_context.trace_id()
    );

    let metrics = telemetry.collect_metrics();
    let ops = histogram_points(&metrics, semconv::MCP_SERVER_OPERATION_DURATION);
    assert!(
        ops.iter()
            .any(|p| p.attr(semconv::MCP_METHOD_NAME).as_deref() == Some("server/discover")),
        "metrics are recorded: {ops:?}"
    );
    assert!(
        !ops.iter()
            .any(|p| p.attr(semconv::MCP_METHOD_NAME).as_deref() == Some("subscriptions/listen")),
        "a stream is not a request latency: {ops:?}"
    );
    assert!(histogram_points(&metrics, semconv::MCP_SERVER_SESSION_DURATION).is_empty());
}

#[tokio::test]
async fn a_failing_listen_stream_ends_its_span_with_an_error() {
    let telemetry = Telemetry::install();
    let http = serve_http(telemetry.layer().build(), || ListenServer);
    let client = client_2026(&http.url).await;
    let mut subscription = client
        .listen(
            SubscriptionFilter::builder()
                .resource_subscriptions([BROKEN_URI])
                .build(),
        )
        .await
        .expect("subscriptions/listen is acknowledged before listen runs");
    let end = tokio::time::timeout(DEADLINE, subscription.next())
        .await
        .expect("the stream ends");
    assert!(end.is_err(), "{end:?}");

    let listen = ended_span(&telemetry, "subscriptions/listen").await;
    client.cancel().await.expect("client closes");
    assert_sessionless_2026(&listen);
    assert_eq!(
        attr(&listen, semconv::MCP_SUBSCRIPTION_RESOURCE_COUNT),
        Some(Value::I64(1))
    );
    assert_eq!(attr_str(&listen, semconv::ERROR_TYPE), "-32603");
    assert_eq!(
        attr_str(&listen, semconv::RPC_RESPONSE_STATUS_CODE),
        "-32603"
    );
    assert_eq!(listen.status, Status::error("the watch could not start"));
}

#[tokio::test]
async fn a_legacy_session_carries_its_id_and_records_its_duration_when_it_ends() {
    let telemetry = Telemetry::install();
    let http = serve_http(telemetry.layer().build(), TestServer::default);
    let client = ClientConfig::default()
        .with_protocol_version(ProtocolVersion::V_2025_11_25)
        .serve_with_lifecycle(
            StreamableHttpClientTransport::from_uri(http.url.clone()),
            ClientLifecycleMode::Initialize,
        )
        .await
        .expect("initialize");
    client.list_all_tools().await.expect("tools/list");
    client
        .call_tool(call("lookup", json!({"app": "app-alpha"})))
        .await
        .expect("tools/call");
    let open = histogram_points(
        &telemetry.collect_metrics(),
        semconv::MCP_SERVER_SESSION_DURATION,
    );
    assert!(open.is_empty(), "the session is still open: {open:?}");

    client.cancel().await.expect("client closes the session");
    let sessions = tokio::time::timeout(DEADLINE, async {
        loop {
            let points = histogram_points(
                &telemetry.collect_metrics(),
                semconv::MCP_SERVER_SESSION_DURATION,
            );
            if !points.is_empty() {
                return points;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the session's duration is recorded when it ends");
    assert_eq!(sessions.len(), 1, "{sessions:?}");
    assert_eq!(sessions[0].count, 1);
    assert_eq!(
        sessions[0].attr(semconv::MCP_PROTOCOL_VERSION).as_deref(),
        Some(V_2025)
    );
    assert_eq!(
        sessions[0].attr(semconv::NETWORK_PROTOCOL_NAME).as_deref(),
        Some("http")
    );

    let spans = mcp_spans(&telemetry);
    let mut names: Vec<_> = spans.iter().map(|s| s.name.to_string()).collect();
    names.sort();
    assert_eq!(names, ["initialize", "tools/call lookup", "tools/list"]);
    for span in &spans {
        assert_eq!(
            attr_str(span, semconv::MCP_PROTOCOL_VERSION),
            V_2025,
            "{}",
            span.name
        );
        assert_eq!(attr_str(span, semconv::NETWORK_PROTOCOL_NAME), "http");
    }
    // The session id is assigned in the answer to `initialize`, so only the requests after it
    // carry the header, and all the same one.
    let init = telemetry.span("initialize");
    assert!(attr(&init, semconv::MCP_SESSION_ID).is_none());
    let ids: Vec<_> = spans
        .iter()
        .filter(|s| s.name != "initialize")
        .map(|s| {
            let id = attr_str(s, semconv::MCP_SESSION_ID);
            assert_eq!(attr_str(s, oi::SESSION_ID), id, "{}", s.name);
            id
        })
        .collect();
    assert_eq!(ids.len(), 2);
    assert!(!ids[0].is_empty() && ids[0] == ids[1], "{ids:?}");
}

#[tokio::test]
async fn a_legacy_client_in_stateless_mode_has_no_session_to_time() {
    let telemetry = Telemetry::install();
    let http = serve_http_with(telemetry.layer().build(), TestServer::default, true);
    let client = ClientConfig::default()
        .with_protocol_version(ProtocolVersion::V_2025_11_25)
        .serve_with_lifecycle(
            StreamableHttpClientTransport::from_uri(http.url.clone()),
            ClientLifecycleMode::Initialize,
        )
        .await
        .expect("initialize");
    client
        .call_tool(call("lookup", json!({"app": "app-alpha"})))
        .await
        .expect("tools/call");
    client.cancel().await.expect("client closes");
    // Every request's handler has been dropped by now; none of them was a session.
    let call = ended_span(&telemetry, "tools/call lookup").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sessions = histogram_points(
        &telemetry.collect_metrics(),
        semconv::MCP_SERVER_SESSION_DURATION,
    );
    assert!(sessions.is_empty(), "no session, no duration: {sessions:?}");
    assert!(attr(&call, semconv::MCP_SESSION_ID).is_none(), "{call:?}");
    assert_eq!(attr_str(&call, semconv::MCP_PROTOCOL_VERSION), V_2025);
}

#[tokio::test]
async fn string_and_negative_request_ids_are_recorded_as_sent() {
    let telemetry = Telemetry::install();
    let http = serve_http(telemetry.layer().build(), TestServer::default);
    for (id, text) in [(json!("req-ä/1"), "req-ä/1"), (json!(-42), "-42")] {
        let body = json!({
            "jsonrpc": "2.0",
            "id": id,
            "method": "tools/list",
            "params": {"_meta": {
                "io.modelcontextprotocol/protocolVersion": V_2026,
                "io.modelcontextprotocol/clientInfo": {"name": "raw-test", "version": "0"},
                "io.modelcontextprotocol/clientCapabilities": {},
            }},
        });
        let response = reqwest::Client::new()
            .post(&http.url)
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", V_2026)
            .header("mcp-method", "tools/list")
            .json(&body)
            .send()
            .await
            .expect("POST");
        assert!(response.status().is_success(), "{}", response.status());
        assert!(response.text().await.expect("body").contains("lookup"));
        tokio::time::timeout(DEADLINE, async {
            while !telemetry.finished_spans().iter().any(|span| {
                span.name == "tools/list" && attr_str(span, semconv::JSONRPC_REQUEST_ID) == text
            }) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .unwrap_or_else(|_| {
            let ids: Vec<_> = telemetry
                .finished_spans()
                .iter()
                .map(|span| attr(span, semconv::JSONRPC_REQUEST_ID))
                .collect();
            panic!("no span with jsonrpc.request.id {text:?}: {ids:?}")
        });
    }
}
