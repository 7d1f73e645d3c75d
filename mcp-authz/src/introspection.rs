//! The RFC 7662 token introspection verifier.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::Value;
use tracing::Instrument;

use crate::discovery::OidcMetadata;
use crate::entitlements::{DefaultMapper, EntitlementMapper};
use crate::error::ConfigError;
use crate::idp::{self, Gate, IdpLimits};
use crate::jwt::DEFAULT_MAX_TOKEN_LEN;
use crate::userinfo::{DEFAULT_IDP_TIMEOUT, transport};

use crate::verifier::{principal_from_claims, unix_time};
use crate::{AuthError, Principal, TokenVerifier, audit};

/// How the resource server authenticates to the introspection endpoint (RFC 7662 §2.1).
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientAuth {
    /// `client_secret_basic`: HTTP Basic with the client id and secret.
    Basic {
        /// The resource server's client id.
        client_id: String,
        /// Its secret.
        client_secret: String,
    },
    /// `client_secret_post`: `client_id` and `client_secret` form fields.
    Post {
        /// The resource server's client id.
        client_id: String,
        /// Its secret.
        client_secret: String,
    },
    /// A bearer token of the resource server's own.
    Bearer(String),
}

impl ClientAuth {
    /// `client_secret_basic`.
    pub fn basic(client_id: impl Into<String>, client_secret: impl Into<String>) -> Self {
        Self::Basic {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
        }
    }

    /// `client_secret_post`.
    pub fn post(client_id: impl Into<String>, client_secret: impl Into<String>) -> Self {
        Self::Post {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
        }
    }
}

impl fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print secrets.
        match self {
            Self::Basic { client_id, .. } => write!(f, "Basic({client_id}, ***)"),
            Self::Post { client_id, .. } => write!(f, "Post({client_id}, ***)"),
            Self::Bearer(_) => f.write_str("Bearer(***)"),
        }
    }
}

/// Verifies a token by asking the authorization server (RFC 7662): `active: true` means valid;
/// the response's `scope`, `sub`, `client_id`, `exp`, `aud`, `iss` and extra claims become the
/// principal. Works for opaque tokens and sees revocation immediately (at the cost of one request
/// per token: wrap it in a [`CachedVerifier`](crate::CachedVerifier)).
///
/// Traffic to the provider is bounded as for [`UserinfoVerifier`](crate::UserinfoVerifier):
/// `https` only (plain `http` for loopback hosts or with
/// [`allow_insecure_http`](Self::allow_insecure_http)), no redirects followed by the default
/// client, responses capped in size, at most [`IdpLimits`] requests at once and per second.
///
/// ```
/// use mcp_authz::{ClientAuth, IntrospectionVerifier};
/// use std::time::Duration;
///
/// let verifier = IntrospectionVerifier::new(
///     "https://idp.example.com/token/introspection",
///     ClientAuth::basic("mcp-server", "rs-secret"),
/// )
/// .audience("urn:mcp-patterns")
/// .timeout(Duration::from_secs(2));
/// # let _ = verifier;
/// ```
#[derive(Clone)]
pub struct IntrospectionVerifier {
    url: String,
    auth: ClientAuth,
    client: reqwest::Client,
    timeout: Duration,
    audiences: Vec<String>,
    issuer: Option<String>,
    max_token_len: usize,
    mapper: Arc<dyn EntitlementMapper>,
    allow_http: bool,
    gate: Gate,
}

impl fmt::Debug for IntrospectionVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntrospectionVerifier")
            .field("url", &self.url)
            .field("auth", &self.auth)
            .field("timeout", &self.timeout)
            .field("audiences", &self.audiences)
            .finish_non_exhaustive()
    }
}

impl IntrospectionVerifier {
    /// Introspects at `url`, authenticating with `auth`; timeout [`DEFAULT_IDP_TIMEOUT`], no
    /// audience or issuer check, the [`DefaultMapper`].
    pub fn new(url: impl Into<String>, auth: ClientAuth) -> Self {
        Self {
            url: url.into(),
            auth,
            client: idp::default_client(),
            allow_http: false,
            gate: Gate::new(IdpLimits::default()),
            timeout: DEFAULT_IDP_TIMEOUT,
            audiences: Vec::new(),
            issuer: None,
            max_token_len: DEFAULT_MAX_TOKEN_LEN,
            mapper: Arc::new(DefaultMapper::default()),
        }
    }

