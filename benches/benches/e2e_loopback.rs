//! End to end over loopback Streamable HTTP: one cached `get_firewall_rule` call from rmcp's
//! client (`StreamableHttpClientTransport` with a bearer header, one session reused) through
//!
//! - `bare_rmcp`: a bare rmcp server (axum + `StreamableHttpService`, no layers) whose tool of the
//!   same name returns the same `AppFirewall` from an in-memory map — the baseline;
//! - `full_stack_otel_off`: the reference server as `mcp_patterns_example::run::start_http`
//!   starts it (Layer 1 `AuthLayer` verifying the development issuer's token, `AuthzHandler`,
//!   mcp-cache in server scope, the `OtelHandler` without a subscriber, as with `--otel off`);
//! - `full_stack_otel_on`: the same with tracing on (mcp-otel's pipeline, sampling 1, metrics on,
//!   spans exported over OTLP HTTP/protobuf to a loopback sink that accepts them; no log lines).
//!
//! The three servers run at once, each on its own 2-worker tokio runtime (the traced one with
//! mcp-otel's dispatcher on its threads); the clients run on a current-thread runtime driven by
//! criterion. After the criterion benches, the same calls run interleaved (one to each server per
//! round, 3000 rounds after 200 warm-up rounds), so that load from other processes on a shared
//! machine hits all three alike. Ends with the ratios to the bare server of both: criterion's
//! median estimates from this run, and the interleaved medians.
#![allow(missing_docs)]

use axum::serve::ListenerExt as _;
use std::cell::RefCell;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use criterion::Criterion;
use mcp_otel::{SamplerConfig, TelemetryConfig, TraceExporter};
use mcp_patterns_example::downstream::FirewallStore;
use mcp_patterns_example::model::AppFirewall;
use mcp_patterns_example::server::AppNameArgs;
use mcp_patterns_example::{HttpOptions, RunningHttp, start_http, telemetry_layer};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::{Json, Parameters};
use rmcp::model::{
    CallToolRequestParams, CallToolResult, ContentBlock, ServerCapabilities, ServerConfig,
};
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ServerHandler, ServiceExt, tool, tool_handler, tool_router};
use tokio::runtime::Runtime;
use tokio_util::sync::CancellationToken;

/// Sets `TCP_NODELAY` on an accepted connection, as every server should: otherwise the last small
/// write of each response waits for the client's delayed ACK (about 40 ms on a kept-alive
/// connection).
fn nodelay(tcp: &mut tokio::net::TcpStream) {
    let _ = tcp.set_nodelay(true);
}

const APP: &str = "app-alpha";
/// The demo user of the development issuer who may read `APP`.
const USER: &str = "alice";
const GROUP: &str = "e2e_loopback";
const NAMES: [&str; 3] = ["bare_rmcp", "full_stack_otel_off", "full_stack_otel_on"];

/// The baseline: the same tool over the same data, no layers.
#[derive(Clone)]
struct BareFirewall {
    rules: Arc<HashMap<String, AppFirewall>>,
    tool_router: ToolRouter<Self>,
}

