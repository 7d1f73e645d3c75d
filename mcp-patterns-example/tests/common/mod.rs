//! Helpers shared by the integration tests.
#![allow(dead_code, unreachable_pub)]

use rmcp::model::{CallToolRequestParams, CallToolResult};
use serde_json::{Map, Value};

/// Builds `tools/call` params for `name` with JSON object `args`.
pub fn call(name: &'static str, args: Value) -> CallToolRequestParams {
    let params = CallToolRequestParams::new(name);
    match args {
        Value::Object(map) => params.with_arguments(map),
        Value::Null => params.with_arguments(Map::new()),
        other => panic!("tool arguments must be an object, got {other}"),
    }
}

/// The text of a tool result's first content block.
pub fn text(result: &CallToolResult) -> String {
    result
        .content
        .first()
        .and_then(|c| c.as_text())
        .map(|t| t.text.clone())
        .unwrap_or_default()
}

/// The sorted app names in a `list_firewall_rules` result.
pub fn app_names(result: &CallToolResult) -> Vec<String> {
    let value = result
        .structured_content
        .clone()
        .expect("structured content");
    let mut names: Vec<String> = value["apps"]
        .as_array()
        .expect("apps array")
        .iter()
        .map(|a| a["app_name"].as_str().expect("app_name").to_owned())
        .collect();
    names.sort();
    names
}

/// The token the development issuer of `server` minted for demo user `name`.
pub fn demo_token(server: &mcp_patterns_example::RunningHttp, name: &str) -> String {
    server
        .demo_tokens
        .iter()
        .find(|(user, _)| user.subject == name)
        .map_or_else(|| panic!("no demo user {name}"), |(_, token)| token.clone())
}
