//! `compare`: the side-by-side comparison of the Rust reference server and its Python FastMCP
//! peer (`benches/python/firewall_server.py`). Run it through `scripts/bench-compare`, which
//! builds the release binaries and the Python venv first.
//!
//! It starts ONE demo downstream API, ONE development token issuer and ONE OTLP sink in this
//! process, shared by both servers; starts the Rust server (release binary) and the Python
//! server as child processes pointing at them; checks that both answer the same calls the same
//! way; then runs the load generator against each at several concurrency levels, several runs
//! each (interleaved), and prints the ratio table. Raw results go to `--out` (JSON and CSV), the
//! plot to `--plot`. Both servers are stopped at the end, on failure and on Ctrl-C.

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
use clap::Parser;
use mcp_patterns_benches::compare::{Spread, check_parity, parity_table};
use mcp_patterns_benches::load::{self, LoadConfig, LoadReport, Op};
use mcp_patterns_example::devidp::{DEV_AUDIENCE, DEV_TOKEN_TTL, demo_users, start_dev_issuer};
use mcp_patterns_example::downstream::{self, FirewallStore};
use serde_json::{Value, json};
use tokio::process::{Child, Command};

/// Compare the Rust reference server with the Python FastMCP peer under the same load.
#[derive(Debug, Parser)]
#[command(about)]
struct Args {
    /// The release binary of the reference server.
    #[arg(long, default_value = "target/release/mcp-patterns-example")]
    rust_bin: PathBuf,
    /// The Python interpreter of the venv made by benches/python/setup.sh.
    #[arg(long, default_value = "python3")]
    python: PathBuf,
    /// The directory of the Python server and plot script.
    #[arg(long, default_value = "benches/python")]
    python_dir: PathBuf,
    /// Concurrency levels (clients), comma-separated [default: 1,4,16,64; quick: 1,4,16].
    #[arg(long, value_delimiter = ',')]
    levels: Vec<usize>,
    /// Runs per server and level [default: 3].
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

