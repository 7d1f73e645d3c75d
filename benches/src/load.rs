//! A load generator for MCP servers over Streamable HTTP.
//!
//! [`run`] opens `clients` clients, each with an `Authorization: Bearer` header, then loops on
//! weighted operations ([`Op`]) until the measured period ends or `max_requests` measured
//! requests have completed. Every client issues one request at a time (closed loop), so
//! `clients` is the concurrency. What a client is ([`ClientKind`]):
//!
//! - [`ClientKind::Rmcp`]: rmcp's own client ([`StreamableHttpClientTransport`]), one MCP
//!   session each, initialized once. It stops reading an SSE response at the JSON-RPC response.
//! - [`ClientKind::KeepAlive`]: one kept-alive HTTP/1.1 connection each (hyper,
//!   [`crate::raw::RawClient`]) that reads every response to its end, as curl, wrk, browsers,
//!   proxies and the TypeScript SDK do; each request has its own JSON-RPC id. In
//!   [`RawMode::Session`] each client opens one legacy session; in [`RawMode::Stateless`] it
//!   speaks the 2026-07-28 revision (no session, per-request `_meta`).
//!
//! Timeline: all sessions are opened first (not measured); then `warmup` runs requests that are
//! not counted; then the measured window starts. A request counts when it both starts and
//! completes inside the window; requests still in flight when it closes are discarded, so the
//! throughput is `requests / elapsed` exactly. Latency is recorded in microseconds in an HDR
//! histogram (three significant digits). At the end every client closes its session (an HTTP
//! `DELETE` of the session), so the server's session count drops back.
//!
//! An operation is an error when the transport fails, the server answers with a JSON-RPC error,
//! the request exceeds `request_timeout`, or a `tools/call` result has `isError: true`.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use rmcp::model::{
    CallToolRequestParams, ClientRequest, ListResourcesRequest, ListToolsRequest,
    ReadResourceRequestParams, ServerResult,
};
use rmcp::service::{RunningService, ServiceError};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{RoleClient, ServiceExt};
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::raw::{RawClient, RawMode, RawRequest};

/// How many error messages a report keeps.
pub const ERROR_SAMPLES: usize = 5;

/// Highest latency the histogram records (longer ones are clamped to it): 5 minutes.
const MAX_LATENCY_US: u64 = 300_000_000;

/// One MCP operation the load generator sends.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Op {
    /// `tools/call` of `name` with `arguments`.
    CallTool {
        /// The tool.
        name: String,
        /// Its arguments (a JSON object).
        arguments: Map<String, Value>,
    },
    /// `resources/read` of `uri`.
    ReadResource {
        /// The resource URI.
        uri: String,
    },
    /// `tools/list` (sent as a raw request, bypassing rmcp's client-side list cache).
    ListTools,
    /// `resources/list` (sent as a raw request).
    ListResources,
}

impl Op {
    /// `tools/call` of `name`; `arguments` must be a JSON object (anything else means none).
    pub fn call_tool(name: impl Into<String>, arguments: Value) -> Self {
        Self::CallTool {
            name: name.into(),
            arguments: match arguments {
                Value::Object(map) => map,
                _ => Map::new(),
            },
        }
    }

    /// `resources/read` of `uri`.
    pub fn read_resource(uri: impl Into<String>) -> Self {
        Self::ReadResource { uri: uri.into() }
    }

    /// A short label, e.g. `tools/call get_firewall_rule(app-alpha)`, used in per-operation
    /// counts and error samples.
    pub fn label(&self) -> String {
        match self {
            Self::CallTool { name, arguments } => {
                let mut label = format!("tools/call {name}");
                if !arguments.is_empty() {
                    let args: Vec<String> = arguments
                        .values()
                        .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                        .collect();
                    let _ = write!(label, "({})", args.join(","));
                }
                label
            }
            Self::ReadResource { uri } => format!("resources/read {uri}"),
            Self::ListTools => "tools/list".to_owned(),
            Self::ListResources => "resources/list".to_owned(),
        }
    }

