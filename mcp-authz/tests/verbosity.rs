//! Verbosity: list filtering names the hidden targets in a debug-level `auth.filter` span, for
//! development; at info level (production) only the `auth.check_scope` count remains. In a test
//! binary of its own, so no other test's subscriber shares tracing's per-callsite interest cache.

mod common;

use mcp_authz::{AuthzHandler, Principal, Requirement, StaticPolicy};
use mcp_patterns_test_support::capture::Capture;
use tracing_subscriber::Registry;
use tracing_subscriber::layer::SubscriberExt;

/// Lists `tools/list` as alice (who may not see `reset_firewall`) under `subscriber`.
async fn list_tools_as_alice() {
    let handler = AuthzHandler::builder(common::TestServer::new())
        .policy(StaticPolicy::new().tool("whoami", Requirement::none()))
        .principal(Principal::new("alice").with_scopes(["mcp:access"]))
        .build();
    let client = common::in_process_client(handler).await;
    let tools = client.list_all_tools().await.expect("tools/list");
    assert!(tools.iter().all(|t| t.name != "reset_firewall"));
    client.cancel().await.expect("close");
}

#[tokio::test]
async fn hidden_targets_are_named_at_debug_level_only() {
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::filter::LevelFilter;

    // Development verbosity: a debug-level `auth.filter` span names what was hidden.
    let debug = Capture::default();
    {
        let _guard = tracing::subscriber::set_default(
            Registry::default().with(debug.clone().with_filter(LevelFilter::DEBUG)),
        );
        tracing::callsite::rebuild_interest_cache();
        list_tools_as_alice().await;
    }
    let filters = debug.spans_named("auth.filter");
    assert_eq!(filters.len(), 1, "{filters:?}");
    assert_eq!(filters[0]["enduser.id"], "alice");
    assert_eq!(filters[0]["mcp.method.name"], "tools/list");
    assert!(
        filters[0]["auth.hidden"].contains("reset_firewall"),
        "{filters:?}"
    );

    // Production verbosity (info): only the count, in `auth.check_scope`.
    let info = Capture::default();
    {
        let _guard = tracing::subscriber::set_default(
            Registry::default().with(info.clone().with_filter(LevelFilter::INFO)),
        );
        tracing::callsite::rebuild_interest_cache();
        list_tools_as_alice().await;
    }
    assert!(info.spans_named("auth.filter").is_empty());
    assert!(
        info.spans_named("auth.check_scope")
            .iter()
            .any(|s| s.get("mcp.method.name").map(String::as_str) == Some("tools/list"))
    );
}