    /// Peak resident memory (VmHWM) in MiB, from /proc.
    fn peak_rss_mib(&self) -> Option<f64> {
        let pid = self.child.id()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib / 1024.0)
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
        let _ = axum::serve(listener, app).await;
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

fn spawn_rust(args: &Args, shared: &Shared) -> Result<Server, String> {
    let port = free_port()?;
    let mut cmd = Command::new(&args.rust_bin);
    cmd.args(["--port", &port.to_string()])
        .args(["--downstream-url", &shared.downstream])
        .args(["--jwks-url", &shared.jwks])
        .args(["--issuer", &shared.issuer])
        .args(["--audience", DEV_AUDIENCE])
        .args(["--otel", "otlp"]);
    otel_env(
        &mut cmd,
        &format!("{}/rust", shared.sink),
        "mcp-patterns-example",
        args.sampling,
    );
    let child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", args.rust_bin.display()))?;
    Ok(Server {
        name: "rust",
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

/// One measured run.
struct Measured {
    server: &'static str,
    clients: usize,
    index: usize,
    report: LoadReport,
}

async fn measure(
    args: &Args,
    servers: &[&Server],
    tokens: &[String],
) -> Result<Vec<Measured>, String> {
    let seconds = |s: f64| Duration::try_from_secs_f64(s).map_err(|e| e.to_string());
    let mut runs = Vec::new();
    let total = args.runs.unwrap_or(3);
    for run in 1..=total {
        for &clients in &args.levels {
            for server in servers {
                let mut config = LoadConfig::new(server.url.clone());
                config.bearers = tokens.to_vec();
                config.clients = clients;
                config.duration = seconds(args.duration.unwrap_or(10.0))?;
                config.warmup = seconds(args.warmup.unwrap_or(3.0))?;
                config.mix = Op::reference_mix(&["app-alpha".to_owned()]);
                config.progress = true;
                eprintln!(
                    "run {run}/{total}: {} server, {clients} clients",
                    server.name
                );
                let report = load::run(&config)
                    .await
                    .map_err(|e| format!("{} server, {clients} clients: {e}", server.name))?;
                eprint!("  {}", report.summary().lines().next().unwrap_or_default());
                eprintln!();
                runs.push(Measured {
                    server: server.name,
                    clients,
                    index: run,
                    report,
                });
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
    Ok(runs)
}

/// Aggregated figures of one server at one level.
fn aggregate(runs: &[Measured], server: &str, clients: usize) -> Option<Value> {
    let of = |f: fn(&LoadReport) -> f64| -> Vec<f64> {
        runs.iter()
            .filter(|r| r.server == server && r.clients == clients)
            .map(|r| f(&r.report))
            .collect()
    };
    let throughput = Spread::of(&of(|r| r.throughput_per_s))?;
    let p50 = Spread::of(&of(|r| r.p50.as_secs_f64() * 1000.0))?;
    let p99 = Spread::of(&of(|r| r.p99.as_secs_f64() * 1000.0))?;
    #[allow(clippy::cast_precision_loss)]
    let errors: f64 = of(|r| r.errors as f64).iter().sum();
    Some(json!({
        "server": server, "clients": clients, "throughput": throughput,
        "p50_ms": p50, "p99_ms": p99, "errors": errors,
    }))
}

fn table(summary: &[Value], levels: &[usize]) -> String {
    let get = |server: &str, clients: usize| {
        summary
            .iter()
            .find(|s| s["server"] == server && s["clients"] == clients)
    };
    let f = |v: &Value, key: &str, part: &str| v[key][part].as_f64().unwrap_or(f64::NAN);
    let mut out = String::from(
        "clients | server | req/s min | median | max | p50 ms | p99 ms | errors\n\
         ---:|---|---:|---:|---:|---:|---:|---:\n",
    );
    let mut ratios = String::from(
        "\nclients | Rust/Python throughput (medians) | Python/Rust p50 | Python/Rust p99\n\
         ---:|---:|---:|---:\n",
    );
    for &clients in levels {
        for server in ["rust", "python"] {
            if let Some(s) = get(server, clients) {
                let _ = writeln!(
                    out,
                    "{clients} | {server} | {:.0} | {:.0} | {:.0} | {:.2} | {:.2} | {}",
                    f(s, "throughput", "min"),
                    f(s, "throughput", "median"),
                    f(s, "throughput", "max"),
                    f(s, "p50_ms", "median"),
                    f(s, "p99_ms", "median"),
                    s["errors"],
                );
            }
        }
        if let (Some(r), Some(p)) = (get("rust", clients), get("python", clients)) {
            let _ = writeln!(
                ratios,
                "{clients} | {:.2}x | {:.2}x | {:.2}x",
                f(r, "throughput", "median") / f(p, "throughput", "median"),
                f(p, "p50_ms", "median") / f(r, "p50_ms", "median"),
                f(p, "p99_ms", "median") / f(r, "p99_ms", "median"),
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
        "server,clients,run,requests,errors,throughput_per_s,p50_ms,p90_ms,p99_ms,max_ms,elapsed_s\n",
    );
    for r in runs {
        let j = r.report.to_json();
        let _ = writeln!(
            csv,
            "{},{},{},{},{},{:.1},{:.3},{:.3},{:.3},{:.3},{:.3}",
            r.server,
            r.clients,
            r.index,
            j["requests"],
            j["errors"],
            r.report.throughput_per_s,
            j["p50_ms"].as_f64().unwrap_or_default(),
            j["p90_ms"].as_f64().unwrap_or_default(),
            j["p99_ms"].as_f64().unwrap_or_default(),
            j["max_ms"].as_f64().unwrap_or_default(),
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

/// Everything between starting the shared services and writing the results.
async fn compare(args: &Args) -> Result<(), String> {
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
    let mut rust = spawn_rust(args, &shared)?;
    let mut python = spawn_python(args, &shared)?;
    let result = async {
        wait_ready(&mut rust, &tokens[0]).await?;
        wait_ready(&mut python, &tokens[0]).await?;
        let checks = check_parity(&rust.url, &python.url, |u| token(u)).await;
        eprintln!("parity check:\n{}", parity_table(&checks));
        let differ = checks.iter().filter(|c| !c.same).count();
        if differ > 0 && !args.ignore_parity {
            return Err(format!("{differ} parity check(s) differ; not measuring"));
        }
        let downstream_before = store.requests();
        let runs = measure(args, &[&rust, &python], &tokens).await?;
        report(
            args,
            &runs,
            &checks,
            &[&rust, &python],
            &sink,
            store.requests() - downstream_before,
        )
        .await
    }
    .await;
    rust.stop().await;
    python.stop().await;
    downstream.shutdown().await;
    issuer.shutdown().await;
    result
}

async fn report(
    args: &Args,
    runs: &[Measured],
    checks: &[mcp_patterns_benches::compare::ParityCheck],
    servers: &[&Server],
    sink: &Sink,
    downstream_requests: u64,
) -> Result<(), String> {
    let mut summary = Vec::new();
    for &clients in &args.levels {
        for server in ["rust", "python"] {
            summary.extend(aggregate(runs, server, clients));
        }
    }
    let table = table(&summary, &args.levels);
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
            "mix": "reference (app-alpha): 80% get_firewall_rule, 10% list_firewall_rules, 10% resources/read",
            "tokens": ["alice", "ada"],
        },
        "parity": checks,
        "summary": summary,
        "table": table,
        "memory": memory,
        "otlp": otlp,
        "downstream_requests_while_measuring": downstream_requests,
        "runs": runs.iter().map(|r| json!({
            "server": r.server, "clients": r.clients, "run": r.index, "report": r.report.to_json(),
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
            (true, true) => vec![1, 4, 16],
            (true, false) => vec![1, 4, 16, 64],
        },
        runs: Some(args.runs.unwrap_or(3).max(1)),
        duration: Some(args.duration.unwrap_or(if args.quick { 2.0 } else { 10.0 })),
        warmup: Some(args.warmup.unwrap_or(if args.quick { 1.0 } else { 3.0 })),
        ..args
    };
    if let Err(message) = check_inputs(&args) {
        eprintln!("compare: {message}");
        return ExitCode::FAILURE;
    }
    let outcome = tokio::select! {
        outcome = compare(&args) => outcome,
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
