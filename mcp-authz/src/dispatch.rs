//! Multi-tenant dispatch by issuer.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use serde_json::Value;

use crate::jwt::DEFAULT_MAX_TOKEN_LEN;
use crate::{AuthError, Principal, TokenVerifier};

/// Routes each token to the verifier of its issuer (`iss`), for servers that accept tokens from
/// several identity providers or tenants.
///
/// The `iss` claim is read from the *unverified* payload only to pick a verifier; that verifier
/// then checks everything, its own issuer included. Tokens that are not JWTs (opaque tokens)
/// go to the [`IssuerDispatch::opaque`] verifier (typically introspection), or are refused.
///
/// ```
/// use mcp_authz::{IssuerDispatch, JwtVerifier};
/// # async fn run(tenant_a: JwtVerifier, tenant_b: JwtVerifier) {
/// let verifier = IssuerDispatch::new()
///     .issuer("https://idp.tenant-a.example", tenant_a)
///     .issuer("https://idp.tenant-b.example", tenant_b);
/// # let _ = verifier; }
/// ```
#[derive(Clone, Default)]
pub struct IssuerDispatch {
    by_issuer: HashMap<String, Arc<dyn TokenVerifier>>,
    opaque: Option<Arc<dyn TokenVerifier>>,
    max_token_len: Option<usize>,
}

impl fmt::Debug for IssuerDispatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut issuers: Vec<&String> = self.by_issuer.keys().collect();
        issuers.sort();
        f.debug_struct("IssuerDispatch")
            .field("issuers", &issuers)
            .field("opaque", &self.opaque.is_some())
            .finish_non_exhaustive()
    }
}

impl IssuerDispatch {
    /// No issuers yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Tokens whose `iss` is `issuer` go to `verifier`.
    #[must_use]
    pub fn issuer(
        mut self,
        issuer: impl Into<String>,
        verifier: impl TokenVerifier + 'static,
    ) -> Self {
        self.by_issuer.insert(issuer.into(), Arc::new(verifier));
        self
    }

    /// Tokens that are not JWTs go to `verifier`.
    #[must_use]
    pub fn opaque(mut self, verifier: impl TokenVerifier + 'static) -> Self {
        self.opaque = Some(Arc::new(verifier));
        self
    }

    /// Tokens longer than this are refused before any parsing (default
    /// [`DEFAULT_MAX_TOKEN_LEN`]).
    #[must_use]
    pub fn max_token_len(mut self, max: usize) -> Self {
        self.max_token_len = Some(max);
        self
    }
}

#[async_trait::async_trait]
impl TokenVerifier for IssuerDispatch {
    async fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        AuthError::check_len(token, self.max_token_len.unwrap_or(DEFAULT_MAX_TOKEN_LEN))?;
        match jsonwebtoken::dangerous::insecure_decode_claims::<Value>(token) {
            Ok(claims) => {
                let issuer = claims
                    .get("iss")
                    .and_then(Value::as_str)
                    .ok_or_else(|| AuthError::invalid("token has no issuer"))?;
                let verifier = self
                    .by_issuer
                    .get(issuer)
                    .ok_or_else(|| AuthError::invalid("untrusted issuer"))?;
                verifier.verify(token).await
            }
            Err(_) => match &self.opaque {
                Some(verifier) => verifier.verify(token).await,
                None => Err(AuthError::invalid("malformed token")),
            },
        }
    }
}
