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
    /// The caller holds no entitlement for the application (layer 4, data filtering).
    #[error("no entitlement for application '{app}' (needs '{permission}')")]
    NotEntitled {
        /// The application.
        app: String,
        /// The permission needed.
        permission: &'static str,
    },
    /// The request carries no authenticated caller.
    #[error("unauthenticated: this request carries no verified identity")]
    Unauthenticated,
    /// The tool is for administrators.
    #[error("insufficient permissions: '{tool}' requires the admin role")]
    AdminOnly {
        /// The tool.
        tool: &'static str,
    },
    /// Start-up could not load the firewall data: the shared cache's first fetch failed under
    /// the `fail-fast` policy, or kept failing until the `retry` policy's deadline.
    #[error("start-up failed: the first fetch of the firewall data failed ({policy}): {source}")]
    InitialFetch {
        /// The policy and what it did, e.g. `retry: gave up at the 20 s deadline`.
        policy: String,
        /// The last attempt's error.
        #[source]
        source: mcp_cache::CacheError,
    },
    /// The cached data could not be read (not loaded yet, or the cache failed).
    #[error("firewall data unavailable: {0}")]
    Cache(#[from] mcp_cache::CacheError),
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
    /// The configuration is invalid (a policy file, an identity provider, a config file).
    #[error("configuration: {reason}")]
    Config {
        /// What is wrong.
        reason: String,
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
    /// The message with the causes its `Display` does not already show (for a downstream that
    /// cannot be reached: `… error sending request for url (…): client error (Connect): tcp
    /// connect error: Connection refused`), for operators reading a start-up failure.
    pub fn report(&self) -> String {
        with_causes(self)
    }

    /// The tool result a caller sees for this error: an `isError` result with the message, so
    /// the caller's client shows it (rather than an opaque protocol error).
    pub fn into_tool_result(self) -> CallToolResult {
        CallToolResult::error(vec![ContentBlock::text(self.to_string())])
    }

    /// The protocol error for this error, for requests other than tool calls (resources).
    pub fn into_error_data(self) -> rmcp::ErrorData {
        match &self {
            Self::UnknownApp { .. } | Self::InvalidAppName { .. } | Self::NotEntitled { .. } => {
                rmcp::ErrorData::invalid_params(self.to_string(), None)
            }
            Self::Unauthenticated | Self::AdminOnly { .. } => {
                rmcp::ErrorData::invalid_request(self.to_string(), None)
            }
            _ => rmcp::ErrorData::internal_error(self.to_string(), None),
        }
    }
}

/// `error`'s message followed by those of its sources that it does not already show.
pub(crate) fn with_causes(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut cause = error.source();
    while let Some(error) = cause {
        let text = error.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        cause = error.source();
    }
    message
}
