//! rmcp's Streamable HTTP service behind an `Arc`, for a router that clones its services.
//!
//! axum clones the service of a route for every request it routes, and rmcp's
//! [`StreamableHttpService`] clones itself once more in `call`. A clone of it copies its whole
//! configuration, allowed hosts and origins included, so two clones cost a few allocations and
//! their frees on every request. [`SharedMcp`] holds the service once: a clone is a reference
//! count, and a request is served by [`StreamableHttpService::handle`] on the shared instance.

use std::convert::Infallible;
use std::fmt::Display;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::future::BoxFuture;
use http_body::Body;
use http_body_util::combinators::BoxBody;
use rmcp::ServerHandler;
use rmcp::transport::streamable_http_server::StreamableHttpService;
use rmcp::transport::streamable_http_server::session::SessionManager;

/// A [`StreamableHttpService`] shared by all its clones; it serves requests exactly as the service
/// itself does.
pub(crate) struct SharedMcp<S, M>(Arc<StreamableHttpService<S, M>>);

impl<S, M> SharedMcp<S, M> {
    /// Shares `service`.
    pub(crate) fn new(service: StreamableHttpService<S, M>) -> Self {
        Self(Arc::new(service))
    }
}

impl<S, M> Clone for SharedMcp<S, M> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<B, S, M> tower::Service<http::Request<B>> for SharedMcp<S, M>
where
    B: Body + Send + 'static,
    B::Error: Display,
    B::Data: Send + 'static,
    S: ServerHandler + Send + 'static,
    M: SessionManager,
{
    type Response = http::Response<BoxBody<Bytes, Infallible>>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let service = Arc::clone(&self.0);
        Box::pin(async move { Ok(service.handle(request).await) })
    }
}
