//! Attribute names from the OpenInference semantic conventions, which Arize Phoenix reads to
//! classify and display spans.

/// The OpenInference span kind; [`TOOL`] on `tools/call` spans.
pub const SPAN_KIND: &str = "openinference.span.kind";
/// [`SPAN_KIND`] value for tool calls.
pub const TOOL: &str = "TOOL";
/// The tool name.
pub const TOOL_NAME: &str = "tool.name";
/// The tool description, when the wrapped handler can describe the tool.
pub const TOOL_DESCRIPTION: &str = "tool.description";
/// The tool's parameters: its JSON input schema, as JSON text.
pub const TOOL_PARAMETERS: &str = "tool.parameters";
/// The captured input (off unless capture is enabled).
pub const INPUT_VALUE: &str = "input.value";
/// The MIME type of [`INPUT_VALUE`].
pub const INPUT_MIME_TYPE: &str = "input.mime_type";
/// The captured output (off unless capture is enabled).
pub const OUTPUT_VALUE: &str = "output.value";
/// The MIME type of [`OUTPUT_VALUE`].
pub const OUTPUT_MIME_TYPE: &str = "output.mime_type";
/// The session the span belongs to (the MCP session id).
pub const SESSION_ID: &str = "session.id";
/// The user the request was made for.
pub const USER_ID: &str = "user.id";
/// Resource attribute choosing the Phoenix project.
pub const PROJECT_NAME: &str = "openinference.project.name";
/// MIME type of JSON captures.
pub const JSON_MIME: &str = "application/json";
/// MIME type of plain-text captures.
pub const TEXT_MIME: &str = "text/plain";
