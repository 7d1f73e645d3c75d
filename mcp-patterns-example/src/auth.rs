//! Authorization of the reference server with `mcp-authz`: where tokens are verified, which
//! policy decides, and how a verified principal becomes a [`Caller`].
//!
//! Layer 1 ([`mcp_authz::AuthLayer`]) refuses requests without a valid token (401) or without
//! the global scope `mcp:access` (403) and serves the RFC 9728 metadata; layers 2 and 3
//! ([`mcp_authz::AuthzHandler`] with the policy in `policy.toml`) filter and check tools and
//! resources; layer 4 is the server's own entitlement check per application ([`Caller`]).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use mcp_authz::{
    Algorithm, CachedVerifier, ClientAuth, DEFAULT_IDP_TIMEOUT, IntrospectionVerifier, JwksRefresh,
    JwtVerifier, Principal, StaticPolicy, TokenVerifier, UserinfoVerifier,
};

use crate::ExampleError;
use crate::access::Caller;

/// The policy the server applies unless `--policy` names another file.
pub const DEFAULT_POLICY: &str = include_str!("../policy.toml");

/// The scope every request needs (layer 1).
pub const GLOBAL_SCOPE: &str = "mcp:access";

/// Where the server's identities come from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Identity {
    /// The built-in development issuer (the default): a key generated at start, its JWKS on
    /// loopback, demo tokens printed.
    #[default]
    Development,
    /// JWTs verified against a JWKS URL.
    Jwks {
        /// The JWKS URL.
        url: String,
    },
    /// JWTs verified with keys found by OIDC discovery at this issuer.
    OidcIssuer {
        /// The issuer URL.
        issuer: String,
    },
    /// Opaque or JWT tokens checked at an OIDC userinfo endpoint.
    Userinfo {
        /// The userinfo URL.
        url: String,
    },
    /// Tokens checked at an RFC 7662 introspection endpoint with client credentials.
    Introspection {
        /// The introspection URL.
        url: String,
        /// The client id.
        client_id: String,
        /// The client secret.
        client_secret: String,
    },
    /// No authorization at all: every caller is the local operator. For local experiments only.
    Disabled,
}

/// Authorization settings.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// Where identities come from.
    pub identity: Identity,
    /// Expected `iss` of JWTs (the development issuer sets its own).
    pub issuer: Option<String>,
    /// Expected `aud` of tokens.
    pub audience: Option<String>,
    /// Scopes every request needs; `mcp:access` by default.
    pub required_scopes: Vec<String>,
    /// A policy file (TOML or JSON) replacing [`DEFAULT_POLICY`].
    pub policy_file: Option<PathBuf>,
    /// Timeout of one userinfo or introspection request; past it the request gets a `503`
    /// instead of waiting on a hung identity provider. Default [`DEFAULT_IDP_TIMEOUT`] (5 s).
    pub idp_timeout: Duration,
    /// Accept the userinfo mode although it cannot check a token's audience (a token the
    /// provider issued for any other API is accepted too). Off by default: `Userinfo` refuses to
    /// start without it.
    pub userinfo_without_audience: bool,
    /// How the keys of an external issuer (`Jwks`, `OidcIssuer`) are fetched and kept fresh:
    /// periodic refresh (default 5 min), the rate limit of refetches for unknown `kid`s
    /// (default 30 s) and the request timeout (default 5 s). See [`JwksRefresh`].
    pub jwks_refresh: JwksRefresh,
    /// The HTTP client for every request to an external identity provider (discovery, JWKS,
    /// userinfo, introspection), e.g. one trusting a private CA ([`crate::tls::TrustedCas`]);
    /// `None`: the verifiers' own default client.
    pub http_client: Option<reqwest::Client>,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            identity: Identity::Development,
            issuer: None,
            audience: None,
            required_scopes: vec![GLOBAL_SCOPE.to_owned()],
            policy_file: None,
            idp_timeout: DEFAULT_IDP_TIMEOUT,
            userinfo_without_audience: false,
            jwks_refresh: JwksRefresh::default(),
            http_client: None,
        }
    }
}

impl AuthSettings {
    /// Authorization turned off.
    pub fn disabled() -> Self {
        Self {
            identity: Identity::Disabled,
            ..Self::default()
        }
    }

