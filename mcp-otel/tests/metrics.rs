//! Metric points recorded by the layer (read from the SDK's in-memory metric exporter): the MCP
//! server histograms with the conventions' bucket advice, tool calls by name and outcome, and
//! the cache/auth adapters.

mod common;

use std::time::Duration;

use common::{Session, Telemetry, call, counter_points, gauge_points, has, histogram_points};
use mcp_otel::metrics::{OUTCOME, TOOL_CALLS};
use mcp_otel::semconv;
use mcp_otel::stats::{self, AuthMetrics, CacheMetrics, CacheSnapshot};
use opentelemetry::metrics::MeterProvider as _;
use serde_json::json;

#[tokio::test]
async fn operation_and_session_durations_and_tool_calls() {
    let telemetry = Telemetry::install();
    let session = Session::start(&telemetry.layer().build()).await;
    session.client.list_all_tools().await.expect("tools/list");
    for _ in 0..2 {
        session
            .client
            .call_tool(call("lookup", json!({"app": "a"})))
            .await
            .expect("lookup");
    }
    session
        .client
        .call_tool(call("broken", json!({})))
        .await
        .expect("broken");
    let _ = session.client.call_tool(call("nope", json!({}))).await;
    session.close().await;

    let metrics = telemetry.collect_metrics();
    let ops = histogram_points(&metrics, semconv::MCP_SERVER_OPERATION_DURATION);
    assert!(!ops.is_empty(), "no operation duration points");
    for point in &ops {
        assert_eq!(
            point.bounds,
            semconv::DURATION_BUCKETS.to_vec(),
            "bucket advice"
        );
        assert!(point.sum >= 0.0);
    }
    let point = |method: &str, tool: Option<&str>| {
        ops.iter()
            .filter(|p| p.attr(semconv::MCP_METHOD_NAME).as_deref() == Some(method))
            .filter(|p| tool.is_none() || p.attr(semconv::GEN_AI_TOOL_NAME).as_deref() == tool)
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(
        point("initialize", None)
            .iter()
            .map(|p| p.count)
            .sum::<u64>(),
        1
    );
    assert_eq!(
        point("tools/list", None)
            .iter()
            .map(|p| p.count)
            .sum::<u64>(),
        1
    );
    let lookup = point("tools/call", Some("lookup"));
    assert_eq!(lookup.len(), 1);
    assert_eq!(lookup[0].count, 2);
    assert_eq!(
        lookup[0].attr(semconv::GEN_AI_OPERATION_NAME).as_deref(),
        Some("execute_tool")
    );
    assert_eq!(
        lookup[0].attr(semconv::NETWORK_TRANSPORT).as_deref(),
        Some("pipe")
    );
    assert!(lookup[0].attr(semconv::MCP_PROTOCOL_VERSION).is_some());
    assert_eq!(lookup[0].attr(semconv::ERROR_TYPE), None);
    let broken = point("tools/call", Some("broken"));
    assert_eq!(
        broken[0].attr(semconv::ERROR_TYPE).as_deref(),
        Some("tool_error")
    );
    let nope = point("tools/call", Some("nope"));
    assert_eq!(
        nope[0].attr(semconv::RPC_RESPONSE_STATUS_CODE).as_deref(),
        Some("-32602")
    );

    let sessions = histogram_points(&metrics, semconv::MCP_SERVER_SESSION_DURATION);
    assert_eq!(sessions.len(), 1, "{sessions:?}");
    assert_eq!(sessions[0].count, 1);
    assert_eq!(sessions[0].bounds, semconv::DURATION_BUCKETS.to_vec());
    assert!(sessions[0].attr(semconv::MCP_PROTOCOL_VERSION).is_some());

    let calls = counter_points(&metrics, TOOL_CALLS);
    let count = |tool: &str, outcome: &str| {
        calls
            .iter()
            .filter(|(a, _)| has(a, semconv::GEN_AI_TOOL_NAME, tool) && has(a, OUTCOME, outcome))
            .map(|(_, v)| *v)
            .sum::<u64>()
    };
    assert_eq!(count("lookup", "ok"), 2);
    assert_eq!(count("broken", "tool_error"), 1);
    assert_eq!(count("nope", "error"), 1);
    assert_eq!(count("lookup", "error"), 0);
}

#[tokio::test]
async fn without_metrics_records_nothing() {
    let telemetry = Telemetry::install();
    let session = Session::start(&mcp_otel::OtelLayer::builder().without_metrics().build()).await;
    session.client.list_all_tools().await.expect("tools/list");
    session.close().await;
    let metrics = telemetry.collect_metrics();
    assert!(histogram_points(&metrics, semconv::MCP_SERVER_OPERATION_DURATION).is_empty());
}

#[test]
fn cache_and_auth_adapters() {
    let telemetry = Telemetry::install();
    let meter = telemetry.meter_provider.meter("adapters");
    let _observation = CacheMetrics::observe(&meter, "firewalls", || CacheSnapshot {
        items: Some(3),
        age_seconds: Some(12.5),
        refreshes: 7,
        refresh_errors: 1,
        hits: 40,
        misses: 2,
    });
    let cache = CacheMetrics::new(&meter, "firewalls");
    cache.record_refresh(Duration::from_millis(30), true);
    cache.record_refresh(Duration::from_millis(70), false);
    let auth = AuthMetrics::new(&meter);
    auth.record_verify(Duration::from_micros(80), "valid");
    auth.record_decision("firewall:read", true);
    auth.record_decision("firewall:admin", false);
    auth.record_decision("firewall:admin", false);

    let metrics = telemetry.collect_metrics();
    let items = gauge_points(&metrics, stats::CACHE_ITEMS);
    assert_eq!(items.len(), 1);
    assert!(has(&items[0].0, stats::CACHE_NAME, "firewalls"));
    assert!((items[0].1 - 3.0).abs() < f64::EPSILON);
    let age = gauge_points(&metrics, stats::CACHE_AGE);
    assert!((age[0].1 - 12.5).abs() < f64::EPSILON);
    let refreshes = counter_points(&metrics, stats::CACHE_REFRESHES);
    assert!(
        refreshes
            .iter()
            .any(|(a, v)| has(a, OUTCOME, "ok") && *v == 7)
    );
    assert!(
        refreshes
            .iter()
            .any(|(a, v)| has(a, OUTCOME, "error") && *v == 1)
    );
    let lookups = counter_points(&metrics, stats::CACHE_LOOKUPS);
    assert!(
        lookups
            .iter()
            .any(|(a, v)| has(a, stats::CACHE_HIT, "true") && *v == 40)
    );
    let durations = histogram_points(&metrics, stats::CACHE_REFRESH_DURATION);
    assert_eq!(durations.iter().map(|p| p.count).sum::<u64>(), 2);
    let verify = histogram_points(&metrics, stats::AUTH_VERIFY_DURATION);
    assert_eq!(verify[0].attr(OUTCOME).as_deref(), Some("valid"));
    let decisions = counter_points(&metrics, stats::AUTH_DECISIONS);
    assert!(decisions.iter().any(|(a, v)| {
        has(a, stats::AUTH_DECISION, "deny")
            && has(a, stats::AUTH_PERMISSION, "firewall:admin")
            && *v == 2
    }));
}
