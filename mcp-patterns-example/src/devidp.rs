//! The development token issuer: what lets `cargo run -p mcp-patterns-example` demonstrate
//! authorization on a fresh machine with no identity provider.
//!
//! On start the server generates an ES256 (P-256) key pair in memory, serves its public half as a
//! JWKS on a loopback port (with an OIDC discovery document, so the server verifies tokens exactly
//! as it would with a real IdP), and mints ready-to-use access tokens for the [`demo_users`]. The
//! private key never leaves the process and is gone when it exits. Never use it in production:
//! configure a real IdP with `--jwks-url` / `--oidc-issuer` instead.
//!
//! Tokens carry the claims the reference server reads (see `docs/authorization.md`):
//!
//! ```json
//! {
//!   "iss": "http://127.0.0.1:PORT", "aud": "http://127.0.0.1:8080/mcp", "sub": "alice",
//!   "iat": 1764460800, "nbf": 1764460800, "exp": 1764489600,
//!   "scope": "mcp:access firewall:read",
//!   "roles": ["developer"],
//!   "entitlements": { "applications": { "app-alpha": ["read", "write"] } }
//! }
//! ```

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::routing::get;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use p256::ecdsa::SigningKey;
use p256::pkcs8::EncodePrivateKey;
use serde_json::{Value, json};

use crate::ExampleError;
use crate::listen::{Bound, Served};

/// A fixed audience for tools that run their own development issuer next to a server started
/// with `--audience mcp-patterns-example` (the benchmarks). The reference server's own demo
/// tokens carry its public URL as their audience instead.
pub const DEV_AUDIENCE: &str = "mcp-patterns-example";

/// How long demo tokens are valid by default.
pub const DEV_TOKEN_TTL: Duration = Duration::from_secs(3600);

/// A demo user of the development issuer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoUser {
    /// `sub`.
    pub subject: String,
    /// What the user shows, for the start-up banner.
    pub description: String,
    /// The scopes, joined with spaces into `scope`.
    pub scopes: Vec<String>,
    /// `roles`.
    pub roles: Vec<String>,
    /// `entitlements.applications`: application name to permissions.
    pub applications: BTreeMap<String, Vec<String>>,
}

impl DemoUser {
    /// A user with no scopes, roles or entitlements.
    pub fn new(subject: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            subject: subject.into(),
            description: description.into(),
            scopes: Vec::new(),
            roles: Vec::new(),
            applications: BTreeMap::new(),
        }
    }

    /// Adds scopes.
    #[must_use]
    pub fn scopes(mut self, scopes: &[&str]) -> Self {
        self.scopes.extend(scopes.iter().map(ToString::to_string));
        self
    }

    /// Adds roles.
    #[must_use]
    pub fn roles(mut self, roles: &[&str]) -> Self {
        self.roles.extend(roles.iter().map(ToString::to_string));
        self
    }

    /// Entitles the user to `app` with `permissions`.
    #[must_use]
    pub fn app(mut self, app: &str, permissions: &[&str]) -> Self {
        self.applications.insert(
            app.to_owned(),
            permissions.iter().map(ToString::to_string).collect(),
        );
        self
    }

    /// The token claims for this user, without the registered ones (`iss`, `aud`, times).
    pub fn claims(&self) -> Value {
        json!({
            "sub": self.subject,
            "scope": self.scopes.join(" "),
            "roles": self.roles,
            "entitlements": { "applications": self.applications },
        })
    }
}

/// The demo users: a developer entitled to `app-alpha`, a viewer of `app-beta`, an admin of all
/// three applications, and an authenticated user with no entitlements at all.
pub fn demo_users() -> Vec<DemoUser> {
    vec![
        DemoUser::new("alice", "developer, read/write on app-alpha")
            .scopes(&["mcp:access", "firewall:read"])
            .roles(&["developer"])
            .app("app-alpha", &["read", "write"]),
        DemoUser::new("victor", "viewer, read on app-beta")
            .scopes(&["mcp:access", "firewall:read"])
            .roles(&["viewer"])
            .app("app-beta", &["read"]),
        DemoUser::new("ada", "admin, every application, reset and refresh")
            .scopes(&["mcp:access", "firewall:read", "firewall:admin"])
            .roles(&["admin"])
            .app("app-alpha", &["read", "write", "admin"])
            .app("app-beta", &["read", "write", "admin"])
            .app("app-gamma", &["read", "write", "admin"]),
        DemoUser::new("nobody", "signed in, no entitlements").scopes(&["mcp:access"]),
    ]
}

