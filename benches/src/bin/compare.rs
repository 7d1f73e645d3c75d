//! `compare`: the side-by-side comparison of the Rust reference server and its Python FastMCP
//! peer (`benches/python/firewall_server.py`). Run it through `scripts/bench-compare`, which
//! builds the release binaries and the Python venv first.
//!
//! It starts ONE demo downstream API, ONE development token issuer and ONE OTLP sink in this
//! process, shared by both servers; starts the Rust server (release binary) and the Python
//! server as child processes pointing at them; checks that both answer the same calls the same
//! way; starts the HTTP ceiling (the `baseline` binary: a bare axum endpoint answering a
//! captured response of the Rust server, same size); then runs the load generator against each
//! at several concurrency levels, with each client kind (`--modes`: rmcp's client, kept-alive
//! raw HTTP connections reading every response to its end, and optionally stateless 2026-07-28
//! requests), several runs each (interleaved), and prints the table with every throughput also
//! as a fraction of the ceiling. With `--mix get`, a bare rmcp server (`baseline --kind rmcp`:
//! rmcp's default Streamable HTTP configuration, one tool, no layers) is measured in the same
//! rounds, so the share of rmcp itself is known. With `--untraced` a second Rust server without
//! tracing is measured in the same rounds (the cost of tracing). With `--idle-sessions N` it
//! then opens N idle sessions on each server and on the bare rmcp server and reports the
//! resident memory each session adds. Raw results go to `--out` (JSON and CSV), the plot to
//! `--plot`. Every child is stopped at the end, on failure and on Ctrl-C.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use axum::serve::ListenerExt as _;
use clap::Parser;
use mcp_patterns_benches::compare::{Spread, check_parity, parity_table};
use mcp_patterns_benches::load::{self, ClientKind, LoadConfig, LoadReport, Op};
use mcp_patterns_benches::raw::{RawClient, RawMode, RawRequest};
use mcp_patterns_example::devidp::{DEV_AUDIENCE, DEV_TOKEN_TTL, demo_users, start_dev_issuer};
use mcp_patterns_example::downstream::{self, FirewallStore};
use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt as _;
use tokio::process::{Child, Command};

/// Sets `TCP_NODELAY` on an accepted connection (the OTLP sink answers at once).
fn nodelay(tcp: &mut tokio::net::TcpStream) {
    let _ = tcp.set_nodelay(true);
}

/// Compare the Rust reference server with the Python FastMCP peer under the same load.
#[derive(Debug, Parser)]
#[command(about)]
#[allow(clippy::struct_excessive_bools)] // independent switches
struct Args {
    /// The release binary of the reference server.
    #[arg(long, default_value = "target/release/mcp-patterns-example")]
    rust_bin: PathBuf,
    /// The release binary of the baselines (`baseline`: the HTTP ceiling and a bare rmcp server).
    #[arg(long, default_value = "target/release/baseline")]
    baseline_bin: PathBuf,
    /// The Python interpreter of the venv made by benches/python/setup.sh.
    #[arg(long, default_value = "python3")]
    python: PathBuf,
    /// The directory of the Python server and plot script.
    #[arg(long, default_value = "benches/python")]
    python_dir: PathBuf,
    /// Concurrency levels (clients), comma-separated [default: 1,4,16,32,64; quick: 1,32].
    #[arg(long, value_delimiter = ',')]
    levels: Vec<usize>,
    /// Client kinds, comma-separated: rmcp (rmcp's client, one session each), keep-alive (one
    /// kept-alive HTTP connection and session each, responses read to their end), stateless
    /// (kept-alive connections, 2026-07-28 requests without a session; Rust server and ceiling
    /// only) [default: rmcp,keep-alive].
    #[arg(long, value_delimiter = ',')]
    modes: Vec<String>,
    /// Runs per server, mode and level [default: 3].
    #[arg(long)]
    runs: Option<usize>,
    /// Measured seconds per run [default: 10; quick: 2].
    #[arg(long)]
    duration: Option<f64>,
    /// Warm-up seconds per run, not counted [default: 3; quick: 1].
    #[arg(long)]
    warmup: Option<f64>,
    /// Quick mode: shorter defaults for trying it out (explicit options still win).
    #[arg(long)]
    quick: bool,
    /// The trace sampling ratio of both servers (parentbased_traceidratio).
    #[arg(long, default_value_t = 1.0)]
    sampling: f64,
    /// The operation mix (a preset of the load generator: reference, get, list, resource,
    /// tools-list, status).
    #[arg(long, default_value = "reference")]
    mix: String,
    /// Also measure a Rust server with tracing off, in the same rounds.
    #[arg(long)]
    untraced: bool,
    /// Idle sessions to open on each server (and a bare rmcp server) to measure the memory one
    /// costs; 0 to skip [default: 2000; quick: 0].
    #[arg(long)]
    idle_sessions: Option<usize>,
    /// Where to write results.json and results.csv.
    #[arg(long, default_value = "target/bench-compare")]
    out: PathBuf,
    /// Where to write the throughput plot (PNG); empty for none.
    #[arg(long, default_value = "target/bench-compare/throughput.png")]
    plot: PathBuf,
    /// Measure even if the parity check finds a difference.
    #[arg(long)]
    ignore_parity: bool,
}

