//! One traced MCP request: its SERVER span, its attributes and its duration measurement.

use std::cell::LazyCell;
use std::sync::Arc;
use std::time::Instant;

use opentelemetry::KeyValue;
use opentelemetry::trace::{Status, TraceContextExt};
use rmcp::ErrorData as McpError;
use rmcp::model::{NumberOrString, Tool};
use rmcp::service::{RequestContext, RoleServer};
use serde_json::Value;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::layer::{Shared, Transport};
use crate::{openinference as oi, propagation, semconv, span_name};

/// What a request is about, for the span name and attributes.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Target<'a> {
    None,
    Tool(&'a str),
    Prompt(&'a str),
    Resource(&'a str),
}

/// How a request ended, for `error.type`, the span status and the metrics.
pub(crate) enum Outcome<'a> {
    Ok,
    /// A `tools/call` result with `isError: true`.
    ToolError,
    /// A JSON-RPC error response.
    Rpc(&'a McpError),
}

#[allow(clippy::struct_excessive_bools)] // four independent facts about one request
pub(crate) struct Operation {
    shared: Arc<Shared>,
    span: Span,
    recording: bool,
    start: Instant,
    /// The metrics' attributes; empty when no metrics are recorded.
    metric_attrs: Vec<KeyValue>,
    /// The tool's name, for `mcp.server.tool.calls`; only when metrics are recorded.
    tool: Option<String>,
    /// Whether the request is a `tools/call`.
    is_tool: bool,
    /// Whether [`Self::finish`] records `mcp.server.operation.duration`.
    duration_metric: bool,
    /// Whether the request came over HTTP (its extensions carry `http::request::Parts`).
    http: bool,
}

impl Operation {
    /// Opens the SERVER span of a request (a root, or a child of the `_meta` trace context).
    #[allow(clippy::too_many_lines)] // one attribute per convention row, in table order
    pub(crate) fn start(
        shared: &Arc<Shared>,
        method: &str,
        target: Target<'_>,
        context: &RequestContext<RoleServer>,
    ) -> Self {
        let http = context.extensions.get::<http::request::Parts>();
        let (tool, prompt, resource) = match target {
            Target::Tool(name) => (Some(name), None, None),
            Target::Prompt(name) => (None, Some(name), None),
            Target::Resource(uri) => (None, None, Some(uri)),
            Target::None => (None, None, None),
        };
        let transport = match (http, shared.transport) {
            (Some(_), _) | (None, Transport::Tcp) => Some(semconv::TRANSPORT_TCP),
            (None, Transport::Pipe) => Some(semconv::TRANSPORT_PIPE),
            (None, Transport::Unrecorded) => None,
        };
        let protocol_version = http.and_then(|parts| http_version(parts.version));
        // Looked up (in `_meta`, else the session's initialization) only when the span or the
        // metrics want it.
        let version = LazyCell::new(|| context.protocol_version());
        // From 2026-07-28 there are no sessions: a request that names such a version in its
        // `_meta` is served on its own even when a client sends an `Mcp-Session-Id` header
        // anyway, so that header identifies nothing and is not recorded.
        let session = LazyCell::new(|| {
            let in_session = version
                .as_ref()
                .is_none_or(rmcp::model::ProtocolVersion::has_initialize);
            http.filter(|_| in_session)
                .and_then(|parts| parts.headers.get("mcp-session-id"))
                .and_then(|value| value.to_str().ok())
        });
        let mut id_digits = itoa::Buffer::new();
        // Every attribute is given when the span is created, in one call to the subscriber, and
        // the values (the name, the request id, the user) are computed only when a subscriber
        // wants the span. The field names are the conventions' keys (`semconv`,
        // `openinference`); the tests check them against those constants.
        let span = tracing::info_span!(
            target: "mcp_otel",
            parent: None,
            "mcp.server.request",
            otel.name = span_title(shared, method, target).as_str(),
            otel.kind = "server",
            mcp.method.name = method,
            gen_ai.tool.name = tool,
            gen_ai.operation.name = tool.map(|_| semconv::EXECUTE_TOOL),
            gen_ai.prompt.name = prompt,
            network.transport = transport,
            network.protocol.name = http.map(|_| "http"),
            network.protocol.version = protocol_version,
            mcp.protocol.version = version.as_ref().map(rmcp::model::ProtocolVersion::as_str),
            jsonrpc.request.id = request_id(&context.id, &mut id_digits),
            mcp.session.id = *session,
            session.id = *session,
            mcp.resource.uri = resource,
            openinference.span.kind = tool.map(|_| oi::TOOL),
            tool.name = tool,
            user.id = shared.user_id.as_ref().and_then(|f| f(context)).as_deref(),
        );
        let recording = !span.is_disabled();
        if recording && propagation::has_trace_context(&context.meta) {
            let parent = propagation::extract(&context.meta);
            // A malformed `traceparent` extracts to a context without a span; handing that to
            // `set_parent` would parent the span on the ambient context, so it stays a root.
            if parent.span().span_context().is_valid() {
                // The conventions: parent from `_meta`, and a link to the ambient (transport)
                // context when there is one.
                let ambient = Span::current().context().span().span_context().clone();
                // Fails only when no OpenTelemetry layer is installed: nothing to parent then.
                let _ = span.set_parent(parent);
                if ambient.is_valid() {
                    span.add_link(ambient);
                }
            }
        }

        // Without metrics nothing below is needed: with tracing off too, the request costs one
        // disabled span and no allocation here.
        if shared.metrics.is_none() {
            return Self {
                shared: shared.clone(),
                span,
                recording,
                start: Instant::now(),
                metric_attrs: Vec::new(),
                tool: None,
                is_tool: tool.is_some(),
                duration_metric: true,
                http: http.is_some(),
            };
        }
        // The metrics' attributes: the span's low-cardinality ones.
        let mut metric_attrs = Vec::with_capacity(8);
        metric_attrs.push(KeyValue::new(semconv::MCP_METHOD_NAME, method.to_owned()));
        if let Some(name) = tool {
            metric_attrs.push(KeyValue::new(semconv::GEN_AI_TOOL_NAME, name.to_owned()));
            metric_attrs.push(KeyValue::new(
                semconv::GEN_AI_OPERATION_NAME,
                semconv::EXECUTE_TOOL,
            ));
        }
        if let Some(name) = prompt {
            metric_attrs.push(KeyValue::new(semconv::GEN_AI_PROMPT_NAME, name.to_owned()));
        }
        if let Some(transport) = transport {
            metric_attrs.push(KeyValue::new(semconv::NETWORK_TRANSPORT, transport));
        }
        if http.is_some() {
            metric_attrs.push(KeyValue::new(semconv::NETWORK_PROTOCOL_NAME, "http"));
        }
        if let Some(protocol_version) = protocol_version {
            metric_attrs.push(KeyValue::new(
                semconv::NETWORK_PROTOCOL_VERSION,
                protocol_version,
            ));
        }
        if let Some(version) = &*version {
            metric_attrs.push(KeyValue::new(
                semconv::MCP_PROTOCOL_VERSION,
                version.as_str().to_owned(),
            ));
        }
        Self {
            shared: shared.clone(),
            span,
            recording,
            start: Instant::now(),
            metric_attrs,
            tool: tool.map(str::to_owned),
            is_tool: tool.is_some(),
            duration_metric: true,
            http: http.is_some(),
        }
    }

    /// The request's span, to instrument the inner handler's future with.
    pub(crate) fn span(&self) -> &Span {
        &self.span
    }

    /// Whether the request came over HTTP.
    pub(crate) fn over_http(&self) -> bool {
        self.http
    }

    /// Whether a subscriber records the span.
    pub(crate) fn recording(&self) -> bool {
        self.recording
    }

    /// Sets an integer attribute on the span, when it records.
    pub(crate) fn set_count(&self, key: &'static str, count: usize) {
        if self.recording {
            self.span
                .set_attribute(key, i64::try_from(count).unwrap_or(i64::MAX));
        }
    }

    /// Leaves this operation out of `mcp.server.operation.duration` (a long-lived stream).
    pub(crate) fn without_duration_metric(mut self) -> Self {
        self.duration_metric = false;
        self
    }

    /// Records the tool's description and parameter schema (OpenInference).
    pub(crate) fn describe_tool(&self, tool: Option<Tool>) {
        let Some(tool) = tool.filter(|_| self.recording) else {
            return;
        };
        if let Some(description) = tool.description {
            self.span
                .set_attribute(oi::TOOL_DESCRIPTION, description.into_owned());
        }
        // A JSON object of strings and values always serializes.
        if let Ok(schema) = serde_json::to_string(&*tool.input_schema) {
            self.span.set_attribute(oi::TOOL_PARAMETERS, schema);
        }
    }

    /// Whether input/output capture is on and the span records.
    pub(crate) fn capturing(&self) -> bool {
        self.recording && self.shared.capture.enabled
    }

    /// Records the request input, when capture is on.
    pub(crate) fn input(&self, value: &Value) {
        if !self.capturing() {
            return;
        }
        if let Some(text) = self.shared.capture.render(value) {
            if self.is_tool {
                self.span
                    .set_attribute(semconv::GEN_AI_TOOL_CALL_ARGUMENTS, text.clone());
            }
            self.span.set_attribute(oi::INPUT_VALUE, text);
            self.span.set_attribute(oi::INPUT_MIME_TYPE, oi::JSON_MIME);
        }
    }

    /// Records a plain-text request input (a resource URI), when capture is on.
    pub(crate) fn input_text(&self, text: &str) {
        if !self.capturing() {
            return;
        }
        if let Some(text) = self.shared.capture.render_text(text) {
            self.span.set_attribute(oi::INPUT_VALUE, text);
            self.span.set_attribute(oi::INPUT_MIME_TYPE, oi::TEXT_MIME);
        }
    }

    /// Records the result, when capture is on.
    pub(crate) fn output(&self, value: &Value) {
        if !self.capturing() {
            return;
        }
        if let Some(text) = self.shared.capture.render(value) {
            if self.is_tool {
                self.span
                    .set_attribute(semconv::GEN_AI_TOOL_CALL_RESULT, text.clone());
            }
            self.span.set_attribute(oi::OUTPUT_VALUE, text);
            self.span.set_attribute(oi::OUTPUT_MIME_TYPE, oi::JSON_MIME);
        }
    }

    /// Records the outcome on the span and the metrics, and closes the span.
    pub(crate) fn finish(mut self, outcome: &Outcome<'_>) {
        if !self.recording && self.shared.metrics.is_none() {
            return;
        }
        let elapsed = self.start.elapsed().as_secs_f64();
        let (error_type, status_code, message, tool_outcome) = match outcome {
            Outcome::Ok => (None, None, None, "ok"),
            Outcome::ToolError => (
                Some(semconv::TOOL_ERROR.to_owned()),
                None,
                None,
                semconv::TOOL_ERROR,
            ),
            Outcome::Rpc(error) => {
                let code = error.code.0;
                let is_error =
                    self.shared.caller_errors_are_errors || semconv::is_server_error_code(code);
                (
                    is_error.then(|| code.to_string()),
                    Some(code.to_string()),
                    Some(error.message.to_string()),
                    "error",
                )
            }
        };
        if self.shared.metrics.is_some() {
            if let Some(code) = &status_code {
                self.metric_attrs.push(KeyValue::new(
                    semconv::RPC_RESPONSE_STATUS_CODE,
                    code.clone(),
                ));
            }
            if let Some(error_type) = &error_type {
                self.metric_attrs
                    .push(KeyValue::new(semconv::ERROR_TYPE, error_type.clone()));
            }
        }
        if self.recording {
            if let Some(code) = status_code {
                self.span
                    .set_attribute(semconv::RPC_RESPONSE_STATUS_CODE, code);
            }
            if let Some(error_type) = error_type {
                let description = message.unwrap_or_else(|| error_type.clone());
                self.span.set_attribute(semconv::ERROR_TYPE, error_type);
                self.span.set_status(Status::error(description));
            }
        }
        if let Some(metrics) = &self.shared.metrics {
            if self.duration_metric {
                metrics
                    .operation_duration
                    .record(elapsed, &self.metric_attrs);
            }
            if let Some(tool) = &self.tool {
                metrics.record_tool_call(tool, tool_outcome);
            }
        }
    }
}

/// The span's name: `{method} {tool or prompt}`, the resource URI only when configured.
fn span_title(shared: &Shared, method: &str, target: Target<'_>) -> String {
    match target {
        Target::Tool(name) | Target::Prompt(name) => span_name(method, Some(name)),
        Target::Resource(uri) if shared.resource_uri_in_name => span_name(method, Some(uri)),
        Target::Resource(_) | Target::None => method.to_owned(),
    }
}

/// The JSON-RPC id as the attribute's text: a number's digits (formatted into `digits`, not
/// through `core::fmt`), a string as it is.
fn request_id<'a>(id: &'a NumberOrString, digits: &'a mut itoa::Buffer) -> &'a str {
    match id {
        NumberOrString::Number(number) => digits.format(*number),
        NumberOrString::String(text) => text,
    }
}

fn http_version(version: http::Version) -> Option<&'static str> {
    match version {
        http::Version::HTTP_09 => Some("0.9"),
        http::Version::HTTP_10 => Some("1.0"),
        http::Version::HTTP_11 => Some("1.1"),
        http::Version::HTTP_2 => Some("2"),
        http::Version::HTTP_3 => Some("3"),
        _ => None,
    }
}