/// An in-memory ES256 signing key and the JWKS that verifies it.
pub struct DevIssuer {
    issuer: String,
    kid: String,
    encoding: EncodingKey,
    jwk: Value,
}

impl std::fmt::Debug for DevIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevIssuer")
            .field("issuer", &self.issuer)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl DevIssuer {
    /// Generates a fresh P-256 key pair from the OS random source for tokens with `iss` = `issuer`.
    pub fn generate(issuer: impl Into<String>) -> Result<Self, ExampleError> {
        let signing = SigningKey::random(&mut rand_core::OsRng);
        let der = signing.to_pkcs8_der().map_err(|e| ExampleError::Identity {
            reason: format!("cannot encode the signing key: {e}"),
        })?;
        let public = p256::PublicKey::from(signing.verifying_key());
        let mut jwk =
            serde_json::to_value(public.to_jwk()).map_err(|e| ExampleError::Identity {
                reason: format!("cannot encode the public key as a JWK: {e}"),
            })?;
        // A key id that changes with the key, so a restarted server's tokens are told apart.
        let x = jwk.get("x").and_then(Value::as_str).unwrap_or_default();
        let kid = format!("dev-{}", &x[..x.len().min(12)]);
        if let Value::Object(map) = &mut jwk {
            map.insert("kid".into(), json!(kid));
            map.insert("alg".into(), json!("ES256"));
            map.insert("use".into(), json!("sig"));
        }
        Ok(Self {
            issuer: issuer.into(),
            kid,
            encoding: EncodingKey::from_ec_der(der.as_bytes()),
            jwk,
        })
    }

    /// The `iss` of the tokens.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The key id in the tokens' header and in the JWKS.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The JWKS document with the one public key.
    pub fn jwks(&self) -> Value {
        json!({ "keys": [self.jwk] })
    }

    /// Mints a token for `user`, valid for `ttl` from now, for `audience`.
    pub fn mint(
        &self,
        user: &DemoUser,
        audience: &str,
        ttl: Duration,
    ) -> Result<String, ExampleError> {
        let now = unix_now();
        let mut claims = user.claims();
        if let Value::Object(map) = &mut claims {
            map.insert("iss".into(), json!(self.issuer));
            map.insert("aud".into(), json!(audience));
            map.insert("iat".into(), json!(now));
            map.insert("nbf".into(), json!(now));
            map.insert("exp".into(), json!(now.saturating_add(ttl.as_secs())));
        }
        self.sign(&claims)
    }

    /// Signs arbitrary `claims` as they are (tests use it for expired or foreign tokens).
    pub fn sign(&self, claims: &Value) -> Result<String, ExampleError> {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).map_err(|e| ExampleError::Identity {
            reason: format!("cannot sign a token: {e}"),
        })
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The development issuer serving its JWKS and discovery document over HTTP.
#[derive(Debug)]
pub struct RunningIssuer {
    /// The issuer, `http://127.0.0.1:PORT`; also the OIDC discovery base.
    pub issuer_url: String,
    /// The JWKS URL.
    pub jwks_url: String,
    /// The signing side, to mint tokens.
    pub issuer: Arc<DevIssuer>,
    served: Served,
}

impl RunningIssuer {
    /// Stops serving and waits.
    pub async fn shutdown(self) {
        self.served.shutdown().await;
    }
}

/// Generates a key and serves `/.well-known/openid-configuration` and `/jwks.json` on
/// `bind` (port 0 picks a free one).
pub async fn start_dev_issuer(bind: IpAddr, port: u16) -> Result<RunningIssuer, ExampleError> {
    let bound = Bound::bind(SocketAddr::new(bind, port)).await?;
    let issuer_url = format!("http://{}", bound.local_addr);
    let jwks_url = format!("{issuer_url}/jwks.json");
    let issuer = Arc::new(DevIssuer::generate(issuer_url.clone())?);

    let discovery = json!({
        "issuer": issuer_url,
        "jwks_uri": jwks_url,
        "id_token_signing_alg_values_supported": ["ES256"],
        "subject_types_supported": ["public"],
        "response_types_supported": ["code"],
    });
    let app = Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(move || {
                let discovery = discovery.clone();
                async move { Json(discovery) }
            }),
        )
        .route("/jwks.json", get(jwks))
        .with_state(issuer.clone());
    Ok(RunningIssuer {
        issuer_url,
        jwks_url,
        issuer,
        served: bound.serve(app, "development token issuer"),
    })
}

