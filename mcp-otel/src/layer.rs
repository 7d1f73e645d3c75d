//! [`OtelLayer`]: the configuration shared by every [`OtelHandler`] it wraps (one per session).

use std::fmt;
use std::sync::Arc;

use opentelemetry::metrics::Meter;
use rmcp::ServerHandler;
use rmcp::service::{RequestContext, RoleServer};
use tower_layer::Layer;

use crate::capture::CaptureConfig;
use crate::handler::OtelHandler;
use crate::metrics::ServerMetrics;

/// Where requests reach the server when the request itself does not say: HTTP requests carry
/// `http::request::Parts` in their extensions and are always recorded as `tcp`/`http`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Transport {
    /// stdio: `network.transport = pipe`. The default.
    #[default]
    Pipe,
    /// A TCP transport other than Streamable HTTP: `network.transport = tcp`.
    Tcp,
    /// Do not record `network.transport` (e.g. in-process duplex streams).
    Unrecorded,
}

/// Derives the `user.id` (OpenInference) of a request, e.g. from authenticated claims an
/// authorization layer stored in the request's extensions.
pub type UserIdFn = dyn Fn(&RequestContext<RoleServer>) -> Option<String> + Send + Sync;

pub(crate) struct Shared {
    pub(crate) capture: CaptureConfig,
    pub(crate) transport: Transport,
    pub(crate) resource_uri_in_name: bool,
    pub(crate) caller_errors_are_errors: bool,
    pub(crate) metrics: Option<ServerMetrics>,
    pub(crate) user_id: Option<Arc<UserIdFn>>,
}

/// Builds [`OtelHandler`]s that share one configuration and one set of metric instruments.
///
/// `OtelLayer` is a [`tower_layer::Layer`] for any rmcp [`ServerHandler`], so it composes with
/// other MCP-level layers in a `tower::ServiceBuilder` (the first `.layer` is the outermost):
///
/// ```
/// use mcp_otel::{CaptureConfig, OtelLayer};
/// # #[derive(Clone)] struct MyServer;
/// # impl rmcp::ServerHandler for MyServer {}
///
/// let otel = OtelLayer::builder()
///     .capture(CaptureConfig::enabled().redact(["ssn"]))
///     .build();
/// // `.layer(authz)` and other decorators go after it, inside the tracing.
/// let handler = tower::ServiceBuilder::new().layer(otel).service(MyServer);
/// // Streamable HTTP clones the stack once per session: each clone is a fresh handler.
/// let factory = move || Ok::<_, std::io::Error>(handler.clone());
/// # let _ = factory();
/// ```
///
/// Cheap to clone; [`layer`](Self::layer) (the inherent method, or [`Layer::layer`]) wraps one
/// handler. A layer is in session mode by default: a handler that answers `initialize` records
/// `mcp.server.session.duration` when it is dropped. For rmcp's stateless Streamable HTTP mode
/// (`legacy_session_mode = false`, one handler per request, no session), build the layer with
/// [`OtelLayerBuilder::stateless`] or turn an existing one with [`OtelLayer::stateless`]: its
/// handlers start no session clock.
#[derive(Clone)]
pub struct OtelLayer {
    pub(crate) shared: Arc<Shared>,
    /// Whether its handlers time sessions (`false`: stateless mode).
    sessions: bool,
}

impl fmt::Debug for OtelLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtelLayer")
            .field("capture", &self.shared.capture)
            .field("transport", &self.shared.transport)
            .field("resource_uri_in_name", &self.shared.resource_uri_in_name)
            .field(
                "caller_errors_are_errors",
                &self.shared.caller_errors_are_errors,
            )
            .field("metrics", &self.shared.metrics.is_some())
            .field("user_id", &self.shared.user_id.is_some())
            .field("stateless", &!self.sessions)
            .finish()
    }
}

impl Default for OtelLayer {
    fn default() -> Self {
        Self::builder().build()
    }
}

impl OtelLayer {
    /// A layer with the defaults of [`OtelLayerBuilder`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts a builder.
    pub fn builder() -> OtelLayerBuilder {
        OtelLayerBuilder::default()
    }

    /// Wraps `inner`: the handler of one session (legacy protocol) or one connection (stdio).
    /// In session mode (the default) an `initialize` it answers starts
    /// `mcp.server.session.duration`, recorded when the handler is dropped; a layer built
    /// [`stateless`](OtelLayerBuilder::stateless) gives handlers that start no session clock.
    /// The same as [`Layer::layer`].
    pub fn layer<H: ServerHandler>(&self, inner: H) -> OtelHandler<H> {
        OtelHandler::from_parts(inner, self.shared.clone(), self.sessions)
    }

    /// Wraps `inner` for one request of rmcp's stateless Streamable HTTP mode
    /// (`legacy_session_mode = false`), where each request gets its own handler and there is
    /// no session: like [`layer`](Self::layer), but an `initialize` starts no session clock,
    /// so no `mcp.server.session.duration` is recorded for sessions that do not exist, whatever
    /// the mode of this layer. (Requests of the 2026-07-28 revision never `initialize`; either
    /// method serves them.) The same as `self.stateless().layer(inner)`.
    pub fn layer_stateless<H: ServerHandler>(&self, inner: H) -> OtelHandler<H> {
        OtelHandler::from_parts(inner, self.shared.clone(), false)
    }

