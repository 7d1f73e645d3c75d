//! Errors, split by phase: [`ConfigError`] at start-up, [`AuthError`] per request (with its HTTP
//! mapping, here next to the enum).

use axum::body::Body;
use axum::response::Response;
use http::{HeaderValue, StatusCode, header};

/// Why a request was refused at the token level. Each variant knows its HTTP status
/// ([`AuthError::status`]) and its `WWW-Authenticate` challenge
/// ([`AuthError::www_authenticate`]); [`AuthError::into_response`] is the one place that turns
/// it into an HTTP response.
///
/// Messages never contain the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The request carried no bearer token.
    #[error("missing bearer token")]
    MissingToken,
    /// The token is larger than the configured maximum; it was not parsed.
    #[error("token too large: {len} bytes, at most {max} accepted")]
    TokenTooLarge {
        /// The token's length in bytes.
        len: usize,
        /// The configured maximum.
        max: usize,
    },
    /// The token could not be verified (malformed, bad signature, algorithm not allowed, wrong
    /// issuer or audience, not yet valid, unknown key, inactive …).
    #[error("invalid token: {reason}")]
    InvalidToken {
        /// A short, token-free explanation.
        reason: String,
    },
    /// The token was valid once but its `exp` has passed.
    #[error("token expired")]
    Expired,
    /// The principal lacks a scope the operation needs.
    #[error("insufficient scope: requires {required}")]
    InsufficientScope {
        /// The required scope(s), space separated.
        required: String,
    },
    /// The identity provider could not be reached, timed out or answered garbage.
    #[error("identity provider unavailable: {reason}")]
    Unavailable {
        /// What went wrong.
        reason: String,
    },
}

const UNKNOWN_KEY_ID: &str = "unknown key id";

impl AuthError {
    /// Refuses a token longer than `max` bytes before any parsing or network call.
    pub(crate) fn check_len(token: &str, max: usize) -> Result<(), Self> {
        if token.len() > max {
            return Err(Self::TokenTooLarge {
                len: token.len(),
                max,
            });
        }
        Ok(())
    }

    /// A JWT naming a `kid` the current key set lacks, even after the refetch the verifier may
    /// make for it (at most one per `min_refetch_interval`).
    pub(crate) fn unknown_key() -> Self {
        Self::invalid(UNKNOWN_KEY_ID)
    }

    /// Whether this is [`AuthError::unknown_key`]: a refusal that holds only until the key set
    /// is refetched, so it is not remembered as a refusal of the token.
    pub(crate) fn is_unknown_key(&self) -> bool {
        matches!(self, Self::InvalidToken { reason } if reason == UNKNOWN_KEY_ID)
    }

    pub(crate) fn invalid(reason: impl Into<String>) -> Self {
        Self::InvalidToken {
            reason: reason.into(),
        }
    }

    pub(crate) fn unavailable(reason: impl std::fmt::Display) -> Self {
        Self::Unavailable {
            reason: reason.to_string(),
        }
    }

    /// The HTTP status this error maps to: 401 for token problems, 403 for missing scopes and
    /// 503 when the identity provider is unavailable.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::MissingToken
            | Self::TokenTooLarge { .. }
            | Self::InvalidToken { .. }
            | Self::Expired => StatusCode::UNAUTHORIZED,
            Self::InsufficientScope { .. } => StatusCode::FORBIDDEN,
            Self::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// A short machine-readable reason, used in audit records (`auth.reason`).
    pub fn reason_code(&self) -> &'static str {
        match self {
            Self::MissingToken => "missing_token",
            Self::TokenTooLarge { .. } => "token_too_large",
            Self::InvalidToken { .. } => "invalid_token",
            Self::Expired => "token_expired",
            Self::InsufficientScope { .. } => "insufficient_scope",
            Self::Unavailable { .. } => "idp_unavailable",
        }
    }

    /// The `WWW-Authenticate` challenge (RFC 6750 §3, RFC 9728 §5.1), or `None` for 503.
    ///
    /// `resource_metadata` is the URL of the protected-resource metadata document.
    pub fn www_authenticate(&self, resource_metadata: Option<&str>) -> Option<String> {
        let mut params: Vec<String> = Vec::new();
        match self {
            Self::MissingToken => {}
            Self::InsufficientScope { required } => {
                params.push("error=\"insufficient_scope\"".into());
                params.push(format!("scope=\"{}\"", quote(required)));
            }
            Self::Unavailable { .. } => return None,
            other => {
                params.push("error=\"invalid_token\"".into());
                params.push(format!(
                    "error_description=\"{}\"",
                    quote(&other.to_string())
                ));
            }
        }
        if let Some(url) = resource_metadata {
            params.push(format!("resource_metadata=\"{}\"", quote(url)));
        }
        Some(if params.is_empty() {
            "Bearer".to_owned()
        } else {
            format!("Bearer {}", params.join(", "))
        })
    }

    /// The HTTP response for this error: status, `WWW-Authenticate`, and a small JSON body
    /// `{"error": …, "error_description": …}`.
    pub fn into_response(self, resource_metadata: Option<&str>) -> Response {
        let error = match &self {
            Self::MissingToken
            | Self::TokenTooLarge { .. }
            | Self::InvalidToken { .. }
            | Self::Expired => "invalid_token",
            Self::InsufficientScope { .. } => "insufficient_scope",
            Self::Unavailable { .. } => "temporarily_unavailable",
        };
        let body = serde_json::json!({ "error": error, "error_description": self.to_string() });
        let mut response = Response::new(Body::from(body.to_string()));
        *response.status_mut() = self.status();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(challenge) = self.www_authenticate(resource_metadata)
            && let Ok(value) = HeaderValue::from_str(&challenge)
        {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, value);
        }
        response
    }
}