    /// The JSON-RPC method and params of this operation.
    pub fn rpc(&self) -> (&'static str, Value) {
        match self {
            Self::CallTool { name, arguments } => (
                "tools/call",
                json!({ "name": name, "arguments": arguments }),
            ),
            Self::ReadResource { uri } => ("resources/read", json!({ "uri": uri })),
            Self::ListTools => ("tools/list", json!({})),
            Self::ListResources => ("resources/list", json!({})),
        }
    }

    /// The reference server's standard mix over the applications `apps` (which the callers must
    /// be entitled to): 80 % `get_firewall_rule`, 10 % `list_firewall_rules`, 10 %
    /// `resources/read cache://firewalls/{app}`, spread evenly over `apps`. With no apps, only
    /// `list_firewall_rules`.
    pub fn reference_mix(apps: &[String]) -> Vec<(u32, Op)> {
        if apps.is_empty() {
            return vec![(1, Self::call_tool("list_firewall_rules", json!({})))];
        }
        // Weights per app, scaled so that the three groups keep 8:1:1 for any number of apps.
        let n = u32::try_from(apps.len()).unwrap_or(u32::MAX);
        let mut mix: Vec<(u32, Op)> = apps
            .iter()
            .map(|app| {
                (
                    8,
                    Self::call_tool("get_firewall_rule", json!({ "app_name": app })),
                )
            })
            .collect();
        mix.push((n, Self::call_tool("list_firewall_rules", json!({}))));
        mix.extend(
            apps.iter()
                .map(|app| (1, Self::read_resource(format!("cache://firewalls/{app}")))),
        );
        mix
    }

    /// A named mix: `reference` ([`Op::reference_mix`]), `get` (only `get_firewall_rule`),
    /// `list` (only `list_firewall_rules`), `resource` (only `resources/read
    /// cache://firewalls/{app}`), `tools-list` (only `tools/list`) or `status` (only
    /// `cache_status`). `None` for an unknown name.
    pub fn preset(name: &str, apps: &[String]) -> Option<Vec<(u32, Op)>> {
        let each = |make: &dyn Fn(&String) -> Op| -> Vec<(u32, Op)> {
            apps.iter().map(|app| (1, make(app))).collect()
        };
        let mix = match name {
            "reference" => Self::reference_mix(apps),
            "get" => each(&|app| Self::call_tool("get_firewall_rule", json!({ "app_name": app }))),
            "list" => vec![(1, Self::call_tool("list_firewall_rules", json!({})))],
            "resource" => each(&|app| Self::read_resource(format!("cache://firewalls/{app}"))),
            "tools-list" => vec![(1, Self::ListTools)],
            "status" => vec![(1, Self::call_tool("cache_status", json!({})))],
            _ => return None,
        };
        Some(mix)
    }

    /// The names [`Op::preset`] knows.
    pub const PRESETS: [&'static str; 6] = [
        "reference",
        "get",
        "list",
        "resource",
        "tools-list",
        "status",
    ];
}

/// What each load client is (see the module docs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientKind {
    /// rmcp's client, one MCP session per client. The default.
    #[default]
    Rmcp,
    /// One kept-alive HTTP/1.1 connection per client, every response read to its end.
    KeepAlive(RawMode),
}

impl ClientKind {
    /// A short name: `rmcp`, `keep-alive` or `stateless`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Rmcp => "rmcp",
            Self::KeepAlive(RawMode::Session) => "keep-alive",
            Self::KeepAlive(RawMode::Stateless) => "stateless",
        }
    }

    /// The kind named `name` ([`ClientKind::name`]).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "rmcp" => Some(Self::Rmcp),
            "keep-alive" => Some(Self::KeepAlive(RawMode::Session)),
            "stateless" => Some(Self::KeepAlive(RawMode::Stateless)),
            _ => None,
        }
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// What each client is.
    pub client: ClientKind,
    /// The MCP endpoint, e.g. `http://127.0.0.1:8080/mcp`.
    pub url: String,
    /// Bearer tokens (without `Bearer `); client `i` uses `bearers[i % len]`. Empty: no
    /// `Authorization` header.
    pub bearers: Vec<String>,
    /// Concurrent clients, each one MCP session issuing one request at a time.
    pub clients: usize,
    /// The measured period, after the warm-up.
    pub duration: Duration,
    /// The warm-up before it; its requests are not counted.
    pub warmup: Duration,
    /// Stop early once this many measured requests have completed.
    pub max_requests: Option<u64>,
    /// Weighted operations; each request picks one with probability weight / total.
    pub mix: Vec<(u32, Op)>,
    /// Print a one-line progress report on stderr about once a second.
    pub progress: bool,
    /// A request taking longer than this counts as an error (and the client moves on).
    pub request_timeout: Duration,
}

