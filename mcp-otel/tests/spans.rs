//! Server spans, read back from the SDK's in-memory exporter: names, kinds, status and the MCP
//! semantic-convention attributes of each request type.

mod common;

use common::{NOTE_URI, Session, Telemetry, attr, attr_str, call};
use mcp_otel::{Transport, openinference as oi, semconv};
use opentelemetry::trace::{SpanKind, Status};
use rmcp::model::ReadResourceRequestParams;
use serde_json::json;

#[tokio::test]
async fn initialize_span() {
    let telemetry = Telemetry::install();
    let session = Session::start(&telemetry.layer().build()).await;
    session.close().await;

    let span = telemetry.span("initialize");
    assert_eq!(span.span_kind, SpanKind::Server);
    assert_eq!(span.status, Status::Unset);
    assert_eq!(attr_str(&span, semconv::MCP_METHOD_NAME), "initialize");
    assert_eq!(attr_str(&span, semconv::NETWORK_TRANSPORT), "pipe");
    assert_eq!(attr_str(&span, semconv::JSONRPC_REQUEST_ID), "0");
    assert!(attr(&span, semconv::ERROR_TYPE).is_none());
    assert!(attr(&span, semconv::GEN_AI_OPERATION_NAME).is_none());
    assert!(
        !span.span_context.trace_id().to_string().is_empty()
            && span.parent_span_id == opentelemetry::trace::SpanId::INVALID,
        "without _meta trace context the server span is a root"
    );
}

#[tokio::test]
async fn tools_list_span_records_the_protocol_version() {
    let telemetry = Telemetry::install();
    let session = Session::start(&telemetry.layer().build()).await;
    let tools = session.client.list_all_tools().await.expect("tools/list");
    assert_eq!(tools.len(), 3);
    session.close().await;

    let span = telemetry.span("tools/list");
    assert_eq!(span.span_kind, SpanKind::Server);
    assert_eq!(attr_str(&span, semconv::MCP_METHOD_NAME), "tools/list");
    let version = attr_str(&span, semconv::MCP_PROTOCOL_VERSION);
    assert!(version.starts_with("20"), "protocol version {version}");
    assert!(attr(&span, semconv::GEN_AI_TOOL_NAME).is_none());
}

#[tokio::test]
async fn tools_call_success_span() {
    let telemetry = Telemetry::install();
    let session = Session::start(&telemetry.layer().build()).await;
    let result = session
        .client
        .call_tool(call("lookup", json!({"app": "app-alpha"})))
        .await
        .expect("tools/call");
    assert_ne!(result.is_error, Some(true));
    session.close().await;

    let span = telemetry.span("tools/call lookup");
    assert_eq!(span.span_kind, SpanKind::Server);
    assert_eq!(span.status, Status::Unset);
    assert_eq!(attr_str(&span, semconv::MCP_METHOD_NAME), "tools/call");
    assert_eq!(attr_str(&span, semconv::GEN_AI_TOOL_NAME), "lookup");
    assert_eq!(
        attr_str(&span, semconv::GEN_AI_OPERATION_NAME),
        "execute_tool"
    );
    assert_eq!(attr_str(&span, semconv::NETWORK_TRANSPORT), "pipe");
    assert!(!attr_str(&span, semconv::JSONRPC_REQUEST_ID).is_empty());
    assert!(attr(&span, semconv::ERROR_TYPE).is_none());
    assert!(attr(&span, semconv::RPC_RESPONSE_STATUS_CODE).is_none());
    // OpenInference, for Phoenix.
    assert_eq!(attr_str(&span, oi::SPAN_KIND), "TOOL");
    assert_eq!(attr_str(&span, oi::TOOL_NAME), "lookup");
    assert_eq!(
        attr_str(&span, oi::TOOL_DESCRIPTION),
        "Look up an application's port"
    );
    let parameters: serde_json::Value =
        serde_json::from_str(&attr_str(&span, oi::TOOL_PARAMETERS)).expect("schema JSON");
    assert!(parameters["properties"]["app"].is_object(), "{parameters}");
}

#[tokio::test]
async fn tools_call_tool_error_span() {
    let telemetry = Telemetry::install();
    let session = Session::start(&telemetry.layer().build()).await;
    let result = session
        .client
        .call_tool(call("broken", json!({})))
        .await
        .expect("a tool error is a result, not a JSON-RPC error");
    assert_eq!(result.is_error, Some(true));
    session.close().await;

    let span = telemetry.span("tools/call broken");
    assert_eq!(attr_str(&span, semconv::ERROR_TYPE), "tool_error");
    assert!(
        matches!(span.status, Status::Error { .. }),
        "{:?}",
        span.status
    );
    assert!(attr(&span, semconv::RPC_RESPONSE_STATUS_CODE).is_none());
}

