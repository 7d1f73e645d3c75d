//! A span exporter for local development that prints one line per finished span to stderr.

use std::fmt::Write as _;
use std::io::Write as _;

use opentelemetry::trace::Status;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};

/// Prints each finished span as one line on stderr: name, kind, trace and span ids, parent,
/// duration, status and attributes. Selected with `OTEL_TRACES_EXPORTER=console`.
#[derive(Debug, Default, Clone, Copy)]
pub struct ConsoleExporter;

impl ConsoleExporter {
    /// The line printed for `span`.
    pub fn render(span: &SpanData) -> String {
        let millis = span
            .end_time
            .duration_since(span.start_time)
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0);
        let mut line = format!(
            "[otel] {} kind={:?} trace_id={} span_id={} parent_id={} duration_ms={millis:.3}",
            span.name,
            span.span_kind,
            span.span_context.trace_id(),
            span.span_context.span_id(),
            span.parent_span_id,
        );
        if let Status::Error { description } = &span.status {
            let _ = write!(line, " status=ERROR({description})");
        }
        for kv in &span.attributes {
            let _ = write!(line, " {}={}", kv.key, kv.value);
        }
        line
    }
}

impl SpanExporter for ConsoleExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let mut out = std::io::stderr().lock();
        for span in &batch {
            // A closed stderr must not fail the export pipeline.
            let _ = writeln!(out, "{}", Self::render(span));
        }
        Ok(())
    }
}
