#![doc = include_str!("../README.md")]
// The README links the pipeline's items, which exist only with the `pipeline` feature.
#![cfg_attr(not(feature = "pipeline"), allow(rustdoc::broken_intra_doc_links))]

pub mod capture;
#[cfg(feature = "pipeline")]
mod console;
mod handler;
#[cfg(feature = "pipeline")]
mod init;
mod layer;
#[cfg(feature = "pipeline")]
mod logfmt;
pub mod metrics;
pub mod openinference;
mod operation;
#[cfg(feature = "pipeline")]
pub mod profile;
pub mod propagation;
pub mod semconv;
pub mod stats;
#[cfg(feature = "pipeline")]
mod tls;

pub use capture::CaptureConfig;
#[cfg(feature = "pipeline")]
pub use console::ConsoleExporter;
#[doc(hidden)]
pub use handler::FORWARDED_METHODS;
pub use handler::OtelHandler;
#[cfg(feature = "pipeline")]
pub use init::{
    ExportStats, InitError, OtlpProtocol, SamplerConfig, TelemetryConfig, TelemetryGuard,
    TraceExporter, build, build_with_log_writer, init,
};
pub use layer::{OtelLayer, OtelLayerBuilder, Transport, UserIdFn};
#[cfg(feature = "pipeline")]
pub use logfmt::TraceIdFormat;
#[cfg(feature = "pipeline")]
pub use profile::Profile;

/// The instrumentation scope name of this crate's meter and spans.
pub const INSTRUMENTATION_NAME: &str = "mcp-otel";

/// The span name the MCP semantic conventions prescribe: `{method} {target}` when the request has
/// a target (a tool or prompt name), otherwise just `{method}`.
pub fn span_name(method: &str, target: Option<&str>) -> String {
    match target {
        Some(target) if !target.is_empty() => {
            let mut name = String::with_capacity(method.len() + 1 + target.len());
            name.push_str(method);
            name.push(' ');
            name.push_str(target);
            name
        }
        _ => method.to_owned(),
    }
}
