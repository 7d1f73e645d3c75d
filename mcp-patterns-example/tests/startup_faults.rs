//! Issue 8, the downstream down at start-up, under each initial-fetch policy, through the
//! reference server over real HTTP (`start_http` and the binary) with rmcp's client:
//!
//! - fail-fast: start-up returns `ExampleError::InitialFetch` (the binary exits non-zero and
//!   says why);
//! - degrade: the server serves at once, tools answer "data not available yet", the health
//!   resource shows `ready: false` with the last error, and the data appears without a restart
//!   when the downstream comes up;
//! - retry: start-up waits and succeeds when the downstream appears inside the deadline, and
//!   fails clearly after the deadline when it never does;
//! - per-user caches (session scope) are not fetched at start-up: the first call of a user
//!   gets the fetch error, and a later call succeeds once the downstream is back.

mod common;

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{app_names, call, connect, free_port, read_json, text};
use mcp_cache::{Backoff, CacheError, InitialFetch};
use mcp_patterns_example::auth::AuthSettings;
use mcp_patterns_example::data::{CacheScope, CacheSettings};
use mcp_patterns_example::downstream::{self, FirewallStore, RunningDownstream};
use mcp_patterns_example::server::HEALTH_URI;
use mcp_patterns_example::{ExampleError, HttpOptions, RunningHttp, start_http};
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_mcp-patterns-example");
const ALL_APPS: [&str; 3] = ["app-alpha", "app-beta", "app-gamma"];

/// Short timeouts and backoffs so the tests take a second or two, not the defaults' minutes.
fn settings(scope: CacheScope, policy: InitialFetch) -> CacheSettings {
    let mut settings = CacheSettings {
        scope,
        ..CacheSettings::default()
    };
    settings.cache = settings
        .cache
        .clone()
        .fetch_timeout(Duration::from_millis(500))
        .failure_backoff(Backoff::new(
            Duration::from_millis(50),
            Duration::from_millis(200),
        ))
        .initial_fetch(policy);
    settings
}

/// The server on a free port, answering from the downstream at `downstream_port`, without
/// authorization (every caller is the operator, entitled to every application).
fn options(downstream_port: u16, settings: CacheSettings) -> HttpOptions {
    HttpOptions {
        port: 0,
        downstream_url: Some(format!("http://127.0.0.1:{downstream_port}")),
        cache: settings,
        auth: AuthSettings::disabled(),
        ..HttpOptions::default()
    }
}

/// The demo downstream, started on `port` (the one the server was told about).
async fn downstream_on(port: u16) -> RunningDownstream {
    downstream::serve(
        SocketAddr::from(([127, 0, 0, 1], port)),
        FirewallStore::seeded(),
    )
    .await
    .expect("downstream starts on its port")
}

