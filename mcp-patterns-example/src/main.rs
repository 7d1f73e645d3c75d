//! `mcp-patterns-example`: the reference firewall-rules MCP server.

use std::net::IpAddr;
use std::process::ExitCode;

use clap::Parser;
use mcp_cache::InitialFetch;
use mcp_patterns_example::data::{CacheScope, CacheSettings, default_initial_fetch};
use mcp_patterns_example::server::{TOOL_NAMES, describe_scope};
use mcp_patterns_example::{HttpOptions, conformance, serve_stdio, start_http};
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

/// The reference MCP server of mcp-patterns: firewall rules per application, from a downstream
/// HTTP API (a built-in demo one by default).
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Address to bind the Streamable HTTP endpoint to.
    #[arg(long, env = "MCP_BIND", default_value = "127.0.0.1")]
    bind: IpAddr,
    /// Port of the Streamable HTTP endpoint (0 picks a free port).
    #[arg(long, env = "MCP_PORT", default_value_t = 8080)]
    port: u16,
    /// Serve one session on stdin/stdout instead of HTTP.
    #[arg(long)]
    stdio: bool,
    /// Base URL of an external firewall API; without it the built-in demo API is started on a
    /// free loopback port.
    #[arg(long, env = "DOWNSTREAM_URL")]
    downstream_url: Option<String>,
    /// Serve the MCP conformance-suite fixture (the test tools, resources and prompts that the
    /// suite's server scenarios call) instead of the firewall tools; for testing only, see
    /// docs/conformance.md.
    #[arg(long)]
    conformance: bool,
    /// Where the firewall-rule cache lives: `server` (one shared cache, filtered per caller),
    /// `session` (one cache per user with only their applications) or `hybrid` (shared data,
    /// per-user application index). See docs/cache-scopes.md.
    #[arg(long, env = "MCP_CACHE_SCOPE", value_enum, default_value = "server")]
    cache_scope: CacheScope,
    /// Seconds between background refreshes of the cache.
    #[arg(long, env = "MCP_CACHE_TTL", default_value_t = 60)]
    cache_ttl: u64,
    /// What start-up does when the downstream does not answer: `retry` (with backoff for up to
    /// 20 s, then fail), `fail-fast` (fail at once) or `degrade` (start anyway; tools answer
    /// "data not available yet" until a refresh succeeds).
    #[arg(long, env = "MCP_INITIAL_FETCH", value_enum, default_value = "retry")]
    initial_fetch: InitialFetchArg,
}

/// `--initial-fetch`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum InitialFetchArg {
    Retry,
    FailFast,
    Degrade,
}

impl Args {
    fn cache(&self) -> CacheSettings {
        let mut settings = CacheSettings {
            scope: self.cache_scope,
            ..CacheSettings::default()
        };
        let initial = match self.initial_fetch {
            InitialFetchArg::Retry => default_initial_fetch(),
            InitialFetchArg::FailFast => InitialFetch::FailFast,
            InitialFetchArg::Degrade => InitialFetch::Degrade,
        };
        settings.cache = settings
            .cache
            .ttl(std::time::Duration::from_secs(self.cache_ttl.max(1)))
            .initial_fetch(initial);
        settings
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    // Logs go to stderr: on stdio, stdout carries the protocol.
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("MCP_LOG_LEVEL").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();

    let shutdown = CancellationToken::new();
    tokio::spawn(signal_shutdown(shutdown.clone()));

    let result = if args.conformance {
        run_conformance(args, shutdown).await
    } else if args.stdio {
        serve_stdio(args.downstream_url.as_deref(), &args.cache(), shutdown).await
    } else {
        run_http(args, shutdown).await
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("mcp-patterns-example: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run_http(
    args: Args,
    shutdown: CancellationToken,
) -> Result<(), mcp_patterns_example::ExampleError> {
    let cache = args.cache();
    let scope = cache.scope;
    let running = start_http(HttpOptions {
        bind: args.bind,
        port: args.port,
        downstream_url: args.downstream_url,
        cache,
    })
    .await?;
    eprintln!(
        "mcp-patterns-example serving MCP (Streamable HTTP) at {}",
        running.mcp_url
    );
    eprintln!(
        "  tools: {}; {}",
        TOOL_NAMES.join(", "),
        describe_scope(scope)
    );
    eprintln!(
        "  downstream: {}{}",
        running.downstream_url,
        if running.downstream.is_some() {
            " (built-in demo API)"
        } else {
            ""
        }
    );
    shutdown.cancelled().await;
    eprintln!("mcp-patterns-example shutting down");
    running.shutdown().await;
    Ok(())
}

/// Serves the conformance fixture on stdio or HTTP until `shutdown`.
async fn run_conformance(
    args: Args,
    shutdown: CancellationToken,
) -> Result<(), mcp_patterns_example::ExampleError> {
    if args.stdio {
        return conformance::serve_conformance_stdio(shutdown).await;
    }
    let running = conformance::start_conformance_http(HttpOptions {
        bind: args.bind,
        port: args.port,
        downstream_url: None,
        cache: CacheSettings::default(),
    })
    .await?;
    eprintln!(
        "mcp-patterns-example serving the MCP conformance fixture (Streamable HTTP) at {}",
        running.mcp_url
    );
    shutdown.cancelled().await;
    running.shutdown().await;
    Ok(())
}

/// Cancels `shutdown` on Ctrl-C or SIGTERM.
async fn signal_shutdown(shutdown: CancellationToken) {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    shutdown.cancel();
}