    /// This layer in stateless mode: the same configuration and instruments, and handlers that
    /// start no session clock (see [`layer_stateless`](Self::layer_stateless)).
    #[must_use]
    pub fn stateless(&self) -> Self {
        Self {
            shared: self.shared.clone(),
            sessions: false,
        }
    }

    /// Whether this layer is in stateless mode.
    pub fn is_stateless(&self) -> bool {
        !self.sessions
    }
}

/// Wraps a handler as [`OtelLayer::layer`] does, honouring the layer's mode (session or
/// stateless).
impl<H: ServerHandler> Layer<H> for OtelLayer {
    type Service = OtelHandler<H>;

    fn layer(&self, inner: H) -> Self::Service {
        OtelLayer::layer(self, inner)
    }
}

/// Where an [`OtelLayer`] records its metrics.
#[derive(Default)]
enum MeterChoice {
    /// The global meter provider's meter, looked up when the layer is built.
    #[default]
    Global,
    /// No metrics.
    Off,
    /// This meter.
    Custom(Meter),
}

/// Configures an [`OtelLayer`]. Defaults: capture off ([`CaptureConfig::default`]),
/// [`Transport::Pipe`], resource URI not in span names, caller errors (`-32602` …) not marked as
/// errors, metrics recorded through the global meter provider (`opentelemetry::global`), no
/// `user.id`, session mode.
#[must_use]
#[derive(Default)]
pub struct OtelLayerBuilder {
    capture: CaptureConfig,
    transport: Transport,
    resource_uri_in_name: bool,
    caller_errors_are_errors: bool,
    meter: MeterChoice,
    user_id: Option<Arc<UserIdFn>>,
    stateless: bool,
}

impl fmt::Debug for OtelLayerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtelLayerBuilder")
            .field("capture", &self.capture)
            .field("transport", &self.transport)
            .field("stateless", &self.stateless)
            .finish_non_exhaustive()
    }
}

impl OtelLayerBuilder {
    /// Input/output capture (off by default).
    pub fn capture(mut self, capture: CaptureConfig) -> Self {
        self.capture = capture;
        self
    }

    /// The transport recorded for requests that are not HTTP requests.
    pub fn transport(mut self, transport: Transport) -> Self {
        self.transport = transport;
        self
    }

    /// Opt in to `resources/read {uri}` span names (high cardinality; off by default as the
    /// conventions advise).
    pub fn resource_uri_in_span_name(mut self, on: bool) -> Self {
        self.resource_uri_in_name = on;
        self
    }

    /// Also mark JSON-RPC error codes outside the conventions' server-error set (for example
    /// `-32602` for an unknown tool or bad arguments) as errors: `error.type` and span status
    /// `ERROR`. Off by default, following the conventions, which count only `-32603` and
    /// `-32000..=-32099` as server-side errors (see [`semconv::is_server_error_code`]).
    /// `rpc.response.status_code` is recorded for every error code either way.
    ///
    /// [`semconv::is_server_error_code`]: crate::semconv::is_server_error_code
    pub fn caller_errors_are_errors(mut self, on: bool) -> Self {
        self.caller_errors_are_errors = on;
        self
    }

    /// Record metrics with this meter instead of the global meter provider's.
    pub fn meter(mut self, meter: Meter) -> Self {
        self.meter = MeterChoice::Custom(meter);
        self
    }

    /// Record no metrics.
    pub fn without_metrics(mut self) -> Self {
        self.meter = MeterChoice::Off;
        self
    }

    /// Derive `user.id` for each request.
    pub fn user_id<F>(mut self, f: F) -> Self
    where
        F: Fn(&RequestContext<RoleServer>) -> Option<String> + Send + Sync + 'static,
    {
        self.user_id = Some(Arc::new(f));
        self
    }

    /// Stateless mode (off by default), for rmcp's stateless Streamable HTTP mode
    /// (`legacy_session_mode = false`): the layer's handlers start no session clock, so no
    /// `mcp.server.session.duration` is recorded. See [`OtelLayer::stateless`].
    pub fn stateless(mut self, on: bool) -> Self {
        self.stateless = on;
        self
    }

    /// Builds the layer (creating the metric instruments once).
    pub fn build(self) -> OtelLayer {
        let meter = match self.meter {
            MeterChoice::Global => Some(opentelemetry::global::meter(crate::INSTRUMENTATION_NAME)),
            MeterChoice::Off => None,
            MeterChoice::Custom(meter) => Some(meter),
        };
        OtelLayer {
            shared: Arc::new(Shared {
                capture: self.capture,
                transport: self.transport,
                resource_uri_in_name: self.resource_uri_in_name,
                caller_errors_are_errors: self.caller_errors_are_errors,
                metrics: meter.as_ref().map(ServerMetrics::new),
                user_id: self.user_id,
            }),
            sessions: !self.stateless,
        }
    }
}
