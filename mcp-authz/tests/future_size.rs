//! The authorization decorator adds next to nothing to the future of a `tools/call` it lets
//! through: the inner handler's future is kept once, without the request and context it was
//! built from beside it. Every request's future is moved into a task when rmcp spawns it, so
//! its size is paid on every call.

use mcp_authz::{AuthzHandler, Principal, Requirement, StaticPolicy};
use mcp_patterns_test_support::handlers::{
    LARGE_FUTURE_BUFFER, LargeFuture, large_future_answer, server_peer,
};
use rmcp::ServerHandler;
use rmcp::model::{CallToolRequestParams, NumberOrString};
use rmcp::service::RequestContext;

#[tokio::test]
async fn the_authorization_decorator_adds_almost_nothing_to_a_tool_call() {
    let (peer, _session) = server_peer().await;
    let context = || {
        let mut context = RequestContext::new(NumberOrString::Number(1), peer.clone());
        context.extensions.insert(Principal::new("alice"));
        context
    };
    let request = || CallToolRequestParams::new("large");
    let inner = std::mem::size_of_val(&LargeFuture.call_tool(request(), context()));
    let authorized = AuthzHandler::builder(LargeFuture)
        .policy(StaticPolicy::new().tool("large", Requirement::none()))
        .build();
    let outer = std::mem::size_of_val(&authorized.call_tool(request(), context()));
    assert!(
        inner >= LARGE_FUTURE_BUFFER,
        "the inner future holds its buffer: {inner} bytes"
    );
    assert!(
        outer <= inner + 128,
        "the decorated future is {outer} bytes for an inner one of {inner}"
    );
    // And an allowed call still gets what the inner handler answers.
    let response = Box::pin(authorized.call_tool(request(), context()))
        .await
        .expect("call");
    assert_eq!(large_future_answer(&response), "16384");
}
