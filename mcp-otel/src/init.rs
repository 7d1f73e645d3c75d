//! One-call set-up of tracing, metrics and logs: [`TelemetryConfig`] (plain data, or read from
//! the environment), [`init`] / [`build`], and the [`TelemetryGuard`] that flushes on shutdown.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry::{KeyValue, global};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracerProvider, SpanData, SpanExporter,
};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer as _;
use tracing_subscriber::layer::SubscriberExt;

use crate::capture::CaptureConfig;
use crate::console::ConsoleExporter;
use crate::layer::OtelLayerBuilder;
use crate::logfmt::TraceIdFormat;
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
    /// `grpc` (needs the `grpc` feature, and [`init`] called inside a Tokio runtime).
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
    fn to_sampler(self) -> Sampler {
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

/// Everything [`init`] sets up. Plain data with documented defaults ([`TelemetryConfig::new`]);
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
    /// Set up export at all (`MCP_OTEL_ENABLED`). When `false`, [`init`] installs only the log
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
    pub log_filter: String,
    /// Which `tracing` spans become OpenTelemetry spans, in `EnvFilter` syntax, independent of
    /// the log filter. Default `info` (the request spans and library spans such as
    /// `cache.read`, `auth.check_scope`).
    pub span_filter: String,
    /// Print log lines (with `trace_id`/`span_id`) to stderr. Default `true`.
    pub log_to_stderr: bool,
    /// Input/output capture for the [`OtelLayer`](crate::OtelLayer) built by
    /// [`TelemetryGuard::layer`] (`MCP_OTEL_CAPTURE_IO`, `MCP_OTEL_REDACT_FIELDS`,
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

/// Why [`TelemetryConfig::merge_lookup`] or [`init`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InitError {
    /// An environment variable has a value this crate does not understand.
    #[error("environment variable {variable}={value:?} is invalid: expected {expected}")]
    InvalidEnv {
        /// The variable.
        variable: &'static str,
        /// Its value.
        value: String,
        /// What would have been accepted.
        expected: &'static str,
    },
    /// OTLP export was asked for but the crate was built without the `otlp` feature.
    #[error("OTLP export needs the mcp-otel feature `otlp`")]
    OtlpNotEnabled,
    /// gRPC export was asked for but the crate was built without the `grpc` feature.
    #[error("OTLP over gRPC needs the mcp-otel feature `grpc`")]
    GrpcNotEnabled,
    /// The OTLP exporter could not be built.
    #[error("building the OTLP {signal} exporter failed")]
    Exporter {
        /// `traces` or `metrics`.
        signal: &'static str,
        /// The exporter's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The log filter does not parse.
    #[error("invalid log filter {filter:?}")]
    LogFilter {
        /// The filter.
        filter: String,
        /// The parser's error.
        #[source]
        source: tracing_subscriber::filter::ParseError,
    },
    /// A global `tracing` subscriber was already installed.
    #[error("a global tracing subscriber is already installed")]
    SubscriberAlreadySet(#[source] tracing::subscriber::SetGlobalDefaultError),
}

fn parse_bool(variable: &'static str, value: &str) -> Result<bool, InitError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(InitError::InvalidEnv {
            variable,
            value: value.to_owned(),
            expected: "true or false",
        }),
    }
}

fn parse_millis(variable: &'static str, value: &str) -> Result<Duration, InitError> {
    value
        .trim()
        .parse::<u64>()
        .map(Duration::from_millis)
        .map_err(|_| InitError::InvalidEnv {
            variable,
            value: value.to_owned(),
            expected: "a whole number of milliseconds",
        })
}

fn parse_usize(variable: &'static str, value: &str) -> Result<usize, InitError> {
    value
        .trim()
        .parse::<usize>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| InitError::InvalidEnv {
            variable,
            value: value.to_owned(),
            expected: "a positive whole number",
        })
}

