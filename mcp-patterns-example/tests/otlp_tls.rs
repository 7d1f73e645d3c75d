//! OTLP export over HTTPS to a collector whose certificate comes from a private CA: an in-test
//! HTTPS sink (rustls, certificate from a CA the test generates) receives the server binary's
//! spans when the server trusts that CA through `SSL_CERT_FILE` or `--ca-file`, and sees only
//! refused handshakes when it trusts another CA.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::binary::Server;
use common::tls::{ServerCert, TestCa, temp_dir};
use common::{call, connect};
use http_body_util::BodyExt;
use serde_json::json;
use tokio_rustls::TlsAcceptor;

/// The requests a sink received: path and body.
type Received = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

/// An HTTPS endpoint that answers every request `200` with an empty body and keeps what it got.
struct Sink {
    port: u16,
    requests: Received,
    failed_handshakes: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Sink {
    async fn start(cert: &ServerCert) -> Self {
        let acceptor = TlsAcceptor::from(Arc::new(cert.rustls_config()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let requests: Received = Arc::default();
        let failed_handshakes = Arc::new(AtomicUsize::new(0));
        let (seen, failed) = (requests.clone(), failed_handshakes.clone());
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                let (seen, failed) = (seen.clone(), failed.clone());
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        failed.fetch_add(1, Ordering::SeqCst);
                        return;
                    };
                    let service = hyper::service::service_fn(
                        move |request: http::Request<hyper::body::Incoming>| {
                            let seen = seen.clone();
                            async move {
                                let path = request.uri().path().to_owned();
                                let body = request
                                    .into_body()
                                    .collect()
                                    .await
                                    .map(|b| b.to_bytes().to_vec())
                                    .unwrap_or_default();
                                seen.lock().expect("lock").push((path, body));
                                Ok::<_, std::convert::Infallible>(
                                    http::Response::builder()
                                        .header("content-type", "application/x-protobuf")
                                        .body(http_body_util::Empty::<bytes::Bytes>::new())
                                        .expect("response"),
                                )
                            }
                        },
                    );
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        Self {
            port,
            requests,
            failed_handshakes,
            task,
        }
    }

    fn traces_with(&self, needle: &[u8]) -> usize {
        self.requests
            .lock()
            .expect("lock")
            .iter()
            .filter(|(path, body)| {
                path == "/v1/traces" && body.windows(needle.len()).any(|w| w == needle)
            })
            .count()
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Runs the server exporting to `sink` with `args` and `env` added, makes one tool call, and
/// stops the server with SIGTERM (which flushes the exporter); the server's stderr.
async fn export_one_call(sink: &Sink, args: &[&str], env: &[(&str, &str)]) -> Vec<String> {
    let endpoint = format!("https://127.0.0.1:{}", sink.port);
    let mut all_env = vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ("OTEL_METRICS_EXPORTER", "none"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "3000"),
    ];
    all_env.extend_from_slice(env);
    let mut all_args = vec!["--no-auth", "--port", "0", "--otel", "otlp"];
    all_args.extend_from_slice(args);
    let server = Server::start_with_env(&all_args, &all_env);
    let client = connect(&server.url, None).await;
    let listed = client
        .call_tool(call("list_firewall_rules", json!({})))
        .await
        .expect("call");
    assert_ne!(listed.is_error, Some(true));
    client.cancel().await.expect("close");
    // Give the batch processor (100 ms delay) a chance to export before the signal.
    let start = Instant::now();
    while sink.traces_with(b"list_firewall_rules") == 0
        && sink.failed_handshakes.load(Ordering::SeqCst) == 0
        && start.elapsed() < Duration::from_secs(10)
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.signal("TERM");
    let (status, lines) = server.exit(Duration::from_secs(20));
    assert!(status.success(), "{status:?}: {lines:#?}");
    lines
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_reach_an_https_collector_trusted_through_ssl_cert_file() {
    let dir = temp_dir("otlp-tls-env");
    let ca = TestCa::new("collector-ca", &dir);
    let sink = Sink::start(&ca.server_cert("collector")).await;
    let ca_file = ca.file.to_str().expect("utf-8 path").to_owned();
    let lines = export_one_call(&sink, &[], &[("SSL_CERT_FILE", &ca_file)]).await;
    assert!(
        sink.traces_with(b"list_firewall_rules") >= 1,
        "no span of the call arrived over HTTPS: {lines:#?}"
    );
    assert_eq!(sink.failed_handshakes.load(Ordering::SeqCst), 0);
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_reach_an_https_collector_trusted_through_ca_file() {
    let dir = temp_dir("otlp-tls-flag");
    let ca = TestCa::new("collector-ca", &dir);
    let sink = Sink::start(&ca.server_cert("collector")).await;
    let ca_file = ca.file.to_str().expect("utf-8 path").to_owned();
    let lines = export_one_call(&sink, &["--ca-file", &ca_file], &[]).await;
    assert!(
        sink.traces_with(b"list_firewall_rules") >= 1,
        "no span of the call arrived over HTTPS: {lines:#?}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_certificate_from_another_ca_is_refused() {
    let dir = temp_dir("otlp-tls-wrong");
    let ca = TestCa::new("collector-ca", &dir);
    let other = TestCa::new("other-ca", &dir);
    let sink = Sink::start(&ca.server_cert("collector")).await;
    let other_file = other.file.to_str().expect("utf-8 path").to_owned();
    let lines = export_one_call(&sink, &["--ca-file", &other_file], &[]).await;
    assert!(
        sink.failed_handshakes.load(Ordering::SeqCst) >= 1,
        "the exporter never tried: {lines:#?}"
    );
    assert!(
        sink.requests.lock().expect("lock").is_empty(),
        "a request got through a handshake it should have refused"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_ca_file_without_a_certificate_is_a_clear_start_up_error() {
    let dir = temp_dir("ca-file-bad");
    let bad = dir.join("not-a-cert.pem");
    std::fs::write(&bad, "this is not a certificate\n").expect("write");
    let output = std::process::Command::new(common::binary::BIN)
        .args([
            "--port",
            "0",
            "--ca-file",
            bad.to_str().expect("utf-8 path"),
        ])
        .env_remove("SSL_CERT_FILE")
        .output()
        .expect("runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--ca-file") && stderr.contains("no PEM certificate"),
        "{stderr}"
    );
    let missing = dir.join("missing.pem");
    let output = std::process::Command::new(common::binary::BIN)
        .args(["--port", "0"])
        .env("SSL_CERT_FILE", &missing)
        .output()
        .expect("runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("SSL_CERT_FILE") && stderr.contains("cannot read"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(dir);
}