impl LoadConfig {
    /// One rmcp client, 10 s measured after a 2 s warm-up, `tools/list` only, no token, no
    /// progress line, 30 s request timeout.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            client: ClientKind::Rmcp,
            url: url.into(),
            bearers: Vec::new(),
            clients: 1,
            duration: Duration::from_secs(10),
            warmup: Duration::from_secs(2),
            max_requests: None,
            mix: vec![(1, Op::ListTools)],
            progress: false,
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// Requests and errors of one operation of the mix, in the measured window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OpCount {
    /// [`Op::label`].
    pub op: String,
    /// Requests completed.
    pub requests: u64,
    /// Of which errors.
    pub errors: u64,
}

/// The outcome of a [`run`]. Counts and latencies cover the measured window only.
#[derive(Debug, Clone)]
pub struct LoadReport {
    /// Concurrent clients.
    pub clients: usize,
    /// Requests completed in the measured window (errors included).
    pub requests: u64,
    /// Of which errors.
    pub errors: u64,
    /// The first few error messages, each prefixed with its operation's label.
    pub error_samples: Vec<String>,
    /// Requests completed during the warm-up (not in any other figure).
    pub warmup_requests: u64,
    /// Of which errors (their messages are sampled in `error_samples` too).
    pub warmup_errors: u64,
    /// `requests / elapsed`.
    pub throughput_per_s: f64,
    /// Median latency.
    pub p50: Duration,
    /// 90th percentile latency.
    pub p90: Duration,
    /// 99th percentile latency.
    pub p99: Duration,
    /// Highest latency.
    pub max: Duration,
    /// Mean latency.
    pub mean: Duration,
    /// Length of the measured window (shorter than the configured duration when
    /// `max_requests` ended it).
    pub elapsed: Duration,
    /// Per operation of the mix, in mix order.
    pub per_op: Vec<OpCount>,
}

impl LoadReport {
    /// The report as JSON: counts, `throughput_per_s`, latencies in milliseconds (`p50_ms`,
    /// `p90_ms`, `p99_ms`, `max_ms`, `mean_ms`), `elapsed_s`, `per_op`, `error_samples`.
    pub fn to_json(&self) -> Value {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        json!({
            "clients": self.clients,
            "requests": self.requests,
            "errors": self.errors,
            "warmup_requests": self.warmup_requests,
            "warmup_errors": self.warmup_errors,
            "throughput_per_s": self.throughput_per_s,
            "p50_ms": ms(self.p50),
            "p90_ms": ms(self.p90),
            "p99_ms": ms(self.p99),
            "max_ms": ms(self.max),
            "mean_ms": ms(self.mean),
            "elapsed_s": self.elapsed.as_secs_f64(),
            "per_op": self.per_op,
            "error_samples": self.error_samples,
        })
    }

    /// A human-readable multi-line summary.
    pub fn summary(&self) -> String {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let mut out = format!(
            "{} clients, {:.1} s measured: {} requests, {} errors, {:.1} req/s\n\
             latency ms: p50 {:.3}  p90 {:.3}  p99 {:.3}  max {:.3}  mean {:.3}\n",
            self.clients,
            self.elapsed.as_secs_f64(),
            self.requests,
            self.errors,
            self.throughput_per_s,
            ms(self.p50),
            ms(self.p90),
            ms(self.p99),
            ms(self.max),
            ms(self.mean),
        );
        for op in &self.per_op {
            let _ = writeln!(
                out,
                "  {:>9} requests {:>6} errors  {}",
                op.requests, op.errors, op.op
            );
        }
        for sample in &self.error_samples {
            let _ = writeln!(out, "  error: {sample}");
        }
        out
    }
}

