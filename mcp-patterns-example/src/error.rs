//! Errors of the reference server.

use rmcp::model::{CallToolResult, ContentBlock};

/// An error of the reference server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExampleError {
    /// The application name is not in the downstream's rule set.
    #[error("unknown application '{app}': no firewall rules exist for it")]
    UnknownApp {
        /// The name asked for.
        app: String,
    },
    /// The application name is not a valid name (1-64 chars of `a-z`, `0-9`, `-`, `_`, `.`).
    #[error("invalid application name: {reason}")]
    InvalidAppName {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The downstream API could not be reached or answered with an error.
    #[error("downstream firewall API unavailable: {source}")]
    Downstream {
        /// The HTTP client's error.
        #[source]
        source: reqwest::Error,
    },
    /// A socket could not be bound or served.
    #[error("cannot serve on {addr}: {source}")]
    Io {
        /// The address.
        addr: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The development token issuer could not create a key or sign a token.
    #[error("development token issuer: {reason}")]
    Identity {
        /// What failed.
        reason: String,
    },
    /// The MCP transport failed.
    #[error("MCP transport error: {0}")]
    Transport(String),
}

impl ExampleError {
    /// The tool result a caller sees for this error: an `isError` result with the message, so
    /// the caller's client shows it (rather than an opaque protocol error).
    pub fn into_tool_result(self) -> CallToolResult {
        CallToolResult::error(vec![ContentBlock::text(self.to_string())])
    }
}
