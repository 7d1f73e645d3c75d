//! The console exporter's line for a span: name, kind, ids, status and attributes.

use mcp_otel::ConsoleExporter;
use opentelemetry::KeyValue;
use opentelemetry::trace::{Span as _, SpanKind, Status, Tracer as _, TracerProvider as _};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};

#[test]
fn renders_one_line_per_span() {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let tracer = provider.tracer("console-test");
    let mut span = tracer
        .span_builder("tools/call broken")
        .with_kind(SpanKind::Server)
        .with_attributes([KeyValue::new("error.type", "tool_error")])
        .start(&tracer);
    span.set_status(Status::error("the downstream API is unavailable"));
    span.end();

    let spans = exporter.get_finished_spans().expect("spans");
    let line = ConsoleExporter::render(&spans[0]);
    assert!(
        line.starts_with("[otel] tools/call broken kind=Server "),
        "{line}"
    );
    assert!(
        line.contains(&format!("trace_id={}", spans[0].span_context.trace_id())),
        "{line}"
    );
    assert!(
        line.contains("status=ERROR(the downstream API is unavailable)"),
        "{line}"
    );
    assert!(line.contains("error.type=tool_error"), "{line}");
    assert!(!line.contains('\n'));
}
