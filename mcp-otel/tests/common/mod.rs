//! Shared by the integration tests: a small MCP server, an in-memory OpenTelemetry pipeline
//! installed as the thread's `tracing` subscriber, and helpers to read spans and metric points.
#![allow(dead_code, unreachable_pub)]

use mcp_otel::{OtelLayer, OtelLayerBuilder};
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry::{KeyValue, Value};
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData, ResourceMetrics};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::{Json, Parameters};
use rmcp::model::{
    CallToolRequestParams, CallToolResult, ContentBlock, ListResourcesResult,
    PaginatedRequestParams, ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult,
    Resource, ResourceContents, ServerCapabilities, ServerConfig,
};
use rmcp::service::{RequestContext, RoleClient, RunningService};
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt, tool, tool_handler, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json_};
use tracing::subscriber::DefaultGuard;
use tracing_subscriber::layer::SubscriberExt;

/// Arguments of `lookup`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct LookupArgs {
    /// The application.
    pub app: String,
    /// A secret the capture tests expect to be redacted.
    #[serde(default)]
    pub password: Option<String>,
}

/// Result of `lookup`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct LookupResult {
    /// The application.
    pub app: String,
    /// Its allowed port.
    pub port: u16,
}

/// A server with a succeeding tool, a failing tool, a tool that opens nested `tracing` spans and
/// one resource.
#[derive(Clone)]
pub struct TestServer {
    tool_router: ToolRouter<Self>,
}

impl Default for TestServer {
    fn default() -> Self {
        Self {
            tool_router: Self::tool_router(),
        }
    }
}

#[tool_router]
impl TestServer {
    #[tool(description = "Look up an application's port")]
    async fn lookup(
        &self,
        Parameters(LookupArgs { app, .. }): Parameters<LookupArgs>,
    ) -> Result<Json<LookupResult>, CallToolResult> {
        Ok(Json(LookupResult { app, port: 443 }))
    }

    #[tool(description = "Always fails with a tool error")]
    async fn broken(&self) -> Result<Json<LookupResult>, CallToolResult> {
        Err(CallToolResult::error(vec![ContentBlock::text(
            "the downstream API is unavailable",
        )]))
    }

    #[tool(description = "Opens library-style tracing spans and logs inside the request")]
    async fn nested(&self) -> Result<Json<LookupResult>, CallToolResult> {
        tracing::info_span!("cache.read", cache.hit = true, cache.age_seconds = 3.5).in_scope(
            || {
                tracing::info!(app = "app-alpha", "served from cache");
            },
        );
        tokio::task::yield_now().await;
        tracing::info_span!(
            "auth.check_scope",
            enduser.id = "alice",
            auth.decision = "allow"
        )
        .in_scope(|| tracing::debug!("scope granted"));
        Ok(Json(LookupResult {
            app: "app-alpha".to_owned(),
            port: 443,
        }))
    }
}

/// The one resource `TestServer` serves.
pub const NOTE_URI: &str = "memo://notes/welcome";

#[tool_handler(router = self.tool_router)]
impl ServerHandler for TestServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .build(),
        )
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        Ok(ListResourcesResult::with_all_items(vec![Resource::new(
            NOTE_URI, "welcome",
        )]))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        if request.uri == NOTE_URI {
            Ok(ReadResourceResult::new(vec![ResourceContents::text("hello", NOTE_URI)]).into())
        } else {
            Err(ErrorData::resource_not_found(
                format!("no resource {}", request.uri),
                None,
            ))
        }
    }
}

/// An in-memory OpenTelemetry pipeline (spans exported synchronously on end, metrics read on
/// demand) installed as this thread's `tracing` subscriber. Use with the current-thread runtime
/// (`#[tokio::test]`), so every task of the test sees the subscriber.
pub struct Telemetry {
    pub spans: InMemorySpanExporter,
    pub metrics: InMemoryMetricExporter,
    pub tracer_provider: SdkTracerProvider,
    pub meter_provider: SdkMeterProvider,
    _guard: DefaultGuard,
}

impl Telemetry {
    pub fn install() -> Self {
        let spans = InMemorySpanExporter::default();
        let tracer_provider = SdkTracerProvider::builder()
            .with_simple_exporter(spans.clone())
            .build();
        let metrics = InMemoryMetricExporter::default();
        let meter_provider = SdkMeterProvider::builder()
            .with_reader(PeriodicReader::builder(metrics.clone()).build())
            .build();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_subscriber::filter::LevelFilter::DEBUG)
            .with(tracing_opentelemetry::layer().with_tracer(tracer_provider.tracer("test")));
        let guard = tracing::subscriber::set_default(subscriber);
        Self {
            spans,
            metrics,
            tracer_provider,
            meter_provider,
            _guard: guard,
        }
    }

    /// An `OtelLayer` builder recording into this pipeline's meter.
    pub fn layer(&self) -> OtelLayerBuilder {
        OtelLayer::builder().meter(self.meter_provider.meter("mcp-otel-test"))
    }

    pub fn finished_spans(&self) -> Vec<SpanData> {
        let _ = self.tracer_provider.force_flush();
        self.spans.get_finished_spans().expect("in-memory spans")
    }

    /// The server span named `name` (exactly one expected).
    pub fn span(&self, name: &str) -> SpanData {
        let spans = self.finished_spans();
        let matching: Vec<_> = spans.iter().filter(|s| s.name == name).cloned().collect();
        assert_eq!(
            matching.len(),
            1,
            "expected one span named {name:?}, got: {:?}",
            spans.iter().map(|s| s.name.clone()).collect::<Vec<_>>()
        );
        matching.into_iter().next().expect("one span")
    }

    pub fn collect_metrics(&self) -> Vec<ResourceMetrics> {
        self.meter_provider.force_flush().expect("metric flush");
        self.metrics
            .get_finished_metrics()
            .expect("in-memory metrics")
    }
}