async fn jwks(State(issuer): State<Arc<DevIssuer>>) -> Json<Value> {
    Json(issuer.jwks())
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{DecodingKey, Validation, decode, jwk::JwkSet};

    #[test]
    fn minted_token_verifies_against_the_published_jwks_and_carries_the_claims() {
        let issuer = DevIssuer::generate("http://127.0.0.1:1").expect("key");
        let alice = &demo_users()[0];
        let token = issuer
            .mint(alice, DEV_AUDIENCE, DEV_TOKEN_TTL)
            .expect("token");

        let set: JwkSet = serde_json::from_value(issuer.jwks()).expect("jwks parses");
        let jwk = set.find(issuer.kid()).expect("kid published");
        let key = DecodingKey::from_jwk(jwk).expect("decoding key");
        let mut validation = Validation::new(Algorithm::ES256);
        validation.set_audience(&[DEV_AUDIENCE]);
        validation.set_issuer(&["http://127.0.0.1:1"]);
        let data = decode::<Value>(&token, &key, &validation).expect("verifies");
        assert_eq!(data.claims["sub"], "alice");
        assert_eq!(data.claims["scope"], "mcp:access firewall:read");
        assert_eq!(data.claims["roles"], json!(["developer"]));
        assert_eq!(
            data.claims["entitlements"]["applications"]["app-alpha"],
            json!(["read", "write"])
        );
    }

    #[test]
    fn a_token_from_another_key_does_not_verify() {
        let ours = DevIssuer::generate("http://127.0.0.1:1").expect("key");
        let theirs = DevIssuer::generate("http://127.0.0.1:1").expect("key");
        let token = theirs
            .mint(&demo_users()[2], DEV_AUDIENCE, DEV_TOKEN_TTL)
            .expect("token");
        let set: JwkSet = serde_json::from_value(ours.jwks()).expect("jwks parses");
        let key = DecodingKey::from_jwk(&set.keys[0]).expect("decoding key");
        let mut validation = Validation::new(Algorithm::ES256);
        validation.set_audience(&[DEV_AUDIENCE]);
        assert!(decode::<Value>(&token, &key, &validation).is_err());
    }

    #[tokio::test]
    async fn serves_discovery_and_jwks_over_http() {
        let running = start_dev_issuer(IpAddr::from([127, 0, 0, 1]), 0)
            .await
            .expect("starts");
        let client = reqwest::Client::new();
        let discovery: Value = client
            .get(format!(
                "{}/.well-known/openid-configuration",
                running.issuer_url
            ))
            .send()
            .await
            .expect("discovery")
            .json()
            .await
            .expect("json");
        assert_eq!(discovery["issuer"], running.issuer_url);
        assert_eq!(discovery["jwks_uri"], running.jwks_url);
        let jwks: Value = client
            .get(&running.jwks_url)
            .send()
            .await
            .expect("jwks")
            .json()
            .await
            .expect("json");
        assert_eq!(jwks["keys"][0]["kid"], running.issuer.kid());
        assert_eq!(jwks["keys"][0]["crv"], "P-256");
        assert!(
            jwks["keys"][0].get("d").is_none(),
            "private part must not be published"
        );
        running.shutdown().await;
    }
}
