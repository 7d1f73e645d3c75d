//! Serving an axum app on a bound socket until shut down: what the MCP endpoint, the demo
//! downstream and the development issuer share.
//!
//! Every connection is served by hyper's HTTP/1 connection directly (not `axum::serve`) so the
//! listener can bound what a client holds:
//!
//! - a request header must arrive completely within [`ConnectionLimits::header_read_timeout`]
//!   (counted from the accept, or from the first byte of the next request on a kept-alive
//!   connection), else the connection is closed: half-sent headers cannot pin descriptors;
//! - a kept-alive connection with no request in flight is closed after
//!   [`ConnectionLimits::keep_alive_timeout`];
//! - at most [`ConnectionLimits::max_connections`] connections are open; at the limit the
//!   listener stops accepting (new connections wait in the kernel's listen backlog) and logs it
//!   once, until a connection closes.
//!
//! Shutdown drains: the listener closes at once (new connections are refused), idle connections
//! close, requests in flight finish within the grace period, then the MCP sessions end (the
//! token in [`Bound::ct`]) and what is left is closed.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::{Body, HttpBody};
use http::{Method, Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt as _;

use crate::ExampleError;

/// How long a request header may take, by default.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long an idle kept-alive connection stays open, by default.
pub const DEFAULT_KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long shutdown lets requests in flight finish, by default (below the 30 s an orchestrator
/// such as Kubernetes waits between `SIGTERM` and `SIGKILL`).
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(25);

/// Limits on the connections of one listener. Plain data; [`Default`] gives the documented
/// defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// A request header must arrive completely within this long, counted from the accept or, on
    /// a kept-alive connection, from the first byte of the next request; a connection that
    /// does not manage it is closed. [`DEFAULT_HEADER_READ_TIMEOUT`] (10 s) by default.
    pub header_read_timeout: Duration,
    /// A kept-alive connection with no request in flight is closed after this long (a response
    /// that is still streaming, such as an MCP event stream, is a request in flight).
    /// [`DEFAULT_KEEP_ALIVE_TIMEOUT`] (60 s) by default.
    pub keep_alive_timeout: Duration,
    /// At most this many connections are open at once; at the limit the listener stops
    /// accepting until one closes, so new connections wait in the kernel's listen backlog
    /// instead of failing the process with "too many open files". By default
    /// [`default_max_connections`].
    pub max_connections: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            keep_alive_timeout: DEFAULT_KEEP_ALIVE_TIMEOUT,
            max_connections: default_max_connections(),
        }
    }
}

/// The default connection bound: the process's open-file limit (the soft `RLIMIT_NOFILE`) less
/// an eighth of it (at least 128) kept for everything else the server opens (connections to
/// the downstream, identity provider and collector, files, the listeners themselves); 896
/// when the limit cannot be read.
pub fn default_max_connections() -> usize {
    let limit = open_file_limit().unwrap_or(1024);
    let reserve = (limit / 8).max(128);
    usize::try_from(limit.saturating_sub(reserve))
        .unwrap_or(usize::MAX)
        .max(1)
}

#[cfg(unix)]
fn open_file_limit() -> Option<u64> {
    rustix::process::getrlimit(rustix::process::Resource::Nofile).current
}

#[cfg(not(unix))]
fn open_file_limit() -> Option<u64> {
    None
}

/// A socket bound but not yet served, with the tokens that will stop it.
pub(crate) struct Bound {
    listener: TcpListener,
    /// The address actually bound (the free port when asked for port 0).
    pub(crate) local_addr: SocketAddr,
    /// Cancelled when shutdown has let the requests in flight finish: hand child tokens to what
    /// must end with the server (the MCP sessions).
    pub(crate) ct: CancellationToken,
    /// Cancelled when shutdown begins (the listener closes then).
    pub(crate) draining: CancellationToken,
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
            draining: CancellationToken::new(),
        })
    }

    /// Serves `app` with the default limits and grace period; `what` names it in the logs.
    pub(crate) fn serve(self, app: axum::Router, what: &'static str) -> Served {
        self.serve_with(
            app,
            what,
            ConnectionLimits::default(),
            DEFAULT_SHUTDOWN_GRACE,
        )
    }

    /// Serves `app` in a task until [`Served::shutdown`], with `limits` on its connections and
    /// `grace` for the requests in flight at shutdown.
    pub(crate) fn serve_with(
        self,
        app: axum::Router,
        what: &'static str,
        limits: ConnectionLimits,
        grace: Duration,
    ) -> Served {
        let draining = self.draining.clone();
        let sessions = self.ct.clone();
        let task = tokio::spawn(accept_loop(Listener {
            socket: self.listener,
            app,
            what,
            limits,
            grace,
            draining: draining.clone(),
            sessions,
        }));
        Served { draining, task }
    }
}

