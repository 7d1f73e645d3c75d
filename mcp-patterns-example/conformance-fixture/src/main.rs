//! `mcp-conformance-fixture`: serves the MCP conformance suite's fixture surface through the
//! same decorators as the reference server. Flags: `--port N` (default 8080, 0 picks a free
//! one), `--bind ADDR` (default 127.0.0.1), `--stdio`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;

use tokio_util::sync::CancellationToken;

struct Args {
    bind: IpAddr,
    port: u16,
    stdio: bool,
}

fn parse() -> Result<Args, String> {
    let mut args = Args {
        bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
        port: 8080,
        stdio: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--stdio" => args.stdio = true,
            "--port" => {
                let value = it.next().ok_or("--port needs a value")?;
                args.port = value
                    .parse()
                    .map_err(|e| format!("--port {value:?}: {e}"))?;
            }
            "--bind" => {
                let value = it.next().ok_or("--bind needs a value")?;
                args.bind = value
                    .parse()
                    .map_err(|e| format!("--bind {value:?}: {e}"))?;
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(args)
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let args = match parse() {
        Ok(args) => args,
        Err(error) => {
            eprintln!("mcp-conformance-fixture: {error}");
            return ExitCode::from(2);
        }
    };
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        stop.cancel();
    });
    let result = if args.stdio {
        mcp_patterns_conformance_fixture::serve_conformance_stdio(shutdown).await
    } else {
        match mcp_patterns_conformance_fixture::start_conformance_http(SocketAddr::new(
            args.bind, args.port,
        ))
        .await
        {
            Ok(running) => {
                eprintln!(
                    "mcp-conformance-fixture serving the MCP conformance fixture (Streamable HTTP) at {}",
                    running.mcp_url
                );
                shutdown.cancelled().await;
                running.shutdown().await;
                Ok(())
            }
            Err(error) => Err(error),
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("mcp-conformance-fixture: {error}");
            ExitCode::FAILURE
        }
    }
}
