//! Decision log events: a refused request is logged at info level, so a server logging at the
//! usual level keeps a line per refusal; an allowed one only at debug level (its span carries the
//! decision either way). In a test binary of its own, so no other test's subscriber shares
//! tracing's per-callsite interest cache.

mod common;

use mcp_authz::{AuthzHandler, Principal, Requirement, StaticPolicy};
use mcp_patterns_test_support::capture::Capture;
use tracing_subscriber::Registry;
use tracing_subscriber::layer::SubscriberExt;

/// Calls an allowed tool and a refused one as alice under `subscriber`.
async fn allowed_and_refused_calls_as_alice() {
    let handler = AuthzHandler::builder(common::TestServer::new())
        .policy(StaticPolicy::new().tool("whoami", Requirement::none()))
        .principal(Principal::new("alice").with_scopes(["mcp:access"]))
        .build();
    let client = common::in_process_client(handler).await;
    client
        .call_tool(rmcp::model::CallToolRequestParams::new("whoami"))
        .await
        .expect("whoami is allowed");
    client
        .call_tool(rmcp::model::CallToolRequestParams::new("reset_firewall"))
        .await
        .expect_err("reset_firewall is refused");
    client.cancel().await.expect("close");
}

fn decisions(capture: &Capture, decision: &str) -> usize {
    capture
        .events()
        .iter()
        .filter(|e| {
            e.get("message").map(String::as_str) == Some("authorization decision")
                && e.get("auth.decision").map(String::as_str) == Some(decision)
        })
        .count()
}

#[tokio::test]
async fn refusals_are_logged_at_info_and_allowed_decisions_at_debug() {
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::filter::LevelFilter;

    let info = Capture::default();
    {
        let _guard = tracing::subscriber::set_default(
            Registry::default().with(info.clone().with_filter(LevelFilter::INFO)),
        );
        tracing::callsite::rebuild_interest_cache();
        allowed_and_refused_calls_as_alice().await;
    }
    assert_eq!(decisions(&info, "deny"), 1, "{:?}", info.events());
    assert_eq!(decisions(&info, "allow"), 0, "{:?}", info.events());
    // The allowed decision is still on its span.
    assert!(
        info.spans_named("auth.check_scope")
            .iter()
            .any(|s| s.get("auth.decision").map(String::as_str) == Some("allow"))
    );

    let debug = Capture::default();
    {
        let _guard = tracing::subscriber::set_default(
            Registry::default().with(debug.clone().with_filter(LevelFilter::DEBUG)),
        );
        tracing::callsite::rebuild_interest_cache();
        allowed_and_refused_calls_as_alice().await;
    }
    assert_eq!(decisions(&debug, "deny"), 1, "{:?}", debug.events());
    assert!(decisions(&debug, "allow") >= 1, "{:?}", debug.events());
}