/// A child server, killed when dropped (on every exit path, Ctrl-C included).
struct Server {
    name: &'static str,
    url: String,
    child: Child,
}

impl Server {
    async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }

    /// A line of /proc/PID/status (`VmHWM`, `VmRSS`) in MiB.
    fn status_mib(&self, key: &str) -> Option<f64> {
        let pid = self.child.id()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let line = status.lines().find(|l| l.starts_with(key))?;
        let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib / 1024.0)
    }

    /// Peak resident memory (VmHWM) in MiB.
    fn peak_rss_mib(&self) -> Option<f64> {
        self.status_mib("VmHWM:")
    }

    /// Whether the load generator's client kind `mode` runs against this server.
    fn speaks(&self, mode: ClientKind) -> bool {
        match (self.name, mode) {
            // The ceiling is plain HTTP: it has no rmcp-compatible session lifecycle. FastMCP
            // 4.2 speaks the revisions before 2026-07-28 only. The bare rmcp server is rmcp's
            // own ceiling under kept-alive clients; rmcp's client against it would mostly
            // measure the load generator.
            ("ceiling" | "rmcp-bare", ClientKind::Rmcp)
            | ("python", ClientKind::KeepAlive(RawMode::Stateless)) => false,
            _ => true,
        }
    }
}

fn free_port() -> Result<u16, String> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

/// Bytes and requests the OTLP sink received per server (`/rust/v1/traces`, ...).
#[derive(Default)]
struct Sink {
    rust: [AtomicU64; 2],
    python: [AtomicU64; 2],
}

async fn start_sink() -> Result<(String, Arc<Sink>), String> {
    let sink = Arc::new(Sink::default());
    let record = |pick: fn(&Sink) -> &[AtomicU64; 2]| {
        move |State(sink): State<Arc<Sink>>, body: Bytes| async move {
            let counters = pick(&sink);
            counters[0].fetch_add(1, Ordering::Relaxed);
            counters[1].fetch_add(body.len() as u64, Ordering::Relaxed);
            // An empty ExportTraceServiceResponse.
            (
                [("content-type", "application/x-protobuf")],
                Vec::<u8>::new(),
            )
        }
    };
    let app = Router::new()
        .route("/rust/v1/traces", post(record(|s| &s.rust)))
        .route("/python/v1/traces", post(record(|s| &s.python)))
        .with_state(sink.clone());
    let listener = tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .await
        .map_err(|e| format!("OTLP sink: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = axum::serve(listener.tap_io(nodelay), app).await;
    });
    Ok((format!("http://{addr}"), sink))
}

