//! `tracing` integration: spans of any `tracing` code (e.g. mcp-cache's `cache.read`, mcp-authz's
//! `auth.check_scope`) nest under the request span, and fmt log lines carry `trace_id`/`span_id`.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::{TestServer, attr_str, call};
use mcp_otel::{OtelLayer, TraceIdFormat};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use rmcp::ServiceExt;
use serde_json::json;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("buffer").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Buffer {
    type Writer = Self;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test]
async fn library_spans_nest_and_log_lines_carry_ids() {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let logs = Buffer::default();
    let format = TraceIdFormat::new(tracing_subscriber::fmt::format().with_ansi(false));
    let subscriber = tracing_subscriber::registry()
        .with(tracing_subscriber::filter::LevelFilter::DEBUG)
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(logs.clone())
                .event_format(format.clone()),
        )
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
    let dispatch = tracing::Dispatch::new(subscriber);
    format.bind(&dispatch);
    let _guard = tracing::dispatcher::set_default(&dispatch);

    let (server_io, client_io) = tokio::io::duplex(64 * 1024);
    let handler = OtelLayer::builder()
        .without_metrics()
        .build()
        .layer(TestServer::default());
    let server = tokio::spawn(async move {
        if let Ok(running) = handler.serve(server_io).await {
            let _ = running.waiting().await;
        }
    });
    let client = ().serve(client_io).await.expect("initialize");
    client
        .call_tool(call("nested", json!({})))
        .await
        .expect("nested");
    client.cancel().await.expect("cancel");
    server.await.expect("server");

    let spans = exporter.get_finished_spans().expect("spans");
    let find = |name: &str| {
        spans
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no span {name}"))
            .clone()
    };
    let request = find("tools/call nested");
    let cache = find("cache.read");
    let auth = find("auth.check_scope");
    for inner in [&cache, &auth] {
        assert_eq!(
            inner.span_context.trace_id(),
            request.span_context.trace_id()
        );
        assert_eq!(
            inner.parent_span_id,
            request.span_context.span_id(),
            "{}",
            inner.name
        );
    }
    assert_eq!(attr_str(&cache, "cache.hit"), "true");
    assert_eq!(attr_str(&cache, "cache.age_seconds"), "3.5");
    assert_eq!(attr_str(&auth, "enduser.id"), "alice");
    assert_eq!(attr_str(&auth, "auth.decision"), "allow");

    let text = String::from_utf8(logs.0.lock().expect("logs").clone()).expect("utf-8 logs");
    let line = text
        .lines()
        .find(|l| l.contains("served from cache"))
        .unwrap_or_else(|| panic!("no log line in {text}"));
    assert!(
        line.starts_with(&format!(
            "trace_id={} span_id={} ",
            request.span_context.trace_id(),
            cache.span_context.span_id()
        )),
        "{line}"
    );
    let debug = text
        .lines()
        .find(|l| l.contains("scope granted"))
        .unwrap_or_else(|| panic!("no debug line in {text}"));
    assert!(
        debug.contains(&format!("span_id={}", auth.span_context.span_id())),
        "{debug}"
    );
}

/// One `nested` call through the whole pipeline (`build_with_log_writer`, console export) with
/// `log_span_fields`; the log lines written.
async fn pipeline_logs(log_span_fields: bool) -> String {
    pipeline_logs_with(log_span_fields, "info").await
}

/// [`pipeline_logs`] with `log_filter` as the log filter.
async fn pipeline_logs_with(log_span_fields: bool, log_filter: &str) -> String {
    let logs = Buffer::default();
    let mut config = mcp_otel::TelemetryConfig::new("log-fields-test");
    config.traces = mcp_otel::TraceExporter::Console;
    config.sampler = mcp_otel::SamplerConfig::AlwaysOn;
    config.metrics = false;
    config.log_ansi = false;
    config.log_span_fields = log_span_fields;
    config.log_filter = log_filter.to_owned();
    let (guard, dispatch) =
        mcp_otel::build_with_log_writer(&config, logs.clone()).expect("pipeline");
    common::nested_call_through(&guard, &dispatch).await;
    guard.shutdown();
    String::from_utf8(logs.0.lock().expect("logs").clone()).expect("utf-8 logs")
}

/// The log line of the `nested` tool's cache read.
fn served_from_cache(logs: &str) -> &str {
    logs.lines()
        .find(|l| l.contains("served from cache"))
        .unwrap_or_else(|| panic!("no log line in {logs}"))
}

/// `trace_id=<32 hex> span_id=<16 hex> ` at the start of `line`.
fn starts_with_ids(line: &str) -> bool {
    let hex = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit());
    let mut words = line.split(' ');
    let trace = words.next().and_then(|w| w.strip_prefix("trace_id="));
    let span = words.next().and_then(|w| w.strip_prefix("span_id="));
    trace.is_some_and(|t| hex(t, 32)) && span.is_some_and(|s| hex(s, 16))
}

#[tokio::test]
async fn pipeline_log_lines_format_spans_only_when_asked() {
    // A second dispatcher, so that tracing asks each one instead of caching the first answer.
    let _other = tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default());

    // By default the line points to its span by id and does not repeat the span's fields.
    let lean = pipeline_logs(false).await;
    let line = served_from_cache(&lean);
    assert!(starts_with_ids(line), "{line}");
    assert!(
        !line.contains("cache.read") && !line.contains("tools/call"),
        "{line}"
    );

    // Asked for, the line also names its spans with their fields.
    let full = pipeline_logs(true).await;
    let line = served_from_cache(&full);
    assert!(starts_with_ids(line), "{line}");
    assert!(line.contains("cache.read{cache.hit=true"), "{line}");
}

#[tokio::test]
async fn log_filters_by_target_and_by_enclosing_span() {
    let _other = tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default());
    let has = |logs: &str, message: &str| logs.lines().any(|l| l.contains(message));

    // Targets and levels only.
    let quiet = pipeline_logs_with(false, "warn").await;
    assert!(!has(&quiet, "served from cache"), "{quiet}");
    let by_target = pipeline_logs_with(false, "warn,tracing_integration=debug").await;
    assert!(has(&by_target, "served from cache"), "{by_target}");
    assert!(has(&by_target, "scope granted"), "{by_target}");

    // A span directive: only what happens inside `cache.read` is logged at info, whether or not
    // the log lines format their spans.
    for log_span_fields in [false, true] {
        let in_span = pipeline_logs_with(log_span_fields, "warn,[cache.read]=info").await;
        assert!(has(&in_span, "served from cache"), "{in_span}");
        assert!(!has(&in_span, "scope granted"), "{in_span}");
        let elsewhere = pipeline_logs_with(log_span_fields, "warn,[cache.write]=info").await;
        assert!(!has(&elsewhere, "served from cache"), "{elsewhere}");
    }
}
