#![doc = include_str!("../README.md")]

mod audit;
mod discovery;
mod entitlements;
mod error;
mod jwks;
mod jwt;
mod keys;
mod principal;
mod verifier;

pub use audit::{ALLOW, DENY};
pub use discovery::OidcMetadata;
pub use entitlements::{DefaultMapper, EntitlementMapper, Entitlements, RoleHierarchy};
pub use error::{AuthError, ConfigError};
pub use jsonwebtoken::Algorithm;
pub use jwks::JwksRefresh;
pub use jwt::{DEFAULT_MAX_TOKEN_LEN, JwtVerifier, JwtVerifierBuilder};
pub use keys::{KeySet, VerificationKey};
pub use principal::Principal;
pub use verifier::TokenVerifier;
