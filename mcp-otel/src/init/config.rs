//! What the pipeline is built from: [`TelemetryConfig`] (plain data with documented defaults)
//! and the exporter and sampler choices it holds. Reading it from the environment is in
//! `env`.

use std::path::PathBuf;
use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::Sampler;

use crate::capture::CaptureConfig;
use crate::openinference;
use crate::profile::Profile;

/// Where finished spans go.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum TraceExporter {
    /// OTLP to [`TelemetryConfig::otlp_endpoint`] (`OTEL_TRACES_EXPORTER=otlp`, the default).
    #[default]
    Otlp,
    /// One line per span on stderr, for development (`OTEL_TRACES_EXPORTER=console`).
    Console,
    /// Spans are still created (log lines keep their ids) but not exported
    /// (`OTEL_TRACES_EXPORTER=none`).
    None,
}

/// The OTLP wire protocol (`OTEL_EXPORTER_OTLP_PROTOCOL`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum OtlpProtocol {
    /// `http/protobuf`, the default: `POST {endpoint}/v1/traces` and `/v1/metrics`.
    #[default]
    HttpProtobuf,
    /// `grpc` (needs the `grpc` feature, and [`init`](crate::init()) called inside a Tokio runtime).
    Grpc,
}

/// Which traces are recorded (`OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG`).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[non_exhaustive]
pub enum SamplerConfig {
    /// `always_on`.
    AlwaysOn,
    /// `always_off`.
    AlwaysOff,
    /// `traceidratio`: this fraction of traces, by trace id.
    TraceIdRatio(f64),
    /// `parentbased_always_on`, the default: follow the caller's decision carried in
    /// `traceparent`, record root traces.
    #[default]
    ParentBasedAlwaysOn,
    /// `parentbased_always_off`.
    ParentBasedAlwaysOff,
    /// `parentbased_traceidratio`.
    ParentBasedTraceIdRatio(f64),
}

impl SamplerConfig {
    pub(super) fn to_sampler(self) -> Sampler {
        match self {
            Self::AlwaysOn => Sampler::AlwaysOn,
            Self::AlwaysOff => Sampler::AlwaysOff,
            Self::TraceIdRatio(ratio) => Sampler::TraceIdRatioBased(ratio),
            Self::ParentBasedAlwaysOn => Sampler::ParentBased(Box::new(Sampler::AlwaysOn)),
            Self::ParentBasedAlwaysOff => Sampler::ParentBased(Box::new(Sampler::AlwaysOff)),
            Self::ParentBasedTraceIdRatio(ratio) => {
                Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(ratio)))
            }
        }
    }
}

