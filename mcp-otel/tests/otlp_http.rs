//! The OTLP/HTTP span exporter as a collector sees it: one protobuf `POST /v1/traces` per batch
//! with the configured headers, every span of the calls in it, and a collector that refuses
//! (HTTP 503 with a garbage body) counted as failed exports while every call still succeeds.
//! The spans go through the whole pipeline (`mcp_otel::build`) to a collector on loopback.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use common::{Session, call};
use mcp_otel::{SamplerConfig, TelemetryConfig, TraceExporter};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message as _;
use serde_json::json;

#[derive(Default)]
struct Seen {
    content_types: Vec<String>,
    api_keys: Vec<String>,
    span_names: Vec<String>,
    service_names: Vec<String>,
}

/// A collector on loopback answering `status` (with a body that is not OTLP when it refuses);
/// its base URL and what it saw.
async fn collector(status: StatusCode) -> (String, Arc<Mutex<Seen>>) {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let store = seen.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let store = store.clone();
            async move {
                let header = |name: &str| {
                    headers
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_owned()
                };
                let request = ExportTraceServiceRequest::decode(body).expect("an OTLP request");
                let mut seen = store.lock().expect("seen");
                seen.content_types.push(header("content-type"));
                seen.api_keys.push(header("api_key"));
                for resource in &request.resource_spans {
                    for kv in resource.resource.iter().flat_map(|r| &r.attributes) {
                        if kv.key == "service.name" {
                            seen.service_names.push(format!("{:?}", kv.value));
                        }
                    }
                    for scope in &resource.scope_spans {
                        seen.span_names
                            .extend(scope.spans.iter().map(|s| s.name.clone()));
                    }
                }
                (status, "\u{0}not protobuf \u{ff}")
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

fn config(endpoint: String) -> TelemetryConfig {
    let mut config = TelemetryConfig::new("otlp-http-test");
    config.traces = TraceExporter::Otlp;
    config.otlp_endpoint = endpoint;
    config.otlp_headers = vec![("api_key".into(), "secret-1".into())];
    config.sampler = SamplerConfig::AlwaysOn;
    config.metrics = false;
    config.log_to_stderr = false;
    config.scheduled_delay = Duration::from_millis(50);
    config
}

/// Makes `calls` calls through the pipeline, flushes, and returns the export counters.
async fn calls(config: &TelemetryConfig, calls: usize) -> mcp_otel::ExportStats {
    let (guard, dispatch) = mcp_otel::build(config).expect("pipeline");
    let _default = tracing::dispatcher::set_default(&dispatch);
    let session = Session::start(&guard.layer().build()).await;
    for i in 0..calls {
        let result = session
            .client
            .call_tool(call("lookup", json!({"app": format!("app-{i}")})))
            .await
            .expect("the call succeeds");
        assert_ne!(result.is_error, Some(true));
    }
    session.close().await;
    // The exporter blocks its own thread on the collector, which runs on this runtime.
    tokio::task::spawn_blocking(move || {
        guard.flush();
        let stats = guard.stats();
        guard.shutdown();
        stats
    })
    .await
    .expect("flush")
}

#[tokio::test]
async fn the_collector_receives_every_span_as_protobuf_with_the_configured_headers() {
    let _other = tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default());
    let (endpoint, seen) = collector(StatusCode::OK).await;
    let stats = calls(&config(endpoint), 5).await;
    let seen = seen.lock().expect("seen");
    let lookups = seen
        .span_names
        .iter()
        .filter(|n| *n == "tools/call lookup")
        .count();
    assert_eq!(lookups, 5, "{:?}", seen.span_names);
    assert_eq!(
        stats.exported_spans,
        seen.span_names.len() as u64,
        "{stats:?}"
    );
    assert_eq!(stats.failed_spans, 0, "{stats:?}");
    assert!(!seen.content_types.is_empty());
    assert!(
        seen.content_types
            .iter()
            .all(|c| c == "application/x-protobuf"),
        "{:?}",
        seen.content_types
    );
    assert!(
        seen.api_keys.iter().all(|k| k == "secret-1"),
        "{:?}",
        seen.api_keys
    );
    assert!(
        seen.service_names
            .iter()
            .all(|s| s.contains("otlp-http-test")),
        "{:?}",
        seen.service_names
    );
}

#[tokio::test]
async fn a_refusing_collector_is_counted_and_never_reaches_the_calls() {
    let _other = tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default());
    let (endpoint, seen) = collector(StatusCode::SERVICE_UNAVAILABLE).await;
    let stats = calls(&config(endpoint), 5).await;
    let received = seen.lock().expect("seen").span_names.len() as u64;
    assert!(received >= 5, "the exports were made");
    assert_eq!(stats.exported_spans, 0, "{stats:?}");
    assert_eq!(stats.failed_spans, received, "{stats:?}");
}