fn parse_ratio(value: Option<&str>) -> Result<f64, InitError> {
    let Some(value) = value else {
        return Ok(1.0);
    };
    match value.trim().parse::<f64>() {
        Ok(ratio) if (0.0..=1.0).contains(&ratio) => Ok(ratio),
        _ => Err(InitError::InvalidEnv {
            variable: "OTEL_TRACES_SAMPLER_ARG",
            value: value.to_owned(),
            expected: "a number from 0 to 1",
        }),
    }
}

/// `http://host:6006/v1/traces` and `http://host:6006/` both become `http://host:6006`.
fn base_endpoint(endpoint: &str) -> String {
    let endpoint = endpoint.trim().trim_end_matches('/');
    endpoint
        .strip_suffix("/v1/traces")
        .unwrap_or(endpoint)
        .to_owned()
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
            otlp_headers: Vec::new(),
            project_name: None,
            sampler: SamplerConfig::default(),
            metrics: true,
            metric_interval: Duration::from_secs(60),
            max_queue_size: 2048,
            scheduled_delay: Duration::from_secs(5),
            export_timeout: Duration::from_secs(10),
            log_filter: "info".to_owned(),
            span_filter: "info".to_owned(),
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

    /// [`new`](Self::new) with the process environment applied
    /// ([`merge_lookup`](Self::merge_lookup) over `std::env::var`).
    pub fn from_env(service_name: impl Into<String>) -> Result<Self, InitError> {
        Self::new(service_name).merge_lookup(|key| std::env::var(key).ok())
    }

    /// Applies the variables that `lookup` returns, overriding the fields they name:
    ///
    /// | Variable | Field |
    /// | --- | --- |
    /// | `MCP_OTEL_PROFILE` (`development`, `production`), applied first | every field, see [`Profile`] |
    /// | `MCP_OTEL_ENABLED` | `enabled` |
    /// | `OTEL_SERVICE_NAME` | `service_name` |
    /// | `OTEL_TRACES_EXPORTER` (`otlp`, `console`, `none`) | `traces` |
    /// | `OTEL_EXPORTER_OTLP_ENDPOINT`, else `PHOENIX_COLLECTOR_ENDPOINT` | `otlp_endpoint` |
    /// | `OTEL_EXPORTER_OTLP_PROTOCOL` (`http/protobuf`, `grpc`) | `otlp_protocol` |
    /// | `PHOENIX_API_KEY` | `otlp_headers` (`authorization: Bearer …`) |
    /// | `PHOENIX_PROJECT_NAME` | `project_name` |
    /// | `OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG` (alone: the ratio of a ratio sampler) | `sampler` |
    /// | `OTEL_METRICS_EXPORTER` (`otlp`, `none`) | `metrics` |
    /// | `OTEL_METRIC_EXPORT_INTERVAL` | `metric_interval` |
    /// | `OTEL_BSP_MAX_QUEUE_SIZE`, `OTEL_BSP_SCHEDULE_DELAY` | `max_queue_size`, `scheduled_delay` |
    /// | `OTEL_EXPORTER_OTLP_TIMEOUT` | `export_timeout` |
    /// | `MCP_LOG_LEVEL` | `log_filter` |
    /// | `MCP_OTEL_SPAN_FILTER` | `span_filter` |
    /// | `MCP_LOG_ANSI` (`true`, `false`), else `NO_COLOR` (any value: off) | `log_ansi` |
    /// | `MCP_OTEL_CAPTURE_IO`, `MCP_OTEL_REDACT_FIELDS` (comma-separated, added), `MCP_OTEL_CAPTURE_MAX_BYTES` | `capture` |
    ///
    /// With the development profile, an OTLP endpoint variable (a local Phoenix) switches traces
    /// from the console to OTLP unless `OTEL_TRACES_EXPORTER` says otherwise.
    ///
    /// Empty values count as unset. Values that do not parse are errors, not silently ignored.
    #[allow(clippy::too_many_lines)] // one arm per variable of the table above
    pub fn merge_lookup<F>(mut self, lookup: F) -> Result<Self, InitError>
    where
        F: Fn(&str) -> Option<String>,
    {
        let get = |key: &str| lookup(key).filter(|v| !v.trim().is_empty());

        if let Some(v) = get("MCP_OTEL_PROFILE") {
            self = self.profile(v.parse()?);
        }
        if let Some(v) = get("MCP_OTEL_ENABLED") {
            self.enabled = parse_bool("MCP_OTEL_ENABLED", &v)?;
        }
        if let Some(v) = get("OTEL_SERVICE_NAME") {
            v.trim().clone_into(&mut self.service_name);
        }
        if let Some(v) = get("OTEL_TRACES_EXPORTER") {
            self.traces = match v.trim().to_ascii_lowercase().as_str() {
                "otlp" => TraceExporter::Otlp,
                "console" | "stdout" => TraceExporter::Console,
                "none" => TraceExporter::None,
                _ => {
                    return Err(InitError::InvalidEnv {
                        variable: "OTEL_TRACES_EXPORTER",
                        value: v,
                        expected: "otlp, console or none",
                    });
                }
            };
        }
        if let Some(v) = get("OTEL_EXPORTER_OTLP_PROTOCOL") {
            self.otlp_protocol = match v.trim() {
                "http/protobuf" => OtlpProtocol::HttpProtobuf,
                "grpc" => {
                    "http://localhost:4317".clone_into(&mut self.otlp_endpoint);
                    OtlpProtocol::Grpc
                }
                _ => {
                    return Err(InitError::InvalidEnv {
                        variable: "OTEL_EXPORTER_OTLP_PROTOCOL",
                        value: v,
                        expected: "http/protobuf or grpc",
                    });
                }
            };
        }
        let otel_endpoint = get("OTEL_EXPORTER_OTLP_ENDPOINT");
        let phoenix_endpoint = get("PHOENIX_COLLECTOR_ENDPOINT");
        let phoenix_only = otel_endpoint.is_none() && phoenix_endpoint.is_some();
        if let Some(v) = otel_endpoint.or(phoenix_endpoint) {
            self.otlp_endpoint = base_endpoint(&v);
            if self.profile == Some(Profile::Development) && get("OTEL_TRACES_EXPORTER").is_none() {
                self.traces = TraceExporter::Otlp;
            }
        }
        if let Some(key) = get("PHOENIX_API_KEY") {
            self.otlp_headers
                .push(("authorization".to_owned(), format!("Bearer {}", key.trim())));
        }
        if let Some(v) = get("PHOENIX_PROJECT_NAME") {
            self.project_name = Some(v.trim().to_owned());
        }
        let sampler_arg = get("OTEL_TRACES_SAMPLER_ARG");
        if let Some(v) = get("OTEL_TRACES_SAMPLER") {
            let arg = sampler_arg.as_deref();
            self.sampler = match v.trim().to_ascii_lowercase().as_str() {
                "always_on" => SamplerConfig::AlwaysOn,
                "always_off" => SamplerConfig::AlwaysOff,
                "traceidratio" => SamplerConfig::TraceIdRatio(parse_ratio(arg)?),
                "parentbased_always_on" => SamplerConfig::ParentBasedAlwaysOn,
                "parentbased_always_off" => SamplerConfig::ParentBasedAlwaysOff,
                "parentbased_traceidratio" => {
                    SamplerConfig::ParentBasedTraceIdRatio(parse_ratio(arg)?)
                }
                _ => {
                    return Err(InitError::InvalidEnv {
                        variable: "OTEL_TRACES_SAMPLER",
                        value: v,
                        expected: "always_on, always_off, traceidratio, parentbased_always_on, \
                                   parentbased_always_off or parentbased_traceidratio",
                    });
                }
            };
        } else if let Some(arg) = sampler_arg.as_deref() {
            // The argument alone tunes the ratio of the sampler already chosen (a profile's).
            match &mut self.sampler {
                SamplerConfig::TraceIdRatio(ratio)
                | SamplerConfig::ParentBasedTraceIdRatio(ratio) => {
                    *ratio = parse_ratio(Some(arg))?;
                }
                _ => {}
            }
        }
        self.metrics = match get("OTEL_METRICS_EXPORTER") {
            Some(v) => match v.trim().to_ascii_lowercase().as_str() {
                "otlp" => true,
                "none" => false,
                _ => {
                    return Err(InitError::InvalidEnv {
                        variable: "OTEL_METRICS_EXPORTER",
                        value: v,
                        expected: "otlp or none",
                    });
                }
            },
            None => self.metrics && self.traces == TraceExporter::Otlp && !phoenix_only,
        };
        if let Some(v) = get("OTEL_METRIC_EXPORT_INTERVAL") {
            self.metric_interval = parse_millis("OTEL_METRIC_EXPORT_INTERVAL", &v)?;
        }
        if let Some(v) = get("OTEL_BSP_MAX_QUEUE_SIZE") {
            self.max_queue_size = parse_usize("OTEL_BSP_MAX_QUEUE_SIZE", &v)?;
        }
        if let Some(v) = get("OTEL_BSP_SCHEDULE_DELAY") {
            self.scheduled_delay = parse_millis("OTEL_BSP_SCHEDULE_DELAY", &v)?;
        }
        if let Some(v) = get("OTEL_EXPORTER_OTLP_TIMEOUT") {
            self.export_timeout = parse_millis("OTEL_EXPORTER_OTLP_TIMEOUT", &v)?;
        }
        if let Some(v) = get("MCP_LOG_LEVEL") {
            v.trim().clone_into(&mut self.log_filter);
        }
        if let Some(v) = get("MCP_OTEL_SPAN_FILTER") {
            v.trim().clone_into(&mut self.span_filter);
        }
        if let Some(v) = get("MCP_LOG_ANSI") {
            self.log_ansi = parse_bool("MCP_LOG_ANSI", &v)?;
        } else if get("NO_COLOR").is_some() {
            self.log_ansi = false;
        }
        if let Some(v) = get("MCP_OTEL_CAPTURE_IO") {
            self.capture.enabled = parse_bool("MCP_OTEL_CAPTURE_IO", &v)?;
        }
        if let Some(v) = get("MCP_OTEL_REDACT_FIELDS") {
            self.capture.redact_fields.extend(
                v.split(',')
                    .map(str::trim)
                    .filter(|f| !f.is_empty())
                    .map(str::to_owned),
            );
        }
        if let Some(v) = get("MCP_OTEL_CAPTURE_MAX_BYTES") {
            self.capture.max_bytes = parse_usize("MCP_OTEL_CAPTURE_MAX_BYTES", &v)?;
        }
        Ok(self)
    }

    fn resource(&self) -> Resource {
        let mut builder = Resource::builder().with_service_name(self.service_name.clone());
        if let Some(project) = &self.project_name {
            builder =
                builder.with_attribute(KeyValue::new(openinference::PROJECT_NAME, project.clone()));
        }
        builder.build()
    }

    #[cfg(feature = "otlp")]
    fn signal_url(&self, path: &str) -> String {
        match self.otlp_protocol {
            OtlpProtocol::HttpProtobuf => format!("{}{path}", self.otlp_endpoint),
            OtlpProtocol::Grpc => self.otlp_endpoint.clone(),
        }
    }
}

