//! Errors of the cache, and their one mapping to MCP errors.

use std::sync::Arc;
use std::time::Duration;

#[cfg(feature = "rmcp")]
use rmcp::ErrorData;
#[cfg(feature = "rmcp")]
use rmcp::model::{CallToolResult, ContentBlock};
#[cfg(feature = "rmcp")]
use serde_json::json;

/// The error a user-supplied fetch returns.
pub type FetchError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// An error from a cache operation.
///
/// Cloneable, so that every caller coalesced into one refresh gets the same outcome. Map it to
/// MCP with [`CacheError::to_error_data`] (protocol errors) or [`CacheError::to_tool_result`]
/// (a tool error the model can read); both `From` conversions exist so `?` works in tools.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum CacheError {
    /// No snapshot has been loaded yet (the degrade policy before the first successful fetch).
    #[error("data not available yet: the first fetch from the downstream has not succeeded")]
    NotReady,
    /// The fetch returned an error.
    #[error("fetch failed: {source}")]
    Fetch {
        /// What the fetch reported.
        #[source]
        source: Arc<dyn std::error::Error + Send + Sync + 'static>,
    },
    /// The fetch did not finish within the configured timeout.
    #[error("fetch timed out after {timeout:?}")]
    Timeout {
        /// The configured per-fetch timeout.
        timeout: Duration,
    },
    /// The fetch panicked; the panic was contained and the old snapshot kept.
    #[error("fetch panicked: {message}")]
    Panicked {
        /// The panic payload, when it was a string.
        message: String,
    },
    /// The validation hook rejected the fetched data; the old snapshot was kept.
    #[error("fetched data rejected by validation: {reason}")]
    Rejected {
        /// What the validation hook reported.
        reason: String,
    },
    /// A keyed lookup found no entry.
    #[error("no entry for key '{key}'")]
    KeyNotFound {
        /// The key, as displayed.
        key: String,
    },
    /// The cache was shut down; no more refreshes run.
    #[error("the cache has been shut down")]
    ShutDown,
}

impl CacheError {
    /// Wraps a fetch error.
    pub fn fetch(source: impl Into<FetchError>) -> Self {
        let source: FetchError = source.into();
        Self::Fetch {
            source: Arc::from(source),
        }
    }

    /// A short machine-readable kind, used as `error.type` in spans and in the health resource.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::NotReady => "not_ready",
            Self::Fetch { .. } => "fetch",
            Self::Timeout { .. } => "timeout",
            Self::Panicked { .. } => "panic",
            Self::Rejected { .. } => "rejected",
            Self::KeyNotFound { .. } => "key_not_found",
            Self::ShutDown => "shut_down",
        }
    }
}

#[cfg(feature = "rmcp")]
impl CacheError {
    /// The JSON-RPC error for this failure. A missing key is invalid params (`-32602`); every
    /// other kind is an internal error (`-32603`) whose `data.kind` says which.
    pub fn to_error_data(&self) -> ErrorData {
        let data = Some(json!({ "kind": self.kind() }));
        match self {
            Self::KeyNotFound { .. } => ErrorData::invalid_params(self.to_string(), data),
            _ => ErrorData::internal_error(self.to_string(), data),
        }
    }

    /// A tool result with `isError: true` and this error's message, which the model can read
    /// (unlike a protocol error, which clients usually show opaquely).
    pub fn to_tool_result(&self) -> CallToolResult {
        CallToolResult::error(vec![ContentBlock::text(self.to_string())])
    }
}

#[cfg(feature = "rmcp")]
impl From<CacheError> for ErrorData {
    fn from(error: CacheError) -> Self {
        error.to_error_data()
    }
}

#[cfg(feature = "rmcp")]
impl From<CacheError> for CallToolResult {
    fn from(error: CacheError) -> Self {
        error.to_tool_result()
    }
}

#[cfg(all(test, feature = "rmcp"))]
mod tests {
    use super::*;

    #[test]
    fn maps_to_mcp_errors() {
        let not_ready = CacheError::NotReady;
        let data = not_ready.to_error_data();
        assert_eq!(data.code, rmcp::model::ErrorCode::INTERNAL_ERROR);
        assert!(data.message.contains("not available yet"));
        let missing = CacheError::KeyNotFound { key: "x".into() }.to_error_data();
        assert_eq!(missing.code, rmcp::model::ErrorCode::INVALID_PARAMS);
        let tool = CacheError::NotReady.to_tool_result();
        assert_eq!(tool.is_error, Some(true));
        let io = CacheError::fetch(std::io::Error::other("boom"));
        assert!(std::error::Error::source(&io).is_some());
        assert_eq!(io.kind(), "fetch");
    }
}
