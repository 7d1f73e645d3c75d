//! Per-request authorization errors and their HTTP mapping.

use http::StatusCode;

/// Why a request was refused. Each variant knows its HTTP status ([`AuthError::status`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The request carried no bearer token.
    #[error("missing bearer token")]
    MissingToken,
    /// The token could not be verified (bad signature, malformed, wrong issuer or audience …).
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
        /// The missing scope(s), space separated.
        required: String,
    },
    /// The identity provider could not be reached or answered garbage.
    #[error("identity provider unavailable: {reason}")]
    Unavailable {
        /// What went wrong.
        reason: String,
    },
}

impl AuthError {
    /// The HTTP status this error maps to: 401 for token problems, 403 for missing scopes and
    /// 503 when the identity provider is unavailable.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::MissingToken | Self::InvalidToken { .. } | Self::Expired => {
                StatusCode::UNAUTHORIZED
            }
            Self::InsufficientScope { .. } => StatusCode::FORBIDDEN,
            Self::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
        }
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
}