/// Why a run could not take place.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// `clients` is 0.
    #[error("at least one client is needed")]
    NoClients,
    /// The mix is empty or all its weights are 0.
    #[error("the operation mix is empty (or every weight is 0)")]
    EmptyMix,
    /// A client could not open its session (initialize failed).
    #[error("client {client} could not open an MCP session at {url}: {reason}")]
    Connect {
        /// The client's index.
        client: usize,
        /// The endpoint.
        url: String,
        /// The client's error.
        reason: String,
    },
    /// A client task panicked or was cancelled.
    #[error("a client task failed: {source}")]
    Task {
        /// The join error.
        #[source]
        source: tokio::task::JoinError,
    },
}

type Client = RunningService<RoleClient, ()>;

/// One load client.
enum Session {
    Rmcp(Client),
    Raw(RawClient),
}

impl Session {
    async fn open(kind: ClientKind, url: &str, bearer: Option<&str>) -> Result<Self, String> {
        match kind {
            ClientKind::Rmcp => connect(url, bearer).await.map(Self::Rmcp),
            ClientKind::KeepAlive(mode) => {
                RawClient::connect(url, bearer, mode).await.map(Self::Raw)
            }
        }
    }

    async fn execute(&mut self, shared: &Shared, which: usize) -> Result<(), String> {
        match self {
            Self::Rmcp(client) => execute(client, &shared.mix[which].1).await,
            Self::Raw(client) => client.call(&shared.raw[which]).await,
        }
    }

    async fn close(self) {
        match self {
            // rmcp's transport sends DELETE for the session before `cancel` returns.
            Self::Rmcp(client) => {
                let _ = client.cancel().await;
            }
            Self::Raw(client) => client.close().await,
        }
    }
}

/// State shared by the clients and the progress task.
struct Shared {
    mix: Vec<(u32, Op)>,
    /// The mix pre-rendered for raw clients (same order).
    raw: Vec<RawRequest>,
    total_weight: u64,
    measure_start: Instant,
    measure_end: Instant,
    max_requests: Option<u64>,
    request_timeout: Duration,
    /// Set when `max_requests` is reached.
    stopped: AtomicBool,
    /// When it was reached, in nanoseconds after `measure_start`.
    stopped_at_ns: AtomicU64,
    /// Measured requests so far (for `max_requests` and progress).
    measured: AtomicU64,
    measured_errors: AtomicU64,
    warmup: AtomicU64,
    warmup_errors: AtomicU64,
    samples: Mutex<Vec<String>>,
}

impl Shared {
    /// The state of one run of `config` whose measured window starts at `measure_start`.
    fn new(config: &LoadConfig, measure_start: Instant) -> Self {
        let mix: Vec<(u32, Op)> = config.mix.iter().filter(|(w, _)| *w > 0).cloned().collect();
        let mode = match config.client {
            ClientKind::KeepAlive(mode) => mode,
            ClientKind::Rmcp => RawMode::Session,
        };
        Self {
            raw: mix
                .iter()
                .map(|(_, op)| {
                    let (method, params) = op.rpc();
                    RawRequest::new(method, &params, mode)
                })
                .collect(),
            total_weight: mix.iter().map(|(w, _)| u64::from(*w)).sum(),
            mix,
            measure_start,
            measure_end: measure_start + config.duration,
            max_requests: config.max_requests,
            request_timeout: config.request_timeout,
            stopped: AtomicBool::new(false),
            stopped_at_ns: AtomicU64::new(0),
            measured: AtomicU64::new(0),
            measured_errors: AtomicU64::new(0),
            warmup: AtomicU64::new(0),
            warmup_errors: AtomicU64::new(0),
            samples: Mutex::new(Vec::new()),
        }
    }

    fn pick(&self, rng: &mut SplitMix) -> usize {
        let mut r = rng.next() % self.total_weight;
        for (index, (weight, _)) in self.mix.iter().enumerate() {
            let weight = u64::from(*weight);
            if r < weight {
                return index;
            }
            r -= weight;
        }
        self.mix.len() - 1
    }

    fn window_end(&self) -> Instant {
        if self.stopped.load(Ordering::Acquire) {
            self.measure_start + Duration::from_nanos(self.stopped_at_ns.load(Ordering::Acquire))
        } else {
            self.measure_end
        }
    }

    fn done(&self, now: Instant) -> bool {
        now >= self.measure_end || self.stopped.load(Ordering::Acquire)
    }