#[tokio::test]
async fn tools_call_unknown_tool_span() {
    let telemetry = Telemetry::install();
    let session = Session::start(&telemetry.layer().build()).await;
    let error = session
        .client
        .call_tool(call("no_such_tool", json!({})))
        .await
        .expect_err("unknown tool is a JSON-RPC error");
    assert!(error.to_string().contains("tool not found"), "{error}");
    session.close().await;

    let span = telemetry.span("tools/call no_such_tool");
    assert_eq!(attr_str(&span, semconv::GEN_AI_TOOL_NAME), "no_such_tool");
    assert_eq!(attr_str(&span, semconv::RPC_RESPONSE_STATUS_CODE), "-32602");
    // The conventions classify -32602 on the server as the caller's error, not the server's.
    assert!(attr(&span, semconv::ERROR_TYPE).is_none());
    assert_eq!(span.status, Status::Unset);
}

#[tokio::test]
async fn unknown_tool_is_an_error_when_configured() {
    let telemetry = Telemetry::install();
    let layer = telemetry.layer().caller_errors_are_errors(true).build();
    let session = Session::start(&layer).await;
    let _ = session
        .client
        .call_tool(call("no_such_tool", json!({})))
        .await
        .expect_err("unknown tool");
    session.close().await;

    let span = telemetry.span("tools/call no_such_tool");
    assert_eq!(attr_str(&span, semconv::ERROR_TYPE), "-32602");
    assert_eq!(
        span.status,
        Status::error("tool not found"),
        "status description is the JSON-RPC error message"
    );
}

#[tokio::test]
async fn resources_read_span() {
    let telemetry = Telemetry::install();
    let session = Session::start(&telemetry.layer().build()).await;
    let read = session
        .client
        .read_resource(ReadResourceRequestParams::new(NOTE_URI))
        .await
        .expect("resources/read");
    assert_eq!(read.contents.len(), 1);
    let missing = session
        .client
        .read_resource(ReadResourceRequestParams::new("memo://notes/missing"))
        .await;
    assert!(missing.is_err());
    session.close().await;

    let spans: Vec<_> = telemetry
        .finished_spans()
        .into_iter()
        .filter(|s| s.name == "resources/read")
        .collect();
    assert_eq!(spans.len(), 2, "the URI is not in the span name by default");
    let ok = spans
        .iter()
        .find(|s| attr_str(s, semconv::MCP_RESOURCE_URI) == NOTE_URI)
        .expect("span of the found resource");
    assert_eq!(ok.span_kind, SpanKind::Server);
    assert_eq!(attr_str(ok, semconv::MCP_METHOD_NAME), "resources/read");
    assert!(attr(ok, semconv::ERROR_TYPE).is_none());
    assert!(attr(ok, semconv::GEN_AI_OPERATION_NAME).is_none());

    let missing = spans
        .iter()
        .find(|s| attr_str(s, semconv::MCP_RESOURCE_URI) == "memo://notes/missing")
        .expect("span of the missing resource");
    // -32002 lies in the JSON-RPC server-error range, which the conventions count as errors.
    assert_eq!(
        attr_str(missing, semconv::RPC_RESPONSE_STATUS_CODE),
        "-32002"
    );
    assert_eq!(attr_str(missing, semconv::ERROR_TYPE), "-32002");
    assert!(matches!(missing.status, Status::Error { .. }));
}

#[tokio::test]
async fn resource_uri_in_span_name_is_opt_in() {
    let telemetry = Telemetry::install();
    let layer = telemetry
        .layer()
        .resource_uri_in_span_name(true)
        .transport(Transport::Tcp)
        .build();
    let session = Session::start(&layer).await;
    session
        .client
        .read_resource(ReadResourceRequestParams::new(NOTE_URI))
        .await
        .expect("resources/read");
    session.close().await;

    let span = telemetry.span(&format!("resources/read {NOTE_URI}"));
    assert_eq!(attr_str(&span, semconv::NETWORK_TRANSPORT), "tcp");
}

#[tokio::test]
async fn user_id_comes_from_the_configured_function() {
    let telemetry = Telemetry::install();
    let layer = telemetry
        .layer()
        .user_id(|context| Some(format!("user-of-request-{}", context.id)))
        .build();
    let session = Session::start(&layer).await;
    session
        .client
        .call_tool(call("lookup", json!({"app": "a"})))
        .await
        .expect("tools/call");
    session.close().await;

    let span = telemetry.span("tools/call lookup");
    let request_id = attr_str(&span, semconv::JSONRPC_REQUEST_ID);
    assert_eq!(
        attr_str(&span, oi::USER_ID),
        format!("user-of-request-{request_id}")
    );
}
