//! Local JWT verification with `jsonwebtoken`.

use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use serde_json::Value;
use tracing::Instrument;

use crate::audit;
use crate::discovery::OidcMetadata;
use crate::entitlements::{DefaultMapper, EntitlementMapper};
use crate::error::ConfigError;
use crate::jwks::{JwksCache, JwksRefresh};
use crate::keys::KeySet;
use crate::verifier::principal_from_claims;
use crate::{AuthError, Principal, TokenVerifier};

/// Default maximum token size in bytes (8 KiB).
pub const DEFAULT_MAX_TOKEN_LEN: usize = 8 * 1024;

enum Source {
    JwksUrl(String),
    Discovery(String),
    Static(KeySet),
}

enum Keys {
    Static(Arc<KeySet>),
    Jwks(Arc<JwksCache>),
}

/// Builds a [`JwtVerifier`]. Start with [`JwtVerifier::from_jwks_url`],
/// [`JwtVerifier::from_oidc_discovery`] or [`JwtVerifier::from_static_keys`].
///
/// Defaults: algorithms RS256 and ES256, leeway 60 s, maximum token size
/// [`DEFAULT_MAX_TOKEN_LEN`], [`JwksRefresh::default`], the [`DefaultMapper`],
/// [`TokenType::AccessTokenOrJwt`], `https` only for non-loopback key URLs.
///
/// An audience is required: [`build`](Self::build) fails without [`audience`](Self::audience)
/// (or the explicit [`danger_accept_any_audience`](Self::danger_accept_any_audience)). Set the
/// issuer too; OIDC discovery sets it for you.
#[must_use]
pub struct JwtVerifierBuilder {
    source: Source,
    issuers: Vec<String>,
    audiences: Vec<String>,
    any_audience: bool,
    allow_http: bool,
    token_type: TokenType,
    algorithms: Vec<Algorithm>,
    leeway: Duration,
    max_token_len: usize,
    refresh: JwksRefresh,
    client: Option<reqwest::Client>,
    mapper: Arc<dyn EntitlementMapper>,
}

impl std::fmt::Debug for JwtVerifierBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifierBuilder")
            .field("issuers", &self.issuers)
            .field("audiences", &self.audiences)
            .field("algorithms", &self.algorithms)
            .finish_non_exhaustive()
    }
}

impl JwtVerifierBuilder {
    fn new(source: Source) -> Self {
        Self {
            source,
            issuers: Vec::new(),
            audiences: Vec::new(),
            any_audience: false,
            allow_http: false,
            token_type: TokenType::default(),
            algorithms: vec![Algorithm::RS256, Algorithm::ES256],
            leeway: Duration::from_secs(60),
            max_token_len: DEFAULT_MAX_TOKEN_LEN,
            refresh: JwksRefresh::default(),
            client: None,
            mapper: Arc::new(DefaultMapper::default()),
        }
    }

