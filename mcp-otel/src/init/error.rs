//! [`InitError`]: why reading the configuration or building the pipeline failed.

use std::path::PathBuf;

/// Why [`TelemetryConfig::merge_lookup`](crate::TelemetryConfig::merge_lookup) or [`init`](crate::init()) failed.
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
    /// The endpoint is `https://` (or extra CA certificates are configured) but the crate was
    /// built without the `rustls` feature.
    #[error("OTLP endpoint {endpoint} needs TLS: build mcp-otel with the feature `rustls`")]
    TlsNotEnabled {
        /// The endpoint.
        endpoint: String,
    },
    /// A file of [`TelemetryConfig::otlp_certificates`](crate::TelemetryConfig::otlp_certificates) cannot be read or holds no certificate.
    #[error("OTLP CA certificate file {}: {reason}", path.display())]
    Certificate {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
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
