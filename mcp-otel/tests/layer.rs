//! `OtelLayer` as a `tower` layer, and the per-session semantics of cloning an `OtelHandler`:
//! the stack is built once and rmcp's Streamable HTTP service factory clones it per session.

mod common;

use common::{Telemetry, TestServer, histogram_points};
use mcp_otel::{OtelHandler, OtelLayer, semconv};
use rmcp::ServiceExt;
use tower::ServiceBuilder;

/// Serves `handler` over an in-process pipe, connects a client (which sends `initialize`),
/// closes it and waits until the server task has dropped the handler.
async fn one_session(handler: OtelHandler<TestServer>) {
    let (server_io, client_io) = tokio::io::duplex(64 * 1024);
    let server = tokio::spawn(async move {
        if let Ok(running) = handler.serve(server_io).await {
            let _ = running.waiting().await;
        }
    });
    let client = ().serve(client_io).await.expect("client initialize");
    client.list_all_tools().await.expect("tools/list");
    client.cancel().await.expect("client cancel");
    server.await.expect("server task");
}

/// How many sessions `mcp.server.session.duration` has recorded (over all its points).
fn sessions_recorded(telemetry: &Telemetry) -> u64 {
    histogram_points(
        &telemetry.collect_metrics(),
        semconv::MCP_SERVER_SESSION_DURATION,
    )
    .iter()
    .map(|point| point.count)
    .sum()
}

#[tokio::test]
async fn each_clone_of_a_service_builder_stack_times_its_own_session() {
    let telemetry = Telemetry::install();
    let stack: OtelHandler<TestServer> = ServiceBuilder::new()
        .layer(telemetry.layer().build())
        .service(TestServer::default());

    one_session(stack.clone()).await;
    one_session(stack.clone()).await;
    assert_eq!(
        sessions_recorded(&telemetry),
        2,
        "one record per initialized clone"
    );

    // A clone that never answers `initialize`, and the template itself, record nothing.
    drop(stack.clone());
    drop(stack);
    assert_eq!(sessions_recorded(&telemetry), 2);
}

#[tokio::test]
async fn a_stateless_layer_times_no_sessions() {
    let telemetry = Telemetry::install();
    let built = ServiceBuilder::new()
        .layer(telemetry.layer().stateless(true).build())
        .service(TestServer::default());
    one_session(built.clone()).await;
    let turned = ServiceBuilder::new()
        .layer(telemetry.layer().build().stateless())
        .service(TestServer::default());
    one_session(turned.clone()).await;
    assert_eq!(sessions_recorded(&telemetry), 0);

    // The requests themselves are still measured.
    let operations = histogram_points(
        &telemetry.collect_metrics(),
        semconv::MCP_SERVER_OPERATION_DURATION,
    );
    assert!(
        operations
            .iter()
            .any(|point| point.attr(semconv::MCP_METHOD_NAME).as_deref() == Some("tools/list")),
        "{operations:?}"
    );
}

#[test]
fn stateless_mode_is_reported_by_the_layer() {
    let layer = OtelLayer::builder().without_metrics().build();
    assert!(!layer.is_stateless());
    assert!(layer.stateless().is_stateless());
    assert!(
        OtelLayer::builder()
            .without_metrics()
            .stateless(true)
            .build()
            .is_stateless()
    );
}