    /// The policy: the file if one is set, the built-in one otherwise.
    pub fn policy(&self) -> Result<StaticPolicy, ExampleError> {
        let policy = match &self.policy_file {
            Some(path) => StaticPolicy::from_file(path),
            None => StaticPolicy::from_toml(DEFAULT_POLICY),
        };
        policy.map_err(|e| ExampleError::Config {
            reason: format!("authorization policy: {e}"),
        })
    }

    /// The verifier for an external identity provider, cached; `None` for the development
    /// issuer and when disabled. Tokens must be issued for [`AuthSettings::audience`], or for
    /// `default_audience` (the server's public URL) when that is not set.
    ///
    /// Refused configurations: a JWKS URL without an expected issuer (any holder of a key in
    /// that set could claim to be any issuer), and userinfo without
    /// [`AuthSettings::userinfo_without_audience`].
    pub async fn external_verifier(
        &self,
        default_audience: &str,
    ) -> Result<Option<Arc<dyn TokenVerifier>>, ExampleError> {
        let audience = self
            .audience
            .clone()
            .unwrap_or_else(|| default_audience.to_owned());
        let config = |e: mcp_authz::ConfigError| ExampleError::Config {
            reason: format!("identity provider: {}", crate::error::with_causes(&e)),
        };
        let jwt = |builder: mcp_authz::JwtVerifierBuilder| {
            let builder = builder.refresh(self.jwks_refresh);
            let builder = match &self.http_client {
                Some(client) => builder.http_client(client.clone()),
                None => builder,
            };
            let builder = match &self.issuer {
                Some(issuer) => builder.issuer(issuer.clone()),
                None => builder,
            };
            builder.audience(audience.clone())
        };
        let verifier: Arc<dyn TokenVerifier> = match &self.identity {
            Identity::Development | Identity::Disabled => return Ok(None),
            Identity::Jwks { .. } if self.issuer.is_none() => {
                return Err(ExampleError::Config {
                    reason: "--jwks-url needs --issuer: the expected `iss` of the tokens \
                             (without it, a token claiming any issuer would be accepted)"
                        .into(),
                });
            }
            Identity::Userinfo { .. } if !self.userinfo_without_audience => {
                return Err(ExampleError::Config {
                    reason: "--userinfo-url cannot check which audience a token was issued for, \
                             so a token for any other API of the provider would be accepted; \
                             prefer --oidc-issuer or --introspection-url, or accept this with \
                             --userinfo-without-audience"
                        .into(),
                });
            }
            Identity::Jwks { url } => Arc::new(CachedVerifier::new(
                jwt(JwtVerifier::from_jwks_url(url.clone()))
                    .build()
                    .await
                    .map_err(config)?,
            )),
            Identity::OidcIssuer { issuer } => Arc::new(CachedVerifier::new(
                jwt(JwtVerifier::from_oidc_discovery(issuer.clone()))
                    .build()
                    .await
                    .map_err(config)?,
            )),
            Identity::Userinfo { url } => {
                let mut verifier = UserinfoVerifier::new(url.clone()).timeout(self.idp_timeout);
                if let Some(client) = &self.http_client {
                    verifier = verifier.http_client(client.clone());
                }
                verifier.check().map_err(config)?;
                tracing::warn!(
                    "userinfo verification: token audiences are NOT checked \
                     (--userinfo-without-audience)"
                );
                Arc::new(CachedVerifier::new(verifier))
            }
            Identity::Introspection {
                url,
                client_id,
                client_secret,
            } => {
                let mut verifier = IntrospectionVerifier::new(
                    url.clone(),
                    ClientAuth::basic(client_id.clone(), client_secret.clone()),
                )
                .timeout(self.idp_timeout)
                .audience(audience.clone());
                if let Some(client) = &self.http_client {
                    verifier = verifier.http_client(client.clone());
                }
                if let Some(issuer) = &self.issuer {
                    verifier = verifier.issuer(issuer.clone());
                }
                verifier.check().map_err(config)?;
                Arc::new(CachedVerifier::new(verifier))
            }
        };
        Ok(Some(verifier))
    }
}

