//! `loadgen`: drives N concurrent MCP clients over Streamable HTTP against one endpoint and
//! reports throughput and latency percentiles (see `mcp_patterns_benches::load`).
//!
//! ```text
//! loadgen --url http://127.0.0.1:8080/mcp --token "$ALICE" --clients 16 --duration 10 --mix reference
//! loadgen --client keep-alive --clients 32 ...   # kept-alive raw HTTP, responses read to their end
//! ```

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use mcp_patterns_benches::load::{self, ClientKind, LoadConfig, Op};

/// Drive N concurrent MCP clients (one Streamable HTTP session each) against an MCP endpoint;
/// report throughput and p50/p90/p99 latency of the measured period (warm-up excluded).
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// The MCP endpoint.
    #[arg(long, default_value = "http://127.0.0.1:8080/mcp")]
    url: String,
    /// A bearer token (without `Bearer `); repeat for several, client i uses token i % n.
    #[arg(long = "token", env = "LOADGEN_TOKEN")]
    tokens: Vec<String>,
    /// A file with one bearer token per line (added to --token).
    #[arg(long)]
    token_file: Option<PathBuf>,
    /// What each client is: rmcp (rmcp's client, one MCP session), keep-alive (one kept-alive
    /// HTTP/1.1 connection and MCP session, every response read to its end) or stateless
    /// (kept-alive connection, 2026-07-28 requests without a session).
    #[arg(long, default_value = "rmcp")]
    client: String,
    /// Concurrent clients, each issuing one request at a time.
    #[arg(long, default_value_t = 4)]
    clients: usize,
    /// Measured seconds (fractions allowed).
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Warm-up seconds before the measured period, not counted.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Stop once this many measured requests have completed.
    #[arg(long)]
    max_requests: Option<u64>,
    /// The operation mix: reference (80 % get_firewall_rule, 10 % list_firewall_rules, 10 %
    /// resources/read cache://firewalls/{app}), get, list, resource, tools-list, status.
    #[arg(long, default_value = "reference")]
    mix: String,
    /// An application the mix uses (the callers must be entitled to it); repeat for several.
    #[arg(long = "app", default_value = "app-alpha")]
    apps: Vec<String>,
    /// Seconds after which one request counts as an error.
    #[arg(long, default_value_t = 30.0)]
    request_timeout: f64,
    /// Print the report as JSON on stdout instead of the human summary.
    #[arg(long)]
    json: bool,
    /// No progress line on stderr.
    #[arg(long)]
    quiet: bool,
}

fn seconds(name: &str, value: f64) -> Result<Duration, String> {
    Duration::try_from_secs_f64(value).map_err(|e| format!("--{name} {value}: {e}"))
}

fn config(args: Args) -> Result<LoadConfig, String> {
    let mut bearers = args.tokens;
    if let Some(path) = &args.token_file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        bearers.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned),
        );
    }
    let mix = Op::preset(&args.mix, &args.apps).ok_or_else(|| {
        format!(
            "unknown --mix {:?}; one of {}",
            args.mix,
            Op::PRESETS.join(", ")
        )
    })?;
    let client = ClientKind::from_name(&args.client).ok_or_else(|| {
        format!(
            "unknown --client {:?}; one of rmcp, keep-alive, stateless",
            args.client
        )
    })?;
    Ok(LoadConfig {
        client,
        url: args.url,
        bearers,
        clients: args.clients,
        duration: seconds("duration", args.duration)?,
        warmup: seconds("warmup", args.warmup)?,
        max_requests: args.max_requests,
        mix,
        progress: !args.quiet,
        request_timeout: seconds("request-timeout", args.request_timeout)?,
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let json = args.json;
    let config = match config(args) {
        Ok(config) => config,
        Err(message) => {
            eprintln!("loadgen: {message}");
            return ExitCode::from(2);
        }
    };
    match load::run(&config).await {
        Ok(report) => {
            if json {
                println!("{}", report.to_json());
            } else {
                print!("{}", report.summary());
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("loadgen: {error}");
            ExitCode::FAILURE
        }
    }
}
