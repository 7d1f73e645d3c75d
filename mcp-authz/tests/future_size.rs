//! The authorization decorator adds next to nothing to the future of a `tools/call` it lets
//! through: the inner handler's future is kept once, without the request and context it was
//! built from beside it. Every request's future is moved into a task when rmcp spawns it, so
//! its size is paid on every call.

use mcp_authz::{AuthzHandler, Principal, Requirement, StaticPolicy};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, NumberOrString,
};
use rmcp::service::{Peer, RequestContext, RoleServer, RunningService};
use rmcp::{ErrorData, RoleClient, ServerHandler, ServiceExt};

/// A handler whose `tools/call` future is large: a 16 KiB buffer lives across an await.
#[derive(Clone)]
struct Heavy;

impl ServerHandler for Heavy {
    async fn call_tool(
        &self,
        _request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let buffer = std::hint::black_box([1u8; 16 * 1024]);
        tokio::task::yield_now().await;
        let sum: usize = buffer.iter().map(|&b| usize::from(b)).sum();
        Ok(CallToolResult::success(vec![ContentBlock::text(sum.to_string())]).into())
    }
}

#[derive(Clone)]
struct Plain;

impl ServerHandler for Plain {}

/// A real peer (over an in-memory pipe) for building request contexts, with both ends kept.
async fn peer() -> (
    Peer<RoleServer>,
    (
        RunningService<RoleServer, Plain>,
        RunningService<RoleClient, ()>,
    ),
) {
    let (server_io, client_io) = tokio::io::duplex(64 * 1024);
    let server = tokio::spawn(async move { Plain.serve(server_io).await });
    let client = ().serve(client_io).await.expect("client");
    let server = server.await.expect("join").expect("server");
    (server.peer().clone(), (server, client))
}

#[tokio::test]
async fn the_authorization_decorator_adds_almost_nothing_to_a_tool_call() {
    let (peer, _keep) = peer().await;
    let context = || {
        let mut context = RequestContext::new(NumberOrString::Number(1), peer.clone());
        context.extensions.insert(Principal::new("alice"));
        context
    };
    let request = || CallToolRequestParams::new("heavy");
    let inner = {
        let future = Heavy.call_tool(request(), context());
        std::mem::size_of_val(&future)
    };
    let authorized = AuthzHandler::builder(Heavy)
        .policy(StaticPolicy::new().tool("heavy", Requirement::none()))
        .build();
    let outer = {
        let future = authorized.call_tool(request(), context());
        std::mem::size_of_val(&future)
    };
    assert!(
        inner >= 16 * 1024,
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
    let CallToolResponse::Complete(result) = response else {
        panic!("a complete result")
    };
    assert_eq!(
        result.content[0].as_text().map(|t| t.text.as_str()),
        Some("16384")
    );
}
