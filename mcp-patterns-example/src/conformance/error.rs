//! Errors of the conformance fixture and their MCP form.

use rmcp::ErrorData;
use rmcp::service::ServiceError;

/// A request the conformance fixture cannot answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FixtureError {
    /// `tools/call` named a tool the fixture does not have.
    #[error("unknown tool '{name}'")]
    UnknownTool {
        /// The name asked for.
        name: String,
    },
    /// `prompts/get` named a prompt the fixture does not have.
    #[error("unknown prompt '{name}'")]
    UnknownPrompt {
        /// The name asked for.
        name: String,
    },
    /// A resource URI that neither a fixture resource nor its template matches.
    #[error("resource not found: {uri}")]
    UnknownResource {
        /// The URI asked for.
        uri: String,
    },
    /// `completion/complete` referred to a prompt or template argument the fixture lacks.
    #[error("nothing to complete for {reference}")]
    UnknownCompletion {
        /// The prompt or template and argument referred to.
        reference: String,
    },
    /// The arguments of a tool call or prompt do not fit its schema.
    #[error("invalid arguments for '{name}': {source}")]
    InvalidArguments {
        /// The tool or prompt.
        name: String,
        /// What serde found wrong.
        #[source]
        source: serde_json::Error,
    },
    /// A request to the client (sampling, elicitation) failed.
    #[error("{request} request to the client failed: {source}")]
    ClientRequest {
        /// Which request.
        request: &'static str,
        /// The transport or protocol error.
        #[source]
        source: ServiceError,
    },
    /// A fixture schema does not fit rmcp's model (a bug in the fixture, not in the request).
    #[error("fixture schema '{name}' is invalid: {source}")]
    Schema {
        /// Which schema.
        name: &'static str,
        /// What serde found wrong.
        #[source]
        source: serde_json::Error,
    },
}

impl FixtureError {
    /// The JSON-RPC error the client receives: unknown names and bad arguments are invalid
    /// params, a missing resource is resource-not-found, the rest are internal errors.
    pub fn into_error_data(self) -> ErrorData {
        let message = self.to_string();
        match self {
            Self::UnknownTool { .. }
            | Self::UnknownPrompt { .. }
            | Self::UnknownCompletion { .. }
            | Self::InvalidArguments { .. } => ErrorData::invalid_params(message, None),
            Self::UnknownResource { uri } => {
                ErrorData::resource_not_found(message, Some(serde_json::json!({ "uri": uri })))
            }
            Self::ClientRequest { .. } | Self::Schema { .. } => {
                ErrorData::internal_error(message, None)
            }
        }
    }
}