/// Everything [`init`](crate::init()) sets up. Plain data with documented defaults ([`TelemetryConfig::new`]);
/// [`from_env`](Self::from_env) reads the standard `OTEL_*` variables, the Phoenix ones and
/// this crate's `MCP_*` ones.
///
/// ```
/// use mcp_otel::{SamplerConfig, TelemetryConfig, TraceExporter};
///
/// let env = [
///     ("PHOENIX_COLLECTOR_ENDPOINT", "http://127.0.0.1:6006"),
///     ("PHOENIX_PROJECT_NAME", "firewall"),
///     ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
///     ("OTEL_TRACES_SAMPLER_ARG", "0.25"),
/// ];
/// let config = TelemetryConfig::new("my-server")
///     .merge_lookup(|key| env.iter().find(|(k, _)| *k == key).map(|(_, v)| v.to_string()))
///     .unwrap();
/// assert_eq!(config.traces, TraceExporter::Otlp);
/// assert_eq!(config.otlp_endpoint, "http://127.0.0.1:6006");
/// assert_eq!(config.project_name.as_deref(), Some("firewall"));
/// assert_eq!(config.sampler, SamplerConfig::ParentBasedTraceIdRatio(0.25));
/// assert!(!config.metrics, "Phoenix takes no OTLP metrics");
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
#[allow(clippy::struct_excessive_bools)] // plain configuration data: one switch per setting
pub struct TelemetryConfig {
    /// Set up export at all (`MCP_OTEL_ENABLED`). When `false`, [`init`](crate::init()) installs only the log
    /// output. Default `true`.
    pub enabled: bool,
    /// `service.name` (`OTEL_SERVICE_NAME`). Default: the name given to [`new`](Self::new).
    pub service_name: String,
    /// Where spans go (`OTEL_TRACES_EXPORTER`). Default [`TraceExporter::Otlp`].
    pub traces: TraceExporter,
    /// The OTLP base URL, without `/v1/traces` (`OTEL_EXPORTER_OTLP_ENDPOINT`, else
    /// `PHOENIX_COLLECTOR_ENDPOINT`). Default `http://localhost:4318`, or `http://localhost:4317`
    /// for gRPC.
    pub otlp_endpoint: String,
    /// The OTLP protocol (`OTEL_EXPORTER_OTLP_PROTOCOL`). Default `http/protobuf`.
    pub otlp_protocol: OtlpProtocol,
    /// Extra CA certificates (PEM files, each with one or more certificates) trusted for an
    /// `https://` endpoint in addition to the platform's roots (`OTEL_EXPORTER_OTLP_CERTIFICATE`
    /// adds one), for a collector with a certificate from a private CA. Read by [`init`](crate::init()); a
    /// file that cannot be read or holds no certificate is an [`InitError::Certificate`](crate::InitError::Certificate).
    /// Needs the `rustls` feature (on by default). Default none.
    ///
    /// The platform's roots are those of its certificate verifier; on Linux that is the system
    /// bundle, replaced by the files `SSL_CERT_FILE`/`SSL_CERT_DIR` name when they are set.
    pub otlp_certificates: Vec<PathBuf>,
    /// Extra request headers; `PHOENIX_API_KEY` adds `authorization: Bearer <key>`.
    /// (`OTEL_EXPORTER_OTLP_HEADERS` is read by the exporter itself.)
    pub otlp_headers: Vec<(String, String)>,
    /// The Phoenix project (`PHOENIX_PROJECT_NAME`), sent as the resource attribute
    /// `openinference.project.name`. Default none (Phoenix's `default` project).
    pub project_name: Option<String>,
    /// Which traces to record. Default [`SamplerConfig::ParentBasedAlwaysOn`].
    pub sampler: SamplerConfig,
    /// Export metrics over OTLP (`OTEL_METRICS_EXPORTER=otlp|none`). Default: on when traces go
    /// to an OTLP endpoint other than one given only by `PHOENIX_COLLECTOR_ENDPOINT` (Phoenix
    /// takes traces only).
    pub metrics: bool,
    /// The metric export interval (`OTEL_METRIC_EXPORT_INTERVAL`, milliseconds). Default 60 s.
    pub metric_interval: Duration,
    /// Bound of the span queue between requests and the exporter thread
    /// (`OTEL_BSP_MAX_QUEUE_SIZE`); when full, new spans are dropped rather than waited for.
    /// Default 2048.
    pub max_queue_size: usize,
    /// Delay between batch exports (`OTEL_BSP_SCHEDULE_DELAY`, milliseconds). Default 5 s.
    pub scheduled_delay: Duration,
    /// Timeout of one export request (`OTEL_EXPORTER_OTLP_TIMEOUT`, milliseconds). Default 10 s.
    pub export_timeout: Duration,
    /// The log filter, in `EnvFilter` syntax (`MCP_LOG_LEVEL`, e.g. `info` or
    /// `info,mcp_cache=debug`). Default `info`.
    ///
    /// Filters of targets and levels only are decided once per callsite. Directives that name
    /// spans or fields (`[cache.read]=debug`) are also supported, here and in
    /// [`span_filter`](Self::span_filter), at the price of a lock taken on every span's creation,
    /// entry, exit and close.
    pub log_filter: String,
    /// Which `tracing` spans become OpenTelemetry spans, in `EnvFilter` syntax, independent of
    /// the log filter. Default [`DEFAULT_SPAN_FILTER`](crate::profile::DEFAULT_SPAN_FILTER),
    /// `info,rmcp=off`: the request spans and library spans such as `cache.read` and
    /// `auth.check_scope`, not rmcp's session-long spans (`info` brings those back).
    pub span_filter: String,
    /// Add to every exported span where it was opened (`code.file.path`, `code.module.name`,
    /// `code.line.number`, the `tracing` `target`), the thread (`thread.id`, `thread.name`) and
    /// the time it was busy and idle (`busy_ns`, `idle_ns`) (`MCP_OTEL_SPAN_DETAILS`). That is
    /// eight attributes more per span, about doubling the bytes a request exports, and a
    /// clock read on every poll of an instrumented future. Default `false`; on in the
    /// development profile.
    pub span_details: bool,
    /// Log lines also name the spans each event happened in, with their fields
    /// (`mcp.server.request{mcp.method.name=…}:auth.check_scope{…}: …`), as `tracing`'s fmt output
    /// does (`MCP_LOG_SPAN_FIELDS`). Default `false` while spans are exported: each line starts
    /// with the `trace_id` and `span_id` of its span, which find the span and all its fields in
    /// the trace, and the log output then does not format spans at all (about a sixth of the
    /// tracing cost of a request). A log filter with directives that name spans
    /// (`warn,[cache.read]=debug`) must see the spans to know which events they enclose, so with
    /// one, span fields are logged too; so they are with [`TraceExporter::None`] or telemetry
    /// off.
    pub log_span_fields: bool,
    /// Print log lines (with `trace_id`/`span_id`) to stderr. Default `true`.
    pub log_to_stderr: bool,
    /// Input/output capture for the [`OtelLayer`](crate::OtelLayer) built by
    /// [`TelemetryGuard::layer`](crate::TelemetryGuard::layer) (`MCP_OTEL_CAPTURE_IO`, `MCP_OTEL_REDACT_FIELDS`,
    /// `MCP_OTEL_CAPTURE_MAX_BYTES`). Default off.
    pub capture: CaptureConfig,
    /// Colour the log lines with ANSI escape codes (`MCP_LOG_ANSI`; `NO_COLOR` turns it off).
    /// Default: only when stderr is a terminal, so log files and collectors get plain text.
    pub log_ansi: bool,
    /// The [`Profile`] whose defaults these are (`MCP_OTEL_PROFILE`), `None` for the built-in
    /// defaults. Set with [`profile`](Self::profile).
    pub profile: Option<Profile>,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self::new("unknown_service")
    }
}