/// The value of attribute `key`, if the span has it.
pub fn attr(span: &SpanData, key: &str) -> Option<Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.clone())
}

/// The string value of attribute `key` (panics with the span's attributes when absent).
pub fn attr_str(span: &SpanData, key: &str) -> String {
    match attr(span, key) {
        Some(value) => value.as_str().into_owned(),
        None => panic!(
            "span {:?} has no attribute {key}; it has {:?}",
            span.name, span.attributes
        ),
    }
}

/// One histogram data point: its attributes, count, sum and bucket boundaries.
#[derive(Debug, Clone)]
pub struct HistogramPoint {
    pub attributes: Vec<KeyValue>,
    pub count: u64,
    pub sum: f64,
    pub bounds: Vec<f64>,
}

impl HistogramPoint {
    pub fn attr(&self, key: &str) -> Option<String> {
        self.attributes
            .iter()
            .find(|kv| kv.key.as_str() == key)
            .map(|kv| kv.value.as_str().into_owned())
    }
}

/// Every point of the f64 histogram `name` in the latest export (cumulative temporality).
pub fn histogram_points(metrics: &[ResourceMetrics], name: &str) -> Vec<HistogramPoint> {
    let mut points = Vec::new();
    if let Some(latest) = metrics.last() {
        for scope in latest.scope_metrics() {
            for metric in scope.metrics().filter(|m| m.name() == name) {
                if let AggregatedMetrics::F64(MetricData::Histogram(histogram)) = metric.data() {
                    for point in histogram.data_points() {
                        points.push(HistogramPoint {
                            attributes: point.attributes().cloned().collect(),
                            count: point.count(),
                            sum: point.sum(),
                            bounds: point.bounds().collect(),
                        });
                    }
                }
            }
        }
    }
    points
}

/// Every point of the u64 sum (counter) `name` in the latest export: attributes and value.
pub fn counter_points(metrics: &[ResourceMetrics], name: &str) -> Vec<(Vec<KeyValue>, u64)> {
    let mut points = Vec::new();
    if let Some(latest) = metrics.last() {
        for scope in latest.scope_metrics() {
            for metric in scope.metrics().filter(|m| m.name() == name) {
                if let AggregatedMetrics::U64(MetricData::Sum(sum)) = metric.data() {
                    for point in sum.data_points() {
                        points.push((point.attributes().cloned().collect(), point.value()));
                    }
                }
            }
        }
    }
    points
}

/// Every point of the gauge `name` (u64 or f64, as f64) in the latest export.
pub fn gauge_points(metrics: &[ResourceMetrics], name: &str) -> Vec<(Vec<KeyValue>, f64)> {
    let mut points = Vec::new();
    if let Some(latest) = metrics.last() {
        for scope in latest.scope_metrics() {
            for metric in scope.metrics().filter(|m| m.name() == name) {
                match metric.data() {
                    AggregatedMetrics::U64(MetricData::Gauge(gauge)) => {
                        for point in gauge.data_points() {
                            #[allow(clippy::cast_precision_loss)]
                            points.push((
                                point.attributes().cloned().collect(),
                                point.value() as f64,
                            ));
                        }
                    }
                    AggregatedMetrics::F64(MetricData::Gauge(gauge)) => {
                        for point in gauge.data_points() {
                            points.push((point.attributes().cloned().collect(), point.value()));
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    points
}

/// Whether `attributes` contain `key` = `value`.
pub fn has(attributes: &[KeyValue], key: &str, value: &str) -> bool {
    attributes
        .iter()
        .any(|kv| kv.key.as_str() == key && kv.value.as_str() == value)
}

/// A running in-process session: `OtelHandler<TestServer>` served over a duplex pipe.
pub struct Session {
    pub client: RunningService<RoleClient, ()>,
    server: tokio::task::JoinHandle<()>,
}

impl Session {
    /// Serves `layer.layer(TestServer)` and connects a client (which sends `initialize`).
    pub async fn start(layer: &OtelLayer) -> Self {
        let (server_io, client_io) = tokio::io::duplex(64 * 1024);
        let handler = layer.layer(TestServer::default());
        let server = tokio::spawn(async move {
            if let Ok(running) = handler.serve(server_io).await {
                let _ = running.waiting().await;
            }
        });
        let client = ().serve(client_io).await.expect("client initialize");
        Self { client, server }
    }

    /// Closes the client and waits until the server task has ended (dropping the handler,
    /// which records the session duration).
    pub async fn close(self) {
        self.client.cancel().await.expect("client cancel");
        self.server.await.expect("server task");
    }
}

/// `tools/call` params for `name` with object `args`.
pub fn call(name: &'static str, args: Json_) -> CallToolRequestParams {
    let map = match args {
        Json_::Object(map) => map,
        _ => Map::new(),
    };
    CallToolRequestParams::new(name).with_arguments(map)
}

/// One `nested` call (a request span with a `cache.read` and an `auth.check_scope` inside) in a
/// session served through `guard`'s layer, with `dispatch` as this thread's subscriber.
#[cfg(feature = "pipeline")]
pub async fn nested_call_through(guard: &mcp_otel::TelemetryGuard, dispatch: &tracing::Dispatch) {
    let _default = tracing::dispatcher::set_default(dispatch);
    tracing::callsite::rebuild_interest_cache();
    let session = Session::start(&guard.layer().without_metrics().build()).await;
    session
        .client
        .call_tool(call("nested", serde_json::json!({})))
        .await
        .expect("nested");
    session.close().await;
}
