//! The span decorator adds a fixed, small amount to the future of each request it wraps,
//! whatever the size of the inner handler's future: it never stores that future twice. Every
//! request's future is moved into a task when rmcp spawns it, so its size is paid on every call.

use mcp_otel::OtelLayer;
use mcp_patterns_test_support::handlers::{
    LARGE_FUTURE_BUFFER, LargeFuture, large_future_answer, server_peer,
};
use rmcp::ServerHandler;
use rmcp::model::{CallToolRequestParams, NumberOrString};
use rmcp::service::RequestContext;

#[tokio::test]
async fn the_span_decorator_keeps_the_inner_future_once() {
    let (peer, _session) = server_peer().await;
    let context = || RequestContext::new(NumberOrString::Number(1), peer.clone());
    let request = || CallToolRequestParams::new("large");
    let inner = std::mem::size_of_val(&LargeFuture.call_tool(request(), context()));
    let traced = OtelLayer::builder().build().layer(LargeFuture);
    let outer = std::mem::size_of_val(&traced.call_tool(request(), context()));
    assert!(
        inner >= LARGE_FUTURE_BUFFER,
        "the inner future holds its buffer: {inner} bytes"
    );
    assert!(
        outer <= inner + 1024,
        "the decorated future is {outer} bytes for an inner one of {inner}"
    );
    // And it still answers what the inner handler answers.
    let response = Box::pin(traced.call_tool(request(), context()))
        .await
        .expect("call");
    assert_eq!(large_future_answer(&response), "16384");
}
