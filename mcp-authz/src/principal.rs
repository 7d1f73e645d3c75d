//! The verified caller.

use std::collections::BTreeSet;
use std::time::SystemTime;

/// The caller a verifier vouches for (requirement A1).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Principal {
    /// The subject (`sub`).
    pub subject: String,
    /// The OAuth client the token was issued to (`client_id` / `azp`), if known.
    pub client_id: Option<String>,
    /// Granted scopes.
    pub scopes: BTreeSet<String>,
    /// When the token stops being valid (`exp`), if it says.
    pub expires_at: Option<SystemTime>,
    /// The issuer (`iss`), if known.
    pub issuer: Option<String>,
    /// The audiences (`aud`).
    pub audience: Vec<String>,
    /// All claims as received, for entitlement mapping.
    pub claims: serde_json::Value,
}

impl Principal {
    /// A principal with only a subject.
    pub fn new(subject: impl Into<String>) -> Self {
        Self {
            subject: subject.into(),
            client_id: None,
            scopes: BTreeSet::new(),
            expires_at: None,
            issuer: None,
            audience: Vec::new(),
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
        self.scopes.extend(scopes.into_iter().map(Into::into));
        self
    }

    /// Whether the principal holds `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.contains(scope)
    }

    /// Whether the token behind the principal has expired at `now`.
    pub fn is_expired_at(&self, now: SystemTime) -> bool {
        self.expires_at.is_some_and(|exp| now >= exp)
    }
}
