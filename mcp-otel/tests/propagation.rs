//! Parent context from `params._meta`: a request carrying `traceparent` with trace id X gets a
//! server span in trace X whose parent is the caller's span; the client-side injector carries the
//! caller's current span.

mod common;

use common::{Session, Telemetry, call};
use mcp_otel::propagation;
use opentelemetry::trace::{SpanId, TraceContextExt, TraceId};
use rmcp::model::{CallToolRequestParams, RequestMetaObject};
use serde_json::json;
use tracing_opentelemetry::OpenTelemetrySpanExt;

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_SPAN_ID: &str = "00f067aa0ba902b7";

fn with_meta(params: CallToolRequestParams, meta: RequestMetaObject) -> CallToolRequestParams {
    let mut params = params;
    params.meta = Some(meta);
    params
}

#[tokio::test]
async fn meta_traceparent_parents_the_server_span() {
    let telemetry = Telemetry::install();
    let session = Session::start(&telemetry.layer().build()).await;
    let mut meta = RequestMetaObject::new();
    meta.set_traceparent(format!("00-{TRACE_ID}-{PARENT_SPAN_ID}-01"));
    meta.set_tracestate("rojo=00f067aa0ba902b7");
    meta.set_baggage("userId=alice");
    session
        .client
        .call_tool(with_meta(call("nested", json!({})), meta))
        .await
        .expect("tools/call");
    // The next request has no trace context: a new root trace.
    session
        .client
        .call_tool(call("lookup", json!({"app": "a"})))
        .await
        .expect("tools/call");
    session.close().await;

    let server = telemetry.span("tools/call nested");
    assert_eq!(
        server.span_context.trace_id(),
        TraceId::from_hex(TRACE_ID).unwrap()
    );
    assert_eq!(
        server.parent_span_id,
        SpanId::from_hex(PARENT_SPAN_ID).unwrap()
    );
    assert!(server.parent_span_is_remote);
    assert_eq!(
        server.span_context.trace_state().header(),
        "rojo=00f067aa0ba902b7",
        "tracestate carried over"
    );
    // The ambient context of the transport (here rmcp's session span) is linked, not parent.
    let links: Vec<_> = server.links.iter().collect();
    assert_eq!(links.len(), 1, "one link to the ambient span");
    assert_ne!(
        links[0].span_context.trace_id(),
        server.span_context.trace_id()
    );
    // Spans opened inside the handler stay in trace X, under the server span.
    let inner = telemetry.span("cache.read");
    assert_eq!(
        inner.span_context.trace_id(),
        server.span_context.trace_id()
    );
    assert_eq!(inner.parent_span_id, server.span_context.span_id());

    let root = telemetry.span("tools/call lookup");
    assert_ne!(root.span_context.trace_id(), server.span_context.trace_id());
    assert_eq!(root.parent_span_id, SpanId::INVALID);
    assert_eq!(root.links.iter().count(), 0);
}

#[tokio::test]
async fn malformed_traceparent_yields_a_root_span() {
    let telemetry = Telemetry::install();
    let session = Session::start(&telemetry.layer().build()).await;
    let mut meta = RequestMetaObject::new();
    meta.set_traceparent("not-a-traceparent");
    session
        .client
        .call_tool(with_meta(call("lookup", json!({"app": "a"})), meta))
        .await
        .expect("a bad traceparent never fails the call");
    session.close().await;
    let span = telemetry.span("tools/call lookup");
    assert_eq!(span.parent_span_id, SpanId::INVALID);
}

#[tokio::test]
async fn client_injector_carries_the_current_span() {
    let telemetry = Telemetry::install();
    let session = Session::start(&telemetry.layer().build()).await;
    let agent = tracing::info_span!("agent.turn");
    let (agent_trace, agent_span) = {
        let cx = agent.context();
        let span = cx.span();
        (
            span.span_context().trace_id(),
            span.span_context().span_id(),
        )
    };
    let meta = {
        let _entered = agent.enter();
        propagation::traced_meta()
    };
    assert!(meta.get_traceparent().is_some(), "traceparent injected");
    session
        .client
        .call_tool(with_meta(call("lookup", json!({"app": "a"})), meta))
        .await
        .expect("tools/call");
    drop(agent);
    session.close().await;

    let server = telemetry.span("tools/call lookup");
    assert_eq!(server.span_context.trace_id(), agent_trace);
    assert_eq!(server.parent_span_id, agent_span);
    let client_span = telemetry.span("agent.turn");
    assert_eq!(client_span.span_context.span_id(), agent_span);
}

#[test]
fn inject_then_extract_round_trips_baggage() {
    use opentelemetry::baggage::BaggageExt;
    let mut meta = RequestMetaObject::new();
    meta.set_traceparent(format!("00-{TRACE_ID}-{PARENT_SPAN_ID}-01"));
    meta.set_baggage("userId=alice");
    let cx = propagation::extract(&meta);
    assert_eq!(
        cx.baggage()
            .get("userId")
            .map(ToString::to_string)
            .as_deref(),
        Some("alice")
    );
    let mut out = RequestMetaObject::new();
    propagation::inject(&cx, &mut out);
    assert_eq!(out.get_traceparent(), meta.get_traceparent());
    assert_eq!(out.get_baggage(), Some("userId=alice"));
}
