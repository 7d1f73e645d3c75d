//! Issue 8, the OTLP collector down or blackholed while the reference server (the binary, with
//! `--otel otlp`) serves: calls keep succeeding, none waits on the export, and the failed
//! exports are visible in the server's log (a warning when export starts failing, the counts
//! at shutdown).
//!
//! The bound: a request only hands its finished spans to a bounded queue; the batch exporter
//! runs on its own thread and only it waits for the collector, for at most the export timeout
//! (`OTEL_EXPORTER_OTLP_TIMEOUT`). So a call that waited on an export would take at least that
//! timeout; here it is 3 s and every call must return in less, while exports are hanging or
//! failing. (How much tracing costs per call is measured by the `otel_overhead` bench.)

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{call, connect, free_port, text};
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_mcp-patterns-example");
const EXPORT_TIMEOUT: Duration = Duration::from_secs(3);

/// The binary with OTLP export to `endpoint`, its stderr collected line by line.
struct Server {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

/// Removes ANSI colour sequences (`ESC [ … m`) from a log line.
fn plain(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

impl Server {
    fn start(endpoint: &str) -> Self {
        let mut child = Command::new(BIN)
            .args(["--port", "0", "--no-auth", "--otel", "otlp"])
            .env_remove("MCP_CONFIG")
            .env_remove("PHOENIX_COLLECTOR_ENDPOINT")
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
            .env(
                "OTEL_EXPORTER_OTLP_TIMEOUT",
                EXPORT_TIMEOUT.as_millis().to_string(),
            )
            .env("OTEL_BSP_SCHEDULE_DELAY", "100")
            .env("OTEL_METRIC_EXPORT_INTERVAL", "500")
            .env("OTEL_TRACES_SAMPLER", "always_on")
            .env("MCP_LOG_LEVEL", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the binary");
        let stderr = child.stderr.take().expect("stderr");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().expect("log lines").push(plain(&line));
            }
        });
        Self { child, lines }
    }

    fn find(&self, needle: &str) -> Option<String> {
        self.lines
            .lock()
            .expect("log lines")
            .iter()
            .find(|line| line.contains(needle))
            .cloned()
    }

    fn log(&self) -> String {
        self.lines.lock().expect("log lines").join("\n")
    }

    /// Polls the log for a line containing `needle`, for at most `deadline`.
    async fn wait_for(&self, needle: &str, deadline: Duration) -> String {
        let start = Instant::now();
        loop {
            if let Some(line) = self.find(needle) {
                return line;
            }
            assert!(
                start.elapsed() < deadline,
                "no log line with {needle:?} within {deadline:?}:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// SIGTERM (graceful shutdown, which flushes telemetry), then waits for the exit.
    async fn terminate(mut self) -> (bool, String) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let start = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                break status;
            }
            if start.elapsed() > Duration::from_secs(60) {
                let _ = self.child.kill();
                panic!("no exit within 60 s of SIGTERM:\n{}", self.log());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        // Let the reader thread take the last lines.
        tokio::time::sleep(Duration::from_millis(100)).await;
        (status.success(), self.log())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the binary exporting to `endpoint` and calls tools until the export failure is logged
/// and at least `min_running` has passed; every call must succeed in less than the export
/// timeout, and the shutdown log must count the failed spans.
async fn calls_never_wait_on_the_export(endpoint: &str, min_running: Duration) {
    let server = Server::start(endpoint);
    let banner = server
        .wait_for("serving MCP (Streamable HTTP) at ", Duration::from_secs(30))
        .await;
    let url = banner
        .rsplit(' ')
        .next()
        .expect("URL at the end of the banner")
        .to_owned();
    let client = connect(&url, None).await;

    let started = Instant::now();
    let mut calls = 0_u32;
    let mut slowest = Duration::ZERO;
    loop {
        let failing = server.find("span export failed").is_some();
        if failing && started.elapsed() >= min_running && calls >= 20 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no export failure logged within 30 s:\n{}",
            server.log()
        );
        let call_started = Instant::now();
        let result = if calls.is_multiple_of(2) {
            client
                .call_tool(call("get_firewall_rule", json!({"app_name": "app-alpha"})))
                .await
        } else {
            client
                .call_tool(call("list_firewall_rules", json!({})))
                .await
        }
        .expect("the call succeeds with the collector unreachable");
        let took = call_started.elapsed();
        assert_ne!(result.is_error, Some(true), "{}", text(&result));
        slowest = slowest.max(took);
        calls += 1;
    }
    assert!(
        slowest < EXPORT_TIMEOUT,
        "a call took {slowest:?}: it waited on the export (timeout {EXPORT_TIMEOUT:?})"
    );
    client.cancel().await.expect("close");

    let (ok, log) = server.terminate().await;
    assert!(ok, "clean exit after SIGTERM:\n{log}");
    // The counts at shutdown: some spans failed, none was exported.
    let stats = log
        .lines()
        .find(|line| line.contains("telemetry: shutting down"))
        .unwrap_or_else(|| panic!("no shutdown stats line:\n{log}"));
    assert!(stats.contains("exported_spans=0"), "{stats}");
    let failed: u64 = stats
        .split("failed_spans=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("failed_spans in {stats}"));
    assert!(failed > 0, "{stats}");
    eprintln!("{calls} calls, slowest {slowest:?}; {stats}");
}

#[tokio::test]
async fn collector_down_calls_succeed_and_failures_are_logged() {
    // A closed port: every export fails at once.
    let port = free_port();
    calls_never_wait_on_the_export(&format!("http://127.0.0.1:{port}"), Duration::from_secs(1))
        .await;
}

#[tokio::test]
async fn collector_blackholed_calls_do_not_wait_for_the_export_timeout() {
    // Accepts connections and never reads or answers: each export hangs for the full timeout.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    // Calls run across at least one whole hanging export (the failure is logged only after
    // the timeout) and a little more.
    calls_never_wait_on_the_export(
        &format!("http://127.0.0.1:{port}"),
        EXPORT_TIMEOUT + Duration::from_secs(1),
    )
    .await;
}