    /// Counts one measured request; returns false if it is past `max_requests` (not counted).
    fn admit(&self, now: Instant) -> bool {
        let n = self.measured.fetch_add(1, Ordering::AcqRel) + 1;
        match self.max_requests {
            Some(max) if n > max => false,
            Some(max) if n == max => {
                let ns =
                    u64::try_from(now.saturating_duration_since(self.measure_start).as_nanos())
                        .unwrap_or(u64::MAX);
                self.stopped_at_ns.store(ns, Ordering::Release);
                self.stopped.store(true, Ordering::Release);
                true
            }
            _ => true,
        }
    }

    fn sample(&self, label: &str, message: &str) {
        let mut samples = self.samples.lock().unwrap_or_else(PoisonError::into_inner);
        if samples.len() < ERROR_SAMPLES {
            samples.push(format!("{label}: {message}"));
        }
    }
}

/// What one client measured.
struct ClientResult {
    histogram: Histogram<u64>,
    per_op: Vec<(u64, u64)>,
}

/// A small fast PRNG (SplitMix64) so the mix choice costs nothing and needs no dependency.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

fn new_histogram() -> Histogram<u64> {
    // 1 µs .. 5 min at 3 significant digits; the bounds are valid, so this cannot fail.
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).unwrap_or_else(|_| {
        Histogram::new(3).unwrap_or_else(|_| unreachable!("3 significant digits are valid"))
    })
}

/// Opens one MCP session at `url` with `bearer`.
pub async fn connect(url: &str, bearer: Option<&str>) -> Result<Client, String> {
    let mut config = StreamableHttpClientTransportConfig::with_uri(url.to_owned());
    if let Some(token) = bearer {
        config = config.auth_header(token.to_owned());
    }
    ().serve(StreamableHttpClientTransport::from_config(config))
        .await
        .map_err(|e| e.to_string())
}

/// Sends `op` on `client`; `Err` with a message when it is an error (see the module docs).
pub async fn execute(client: &Client, op: &Op) -> Result<(), String> {
    let outcome = match op {
        Op::CallTool { name, arguments } => client
            .call_tool(CallToolRequestParams::new(name.clone()).with_arguments(arguments.clone()))
            .await
            .map(|result| {
                if result.is_error == Some(true) {
                    let text = result
                        .content
                        .first()
                        .and_then(|c| c.as_text())
                        .map_or_else(|| "isError result".to_owned(), |t| t.text.clone());
                    Err(format!("tool error: {text}"))
                } else {
                    Ok(())
                }
            }),
        Op::ReadResource { uri } => client
            .read_resource(ReadResourceRequestParams::new(uri.clone()))
            .await
            .map(|_| Ok(())),
        Op::ListTools => client
            .send_request(ClientRequest::ListToolsRequest(ListToolsRequest::default()))
            .await
            .map(expect_result),
        Op::ListResources => client
            .send_request(ClientRequest::ListResourcesRequest(
                ListResourcesRequest::default(),
            ))
            .await
            .map(expect_result),
    };
    match outcome {
        Ok(result) => result,
        Err(ServiceError::McpError(error)) => Err(format!(
            "JSON-RPC error {}: {}",
            error.code.0, error.message
        )),
        Err(error) => Err(format!("transport: {error}")),
    }
}

fn expect_result(result: ServerResult) -> Result<(), String> {
    match result {
        ServerResult::ListToolsResult(_) | ServerResult::ListResourcesResult(_) => Ok(()),
        other => Err(format!("unexpected result: {other:?}")),
    }
}

