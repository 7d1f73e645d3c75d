//! The verifier trait and what every verifier shares.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::entitlements::EntitlementMapper;
use crate::{AuthError, Principal};

/// Verifies a bearer token and returns the caller it identifies.
///
/// Implementations must never log or store the token itself. Implementations in this crate:
/// [`JwtVerifier`](crate::JwtVerifier) (local JWT checks against JWKS or static keys),
/// [`UserinfoVerifier`](crate::UserinfoVerifier), [`IntrospectionVerifier`](crate::IntrospectionVerifier),
/// and the combinators [`CachedVerifier`](crate::CachedVerifier) and
/// [`IssuerDispatch`](crate::IssuerDispatch).
#[async_trait::async_trait]
pub trait TokenVerifier: Send + Sync {
    /// Verifies `token` and returns its principal, or why it was refused.
    async fn verify(&self, token: &str) -> Result<Principal, AuthError>;
}

#[async_trait::async_trait]
impl<V: TokenVerifier + ?Sized> TokenVerifier for std::sync::Arc<V> {
    async fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        (**self).verify(token).await
    }
}

#[async_trait::async_trait]
impl<V: TokenVerifier + ?Sized> TokenVerifier for Box<V> {
    async fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        (**self).verify(token).await
    }
}

fn string_list(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

/// The latest time a claim can name: 9999-12-31T23:59:59Z. Later values (a hostile `exp` of
/// `1e300` or `u64::MAX`) are clamped to it instead of overflowing `SystemTime`.
const MAX_UNIX_SECS: u64 = 253_402_300_799;

pub(crate) fn unix_time(value: Option<&Value>) -> Option<SystemTime> {
    let secs = value?.as_f64()?;
    if !secs.is_finite() || secs < 0.0 {
        return None;
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let secs = (secs as u64).min(MAX_UNIX_SECS);
    UNIX_EPOCH.checked_add(Duration::from_secs(secs))
}

/// Builds a principal from a JSON claims object (token claims, introspection response, userinfo).
pub(crate) fn principal_from_claims(
    claims: Value,
    mapper: &dyn EntitlementMapper,
) -> Result<Principal, AuthError> {
    // An empty string is no identity: treated as absent, so `"sub": ""` is refused rather than
    // becoming a subject every such token shares.
    let str_claim = |name: &str| {
        claims
            .get(name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let client_id = str_claim("client_id").or_else(|| str_claim("azp"));
    let subject = str_claim("sub")
        .or_else(|| client_id.clone())
        .ok_or_else(|| AuthError::invalid("no subject (`sub`) in token"))?;
    let mut principal = Principal::new(subject);
    principal.client_id = client_id;
    principal.issuer = str_claim("iss");
    principal.audience = string_list(claims.get("aud"));
    principal.expires_at = unix_time(claims.get("exp"));
    principal.entitlements = mapper.map(&claims);
    principal.claims = claims;
    Ok(principal)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entitlements::DefaultMapper;

    #[test]
    fn far_future_and_hostile_times_do_not_overflow() {
        let max = UNIX_EPOCH + Duration::from_secs(MAX_UNIX_SECS);
        for huge in [
            serde_json::json!(u64::MAX),
            serde_json::json!(i64::MAX),
            serde_json::json!(1e300),
        ] {
            assert_eq!(unix_time(Some(&huge)), Some(max), "{huge}");
        }
        for invalid in [
            serde_json::json!(-1),
            serde_json::json!("1700000000"),
            serde_json::json!(null),
        ] {
            assert_eq!(unix_time(Some(&invalid)), None, "{invalid}");
        }
    }

    #[test]
    fn an_empty_subject_is_no_subject() {
        let mapper = DefaultMapper::default();
        let error = principal_from_claims(serde_json::json!({"sub": ""}), &mapper)
            .expect_err("empty sub refused");
        assert!(error.to_string().contains("no subject"), "{error}");
        let principal =
            principal_from_claims(serde_json::json!({"sub": "", "client_id": "svc"}), &mapper)
                .expect("client id stands in");
        assert_eq!(principal.subject, "svc");
    }
}
