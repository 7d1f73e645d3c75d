//! Attribute names from the OpenTelemetry semantic conventions for MCP
//! (`open-telemetry/semantic-conventions-genai`, `docs/gen-ai/mcp.md`, status Development).

use opentelemetry::Key;

/// The MCP method, e.g. `tools/call`.
pub const MCP_METHOD_NAME: &str = "mcp.method.name";
/// The MCP session id.
pub const MCP_SESSION_ID: &str = "mcp.session.id";
/// The negotiated MCP protocol version.
pub const MCP_PROTOCOL_VERSION: &str = "mcp.protocol.version";
/// The URI of the resource a request targets.
pub const MCP_RESOURCE_URI: &str = "mcp.resource.uri";
/// The JSON-RPC request id.
pub const JSONRPC_REQUEST_ID: &str = "jsonrpc.request.id";
/// The tool name.
pub const GEN_AI_TOOL_NAME: &str = "gen_ai.tool.name";
/// The GenAI operation, `execute_tool` for tool calls.
pub const GEN_AI_OPERATION_NAME: &str = "gen_ai.operation.name";
/// `pipe` for stdio, `tcp` for HTTP.
pub const NETWORK_TRANSPORT: &str = "network.transport";
/// The class of error a failed operation ended with.
pub const ERROR_TYPE: &str = "error.type";

/// [`MCP_METHOD_NAME`] as an OpenTelemetry [`Key`].
pub fn method_key() -> Key {
    Key::from_static_str(MCP_METHOD_NAME)
}
