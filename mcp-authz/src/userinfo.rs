//! The OIDC userinfo verifier.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tracing::Instrument;

use crate::discovery::OidcMetadata;
use crate::entitlements::{DefaultMapper, EntitlementMapper};
use crate::error::ConfigError;
use crate::idp::{self, Gate, IdpLimits};
use crate::jwt::DEFAULT_MAX_TOKEN_LEN;
use crate::verifier::principal_from_claims;
use crate::{AuthError, Principal, TokenVerifier, audit};

/// Default timeout of one request to the identity provider: 5 s.
pub const DEFAULT_IDP_TIMEOUT: Duration = Duration::from_secs(5);

/// Verifies a token by calling the OpenID Connect userinfo endpoint with it: a `200` with a JSON
/// object that has `sub` means valid, `401`/`403` means invalid. Works for opaque tokens and
/// yields the user's claims (roles, entitlements) as the provider releases them.
///
/// Userinfo responses carry no `exp` and usually no scopes: wrap the verifier in a
/// [`CachedVerifier`](crate::CachedVerifier) (its `max_ttl` then bounds how long a revoked token
/// keeps working) and prefer introspection when scopes matter. Userinfo cannot tell which
/// audience a token was issued for, so a token meant for another API is accepted too: prefer
/// local JWT verification with an audience, or introspection with one, where the provider allows.
///
/// Traffic to the provider is bounded: `https` only (plain `http` for loopback hosts or with
/// [`allow_insecure_http`](Self::allow_insecure_http)), no redirects followed by the default
/// client, responses capped in size, and at most [`IdpLimits`] requests at once and per second.
/// A URL that breaks the first rule makes every verification fail with
/// [`AuthError::Unavailable`]; call [`check`](Self::check) at start-up to find out early.
#[derive(Clone)]
pub struct UserinfoVerifier {
    url: String,
    client: reqwest::Client,
    timeout: Duration,
    max_token_len: usize,
    mapper: Arc<dyn EntitlementMapper>,
    allow_http: bool,
    gate: Gate,
}

impl fmt::Debug for UserinfoVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserinfoVerifier")
            .field("url", &self.url)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl UserinfoVerifier {
    /// Calls the userinfo endpoint at `url`; timeout [`DEFAULT_IDP_TIMEOUT`], the
    /// [`DefaultMapper`].
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            client: idp::default_client(),
            timeout: DEFAULT_IDP_TIMEOUT,
            max_token_len: DEFAULT_MAX_TOKEN_LEN,
            mapper: Arc::new(DefaultMapper::default()),
            allow_http: false,
            gate: Gate::new(IdpLimits::default()),
        }
    }

    /// Accepts a plain-`http` userinfo URL on a non-loopback host. Tokens then cross the network
    /// unencrypted, readable and replayable by anyone on the path: for test networks only.
    #[must_use]
    pub fn allow_insecure_http(mut self) -> Self {
        self.allow_http = true;
        self
    }

    /// Bounds on requests to the provider (default [`IdpLimits::default`]).
    #[must_use]
    pub fn limits(mut self, limits: IdpLimits) -> Self {
        self.gate = Gate::new(limits);
        self
    }

    /// Checks the configuration without contacting the provider: the URL must parse and use
    /// `https` (or be allowed plain `http`).
    pub fn check(&self) -> Result<(), ConfigError> {
        idp::check_url(&self.url, self.allow_http)
    }

    /// Uses the `userinfo_endpoint` of discovered provider metadata.
    pub fn from_metadata(metadata: &OidcMetadata) -> Result<Self, ConfigError> {
        metadata
            .userinfo_endpoint
            .as_deref()
            .map(Self::new)
            .ok_or_else(|| ConfigError::BadResponse {
                url: metadata.issuer.clone(),
                reason: "the provider has no userinfo_endpoint".into(),
            })
    }

    /// The timeout of one userinfo request.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The HTTP client to use.
    #[must_use]
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.client = client;
        self
    }

    /// The entitlement mapper.
    #[must_use]
    pub fn mapper(mut self, mapper: impl EntitlementMapper) -> Self {
        self.mapper = Arc::new(mapper);
        self
    }

    /// Tokens longer than this are refused without a request.
    #[must_use]
    pub fn max_token_len(mut self, max: usize) -> Self {
        self.max_token_len = max;
        self
    }

    async fn verify_inner(&self, token: &str) -> Result<Principal, AuthError> {
        AuthError::check_len(token, self.max_token_len)?;
        self.check()
            .map_err(|e| AuthError::unavailable(format!("userinfo verifier misconfigured: {e}")))?;
        let _permit = self.gate.enter().await.map_err(AuthError::unavailable)?;
        let response = self
            .client
            .get(&self.url)
            .bearer_auth(token)
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|e| {
                AuthError::unavailable(format!("userinfo request failed: {}", transport(&e)))
            })?;
        let status = response.status();
        if status == http::StatusCode::UNAUTHORIZED || status == http::StatusCode::FORBIDDEN {
            return Err(AuthError::invalid("rejected by the userinfo endpoint"));
        }
        if !status.is_success() {
            return Err(AuthError::unavailable(format!(
                "userinfo endpoint answered {status}"
            )));
        }
        let claims: Value = idp::read_json(response, self.gate.limits().max_response_bytes)
            .await
            .map_err(|e| AuthError::unavailable(format!("userinfo response unusable: {e}")))?;
        if !claims.is_object() {
            return Err(AuthError::unavailable(
                "userinfo response is not a JSON object",
            ));
        }
        principal_from_claims(claims, &*self.mapper)
    }
}

/// A token-free description of a reqwest error.
pub(crate) fn transport(error: &reqwest::Error) -> &'static str {
    if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "cannot connect"
    } else if error.is_decode() {
        "invalid response body"
    } else {
        "transport error"
    }
}

#[async_trait::async_trait]
impl TokenVerifier for UserinfoVerifier {
    async fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        let span = audit::verify_span("userinfo");
        let result = self.verify_inner(token).instrument(span.clone()).await;
        audit::record_verify(&span, &result);
        result
    }
}
