//! Graceful degradation: with the collector down (a closed port) or blackholed (a listener that
//! accepts and never answers), every MCP call still succeeds, the export failures are counted by
//! the guard and nothing reaches the caller. (How much a call costs is measured by the
//! `otel_overhead` criterion bench, not asserted here.)

mod common;

use std::time::Duration;

use common::{Session, call};
use mcp_otel::{SamplerConfig, TelemetryConfig, TraceExporter};
use serde_json::json;

fn config(endpoint: String) -> TelemetryConfig {
    let mut config = TelemetryConfig::new("degradation-test");
    config.traces = TraceExporter::Otlp;
    config.otlp_endpoint = endpoint;
    config.sampler = SamplerConfig::AlwaysOn;
    config.metrics = false;
    config.log_to_stderr = false;
    config.scheduled_delay = Duration::from_millis(50);
    config.export_timeout = Duration::from_millis(300);
    config.max_queue_size = 16;
    config
}

async fn calls_succeed(config: &TelemetryConfig) -> mcp_otel::ExportStats {
    let (guard, dispatch) = mcp_otel::build(config).expect("pipeline");
    let _default = tracing::dispatcher::set_default(&dispatch);
    let session = Session::start(&guard.layer().build()).await;
    // More calls than the queue holds: the overflow is dropped, never waited for.
    for i in 0..40 {
        let result = session
            .client
            .call_tool(call("lookup", json!({"app": format!("app-{i}")})))
            .await
            .expect("the call succeeds with the collector unreachable");
        assert_ne!(result.is_error, Some(true));
    }
    session.close().await;
    guard.flush();
    let stats = guard.stats();
    guard.shutdown();
    stats
}

#[tokio::test]
async fn collector_down() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    }; // dropped: the port is closed
    let stats = calls_succeed(&config(format!("http://127.0.0.1:{port}"))).await;
    assert_eq!(stats.exported_spans, 0, "{stats:?}");
    assert!(
        stats.failed_spans > 0,
        "export failures are counted: {stats:?}"
    );
}

#[tokio::test]
async fn collector_blackholed() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    // Accepts connections and never answers; the thread ends with the test process.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    let stats = calls_succeed(&config(format!("http://127.0.0.1:{port}"))).await;
    assert_eq!(stats.exported_spans, 0, "{stats:?}");
    assert!(
        stats.failed_spans > 0,
        "timed-out exports are counted: {stats:?}"
    );
}
