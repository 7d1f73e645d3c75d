//! The cache's resources decorator hands the requests it does not answer itself (`tools/call`
//! among them) to the inner handler as the inner handler's own future: it adds nothing to it.
//! Every request's future is moved into a task when rmcp spawns it, so its size is paid on every
//! call.

use std::collections::BTreeMap;

use mcp_cache::{Cache, CacheConfig, CacheResources, CacheResourcesLayer, JsonView};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, NumberOrString,
};
use rmcp::service::{Peer, RequestContext, RoleServer, RunningService};
use rmcp::{ErrorData, RoleClient, ServerHandler, ServiceExt};
use tower_layer::Layer as _;

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
async fn a_forwarded_tool_call_is_the_inner_handlers_own_future() {
    let (peer, _keep) = peer().await;
    let context = || RequestContext::new(NumberOrString::Number(1), peer.clone());
    let request = || CallToolRequestParams::new("heavy");
    let inner = {
        let future = Heavy.call_tool(request(), context());
        std::mem::size_of_val(&future)
    };
    let cache = Cache::from_fn(|| async {
        Ok::<_, std::io::Error>(BTreeMap::from([("a".to_owned(), 1_u32)]))
    })
    .config(CacheConfig::default().background_refresh(false))
    .build()
    .await
    .expect("first fetch");
    let resources = CacheResources::builder(cache, JsonView::btree_map("cache://data"))
        .without_health()
        .build();
    let wrapped = CacheResourcesLayer::new(resources).layer(Heavy);
    let outer = {
        let future = wrapped.call_tool(request(), context());
        std::mem::size_of_val(&future)
    };
    assert!(
        inner >= 16 * 1024,
        "the inner future holds its buffer: {inner} bytes"
    );
    assert_eq!(
        outer, inner,
        "the forwarded future is {outer} bytes, the inner one {inner}"
    );
    let response = Box::pin(wrapped.call_tool(request(), context()))
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