/// One client's loop: warm-up, then measured requests until the window closes.
async fn client_loop(mut client: Session, index: usize, shared: Arc<Shared>) -> ClientResult {
    let mut rng = SplitMix(0x5EED_u64 ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut histogram = new_histogram();
    let mut per_op = vec![(0_u64, 0_u64); shared.mix.len()];
    loop {
        let start = Instant::now();
        if shared.done(start) {
            break;
        }
        let which = shared.pick(&mut rng);
        let op = &shared.mix[which].1;
        let outcome = match tokio::time::timeout(
            shared.request_timeout,
            client.execute(&shared, which),
        )
        .await
        {
            Ok(outcome) => outcome,
            Err(_) => Err(format!("timed out after {:?}", shared.request_timeout)),
        };
        let end = Instant::now();
        if start < shared.measure_start {
            shared.warmup.fetch_add(1, Ordering::Relaxed);
            if let Err(message) = outcome {
                shared.warmup_errors.fetch_add(1, Ordering::Relaxed);
                shared.sample(&format!("warm-up {}", op.label()), &message);
            }
            continue;
        }
        if end > shared.window_end() || !shared.admit(end) {
            // Still in flight when the window closed: not counted.
            break;
        }
        let micros = u64::try_from(end.duration_since(start).as_micros()).unwrap_or(u64::MAX);
        histogram.saturating_record(micros.clamp(1, MAX_LATENCY_US));
        per_op[which].0 += 1;
        if let Err(message) = outcome {
            per_op[which].1 += 1;
            shared.measured_errors.fetch_add(1, Ordering::Relaxed);
            shared.sample(&op.label(), &message);
        }
    }
    client.close().await;
    ClientResult { histogram, per_op }
}

/// Prints `[warmup|measure] t  requests  errors  req/s` on stderr once a second.
async fn progress_loop(shared: Arc<Shared>, clients: usize, start: Instant) {
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.tick().await;
    let mut last = 0_u64;
    loop {
        ticker.tick().await;
        let now = Instant::now();
        if shared.done(now) {
            break;
        }
        if now < shared.measure_start {
            eprint!(
                "\r[warm-up {:>4.0}s] {clients} clients, {} requests        ",
                now.duration_since(start).as_secs_f64(),
                shared.warmup.load(Ordering::Relaxed)
            );
        } else {
            let done = shared.measured.load(Ordering::Relaxed);
            eprint!(
                "\r[measure {:>4.0}s/{:.0}s] {clients} clients, {done} requests, {} errors, {} req/s   ",
                now.duration_since(shared.measure_start).as_secs_f64(),
                shared
                    .measure_end
                    .duration_since(shared.measure_start)
                    .as_secs_f64(),
                shared.measured_errors.load(Ordering::Relaxed),
                done.saturating_sub(last),
            );
            last = done;
        }
    }
    eprintln!();
}

/// Runs the load described by `config` and reports on the measured window.
///
/// Sessions are opened concurrently before the clock starts; if any fails to initialize, the
/// others are closed and [`LoadError::Connect`] is returned. Must be called within a Tokio
/// runtime; a multi-threaded one lets the clients use every core.
pub async fn run(config: &LoadConfig) -> Result<LoadReport, LoadError> {
    if config.clients == 0 {
        return Err(LoadError::NoClients);
    }
    let total_weight: u64 = config.mix.iter().map(|(w, _)| u64::from(*w)).sum();
    if total_weight == 0 {
        return Err(LoadError::EmptyMix);
    }
    let sessions = futures::future::join_all((0..config.clients).map(|i| {
        let bearer =
            (!config.bearers.is_empty()).then(|| config.bearers[i % config.bearers.len()].as_str());
        Session::open(config.client, &config.url, bearer)
    }))
    .await;
    let mut clients = Vec::with_capacity(sessions.len());
    let mut failure = None;
    for (client, session) in sessions.into_iter().enumerate() {
        match session {
            Ok(session) => clients.push(session),
            Err(reason) if failure.is_none() => failure = Some((client, reason)),
            Err(_) => {}
        }
    }
    if let Some((client, reason)) = failure {
        futures::future::join_all(clients.into_iter().map(Session::close)).await;
        return Err(LoadError::Connect {
            client,
            url: config.url.clone(),
            reason,
        });
    }

    let start = Instant::now();
    let measure_start = start + config.warmup;
    let shared = Arc::new(Shared::new(config, measure_start));
    let progress = config
        .progress
        .then(|| tokio::spawn(progress_loop(shared.clone(), config.clients, start)));
    let tasks: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(i, client)| tokio::spawn(client_loop(client, i, shared.clone())))
        .collect();
    let mut results = Vec::with_capacity(tasks.len());
    let mut join_error = None;
    for task in tasks {
        match task.await {
            Ok(result) => results.push(result),
            Err(source) => join_error = Some(source),
        }
    }
    if let Some(progress) = progress {
        let _ = progress.await;
    }
    if let Some(source) = join_error {
        return Err(LoadError::Task { source });
    }
    Ok(report(config, &shared, results))
}