/// Counts of spans handed to the exporter, for the degradation guarantee: with the collector
/// down, export failures are counted here and nothing reaches the request path.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExportStats {
    /// Spans the exporter accepted.
    pub exported_spans: u64,
    /// Spans in batches whose export failed (collector down, timeout, rejected).
    pub failed_spans: u64,
}

#[derive(Debug, Default)]
struct ExportCounters {
    exported: AtomicU64,
    failed: AtomicU64,
    /// Whether the latest export failed, so a failing collector is logged once when it starts
    /// failing and once when it recovers, not once per batch.
    failing: AtomicBool,
}

/// Wraps a span exporter and counts what it exports and what fails.
#[derive(Debug)]
struct CountingExporter<E> {
    inner: E,
    counters: Arc<ExportCounters>,
}

impl<E: SpanExporter> SpanExporter for CountingExporter<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let n = batch.len() as u64;
        let result = self.inner.export(batch).await;
        let counters = &self.counters;
        match &result {
            Ok(()) => {
                counters.exported.fetch_add(n, Ordering::Relaxed);
                if counters.failing.swap(false, Ordering::Relaxed) {
                    tracing::info!(
                        failed_spans = counters.failed.load(Ordering::Relaxed),
                        "span export recovered"
                    );
                }
            }
            Err(error) => {
                let failed = counters.failed.fetch_add(n, Ordering::Relaxed) + n;
                // Logged from the exporter's thread, outside any span: nothing is exported
                // about it, and requests never wait for it.
                if !counters.failing.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        %error,
                        failed_spans = failed,
                        "span export failed; spans are dropped until the collector answers \
                         (counted in TelemetryGuard::stats)"
                    );
                }
            }
        }
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

