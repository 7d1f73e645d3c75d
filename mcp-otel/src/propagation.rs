//! W3C trace-context propagation through `params._meta` (SEP-414): `traceparent`, `tracestate`
//! and `baggage`, unprefixed.
//!
//! The server side ([`OtelHandler`](crate::OtelHandler)) calls [`extract`]; Rust clients call
//! [`inject_current`] or [`traced_meta`] to carry their current span into a request.

use std::sync::LazyLock;

use opentelemetry::Context;
use opentelemetry::propagation::{
    Extractor, Injector, TextMapCompositePropagator, TextMapPropagator,
};
use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};
use rmcp::model::RequestMetaObject;
use serde_json::Value;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The `_meta` keys this module reads and writes.
pub const META_KEYS: [&str; 3] = ["traceparent", "tracestate", "baggage"];

static PROPAGATOR: LazyLock<TextMapCompositePropagator> = LazyLock::new(|| {
    TextMapCompositePropagator::new(vec![
        Box::new(TraceContextPropagator::new()),
        Box::new(BaggagePropagator::new()),
    ])
});

struct MetaExtractor<'a>(&'a RequestMetaObject);

impl Extractor for MetaExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        (self.0).0.0.get(key).and_then(Value::as_str)
    }

    fn keys(&self) -> Vec<&str> {
        META_KEYS
            .iter()
            .copied()
            .filter(|key| (self.0).0.0.contains_key(*key))
            .collect()
    }
}

struct MetaInjector<'a>(&'a mut RequestMetaObject);

impl Injector for MetaInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        (self.0).0.0.insert(key.to_owned(), Value::String(value));
    }
}

/// Whether `meta` carries a `traceparent`.
pub fn has_trace_context(meta: &RequestMetaObject) -> bool {
    meta.get_traceparent().is_some()
}

/// The remote parent context (span context and baggage) carried by `meta`. An absent or
/// malformed `traceparent` yields a context without a span, so the server span becomes a root.
///
/// ```
/// use mcp_otel::propagation::extract;
/// use opentelemetry::trace::TraceContextExt;
/// use rmcp::model::RequestMetaObject;
///
/// let mut meta = RequestMetaObject::new();
/// meta.set_traceparent("00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01");
/// let cx = extract(&meta);
/// assert_eq!(cx.span().span_context().trace_id().to_string(), "0af7651916cd43dd8448eb211c80319c");
/// assert!(cx.span().span_context().is_remote());
///
/// let mut bad = RequestMetaObject::new();
/// bad.set_traceparent("garbage");
/// assert!(!extract(&bad).span().span_context().is_valid());
/// ```
pub fn extract(meta: &RequestMetaObject) -> Context {
    // Extract onto an empty context, not `Context::current()`: otherwise a missing or malformed
    // `traceparent` would hand back the ambient context (e.g. the transport's span) as parent.
    PROPAGATOR.extract_with_context(&Context::new(), &MetaExtractor(meta))
}

/// Writes the span context and baggage of `cx` into `meta`.
pub fn inject(cx: &Context, meta: &mut RequestMetaObject) {
    PROPAGATOR.inject_context(cx, &mut MetaInjector(meta));
}

/// Writes the context of the current `tracing` span into `meta` (client side). Does nothing
/// when no `tracing-opentelemetry` layer is installed or the current span is not sampled in.
pub fn inject_current(meta: &mut RequestMetaObject) {
    inject(&tracing::Span::current().context(), meta);
}

/// A fresh `_meta` carrying the current `tracing` span's context, for
/// `CallToolRequestParams::meta` or `PeerRequestOptions::meta`.
///
/// ```no_run
/// # async fn demo(client: rmcp::service::RunningService<rmcp::RoleClient, ()>) -> anyhow::Result<()> {
/// use rmcp::model::CallToolRequestParams;
///
/// let mut params = CallToolRequestParams::new("get_firewall_rule");
/// params.meta = Some(mcp_otel::propagation::traced_meta());
/// client.call_tool(params).await?;
/// # Ok(()) }
/// ```
pub fn traced_meta() -> RequestMetaObject {
    let mut meta = RequestMetaObject::new();
    inject_current(&mut meta);
    meta
}
