//! Errors of the conformance fixture and their MCP form.

use rmcp::ErrorData;
use rmcp::model::ClientCapabilities;
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
    /// The request needs client capabilities its `clientCapabilities` do not declare.
    #[error("this request needs the client capability {names}, which it did not declare")]
    MissingClientCapability {
        /// The missing capabilities, comma-separated.
        names: String,
        /// The same as a `ClientCapabilities` object (the error's `requiredCapabilities`).
        required: Box<ClientCapabilities>,
    },
    /// An `inputResponses` entry is not the result its input request is answered with.
    #[error("inputResponses.{key} is not a {method} result: {source}")]
    InvalidInputResponse {
        /// The input-request key.
        key: String,
        /// The method of the input request.
        method: &'static str,
        /// What serde found wrong.
        #[source]
        source: serde_json::Error,
    },
    /// A `requestState` that is missing, altered, forged, expired or of another request.
    #[error("requestState rejected: {reason}")]
    RequestState {
        /// Why.
        reason: String,
    },
    /// A `requestState` could not be sealed (a bug in the fixture, not in the request).
    #[error("cannot seal the requestState: {source}")]
    SealState {
        /// The signing error.
        #[source]
        source: jsonwebtoken::errors::Error,
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
    /// The JSON-RPC error the client receives: unknown names, bad arguments, bad input
    /// responses and bad request states are invalid params, a missing resource is
    /// resource-not-found, a missing client capability is MissingRequiredClientCapability
    /// (-32021, HTTP 400), the rest are internal errors.
    pub fn into_error_data(self) -> ErrorData {
        let message = self.to_string();
        match self {
            Self::UnknownTool { .. }
            | Self::UnknownPrompt { .. }
            | Self::UnknownCompletion { .. }
            | Self::InvalidArguments { .. }
            | Self::InvalidInputResponse { .. }
            | Self::RequestState { .. } => ErrorData::invalid_params(message, None),
            Self::UnknownResource { uri } => {
                ErrorData::resource_not_found(message, Some(serde_json::json!({ "uri": uri })))
            }
            Self::MissingClientCapability { required, .. } => {
                let mut error = ErrorData::missing_required_client_capability(*required);
                error.message = message.into();
                error
            }
            Self::ClientRequest { .. } | Self::SealState { .. } | Self::Schema { .. } => {
                ErrorData::internal_error(message, None)
            }
        }
    }
}
