//! End to end with a real Arize Phoenix: the test starts `phoenix serve` on free loopback ports
//! (installed by `scripts/setup/phoenix.sh` into `$MCP_PATTERNS_CACHE/phoenix`), configures
//! mcp-otel from Phoenix's environment variables, drives an instrumented server over Streamable
//! HTTP, and reads the spans back from Phoenix's REST API. Phoenix starts once for the whole
//! binary (one test function) and is killed when the test ends, also on panic.

mod common;
#[cfg(feature = "grpc")]
#[allow(dead_code, unreachable_pub)] // the CA helpers are shared with the reference server's TLS tests
#[path = "../../mcp-patterns-example/tests/common/tls.rs"]
mod tls;

use axum::serve::ListenerExt as _;
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{NOTE_URI, TestServer, call};
use mcp_patterns_test_support::free_port;
use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, ReadResourceRequestParams, RequestMetaObject};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use serde_json::{Value, json};

/// Sets `TCP_NODELAY` on an accepted connection, as every server should: otherwise the last small
/// write of each response waits for the client's delayed ACK (about 40 ms on a kept-alive
/// connection).
fn nodelay(tcp: &mut tokio::net::TcpStream) {
    let _ = tcp.set_nodelay(true);
}

const PROJECT: &str = "mcp-otel-e2e";
const TRACE_ID: &str = "5bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_SPAN_ID: &str = "10f067aa0ba902b7";
const SECRET: &str = "s3cr3t-do-not-export";

/// A running `phoenix serve`; killed and its working directory removed on drop.
struct Phoenix {
    child: Child,
    dir: PathBuf,
    base: String,
    #[cfg_attr(not(feature = "grpc"), allow(dead_code))]
    grpc: String,
}

impl Drop for Phoenix {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Whether this suite runs: always when `MCP_PATTERNS_PHOENIX_TESTS=1` (what `scripts/test`
/// sets; a missing Phoenix is then an error), otherwise only when Phoenix is installed, so that
/// `cargo test --workspace` needs only Rust.
fn phoenix_suite_enabled() -> bool {
    if std::env::var("MCP_PATTERNS_PHOENIX_TESTS").is_ok_and(|v| v == "1") {
        return true;
    }
    let installed = phoenix_path().is_file();
    if !installed {
        eprintln!(
            "phoenix_e2e: Arize Phoenix is not installed (scripts/setup/phoenix.sh); skipped. \
             Set MCP_PATTERNS_PHOENIX_TESTS=1 to make that an error (scripts/test does)."
        );
    }
    installed
}

fn phoenix_path() -> PathBuf {
    let cache = std::env::var_os("MCP_PATTERNS_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/mcp-patterns")))
        .expect("MCP_PATTERNS_CACHE or HOME");
    cache.join("phoenix/bin/phoenix")
}

fn phoenix_binary() -> PathBuf {
    let binary = phoenix_path();
    assert!(
        binary.is_file(),
        "Arize Phoenix is not installed at {}: run scripts/setup/phoenix.sh \
         (it installs arize-phoenix into $MCP_PATTERNS_CACHE/phoenix)",
        binary.display()
    );
    binary
}