/// Keeps the telemetry pipeline alive; flushes and shuts it down when dropped (or on
/// [`shutdown`](Self::shutdown)), so spans of the last requests are not lost at exit.
#[must_use = "dropping the guard shuts telemetry down"]
pub struct TelemetryGuard {
    tracer_provider: Option<SdkTracerProvider>,
    meter_provider: Option<SdkMeterProvider>,
    counters: Arc<ExportCounters>,
    capture: CaptureConfig,
}

impl std::fmt::Debug for TelemetryGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelemetryGuard")
            .field("traces", &self.tracer_provider.is_some())
            .field("metrics", &self.meter_provider.is_some())
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl TelemetryGuard {
    /// What the exporter has done so far.
    pub fn stats(&self) -> ExportStats {
        ExportStats {
            exported_spans: self.counters.exported.load(Ordering::Relaxed),
            failed_spans: self.counters.failed.load(Ordering::Relaxed),
        }
    }

    /// The tracer provider, when export is enabled.
    pub fn tracer_provider(&self) -> Option<&SdkTracerProvider> {
        self.tracer_provider.as_ref()
    }

    /// The meter provider, when metric export is enabled.
    pub fn meter_provider(&self) -> Option<&SdkMeterProvider> {
        self.meter_provider.as_ref()
    }

    /// An [`OtelLayer`](crate::OtelLayer) builder with this configuration's capture settings
    /// and meter (metrics off when metric export is).
    pub fn layer(&self) -> OtelLayerBuilder {
        let builder = crate::OtelLayer::builder().capture(self.capture.clone());
        match &self.meter_provider {
            Some(provider) => {
                use opentelemetry::metrics::MeterProvider as _;
                builder.meter(provider.meter(crate::INSTRUMENTATION_NAME))
            }
            None => builder.without_metrics(),
        }
    }

    /// Exports what is queued now (blocks until the exporter answers or times out).
    pub fn flush(&self) {
        if let Some(provider) = &self.tracer_provider {
            let _ = provider.force_flush();
        }
        if let Some(provider) = &self.meter_provider {
            let _ = provider.force_flush();
        }
    }

    /// Flushes and shuts the pipeline down now.
    pub fn shutdown(mut self) {
        self.shutdown_inner();
    }

    fn shutdown_inner(&mut self) {
        if let Some(provider) = self.tracer_provider.take() {
            let _ = provider.force_flush();
            let _ = provider.shutdown();
        }
        if let Some(provider) = self.meter_provider.take() {
            let _ = provider.force_flush();
            let _ = provider.shutdown();
        }
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        self.shutdown_inner();
    }
}

