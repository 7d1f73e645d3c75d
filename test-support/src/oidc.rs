//! The real node `oidc-provider` on loopback (installed by `scripts/setup/oidc-provider.sh`),
//! running the fixture `mcp-authz/tests/fixtures/oidc-provider.mjs`: fresh keys at every start
//! (so a restart on the same port is a key rotation), JWT access tokens for [`AUDIENCE`] (RS256)
//! and [`ES256_AUDIENCE`], opaque ones for [`OPAQUE_AUDIENCE`], userinfo at `/me`,
//! introspection at `/token/introspection`, and the test routes `/test/user-token` and
//! `/test/jwks-count`.
//!
//! The process can be stopped (`SIGSTOP`: it keeps accepting connections in the kernel's
//! backlog but never answers), resumed and killed; it is killed when dropped, also when a test
//! panics. Starting it without node or the installed provider panics with what to install.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::{free_port, now};

/// Audience of the provider's RS256 JWT access tokens.
pub const AUDIENCE: &str = "urn:mcp-patterns";
/// Audience of its ES256 JWT access tokens.
pub const ES256_AUDIENCE: &str = "urn:mcp-patterns:es256";
/// Audience of its opaque (introspectable) access tokens.
pub const OPAQUE_AUDIENCE: &str = "urn:mcp-patterns:opaque";
/// The client the resource server authenticates as for introspection.
pub const INTROSPECTION_CLIENT: (&str, &str) = ("mcp-server", "rs-secret");

fn provider_module() -> PathBuf {
    let cache = std::env::var_os("MCP_PATTERNS_CACHE").map_or_else(
        || {
            let home = std::env::var_os("HOME").expect("HOME is set");
            PathBuf::from(home).join(".cache/mcp-patterns")
        },
        PathBuf::from,
    );
    let module = cache.join("oidc-provider/node_modules/oidc-provider/lib/index.js");
    assert!(
        module.exists(),
        "the real OIDC provider is not installed ({} is missing): run \
         scripts/setup/oidc-provider.sh (or scripts/test, which runs it) first",
        module.display()
    );
    module
}

/// How long the provider may take to start (node's start-up, the oidc-provider import, a fresh
/// RSA key). A crash ends the wait at once; only a slow or hung start waits this long. With 30 s,
/// a restarted provider once failed to get ready on a 2-core machine busy with a build beside the
/// tests; why was not found.
const PROVIDER_START_TIMEOUT: Duration = Duration::from_secs(90);

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../mcp-authz/tests/fixtures/oidc-provider.mjs")
}

/// HTTPS for the provider: its certificate chain and key (PEM files) and the CA certificate
/// (PEM) the test's own client trusts.
#[derive(Clone, Debug)]
pub struct ProviderTls {
    /// The server certificate chain.
    pub cert_file: PathBuf,
    /// The server's private key.
    pub key_file: PathBuf,
    /// The CA that signed it.
    pub ca_pem: String,
}

/// How to start the provider.
#[derive(Clone, Debug, Default)]
pub struct ProviderOptions {
    /// Serve HTTPS (the issuer is then `https://127.0.0.1:{port}`).
    pub tls: Option<ProviderTls>,
    /// Audiences, besides the fixture's, that get RS256 JWT access tokens.
    pub extra_audiences: Vec<String>,
}

/// A signing key of the running provider, as the fixture exported it.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct ProviderKey {
    /// Its `kid`.
    pub kid: String,
    /// `RS256` or `ES256`.
    pub alg: String,
    /// The private key, PKCS#8 PEM.
    pub private_pem: String,
    /// The public key, SPKI PEM.
    pub public_pem: String,
}

/// The running provider.
pub struct OidcProvider {
    /// `http://127.0.0.1:{port}` (`https://` with TLS), also the `iss` of its tokens.
    pub issuer: String,
    /// Its port.
    pub port: u16,
    /// Its signing keys.
    pub keys: Vec<ProviderKey>,
    child: Child,
    client: reqwest::Client,
    dir: PathBuf,
}

impl OidcProvider {
    /// Starts on a free port.
    pub async fn start() -> Self {
        Self::start_on(free_port()).await
    }

    /// Starts on `port` with fresh signing keys and waits until it is ready.
    pub async fn start_on(port: u16) -> Self {
        Self::start_with(port, ProviderOptions::default()).await
    }

