//! Test support that needs only Rust: an ES256 key that signs arbitrary headers and claims, and
//! small HTTP servers on loopback (a JWKS document whose content a test changes, an identity
//! provider endpoint that counts the requests it gets).

#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::serve::ListenerExt;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey};
use p256::ecdsa::SigningKey;
use p256::pkcs8::EncodePrivateKey;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

pub const ISSUER: &str = "https://idp.test";
pub const AUDIENCE: &str = "https://mcp.test/mcp";

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

pub fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
}

/// A P-256 key that signs tokens with any header.
pub struct EcKey {
    pub kid: String,
    encoding: EncodingKey,
    jwk: Value,
}

impl EcKey {
    pub fn generate(kid: &str) -> Self {
        let signing = SigningKey::random(&mut rand_core::OsRng);
        let der = signing.to_pkcs8_der().expect("pkcs8");
        let public = p256::PublicKey::from(signing.verifying_key());
        let mut jwk = serde_json::to_value(public.to_jwk()).expect("jwk");
        jwk["kid"] = json!(kid);
        jwk["alg"] = json!("ES256");
        jwk["use"] = json!("sig");
        Self {
            kid: kid.to_owned(),
            encoding: EncodingKey::from_ec_der(der.as_bytes()),
            jwk,
        }
    }

    pub fn jwk(&self) -> Value {
        self.jwk.clone()
    }

    pub fn jwks(&self) -> Value {
        json!({ "keys": [self.jwk] })
    }

    /// Claims valid for an hour, for [`ISSUER`] and [`AUDIENCE`].
    pub fn claims(sub: &str) -> Value {
        json!({
            "iss": ISSUER, "aud": AUDIENCE, "sub": sub,
            "iat": now(), "exp": now() + 3600,
            "scope": "mcp:access firewall:read",
        })
    }

    /// Signs `claims` under `header` (merged over `{"alg":"ES256","kid":…}`).
    pub fn sign_with_header(&self, header: &Value, claims: &Value) -> String {
        let mut full = json!({ "alg": "ES256", "kid": self.kid });
        if let (Value::Object(full), Value::Object(extra)) = (&mut full, header) {
            for (k, v) in extra {
                full.insert(k.clone(), v.clone());
            }
        }
        let message = format!(
            "{}.{}",
            b64(full.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let signature =
            jsonwebtoken::crypto::sign(message.as_bytes(), &self.encoding, Algorithm::ES256)
                .expect("sign");
        format!("{message}.{signature}")
    }

    pub fn sign(&self, claims: &Value) -> String {
        self.sign_with_header(&json!({ "typ": "JWT" }), claims)
    }
}

/// HMAC-signs `claims` with `secret` (HS256) under `header`.
pub fn sign_hs256(secret: &[u8], header: &Value, claims: &Value) -> String {
    let message = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let signature = jsonwebtoken::crypto::sign(
        message.as_bytes(),
        &EncodingKey::from_secret(secret),
        Algorithm::HS256,
    )
    .expect("sign");
    format!("{message}.{signature}")
}

/// An axum app served on a free loopback port until dropped.
pub struct Served {
    pub addr: SocketAddr,
    ct: CancellationToken,
}

impl Served {
    pub async fn start(app: axum::Router) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let ct = CancellationToken::new();
        let stop = ct.clone();
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(stop.cancelled_owned())
                .await;
        });
        Self { addr, ct }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.ct.cancel();
    }
}

/// A JWKS document on loopback that a test can replace, counting how often it is fetched.
pub struct JwksServer {
    pub served: Served,
    pub doc: Arc<Mutex<Value>>,
    pub fetches: Arc<AtomicU64>,
}

impl JwksServer {
    pub async fn start(doc: Value) -> Self {
        let doc = Arc::new(Mutex::new(doc));
        let fetches = Arc::new(AtomicU64::new(0));
        let app = axum::Router::new().route(
            "/jwks",
            axum::routing::get({
                let doc = Arc::clone(&doc);
                let fetches = Arc::clone(&fetches);
                move || {
                    fetches.fetch_add(1, Ordering::SeqCst);
                    let body = doc.lock().expect("doc").to_string();
                    async move { ([(http::header::CONTENT_TYPE, "application/json")], body) }
                }
            }),
        );
        Self {
            served: Served::start(app).await,
            doc,
            fetches,
        }
    }

    pub fn url(&self) -> String {
        self.served.url("/jwks")
    }

    pub fn set(&self, doc: Value) {
        *self.doc.lock().expect("doc") = doc;
    }

    pub fn fetches(&self) -> u64 {
        self.fetches.load(Ordering::SeqCst)
    }
}
