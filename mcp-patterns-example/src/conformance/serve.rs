//! Serving the conformance fixture on Streamable HTTP or stdio.

use std::net::SocketAddr;
use std::sync::Arc;

use rmcp::ServiceExt;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::tools::RECONNECTION_TOOL;
use super::{ConformanceServer, PollingSessionManager};
use crate::{ExampleError, HttpOptions};

/// The conformance fixture running on Streamable HTTP.
#[derive(Debug)]
pub struct RunningConformance {
    /// The address it listens on.
    pub local_addr: SocketAddr,
    /// The MCP endpoint, e.g. `http://127.0.0.1:8080/mcp`.
    pub mcp_url: String,
    ct: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl RunningConformance {
    /// Stops accepting requests, ends open sessions and waits.
    pub async fn shutdown(self) {
        self.ct.cancel();
        let _ = self.task.await;
    }
}

/// Starts the conformance fixture on Streamable HTTP at `http://{bind}:{port}/mcp`, one fresh
/// [`ConformanceServer`] per session. `options.downstream_url` is ignored: the fixture has no
/// downstream. Host headers are checked as for the firewall server (loopback names only when
/// bound to loopback), which is what the suite's DNS-rebinding scenario expects.
pub async fn start_conformance_http(
    options: HttpOptions,
) -> Result<RunningConformance, ExampleError> {
    let addr = SocketAddr::new(options.bind, options.port);
    let io_error = |source| ExampleError::Io {
        addr: addr.to_string(),
        source,
    };
    let listener = TcpListener::bind(addr).await.map_err(io_error)?;
    let local_addr = listener.local_addr().map_err(io_error)?;

    let ct = CancellationToken::new();
    let mut config =
        StreamableHttpServerConfig::default().with_cancellation_token(ct.child_token());
    if !options.bind.is_loopback() {
        config = config.disable_allowed_hosts();
    }
    let service: StreamableHttpService<ConformanceServer, PollingSessionManager> =
        StreamableHttpService::new(
            || Ok(ConformanceServer::new()),
            Arc::new(PollingSessionManager::new([RECONNECTION_TOOL])),
            config,
        );
    let app = axum::Router::new().nest_service("/mcp", service);
    let task = tokio::spawn({
        let ct = ct.clone();
        async move {
            if let Err(error) = axum::serve(listener, app)
                .with_graceful_shutdown(ct.cancelled_owned())
                .await
            {
                tracing::error!(%error, "conformance fixture HTTP server stopped");
            }
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
pub async fn serve_conformance_stdio(shutdown: CancellationToken) -> Result<(), ExampleError> {
    tracing::info!("serving the MCP conformance fixture on stdio");
    let service = ConformanceServer::new()
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|error| ExampleError::Transport(error.to_string()))?;
    let service_ct = service.cancellation_token();
    tokio::select! {
        result = service.waiting() => result
            .map(|_| ())
            .map_err(|error| ExampleError::Transport(error.to_string())),
        () = shutdown.cancelled() => {
            service_ct.cancel();
            Ok(())
        }
    }
}