impl TelemetryConfig {
    /// The defaults, for a service called `service_name`.
    pub fn new(service_name: impl Into<String>) -> Self {
        Self {
            enabled: true,
            service_name: service_name.into(),
            traces: TraceExporter::Otlp,
            otlp_endpoint: "http://localhost:4318".to_owned(),
            otlp_protocol: OtlpProtocol::HttpProtobuf,
            otlp_certificates: Vec::new(),
            otlp_headers: Vec::new(),
            project_name: None,
            sampler: SamplerConfig::default(),
            metrics: true,
            metric_interval: Duration::from_secs(60),
            max_queue_size: 2048,
            scheduled_delay: Duration::from_secs(5),
            export_timeout: Duration::from_secs(10),
            log_filter: "info".to_owned(),
            span_filter: crate::profile::DEFAULT_SPAN_FILTER.to_owned(),
            span_details: false,
            log_span_fields: false,
            log_to_stderr: true,
            capture: CaptureConfig::default(),
            log_ansi: std::io::IsTerminal::is_terminal(&std::io::stderr()),
            profile: None,
        }
    }

    /// Sets every field `profile` has an opinion on to the profile's value (see [`Profile`]);
    /// set fields afterwards, or use [`merge_lookup`](Self::merge_lookup), to override them.
    #[must_use]
    pub fn profile(mut self, profile: Profile) -> Self {
        profile.apply(&mut self);
        self
    }

    pub(super) fn resource(&self) -> Resource {
        let mut builder = Resource::builder().with_service_name(self.service_name.clone());
        if let Some(project) = &self.project_name {
            builder =
                builder.with_attribute(KeyValue::new(openinference::PROJECT_NAME, project.clone()));
        }
        builder.build()
    }

    #[cfg(feature = "otlp")]
    pub(super) fn signal_url(&self, path: &str) -> String {
        match self.otlp_protocol {
            OtlpProtocol::HttpProtobuf => format!("{}{path}", self.otlp_endpoint),
            OtlpProtocol::Grpc => self.otlp_endpoint.clone(),
        }
    }
}
