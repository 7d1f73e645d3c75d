//! What the collector receives per span: by default only the span's own attributes, and no
//! rmcp session span; with `span_details` also where it was opened, on which thread, and its
//! busy and idle time. The
//! spans go through the whole pipeline (`mcp_otel::build`, OTLP over HTTP/protobuf) to a
//! collector on loopback that decodes each export.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use mcp_otel::{SamplerConfig, TelemetryConfig, TraceExporter};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message as _;

/// Every span received, by name: its attribute keys.
type Received = Arc<Mutex<BTreeMap<String, Vec<String>>>>;

/// An OTLP/HTTP trace receiver on loopback: its base URL and what it received.
async fn collector() -> (String, Received) {
    let received = Received::default();
    let store = received.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |body: Bytes| {
            let store = store.clone();
            async move {
                let request = ExportTraceServiceRequest::decode(body).expect("an OTLP request");
                let mut store = store.lock().expect("store");
                for span in request
                    .resource_spans
                    .iter()
                    .flat_map(|r| &r.scope_spans)
                    .flat_map(|s| &s.spans)
                {
                    let keys = span.attributes.iter().map(|kv| kv.key.clone()).collect();
                    store.insert(span.name.clone(), keys);
                }
                ""
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, received)
}

/// One `nested` call (a request span with a `cache.read` and an `auth.check_scope` inside)
/// exported with `span_details`; what the collector received.
async fn export_one_call(span_details: bool) -> BTreeMap<String, Vec<String>> {
    let (endpoint, received) = collector().await;
    let mut config = TelemetryConfig::new("span-details-test");
    config.traces = TraceExporter::Otlp;
    config.otlp_endpoint = endpoint;
    config.sampler = SamplerConfig::AlwaysOn;
    config.metrics = false;
    config.log_to_stderr = false;
    config.span_details = span_details;
    let (guard, dispatch) = mcp_otel::build(&config).expect("pipeline");
    common::nested_call_through(&guard, &dispatch).await;
    // The batch exporter runs on its own thread and posts to the collector on this runtime.
    tokio::task::spawn_blocking(move || guard.shutdown())
        .await
        .expect("shutdown");
    for _ in 0..100 {
        if received.lock().expect("store").len() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    received.lock().expect("store").clone()
}

const DETAILS: [&str; 8] = [
    "code.file.path",
    "code.module.name",
    "code.line.number",
    "target",
    "thread.id",
    "thread.name",
    "busy_ns",
    "idle_ns",
];

#[tokio::test]
async fn spans_carry_details_only_when_asked() {
    // A second dispatcher, so that tracing asks each one instead of caching the first answer.
    let _other = tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default());

    let lean = export_one_call(false).await;
    for name in ["tools/call nested", "cache.read", "auth.check_scope"] {
        let keys = lean
            .get(name)
            .unwrap_or_else(|| panic!("no {name} in {lean:?}"));
        assert!(
            keys.iter().all(|k| !DETAILS.contains(&k.as_str())),
            "{name}: {keys:?}"
        );
    }
    assert!(
        !lean.contains_key("serve_inner"),
        "rmcp's session span is not exported by default: {lean:?}"
    );
    let request = &lean["tools/call nested"];
    assert!(
        request.iter().any(|k| k == "gen_ai.tool.name"),
        "{request:?}"
    );
    assert!(lean["cache.read"].iter().any(|k| k == "cache.hit"));

    let detailed = export_one_call(true).await;
    for name in ["tools/call nested", "cache.read", "auth.check_scope"] {
        let keys = detailed
            .get(name)
            .unwrap_or_else(|| panic!("no {name} in {detailed:?}"));
        for detail in DETAILS {
            assert!(
                keys.iter().any(|k| k == detail),
                "{name} lacks {detail}: {keys:?}"
            );
        }
    }
}
