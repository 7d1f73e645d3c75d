//! The verified caller.

use std::collections::BTreeSet;
use std::time::SystemTime;

use crate::entitlements::Entitlements;

/// The caller a verifier vouches for, with the entitlements resolved from its
/// token.
///
/// A principal is resolved once per token: the verifiers build it, [`CachedVerifier`] keeps it
/// until the token's `exp`, and the HTTP layer hands a clone to every request through
/// `http::Request` extensions. It never contains the token itself.
///
/// [`CachedVerifier`]: crate::CachedVerifier
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Principal {
    /// The subject (`sub`); for client-credentials tokens without a subject, the client id.
    pub subject: String,
    /// The OAuth client the token was issued to (`client_id` / `azp`), if known.
    pub client_id: Option<String>,
    /// When the token stops being valid (`exp`), if it says.
    pub expires_at: Option<SystemTime>,
    /// The issuer (`iss`), if known.
    pub issuer: Option<String>,
    /// The audiences (`aud`).
    pub audience: Vec<String>,
    /// Scopes, roles and per-resource permissions, as resolved by an [`EntitlementMapper`].
    ///
    /// [`EntitlementMapper`]: crate::EntitlementMapper
    pub entitlements: Entitlements,
    /// All claims as received (token claims, introspection or userinfo response).
    pub claims: serde_json::Value,
}

impl Principal {
    /// A principal with only a subject.
    pub fn new(subject: impl Into<String>) -> Self {
        Self {
            subject: subject.into(),
            client_id: None,
            expires_at: None,
            issuer: None,
            audience: Vec::new(),
            entitlements: Entitlements::default(),
            claims: serde_json::Value::Null,
        }
    }

    /// Adds scopes.
    #[must_use]
    pub fn with_scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.entitlements
            .scopes
            .extend(scopes.into_iter().map(Into::into));
        self
    }

    /// Adds roles (as given; role hierarchy is applied by the mapper that builds entitlements).
    #[must_use]
    pub fn with_roles<I, S>(mut self, roles: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.entitlements
            .roles
            .extend(roles.into_iter().map(Into::into));
        self
    }

    /// Grants `permissions` on `resource` (e.g. `"app-alpha"`, `["read"]`).
    #[must_use]
    pub fn with_permissions<I, S>(mut self, resource: impl Into<String>, permissions: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.entitlements
            .resources
            .entry(resource.into())
            .or_default()
            .extend(permissions.into_iter().map(Into::into));
        self
    }

    /// Replaces the entitlements.
    #[must_use]
    pub fn with_entitlements(mut self, entitlements: Entitlements) -> Self {
        self.entitlements = entitlements;
        self
    }

    /// Sets the expiry.
    #[must_use]
    pub fn with_expiry(mut self, expires_at: SystemTime) -> Self {
        self.expires_at = Some(expires_at);
        self
    }

    /// Sets the client id.
    #[must_use]
    pub fn with_client_id(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = Some(client_id.into());
        self
    }

    /// Granted scopes.
    pub fn scopes(&self) -> &BTreeSet<String> {
        &self.entitlements.scopes
    }

    /// Whether the principal holds `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.entitlements.scopes.contains(scope)
    }

    /// Whether the principal holds `role` (directly or through the role hierarchy).
    pub fn has_role(&self, role: &str) -> bool {
        self.entitlements.roles.contains(role)
    }

    /// Whether the token behind the principal has expired at `now`.
    pub fn is_expired_at(&self, now: SystemTime) -> bool {
        self.expires_at.is_some_and(|exp| now >= exp)
    }

    /// Whether the token behind the principal has expired now.
    pub fn is_expired(&self) -> bool {
        self.is_expired_at(SystemTime::now())
    }

    /// The scopes as one space-separated string (for audit records and error messages).
    pub fn scope_string(&self) -> String {
        join(self.entitlements.scopes.iter())
    }
}

pub(crate) fn join<'a>(items: impl Iterator<Item = &'a String>) -> String {
    let mut out = String::new();
    for item in items {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(item);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn builders_and_expiry() {
        let now = SystemTime::now();
        let p = Principal::new("alice")
            .with_scopes(["b", "a"])
            .with_roles(["developer"])
            .with_permissions("app-alpha", ["read"])
            .with_expiry(now + Duration::from_secs(10));
        assert_eq!(p.scope_string(), "a b");
        assert!(p.has_role("developer"));
        assert!(p.entitlements.allows("app-alpha", "read"));
        assert!(!p.is_expired_at(now));
        assert!(p.is_expired_at(now + Duration::from_secs(10)));
    }
}
