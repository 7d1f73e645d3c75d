//! Small rmcp handlers and a real server peer, for tests that call a decorator's
//! `ServerHandler` methods directly.

use rmcp::model::{CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock};
use rmcp::service::{Peer, RequestContext, RoleServer, RunningService};
use rmcp::{ErrorData, RoleClient, ServerHandler, ServiceExt};

/// The buffer [`LargeFuture`]'s `tools/call` keeps across an await.
pub const LARGE_FUTURE_BUFFER: usize = 16 * 1024;

/// A handler whose `tools/call` future is large: a [`LARGE_FUTURE_BUFFER`]-byte buffer lives
/// across an await. It answers the text of the buffer's sum (`"16384"`).
#[derive(Clone, Debug, Default)]
pub struct LargeFuture;

impl ServerHandler for LargeFuture {
    async fn call_tool(
        &self,
        _request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let buffer = std::hint::black_box([1u8; LARGE_FUTURE_BUFFER]);
        tokio::task::yield_now().await;
        let sum: usize = buffer.iter().map(|&b| usize::from(b)).sum();
        Ok(CallToolResult::success(vec![ContentBlock::text(sum.to_string())]).into())
    }
}

/// The text [`LargeFuture`] answers a `tools/call` with, from a response that went through a
/// decorator; panics when the response is not that answer's shape.
pub fn large_future_answer(response: &CallToolResponse) -> String {
    let CallToolResponse::Complete(result) = response else {
        panic!("a complete result, not {response:?}")
    };
    result.content[0]
        .as_text()
        .map(|text| text.text.clone())
        .expect("a text content block")
}

/// A handler with rmcp's defaults only.
#[derive(Clone, Debug, Default)]
pub struct Plain;

impl ServerHandler for Plain {}

/// Both ends of the in-memory session behind [`server_peer`]; keep it while the peer is used.
pub type PeerSession = (
    RunningService<RoleServer, Plain>,
    RunningService<RoleClient, ()>,
);

/// A real server peer (an initialized session over an in-memory pipe), for building the
/// `RequestContext` of a direct handler call.
pub async fn server_peer() -> (Peer<RoleServer>, PeerSession) {
    let (server_io, client_io) = tokio::io::duplex(64 * 1024);
    let server = tokio::spawn(async move { Plain.serve(server_io).await });
    let client = ().serve(client_io).await.expect("client");
    let server = server.await.expect("join").expect("server");
    (server.peer().clone(), (server, client))
}
