//! Serving the conformance fixture on Streamable HTTP or stdio.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::serve::ListenerExt as _;
use rmcp::ServiceExt;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::tools::RECONNECTION_TOOL;
use super::{ConformanceServer, PollingSessionManager};

/// Why the fixture could not be served.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The address could not be bound.
    #[error("cannot bind {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The stdio transport failed.
    #[error("stdio transport: {0}")]
    Transport(String),
    /// The decorator stack's cache could not be built.
    #[error("the fixture's cache: {0}")]
    Cache(#[from] mcp_cache::CacheError),
}

/// The conformance fixture running on Streamable HTTP.
#[derive(Debug)]
pub struct RunningConformance {
    /// The address it listens on.
    pub local_addr: SocketAddr,
    /// The MCP endpoint, e.g. `http://127.0.0.1:8080/mcp`.
    pub mcp_url: String,
    ct: CancellationToken,
    task: JoinHandle<()>,
}

impl RunningConformance {
    /// Stops accepting requests, ends open sessions and waits.
    pub async fn shutdown(self) {
        self.ct.cancel();
        let _ = self.task.await;
    }
}

/// Sets `TCP_NODELAY` on an accepted connection, so the last small write of a response does not
/// wait for the client's delayed ACK.
fn nodelay(tcp: &mut tokio::net::TcpStream) {
    let _ = tcp.set_nodelay(true);
}

/// Starts the conformance fixture on Streamable HTTP at `http://{addr}/mcp`, one fresh
/// [`ConformanceServer`] per session (2025-11-25) or request (2026-07-28), each behind the
/// decorator stack of [`crate::decorated`]. Host headers are checked as rmcp does by default
/// (loopback names only when bound to loopback), which is what the suite's DNS-rebinding
/// scenario expects.
pub async fn start_conformance_http(addr: SocketAddr) -> Result<RunningConformance, ServeError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind { addr, source })?;
    let local_addr = listener
        .local_addr()
        .map_err(|source| ServeError::Bind { addr, source })?;
    let ct = CancellationToken::new();
    let mut config =
        StreamableHttpServerConfig::default().with_cancellation_token(ct.child_token());
    if !addr.ip().is_loopback() {
        config = config.disable_allowed_hosts();
    }
    // One fixture server: every session (and every stateless request) gets fresh session state
    // but shares its list-change announcements and `requestState` key.
    let fixture = ConformanceServer::new();
    let stack = crate::Decorators::new().await?;
    let service = StreamableHttpService::new(
        move || Ok(stack.wrap(fixture.for_new_session())),
        Arc::new(PollingSessionManager::new([RECONNECTION_TOOL])),
        config,
    );
    let app = axum::Router::new().nest_service("/mcp", service);
    let stop = ct.clone();
    let task = tokio::spawn(async move {
        let served = axum::serve(listener.tap_io(nodelay), app)
            .with_graceful_shutdown(stop.cancelled_owned())
            .await;
        if let Err(error) = served {
            tracing::error!(%error, "conformance fixture HTTP server failed");
        }
    });
    Ok(RunningConformance {
        local_addr,
        mcp_url: format!("http://{local_addr}/mcp"),
        ct,
        task,
    })
}

/// Serves the conformance fixture for one session on stdin/stdout until the client closes it
/// or `shutdown` fires.
pub async fn serve_conformance_stdio(shutdown: CancellationToken) -> Result<(), ServeError> {
    tracing::info!("serving the MCP conformance fixture on stdio");
    let handler = crate::Decorators::new()
        .await?
        .wrap(ConformanceServer::new());
    // The decorated handler's future is large: keep it off the stack.
    let service = Box::pin(handler.serve(rmcp::transport::stdio()))
        .await
        .map_err(|error| ServeError::Transport(error.to_string()))?;
    let service_ct = service.cancellation_token();
    tokio::select! {
        result = service.waiting() => result
            .map(|_| ())
            .map_err(|error| ServeError::Transport(error.to_string())),
        () = shutdown.cancelled() => {
            service_ct.cancel();
            Ok(())
        }
    }
}
