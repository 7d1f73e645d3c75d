//! Cedar policies (feature `cedar`) driving `AuthzHandler`: visibility, invocation, arguments.
#![cfg(feature = "cedar")]

mod common;

use mcp_authz::{AuthzHandler, CedarPolicy, Principal};
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use serde_json::json;

const POLICIES: &str = r#"
    // Everyone with mcp:access sees every tool except rotate_secrets.
    permit(principal, action == Action::"tools/list", resource)
        when { principal.scopes.contains("mcp:access") };
    forbid(principal, action == Action::"tools/list", resource == Tool::"rotate_secrets")
        unless { principal in Role::"admin" };
    permit(principal, action == Action::"tools/call", resource == Tool::"whoami");
    permit(principal in Role::"admin", action == Action::"tools/call", resource);
    // Attribute-based: a rule may be read for an application the caller is entitled to.
    permit(principal, action == Action::"tools/call", resource == Tool::"get_firewall_rule")
        when { context.arguments has app_name
               && principal.entitlements has "app-alpha"
               && context.arguments.app_name == "app-alpha"
               && principal.entitlements["app-alpha"].contains("read") };
"#;

#[tokio::test]
async fn cedar_filters_checks_and_sees_arguments() {
    let inner = common::TestServer::new();
    let alice = Principal::new("alice")
        .with_scopes(["mcp:access"])
        .with_roles(["developer"])
        .with_permissions("app-alpha", ["read"]);
    let handler = AuthzHandler::builder(inner.clone())
        .policy(CedarPolicy::from_text(POLICIES).expect("policies parse"))
        .principal(alice)
        .build();
    let (server_io, client_io) = tokio::io::duplex(64 * 1024);
    tokio::spawn(async move {
        if let Ok(server) = handler.serve(server_io).await {
            let _ = server.waiting().await;
        }
    });
    let client = ().serve(client_io).await.expect("connect");
    let mut names: Vec<String> = client
        .list_all_tools()
        .await
        .expect("list")
        .into_iter()
        .map(|t| t.name.to_string())
        .collect();
    names.sort();
    assert_eq!(names, ["get_firewall_rule", "reset_firewall", "whoami"]);

    let args = |app: &str| {
        json!({"app_name": app})
            .as_object()
            .cloned()
            .expect("object")
    };
    let alpha = client
        .call_tool(
            CallToolRequestParams::new("get_firewall_rule").with_arguments(args("app-alpha")),
        )
        .await
        .expect("alpha");
    assert_ne!(alpha.is_error, Some(true));
    let beta = client
        .call_tool(CallToolRequestParams::new("get_firewall_rule").with_arguments(args("app-beta")))
        .await
        .expect("a result");
    assert_eq!(beta.is_error, Some(true));
    let reset = client
        .call_tool(CallToolRequestParams::new("reset_firewall"))
        .await
        .expect("a result");
    assert_eq!(reset.is_error, Some(true));
    let text = reset.content[0].as_text().expect("text").text.clone();
    assert_eq!(
        text,
        "insufficient permissions for tool reset_firewall: no cedar policy permits this"
    );
    let hidden = client
        .call_tool(CallToolRequestParams::new("rotate_secrets"))
        .await
        .expect_err("hidden");
    assert!(hidden.to_string().contains("tool not found"), "{hidden}");
    client.cancel().await.expect("close");

    assert!(
        CedarPolicy::from_text("permit(principal, action, resource").is_err(),
        "syntax errors are reported"
    );
}