#[cfg(feature = "otlp")]
fn otlp_error(
    signal: &'static str,
) -> impl FnOnce(opentelemetry_otlp::ExporterBuildError) -> InitError {
    move |error| InitError::Exporter {
        signal,
        source: Box::new(error),
    }
}

#[cfg(not(feature = "otlp"))]
fn span_exporter(_: &TelemetryConfig) -> Result<ConsoleExporter, InitError> {
    Err(InitError::OtlpNotEnabled)
}

#[cfg(not(feature = "otlp"))]
fn build_meter_provider(_: &TelemetryConfig) -> Result<SdkMeterProvider, InitError> {
    Err(InitError::OtlpNotEnabled)
}

#[cfg(feature = "otlp")]
fn build_meter_provider(config: &TelemetryConfig) -> Result<SdkMeterProvider, InitError> {
    let reader = opentelemetry_sdk::metrics::PeriodicReader::builder(metric_exporter(config)?)
        .with_interval(config.metric_interval)
        .build();
    Ok(SdkMeterProvider::builder()
        .with_resource(config.resource())
        .with_reader(reader)
        .build())
}

#[cfg(feature = "otlp")]
fn span_exporter(config: &TelemetryConfig) -> Result<opentelemetry_otlp::SpanExporter, InitError> {
    use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
    match config.otlp_protocol {
        OtlpProtocol::HttpProtobuf => {
            let headers: std::collections::HashMap<String, String> =
                config.otlp_headers.iter().cloned().collect();
            opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
                .with_endpoint(config.signal_url("/v1/traces"))
                .with_timeout(config.export_timeout)
                .with_headers(headers)
                .build()
                .map_err(otlp_error("traces"))
        }
        #[cfg(feature = "grpc")]
        OtlpProtocol::Grpc => {
            use opentelemetry_otlp::WithTonicConfig;
            let mut headers = http::HeaderMap::new();
            for (key, value) in &config.otlp_headers {
                if let (Ok(key), Ok(value)) = (
                    http::HeaderName::from_bytes(key.as_bytes()),
                    http::HeaderValue::from_str(value),
                ) {
                    headers.insert(key, value);
                }
            }
            let metadata =
                opentelemetry_otlp::tonic_types::metadata::MetadataMap::from_headers(headers);
            opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_endpoint(config.signal_url(""))
                .with_timeout(config.export_timeout)
                .with_metadata(metadata)
                .build()
                .map_err(otlp_error("traces"))
        }
        #[cfg(not(feature = "grpc"))]
        OtlpProtocol::Grpc => Err(InitError::GrpcNotEnabled),
    }
}