/// A listener on `port` that accepts connections and closes them at once, counting them: a
/// downstream that is "up" at the TCP level but answers nothing, so each fetch attempt is seen.
struct Refuser {
    attempts: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Refuser {
    async fn start(port: u16) -> Self {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("bind");
        let attempts = Arc::new(AtomicUsize::new(0));
        let counter = attempts.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                drop(stream);
            }
        });
        Self { attempts, task }
    }

    fn attempts(&self) -> usize {
        self.attempts.load(Ordering::SeqCst)
    }

    /// Stops listening; the port is free again.
    async fn stop(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

/// Polls `check` every 25 ms until it returns `Some`, for at most `deadline`.
async fn eventually<T, F, Fut>(what: &str, deadline: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            start.elapsed() < deadline,
            "{what}: not within {deadline:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn assert_fail_fast(scope: CacheScope) {
    let port = free_port(); // nothing listens there
    let error = start_http(options(port, settings(scope, InitialFetch::FailFast)))
        .await
        .expect_err("start-up must fail with the downstream down");
    match &error {
        ExampleError::InitialFetch { policy, source } => {
            assert!(policy.starts_with("fail-fast"), "{policy}");
            assert!(matches!(source, CacheError::Fetch { .. }), "{source:?}");
        }
        other => panic!("expected ExampleError::InitialFetch, got {other:?}"),
    }
    let report = error.report();
    assert!(report.contains("start-up failed"), "{report}");
    assert!(report.contains(&format!("127.0.0.1:{port}")), "{report}");
}

#[tokio::test]
async fn fail_fast_start_up_fails_with_a_typed_error() {
    assert_fail_fast(CacheScope::Server).await;
    // The hybrid scope's shared base is fetched at start-up too.
    assert_fail_fast(CacheScope::Hybrid).await;
}

/// The server starts with the downstream down, says "not available yet" until it comes up,
/// then serves its data without a restart.
async fn assert_degrade(scope: CacheScope) {
    let port = free_port();
    let server = start_http(options(port, settings(scope, InitialFetch::Degrade)))
        .await
        .expect("degrade starts with the downstream down");
    let client = connect(&server.mcp_url, None).await;

    let listed = client
        .call_tool(call("list_firewall_rules", json!({})))
        .await
        .expect("a tool error, not a protocol error");
    assert_eq!(listed.is_error, Some(true), "{scope:?}");
    assert!(
        text(&listed).contains("data not available yet"),
        "{scope:?}: {}",
        text(&listed)
    );
    let one = client
        .call_tool(call("get_firewall_rule", json!({"app_name": "app-alpha"})))
        .await
        .expect("a tool error");
    assert_eq!(one.is_error, Some(true));
    assert!(
        text(&one).contains("data not available yet"),
        "{}",
        text(&one)
    );

    // The health resource is listed and readable while nothing is loaded, and shows why.
    let resources = client.list_all_resources().await.expect("resources/list");
    assert!(
        resources.iter().any(|r| r.uri == HEALTH_URI),
        "{resources:?}"
    );
    let health = eventually(
        "a failed attempt in health",
        Duration::from_secs(10),
        || async {
            let health = read_json(&client, HEALTH_URI).await;
            (health["consecutive_failures"].as_u64() >= Some(1)).then_some(health)
        },
    )
    .await;
    assert_eq!(health["ready"], json!(false), "{health}");
    assert_eq!(health["stale"], json!(true), "{health}");
    assert_eq!(health["last_error_kind"], json!("fetch"), "{health}");
    assert!(
        health["last_error"]
            .as_str()
            .is_some_and(|e| e.contains(&format!("127.0.0.1:{port}"))),
        "{health}"
    );
    let status = client
        .call_tool(call("cache_status", json!({})))
        .await
        .expect("cache_status");
    assert_ne!(status.is_error, Some(true), "{}", text(&status));

    // The downstream comes up: the background refresh (failure backoff 50-200 ms) loads it.
    let downstream = downstream_on(port).await;
    let names = eventually(
        "data after the downstream came up",
        Duration::from_secs(10),
        || async {
            let listed = client
                .call_tool(call("list_firewall_rules", json!({})))
                .await
                .expect("list");
            (listed.is_error != Some(true)).then(|| app_names(&listed))
        },
    )
    .await;
    assert_eq!(names, ALL_APPS, "{scope:?}");
    let health = read_json(&client, HEALTH_URI).await;
    assert_eq!(health["ready"], json!(true), "{health}");
    assert_eq!(health["consecutive_failures"], json!(0), "{health}");
    assert!(health["generation"].as_u64() >= Some(1), "{health}");
    assert!(downstream.store.requests() >= 1);

    client.cancel().await.expect("close");
    server.shutdown().await;
    downstream.shutdown().await;
}

#[tokio::test]
async fn degrade_serves_not_ready_then_the_data_without_a_restart() {
    assert_degrade(CacheScope::Server).await;
    assert_degrade(CacheScope::Hybrid).await;
}

#[tokio::test]
async fn retry_waits_for_the_downstream_and_succeeds_inside_the_deadline() {
    let port = free_port();
    // Up at the TCP level but closing every connection: each start-up attempt is counted.
    let refuser = Refuser::start(port).await;
    let policy = InitialFetch::Retry {
        backoff: Backoff::new(Duration::from_millis(50), Duration::from_millis(200)),
        deadline: Duration::from_secs(20),
    };
    let starting = tokio::spawn(start_http(options(
        port,
        settings(CacheScope::Server, policy),
    )));
    eventually(
        "two failed start-up attempts",
        Duration::from_secs(10),
        || async { (refuser.attempts() >= 2).then_some(()) },
    )
    .await;
    assert!(
        !starting.is_finished(),
        "start-up waits while attempts fail"
    );
    refuser.stop().await;
    let downstream = downstream_on(port).await;

    let server: RunningHttp = tokio::time::timeout(Duration::from_secs(15), starting)
        .await
        .expect("start-up finishes once the downstream is up")
        .expect("start task")
        .expect("start-up succeeds inside the deadline");
    let client = connect(&server.mcp_url, None).await;
    let listed = client
        .call_tool(call("list_firewall_rules", json!({})))
        .await
        .expect("list");
    assert_eq!(app_names(&listed), ALL_APPS);
    let health = read_json(&client, HEALTH_URI).await;
    assert_eq!(health["ready"], json!(true), "{health}");
    client.cancel().await.expect("close");
    server.shutdown().await;
    downstream.shutdown().await;
}

#[tokio::test]
async fn retry_fails_clearly_after_its_deadline() {
    let port = free_port();
    let refuser = Refuser::start(port).await;
    let deadline = Duration::from_millis(800);
    let policy = InitialFetch::Retry {
        backoff: Backoff::new(Duration::from_millis(50), Duration::from_millis(100)),
        deadline,
    };
    let started = Instant::now();
    let error = start_http(options(port, settings(CacheScope::Server, policy)))
        .await
        .expect_err("the downstream never answers");
    let elapsed = started.elapsed();
    match &error {
        ExampleError::InitialFetch { policy, .. } => {
            assert!(
                policy.contains("retry: gave up at the 800ms deadline"),
                "{policy}"
            );
        }
        other => panic!("expected ExampleError::InitialFetch, got {other:?}"),
    }
    // It kept trying (50, 100, 100 … ms apart) until the next attempt would start past the
    // deadline, then gave up rather than waiting on.
    assert!(refuser.attempts() >= 3, "attempts: {}", refuser.attempts());
    assert!(
        elapsed + Duration::from_millis(100) >= deadline,
        "gave up after {elapsed:?}, before its {deadline:?} deadline"
    );
    refuser.stop().await;
}

/// Per-user caches are built on a user's first call: start-up does not fetch them, whatever
/// the policy, and a failed fetch leaves no cache behind, so the next call tries again.
#[tokio::test]
async fn session_scope_starts_and_fetches_per_user_on_the_first_call_that_can() {
    let port = free_port();
    let server = start_http(options(
        port,
        settings(CacheScope::Session, InitialFetch::FailFast),
    ))
    .await
    .expect("the session scope starts with the downstream down");
    let client = connect(&server.mcp_url, None).await;
    let listed = client
        .call_tool(call("list_firewall_rules", json!({})))
        .await
        .expect("a tool error");
    assert_eq!(listed.is_error, Some(true));
    let message = text(&listed);
    assert!(
        message.contains("firewall data unavailable") && message.contains("fetch failed"),
        "{message}"
    );
    assert_eq!(
        server.cache().user_caches(),
        0,
        "a failed fetch keeps no cache"
    );
    // The health of a user's cache needs that cache: the read says why it cannot be built.
    let health = client
        .read_resource(rmcp::model::ReadResourceRequestParams::new(HEALTH_URI))
        .await
        .expect_err("no cache to report on yet");
    assert!(health.to_string().contains("fetch failed"), "{health}");

    let downstream = downstream_on(port).await;
    let listed = client
        .call_tool(call("list_firewall_rules", json!({})))
        .await
        .expect("list");
    assert_ne!(listed.is_error, Some(true), "{}", text(&listed));
    assert_eq!(app_names(&listed), ALL_APPS);
    assert_eq!(server.cache().user_caches(), 1);
    let health = read_json(&client, HEALTH_URI).await;
    assert_eq!(health["ready"], json!(true), "{health}");
    client.cancel().await.expect("close");
    server.shutdown().await;
    downstream.shutdown().await;
}

/// Runs the binary until it exits (at most 60 s); returns whether it succeeded and its stderr.
fn run_binary(args: &[&str]) -> (bool, String, Duration) {
    let started = Instant::now();
    let mut child = Command::new(BIN)
        .args(args)
        .env_remove("MCP_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the binary");
    let stderr = child.stderr.take().expect("stderr");
    let reader = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the binary did not exit within 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let elapsed = started.elapsed();
    (status.success(), reader.join().expect("stderr"), elapsed)
}

#[test]
fn binary_fail_fast_exits_non_zero_with_a_clear_message() {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let (ok, stderr, _) = run_binary(&[
        "--port",
        "0",
        "--no-auth",
        "--downstream-url",
        &url,
        "--initial-fetch",
        "fail-fast",
    ]);
    assert!(!ok, "exit status must be non-zero; stderr:\n{stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with(
            "mcp-patterns-example: start-up failed: the first fetch of the firewall \
                          data failed (fail-fast: one attempt)"
        ),
        "{stderr}"
    );
    assert!(last.contains(&url), "{last}");
    // The root cause is spelled out, not only "error sending request".
    assert!(last.to_lowercase().contains("connect"), "{last}");
}

#[test]
fn binary_retry_exits_non_zero_after_its_deadline() {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let (ok, stderr, elapsed) = run_binary(&[
        "--port",
        "0",
        "--no-auth",
        "--downstream-url",
        &url,
        "--initial-fetch",
        "retry",
        "--initial-fetch-deadline",
        "1",
    ]);
    assert!(!ok, "exit status must be non-zero; stderr:\n{stderr}");
    assert!(
        stderr.contains("initial fetch failed; retrying"),
        "each retry is logged:\n{stderr}"
    );
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.contains("(retry: gave up at the 1s deadline)") && last.contains(&url),
        "{stderr}"
    );
    // Backoff 0.2 s, 0.4 s: attempts at 0, 0.2 and 0.6 s; the next would start past 1 s.
    assert!(elapsed >= Duration::from_millis(600), "{elapsed:?}");
}
