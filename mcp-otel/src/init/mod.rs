//! One-call set-up of tracing, metrics and logs: [`TelemetryConfig`] (plain data, or read from
//! the environment), [`init`] / [`build`], and the [`TelemetryGuard`] that flushes on shutdown.
//!
//! By concern: `config` (the configuration and its defaults), `env` (reading it from the
//! environment), `error`, `exporters` (OTLP over HTTP or gRPC, console, batching; TLS is in
//! `crate::tls`), `otlp_http` (the OTLP/HTTP protobuf span exporter), `guard` (shutdown and export counters) and `subscriber` (the `tracing`
//! subscriber with its filters and log format, and the global installation).

mod config;
mod env;
mod error;
mod exporters;
mod guard;
#[cfg(feature = "otlp")]
mod otlp_http;
mod subscriber;

pub use config::{OtlpProtocol, SamplerConfig, TelemetryConfig, TraceExporter};
pub use error::InitError;
pub use guard::{ExportStats, TelemetryGuard};
pub use subscriber::{build, build_with_log_writer, init};
