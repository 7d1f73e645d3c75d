#![doc = include_str!("../README.md")]

mod audit;
mod body;
mod cache;
#[cfg(feature = "cedar")]
mod cedar;
mod discovery;
mod dispatch;
mod entitlements;
mod error;
mod filter;
mod handler;
mod idp;
mod introspection;
mod jwks;
mod jwt;
mod keys;
mod layer;
mod listen;
mod metadata;
mod policy;
mod principal;
mod session;
mod userinfo;
mod verifier;

pub use audit::{ALLOW, DENY};
pub use cache::{CacheConfig, CacheStats, CachedVerifier};
#[cfg(feature = "cedar")]
pub use cedar::CedarPolicy;
pub use discovery::OidcMetadata;
pub use dispatch::IssuerDispatch;
pub use entitlements::{DefaultMapper, EntitlementMapper, Entitlements, RoleHierarchy};
pub use error::{AccessError, AuthError, ConfigError, EntitlementError};
pub use filter::{filter_entitled, require_entitlement};
pub use handler::{
    AuthzHandler, AuthzHandlerBuilder, AuthzLayer, AuthzLayerBuilder, HANDLED_METHODS,
    principal_from,
};
pub use idp::{DEFAULT_MAX_IDP_RESPONSE_BYTES, IdpLimits, idp_client_builder};
pub use introspection::{ClientAuth, IntrospectionVerifier};
pub use jsonwebtoken::Algorithm;
pub use jwks::JwksRefresh;
pub use jwt::{DEFAULT_MAX_TOKEN_LEN, JwtVerifier, JwtVerifierBuilder, TokenType};
pub use keys::{KeySet, VerificationKey};
pub use layer::{AuthLayer, RequireAuth, ResponseFuture};
pub use listen::{ListenFilter, ListenFilterLayer};
pub use metadata::{ProtectedResourceMetadata, WELL_KNOWN_PATH};
pub use policy::{
    AccessRequest, Action, AllOf, Decision, DefaultDecision, FnPolicy, Policy, Requirement, Rule,
    StaticPolicy, TargetKind,
};
pub use principal::{Principal, PrincipalFields};
pub use session::{
    OwnedSessions, OwnerStoreError, SESSION_HEADER, SessionLimits, SessionOwner, SessionOwnerStore,
    SessionOwnershipLayer,
};
pub use userinfo::{DEFAULT_IDP_TIMEOUT, UserinfoVerifier};
pub use verifier::TokenVerifier;