/// A server task started by [`Bound::serve_with`].
#[derive(Debug)]
pub(crate) struct Served {
    draining: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Served {
    /// Stops accepting connections, lets the requests in flight finish (within the grace
    /// period), ends the sessions and waits until every connection is closed.
    pub(crate) async fn shutdown(self) {
        self.draining.cancel();
        let _ = self.task.await;
    }
}

struct Listener {
    socket: TcpListener,
    app: axum::Router,
    what: &'static str,
    limits: ConnectionLimits,
    grace: Duration,
    draining: CancellationToken,
    sessions: CancellationToken,
}

/// Requests in flight other than `GET` (MCP calls; a `GET` is an event stream that lasts as
/// long as its session, or a probe).
#[derive(Default)]
struct Calls(AtomicUsize);

async fn accept_loop(this: Listener) {
    let Listener {
        socket: listener,
        app,
        what,
        limits,
        grace,
        draining,
        sessions,
    } = this;
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let tracker = TaskTracker::new();
    let calls = Arc::new(Calls::default());
    let force = CancellationToken::new();
    loop {
        let permit = if let Ok(permit) = permits.clone().try_acquire_owned() {
            permit
        } else {
            tracing::warn!(
                listener = what,
                max_connections = limits.max_connections,
                "connection limit reached: {} connections open; new connections wait in the \
                 listen backlog until one closes",
                limits.max_connections
            );
            let acquired = tokio::select! {
                permit = permits.clone().acquire_owned() => permit,
                () = draining.cancelled() => break,
            };
            let Ok(permit) = acquired else { break };
            tracing::info!(
                listener = what,
                "below the connection limit again, accepting"
            );
            permit
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = draining.cancelled() => break,
        };
        let (tcp, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of descriptors (EMFILE/ENFILE) or a connection reset before it was
                // accepted: wait a moment instead of spinning, keep serving.
                tracing::warn!(listener = what, %error, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // Small writes go out at once: without TCP_NODELAY the last chunk of every response
        // waits for the client's delayed ACK (about 40 ms per request on a kept-alive
        // connection that reads whole responses, as curl, browsers and the TypeScript SDK do).
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::debug!(%error, "could not set TCP_NODELAY");
        }
        tracker.spawn(connection(Connection {
            tcp,
            peer,
            app: app.clone(),
            limits,
            calls: calls.clone(),
            draining: draining.clone(),
            force: force.clone(),
            _permit: permit,
        }));
    }
    // Stop accepting: from here new connections are refused.
    drop(listener);
    tracker.close();
    let deadline = tokio::time::Instant::now() + grace;
    let open_calls = calls.0.load(Ordering::Acquire);
    if open_calls > 0 {
        tracing::info!(
            listener = what,
            requests = open_calls,
            grace_seconds = grace.as_secs_f64(),
            "shutting down: waiting for the requests in flight"
        );
    }
    while calls.0.load(Ordering::Acquire) > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let unfinished = calls.0.load(Ordering::Acquire);
    if unfinished > 0 {
        tracing::warn!(
            listener = what,
            requests = unfinished,
            "shutdown grace period over: closing the requests still in flight"
        );
    }
    // End the sessions (their event streams end with them), then close what is left.
    sessions.cancel();
    let linger = deadline
        .saturating_duration_since(tokio::time::Instant::now())
        .min(Duration::from_secs(1));
    if tokio::time::timeout(linger, tracker.wait()).await.is_err() {
        force.cancel();
        tracker.wait().await;
    }
}

struct Connection {
    tcp: TcpStream,
    peer: SocketAddr,
    app: axum::Router,
    limits: ConnectionLimits,
    calls: Arc<Calls>,
    draining: CancellationToken,
    force: CancellationToken,
    _permit: tokio::sync::OwnedSemaphorePermit,
}

async fn connection(this: Connection) {
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Watched {
        inner: this.tcp,
        activity: activity.clone(),
    });
    let service = Tracked {
        app: this.app,
        activity: activity.clone(),
        calls: this.calls,
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    // The header timeout is this module's (see `Activity`): hyper's would also count the idle
    // time between requests.
    builder.header_read_timeout(None).keep_alive(true);
    let conn = builder.serve_connection(io, service);
    let mut conn = std::pin::pin!(conn);
    let mut draining = false;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(peer = %this.peer, %error, "connection ended with an error");
                }
                break;
            }
            reason = activity.expired(this.limits) => {
                tracing::debug!(peer = %this.peer, "closing connection: {reason}");
                break;
            }
            () = this.draining.cancelled(), if !draining => {
                conn.as_mut().graceful_shutdown();
                draining = true;
            }
            () = this.force.cancelled() => break,
        }
    }
}

