//! The `tracing` subscriber of the pipeline (registry, filters, log lines with trace ids, the
//! OpenTelemetry layer) built from the exporters, and its process-wide installation.

use std::sync::Arc;

use opentelemetry::global;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::level_filters::LevelFilter;
use tracing::{Metadata, Subscriber, span, subscriber::Interest};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer as _;
use tracing_subscriber::filter::{FilterExt as _, Targets};
use tracing_subscriber::layer::{Context, Filter, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

use super::exporters::{batch, build_meter_provider, span_exporter};
use super::guard::ExportCounters;
use super::{InitError, TelemetryConfig, TelemetryGuard, TraceExporter};
use crate::console::ConsoleExporter;
use crate::logfmt::TraceIdFormat;

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
    build_with_log_writer(config, std::io::stderr)
}

/// [`build`] with the log lines (when [`log_to_stderr`](TelemetryConfig::log_to_stderr) is on)
/// written to `writer` instead of stderr: a file, a non-blocking writer such as
/// `tracing-appender`'s, or a buffer in a test.
///
/// ```
/// let config = mcp_otel::TelemetryConfig::new("my-server");
/// let (guard, dispatch) = mcp_otel::build_with_log_writer(&config, std::io::stdout).unwrap();
/// tracing::dispatcher::with_default(&dispatch, || tracing::info!("to stdout"));
/// guard.shutdown();
/// ```
pub fn build_with_log_writer<W>(
    config: &TelemetryConfig,
    writer: W,
) -> Result<(TelemetryGuard, tracing::Dispatch), InitError>
where
    W: for<'writer> tracing_subscriber::fmt::MakeWriter<'writer> + Send + Sync + 'static,
{
    let filter = Directives::parse(&config.log_filter)?;
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
            .with_writer(writer)
            .with_ansi(config.log_ansi)
            .event_format(format.clone())
    });
    // Source location, thread and busy/idle-time attributes are eight more per span (about half
    // of a request's exported bytes); they are off unless asked for.
    let details = config.span_details;
    let otel_layer = tracer_provider.as_ref().map(|provider| {
        tracing_opentelemetry::layer()
            .with_location(details)
            .with_threads(details)
            .with_tracked_inactivity(details)
            .with_target(details)
            .with_tracer(provider.tracer(crate::INSTRUMENTATION_NAME))
    });
    // Each layer has its own filter: a quiet log level (`MCP_LOG_LEVEL=warn`) must not switch
    // off the request spans that go to the collector.
    let span_filter = Directives::parse(&config.span_filter)?;
    // With spans exported, a log line's `trace_id`/`span_id` finds the span and all its fields,
    // so the log output does not format spans at all (about a sixth of the tracing cost of a
    // request) unless asked to; without export, the span names and fields are the only context.
    // A log filter with span directives (`[cache.read]=debug`) must see the spans to know
    // which events they enclose, so with one the lines name their spans too.
    let spans_in_logs = config.log_span_fields
        || otel_layer.is_none()
        || config.traces == TraceExporter::None
        || !filter.is_static();
    let log_filter = filter.and(tracing_subscriber::filter::filter_fn(move |meta| {
        spans_in_logs || meta.is_event()
    }));
    let subscriber = tracing_subscriber::registry()
        .with(fmt_layer.with_filter(log_filter))
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

/// A filter in `EnvFilter` syntax. When every directive names only targets and levels
/// (`info,rmcp=off`), it is a [`Targets`] filter, which decides from a span's callsite alone;
/// `EnvFilter` also takes a lock on every span's creation, entry, exit and close to track the
/// spans its span- and field-directives (`[request{user=alice}]`) could match, which with two
/// filters (logs and spans) came to several lock round-trips per poll of a traced request. Any
/// directive with `[` keeps the full `EnvFilter`. Both enable exactly the same callsites for
/// target-and-level directives: they share the directive parser and matcher.
#[derive(Debug)]
enum Directives {
    Static(Targets),
    Env(Box<EnvFilter>),
}

impl Directives {
    fn parse(spec: &str) -> Result<Self, InitError> {
        let error = |source| InitError::LogFilter {
            filter: spec.to_owned(),
            source,
        };
        // Parsed by `EnvFilter` first, so both kinds accept and reject the same strings with the
        // same messages.
        let env = EnvFilter::try_new(spec).map_err(error)?;
        let directives: Vec<&str> = spec.split(',').filter(|d| !d.is_empty()).collect();
        if directives.is_empty() || directives.iter().any(|d| d.contains('[')) {
            return Ok(Self::Env(Box::new(env)));
        }
        match directives.join(",").parse::<Targets>() {
            Ok(targets) => Ok(Self::Static(targets)),
            Err(_) => Ok(Self::Env(Box::new(env))),
        }
    }

    /// Whether this is the lock-free target-and-level filter.
    fn is_static(&self) -> bool {
        matches!(self, Self::Static(_))
    }
}

impl<S> Filter<S> for Directives
where
    S: Subscriber + for<'lookup> LookupSpan<'lookup>,
{
    fn enabled(&self, meta: &Metadata<'_>, cx: &Context<'_, S>) -> bool {
        match self {
            Self::Static(targets) => Filter::<S>::enabled(targets, meta, cx),
            Self::Env(env) => Filter::<S>::enabled(&**env, meta, cx),
        }
    }

    fn callsite_enabled(&self, meta: &'static Metadata<'static>) -> Interest {
        match self {
            Self::Static(targets) => Filter::<S>::callsite_enabled(targets, meta),
            Self::Env(env) => Filter::<S>::callsite_enabled(&**env, meta),
        }
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        match self {
            Self::Static(targets) => Filter::<S>::max_level_hint(targets),
            Self::Env(env) => Filter::<S>::max_level_hint(&**env),
        }
    }

    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, cx: Context<'_, S>) {
        if let Self::Env(env) = self {
            Filter::<S>::on_new_span(&**env, attrs, id, cx);
        }
    }

    fn on_record(&self, id: &span::Id, values: &span::Record<'_>, cx: Context<'_, S>) {
        if let Self::Env(env) = self {
            Filter::<S>::on_record(&**env, id, values, cx);
        }
    }

    fn on_enter(&self, id: &span::Id, cx: Context<'_, S>) {
        if let Self::Env(env) = self {
            Filter::<S>::on_enter(&**env, id, cx);
        }
    }

    fn on_exit(&self, id: &span::Id, cx: Context<'_, S>) {
        if let Self::Env(env) = self {
            Filter::<S>::on_exit(&**env, id, cx);
        }
    }

    fn on_close(&self, id: span::Id, cx: Context<'_, S>) {
        if let Self::Env(env) = self {
            Filter::<S>::on_close(&**env, id, cx);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Directives, InitError};

    #[test]
    fn target_and_level_filters_are_decided_per_callsite() {
        for spec in [
            "info",
            "info,rmcp=off",
            "warn,mcp_cache=debug,mcp_authz=trace",
            "mcp_cache",
            "off",
        ] {
            let filter = Directives::parse(spec).expect(spec);
            assert!(filter.is_static(), "{spec}: {filter:?}");
        }
        for spec in [
            "",
            "warn,[cache.read]=debug",
            "info,mcp_cache[cache.read{cache.hit=true}]=debug",
        ] {
            let filter = Directives::parse(spec).expect(spec);
            assert!(!filter.is_static(), "{spec}: {filter:?}");
        }
        match Directives::parse("info,mcp_cache=loud") {
            Err(InitError::LogFilter { filter, .. }) => assert_eq!(filter, "info,mcp_cache=loud"),
            other => panic!("{other:?}"),
        }
    }
}