    /// Starts on `port` as `options` say.
    pub async fn start_with(port: u16, options: ProviderOptions) -> Self {
        let dir = crate::tls::temp_dir(&format!("oidc-provider-{port}"));
        let keys_file = dir.join("keys.json");
        let mut command = Command::new("node");
        command
            .arg(fixture())
            .env("PORT", port.to_string())
            .env("OIDC_PROVIDER_MODULE", provider_module())
            .env("PRIVATE_KEYS_OUT", &keys_file)
            .env("EXTRA_AUDIENCES", options.extra_audiences.join(","));
        let mut client = reqwest::Client::builder();
        if let Some(tls) = &options.tls {
            command
                .env("TLS_CERT_FILE", &tls.cert_file)
                .env("TLS_KEY_FILE", &tls.key_file);
            client = client.tls_certs_only(
                reqwest::Certificate::from_pem_bundle(tls.ca_pem.as_bytes()).expect("CA PEM"),
            );
        }
        let client = client.build().expect("test client");
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node must be installed to run the OIDC provider");
        let stdout = child.stdout.take().expect("stdout");
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        // Reads until "ready", then keeps draining so the provider never blocks on the pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.trim() == "ready" {
                    let _ = ready_tx.send(());
                }
            }
        });
        let ready =
            tokio::task::spawn_blocking(move || ready_rx.recv_timeout(PROVIDER_START_TIMEOUT))
                .await
                .expect("wait task");
        if ready.is_err() {
            // Whether it died (and how) or hangs tells a crash from a slow start.
            let state = match child.try_wait() {
                Ok(Some(status)) => format!("it exited: {status}"),
                Ok(None) => "it is still running".to_owned(),
                Err(error) => format!("its state is unknown: {error}"),
            };
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the OIDC provider on port {port} did not print \"ready\" within {} s; {state}",
                PROVIDER_START_TIMEOUT.as_secs()
            );
        }
        let keys = serde_json::from_slice(&std::fs::read(&keys_file).expect("keys file"))
            .expect("keys JSON");
        let scheme = if options.tls.is_some() {
            "https"
        } else {
            "http"
        };
        Self {
            issuer: format!("{scheme}://127.0.0.1:{port}"),
            port,
            keys,
            child,
            client,
            dir,
        }
    }

    /// The JWKS URL.
    pub fn jwks_url(&self) -> String {
        format!("{}/jwks", self.issuer)
    }

    /// The userinfo URL.
    pub fn userinfo_url(&self) -> String {
        format!("{}/me", self.issuer)
    }

    /// The RFC 7662 introspection URL.
    pub fn introspection_url(&self) -> String {
        format!("{}/token/introspection", self.issuer)
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` (`STOP`, `CONT`) to the provider process, by its id.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid().to_string())
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{signal} {}", self.pid());
    }

    /// Kills the provider and waits until it has exited (its port is closed then).
    pub fn stop(mut self) {
        self.kill();
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The provider's signing key for `alg` (`RS256` or `ES256`).
    pub fn key(&self, alg: &str) -> &ProviderKey {
        self.keys
            .iter()
            .find(|k| k.alg == alg)
            .unwrap_or_else(|| panic!("no {alg} key"))
    }

    /// Claims a valid token of this provider would carry, `exp` in 10 minutes.
    pub fn claims(&self) -> Value {
        let now = now();
        json!({
            "iss": self.issuer, "aud": AUDIENCE, "sub": "app1", "client_id": "app1",
            "scope": "mcp:access firewall:read", "iat": now, "exp": now + 600,
            "roles": ["developer"], "entitlements": {"applications": {"app-alpha": ["read"]}},
        })
    }

    /// Signs `claims` with the provider's own key for `alg` (RS256 or ES256).
    pub fn sign(&self, alg: &str, claims: &Value) -> String {
        let key = self.key(alg);
        let (algorithm, encoding) = match alg {
            "RS256" => (
                Algorithm::RS256,
                EncodingKey::from_rsa_pem(key.private_pem.as_bytes()),
            ),
            "ES256" => (
                Algorithm::ES256,
                EncodingKey::from_ec_pem(key.private_pem.as_bytes()),
            ),
            other => panic!("no key for {other}"),
        };
        let mut header = Header::new(algorithm);
        header.kid = Some(key.kid.clone());
        jsonwebtoken::encode(&header, claims, &encoding.expect("private key")).expect("sign")
    }

    /// A client-credentials access token from the real token endpoint: a JWT for [`AUDIENCE`]
    /// and [`ES256_AUDIENCE`], an opaque token for [`OPAQUE_AUDIENCE`].
    pub async fn client_token(&self, client: &str, scope: &str, resource: &str) -> String {
        let response: Value = self
            .client
            .post(format!("{}/token", self.issuer))
            .basic_auth(client, Some("secret"))
            .form(&[
                ("grant_type", "client_credentials"),
                ("scope", scope),
                ("resource", resource),
            ])
            .send()
            .await
            .expect("token request")
            .json()
            .await
            .expect("token response");
        response["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no access_token in {response}"))
            .to_owned()
    }

    /// An end user's opaque access token, as the authorization-code flow would store it
    /// (the fixture's `/test/user-token`); userinfo answers for it.
    pub async fn user_token(&self, sub: &str, scope: &str) -> String {
        let response: Value = self
            .client
            .post(format!("{}/test/user-token", self.issuer))
            .form(&[("sub", sub), ("scope", scope)])
            .send()
            .await
            .expect("user token request")
            .json()
            .await
            .expect("user token response");
        response["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }

    /// How many times the provider served `/jwks`.
    pub async fn jwks_count(&self) -> u64 {
        let response: Value = self
            .client
            .get(format!("{}/test/jwks-count", self.issuer))
            .send()
            .await
            .expect("count request")
            .json()
            .await
            .expect("count JSON");
        response["count"].as_u64().expect("count")
    }
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        // A stopped process is killed too (SIGKILL needs no SIGCONT).
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
