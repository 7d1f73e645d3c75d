//! [`TelemetryGuard`], which keeps the pipeline alive and flushes it at shutdown, and the export
//! counters behind [`ExportStats`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanExporter};

use crate::capture::CaptureConfig;
use crate::layer::OtelLayerBuilder;

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
pub(super) struct ExportCounters {
    exported: AtomicU64,
    failed: AtomicU64,
    /// Whether the latest export failed, so a failing collector is logged once when it starts
    /// failing and once when it recovers, not once per batch.
    failing: AtomicBool,
}

/// Wraps a span exporter and counts what it exports and what fails.
#[derive(Debug)]
pub(super) struct CountingExporter<E> {
    pub(super) inner: E,
    pub(super) counters: Arc<ExportCounters>,
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
    pub(super) tracer_provider: Option<SdkTracerProvider>,
    pub(super) meter_provider: Option<SdkMeterProvider>,
    pub(super) counters: Arc<ExportCounters>,
    pub(super) capture: CaptureConfig,
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