#[tool_router]
impl BareFirewall {
    #[tool(description = "Get the firewall rules of one application, by name (e.g. app-alpha)")]
    async fn get_firewall_rule(
        &self,
        Parameters(AppNameArgs { app_name }): Parameters<AppNameArgs>,
    ) -> Result<Json<AppFirewall>, CallToolResult> {
        self.rules.get(&app_name).cloned().map(Json).ok_or_else(|| {
            CallToolResult::error(vec![ContentBlock::text(format!(
                "unknown application {app_name}"
            ))])
        })
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for BareFirewall {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }
}

/// A running axum app on a free loopback port, stopped by `ct`.
struct Served {
    url: String,
    ct: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Served {
    /// Serves `app` until `ct` is cancelled.
    async fn start(app: axum::Router, ct: CancellationToken) -> Self {
        let listener = tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let task = tokio::spawn({
            let ct = ct.clone();
            async move {
                let _ = axum::serve(listener.tap_io(nodelay), app)
                    .with_graceful_shutdown(ct.cancelled_owned())
                    .await;
            }
        });
        Self { url, ct, task }
    }

    async fn shutdown(self) {
        self.ct.cancel();
        let _ = self.task.await;
    }
}

/// The bare rmcp server on Streamable HTTP with rmcp's default (stateful) configuration, as the
/// reference server uses it.
async fn start_bare() -> Served {
    let rules: HashMap<String, AppFirewall> = FirewallStore::seeded()
        .all()
        .into_iter()
        .map(|app| (app.app_name.clone(), app))
        .collect();
    let handler = BareFirewall {
        rules: Arc::new(rules),
        tool_router: BareFirewall::tool_router(),
    };
    let ct = CancellationToken::new();
    let service: StreamableHttpService<BareFirewall, LocalSessionManager> =
        StreamableHttpService::new(
            move || Ok(handler.clone()),
            Arc::new(LocalSessionManager::default()),
            StreamableHttpServerConfig::default().with_cancellation_token(ct.child_token()),
        );
    let mut served = Served::start(axum::Router::new().nest_service("/mcp", service), ct).await;
    served.url.push_str("/mcp");
    served
}

/// A loopback OTLP HTTP receiver that accepts every export (an empty protobuf response is a
/// full success) and counts the requests.
async fn start_otlp_sink(requests: Arc<AtomicU64>) -> Served {
    let accept = move |body: axum::body::Bytes| {
        let requests = Arc::clone(&requests);
        async move {
            requests.fetch_add(1, Ordering::Relaxed);
            drop(body);
            (
                [(axum::http::header::CONTENT_TYPE, "application/x-protobuf")],
                Vec::<u8>::new(),
            )
        }
    };
    let app = axum::Router::new()
        .route("/v1/traces", axum::routing::post(accept.clone()))
        .route("/v1/metrics", axum::routing::post(accept));
    Served::start(app, CancellationToken::new()).await
}

thread_local! {
    static DISPATCH: RefCell<Option<tracing::dispatcher::DefaultGuard>> = const { RefCell::new(None) };
}

/// A 2-worker runtime for one server; with `dispatch`, every thread of it traces into it.
fn server_runtime(dispatch: Option<tracing::Dispatch>) -> Runtime {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.worker_threads(2).enable_all();
    if let Some(dispatch) = dispatch {
        builder
            .on_thread_start(move || {
                let guard = tracing::dispatcher::set_default(&dispatch);
                DISPATCH.with(|slot| *slot.borrow_mut() = Some(guard));
            })
            .on_thread_stop(|| DISPATCH.with(|slot| drop(slot.borrow_mut().take())));
    }
    builder.build().expect("server runtime")
}

fn demo_token(server: &RunningHttp) -> String {
    server
        .demo_tokens
        .iter()
        .find(|(user, _)| user.subject == USER)
        .map(|(_, token)| token.clone())
        .expect("demo user")
}

fn full_stack_options(telemetry: Option<mcp_otel::OtelLayer>) -> HttpOptions {
    HttpOptions {
        bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
        port: 0,
        telemetry,
        ..HttpOptions::default()
    }
}

fn params() -> CallToolRequestParams {
    let mut args = serde_json::Map::new();
    args.insert("app_name".to_owned(), serde_json::Value::from(APP));
    CallToolRequestParams::new("get_firewall_rule").with_arguments(args)
}

async fn connect(url: &str, token: &str) -> RunningService<RoleClient, ()> {
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(url.to_owned()).auth_header(token.to_owned()),
    );
    ().serve(transport).await.expect("initialize")
}

/// Connects and checks the call returns exactly `expected`.
fn client(
    client_rt: &Runtime,
    name: &str,
    url: &str,
    token: &str,
    expected: &serde_json::Value,
) -> RunningService<RoleClient, ()> {
    let client = client_rt.block_on(connect(url, token));
    let first = client_rt
        .block_on(client.call_tool(params()))
        .expect("tools/call");
    assert_ne!(first.is_error, Some(true), "{name}: {first:?}");
    assert_eq!(
        first.structured_content.as_ref(),
        Some(expected),
        "{name} returns the same data as the others"
    );
    client
}

fn measure(
    c: &mut Criterion,
    client_rt: &Runtime,
    name: &str,
    client: &RunningService<RoleClient, ()>,
) {
    c.benchmark_group(GROUP)
        .sample_size(30)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(5))
        .bench_function(name, |b| {
            b.to_async(client_rt)
                .iter(|| async { client.call_tool(params()).await.expect("tools/call") });
        });
}

/// The same calls, interleaved: round after round, one call to each server (starting with a
/// different one each round), so that load from elsewhere on the machine hits all of them alike.
/// Returns each target's median latency in ns.
fn interleaved(
    client_rt: &Runtime,
    targets: &[(&str, RunningService<RoleClient, ()>)],
    warm_up: usize,
    rounds: usize,
) -> Vec<f64> {
    let mut samples: Vec<Vec<f64>> = vec![Vec::with_capacity(rounds); targets.len()];
    for round in 0..warm_up + rounds {
        for k in 0..targets.len() {
            let i = (round + k) % targets.len();
            let start = Instant::now();
            client_rt
                .block_on(targets[i].1.call_tool(params()))
                .expect("tools/call");
            let elapsed = start.elapsed();
            if round >= warm_up {
                samples[i].push(elapsed.as_secs_f64() * 1e9);
            }
        }
    }
    samples
        .into_iter()
        .map(|mut s| {
            s.sort_by(f64::total_cmp);
            s.get(s.len() / 2).copied().unwrap_or(f64::NAN)
        })
        .collect()
}

fn otel_config(sink: &str) -> TelemetryConfig {
    let mut config = TelemetryConfig::new("mcp-patterns-example");
    config.traces = TraceExporter::Otlp;
    sink.clone_into(&mut config.otlp_endpoint);
    config.sampler = SamplerConfig::AlwaysOn;
    config.log_to_stderr = false;
    config
}