/// The OpenTelemetry settings both servers get (same sampler, exporter, batch processor).
fn otel_env(cmd: &mut Command, endpoint: &str, service: &str, sampling: f64) {
    cmd.env("MCP_OTEL_ENABLED", "true")
        .env("OTEL_SERVICE_NAME", service)
        .env("OTEL_TRACES_EXPORTER", "otlp")
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
        .env("OTEL_TRACES_SAMPLER", "parentbased_traceidratio")
        .env("OTEL_TRACES_SAMPLER_ARG", sampling.to_string())
        .env("OTEL_BSP_SCHEDULE_DELAY", "5000")
        .env("OTEL_BSP_MAX_QUEUE_SIZE", "2048")
        .env("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "512")
        .env("OTEL_METRICS_EXPORTER", "none")
        .env("OTEL_LOGS_EXPORTER", "none")
        .env("MCP_LOG_LEVEL", "warn")
        .env_remove("PHOENIX_COLLECTOR_ENDPOINT")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .kill_on_drop(true);
}

/// Waits until an MCP session can be opened at `url` with `token`.
async fn wait_ready(server: &mut Server, token: &str) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(Some(status)) = server.child.try_wait() {
            return Err(format!("{} server exited at start: {status}", server.name));
        }
        if let Ok(client) = load::connect(&server.url, Some(token)).await {
            let _ = client.cancel().await;
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("{} server not ready after 60 s", server.name));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

struct Shared {
    downstream: String,
    jwks: String,
    issuer: String,
    sink: String,
}

fn spawn_rust(
    args: &Args,
    shared: &Shared,
    name: &'static str,
    traced: bool,
) -> Result<Server, String> {
    let port = free_port()?;
    let mut cmd = Command::new(&args.rust_bin);
    cmd.args(["--port", &port.to_string()])
        .args(["--downstream-url", &shared.downstream])
        .args(["--jwks-url", &shared.jwks])
        .args(["--issuer", &shared.issuer])
        .args(["--audience", DEV_AUDIENCE])
        // The idle-session measurement opens thousands of sessions for one user.
        .args([
            "--max-sessions-per-user",
            "20000",
            "--max-sessions",
            "40000",
        ]);
    otel_env(
        &mut cmd,
        &format!("{}/rust", shared.sink),
        "mcp-patterns-example",
        args.sampling,
    );
    if traced {
        cmd.args(["--otel", "otlp"]);
    } else {
        cmd.args(["--otel", "off"]).env("MCP_OTEL_ENABLED", "false");
    }
    let child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", args.rust_bin.display()))?;
    Ok(Server {
        name,
        url: format!("http://127.0.0.1:{port}/mcp"),
        child,
    })
}

fn spawn_python(args: &Args, shared: &Shared) -> Result<Server, String> {
    let port = free_port()?;
    let mut cmd = Command::new(&args.python);
    cmd.arg(args.python_dir.join("firewall_server.py"))
        .args(["--port", &port.to_string()])
        .args(["--downstream-url", &shared.downstream])
        .args(["--jwks-url", &shared.jwks])
        .args(["--issuer", &shared.issuer])
        .args(["--audience", DEV_AUDIENCE]);
    otel_env(
        &mut cmd,
        &format!("{}/python", shared.sink),
        "mcp-patterns-fastmcp",
        args.sampling,
    );
    let child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", args.python.display()))?;
    Ok(Server {
        name: "python",
        url: format!("http://127.0.0.1:{port}/mcp"),
        child,
    })
}

/// Starts the `baseline` binary with `extra` arguments and waits for the URL it prints.
async fn spawn_baseline(args: &Args, name: &'static str, extra: &[&str]) -> Result<Server, String> {
    let mut child = Command::new(&args.baseline_bin)
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", args.baseline_bin.display()))?;
    let stdout = child.stdout.take().ok_or("no stdout of the baseline")?;
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .map_err(|_| format!("{name}: no address within 30 s"))?
        .map_err(|e| format!("{name}: {e}"))?
        .ok_or_else(|| format!("{name} exited at start"))?;
    let url = line
        .strip_prefix("listening on ")
        .ok_or_else(|| format!("{name}: unexpected first line {line:?}"))?
        .to_owned();
    Ok(Server { name, url, child })
}

/// Captures one `get_firewall_rule` answer of the Rust server over a kept-alive session, as the
/// ceiling's template (its id replaced by the placeholder). Returns the file and content type.
async fn capture_template(
    args: &Args,
    url: &str,
    token: &str,
) -> Result<(PathBuf, String), String> {
    let mut client = RawClient::connect(url, Some(token), RawMode::Session).await?;
    let (method, params) =
        Op::call_tool("get_firewall_rule", json!({ "app_name": "app-alpha" })).rpc();
    let request = RawRequest::new(method, &params, RawMode::Session);
    let (id, answer) = client.answer(&request).await?;
    answer.check(id)?;
    client.close().await;
    let body = String::from_utf8(answer.body.to_vec()).map_err(|e| e.to_string())?;
    let marker = format!("\"id\":{id}");
    if body.matches(&marker).count() != 1 {
        return Err(format!(
            "the captured answer does not hold {marker} once: {body}"
        ));
    }
    let template = body.replacen(&marker, "\"id\":\"{{ID}}\"", 1);
    std::fs::create_dir_all(&args.out).map_err(|e| format!("{}: {e}", args.out.display()))?;
    let path = args.out.join("ceiling-template.txt");
    std::fs::write(&path, template).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok((
        path,
        answer
            .content_type
            .unwrap_or_else(|| "text/event-stream".to_owned()),
    ))
}

/// One measured run.
struct Measured {
    server: &'static str,
    mode: ClientKind,
    clients: usize,
    index: usize,
    report: LoadReport,
}

async fn measure(
    args: &Args,
    servers: &[&Server],
    modes: &[ClientKind],
    tokens: &[String],
) -> Result<Vec<Measured>, String> {
    let seconds = |s: f64| Duration::try_from_secs_f64(s).map_err(|e| e.to_string());
    let mix = Op::preset(&args.mix, &["app-alpha".to_owned()])
        .ok_or_else(|| format!("unknown --mix {}", args.mix))?;
    let mut runs = Vec::new();
    let total = args.runs.unwrap_or(3);
    for run in 1..=total {
        for &clients in &args.levels {
            for &mode in modes {
                for server in servers.iter().filter(|s| s.speaks(mode)) {
                    let mut config = LoadConfig::new(server.url.clone());
                    config.client = mode;
                    config.bearers = tokens.to_vec();
                    config.clients = clients;
                    config.duration = seconds(args.duration.unwrap_or(10.0))?;
                    config.warmup = seconds(args.warmup.unwrap_or(3.0))?;
                    config.mix.clone_from(&mix);
                    config.progress = true;
                    eprintln!(
                        "run {run}/{total}: {} server, {clients} {} clients (load average {})",
                        server.name,
                        mode.name(),
                        load_average().unwrap_or_default()
                    );
                    let report = load::run(&config).await.map_err(|e| {
                        format!(
                            "{} server, {clients} {} clients: {e}",
                            server.name,
                            mode.name()
                        )
                    })?;
                    eprint!("  {}", report.summary().lines().next().unwrap_or_default());
                    eprintln!();
                    runs.push(Measured {
                        server: server.name,
                        mode,
                        clients,
                        index: run,
                        report,
                    });
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
            }
        }
    }
    Ok(runs)
}

/// The 1-minute load average, from /proc/loadavg.
fn load_average() -> Option<String> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    text.split_whitespace().next().map(str::to_owned)
}

/// Aggregated figures of one server with one client kind at one level.
fn aggregate(runs: &[Measured], server: &str, mode: ClientKind, clients: usize) -> Option<Value> {
    let of = |f: fn(&LoadReport) -> f64| -> Vec<f64> {
        runs.iter()
            .filter(|r| r.server == server && r.mode == mode && r.clients == clients)
            .map(|r| f(&r.report))
            .collect()
    };
    let throughput = Spread::of(&of(|r| r.throughput_per_s))?;
    let p50 = Spread::of(&of(|r| r.p50.as_secs_f64() * 1000.0))?;
    let p99 = Spread::of(&of(|r| r.p99.as_secs_f64() * 1000.0))?;
    let mean = Spread::of(&of(|r| r.mean.as_secs_f64() * 1000.0))?;
    #[allow(clippy::cast_precision_loss)]
    let errors: f64 = of(|r| r.errors as f64).iter().sum();
    Some(json!({
        "server": server, "mode": mode.name(), "clients": clients, "throughput": throughput,
        "p50_ms": p50, "p99_ms": p99, "mean_ms": mean, "errors": errors,
    }))
}

/// The only mix the bare rmcp server answers (its one tool, `get_firewall_rule`).
const BARE_MIX: &str = "get";

/// Every measured server, in the order of the tables.
const SERVERS: [&str; 5] = ["rust", "rust-untraced", "python", "ceiling", "rmcp-bare"];

fn table(summary: &[Value], levels: &[usize], modes: &[ClientKind]) -> String {
    let get = |server: &str, mode: &str, clients: usize| {
        summary
            .iter()
            .find(|s| s["server"] == server && s["mode"] == mode && s["clients"] == clients)
    };
    let f = |v: &Value, key: &str, part: &str| v[key][part].as_f64().unwrap_or(f64::NAN);
    let mut out = String::from(
        "clients | client | server | req/s min | median | max | x ceiling | p50 ms | p99 ms | errors\n\
         ---:|---|---|---:|---:|---:|---:|---:|---:|---:\n",
    );
    let mut ratios = String::from(
        "\nclients | client | Rust/Python throughput | Python/Rust p50 | Rust x ceiling | Python x ceiling | traced/untraced mean latency | untraced/traced throughput | untraced x bare rmcp | bare rmcp x ceiling\n\
         ---:|---|---:|---:|---:|---:|---:|---:|---:|---:\n",
    );
    for &clients in levels {
        // The ceiling of a level: its keep-alive session figure (its stateless one is alike).
        let ceiling = get("ceiling", "keep-alive", clients)
            .or_else(|| get("ceiling", "stateless", clients))
            .map(|c| f(c, "throughput", "median"));
        for mode in modes.iter().map(|m| m.name()) {
            for server in SERVERS {
                if let Some(s) = get(server, mode, clients) {
                    let fraction = ceiling.map_or_else(
                        || "-".to_owned(),
                        |c| format!("{:.3}", f(s, "throughput", "median") / c),
                    );
                    let _ = writeln!(
                        out,
                        "{clients} | {mode} | {server} | {:.0} | {:.0} | {:.0} | {fraction} | {:.3} | {:.3} | {}",
                        f(s, "throughput", "min"),
                        f(s, "throughput", "median"),
                        f(s, "throughput", "max"),
                        f(s, "p50_ms", "median"),
                        f(s, "p99_ms", "median"),
                        s["errors"],
                    );
                }
            }
            let rust = get("rust", mode, clients);
            let cell = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.2}x"));
            let python = get("python", mode, clients);
            let untraced = get("rust-untraced", mode, clients);
            let bare = get("rmcp-bare", mode, clients);
            let Some(r) = rust else { continue };
            let median = |v: &Value| f(v, "throughput", "median");
            let fraction = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.3}"));
            let _ = writeln!(
                ratios,
                "{clients} | {mode} | {} | {} | {} | {} | {} | {} | {} | {}",
                cell(python.map(|p| median(r) / median(p))),
                cell(python.map(|p| f(p, "p50_ms", "median") / f(r, "p50_ms", "median"))),
                fraction(ceiling.map(|c| median(r) / c)),
                python.and(ceiling).map_or_else(
                    || "-".to_owned(),
                    |c| format!("{:.4}", python.map_or(f64::NAN, median) / c)
                ),
                cell(untraced.map(|u| f(r, "mean_ms", "median") / f(u, "mean_ms", "median"))),
                cell(untraced.map(|u| median(u) / median(r))),
                fraction(untraced.zip(bare).map(|(u, b)| median(u) / median(b))),
                fraction(bare.zip(ceiling).map(|(b, c)| median(b) / c)),
            );
        }
    }
    out + &ratios
}

