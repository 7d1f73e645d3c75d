//! The verified caller.

use std::collections::BTreeSet;
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::time::SystemTime;

use crate::entitlements::Entitlements;

/// The caller a verifier vouches for, with the entitlements resolved from its
/// token.
///
/// A principal is resolved once per token: the verifiers build it, [`CachedVerifier`] keeps it
/// until the token's `exp`, and the HTTP layer hands it to every request through
/// `http::Request` extensions. It never contains the token itself.
///
/// Its fields ([`PrincipalFields`]) are shared: cloning a principal, which every request does
/// several times (the HTTP layer, rmcp's request context, the authorization layer, the tool),
/// copies a pointer, not the claims and entitlements. Reading a field goes through
/// [`Deref`]; changing one (`principal.issuer = …`) copies the fields first if another clone
/// shares them, so a clone never sees another's changes.
///
/// ```
/// use mcp_authz::Principal;
///
/// let alice = Principal::new("alice").with_scopes(["mcp:access"]);
/// let mut changed = alice.clone();
/// changed.issuer = Some("https://idp.example".into());
/// assert_eq!(alice.subject, "alice");
/// assert_eq!(alice.issuer, None);
/// assert_eq!(changed.issuer.as_deref(), Some("https://idp.example"));
/// assert!(changed.has_scope("mcp:access"));
/// ```
///
/// [`CachedVerifier`]: crate::CachedVerifier
#[derive(Clone, PartialEq)]
pub struct Principal(Arc<PrincipalFields>);

/// The fields of a [`Principal`], read and written through it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct PrincipalFields {
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

impl Deref for Principal {
    type Target = PrincipalFields;

    fn deref(&self) -> &PrincipalFields {
        &self.0
    }
}

impl DerefMut for Principal {
    /// The fields, copied first if another clone of this principal shares them.
    fn deref_mut(&mut self) -> &mut PrincipalFields {
        Arc::make_mut(&mut self.0)
    }
}

impl fmt::Debug for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fields = &*self.0;
        f.debug_struct("Principal")
            .field("subject", &fields.subject)
            .field("client_id", &fields.client_id)
            .field("expires_at", &fields.expires_at)
            .field("issuer", &fields.issuer)
            .field("audience", &fields.audience)
            .field("entitlements", &fields.entitlements)
            .field("claims", &fields.claims)
            .finish()
    }
}

impl Principal {
    /// A principal with only a subject.
    pub fn new(subject: impl Into<String>) -> Self {
        Self(Arc::new(PrincipalFields {
            subject: subject.into(),
            client_id: None,
            expires_at: None,
            issuer: None,
            audience: Vec::new(),
            entitlements: Entitlements::default(),
            claims: serde_json::Value::Null,
        }))
    }

    /// The fields, moved out when no other clone shares them, copied otherwise.
    pub fn into_fields(self) -> PrincipalFields {
        Arc::unwrap_or_clone(self.0)
    }

    /// Whether `self` and `other` share their fields (one is an unchanged clone of the other).
    pub fn shares_fields_with(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
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
        assert_eq!(Principal::new("bob").scope_string(), "");
        assert!(p.has_role("developer"));
        assert!(p.entitlements.allows("app-alpha", "read"));
        assert!(!p.is_expired_at(now));
        assert!(p.is_expired_at(now + Duration::from_secs(10)));
    }

    #[test]
    fn clones_share_fields_until_one_changes() {
        let p = Principal::new("alice").with_scopes(["a"]);
        let mut q = p.clone();
        assert!(q.shares_fields_with(&p));
        q.entitlements.scopes.insert("b".into());
        assert!(!q.shares_fields_with(&p));
        assert!(!p.has_scope("b"));
        assert!(q.has_scope("a") && q.has_scope("b"));
        assert_ne!(p, q);
        let debug = format!("{p:?}");
        assert!(
            debug.starts_with("Principal {") && debug.contains("\"alice\""),
            "{debug}"
        );
    }
}
