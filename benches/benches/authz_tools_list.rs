//! `tools/list` filtering by mcp-authz's visibility layer against the same
//! unfiltered list, for 10, 100 and 1000 tools. The inner server returns all N tools; the
//! `AuthzHandler` (a `StaticPolicy` with one rule per tool, principal as on stdio) keeps either
//! all of them (`authz_all_visible`: same result as the baseline, so the difference is the
//! filtering alone) or every second one (`authz_half_visible`: the other half needs a scope the
//! principal lacks). Two views:
//!
//! - `tools_list_handler/*`: `ServerHandler::list_tools` called directly (no transport), which
//!   isolates the filter;
//! - `tools_list_rpc/*`: a `tools/list` round trip from rmcp's client over an in-process pipe
//!   (`tokio::io::duplex`), what a client sees.
//!
//! Ends with a table of ratios of criterion's median estimates from this run to the unfiltered list.
#![allow(missing_docs)]

use mcp_patterns_benches::estimates::median_ns;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use criterion::{BenchmarkId, Criterion};
use mcp_authz::{AuthzHandler, Principal, Requirement, StaticPolicy};
use rmcp::model::{
    ListToolsResult, NumberOrString, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::{Peer, RequestContext, RoleClient, RunningService};
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt};

const SIZES: [usize; 3] = [10, 100, 1000];
const VARIANTS: [&str; 3] = ["bare", "authz_all_visible", "authz_half_visible"];

/// A server with `n` tools, each with a description and a one-argument input schema.
#[derive(Clone)]
struct ManyTools {
    tools: Arc<Vec<Tool>>,
}

impl ManyTools {
    fn new(n: usize) -> Self {
        let schema = serde_json::json!({
            "type": "object",
            "properties": {"app_name": {"type": "string", "description": "The application"}},
            "required": ["app_name"],
        });
        let schema = Arc::new(schema.as_object().cloned().expect("object"));
        let tools = (0..n)
            .map(|i| {
                Tool::new(
                    tool_name(i),
                    format!("Tool number {i}: looks an application up"),
                    Arc::clone(&schema),
                )
            })
            .collect();
        Self {
            tools: Arc::new(tools),
        }
    }
}

fn tool_name(i: usize) -> String {
    format!("tool_{i:04}")
}

impl ServerHandler for ManyTools {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(self.tools.as_ref().clone()))
    }
}

/// One rule per tool: `tools:read` for all, or `tools:admin` (which the principal lacks) for
/// every odd one when `half_hidden`.
fn policy(n: usize, half_hidden: bool) -> StaticPolicy {
    (0..n).fold(StaticPolicy::new(), |policy, i| {
        let scope = if half_hidden && i % 2 == 1 {
            "tools:admin"
        } else {
            "tools:read"
        };
        policy.tool(tool_name(i), Requirement::none().scopes([scope]))
    })
}

fn principal() -> Principal {
    Principal::new("alice").with_scopes(["mcp:access", "tools:read"])
}

fn authz(n: usize, half_hidden: bool) -> AuthzHandler<ManyTools> {
    AuthzHandler::builder(ManyTools::new(n))
        .policy(policy(n, half_hidden))
        .principal(principal())
        .build()
}

/// Serves `handler` over an in-process pipe; returns the client and the server's peer (to build
/// request contexts for direct handler calls).
async fn connect<H: ServerHandler>(
    handler: H,
) -> (RunningService<RoleClient, ()>, Peer<RoleServer>) {
    let (server_io, client_io) = tokio::io::duplex(1024 * 1024);
    let (peer_tx, peer_rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        if let Ok(running) = handler.serve(server_io).await {
            let _ = peer_tx.send(running.peer().clone());
            let _ = running.waiting().await;
        }
    });
    let client = ().serve(client_io).await.expect("initialize");
    (client, peer_rx.await.expect("server peer"))
}

fn context(peer: &Peer<RoleServer>) -> RequestContext<RoleServer> {
    RequestContext::new(NumberOrString::Number(1), peer.clone())
}

fn bench_size<H: ServerHandler + Clone>(
    c: &mut Criterion,
    rt: &tokio::runtime::Runtime,
    variant: &str,
    n: usize,
    handler: &H,
) {
    let (client, peer) = rt.block_on(connect(handler.clone()));
    let expected = if variant == "authz_half_visible" {
        n / 2
    } else {
        n
    };
    let direct = rt
        .block_on(handler.list_tools(None, context(&peer)))
        .expect("list");
    let listed = rt.block_on(client.list_tools(None)).expect("tools/list");
    assert_eq!(
        (direct.tools.len(), listed.tools.len()),
        (expected, expected),
        "{variant}: the principal sees the tools the policy shows"
    );

    c.benchmark_group("tools_list_handler")
        .sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .bench_with_input(BenchmarkId::new(variant, n), &n, |b, _| {
            b.iter(|| {
                rt.block_on(handler.list_tools(None, context(black_box(&peer))))
                    .expect("list")
            });
        });
    c.benchmark_group("tools_list_rpc")
        .sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .bench_with_input(BenchmarkId::new(variant, n), &n, |b, _| {
            b.iter(|| rt.block_on(client.list_tools(None)).expect("tools/list"));
        });
    rt.block_on(async {
        let _ = client.cancel().await;
    });
}

fn report(since: SystemTime) {
    for group in ["tools_list_handler", "tools_list_rpc"] {
        println!("\n{group}: criterion median (ratio to the unfiltered list, same N)");
        for n in SIZES {
            let Some(bare) = median_ns(group, &format!("bare/{n}"), since) else {
                println!("  (no estimates for {n} tools in this run: run without --test)");
                continue;
            };
            for variant in VARIANTS {
                if let Some(ns) = median_ns(group, &format!("{variant}/{n}"), since) {
                    #[allow(clippy::cast_precision_loss)] // tool counts far below 2^52
                    let per_tool = (ns - bare) / n as f64;
                    println!(
                        "  {n:>5} tools  {variant:<20} {:>10.2} us  {:>5.2}x bare  {per_tool:>+8.1} ns/tool",
                        ns / 1e3,
                        ns / bare,
                    );
                }
            }
        }
    }
}

fn main() {
    let since = SystemTime::now();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut criterion = Criterion::default().configure_from_args();
    for n in SIZES {
        bench_size(&mut criterion, &rt, "bare", n, &ManyTools::new(n));
        bench_size(
            &mut criterion,
            &rt,
            "authz_all_visible",
            n,
            &authz(n, false),
        );
        bench_size(
            &mut criterion,
            &rt,
            "authz_half_visible",
            n,
            &authz(n, true),
        );
    }
    criterion.final_summary();
    report(since);
}
