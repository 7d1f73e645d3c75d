#![doc = include_str!("../README.md")]

pub mod capture;
mod console;
mod handler;
mod init;
mod layer;
mod logfmt;
pub mod metrics;
pub mod openinference;
mod operation;
pub mod profile;
pub mod propagation;
pub mod semconv;
pub mod stats;

pub use capture::CaptureConfig;
pub use console::ConsoleExporter;
pub use handler::OtelHandler;
pub use init::{
    ExportStats, InitError, OtlpProtocol, SamplerConfig, TelemetryConfig, TelemetryGuard,
    TraceExporter, build, init,
};
pub use layer::{OtelLayer, OtelLayerBuilder, Transport, UserIdFn};
pub use logfmt::TraceIdFormat;
pub use profile::Profile;

/// The instrumentation scope name of this crate's meter and spans.
pub const INSTRUMENTATION_NAME: &str = "mcp-otel";

/// The span name the MCP semantic conventions prescribe: `{method} {target}` when the request has
/// a target (a tool or prompt name), otherwise just `{method}`.
pub fn span_name(method: &str, target: Option<&str>) -> String {
    match target {
        Some(target) if !target.is_empty() => format!("{method} {target}"),
        _ => method.to_owned(),
    }
}
