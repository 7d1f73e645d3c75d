//! The verifier trait.

use crate::{AuthError, Principal};

/// Verifies a bearer token and returns the caller it identifies (requirement A1).
///
/// Implementations must never log or store the token itself.
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
