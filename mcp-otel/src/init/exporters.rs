//! The exporters: OTLP over HTTP/protobuf or gRPC (with TLS when the endpoint needs it), the
//! console exporter's fallback, and the batch span processor with its export counters.

use std::sync::Arc;

use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, SpanExporter};

#[cfg(feature = "otlp")]
use super::OtlpProtocol;
use super::guard::{CountingExporter, ExportCounters};
use super::{InitError, TelemetryConfig};
#[cfg(not(feature = "otlp"))]
use crate::console::ConsoleExporter;

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
pub(super) fn span_exporter(_: &TelemetryConfig) -> Result<ConsoleExporter, InitError> {
    Err(InitError::OtlpNotEnabled)
}

#[cfg(not(feature = "otlp"))]
pub(super) fn build_meter_provider(_: &TelemetryConfig) -> Result<SdkMeterProvider, InitError> {
    Err(InitError::OtlpNotEnabled)
}

#[cfg(feature = "otlp")]
pub(super) fn build_meter_provider(
    config: &TelemetryConfig,
) -> Result<SdkMeterProvider, InitError> {
    let reader = opentelemetry_sdk::metrics::PeriodicReader::builder(metric_exporter(config)?)
        .with_interval(config.metric_interval)
        .build();
    Ok(SdkMeterProvider::builder()
        .with_resource(config.resource())
        .with_reader(reader)
        .build())
}

/// The span exporter for the configured OTLP protocol.
#[cfg(feature = "otlp")]
#[derive(Debug)]
pub(super) enum OtlpSpanExporter {
    /// HTTP/protobuf, encoded without intermediate structs (see `otlp_http`).
    Http(super::otlp_http::OtlpHttpSpanExporter),
    /// gRPC through `opentelemetry-otlp`.
    #[cfg(feature = "grpc")]
    Grpc(opentelemetry_otlp::SpanExporter),
}

#[cfg(feature = "otlp")]
impl SpanExporter for OtlpSpanExporter {
    async fn export(
        &self,
        batch: Vec<opentelemetry_sdk::trace::SpanData>,
    ) -> opentelemetry_sdk::error::OTelSdkResult {
        match self {
            Self::Http(exporter) => exporter.export(batch).await,
            #[cfg(feature = "grpc")]
            Self::Grpc(exporter) => exporter.export(batch).await,
        }
    }

    fn shutdown_with_timeout(
        &self,
        timeout: std::time::Duration,
    ) -> opentelemetry_sdk::error::OTelSdkResult {
        match self {
            Self::Http(exporter) => exporter.shutdown_with_timeout(timeout),
            #[cfg(feature = "grpc")]
            Self::Grpc(exporter) => exporter.shutdown_with_timeout(timeout),
        }
    }

    fn force_flush(&self) -> opentelemetry_sdk::error::OTelSdkResult {
        match self {
            Self::Http(exporter) => exporter.force_flush(),
            #[cfg(feature = "grpc")]
            Self::Grpc(exporter) => exporter.force_flush(),
        }
    }

    fn set_resource(&mut self, resource: &opentelemetry_sdk::Resource) {
        match self {
            Self::Http(exporter) => exporter.set_resource(resource),
            #[cfg(feature = "grpc")]
            Self::Grpc(exporter) => exporter.set_resource(resource),
        }
    }
}

#[cfg(feature = "otlp")]
pub(super) fn span_exporter(config: &TelemetryConfig) -> Result<OtlpSpanExporter, InitError> {
    let certificates = crate::tls::ca_certificates(config)?;
    match config.otlp_protocol {
        OtlpProtocol::HttpProtobuf => {
            let client = crate::tls::http_client(&certificates, config.export_timeout, "traces")?;
            Ok(OtlpSpanExporter::Http(
                super::otlp_http::OtlpHttpSpanExporter::new(
                    client,
                    config.signal_url("/v1/traces"),
                    &config.otlp_headers,
                ),
            ))
        }
        #[cfg(feature = "grpc")]
        OtlpProtocol::Grpc => {
            use opentelemetry_otlp::{WithExportConfig, WithTonicConfig};
            let builder = opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_endpoint(config.signal_url(""))
                .with_timeout(config.export_timeout)
                .with_metadata(grpc_metadata(config));
            #[cfg(feature = "rustls")]
            let builder = if is_https(&config.otlp_endpoint) {
                builder.with_channel(crate::tls::grpc_channel(
                    &config.signal_url(""),
                    &certificates,
                    config.export_timeout,
                    "traces",
                )?)
            } else {
                builder
            };
            builder
                .build()
                .map(OtlpSpanExporter::Grpc)
                .map_err(otlp_error("traces"))
        }
        #[cfg(not(feature = "grpc"))]
        OtlpProtocol::Grpc => Err(InitError::GrpcNotEnabled),
    }
}

/// The configured headers as gRPC metadata (invalid names or values are left out).
#[cfg(feature = "grpc")]
fn grpc_metadata(
    config: &TelemetryConfig,
) -> opentelemetry_otlp::tonic_types::metadata::MetadataMap {
    let mut headers = http::HeaderMap::new();
    for (key, value) in &config.otlp_headers {
        if let (Ok(key), Ok(value)) = (
            http::HeaderName::from_bytes(key.as_bytes()),
            http::HeaderValue::from_str(value),
        ) {
            headers.insert(key, value);
        }
    }
    opentelemetry_otlp::tonic_types::metadata::MetadataMap::from_headers(headers)
}

#[cfg(all(feature = "grpc", feature = "rustls"))]
fn is_https(endpoint: &str) -> bool {
    endpoint
        .trim()
        .get(..8)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"))
}

#[cfg(feature = "otlp")]
fn metric_exporter(
    config: &TelemetryConfig,
) -> Result<opentelemetry_otlp::MetricExporter, InitError> {
    use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
    let certificates = crate::tls::ca_certificates(config)?;
    #[cfg(not(feature = "rustls"))]
    let _ = certificates; // always empty: ca_certificates refused any without TLS
    match config.otlp_protocol {
        OtlpProtocol::HttpProtobuf => {
            let headers: std::collections::HashMap<String, String> =
                config.otlp_headers.iter().cloned().collect();
            let builder = opentelemetry_otlp::MetricExporter::builder()
                .with_http()
                .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
                .with_endpoint(config.signal_url("/v1/metrics"))
                .with_timeout(config.export_timeout)
                .with_headers(headers);
            #[cfg(feature = "rustls")]
            let builder = builder.with_http_client(crate::tls::http_client(
                &certificates,
                config.export_timeout,
                "metrics",
            )?);
            builder.build().map_err(otlp_error("metrics"))
        }
        #[cfg(feature = "grpc")]
        OtlpProtocol::Grpc => {
            use opentelemetry_otlp::WithTonicConfig;
            let builder = opentelemetry_otlp::MetricExporter::builder()
                .with_tonic()
                .with_endpoint(config.signal_url(""))
                .with_timeout(config.export_timeout)
                .with_metadata(grpc_metadata(config));
            #[cfg(feature = "rustls")]
            let builder = if is_https(&config.otlp_endpoint) {
                builder.with_channel(crate::tls::grpc_channel(
                    &config.signal_url(""),
                    &certificates,
                    config.export_timeout,
                    "metrics",
                )?)
            } else {
                builder
            };
            builder.build().map_err(otlp_error("metrics"))
        }
        #[cfg(not(feature = "grpc"))]
        OtlpProtocol::Grpc => Err(InitError::GrpcNotEnabled),
    }
}

pub(super) fn batch<E: SpanExporter + 'static>(
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
