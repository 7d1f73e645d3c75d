//! The MCP server instruments: `mcp.server.operation.duration`, `mcp.server.session.duration`
//! (histograms in seconds with the conventions' bucket advice) and `mcp_otel.tool.calls`.

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Histogram, Meter};

use crate::semconv;

/// Counter of `tools/call` requests by `gen_ai.tool.name` and [`OUTCOME`].
pub const TOOL_CALLS: &str = "mcp_otel.tool.calls";
/// Attribute of [`TOOL_CALLS`]: `ok`, `tool_error` (an `isError: true` result) or `error`
/// (a JSON-RPC error response).
pub const OUTCOME: &str = "mcp_otel.outcome";

/// The instruments one [`OtelLayer`](crate::OtelLayer) records into.
#[derive(Clone, Debug)]
pub(crate) struct ServerMetrics {
    pub(crate) operation_duration: Histogram<f64>,
    pub(crate) session_duration: Histogram<f64>,
    pub(crate) tool_calls: Counter<u64>,
}

impl ServerMetrics {
    pub(crate) fn new(meter: &Meter) -> Self {
        Self {
            operation_duration: meter
                .f64_histogram(semconv::MCP_SERVER_OPERATION_DURATION)
                .with_unit("s")
                .with_description(
                    "MCP request or notification duration as observed on the receiver from the \
                     time it was received until the result or ack is sent.",
                )
                .with_boundaries(semconv::DURATION_BUCKETS.to_vec())
                .build(),
            session_duration: meter
                .f64_histogram(semconv::MCP_SERVER_SESSION_DURATION)
                .with_unit("s")
                .with_description("The duration of the MCP session as observed on the MCP server.")
                .with_boundaries(semconv::DURATION_BUCKETS.to_vec())
                .build(),
            tool_calls: meter
                .u64_counter(TOOL_CALLS)
                .with_unit("{call}")
                .with_description("MCP tool calls by tool name and outcome.")
                .build(),
        }
    }

    pub(crate) fn record_tool_call(&self, tool: &str, outcome: &'static str) {
        self.tool_calls.add(
            1,
            &[
                KeyValue::new(semconv::GEN_AI_TOOL_NAME, tool.to_owned()),
                KeyValue::new(OUTCOME, outcome),
            ],
        );
    }
}