#[cfg(feature = "otlp")]
fn metric_exporter(
    config: &TelemetryConfig,
) -> Result<opentelemetry_otlp::MetricExporter, InitError> {
    use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
    match config.otlp_protocol {
        OtlpProtocol::HttpProtobuf => {
            let headers: std::collections::HashMap<String, String> =
                config.otlp_headers.iter().cloned().collect();
            opentelemetry_otlp::MetricExporter::builder()
                .with_http()
                .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
                .with_endpoint(config.signal_url("/v1/metrics"))
                .with_timeout(config.export_timeout)
                .with_headers(headers)
                .build()
                .map_err(otlp_error("metrics"))
        }
        #[cfg(feature = "grpc")]
        OtlpProtocol::Grpc => opentelemetry_otlp::MetricExporter::builder()
            .with_tonic()
            .with_endpoint(config.signal_url(""))
            .with_timeout(config.export_timeout)
            .build()
            .map_err(otlp_error("metrics")),
        #[cfg(not(feature = "grpc"))]
        OtlpProtocol::Grpc => Err(InitError::GrpcNotEnabled),
    }
}

fn batch<E: SpanExporter + 'static>(
    config: &TelemetryConfig,
    exporter: E,
    counters: &Arc<ExportCounters>,
) -> BatchSpanProcessor {
    let batch_config = BatchConfigBuilder::default()
        .with_max_queue_size(config.max_queue_size)
        .with_max_export_batch_size(config.max_queue_size.min(512))
        .with_scheduled_delay(config.scheduled_delay)
        .build();
    BatchSpanProcessor::builder(CountingExporter {
        inner: exporter,
        counters: counters.clone(),
    })
    .with_batch_config(batch_config)
    .build()
}

