//! Spawns the `mcp-patterns-example` binary with `--stdio` and talks MCP to it over its pipes.

mod common;

use common::{app_names, call, text};
use rmcp::ServiceExt;
use rmcp::transport::TokioChildProcess;
use serde_json::json;
use tokio::process::Command;

#[tokio::test]
async fn binary_serves_mcp_on_stdio() {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mcp-patterns-example"));
    command.arg("--stdio").env("MCP_LOG_LEVEL", "warn");
    let transport = TokioChildProcess::new(command).expect("spawn the server");
    let client = ().serve(transport).await.expect("initialize over stdio");

    assert_eq!(
        client
            .peer_info()
            .expect("server info")
            .server_info
            .as_ref()
            .map(|i| i.name.clone()),
        Some("mcp-patterns-example".to_owned())
    );
    let tools = client.list_all_tools().await.expect("tools/list");
    assert_eq!(tools.len(), mcp_patterns_example::server::TOOL_NAMES.len());

    let all = client
        .call_tool(call("list_firewall_rules", json!({})))
        .await
        .expect("list_firewall_rules");
    assert_eq!(app_names(&all), ["app-alpha", "app-beta", "app-gamma"]);

    let unknown = client
        .call_tool(call("get_firewall_rule", json!({ "app_name": "nope" })))
        .await
        .expect("tool error result");
    assert_eq!(unknown.is_error, Some(true));
    assert!(text(&unknown).contains("unknown application 'nope'"));

    client.cancel().await.expect("closing stdin ends the child");
}