    /// Accepts tokens whose `iss` is `issuer` (call again for several). Makes `iss` required.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuers.push(issuer.into());
        self
    }

    /// Accepts tokens whose `aud` contains `audience` (call again for several). Makes `aud`
    /// required.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// Builds a verifier that checks no audience at all.
    ///
    /// Dangerous: any token the issuer signs is then accepted, including tokens it issued for
    /// other APIs. A user's token for their calendar, or another service's token that happens to
    /// claim `roles: ["admin"]`, becomes a valid credential for this server (the confused-deputy
    /// and token-replay attacks that RFC 8707 audience binding exists to stop; the MCP
    /// authorization specification requires servers to validate the audience). Use it only when
    /// the issuer mints tokens for this one server and nothing else.
    pub fn danger_accept_any_audience(mut self) -> Self {
        self.any_audience = true;
        self
    }

    /// Accepts plain-`http` discovery and JWKS URLs on non-loopback hosts. Keys fetched that
    /// way can be replaced by anyone on the network path, who can then mint tokens: for test
    /// networks only.
    pub fn allow_insecure_http(mut self) -> Self {
        self.allow_http = true;
        self
    }

    /// Which JOSE `typ` header values are accepted (default [`TokenType::AccessTokenOrJwt`]).
    pub fn token_type(mut self, token_type: TokenType) -> Self {
        self.token_type = token_type;
        self
    }

    /// The algorithm allow-list (replaces the default). `none` cannot be expressed; HMAC
    /// algorithms only ever verify with HMAC keys.
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = algorithms.into_iter().collect();
        self
    }

    /// Clock-skew leeway for `exp` and `nbf`.
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Tokens longer than this many bytes are refused before any parsing.
    pub fn max_token_len(mut self, max: usize) -> Self {
        self.max_token_len = max;
        self
    }

    /// How the JWKS is refreshed (ignored for static keys).
    pub fn refresh(mut self, refresh: JwksRefresh) -> Self {
        self.refresh = refresh;
        self
    }

    /// The HTTP client for discovery and JWKS requests (default: a new `reqwest::Client`).
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.client = Some(client);
        self
    }

    /// The entitlement mapper (default [`DefaultMapper`]).
    pub fn mapper(mut self, mapper: impl EntitlementMapper) -> Self {
        self.mapper = Arc::new(mapper);
        self
    }

    /// Builds the verifier. For JWKS and discovery sources this fetches the metadata and keys
    /// once and fails if it cannot; it then starts the periodic refresh on the current tokio
    /// runtime.
    pub async fn build(self) -> Result<JwtVerifier, ConfigError> {
        if self.algorithms.is_empty() {
            return Err(ConfigError::Invalid {
                reason: "the algorithm allow-list is empty".into(),
            });
        }
        if self.audiences.is_empty() && !self.any_audience {
            return Err(ConfigError::Invalid {
                reason: "no audience: set the audience this server's tokens are issued for \
                         (usually its public URL), or call danger_accept_any_audience"
                    .into(),
            });
        }
        let client = self.client.unwrap_or_else(crate::idp::default_client);
        let allow_http = self.allow_http;
        let mut issuers = self.issuers;
        let keys = match self.source {
            Source::Static(set) => {
                if set.is_empty() {
                    return Err(ConfigError::Invalid {
                        reason: "no static keys".into(),
                    });
                }
                Keys::Static(Arc::new(set))
            }
            Source::JwksUrl(url) => {
                crate::idp::check_url(&url, allow_http)?;
                Keys::Jwks(JwksCache::start(url, client, self.refresh).await?)
            }
            Source::Discovery(issuer) => {
                crate::idp::check_url(&issuer, allow_http)?;
                let metadata =
                    OidcMetadata::discover(&client, &issuer, self.refresh.timeout).await?;
                crate::idp::check_url(&metadata.jwks_uri, allow_http)?;
                if issuers.is_empty() {
                    issuers.push(metadata.issuer.clone());
                }
                Keys::Jwks(JwksCache::start(metadata.jwks_uri, client, self.refresh).await?)
            }
        };
        let mut validation = Validation::new(self.algorithms[0]);
        validation.algorithms.clone_from(&self.algorithms);
        validation.leeway = self.leeway.as_secs();
        validation.validate_nbf = true;
        validation.validate_exp = true;
        let mut required = vec!["exp"];
        if issuers.is_empty() {
            validation.iss = None;
        } else {
            validation.set_issuer(&issuers);
            required.push("iss");
        }
        if self.audiences.is_empty() {
            validation.validate_aud = false;
        } else {
            validation.set_audience(&self.audiences);
            required.push("aud");
        }
        validation.set_required_spec_claims(&required);
        Ok(JwtVerifier {
            inner: Arc::new(Inner {
                keys,
                validation,
                max_token_len: self.max_token_len,
                mapper: self.mapper,
                token_type: self.token_type,
            }),
        })
    }
}

/// Which JOSE `typ` header values a [`JwtVerifier`] accepts. The header says what kind of JWT a
/// token is; checking it stops a signed JWT of another kind from the same issuer (an ID token, a
/// logout token, a DPoP proof) from being used as an access token.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenType {
    /// RFC 9068 access tokens (`at+jwt`, `application/at+jwt`), plain `JWT`, or no `typ` — what
    /// the common identity providers issue. Any other `typ` is refused. The default.
    #[default]
    AccessTokenOrJwt,
    /// Only RFC 9068 access tokens: `typ` must be `at+jwt` (or `application/at+jwt`). Use it
    /// when your provider issues RFC 9068 tokens: it also refuses ID tokens signed by the same
    /// keys.
    AccessTokenOnly,
    /// Any `typ`, or none.
    Any,
}

impl TokenType {
    fn accepts(self, typ: Option<&str>) -> bool {
        let typ = typ.map(str::to_ascii_lowercase);
        let access = matches!(typ.as_deref(), Some("at+jwt" | "application/at+jwt"));
        match self {
            Self::Any => true,
            Self::AccessTokenOnly => access,
            Self::AccessTokenOrJwt => access || matches!(typ.as_deref(), None | Some("jwt")),
        }
    }
}