/// The verifier of the development issuer's tokens.
pub async fn development_verifier(
    jwks_url: &str,
    issuer: &str,
    audience: &str,
) -> Result<Arc<dyn TokenVerifier>, ExampleError> {
    let verifier = JwtVerifier::from_jwks_url(jwks_url)
        .issuer(issuer)
        .audience(audience)
        .algorithms([Algorithm::ES256])
        .build()
        .await
        .map_err(|e| ExampleError::Config {
            reason: format!("development issuer: {e}"),
        })?;
    Ok(Arc::new(CachedVerifier::new(verifier)))
}

impl Caller {
    /// The caller a verified principal stands for: its subject, its per-application
    /// permissions (`entitlements.applications`) and whether it holds the admin role.
    ///
    /// Entitlement keys that are not valid application names (a token claiming
    /// `"../admin": ["read"]`, or the wildcard `"*"`) are dropped: they would otherwise become
    /// paths of downstream requests in the session scope, or grant every application.
    pub fn from_principal(principal: &Principal) -> Self {
        let all_valid = principal
            .entitlements
            .resources
            .keys()
            .all(|app| crate::model::validate_app_name(app).is_ok());
        if all_valid {
            // Shares the principal's fields: nothing to copy.
            return Self::of(principal.clone());
        }
        let mut kept = principal.clone();
        kept.entitlements.resources.retain(|app, _| {
            let valid = crate::model::validate_app_name(app).is_ok();
            if !valid {
                tracing::warn!(
                    subject = %principal.subject,
                    "ignoring an entitlement whose key is not a valid application name"
                );
            }
            valid
        });
        Self::of(kept)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::Access;

    #[test]
    fn default_policy_parses_and_hides_admin_tools_from_developers() {
        use mcp_authz::{AccessRequest, Action, Policy, TargetKind};
        let policy = AuthSettings::default()
            .policy()
            .expect("built-in policy parses");
        let developer = Principal::new("alice")
            .with_scopes(["mcp:access", "firewall:read"])
            .with_roles(["developer"]);
        let admin = Principal::new("ada")
            .with_scopes(["mcp:access", "firewall:read", "firewall:admin"])
            .with_roles(["admin"]);
        let ask = |p: &Principal, action, kind, name| {
            policy
                .evaluate(&AccessRequest::new(p, action, kind, name))
                .is_allowed()
        };
        assert!(ask(
            &developer,
            Action::Invoke,
            TargetKind::Tool,
            "get_firewall_rule"
        ));
        assert!(!ask(
            &developer,
            Action::List,
            TargetKind::Tool,
            "reset_firewall"
        ));
        assert!(ask(
            &admin,
            Action::Invoke,
            TargetKind::Tool,
            "reset_firewall"
        ));
        assert!(ask(
            &developer,
            Action::Invoke,
            TargetKind::Resource,
            "cache://firewalls/app-alpha"
        ));
        assert!(!ask(
            &developer,
            Action::Invoke,
            TargetKind::Tool,
            "not_a_tool"
        ));
    }

    #[test]
    fn caller_from_principal_keeps_entitlements_and_admin_role() {
        let principal = Principal::new("alice")
            .with_permissions("app-alpha", ["read", "write"])
            .with_roles(["developer"]);
        let caller = Caller::from_principal(&principal);
        assert!(caller.allows("app-alpha", "read"));
        assert!(!caller.allows("app-beta", "read"));
        assert!(!caller.admin);
        // Valid keys only: the caller shares the verified principal instead of copying it.
        assert!(caller.principal().shares_fields_with(&principal));
    }

    #[test]
    fn entitlement_keys_that_are_not_application_names_are_dropped() {
        let principal = Principal::new("mallory")
            .with_permissions("../../api/v1/admin", ["read"])
            .with_permissions("app-alpha?x=1", ["read"])
            .with_permissions("app-alpha", ["read"]);
        let caller = Caller::from_principal(&principal);
        let Access::Apps(apps) = caller.access() else {
            panic!("apps")
        };
        assert_eq!(apps.keys().collect::<Vec<_>>(), ["app-alpha"]);
        // The principal the token gave is left as it was.
        assert_eq!(principal.entitlements.resources.len(), 3);
        assert!(!caller.principal().shares_fields_with(&principal));
    }
}
