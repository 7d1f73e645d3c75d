//! SEP-1699 SSE polling: the server closes a call's SSE stream before the result is ready, and
//! the client fetches the result with a GET carrying `Last-Event-ID`.
//!
//! rmcp implements both halves ([`LocalSessionHandle::close_sse_stream`] and resumption from
//! its per-stream event cache) but gives a tool handler no way to reach its own HTTP stream.
//! [`PollingSessionManager`] therefore makes the decision at the transport: it is rmcp's
//! [`LocalSessionManager`] except that the POST stream of a call to one of the named tools is
//! closed right after its priming event.
//!
//! [`LocalSessionHandle::close_sse_stream`]: rmcp::transport::streamable_http_server::session::local::LocalSessionHandle::close_sse_stream

use std::collections::BTreeSet;
use std::sync::Arc;

use futures::{Stream, StreamExt};
use rmcp::model::{ClientJsonRpcMessage, ClientRequest, JsonRpcRequest, ServerJsonRpcMessage};
use rmcp::transport::streamable_http_server::session::local::{
    LocalSessionManager, LocalSessionManagerError, SessionTransport,
};
use rmcp::transport::streamable_http_server::session::{EventStore, ServerSseMessage};
use rmcp::transport::streamable_http_server::{RestoreOutcome, SessionId, SessionManager};

/// rmcp's [`LocalSessionManager`] with server-side disconnect (SEP-1699) for calls of chosen
/// tools: their POST SSE stream ends after the priming event, and the result waits in the
/// session's event cache for the client's GET with `Last-Event-ID`.
#[derive(Debug, Default)]
pub struct PollingSessionManager {
    inner: LocalSessionManager,
    polled_tools: BTreeSet<String>,
}

impl PollingSessionManager {
    /// A session manager that closes the response stream of every call to one of `tools`.
    pub fn new(tools: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self {
            inner: LocalSessionManager::default(),
            polled_tools: tools.into_iter().map(Into::into).collect(),
        }
    }

    /// Whether `message` is a `tools/call` of a polled tool.
    fn is_polled_call(&self, message: &ClientJsonRpcMessage) -> bool {
        match message {
            ClientJsonRpcMessage::Request(JsonRpcRequest {
                request: ClientRequest::CallToolRequest(call),
                ..
            }) => self.polled_tools.contains(call.params.name.as_ref()),
            _ => false,
        }
    }
}

impl SessionManager for PollingSessionManager {
    type Error = LocalSessionManagerError;
    type Transport = SessionTransport;

    async fn create_session(&self) -> Result<(SessionId, Self::Transport), Self::Error> {
        self.inner.create_session().await
    }

    async fn initialize_session(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<ServerJsonRpcMessage, Self::Error> {
        self.inner.initialize_session(id, message).await
    }

    async fn has_session(&self, id: &SessionId) -> Result<bool, Self::Error> {
        self.inner.has_session(id).await
    }

    async fn close_session(&self, id: &SessionId) -> Result<(), Self::Error> {
        self.inner.close_session(id).await
    }

    async fn create_stream(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        if !self.is_polled_call(&message) {
            return Ok(self.inner.create_stream(id, message).await?.left_stream());
        }
        // The same steps as LocalSessionManager::create_stream, plus the close.
        let handle = self
            .inner
            .sessions
            .read()
            .await
            .get(id)
            .cloned()
            .ok_or_else(|| LocalSessionManagerError::SessionNotFound(id.clone()))?;
        let receiver = handle.establish_request_wise_channel().await?;
        let http_request_id = receiver.http_request_id;
        handle.push_message(message, http_request_id).await?;
        if let Some(http_request_id) = http_request_id {
            // The priming event (id + retry) is already queued; the stream ends after it.
            handle.close_sse_stream(http_request_id, None).await?;
        }
        let events = futures::stream::unfold(receiver.inner, |mut inner| async move {
            inner.recv().await.map(|event| (event, inner))
        });
        Ok(events.right_stream())
    }

    async fn accept_message(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<(), Self::Error> {
        self.inner.accept_message(id, message).await
    }

    async fn create_standalone_stream(
        &self,
        id: &SessionId,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        self.inner.create_standalone_stream(id).await
    }

    async fn resume(
        &self,
        id: &SessionId,
        last_event_id: String,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        self.inner.resume(id, last_event_id).await
    }

    async fn restore_session(
        &self,
        id: SessionId,
    ) -> Result<RestoreOutcome<Self::Transport>, Self::Error> {
        self.inner.restore_session(id).await
    }

    fn event_store(&self) -> Option<Arc<dyn EventStore>> {
        self.inner.event_store()
    }
}