/// The JOSE header fields checked before the signature, read from the token's first segment
/// (`jsonwebtoken` does not expose `crit`).
fn check_header(token: &str, token_type: TokenType) -> Result<(), AuthError> {
    use base64::Engine as _;
    let segment = token.split('.').next().unwrap_or_default();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(segment.trim_end_matches('='))
        .map_err(|_| AuthError::invalid("malformed token header"))?;
    let header: serde_json::Map<String, Value> =
        serde_json::from_slice(&bytes).map_err(|_| AuthError::invalid("malformed token header"))?;
    // RFC 7515 §4.1.11: a recipient that does not understand a critical extension must refuse
    // the token. This verifier understands none.
    if let Some(crit) = header.get("crit") {
        let named = crit
            .as_array()
            .map(|names| {
                names
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default();
        return Err(AuthError::invalid(format!(
            "unsupported critical header extension ({named})"
        )));
    }
    let typ = match header.get("typ") {
        None => None,
        Some(Value::String(typ)) => Some(typ.as_str()),
        Some(_) => return Err(AuthError::invalid("malformed token header")),
    };
    if !token_type.accepts(typ) {
        return Err(AuthError::invalid(format!(
            "token type `{}` is not an access token",
            typ.unwrap_or_default()
        )));
    }
    Ok(())
}

struct Inner {
    keys: Keys,
    validation: Validation,
    max_token_len: usize,
    mapper: Arc<dyn EntitlementMapper>,
    token_type: TokenType,
}

/// Verifies JWT access tokens locally: signature against a JWKS (fetched,
/// refreshed, refetched on unknown `kid`) or static keys, an explicit algorithm allow-list with
/// the key's family matching the token's `alg`, `iss`/`aud`/`exp`/`nbf` with leeway, and a
/// maximum token size checked before parsing.
///
/// Cheap to clone (an `Arc`). Verifying a token with a known `kid` is lock-free.
#[derive(Clone)]
pub struct JwtVerifier {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("algorithms", &self.inner.validation.algorithms)
            .field("iss", &self.inner.validation.iss)
            .field("aud", &self.inner.validation.aud)
            .finish_non_exhaustive()
    }
}

impl JwtVerifier {
    /// Keys from the JWKS at `url`.
    pub fn from_jwks_url(url: impl Into<String>) -> JwtVerifierBuilder {
        JwtVerifierBuilder::new(Source::JwksUrl(url.into()))
    }

    /// Keys (and the expected issuer, unless set explicitly) from OpenID Connect discovery of
    /// `issuer`.
    pub fn from_oidc_discovery(issuer: impl Into<String>) -> JwtVerifierBuilder {
        JwtVerifierBuilder::new(Source::Discovery(issuer.into()))
    }

    /// Fixed keys.
    pub fn from_static_keys(keys: KeySet) -> JwtVerifierBuilder {
        JwtVerifierBuilder::new(Source::Static(keys))
    }

    /// How many times the JWKS was fetched (0 for static keys).
    pub fn jwks_fetch_count(&self) -> u64 {
        match &self.inner.keys {
            Keys::Static(_) => 0,
            Keys::Jwks(cache) => cache.fetch_count(),
        }
    }

    async fn verify_inner(&self, token: &str) -> Result<Principal, AuthError> {
        let inner = &*self.inner;
        AuthError::check_len(token, inner.max_token_len)?;
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| AuthError::invalid("malformed token or unsupported algorithm"))?;
        check_header(token, inner.token_type)?;
        let alg = header.alg;
        if !inner.validation.algorithms.contains(&alg) {
            return Err(AuthError::invalid(format!("algorithm {alg:?} not allowed")));
        }
        let kid = header.kid.as_deref();
        let keys = match &inner.keys {
            Keys::Static(set) => Arc::clone(set),
            Keys::Jwks(cache) => {
                let current = cache.current();
                match kid {
                    Some(kid) if !current.contains_kid(kid) => cache.refetch_for(kid).await,
                    _ => arc_swap::Guard::into_inner(current),
                }
            }
        };
        let mut last_error = AuthError::unknown_key();
        for key in keys.candidates(kid) {
            if !key.accepts(alg) {
                last_error = AuthError::invalid(format!("key cannot verify {alg:?}"));
                continue;
            }
            let mut validation = inner.validation.clone();
            validation.algorithms = vec![alg];
            match jsonwebtoken::decode::<Value>(token, &key.key, &validation) {
                Ok(data) => return principal_from_claims(data.claims, &*inner.mapper),
                Err(error) => {
                    last_error = map_jwt_error(error.kind());
                    // Without a kid, another candidate key may still match the signature.
                    if !matches!(error.kind(), ErrorKind::InvalidSignature) {
                        break;
                    }
                }
            }
        }
        Err(last_error)
    }
}

fn map_jwt_error(kind: &ErrorKind) -> AuthError {
    match kind {
        ErrorKind::ExpiredSignature => AuthError::Expired,
        ErrorKind::ImmatureSignature => AuthError::invalid("token not yet valid (nbf)"),
        ErrorKind::InvalidIssuer => AuthError::invalid("untrusted issuer"),
        ErrorKind::InvalidAudience => AuthError::invalid("wrong audience"),
        ErrorKind::InvalidSignature => AuthError::invalid("bad signature"),
        ErrorKind::InvalidAlgorithm => AuthError::invalid("algorithm not allowed for this key"),
        ErrorKind::MissingRequiredClaim(claim) => {
            AuthError::invalid(format!("missing required claim `{claim}`"))
        }
        _ => AuthError::invalid("malformed token"),
    }
}

#[async_trait::async_trait]
impl TokenVerifier for JwtVerifier {
    async fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        let span = audit::verify_span("jwt");
        let result = self.verify_inner(token).instrument(span.clone()).await;
        audit::record_verify(&span, &result);
        result
    }
}