fn report(config: &LoadConfig, shared: &Shared, results: Vec<ClientResult>) -> LoadReport {
    let mut histogram = new_histogram();
    let mut per_op = vec![(0_u64, 0_u64); shared.mix.len()];
    for result in results {
        // Same bounds on both sides, so adding cannot fail.
        let _ = histogram.add(&result.histogram);
        for (total, (requests, errors)) in per_op.iter_mut().zip(result.per_op) {
            total.0 += requests;
            total.1 += errors;
        }
    }
    let requests: u64 = per_op.iter().map(|(r, _)| r).sum();
    let errors: u64 = per_op.iter().map(|(_, e)| e).sum();
    let elapsed = shared
        .window_end()
        .min(shared.measure_end)
        .saturating_duration_since(shared.measure_start);
    let us = |v: u64| Duration::from_micros(v);
    let (p50, p90, p99, max, mean) = if requests == 0 {
        (
            Duration::ZERO,
            Duration::ZERO,
            Duration::ZERO,
            Duration::ZERO,
            Duration::ZERO,
        )
    } else {
        (
            us(histogram.value_at_quantile(0.50)),
            us(histogram.value_at_quantile(0.90)),
            us(histogram.value_at_quantile(0.99)),
            us(histogram.max()),
            Duration::from_secs_f64(histogram.mean() / 1e6),
        )
    };
    #[allow(clippy::cast_precision_loss)] // request counts far below 2^52
    let throughput_per_s = if elapsed.is_zero() {
        0.0
    } else {
        requests as f64 / elapsed.as_secs_f64()
    };
    LoadReport {
        clients: config.clients,
        requests,
        errors,
        error_samples: shared
            .samples
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone(),
        warmup_requests: shared.warmup.load(Ordering::Relaxed),
        warmup_errors: shared.warmup_errors.load(Ordering::Relaxed),
        throughput_per_s,
        p50,
        p90,
        p99,
        max,
        mean,
        elapsed,
        per_op: shared
            .mix
            .iter()
            .zip(per_op)
            .map(|((_, op), (requests, errors))| OpCount {
                op: op.label(),
                requests,
                errors,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_mix_keeps_eight_one_one_for_any_number_of_apps() {
        for n in 1..5 {
            let apps: Vec<String> = (0..n).map(|i| format!("app-{i}")).collect();
            let mix = Op::reference_mix(&apps);
            let weight = |pred: &dyn Fn(&Op) -> bool| -> u32 {
                mix.iter().filter(|(_, op)| pred(op)).map(|(w, _)| w).sum()
            };
            let get = weight(&|op| op.label().starts_with("tools/call get_firewall_rule"));
            let list = weight(&|op| op.label() == "tools/call list_firewall_rules");
            let read = weight(&|op| op.label().starts_with("resources/read"));
            assert_eq!((get, list, read), (8 * n, n, n), "{n} apps");
        }
        assert_eq!(
            Op::call_tool("get_firewall_rule", json!({"app_name": "app-alpha"})).label(),
            "tools/call get_firewall_rule(app-alpha)"
        );
    }

    #[test]
    fn presets_are_known_and_unknown_names_refused() {
        let apps = vec!["app-alpha".to_owned()];
        for name in Op::PRESETS {
            assert!(
                Op::preset(name, &apps).is_some_and(|m| !m.is_empty()),
                "{name}"
            );
        }
        assert!(Op::preset("nope", &apps).is_none());
    }

    #[test]
    fn pick_follows_the_weights() {
        let config = LoadConfig {
            mix: vec![(3, Op::ListTools), (1, Op::ListResources)],
            ..LoadConfig::new("http://127.0.0.1:1/mcp")
        };
        let shared = Shared::new(&config, Instant::now());
        assert_eq!(shared.total_weight, 4);
        let mut rng = SplitMix(1);
        let first = (0..40_000).filter(|_| shared.pick(&mut rng) == 0).count();
        assert!((29_000..31_000).contains(&first), "{first} of 40000");
    }
}