fn run(c: &mut Criterion) {
    let client_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("client runtime");
    let expected =
        serde_json::to_value(FirewallStore::seeded().app(APP).expect("seeded app")).expect("json");

    // tracing caches each callsite's interest when it is first hit; while only one dispatcher
    // is registered, that is decided by the default of the thread that hits it first, so a span
    // first created on an untraced server's thread would stay disabled on the traced server's
    // threads too. A second registered dispatcher (that enables nothing) makes tracing ask every
    // registered dispatcher instead.
    let _every_dispatcher = tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default());
    // All three servers run at once, each on its own runtime.
    let bare_rt = server_runtime(None);
    let bare = bare_rt.block_on(start_bare());
    let off_rt = server_runtime(None);
    let off = off_rt
        .block_on(start_http(full_stack_options(None)))
        .expect("reference server starts");
    let sink_requests = Arc::new(AtomicU64::new(0));
    let sink_rt = server_runtime(None);
    let sink = sink_rt.block_on(start_otlp_sink(Arc::clone(&sink_requests)));
    let (guard, dispatch) = mcp_otel::build(&otel_config(&sink.url)).expect("telemetry");
    let on_rt = server_runtime(Some(dispatch));
    let on = on_rt
        .block_on(start_http(full_stack_options(Some(telemetry_layer(
            guard.layer(),
        )))))
        .expect("traced reference server starts");

    let downstream =
        |server: &RunningHttp| server.downstream.as_ref().map_or(0, |d| d.store.requests());
    let before = [downstream(&off), downstream(&on)];
    // The bare server ignores the header; it is sent so that all see the same requests.
    let targets = [
        (
            NAMES[0],
            client(
                &client_rt,
                NAMES[0],
                &bare.url,
                &demo_token(&off),
                &expected,
            ),
        ),
        (
            NAMES[1],
            client(
                &client_rt,
                NAMES[1],
                &off.mcp_url,
                &demo_token(&off),
                &expected,
            ),
        ),
        (
            NAMES[2],
            client(
                &client_rt,
                NAMES[2],
                &on.mcp_url,
                &demo_token(&on),
                &expected,
            ),
        ),
    ];
    for (name, client) in &targets {
        measure(c, &client_rt, name, client);
    }
    let (warm_up, rounds) = if bench_mode() { (200, 3000) } else { (1, 2) };
    let medians = interleaved(&client_rt, &targets, warm_up, rounds);
    print_interleaved(&medians, warm_up, rounds);
    println!(
        "downstream requests during the calls: {} (otel off), {} (otel on) — cached, the data \
         is fetched by refreshes only",
        downstream(&off) - before[0],
        downstream(&on) - before[1]
    );
    for (_, client) in targets {
        client_rt.block_on(async {
            let _ = client.cancel().await;
        });
    }

    bare_rt.block_on(bare.shutdown());
    off_rt.block_on(off.shutdown());
    on_rt.block_on(on.shutdown());
    drop(on_rt);
    guard.flush();
    let stats = guard.stats();
    println!(
        "full_stack_otel_on: {} spans exported ({} failed) in {} OTLP requests",
        stats.exported_spans,
        stats.failed_spans,
        sink_requests.load(Ordering::Relaxed)
    );
    assert!(stats.exported_spans > 0, "the traced server exported spans");
    guard.shutdown();
    sink_rt.block_on(sink.shutdown());
}

fn print_interleaved(medians: &[f64], warm_up: usize, rounds: usize) {
    println!(
        "\n{GROUP} interleaved ({rounds} rounds of one call to each server, {warm_up} warm-up \
         rounds excluded): median per call (ratio to bare rmcp, to OTel off)"
    );
    for (name, ns) in NAMES.iter().zip(medians) {
        println!(
            "  {name:<22} {:>8.1} us  {:>5.2}x bare  {:>5.2}x otel off",
            ns / 1e3,
            ns / medians[0],
            ns / medians[1]
        );
    }
}

/// Whether this is a measuring run (`cargo bench`), not criterion's test mode.
fn bench_mode() -> bool {
    let args: Vec<String> = std::env::args().collect();
    args.iter().any(|a| a == "--bench") && !args.iter().any(|a| a == "--test")
}

/// The median time (ns) criterion estimated for `GROUP/bench` in this run.
fn median_ns(bench: &str, since: SystemTime) -> Option<f64> {
    mcp_patterns_benches::estimates::median_ns(GROUP, bench, since)
}

fn report(since: SystemTime) {
    println!("\n{GROUP}: one cached get_firewall_rule call, criterion median (ratio to bare rmcp)");
    let Some(bare) = median_ns("bare_rmcp", since) else {
        println!("  (no estimates in this run: run without --test)");
        return;
    };
    let off = median_ns("full_stack_otel_off", since);
    for name in NAMES {
        if let Some(ns) = median_ns(name, since) {
            let vs_off = off.map_or(String::new(), |off| {
                format!("  {:>5.2}x otel off", ns / off)
            });
            println!(
                "  {name:<22} {:>8.1} us  {:>5.2}x bare{vs_off}",
                ns / 1e3,
                ns / bare
            );
        }
    }
}

fn main() {
    let since = SystemTime::now();
    let mut criterion = Criterion::default().configure_from_args();
    run(&mut criterion);
    criterion.final_summary();
    report(since);
}