fn write_results(args: &Args, runs: &[Measured], result: &Value) -> Result<(), String> {
    std::fs::create_dir_all(&args.out).map_err(|e| format!("{}: {e}", args.out.display()))?;
    let json_path = args.out.join("results.json");
    let text = serde_json::to_string_pretty(result).map_err(|e| e.to_string())?;
    std::fs::write(&json_path, text).map_err(|e| format!("{}: {e}", json_path.display()))?;
    let mut csv = String::from(
        "server,client,clients,run,requests,errors,throughput_per_s,p50_ms,p90_ms,p99_ms,max_ms,mean_ms,elapsed_s\n",
    );
    for r in runs {
        let j = r.report.to_json();
        let _ = writeln!(
            csv,
            "{},{},{},{},{},{},{:.1},{:.3},{:.3},{:.3},{:.3},{:.3},{:.3}",
            r.server,
            r.mode.name(),
            r.clients,
            r.index,
            j["requests"],
            j["errors"],
            r.report.throughput_per_s,
            j["p50_ms"].as_f64().unwrap_or_default(),
            j["p90_ms"].as_f64().unwrap_or_default(),
            j["p99_ms"].as_f64().unwrap_or_default(),
            j["max_ms"].as_f64().unwrap_or_default(),
            j["mean_ms"].as_f64().unwrap_or_default(),
            j["elapsed_s"].as_f64().unwrap_or_default(),
        );
    }
    let csv_path = args.out.join("results.csv");
    std::fs::write(&csv_path, csv).map_err(|e| format!("{}: {e}", csv_path.display()))?;
    eprintln!(
        "raw results: {} and {}",
        json_path.display(),
        csv_path.display()
    );
    Ok(())
}

