//! Which certificate authorities the server trusts on its outgoing HTTPS connections (the
//! identity provider, the OTLP collector): the platform's roots, every certificate in the file
//! `SSL_CERT_FILE` names, and every certificate in `--ca-file`, for a private CA.
//!
//! On Linux the platform's verifier reads the system bundle and, when `SSL_CERT_FILE` is set,
//! that file instead (as OpenSSL-based tools read their default file); this module adds the
//! system bundle back then, so setting `SSL_CERT_FILE` to a private CA adds to the public roots
//! instead of replacing them.

use std::path::{Path, PathBuf};

use crate::ExampleError;

/// Where Linux distributions keep the system CA bundle (Debian/Ubuntu, Fedora/RHEL, openSUSE,
/// Alpine).
const SYSTEM_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// The extra CA certificates the server trusts beyond its platform verifier's roots.
#[derive(Debug, Clone, Default)]
pub struct TrustedCas {
    files: Vec<PathBuf>,
    certificates: Vec<reqwest::Certificate>,
}

impl TrustedCas {
    /// Reads `SSL_CERT_FILE` (from the environment) and `ca_file`. A file that cannot be read,
    /// does not parse or holds no certificate is a start-up error naming it.
    pub fn load(ca_file: Option<&Path>) -> Result<Self, ExampleError> {
        let ssl_cert_file = std::env::var_os("SSL_CERT_FILE")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from);
        Self::from_files(ssl_cert_file.as_deref(), ca_file)
    }

    /// [`load`](Self::load) with `SSL_CERT_FILE` given.
    pub fn from_files(
        ssl_cert_file: Option<&Path>,
        ca_file: Option<&Path>,
    ) -> Result<Self, ExampleError> {
        let mut trusted = Self::default();
        if let Some(file) = ssl_cert_file {
            // The platform verifier reads this file instead of the system bundle: add that back.
            let system = SYSTEM_BUNDLES.iter().map(Path::new).find(|p| p.is_file());
            if let Some(system) = system.filter(|system| *system != file) {
                trusted.add(system, "the system CA bundle")?;
            }
            trusted.add(file, "SSL_CERT_FILE")?;
        }
        if let Some(file) = ca_file {
            trusted.add(file, "--ca-file")?;
        }
        Ok(trusted)
    }

    fn add(&mut self, path: &Path, what: &str) -> Result<(), ExampleError> {
        let error = |reason: String| ExampleError::Config {
            reason: format!("{what} {}: {reason}", path.display()),
        };
        let pem = std::fs::read(path).map_err(|e| error(format!("cannot read it: {e}")))?;
        if !String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") {
            return Err(error(
                "no PEM certificate (-----BEGIN CERTIFICATE-----) in it".into(),
            ));
        }
        let certificates = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| error(format!("not a valid PEM certificate bundle: {e}")))?;
        self.certificates.extend(certificates);
        self.files.push(path.to_owned());
        Ok(())
    }

    /// The files read, in order (for the OTLP exporter's `otlp_certificates`).
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// `builder` trusting these certificates on top of the platform's roots.
    pub fn apply(&self, builder: reqwest::ClientBuilder) -> reqwest::ClientBuilder {
        self.certificates
            .iter()
            .cloned()
            .fold(builder, reqwest::ClientBuilder::add_root_certificate)
    }

    /// The HTTP client for the identity provider: mcp-authz's defaults
    /// ([`mcp_authz::idp_client_builder`]: no redirects, connect timeout) and these roots.
    pub fn idp_client(&self) -> Result<reqwest::Client, ExampleError> {
        self.apply(mcp_authz::idp_client_builder())
            .build()
            .map_err(|e| ExampleError::Config {
                reason: format!(
                    "identity provider HTTP client: {}",
                    crate::error::with_causes(&e)
                ),
            })
    }
}
