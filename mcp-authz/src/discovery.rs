//! OpenID Connect discovery (`/.well-known/openid-configuration`).

use std::time::Duration;

use crate::error::ConfigError;
use crate::idp::DEFAULT_MAX_IDP_RESPONSE_BYTES;

/// The parts of an OpenID Provider's metadata this crate uses.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[non_exhaustive]
pub struct OidcMetadata {
    /// The issuer identifier; equals the URL discovery was run against.
    pub issuer: String,
    /// Where the signing keys are.
    pub jwks_uri: String,
    /// The OIDC userinfo endpoint, if any.
    #[serde(default)]
    pub userinfo_endpoint: Option<String>,
    /// The RFC 7662 introspection endpoint, if any.
    #[serde(default)]
    pub introspection_endpoint: Option<String>,
    /// The token endpoint, if any.
    #[serde(default)]
    pub token_endpoint: Option<String>,
}

impl OidcMetadata {
    /// Fetches `{issuer}/.well-known/openid-configuration` and checks that the document's
    /// `issuer` is `issuer` (OpenID Connect Discovery §4.3).
    pub async fn discover(
        client: &reqwest::Client,
        issuer: &str,
        timeout: Duration,
    ) -> Result<Self, ConfigError> {
        let url = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        let http = |source| ConfigError::Http {
            url: url.clone(),
            source,
        };
        let response = client
            .get(&url)
            .timeout(timeout)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(http)?;
        let metadata: Self = crate::idp::read_json(response, DEFAULT_MAX_IDP_RESPONSE_BYTES)
            .await
            .map_err(|error| match error {
                crate::idp::BodyError::Transport(source) => ConfigError::Http {
                    url: url.clone(),
                    source,
                },
                other => ConfigError::BadResponse {
                    url: url.clone(),
                    reason: other.to_string(),
                },
            })?;
        if metadata.issuer.trim_end_matches('/') != issuer.trim_end_matches('/') {
            return Err(ConfigError::BadResponse {
                url,
                reason: format!(
                    "issuer mismatch: asked for {issuer}, document says {}",
                    metadata.issuer
                ),
            });
        }
        Ok(metadata)
    }
}