const HEAD: u8 = 0;
const IDLE: u8 = 1;
const BUSY: u8 = 2;

/// What one connection is doing, for its timeouts: reading a request header (`HEAD`, from the
/// accept or the first byte after an idle period), idle between requests (`IDLE`, from the end
/// of the last response), or serving requests (`BUSY`, no timeout).
struct Activity {
    phase: AtomicU8,
    /// Milliseconds since `origin` when the phase began.
    since: AtomicU64,
    in_flight: AtomicUsize,
    origin: Instant,
    /// Wakes the timeout watcher when the phase changes.
    changed: tokio::sync::Notify,
}

impl Activity {
    fn new() -> Self {
        Self {
            phase: AtomicU8::new(HEAD),
            since: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            origin: Instant::now(),
            changed: tokio::sync::Notify::new(),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn enter(&self, phase: u8) {
        self.since.store(self.now(), Ordering::Release);
        self.phase.store(phase, Ordering::Release);
        self.changed.notify_one();
    }

    /// Bytes arrived: an idle connection starts reading a header.
    fn on_read(&self) {
        if self
            .phase
            .compare_exchange(IDLE, HEAD, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            self.since.store(self.now(), Ordering::Release);
            self.changed.notify_one();
        }
    }

    fn request_started(&self) {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.phase.store(BUSY, Ordering::Release);
        self.changed.notify_one();
    }

    fn request_ended(&self) {
        if self.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.enter(IDLE);
        }
    }

    /// Resolves when the connection has been reading a header or idle for too long.
    async fn expired(&self, limits: ConnectionLimits) -> &'static str {
        loop {
            let changed = self.changed.notified();
            let phase = self.phase.load(Ordering::Acquire);
            let (limit, reason) = match phase {
                HEAD => (
                    limits.header_read_timeout,
                    "the request header did not arrive within the header read timeout",
                ),
                IDLE => (
                    limits.keep_alive_timeout,
                    "idle for longer than the keep-alive timeout",
                ),
                _ => {
                    changed.await;
                    continue;
                }
            };
            let since = self.since.load(Ordering::Acquire);
            let elapsed = Duration::from_millis(self.now().saturating_sub(since));
            if elapsed >= limit {
                // Only a phase that is still current counts (a request may just have begun).
                if self.phase.load(Ordering::Acquire) == phase
                    && self.since.load(Ordering::Acquire) == since
                {
                    return reason;
                }
                continue;
            }
            tokio::select! {
                () = tokio::time::sleep(limit.saturating_sub(elapsed)) => {}
                () = changed => {}
            }
        }
    }
}

/// The socket, noting when bytes arrive.
struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let result = Pin::new(&mut this.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.activity.on_read();
        }
        result
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// The app as hyper's service, marking each request in flight until its response body is
/// done (or dropped).
#[derive(Clone)]
struct Tracked {
    app: axum::Router,
    activity: Arc<Activity>,
    calls: Arc<Calls>,
}

impl hyper::service::Service<Request<Incoming>> for Tracked {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let guard = InFlight::new(
            self.activity.clone(),
            (request.method() != Method::GET).then(|| self.calls.clone()),
        );
        let app = self.app.clone();
        Box::pin(async move {
            let response = app.oneshot(request.map(Body::new)).await?;
            Ok(response.map(|body| {
                Body::new(Guarded {
                    body,
                    _guard: guard,
                })
            }))
        })
    }
}

/// One request in flight, ended when dropped.
struct InFlight {
    activity: Arc<Activity>,
    calls: Option<Arc<Calls>>,
}

impl InFlight {
    fn new(activity: Arc<Activity>, calls: Option<Arc<Calls>>) -> Self {
        activity.request_started();
        if let Some(calls) = &calls {
            calls.0.fetch_add(1, Ordering::AcqRel);
        }
        Self { activity, calls }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some(calls) = &self.calls {
            calls.0.fetch_sub(1, Ordering::AcqRel);
        }
        self.activity.request_ended();
    }
}

/// A response body that keeps its request in flight until it is done.
struct Guarded {
    body: Body,
    _guard: InFlight,
}

impl HttpBody for Guarded {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}