/// Builds the pipeline `config` describes without installing anything globally: the guard and a
/// [`tracing::Dispatch`] (registry + `EnvFilter` + fmt with trace ids + OpenTelemetry layer)
/// that you install yourself, e.g. with `tracing::subscriber::set_default` in a test.
///
/// A pitfall of scoped dispatchers: `tracing` caches each callsite's interest when the callsite is
/// first hit. While this is the only dispatcher ever created, a span first hit on a thread
/// *without* it (another test's server, a runtime thread that did not call `set_default`) is
/// cached as disabled everywhere, and its spans are silently missing from the export. Keep a
/// second dispatcher alive (`tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default())`)
/// so `tracing` asks every dispatcher instead, and install the returned one on every thread that
/// runs traced work (e.g. `tokio::runtime::Builder::on_thread_start`).
///
/// Export happens on the batch processor's own thread: requests only enqueue finished spans
/// (dropped when the queue of [`max_queue_size`](TelemetryConfig::max_queue_size) is full), so a
/// slow or unreachable collector never blocks them.
pub fn build(config: &TelemetryConfig) -> Result<(TelemetryGuard, tracing::Dispatch), InitError> {
    let filter = EnvFilter::try_new(&config.log_filter).map_err(|source| InitError::LogFilter {
        filter: config.log_filter.clone(),
        source,
    })?;
    let counters = Arc::new(ExportCounters::default());
    let mut tracer_provider = None;
    let mut meter_provider = None;
    if config.enabled {
        let mut builder = SdkTracerProvider::builder()
            .with_sampler(config.sampler.to_sampler())
            .with_resource(config.resource());
        builder = match config.traces {
            TraceExporter::Otlp => {
                builder.with_span_processor(batch(config, span_exporter(config)?, &counters))
            }
            TraceExporter::Console => {
                builder.with_span_processor(batch(config, ConsoleExporter, &counters))
            }
            TraceExporter::None => builder,
        };
        tracer_provider = Some(builder.build());
        if config.metrics && config.traces == TraceExporter::Otlp {
            meter_provider = Some(build_meter_provider(config)?);
        }
    }

    let format = TraceIdFormat::new(tracing_subscriber::fmt::format());
    let fmt_layer = config.log_to_stderr.then(|| {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(config.log_ansi)
            .event_format(format.clone())
    });
    let otel_layer = tracer_provider.as_ref().map(|provider| {
        tracing_opentelemetry::layer().with_tracer(provider.tracer(crate::INSTRUMENTATION_NAME))
    });
    // Each layer has its own filter: a quiet log level (`MCP_LOG_LEVEL=warn`) must not switch
    // off the request spans that go to the collector.
    let span_filter =
        EnvFilter::try_new(&config.span_filter).map_err(|source| InitError::LogFilter {
            filter: config.span_filter.clone(),
            source,
        })?;
    let subscriber = tracing_subscriber::registry()
        .with(fmt_layer.with_filter(filter))
        .with(otel_layer.with_filter(span_filter));
    let dispatch = tracing::Dispatch::new(subscriber);
    format.bind(&dispatch);
    Ok((
        TelemetryGuard {
            tracer_provider,
            meter_provider,
            counters,
            capture: config.capture.clone(),
        },
        dispatch,
    ))
}

/// Builds the pipeline ([`build`]) and installs it process-wide: the global `tracing`
/// subscriber, the global tracer and meter providers, and the W3C trace-context + baggage
/// propagator. Keep the guard until shutdown.
///
/// ```no_run
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # #[derive(Clone)] struct MyServer;
/// # impl rmcp::ServerHandler for MyServer {}
/// let config = mcp_otel::TelemetryConfig::from_env("my-mcp-server")?;
/// let telemetry = mcp_otel::init(&config)?;
/// let otel = telemetry.layer().build();
/// let handler = otel.layer(MyServer);
/// // … serve `handler`; at exit `telemetry` flushes the last spans.
/// # let _ = handler;
/// # Ok(()) }
/// ```
pub fn init(config: &TelemetryConfig) -> Result<TelemetryGuard, InitError> {
    let (guard, dispatch) = build(config)?;
    tracing::dispatcher::set_global_default(dispatch).map_err(InitError::SubscriberAlreadySet)?;
    if let Some(provider) = &guard.tracer_provider {
        global::set_tracer_provider(provider.clone());
    }
    if let Some(provider) = &guard.meter_provider {
        global::set_meter_provider(provider.clone());
    }
    global::set_text_map_propagator(opentelemetry::propagation::TextMapCompositePropagator::new(
        vec![
            Box::new(TraceContextPropagator::new()),
            Box::new(BaggagePropagator::new()),
        ],
    ));
    Ok(guard)
}