    /// Uses the `introspection_endpoint` of discovered provider metadata and checks `iss`
    /// against its issuer.
    pub fn from_metadata(metadata: &OidcMetadata, auth: ClientAuth) -> Result<Self, ConfigError> {
        let url =
            metadata
                .introspection_endpoint
                .as_deref()
                .ok_or_else(|| ConfigError::BadResponse {
                    url: metadata.issuer.clone(),
                    reason: "the provider has no introspection_endpoint".into(),
                })?;
        Ok(Self::new(url, auth).issuer(metadata.issuer.clone()))
    }

    /// Requires `aud` to contain `audience` (call again to accept several).
    #[must_use]
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// Requires `iss`, when the response has one, to be `issuer`.
    #[must_use]
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// The timeout of one introspection request.
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

    /// Accepts a plain-`http` introspection URL on a non-loopback host. Tokens and the server's
    /// client secret then cross the network unencrypted: for test networks only.
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

    async fn verify_inner(&self, token: &str) -> Result<Principal, AuthError> {
        AuthError::check_len(token, self.max_token_len)?;
        self.check().map_err(|e| {
            AuthError::unavailable(format!("introspection verifier misconfigured: {e}"))
        })?;
        let _permit = self.gate.enter().await.map_err(AuthError::unavailable)?;
        let mut form = vec![("token", token), ("token_type_hint", "access_token")];
        let mut request = self.client.post(&self.url).timeout(self.timeout);
        match &self.auth {
            ClientAuth::Basic {
                client_id,
                client_secret,
            } => request = request.basic_auth(client_id, Some(client_secret)),
            ClientAuth::Post {
                client_id,
                client_secret,
            } => {
                form.push(("client_id", client_id));
                form.push(("client_secret", client_secret));
            }
            ClientAuth::Bearer(bearer) => request = request.bearer_auth(bearer),
        }
        let response = request.form(&form).send().await.map_err(|e| {
            AuthError::unavailable(format!("introspection request failed: {}", transport(&e)))
        })?;
        let status = response.status();
        if status == http::StatusCode::UNAUTHORIZED || status == http::StatusCode::FORBIDDEN {
            // Our credentials were refused: a configuration problem, not the caller's token.
            tracing::error!(%status, url = %self.url, "introspection client authentication failed");
            return Err(AuthError::unavailable(
                "introspection client authentication failed",
            ));
        }
        if !status.is_success() {
            return Err(AuthError::unavailable(format!(
                "introspection endpoint answered {status}"
            )));
        }
        let claims: Value = idp::read_json(response, self.gate.limits().max_response_bytes)
            .await
            .map_err(|e| AuthError::unavailable(format!("introspection response unusable: {e}")))?;
        if claims.get("active").and_then(Value::as_bool) != Some(true) {
            return Err(AuthError::invalid("token is not active"));
        }
        if unix_time(claims.get("exp")).is_some_and(|exp| exp <= SystemTime::now()) {
            return Err(AuthError::Expired);
        }
        if unix_time(claims.get("nbf")).is_some_and(|nbf| nbf > SystemTime::now()) {
            return Err(AuthError::invalid("token not yet valid (nbf)"));
        }
        if let Some(expected) = &self.issuer
            && let Some(iss) = claims.get("iss").and_then(Value::as_str)
            && iss.trim_end_matches('/') != expected.trim_end_matches('/')
        {
            return Err(AuthError::invalid("untrusted issuer"));
        }
        let principal = principal_from_claims(claims, &*self.mapper)?;
        if !self.audiences.is_empty()
            && !principal
                .audience
                .iter()
                .any(|a| self.audiences.contains(a))
        {
            return Err(AuthError::invalid("wrong audience"));
        }
        Ok(principal)
    }
}

#[async_trait::async_trait]
impl TokenVerifier for IntrospectionVerifier {
    async fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        let span = audit::verify_span("introspection");
        let result = self.verify_inner(token).instrument(span.clone()).await;
        audit::record_verify(&span, &result);
        result
    }
}
