//! The cache's resources decorator hands the requests it does not answer itself (`tools/call`
//! among them) to the inner handler as the inner handler's own future: it adds nothing to it.
//! Every request's future is moved into a task when rmcp spawns it, so its size is paid on every
//! call.

use std::collections::BTreeMap;

use mcp_cache::{Cache, CacheConfig, CacheResources, CacheResourcesLayer, JsonView};
use mcp_patterns_test_support::handlers::{
    LARGE_FUTURE_BUFFER, LargeFuture, large_future_answer, server_peer,
};
use rmcp::ServerHandler;
use rmcp::model::{CallToolRequestParams, NumberOrString};
use rmcp::service::RequestContext;
use tower_layer::Layer as _;

#[tokio::test]
async fn a_forwarded_tool_call_is_the_inner_handlers_own_future() {
    let (peer, _session) = server_peer().await;
    let context = || RequestContext::new(NumberOrString::Number(1), peer.clone());
    let request = || CallToolRequestParams::new("large");
    let inner = std::mem::size_of_val(&LargeFuture.call_tool(request(), context()));
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
    let wrapped = CacheResourcesLayer::new(resources).layer(LargeFuture);
    let outer = std::mem::size_of_val(&wrapped.call_tool(request(), context()));
    assert!(
        inner >= LARGE_FUTURE_BUFFER,
        "the inner future holds its buffer: {inner} bytes"
    );
    assert_eq!(
        outer, inner,
        "the forwarded future is {outer} bytes, the inner one {inner}"
    );
    let response = Box::pin(wrapped.call_tool(request(), context()))
        .await
        .expect("call");
    assert_eq!(large_future_answer(&response), "16384");
}