async fn plot(args: &Args) -> Result<(), String> {
    if args.plot.as_os_str().is_empty() {
        return Ok(());
    }
    let status = Command::new(&args.python)
        .arg(args.python_dir.join("plot.py"))
        .arg(args.out.join("results.json"))
        .arg(&args.plot)
        .status()
        .await
        .map_err(|e| format!("plot: {e}"))?;
    if status.success() {
        eprintln!("plot: {}", args.plot.display());
        Ok(())
    } else {
        Err(format!("plot.py failed: {status}"))
    }
}

/// Opens `count` sessions on `server` (32 at a time, each `initialize` +
/// `notifications/initialized` on its own connection, then the connection is closed and the
/// session left idle) and returns the growth of the server's resident memory per session in
/// KiB, with the before and after figures in MiB.
async fn idle_session_memory(server: &Server, token: &str, count: usize) -> Result<Value, String> {
    // Let the allocator settle after the load phase.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = server.status_mib("VmRSS:").ok_or("no VmRSS")?;
    let mut opened = 0;
    while opened < count {
        let batch = (count - opened).min(32);
        let clients = futures::future::join_all(
            (0..batch).map(|_| RawClient::connect(&server.url, Some(token), RawMode::Session)),
        )
        .await;
        for client in clients {
            // Dropped without DELETE: the session stays open, idle.
            client.map_err(|e| format!("{}: session {opened}: {e}", server.name))?;
            opened += 1;
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = server.status_mib("VmRSS:").ok_or("no VmRSS")?;
    #[allow(clippy::cast_precision_loss)]
    let per_session_kib = (after - before) * 1024.0 / count as f64;
    eprintln!(
        "idle sessions: {} {count} sessions, RSS {before:.1} -> {after:.1} MiB, {per_session_kib:.1} KiB each",
        server.name
    );
    Ok(json!({
        "server": server.name, "sessions": count, "rss_before_mib": before,
        "rss_after_mib": after, "per_session_kib": per_session_kib,
    }))
}

/// Everything between starting the shared services and writing the results.
#[allow(clippy::too_many_lines)] // the whole run in order: start, check, measure, stop
async fn compare(args: &Args, modes: &[ClientKind]) -> Result<(), String> {
    let store = FirewallStore::seeded();
    let downstream = downstream::serve(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), store.clone())
        .await
        .map_err(|e| e.to_string())?;
    let issuer = start_dev_issuer(Ipv4Addr::LOCALHOST.into(), 0)
        .await
        .map_err(|e| e.to_string())?;
    let (sink_url, sink) = start_sink().await?;
    let users = demo_users();
    let token = |name: &str| -> Option<String> {
        let user = users.iter().find(|u| u.subject == name)?;
        issuer.issuer.mint(user, DEV_AUDIENCE, DEV_TOKEN_TTL).ok()
    };
    let tokens: Vec<String> = ["alice", "ada"].iter().filter_map(|u| token(u)).collect();
    let shared = Shared {
        downstream: downstream.url.clone(),
        jwks: issuer.jwks_url.clone(),
        issuer: issuer.issuer_url.clone(),
        sink: sink_url,
    };
    eprintln!(
        "shared: downstream {}, issuer {}, OTLP sink {}",
        shared.downstream, shared.issuer, shared.sink
    );
    let mut rust = spawn_rust(args, &shared, "rust", true)?;
    let mut python = spawn_python(args, &shared)?;
    let mut untraced = if args.untraced {
        Some(spawn_rust(args, &shared, "rust-untraced", false)?)
    } else {
        None
    };
    let mut ceiling = None;
    let mut bare = None;
    let result = async {
        wait_ready(&mut rust, &tokens[0]).await?;
        wait_ready(&mut python, &tokens[0]).await?;
        if let Some(untraced) = &mut untraced {
            wait_ready(untraced, &tokens[0]).await?;
        }
        let checks = check_parity(&rust.url, &python.url, |u| token(u)).await;
        eprintln!("parity check:\n{}", parity_table(&checks));
        let differ = checks.iter().filter(|c| !c.same).count();
        if differ > 0 && !args.ignore_parity {
            return Err(format!("{differ} parity check(s) differ; not measuring"));
        }
        let (template, content_type) = capture_template(args, &rust.url, &tokens[0]).await?;
        let template = template.to_string_lossy().into_owned();
        ceiling = Some(
            spawn_baseline(
                args,
                "ceiling",
                &[
                    "--kind",
                    "ceiling",
                    "--template",
                    &template,
                    "--content-type",
                    &content_type,
                ],
            )
            .await?,
        );
        let sessions = args.idle_sessions.unwrap_or(0);
        if args.mix == BARE_MIX || sessions > 0 {
            bare = Some(spawn_baseline(args, "rmcp-bare", &["--kind", "rmcp"]).await?);
        }
        let downstream_before = store.requests();
        let mut servers: Vec<&Server> = vec![&rust];
        servers.extend(untraced.as_ref());
        servers.push(&python);
        servers.extend(ceiling.as_ref());
        // The bare rmcp server has the one tool of the `get` mix (no list tool, no resources),
        // so it is loaded only with that mix; with the others it serves the memory figures.
        if args.mix == BARE_MIX {
            servers.extend(bare.as_ref());
        }
        let runs = measure(args, &servers, modes, &tokens).await?;
        let downstream_requests = store.requests() - downstream_before;
        let mut memory = Vec::new();
        if sessions > 0 {
            let mut targets: Vec<&Server> = vec![&rust, &python];
            targets.extend(bare.as_ref());
            for server in targets {
                memory.push(idle_session_memory(server, &tokens[0], sessions).await?);
            }
        }
        let mut all: Vec<&Server> = servers.clone();
        if args.mix != BARE_MIX {
            all.extend(bare.as_ref());
        }
        report(
            args,
            modes,
            &runs,
            &checks,
            &all,
            &memory,
            &sink,
            downstream_requests,
        )
        .await
    }
    .await;
    rust.stop().await;
    python.stop().await;
    for server in [untraced, ceiling, bare].into_iter().flatten() {
        server.stop().await;
    }
    downstream.shutdown().await;
    issuer.shutdown().await;
    result
}

#[allow(clippy::too_many_arguments)] // one call site, every part of the report
async fn report(
    args: &Args,
    modes: &[ClientKind],
    runs: &[Measured],
    checks: &[mcp_patterns_benches::compare::ParityCheck],
    servers: &[&Server],
    idle: &[Value],
    sink: &Sink,
    downstream_requests: u64,
) -> Result<(), String> {
    let mut summary = Vec::new();
    for &clients in &args.levels {
        for &mode in modes {
            for server in SERVERS {
                summary.extend(aggregate(runs, server, mode, clients));
            }
        }
    }
    let table = table(&summary, &args.levels, modes);
    println!("{table}");
    let memory: Vec<Value> = servers
        .iter()
        .map(|s| json!({ "server": s.name, "peak_rss_mib": s.peak_rss_mib() }))
        .collect();
    let otlp = json!({
        "rust": { "exports": sink.rust[0].load(Ordering::Relaxed), "bytes": sink.rust[1].load(Ordering::Relaxed) },
        "python": { "exports": sink.python[0].load(Ordering::Relaxed), "bytes": sink.python[1].load(Ordering::Relaxed) },
    });
    for m in &memory {
        println!(
            "peak RSS {}: {:.1} MiB",
            m["server"].as_str().unwrap_or_default(),
            m["peak_rss_mib"].as_f64().unwrap_or(f64::NAN)
        );
    }
    for m in idle {
        println!(
            "idle sessions {}: {} sessions, {:.1} KiB each ({:.1} -> {:.1} MiB)",
            m["server"].as_str().unwrap_or_default(),
            m["sessions"],
            m["per_session_kib"].as_f64().unwrap_or(f64::NAN),
            m["rss_before_mib"].as_f64().unwrap_or(f64::NAN),
            m["rss_after_mib"].as_f64().unwrap_or(f64::NAN),
        );
    }
    println!(
        "OTLP export requests received (bytes): rust {} ({}), python {} ({})",
        otlp["rust"]["exports"],
        otlp["rust"]["bytes"],
        otlp["python"]["exports"],
        otlp["python"]["bytes"]
    );
    println!("downstream requests while measuring: {downstream_requests}");
    let result = json!({
        "config": {
            "levels": args.levels, "runs": args.runs, "duration_s": args.duration,
            "warmup_s": args.warmup, "sampling": args.sampling,
            "modes": modes.iter().map(|m| m.name()).collect::<Vec<_>>(),
            "mix": args.mix, "app": "app-alpha",
            "tokens": ["alice", "ada"],
        },
        "parity": checks,
        "summary": summary,
        "table": table,
        "memory": memory,
        "idle_sessions": idle,
        "otlp": otlp,
        "downstream_requests_while_measuring": downstream_requests,
        "runs": runs.iter().map(|r| json!({
            "server": r.server, "mode": r.mode.name(), "clients": r.clients, "run": r.index,
            "report": r.report.to_json(),
        })).collect::<Vec<_>>(),
    });
    write_results(args, runs, &result)?;
    plot(args).await
}

fn check_inputs(args: &Args) -> Result<(), String> {
    let need = |path: &Path, what: &str| {
        if path.exists() {
            Ok(())
        } else {
            Err(format!(
                "{what} not found at {} (run scripts/bench-compare)",
                path.display()
            ))
        }
    };
    need(&args.rust_bin, "the reference server's release binary")?;
    need(&args.baseline_bin, "the baseline binary")?;
    need(
        &args.python_dir.join("firewall_server.py"),
        "the Python server",
    )
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let args = Args {
        levels: match (args.levels.is_empty(), args.quick) {
            (false, _) => args.levels,
            (true, true) => vec![1, 32],
            (true, false) => vec![1, 4, 16, 32, 64],
        },
        runs: Some(args.runs.unwrap_or(3).max(1)),
        duration: Some(args.duration.unwrap_or(if args.quick { 2.0 } else { 10.0 })),
        warmup: Some(args.warmup.unwrap_or(if args.quick { 1.0 } else { 3.0 })),
        idle_sessions: Some(
            args.idle_sessions
                .unwrap_or(if args.quick { 0 } else { 2000 }),
        ),
        ..args
    };
    let names = if args.modes.is_empty() {
        vec!["rmcp".to_owned(), "keep-alive".to_owned()]
    } else {
        args.modes.clone()
    };
    let mut modes = Vec::new();
    for name in &names {
        match ClientKind::from_name(name) {
            Some(mode) => modes.push(mode),
            None => {
                eprintln!("compare: unknown --modes entry {name:?} (rmcp, keep-alive, stateless)");
                return ExitCode::from(2);
            }
        }
    }
    if let Err(message) = check_inputs(&args) {
        eprintln!("compare: {message}");
        return ExitCode::FAILURE;
    }
    let outcome = tokio::select! {
        outcome = compare(&args, &modes) => outcome,
        _ = tokio::signal::ctrl_c() => Err("interrupted".to_owned()),
    };
    // On Ctrl-C the `compare` future is dropped: the children are killed (kill_on_drop).
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("compare: {message}");
            ExitCode::FAILURE
        }
    }
}