impl Phoenix {
    async fn start() -> Self {
        let binary = phoenix_binary();
        let (port, grpc_port) = (free_port(), free_port());
        let dir =
            std::env::temp_dir().join(format!("mcp-otel-phoenix-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("phoenix working dir");
        let log = std::fs::File::create(dir.join("phoenix.log")).expect("phoenix log");
        let child = Command::new(binary)
            .arg("serve")
            .env("PHOENIX_WORKING_DIR", &dir)
            .env("PHOENIX_HOST", "127.0.0.1")
            .env("PHOENIX_PORT", port.to_string())
            .env("PHOENIX_GRPC_PORT", grpc_port.to_string())
            .env("PHOENIX_TELEMETRY_ENABLED", "false")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .expect("spawn phoenix serve");
        let mut phoenix = Self {
            child,
            dir,
            base: format!("http://127.0.0.1:{port}"),
            grpc: format!("http://127.0.0.1:{grpc_port}"),
        };
        phoenix.wait_ready().await;
        phoenix
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("phoenix.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    async fn wait_ready(&mut self) {
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("phoenix exited early ({status}):\n{}", self.log_tail());
            }
            let ready = http
                .get(format!("{}/v1/projects", self.base))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ready {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "phoenix not ready after 180 s:\n{}",
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// The project's spans, polled until `names` are all present (or 60 s pass).
    async fn spans(&self, names: &[&str]) -> Vec<Value> {
        self.project_spans(PROJECT, names).await
    }

    /// The spans of `project`, polled until `names` are all present (or 60 s pass).
    async fn project_spans(&self, project: &str, names: &[&str]) -> Vec<Value> {
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let response = http
                .get(format!(
                    "{}/v1/projects/{project}/spans?limit=500",
                    self.base
                ))
                .send()
                .await;
            let spans = match response {
                Ok(r) if r.status().is_success() => r
                    .json::<Value>()
                    .await
                    .ok()
                    .and_then(|v| v["data"].as_array().cloned())
                    .unwrap_or_default(),
                _ => Vec::new(),
            };
            let present = |name: &&str| spans.iter().any(|s| s["name"] == **name);
            if names.iter().all(present) {
                return spans;
            }
            assert!(
                Instant::now() < deadline,
                "Phoenix never received {names:?}; it has {:?}\n{}",
                spans.iter().map(|s| s["name"].clone()).collect::<Vec<_>>(),
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

fn span<'a>(spans: &'a [Value], name: &str) -> &'a Value {
    spans
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no span {name}"))
}

fn attr<'a>(span: &'a Value, key: &str) -> &'a Value {
    &span["attributes"][key]
}

fn traced(params: CallToolRequestParams) -> CallToolRequestParams {
    let mut meta = RequestMetaObject::new();
    meta.set_traceparent(format!("00-{TRACE_ID}-{PARENT_SPAN_ID}-01"));
    let mut params = params;
    params.meta = Some(meta);
    params
}

/// Serves `TestServer` wrapped by `otel` on Streamable HTTP at a free loopback port.
async fn serve_http(
    otel: mcp_otel::OtelLayer,
) -> (
    std::net::SocketAddr,
    tokio_util::sync::CancellationToken,
    tokio::task::JoinHandle<()>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let ct = tokio_util::sync::CancellationToken::new();
    let service: StreamableHttpService<_, LocalSessionManager> = StreamableHttpService::new(
        move || Ok(otel.layer(TestServer::default())),
        Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default().with_cancellation_token(ct.child_token()),
    );
    let app = axum::Router::new().nest_service("/mcp", service);
    let server = tokio::spawn({
        let ct = ct.clone();
        async move {
            let _ = axum::serve(listener.tap_io(nodelay), app)
                .with_graceful_shutdown(ct.cancelled_owned())
                .await;
        }
    });

    (addr, ct, server)
}

/// What Phoenix must have received: conventions and OpenInference attributes, the `_meta`
/// parent, the captured and redacted input, nesting of library spans.
fn assert_spans(spans: &[Value]) {
    let init = span(spans, "initialize");
    assert_eq!(attr(init, "mcp.method.name"), "initialize");
    assert_eq!(attr(init, "network.transport"), "tcp");
    assert_eq!(attr(init, "network.protocol.name"), "http");
    assert_eq!(attr(init, "network.protocol.version"), "1.1");

    let list = span(spans, "tools/list");
    assert_eq!(attr(list, "mcp.method.name"), "tools/list");
    assert!(attr(list, "mcp.protocol.version").is_string(), "{list}");

    let lookup = span(spans, "tools/call lookup");
    assert_eq!(lookup["span_kind"], "TOOL", "openinference.span.kind");
    assert_eq!(lookup["context"]["trace_id"], TRACE_ID, "trace from _meta");
    assert_eq!(lookup["parent_id"], PARENT_SPAN_ID, "parent from _meta");
    assert_eq!(attr(lookup, "gen_ai.tool.name"), "lookup");
    assert_eq!(attr(lookup, "gen_ai.operation.name"), "execute_tool");
    assert_eq!(attr(lookup, "tool.name"), "lookup");
    assert!(attr(lookup, "jsonrpc.request.id").is_string(), "{lookup}");
    // Phoenix unfolds the JSON schema text into nested keys.
    assert!(
        attr(lookup, "tool.parameters").is_string()
            || attr(lookup, "tool.parameters.type") == "object",
        "{lookup}"
    );
    assert!(
        attr(lookup, "mcp.session.id").is_string(),
        "Streamable HTTP session: {lookup}"
    );
    assert_eq!(attr(lookup, "session.id"), attr(lookup, "mcp.session.id"));
    let input = attr(lookup, "input.value")
        .as_str()
        .expect("input captured");
    assert!(input.contains("app-alpha"), "{input}");
    assert!(
        input.contains("[REDACTED]") && !input.contains(SECRET),
        "{input}"
    );
    assert_eq!(attr(lookup, "input.mime_type"), "application/json");
    assert!(
        attr(lookup, "output.value")
            .as_str()
            .is_some_and(|o| o.contains("443")),
        "{lookup}"
    );
    assert_eq!(lookup["status_code"], "UNSET");

    let broken = span(spans, "tools/call broken");
    assert_eq!(attr(broken, "error.type"), "tool_error");
    assert_eq!(broken["status_code"], "ERROR");

    let nested = span(spans, "tools/call nested");
    let cache = span(spans, "cache.read");
    assert_eq!(cache["parent_id"], nested["context"]["span_id"]);
    assert_eq!(cache["context"]["trace_id"], nested["context"]["trace_id"]);
    assert_eq!(attr(cache, "cache.hit"), true);

    let read = span(spans, "resources/read");
    assert_eq!(attr(read, "mcp.resource.uri"), NOTE_URI);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_reach_phoenix_with_mcp_and_openinference_attributes() {
    if !phoenix_suite_enabled() {
        return;
    }
    let phoenix = Phoenix::start().await;

    // Configured the way a deployment would be: from Phoenix's environment variables.
    let env: HashMap<&str, String> = HashMap::from([
        ("PHOENIX_COLLECTOR_ENDPOINT", phoenix.base.clone()),
        ("PHOENIX_PROJECT_NAME", PROJECT.to_owned()),
        ("OTEL_SERVICE_NAME", "mcp-otel-e2e-server".to_owned()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100".to_owned()),
        ("MCP_OTEL_CAPTURE_IO", "true".to_owned()),
        ("MCP_LOG_LEVEL", "warn".to_owned()),
    ]);
    let config = mcp_otel::TelemetryConfig::new("unused")
        .merge_lookup(|key| env.get(key).cloned())
        .expect("valid configuration");
    let telemetry = mcp_otel::init(&config).expect("telemetry installs");
    let otel = telemetry.layer().build();

    let (addr, ct, server) = serve_http(otel).await;

    let client = ()
        .serve(StreamableHttpClientTransport::from_uri(format!(
            "http://{addr}/mcp"
        )))
        .await
        .expect("initialize over HTTP");
    client.list_all_tools().await.expect("tools/list");
    client
        .call_tool(traced(call(
            "lookup",
            json!({"app": "app-alpha", "password": SECRET}),
        )))
        .await
        .expect("lookup");
    let broken = client
        .call_tool(call("broken", json!({})))
        .await
        .expect("broken");
    assert_eq!(broken.is_error, Some(true));
    client
        .call_tool(call("nested", json!({})))
        .await
        .expect("nested");
    client
        .read_resource(ReadResourceRequestParams::new(NOTE_URI))
        .await
        .expect("resources/read");
    client.cancel().await.expect("client closes");
    ct.cancel();
    let _ = server.await;
    telemetry.flush();

    let spans = phoenix
        .spans(&[
            "initialize",
            "tools/list",
            "tools/call lookup",
            "tools/call broken",
            "tools/call nested",
            "cache.read",
            "resources/read",
        ])
        .await;

    assert_spans(&spans);
    assert_eq!(telemetry.stats().failed_spans, 0, "{:?}", telemetry.stats());
    #[cfg(feature = "grpc")]
    grpc_export(&phoenix).await;
    telemetry.shutdown();
    drop(phoenix);
}

/// With the `grpc` feature: the same pipeline over OTLP/gRPC to Phoenix's gRPC port.
#[cfg(feature = "grpc")]
async fn grpc_export(phoenix: &Phoenix) {
    let mut config = mcp_otel::TelemetryConfig::new("mcp-otel-e2e-grpc");
    config.otlp_protocol = mcp_otel::OtlpProtocol::Grpc;
    config.otlp_endpoint.clone_from(&phoenix.grpc);
    config.project_name = Some("mcp-otel-e2e-grpc".to_owned());
    config.metrics = false;
    config.log_to_stderr = false;
    let (guard, dispatch) = mcp_otel::build(&config).expect("gRPC pipeline");
    tracing::dispatcher::with_default(&dispatch, || {
        tracing::info_span!("grpc.probe", probe.kind = "otlp-grpc").in_scope(|| {});
    });
    let flushed = tokio::task::spawn_blocking(move || {
        guard.flush();
        guard.stats()
    })
    .await
    .expect("flush");
    assert_eq!(flushed.failed_spans, 0, "{flushed:?}");
    let spans = phoenix
        .project_spans("mcp-otel-e2e-grpc", &["grpc.probe"])
        .await;
    assert_eq!(attr(span(&spans, "grpc.probe"), "probe.kind"), "otlp-grpc");
    grpc_over_tls(phoenix).await;
}

/// Phoenix's gRPC port behind a TLS terminator whose certificate comes from a private CA the
/// test generates: spans arrive when the pipeline trusts that CA (`otlp_certificates`, what
/// the reference server's `--ca-file` and `SSL_CERT_FILE` feed), and none arrive, with the
/// failure counted, when it trusts another CA.
#[cfg(feature = "grpc")]
async fn grpc_over_tls(phoenix: &Phoenix) {
    let dir = tls::temp_dir("otlp-grpc-tls");
    let ca = tls::TestCa::new("collector-ca", &dir);
    let other = tls::TestCa::new("other-ca", &dir);
    let upstream = phoenix.grpc.trim_start_matches("http://").to_owned();
    let (port, handshakes) = tls_terminator(&ca.server_cert("collector"), upstream).await;
    let export = |project: &'static str, ca_file: PathBuf| async move {
        let mut config = mcp_otel::TelemetryConfig::new(project);
        config.otlp_protocol = mcp_otel::OtlpProtocol::Grpc;
        config.otlp_endpoint = format!("https://127.0.0.1:{port}");
        config.otlp_certificates = vec![ca_file];
        config.project_name = Some(project.to_owned());
        config.metrics = false;
        config.log_to_stderr = false;
        config.export_timeout = Duration::from_secs(5);
        let (guard, dispatch) = mcp_otel::build(&config).expect("gRPC pipeline over TLS");
        tracing::dispatcher::with_default(&dispatch, || {
            tracing::info_span!("grpc.tls.probe", probe.kind = "otlp-grpc-tls").in_scope(|| {});
        });
        tokio::task::spawn_blocking(move || {
            guard.flush();
            guard.stats()
        })
        .await
        .expect("flush")
    };

    let trusted = export("mcp-otel-e2e-grpc-tls", ca.file.clone()).await;
    assert_eq!(trusted.failed_spans, 0, "{trusted:?}");
    let spans = phoenix
        .project_spans("mcp-otel-e2e-grpc-tls", &["grpc.tls.probe"])
        .await;
    assert_eq!(
        attr(span(&spans, "grpc.tls.probe"), "probe.kind"),
        "otlp-grpc-tls"
    );
    assert!(handshakes.completed() >= 1, "no TLS handshake completed");

    let refused = export("mcp-otel-e2e-grpc-wrong-ca", other.file.clone()).await;
    assert!(
        refused.failed_spans >= 1,
        "a collector certificate from an untrusted CA was accepted: {refused:?}"
    );
    assert!(
        handshakes.failed() >= 1,
        "the exporter never attempted the handshake with the untrusted collector"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Counts of the TLS terminator's handshakes.
#[cfg(feature = "grpc")]
#[derive(Clone, Default)]
struct Handshakes(
    Arc<(
        std::sync::atomic::AtomicUsize,
        std::sync::atomic::AtomicUsize,
    )>,
);

#[cfg(feature = "grpc")]
impl Handshakes {
    fn completed(&self) -> usize {
        self.0.0.load(std::sync::atomic::Ordering::SeqCst)
    }
    fn failed(&self) -> usize {
        self.0.1.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// A TLS terminator (rustls, ALPN `h2`) on a free loopback port that forwards each decrypted
/// connection to `upstream` over plain TCP; its port and handshake counts. Runs until the
/// test's runtime ends.
#[cfg(feature = "grpc")]
async fn tls_terminator(cert: &tls::ServerCert, upstream: String) -> (u16, Handshakes) {
    use std::sync::atomic::Ordering;
    let mut config = cert.rustls_config();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let handshakes = Handshakes::default();
    let counts = handshakes.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, counts, upstream) = (acceptor.clone(), counts.clone(), upstream.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    counts.0.1.fetch_add(1, Ordering::SeqCst);
                    return;
                };
                counts.0.0.fetch_add(1, Ordering::SeqCst);
                if let Ok(mut plain) = tokio::net::TcpStream::connect(&upstream).await {
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                }
            });
        }
    });
    (port, handshakes)
}