/// Escapes a value for an RFC 7235 quoted-string and drops control characters.
fn quote(value: &str) -> String {
    value
        .chars()
        .filter(|c| !c.is_control())
        .flat_map(|c| match c {
            '"' | '\\' => vec!['\\', c],
            c => vec![c],
        })
        .collect()
}

/// Why a verifier, policy or layer could not be built. Returned at start-up only.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A URL could not be parsed.
    #[error("invalid URL {url}")]
    InvalidUrl {
        /// The offending URL.
        url: String,
    },
    /// An HTTP request to the identity provider failed (discovery, JWKS).
    #[error("request to {url} failed")]
    Http {
        /// The URL requested.
        url: String,
        /// The transport error.
        #[source]
        source: reqwest::Error,
    },
    /// The identity provider answered with something unusable.
    #[error("unusable response from {url}: {reason}")]
    BadResponse {
        /// The URL requested.
        url: String,
        /// What was wrong.
        reason: String,
    },
    /// A key could not be loaded.
    #[error("invalid key: {reason}")]
    InvalidKey {
        /// What was wrong.
        reason: String,
    },
    /// The configuration is inconsistent (no algorithms allowed, `none`, …).
    #[error("invalid configuration: {reason}")]
    Invalid {
        /// What was wrong.
        reason: String,
    },
    /// A policy file could not be read.
    #[error("cannot read policy file {path}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A policy document could not be parsed.
    #[error("cannot parse policy: {reason}")]
    Policy {
        /// The parser's message.
        reason: String,
    },
}

/// Why an MCP request was refused by [`AuthzHandler`](crate::AuthzHandler) (layers 2-3).
///
/// [`AccessError::to_error_data`] is the one place that turns it into a JSON-RPC error. A target
/// the caller may not see never produces an `AccessError`: it gets the handler's "unknown"
/// error instead, so its existence is not revealed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AccessError {
    /// No verified principal reached the handler (no Layer 1 in front, no stdio principal).
    #[error("authentication required")]
    Unauthenticated,
    /// The principal's token expired; the client must re-authenticate.
    #[error("token expired: re-authenticate")]
    Expired,
    /// The target is visible to the caller but the policy refused this use of it.
    #[error("insufficient permissions for {kind} {name}: {reason}")]
    Forbidden {
        /// `tool`, `resource` or `prompt`.
        kind: &'static str,
        /// The tool or prompt name or resource URI.
        name: String,
        /// What is missing, from the policy.
        reason: String,
    },
}

impl AccessError {
    /// A short machine-readable reason (`auth.reason` in audit records, `data.error` on the
    /// wire).
    pub fn reason_code(&self) -> &'static str {
        match self {
            Self::Unauthenticated => "unauthenticated",
            Self::Expired => "token_expired",
            Self::Forbidden { .. } => "insufficient_permissions",
        }
    }

    /// The JSON-RPC error: code `-32600` (invalid request) with
    /// `data = {"error": reason_code}` and the message as displayed.
    pub fn to_error_data(&self) -> rmcp::ErrorData {
        rmcp::ErrorData::invalid_request(
            self.to_string(),
            Some(serde_json::json!({ "error": self.reason_code() })),
        )
    }
}

impl From<AccessError> for rmcp::ErrorData {
    fn from(error: AccessError) -> Self {
        error.to_error_data()
    }
}

/// A Layer 4 refusal: the principal lacks a permission on a resource named in the arguments
///. See [`require_entitlement`](crate::require_entitlement).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no {permission} entitlement for application {resource}")]
#[non_exhaustive]
pub struct EntitlementError {
    /// The resource (application, tenant …) asked for.
    pub resource: String,
    /// The permission needed.
    pub permission: String,
}

impl EntitlementError {
    /// The tool result the caller (and the model) reads: an error result with this message.
    pub fn to_tool_result(&self) -> rmcp::model::CallToolResult {
        rmcp::model::CallToolResult::error(vec![rmcp::model::ContentBlock::text(self.to_string())])
    }

    /// The same refusal as a JSON-RPC error (`-32602` invalid params), for resource reads.
    pub fn to_error_data(&self) -> rmcp::ErrorData {
        rmcp::ErrorData::invalid_params(
            self.to_string(),
            Some(serde_json::json!({ "error": "insufficient_permissions" })),
        )
    }
}

impl From<EntitlementError> for rmcp::ErrorData {
    fn from(error: EntitlementError) -> Self {
        error.to_error_data()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        assert_eq!(AuthError::MissingToken.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(AuthError::Expired.status(), StatusCode::UNAUTHORIZED);
        let scope = AuthError::InsufficientScope {
            required: "a b".into(),
        };
        assert_eq!(scope.status(), StatusCode::FORBIDDEN);
        assert_eq!(scope.to_string(), "insufficient scope: requires a b");
    }

    #[test]
    fn challenges() {
        let url = Some("https://mcp.example/.well-known/oauth-protected-resource");
        assert_eq!(
            AuthError::MissingToken.www_authenticate(url).unwrap(),
            "Bearer resource_metadata=\"https://mcp.example/.well-known/oauth-protected-resource\""
        );
        assert_eq!(
            AuthError::invalid("bad \"sig\"")
                .www_authenticate(None)
                .unwrap(),
            "Bearer error=\"invalid_token\", error_description=\"invalid token: bad \\\"sig\\\"\""
        );
        let scope = AuthError::InsufficientScope {
            required: "mcp:access".into(),
        };
        assert!(
            scope
                .www_authenticate(url)
                .unwrap()
                .starts_with("Bearer error=\"insufficient_scope\", scope=\"mcp:access\", ")
        );
        assert!(AuthError::unavailable("x").www_authenticate(url).is_none());
    }
}
