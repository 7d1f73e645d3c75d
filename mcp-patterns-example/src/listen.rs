//! Serving an axum app on a bound socket until cancelled: what the MCP endpoint, the conformance
//! fixture, the demo downstream and the development issuer share.

use std::net::SocketAddr;

use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::ExampleError;

/// A socket bound but not yet served, with the token that will stop it.
pub(crate) struct Bound {
    listener: TcpListener,
    /// The address actually bound (the free port when asked for port 0).
    pub(crate) local_addr: SocketAddr,
    /// Cancelled to stop serving; hand child tokens to what must stop with the server.
    pub(crate) ct: CancellationToken,
}

impl Bound {
    /// Binds `addr`; port 0 picks a free port.
    pub(crate) async fn bind(addr: SocketAddr) -> Result<Self, ExampleError> {
        let io_error = |source| ExampleError::Io {
            addr: addr.to_string(),
            source,
        };
        let listener = TcpListener::bind(addr).await.map_err(io_error)?;
        let local_addr = listener.local_addr().map_err(io_error)?;
        Ok(Self {
            listener,
            local_addr,
            ct: CancellationToken::new(),
        })
    }

    /// Serves `app` in a task until the token is cancelled; `what` names it in the error log.
    pub(crate) fn serve(self, app: axum::Router, what: &'static str) -> Served {
        let ct = self.ct.clone();
        let task = tokio::spawn(async move {
            // Small writes go out at once: without TCP_NODELAY the last chunk of every response
            // waits for the client's delayed ACK (about 40 ms per request on a kept-alive
            // connection that reads whole responses, as curl, browsers and the TypeScript SDK do).
            let listener = self.listener.tap_io(|tcp| {
                if let Err(error) = tcp.set_nodelay(true) {
                    tracing::debug!(%error, "could not set TCP_NODELAY");
                }
            });
            if let Err(error) = axum::serve(listener, app)
                .with_graceful_shutdown(ct.cancelled_owned())
                .await
            {
                tracing::error!(%error, "{what} stopped");
            }
        });
        Served { ct: self.ct, task }
    }
}

/// A server task started by [`Bound::serve`].
#[derive(Debug)]
pub(crate) struct Served {
    ct: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Served {
    /// Stops accepting connections, lets open ones finish and waits for the task.
    pub(crate) async fn shutdown(self) {
        self.ct.cancel();
        let _ = self.task.await;
    }
}
