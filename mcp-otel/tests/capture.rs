//! Input/output capture: off by default; on, with redaction of configured fields and a size cap.

mod common;

use common::{Session, Telemetry, attr, attr_str, call};
use mcp_otel::{CaptureConfig, openinference as oi, semconv};
use serde_json::json;

const SECRET: &str = "hunter2-very-secret";

/// One `lookup` call with `args` through `layer`, in its own session.
async fn call_lookup(layer: &mcp_otel::OtelLayer, args: serde_json::Value) {
    let session = Session::start(layer).await;
    session
        .client
        .call_tool(call("lookup", args))
        .await
        .expect("tools/call");
    session.close().await;
}

#[tokio::test]
async fn capture_is_off_by_default() {
    let telemetry = Telemetry::install();
    call_lookup(
        &telemetry.layer().build(),
        json!({"app": "app-alpha", "password": SECRET}),
    )
    .await;

    for span in telemetry.finished_spans() {
        for key in [
            oi::INPUT_VALUE,
            oi::OUTPUT_VALUE,
            semconv::GEN_AI_TOOL_CALL_ARGUMENTS,
            semconv::GEN_AI_TOOL_CALL_RESULT,
        ] {
            assert!(attr(&span, key).is_none(), "{} has {key}", span.name);
        }
        for kv in &span.attributes {
            assert!(
                !kv.value.as_str().contains(SECRET),
                "{} leaks {kv:?}",
                span.name
            );
            assert!(
                !kv.value.as_str().contains("app-alpha"),
                "{} captured {kv:?}",
                span.name
            );
        }
    }
}

#[tokio::test]
async fn capture_on_redacts_configured_fields() {
    let telemetry = Telemetry::install();
    let layer = telemetry
        .layer()
        .capture(CaptureConfig::enabled().redact(["app"]))
        .build();
    call_lookup(&layer, json!({"app": "app-alpha", "password": SECRET})).await;

    let span = telemetry.span("tools/call lookup");
    let input = attr_str(&span, oi::INPUT_VALUE);
    let parsed: serde_json::Value = serde_json::from_str(&input).expect("input is JSON");
    assert_eq!(parsed["password"], "[REDACTED]", "default list: password");
    assert_eq!(parsed["app"], "[REDACTED]", "configured field");
    assert!(!input.contains(SECRET));
    assert_eq!(attr_str(&span, oi::INPUT_MIME_TYPE), "application/json");
    assert_eq!(attr_str(&span, semconv::GEN_AI_TOOL_CALL_ARGUMENTS), input);

    let output = attr_str(&span, oi::OUTPUT_VALUE);
    let parsed: serde_json::Value = serde_json::from_str(&output).expect("output is JSON");
    assert_eq!(parsed["structuredContent"]["port"], 443, "{output}");
    assert_eq!(
        parsed["structuredContent"]["app"], "[REDACTED]",
        "redaction applies to outputs too"
    );
    assert_eq!(attr_str(&span, oi::OUTPUT_MIME_TYPE), "application/json");
    assert_eq!(attr_str(&span, semconv::GEN_AI_TOOL_CALL_RESULT), output);
}

#[tokio::test]
async fn capture_without_metrics_records_the_tool_call_too() {
    let telemetry = Telemetry::install();
    let layer = telemetry
        .layer()
        .without_metrics()
        .capture(CaptureConfig::enabled())
        .build();
    call_lookup(&layer, json!({"app": "app-alpha"})).await;

    let span = telemetry.span("tools/call lookup");
    let input = attr_str(&span, oi::INPUT_VALUE);
    assert!(input.contains("app-alpha"), "{input}");
    assert_eq!(attr_str(&span, semconv::GEN_AI_TOOL_CALL_ARGUMENTS), input);
    let output = attr_str(&span, oi::OUTPUT_VALUE);
    assert_eq!(attr_str(&span, semconv::GEN_AI_TOOL_CALL_RESULT), output);
}

#[tokio::test]
async fn capture_respects_the_size_cap() {
    let telemetry = Telemetry::install();
    let layer = telemetry
        .layer()
        .capture(CaptureConfig::enabled().max_bytes(16))
        .build();
    call_lookup(&layer, json!({"app": "x".repeat(500)})).await;

    let span = telemetry.span("tools/call lookup");
    let input = attr_str(&span, oi::INPUT_VALUE);
    assert!(input.ends_with("…[truncated]"), "{input}");
    assert!(input.len() <= 16 + "…[truncated]".len(), "{input}");
}

#[cfg(feature = "pipeline")]
#[test]
fn capture_from_the_environment() {
    let env = [
        ("MCP_OTEL_CAPTURE_IO", "true"),
        ("MCP_OTEL_REDACT_FIELDS", "ssn, card "),
    ];
    let config = mcp_otel::TelemetryConfig::new("t")
        .merge_lookup(|k| {
            env.iter()
                .find(|(key, _)| *key == k)
                .map(|(_, v)| (*v).to_owned())
        })
        .expect("valid env");
    assert!(config.capture.enabled);
    let text = config
        .capture
        .render(&json!({"ssn": "1", "card": "2", "name": "ada"}))
        .expect("enabled");
    assert_eq!(
        text,
        r#"{"card":"[REDACTED]","name":"ada","ssn":"[REDACTED]"}"#
    );
    assert!(
        !mcp_otel::TelemetryConfig::new("t").capture.enabled,
        "off by default"
    );
}
