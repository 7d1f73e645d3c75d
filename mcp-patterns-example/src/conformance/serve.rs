//! Serving the conformance fixture on Streamable HTTP or stdio.

use std::net::SocketAddr;
use std::sync::Arc;

use rmcp::ServiceExt;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio_util::sync::CancellationToken;

use super::tools::RECONNECTION_TOOL;
use super::{ConformanceServer, PollingSessionManager};
use crate::listen::{Bound, Served};
use crate::{ExampleError, HttpOptions};

/// The conformance fixture running on Streamable HTTP.
#[derive(Debug)]
pub struct RunningConformance {
    /// The address it listens on.
    pub local_addr: SocketAddr,
    /// The MCP endpoint, e.g. `http://127.0.0.1:8080/mcp`.
    pub mcp_url: String,
    served: Served,
}

impl RunningConformance {
    /// Stops accepting requests, ends open sessions and waits.
    pub async fn shutdown(self) {
        self.served.shutdown().await;
    }
}

/// Starts the conformance fixture on Streamable HTTP at `http://{bind}:{port}/mcp`, one fresh
/// [`ConformanceServer`] per session (2025-11-25) or request (2026-07-28). `options.downstream_url` is ignored: the fixture has no
/// downstream. Host headers are checked as for the firewall server (loopback names only when
/// bound to loopback), which is what the suite's DNS-rebinding scenario expects.
pub async fn start_conformance_http(
    options: HttpOptions,
) -> Result<RunningConformance, ExampleError> {
    let bound = Bound::bind(SocketAddr::new(options.bind, options.port)).await?;
    let local_addr = bound.local_addr;
    let mut config =
        StreamableHttpServerConfig::default().with_cancellation_token(bound.ct.child_token());
    if !options.bind.is_loopback() {
        config = config.disable_allowed_hosts();
    }
    // One fixture server: every session (and every stateless request) gets fresh session state
    // but shares its list-change announcements and `requestState` key.
    let fixture = ConformanceServer::new();
    let service: StreamableHttpService<ConformanceServer, PollingSessionManager> =
        StreamableHttpService::new(
            move || Ok(fixture.for_new_session()),
            Arc::new(PollingSessionManager::new([RECONNECTION_TOOL])),
            config,
        );
    let app = axum::Router::new().nest_service("/mcp", service);
    Ok(RunningConformance {
        local_addr,
        mcp_url: format!("http://{local_addr}/mcp"),
        served: bound.serve(app, "conformance fixture HTTP server"),
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
