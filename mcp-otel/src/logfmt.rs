//! Log correlation: a `tracing-subscriber` fmt event format that starts every line with the
//! OpenTelemetry `trace_id` and `span_id` of the span the event happened in.

use std::fmt;
use std::sync::{Arc, OnceLock};

use opentelemetry::trace::TraceContextExt;
use tracing::dispatcher::WeakDispatch;
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// A fmt event format that prefixes each line with `trace_id=… span_id=…` (W3C hex) when the
/// event happens inside a span that the OpenTelemetry layer tracks, then formats the event with
/// the wrapped format `F`.
///
/// [`init`](crate::init) installs it; build one yourself with [`TraceIdFormat::new`] and bind it
/// to the dispatcher it serves with [`TraceIdFormat::bind`] once that exists:
///
/// ```
/// use mcp_otel::TraceIdFormat;
/// use tracing_subscriber::layer::SubscriberExt;
///
/// let format = TraceIdFormat::new(tracing_subscriber::fmt::format());
/// let subscriber = tracing_subscriber::registry()
///     .with(tracing_subscriber::fmt::layer().event_format(format.clone()))
///     .with(tracing_opentelemetry::layer());
/// let dispatch = tracing::Dispatch::new(subscriber);
/// format.bind(&dispatch);
/// ```
#[derive(Clone, Debug)]
pub struct TraceIdFormat<F> {
    inner: F,
    dispatch: Arc<OnceLock<WeakDispatch>>,
}

impl<F> TraceIdFormat<F> {
    /// Wraps `inner`; unbound, it formats like `inner` alone.
    pub fn new(inner: F) -> Self {
        Self {
            inner,
            dispatch: Arc::new(OnceLock::new()),
        }
    }

    /// Binds this format (and all its clones) to the dispatcher whose OpenTelemetry layer knows
    /// the ids. Only the first call has an effect.
    pub fn bind(&self, dispatch: &tracing::Dispatch) {
        let _ = self.dispatch.set(dispatch.downgrade());
    }
}

impl<S, N, F> FormatEvent<S, N> for TraceIdFormat<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let dispatch = self.dispatch.get().and_then(WeakDispatch::upgrade);
        // The fmt layer may not see spans at all (its filter can leave them to the other
        // layers); the dispatcher's current span is the event's context then.
        let span_id = event
            .parent()
            .cloned()
            .or_else(|| ctx.lookup_current().map(|span| span.id()))
            .or_else(|| dispatch.as_ref()?.current_span().id().cloned());
        if let (Some(id), Some(dispatch)) = (span_id, dispatch)
            && let Some(cx) = tracing_opentelemetry::get_otel_context(&id, &dispatch)
        {
            let span = cx.span();
            let context = span.span_context();
            if context.is_valid() {
                write!(
                    writer,
                    "trace_id={} span_id={} ",
                    context.trace_id(),
                    context.span_id()
                )?;
            }
        }
        self.inner.format_event(ctx, writer, event)
    }
}
