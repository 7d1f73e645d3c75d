//! Graceful shutdown of the server binary: `SIGTERM` during a slow tool call stops accepting
//! connections at once, lets the call finish and reach its client, ends the session, flushes
//! telemetry (the call's span is written after the signal) and exits 0.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::binary::Server;
use common::{call, connect, text};
use mcp_patterns_example::downstream::{self, DownstreamOptions, Fault, FirewallStore};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_a_slow_call_finish_then_exits_zero() {
    let downstream = downstream::serve_with(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        FirewallStore::seeded(),
        DownstreamOptions::default(),
    )
    .await
    .expect("downstream");
    let mut server = Server::start(&[
        "--no-auth",
        "--port",
        "0",
        "--downstream-url",
        &downstream.url,
        "--shutdown-grace",
        "10",
        "--otel",
        "console",
    ]);
    let addr = server.addr();
    let client = connect(&server.url, None).await;
    // The refresh the call triggers takes 2 s at the downstream.
    downstream.store.set_fault(Fault::Slow { delay_ms: 2000 });
    let started = Instant::now();
    let slow = tokio::spawn(async move {
        let result = client.call_tool(call("refresh_cache", json!({}))).await;
        (result, client)
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    server.signal("TERM");
    server.wait_for("shutting down", Duration::from_secs(5));

    // New connections are refused while the call is still running.
    // (A connection that raced with the close may be reset; keep trying until refused.)
    loop {
        match tokio::net::TcpStream::connect(addr).await {
            Err(error) if error.kind() == std::io::ErrorKind::ConnectionRefused => break,
            other if started.elapsed() < Duration::from_millis(1800) => {
                drop(other);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            other => panic!("still accepting connections 1.3 s after SIGTERM: {other:?}"),
        }
    }

    let (result, client) = tokio::time::timeout(Duration::from_secs(15), slow)
        .await
        .expect("the call in flight gets its answer after SIGTERM")
        .expect("call task");
    let result = result.expect("the call in flight completes after SIGTERM");
    assert_ne!(result.is_error, Some(true), "{}", text(&result));
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "it did wait for the downstream"
    );
    drop(client);

    let (status, lines) = server.exit(Duration::from_secs(15));
    assert!(status.success(), "exit status {status:?}: {lines:#?}");
    let signalled = lines
        .iter()
        .position(|l| l.contains("shutting down"))
        .expect("shutdown logged");
    // Telemetry was flushed on the way out: the call's span comes after the signal.
    assert!(
        lines[signalled..]
            .iter()
            .any(|l| l.starts_with("[otel] tools/call refresh_cache")),
        "no span of the call after the signal: {lines:#?}"
    );
    downstream.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_longer_than_the_grace_period_is_cut_and_the_server_still_exits_zero() {
    let downstream = downstream::serve_with(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        FirewallStore::seeded(),
        DownstreamOptions::default(),
    )
    .await
    .expect("downstream");
    let server = Server::start(&[
        "--no-auth",
        "--port",
        "0",
        "--downstream-url",
        &downstream.url,
        "--shutdown-grace",
        "1",
    ]);
    let client = connect(&server.url, None).await;
    downstream.store.set_fault(Fault::Slow { delay_ms: 30_000 });
    let slow =
        tokio::spawn(async move { client.call_tool(call("refresh_cache", json!({}))).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let signalled = Instant::now();
    server.signal("INT");
    let (status, lines) = server.exit(Duration::from_secs(10));
    assert!(status.success(), "exit status {status:?}: {lines:#?}");
    assert!(
        signalled.elapsed() < Duration::from_secs(8),
        "exit took {:?} with a 1 s grace period",
        signalled.elapsed()
    );
    assert!(
        lines.iter().any(|l| l.contains("grace period over")),
        "{lines:#?}"
    );
    // The client's call does not succeed: its connection was closed under it (an rmcp client
    // may keep waiting for the answer, so only a bounded wait).
    match tokio::time::timeout(Duration::from_secs(3), slow).await {
        Ok(result) => {
            let result = result.expect("task");
            assert!(result.is_err() || result.is_ok_and(|r| r.is_error == Some(true)));
        }
        Err(_still_waiting) => {}
    }
    downstream.store.set_fault(Fault::Healthy);
    downstream.shutdown().await;
}
