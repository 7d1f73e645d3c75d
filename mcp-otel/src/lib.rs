#![doc = include_str!("../README.md")]

pub mod semconv;

/// The span name the MCP semantic conventions prescribe: `{method} {target}` when the request has
/// a target (a tool or prompt name), otherwise just `{method}`.
pub fn span_name(method: &str, target: Option<&str>) -> String {
    match target {
        Some(target) if !target.is_empty() => format!("{method} {target}"),
        _ => method.to_owned(),
    }
}
