//! The listener's connection hardening, with real sockets on loopback: a few thousand clients
//! that each send half a request header are closed within the header read timeout while a
//! normal client keeps getting answers; an idle kept-alive connection is closed after the
//! keep-alive timeout; at the connection bound the server logs it and new clients wait in the
//! backlog until slots free up, then are answered.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{call, connect, text};
use mcp_patterns_example::auth::AuthSettings;
use mcp_patterns_example::{ConnectionLimits, HttpOptions, start_http};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const BIN: &str = env!("CARGO_BIN_EXE_mcp-patterns-example");
const HALF_HEADER: &[u8] = b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Le";

/// Opens `count` connections to `addr` that each send half a header and then nothing.
async fn half_headers(addr: std::net::SocketAddr, count: usize) -> Vec<TcpStream> {
    let mut held = Vec::with_capacity(count);
    for _ in 0..count {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        stream.write_all(HALF_HEADER).await.expect("half a header");
        held.push(stream);
    }
    held
}

/// Waits until the server has closed `stream` (EOF or reset); the time it took.
async fn closed_within(mut stream: TcpStream, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    let mut buf = [0u8; 256];
    loop {
        match tokio::time::timeout(limit.saturating_sub(start.elapsed()), stream.read(&mut buf))
            .await
        {
            Err(_) => return None,
            Ok(Ok(0) | Err(_)) => return Some(start.elapsed()),
            // A 408 or similar before the close is fine; keep reading until it closes.
            Ok(Ok(_)) => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_half_headers_are_closed_and_others_are_served_meanwhile() {
    let header_timeout = Duration::from_secs(2);
    let server = start_http(HttpOptions {
        port: 0,
        auth: AuthSettings::disabled(),
        connections: ConnectionLimits {
            header_read_timeout: header_timeout,
            ..ConnectionLimits::default()
        },
        ..HttpOptions::default()
    })
    .await
    .expect("server starts");
    let opened = Instant::now();
    let held = half_headers(server.local_addr, 3000).await;
    let opening = opened.elapsed();

    // While they are held, a normal MCP client is answered.
    let client = connect(&server.mcp_url, None).await;
    let listed = client
        .call_tool(call("list_firewall_rules", json!({})))
        .await
        .expect("answered while 3000 half headers are held");
    assert_ne!(listed.is_error, Some(true), "{}", text(&listed));
    let health = reqwest::get(format!("http://{}/healthz", server.local_addr))
        .await
        .expect("healthz answers");
    assert_eq!(health.status(), 200);

    // Every held connection is closed by the server, within the timeout plus generous slack
    // (it was opened up to `opening` before the last one).
    let limit = header_timeout + opening + Duration::from_secs(8);
    let waits = futures::future::join_all(held.into_iter().map(|s| closed_within(s, limit))).await;
    let open = waits.iter().filter(|w| w.is_none()).count();
    assert_eq!(
        open, 0,
        "{open} of 3000 half-header connections still open after {limit:?}"
    );

    // The MCP session (kept alive, requests in between) still works.
    let listed = client
        .call_tool(call("list_firewall_rules", json!({})))
        .await
        .expect("still answered");
    assert_ne!(listed.is_error, Some(true));
    client.cancel().await.expect("close");
    server.shutdown().await;
}

#[tokio::test]
async fn an_idle_kept_alive_connection_is_closed_after_the_keep_alive_timeout() {
    let server = start_http(HttpOptions {
        port: 0,
        auth: AuthSettings::disabled(),
        connections: ConnectionLimits {
            keep_alive_timeout: Duration::from_secs(2),
            ..ConnectionLimits::default()
        },
        ..HttpOptions::default()
    })
    .await
    .expect("server starts");
    let mut stream = TcpStream::connect(server.local_addr)
        .await
        .expect("connect");
    let request = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    stream.write_all(request).await.expect("request");
    let mut buf = vec![0u8; 1024];
    let n = stream.read(&mut buf).await.expect("response");
    let head = String::from_utf8_lossy(&buf[..n]).to_string();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    // Kept alive: a second request on the same connection is answered.
    stream.write_all(request).await.expect("second request");
    let n = stream.read(&mut buf).await.expect("second response");
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    // Then idle: closed after about 2 s (well before the 10 s header read timeout).
    let closed = closed_within(stream, Duration::from_secs(8)).await;
    assert!(closed.is_some(), "the idle connection was not closed");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_connection_bound_the_server_logs_it_and_new_clients_wait_their_turn() {
    let mut child = Command::new(BIN)
        .args([
            "--no-auth",
            "--port",
            "0",
            "--max-connections",
            "50",
            "--header-read-timeout",
            "2",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the server");
    let stderr = child.stderr.take().expect("stderr");
    let (lines_tx, lines_rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let mut seen = Vec::new();
    let url = loop {
        let line = lines_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the server prints its URL");
        if let Some(url) = line.split(" at ").nth(1).filter(|u| u.ends_with("/mcp")) {
            break url.trim().to_owned();
        }
        seen.push(line);
    };
    let addr: std::net::SocketAddr = url
        .trim_start_matches("http://")
        .trim_end_matches("/mcp")
        .parse()
        .expect("address");

    let held = half_headers(addr, 60).await;
    // The 51st to 60th wait in the backlog; so does this request, until the timeout frees
    // slots. It is answered, later than the header read timeout.
    let start = Instant::now();
    let health = reqwest::Client::new()
        .get(format!("http://{addr}/healthz"))
        .timeout(Duration::from_secs(20))
        .send()
        .await
        .expect("answered once slots free up");
    assert_eq!(health.status(), 200);
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(1500),
        "answered after {waited:?}: the bound did not hold it back"
    );
    drop(held);

    let deadline = Instant::now() + Duration::from_secs(10);
    let logged = loop {
        match lines_rx.recv_timeout(Duration::from_millis(200)) {
            Ok(line) if line.contains("connection limit reached") => break Some(line),
            Ok(line) => seen.push(line),
            Err(_) if Instant::now() > deadline => break None,
            Err(_) => {}
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    let line = logged.unwrap_or_else(|| panic!("no limit log line in {seen:#?}"));
    assert!(line.contains("50"), "{line}");
}
