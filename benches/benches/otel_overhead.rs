//! Per-call cost of mcp-otel on a `tools/call` round trip over an in-process pipe, against the
//! bare rmcp server as baseline: the `OtelHandler` with tracing off (no subscriber), and with
//! the full pipeline at sampling ratio 0 and 1. The OTLP endpoint is a closed loopback port, so
//! the traced runs also show that an unreachable collector does not slow requests down.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use mcp_otel::{OtelLayer, SamplerConfig, TelemetryConfig, TraceExporter};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolRequestParams, ServerCapabilities, ServerConfig};
use rmcp::service::{RoleClient, RunningService};
use rmcp::{ServerHandler, ServiceExt, tool, tool_handler, tool_router};
use serde::Deserialize;

#[derive(Deserialize, schemars::JsonSchema)]
struct LookupArgs {
    app: String,
}

#[derive(Clone)]
struct Bench {
    tool_router: ToolRouter<Self>,
}

#[tool_router]
impl Bench {
    #[tool(description = "Look up an application")]
    async fn lookup(&self, Parameters(LookupArgs { app }): Parameters<LookupArgs>) -> String {
        format!("{app}: 443")
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Bench {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }
}

fn bench_server() -> Bench {
    Bench {
        tool_router: Bench::tool_router(),
    }
}

async fn connect<H: ServerHandler>(handler: H) -> RunningService<RoleClient, ()> {
    let (server_io, client_io) = tokio::io::duplex(64 * 1024);
    tokio::spawn(async move {
        if let Ok(running) = handler.serve(server_io).await {
            let _ = running.waiting().await;
        }
    });
    ().serve(client_io).await.expect("initialize")
}

fn params() -> CallToolRequestParams {
    let mut args = serde_json::Map::new();
    args.insert("app".to_owned(), serde_json::Value::from("app-alpha"));
    CallToolRequestParams::new("lookup").with_arguments(args)
}

fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn traced_config(sampler: SamplerConfig) -> TelemetryConfig {
    let mut config = TelemetryConfig::new("otel-overhead-bench");
    config.traces = TraceExporter::Otlp;
    config.otlp_endpoint = format!("http://127.0.0.1:{}", closed_port());
    config.sampler = sampler;
    config.metrics = false;
    config.log_to_stderr = false;
    config.export_timeout = Duration::from_millis(200);
    config
}

fn run<H: ServerHandler>(c: &mut Criterion, name: &str, handler: H) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let client = rt.block_on(connect(handler));
    c.bench_function(name, |b| {
        b.iter(|| {
            let result = rt.block_on(client.call_tool(params())).expect("call");
            black_box(result);
        });
    });
    rt.block_on(async {
        let _ = client.cancel().await;
    });
}

fn overhead(c: &mut Criterion) {
    run(c, "tools_call/bare_rmcp", bench_server());
    run(
        c,
        "tools_call/otel_handler_tracing_off",
        OtelLayer::builder()
            .without_metrics()
            .build()
            .layer(bench_server()),
    );
    for (name, sampler) in [
        (
            "tools_call/otel_sampling_0",
            SamplerConfig::TraceIdRatio(0.0),
        ),
        ("tools_call/otel_sampling_1", SamplerConfig::AlwaysOn),
    ] {
        let (guard, dispatch) = mcp_otel::build(&traced_config(sampler)).expect("pipeline");
        let handler = guard.layer().build().layer(bench_server());
        tracing::dispatcher::with_default(&dispatch, || run(c, name, handler));
        eprintln!("{name}: collector down, {:?}", guard.stats());
        guard.shutdown();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = overhead
}
criterion_main!(benches);
