//! Verbosity profiles: one switch (`MCP_OTEL_PROFILE=development|production`) that sets every
//! telemetry setting to what a developer's laptop or a production deployment wants, each setting
//! still overridable on its own.

use std::time::Duration;

use crate::capture::CaptureConfig;
use crate::init::{SamplerConfig, TelemetryConfig, TraceExporter};

/// The sampling ratio of [`Profile::Production`] unless `OTEL_TRACES_SAMPLER_ARG` says
/// otherwise: one trace in ten, following the caller's decision when it sent one.
pub const PRODUCTION_SAMPLING_RATIO: f64 = 0.1;

/// The span filter without a profile and of [`Profile::Production`]: info-level spans (the
/// request spans and the spans of libraries such as mcp-cache and mcp-authz), without rmcp's own
/// spans. Those (`serve_inner`, `streamable_http_session`) last a whole session, are each a
/// trace of their own, and are entered on every poll of every request of the session.
pub const DEFAULT_SPAN_FILTER: &str = "info,rmcp=off";

/// The span filter of [`Profile::Development`]: [`DEFAULT_SPAN_FILTER`] plus the debug-level
/// spans of the cache and authorization crates.
pub const DEVELOPMENT_SPAN_FILTER: &str = "info,rmcp=off,mcp_cache=debug,mcp_authz=debug";

/// The log filter of [`Profile::Development`].
pub const DEVELOPMENT_LOG_FILTER: &str = "info,mcp_cache=debug,mcp_authz=debug,mcp_otel=debug";

/// A set of defaults for every [`TelemetryConfig`] field, chosen by
/// [`TelemetryConfig::profile`] or `MCP_OTEL_PROFILE`.
///
/// | Setting | `development` | `production` | without a profile |
/// | --- | --- | --- | --- |
/// | traces | `console`, or OTLP when an endpoint is set (a local Phoenix) | OTLP | OTLP |
/// | input/output capture | on, default redaction list, 4096 bytes | off | off |
/// | sampler | `always_on` (every trace) | `parentbased_traceidratio` 0.1 | `parentbased_always_on` |
/// | exported spans | `info,rmcp=off,mcp_cache=debug,mcp_authz=debug` | `info,rmcp=off` | `info,rmcp=off` |
/// | span details (source location, thread, busy/idle time) | on | off | off |
/// | span names and fields in log lines | on | off | off |
/// | log lines | `info` + debug for `mcp_cache`, `mcp_authz`, `mcp_otel` | `info` | `info` |
/// | batch delay | 500 ms | 5 s | 5 s |
/// | span queue | 2048, dropped when full | 2048, dropped when full | 2048 |
/// | export timeout | 10 s | 10 s | 10 s |
///
/// The profile is applied first; every variable of
/// [`merge_lookup`](TelemetryConfig::merge_lookup) (and any field you set afterwards) overrides
/// what it chose, e.g. `MCP_OTEL_PROFILE=production OTEL_TRACES_SAMPLER_ARG=0.5` samples half the
/// traces.
///
/// ```
/// use mcp_otel::{Profile, SamplerConfig, TelemetryConfig, TraceExporter};
///
/// let dev = TelemetryConfig::new("svc").profile(Profile::Development);
/// assert_eq!(dev.traces, TraceExporter::Console);
/// assert!(dev.capture.enabled);
/// assert_eq!(dev.sampler, SamplerConfig::AlwaysOn);
///
/// let env = [("MCP_OTEL_PROFILE", "production"), ("OTEL_TRACES_SAMPLER_ARG", "0.5")];
/// let prod = TelemetryConfig::new("svc")
///     .merge_lookup(|key| env.iter().find(|(k, _)| *k == key).map(|(_, v)| v.to_string()))
///     .unwrap();
/// assert!(!prod.capture.enabled);
/// assert_eq!(prod.sampler, SamplerConfig::ParentBasedTraceIdRatio(0.5));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Profile {
    /// Everything visible: console (or a local Phoenix), capture on with redaction, every trace,
    /// debug-level spans of the cache and authorization.
    Development,
    /// Capture off, a parent-based sampling ratio, info level, bounded queues.
    Production,
}

impl Profile {
    /// The profile named `value` (`development`/`dev` or `production`/`prod`, any case).
    pub fn parse(value: &str) -> Option<Self> {
        match value.trim().to_ascii_lowercase().as_str() {
            "development" | "dev" => Some(Self::Development),
            "production" | "prod" => Some(Self::Production),
            _ => None,
        }
    }

    /// The profile's name as `MCP_OTEL_PROFILE` spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Development => "development",
            Self::Production => "production",
        }
    }

    /// Sets every field this profile has an opinion on (see the table above).
    pub(crate) fn apply(self, config: &mut TelemetryConfig) {
        config.profile = Some(self);
        config.max_queue_size = 2048;
        config.export_timeout = Duration::from_secs(10);
        match self {
            Self::Development => {
                config.traces = TraceExporter::Console;
                config.capture = CaptureConfig::enabled();
                config.sampler = SamplerConfig::AlwaysOn;
                DEVELOPMENT_SPAN_FILTER.clone_into(&mut config.span_filter);
                config.span_details = true;
                config.log_span_fields = true;
                DEVELOPMENT_LOG_FILTER.clone_into(&mut config.log_filter);
                config.scheduled_delay = Duration::from_millis(500);
            }
            Self::Production => {
                config.traces = TraceExporter::Otlp;
                config.capture = CaptureConfig::default();
                config.sampler = SamplerConfig::ParentBasedTraceIdRatio(PRODUCTION_SAMPLING_RATIO);
                DEFAULT_SPAN_FILTER.clone_into(&mut config.span_filter);
                config.span_details = false;
                config.log_span_fields = false;
                "info".clone_into(&mut config.log_filter);
                config.scheduled_delay = Duration::from_secs(5);
            }
        }
    }
}

impl std::fmt::Display for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Profile {
    type Err = crate::InitError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Self::parse(value).ok_or_else(|| crate::InitError::InvalidEnv {
            variable: "MCP_OTEL_PROFILE",
            value: value.to_owned(),
            expected: "development or production",
        })
    }
}
