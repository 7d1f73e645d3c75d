//! The load generator against the real reference server on a free loopback port: counts, error
//! accounting (tool errors, JSON-RPC errors, refused sessions) and the request cap.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use mcp_patterns_benches::load::{self, LoadConfig, LoadError, Op};
use mcp_patterns_example::{HttpOptions, RunningHttp, start_http};
use serde_json::json;

async fn reference_server() -> RunningHttp {
    start_http(HttpOptions {
        bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
        port: 0,
        ..HttpOptions::default()
    })
    .await
    .expect("reference server starts")
}

fn token(server: &RunningHttp, user: &str) -> String {
    server
        .demo_tokens
        .iter()
        .find(|(u, _)| u.subject == user)
        .map(|(_, t)| t.clone())
        .expect("demo user")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_requests_per_op_and_stops_at_the_request_cap() {
    let server = reference_server().await;
    let mut config = LoadConfig::new(server.mcp_url.clone());
    config.bearers = vec![token(&server, "alice"), token(&server, "ada")];
    config.clients = 4;
    config.warmup = Duration::from_millis(200);
    config.duration = Duration::from_secs(30);
    config.max_requests = Some(300);
    config.mix = Op::reference_mix(&["app-alpha".to_owned()]);

    let report = load::run(&config).await.expect("load runs");
    assert_eq!(
        report.requests,
        300,
        "stops at the cap: {}",
        report.summary()
    );
    assert_eq!(report.errors, 0, "{:?}", report.error_samples);
    assert!(report.warmup_requests > 0, "the warm-up ran requests");
    assert!(
        report.elapsed < Duration::from_secs(30),
        "the cap ended the window early"
    );
    let per_op: u64 = report.per_op.iter().map(|o| o.requests).sum();
    assert_eq!(per_op, 300);
    let get = report
        .per_op
        .iter()
        .find(|o| o.op == "tools/call get_firewall_rule(app-alpha)")
        .expect("get_firewall_rule counted");
    // 80 % of the mix: well above the other two.
    assert!(get.requests > 150, "{:?}", report.per_op);
    assert!(report.p50 > Duration::ZERO && report.p50 <= report.p99 && report.p99 <= report.max);
    assert!(report.throughput_per_s > 0.0);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_errors_and_json_rpc_errors_count_as_errors() {
    let server = reference_server().await;
    let mut config = LoadConfig::new(server.mcp_url.clone());
    // alice may read app-alpha only: app-beta is a tool error (isError) for get_firewall_rule
    // and a JSON-RPC "resource not found" error for resources/read.
    config.bearers = vec![token(&server, "alice")];
    config.clients = 2;
    config.warmup = Duration::ZERO;
    config.duration = Duration::from_secs(30);
    config.max_requests = Some(200);
    config.mix = vec![
        (
            1,
            Op::call_tool("get_firewall_rule", json!({ "app_name": "app-alpha" })),
        ),
        (
            1,
            Op::call_tool("get_firewall_rule", json!({ "app_name": "app-beta" })),
        ),
        (1, Op::read_resource("cache://firewalls/app-beta")),
    ];

    let report = load::run(&config).await.expect("load runs");
    assert_eq!(report.requests, 200);
    let count = |label: &str| {
        report
            .per_op
            .iter()
            .find(|o| o.op == label)
            .map(|o| (o.requests, o.errors))
            .expect("op counted")
    };
    let (ok_requests, ok_errors) = count("tools/call get_firewall_rule(app-alpha)");
    let (tool_requests, tool_errors) = count("tools/call get_firewall_rule(app-beta)");
    let (read_requests, read_errors) = count("resources/read cache://firewalls/app-beta");
    assert!(ok_requests > 0 && tool_requests > 0 && read_requests > 0);
    assert_eq!(ok_errors, 0);
    assert_eq!(
        tool_errors, tool_requests,
        "every isError result is an error"
    );
    assert_eq!(
        read_errors, read_requests,
        "every JSON-RPC error is an error"
    );
    assert_eq!(report.errors, tool_errors + read_errors);
    assert!(
        report.error_samples.iter().any(|s| s.starts_with(
            "tools/call get_firewall_rule(app-beta): tool error: no entitlement for application 'app-beta'"
        )),
        "{:?}",
        report.error_samples
    );
    assert!(
        report
            .error_samples
            .iter()
            .any(|s| s.starts_with("resources/read cache://firewalls/app-beta: JSON-RPC error")),
        "{:?}",
        report.error_samples
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_session_is_a_connect_error() {
    let server = reference_server().await;
    let mut config = LoadConfig::new(server.mcp_url.clone());
    config.bearers = vec![token(&server, "alice"), "not-a-jwt".to_owned()];
    config.clients = 2;
    match load::run(&config).await {
        Err(LoadError::Connect { client, .. }) => {
            assert_eq!(client, 1, "the second client's token");
        }
        other => panic!("expected a connect error, got {other:?}"),
    }
    server.shutdown().await;
}
