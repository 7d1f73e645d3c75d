//! Tool results with structured content, serialized once for each form they take.

use rmcp::ErrorData;
use rmcp::handler::server::tool::IntoCallToolResult;
use rmcp::model::{CallToolResponse, CallToolResult, ContentBlock};
use serde::Serialize;

/// A tool's typed result: `structuredContent`, and the same JSON as a text block for clients that
/// read only `content`.
///
/// It does what `rmcp::handler::server::wrapper::Json` does, with the text serialized straight
/// from `T` into bytes instead of rendered from the `serde_json::Value` through its `Display`
/// implementation (every token through `fmt::Write`): on the reference server's
/// `get_firewall_rule` that was about a tenth of the instructions of a whole call. The text has
/// `T`'s field order; the structured value is the same JSON.
///
/// The type is named `Json` so that rmcp's `#[tool]` macro, which recognizes the name, derives
/// the tool's output schema from `T` as it does for its own `Json`.
///
/// ```
/// use mcp_patterns_example::structured::Json;
/// use rmcp::handler::server::tool::IntoCallToolResult;
///
/// #[derive(serde::Serialize)]
/// struct Port { app: &'static str, port: u16 }
///
/// let response = Json(Port { app: "app-alpha", port: 443 }).into_call_tool_result().unwrap();
/// let rmcp::model::CallToolResponse::Complete(result) = response else { panic!("{response:?}") };
/// let text = result.content[0].as_text().unwrap().text.clone();
/// assert_eq!(text, r#"{"app":"app-alpha","port":443}"#);
/// assert_eq!(result.structured_content, Some(serde_json::json!({"app": "app-alpha", "port": 443})));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Json<T>(pub T);

impl<T: Serialize> IntoCallToolResult for Json<T> {
    fn into_call_tool_result(self) -> Result<CallToolResponse, ErrorData> {
        let error = |e: serde_json::Error| {
            ErrorData::internal_error(format!("Failed to serialize structured content: {e}"), None)
        };
        let text = serde_json::to_string(&self.0).map_err(error)?;
        let value = serde_json::to_value(&self.0).map_err(error)?;
        let mut result = CallToolResult::success(vec![ContentBlock::text(text)]);
        result.structured_content = Some(value);
        Ok(result.into())
    }
}
