//! `get_tool` (what rmcp validates `Mcp-Param-*` headers with): `None` by default, the inner
//! handler's tool with `tool_header_validation(true)`.

use mcp_authz::{AuthzLayer, Principal};
use rmcp::ServerHandler;
use rmcp::model::Tool;
use tower_layer::Layer as _;

#[derive(Clone)]
struct WithTool;

impl ServerHandler for WithTool {
    fn get_tool(&self, name: &str) -> Option<Tool> {
        (name == "echo").then(|| Tool::new("echo", "echoes", rmcp::model::JsonObject::new()))
    }
}

#[test]
fn get_tool_answers_only_when_header_validation_is_on() {
    let principal = Principal::new("alice");
    let hidden = AuthzLayer::builder()
        .principal(principal.clone())
        .build()
        .layer(WithTool);
    assert!(hidden.get_tool("echo").is_none());

    let validated = AuthzLayer::builder()
        .principal(principal)
        .tool_header_validation(true)
        .build()
        .layer(WithTool);
    assert_eq!(
        validated.get_tool("echo").map(|tool| tool.name.to_string()),
        Some("echo".to_owned())
    );
    assert!(validated.get_tool("other").is_none());
}
