//! Attribute, metric and value names from the OpenTelemetry semantic conventions for MCP
//! (`open-telemetry/semantic-conventions-genai`, `model/mcp/spans.yaml`, `model/mcp/common.yaml`
//! and `docs/gen-ai/mcp.md`, status Development; they link the core conventions at v1.41.0),
//! plus the general attributes those conventions reference — and one attribute of this crate's
//! own, [`MCP_SUBSCRIPTION_RESOURCE_COUNT`], where the conventions have nothing yet.

use opentelemetry::Key;

/// The MCP method, e.g. `tools/call`. Required on every MCP span and metric.
pub const MCP_METHOD_NAME: &str = "mcp.method.name";
/// The `Mcp-Session-Id` of a Streamable HTTP session (pre-2026-07-28 peers only).
pub const MCP_SESSION_ID: &str = "mcp.session.id";
/// The negotiated MCP protocol version, e.g. `2025-06-18`.
pub const MCP_PROTOCOL_VERSION: &str = "mcp.protocol.version";
/// The URI of the resource a request targets (`resources/read`, `resources/subscribe`, …).
pub const MCP_RESOURCE_URI: &str = "mcp.resource.uri";
/// The JSON-RPC request id, as a string.
pub const JSONRPC_REQUEST_ID: &str = "jsonrpc.request.id";
/// The JSON-RPC protocol version; recommended only when it is not `2.0`.
pub const JSONRPC_PROTOCOL_VERSION: &str = "jsonrpc.protocol.version";
/// The JSON-RPC error code of an error response, as a string (e.g. `-32602`).
pub const RPC_RESPONSE_STATUS_CODE: &str = "rpc.response.status_code";
/// The tool name (`tools/call`).
pub const GEN_AI_TOOL_NAME: &str = "gen_ai.tool.name";
/// The GenAI operation: [`EXECUTE_TOOL`] for tool calls and unset otherwise.
pub const GEN_AI_OPERATION_NAME: &str = "gen_ai.operation.name";
/// The prompt name (`prompts/get`).
pub const GEN_AI_PROMPT_NAME: &str = "gen_ai.prompt.name";
/// The tool call's arguments (opt-in, sensitive).
pub const GEN_AI_TOOL_CALL_ARGUMENTS: &str = "gen_ai.tool.call.arguments";
/// The tool call's result (opt-in, sensitive).
pub const GEN_AI_TOOL_CALL_RESULT: &str = "gen_ai.tool.call.result";
/// `pipe` for stdio, `tcp` for HTTP.
pub const NETWORK_TRANSPORT: &str = "network.transport";
/// `http` for Streamable HTTP.
pub const NETWORK_PROTOCOL_NAME: &str = "network.protocol.name";
/// The HTTP version, e.g. `1.1`.
pub const NETWORK_PROTOCOL_VERSION: &str = "network.protocol.version";
/// The class of error a failed operation ended with.
pub const ERROR_TYPE: &str = "error.type";

/// The number of resource subscriptions (URIs) the server accepted for a
/// `subscriptions/listen` stream (MCP 2026-07-28), an integer on the stream's span.
///
/// **Not from the conventions**: they describe no `subscriptions/listen` operation, so this
/// name is this crate's own and may change if the conventions add one.
pub const MCP_SUBSCRIPTION_RESOURCE_COUNT: &str = "mcp.subscription.resource_count";

/// [`GEN_AI_OPERATION_NAME`] value for tool calls.
pub const EXECUTE_TOOL: &str = "execute_tool";
/// [`ERROR_TYPE`] value for a `tools/call` result with `isError: true`.
pub const TOOL_ERROR: &str = "tool_error";
/// [`ERROR_TYPE`] value when the operation failed without a more specific class.
pub const OTHER_ERROR: &str = "_OTHER";
/// [`NETWORK_TRANSPORT`] value for stdio.
pub const TRANSPORT_PIPE: &str = "pipe";
/// [`NETWORK_TRANSPORT`] value for HTTP.
pub const TRANSPORT_TCP: &str = "tcp";

/// Histogram of server-side request duration, in seconds.
pub const MCP_SERVER_OPERATION_DURATION: &str = "mcp.server.operation.duration";
/// Histogram of server-side session duration, in seconds.
pub const MCP_SERVER_SESSION_DURATION: &str = "mcp.server.session.duration";

/// The bucket boundaries (seconds) the conventions advise for the MCP duration histograms.
pub const DURATION_BUCKETS: [f64; 14] = [
    0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];

/// The JSON-RPC `Internal error` code, which the conventions classify as a server-side error.
pub const INTERNAL_ERROR_CODE: i32 = -32603;
/// The JSON-RPC `Server error` range (`-32099..=-32000`), classified as server-side errors.
pub const SERVER_ERROR_RANGE: std::ops::RangeInclusive<i32> = -32099..=-32000;

/// [`MCP_METHOD_NAME`] as an OpenTelemetry [`Key`].
pub fn method_key() -> Key {
    Key::from_static_str(MCP_METHOD_NAME)
}

/// Whether a JSON-RPC error code returned by a server classifies as an error of the server
/// span under the conventions (`model/mcp/spans.yaml`, `mcp.server`): `-32603` (`Internal
/// error`) and the `Server error` range `-32000` to `-32099` do; the caller's mistakes
/// (`-32700` parse error, `-32600` invalid request, `-32601` method not found, `-32602` invalid
/// params — rmcp's answer to an unknown tool) do not. `rpc.response.status_code` is recorded
/// for every error code either way.
///
/// ```
/// use mcp_otel::semconv::is_server_error_code;
///
/// assert!(!is_server_error_code(-32602)); // unknown tool: the caller's mistake
/// assert!(is_server_error_code(-32603)); // internal error
/// assert!(is_server_error_code(-32002)); // resource not found, in the server-error range
/// ```
pub fn is_server_error_code(code: i32) -> bool {
    code == INTERNAL_ERROR_CODE || SERVER_ERROR_RANGE.contains(&code)
}
