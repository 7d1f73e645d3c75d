//! Verification keys: a [`KeySet`] of decoding keys by `kid`, built from a JWKS document or
//! given statically.

use std::collections::HashMap;
use std::fmt;

use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey};

use crate::error::ConfigError;

/// One verification key with what it may be used for.
#[derive(Clone)]
pub struct VerificationKey {
    pub(crate) key: DecodingKey,
    pub(crate) family: AlgorithmFamily,
    /// The one algorithm this key is restricted to (JWK `alg`), if any.
    pub(crate) alg: Option<Algorithm>,
}

impl fmt::Debug for VerificationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerificationKey")
            .field("family", &self.family)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl VerificationKey {
    /// An RSA public key from PEM, usable with RS*/PS* algorithms.
    pub fn rsa_pem(pem: &[u8]) -> Result<Self, ConfigError> {
        Ok(Self {
            key: DecodingKey::from_rsa_pem(pem).map_err(|e| key_error(&e))?,
            family: AlgorithmFamily::Rsa,
            alg: None,
        })
    }

    /// An EC public key from PEM, usable with ES256/ES384.
    pub fn ec_pem(pem: &[u8]) -> Result<Self, ConfigError> {
        Ok(Self {
            key: DecodingKey::from_ec_pem(pem).map_err(|e| key_error(&e))?,
            family: AlgorithmFamily::Ec,
            alg: None,
        })
    }

    /// An Ed25519 public key from PEM, usable with EdDSA.
    pub fn ed_pem(pem: &[u8]) -> Result<Self, ConfigError> {
        Ok(Self {
            key: DecodingKey::from_ed_pem(pem).map_err(|e| key_error(&e))?,
            family: AlgorithmFamily::Ed,
            alg: None,
        })
    }

    /// A shared secret, usable with HS256/384/512 only (and only if those algorithms are
    /// explicitly allowed).
    pub fn hmac_secret(secret: &[u8]) -> Self {
        Self {
            key: DecodingKey::from_secret(secret),
            family: AlgorithmFamily::Hmac,
            alg: None,
        }
    }

    /// A key from a JWK. Keys whose `use` is not `sig` are refused.
    pub fn from_jwk(jwk: &Jwk) -> Result<Self, ConfigError> {
        if let Some(use_) = &jwk.common.public_key_use
            && *use_ != jsonwebtoken::jwk::PublicKeyUse::Signature
        {
            return Err(ConfigError::InvalidKey {
                reason: "key is not for signatures".into(),
            });
        }
        let key = DecodingKey::from_jwk(jwk).map_err(|e| key_error(&e))?;
        // A key that names an algorithm is restricted to it; one that names a non-signature
        // algorithm cannot be used at all (it must not become a key for every algorithm of its
        // family).
        let alg =
            match jwk.common.key_algorithm {
                None => None,
                Some(a) => Some(a.to_string().parse::<Algorithm>().map_err(|_| {
                    ConfigError::InvalidKey {
                        reason: format!("key algorithm {a} is not a signature algorithm"),
                    }
                })?),
            };
        Ok(Self {
            family: key.family(),
            key,
            alg,
        })
    }

    /// Restricts the key to one algorithm.
    #[must_use]
    pub fn with_algorithm(mut self, alg: Algorithm) -> Self {
        self.alg = Some(alg);
        self
    }

    /// Whether this key may verify a token signed with `alg`: the key's family must be the
    /// algorithm's family (no HS/RS confusion) and, if the key names one algorithm, it must be
    /// `alg`.
    pub(crate) fn accepts(&self, alg: Algorithm) -> bool {
        self.family == alg.family() && self.alg.is_none_or(|a| a == alg)
    }
}

fn key_error(e: &jsonwebtoken::errors::Error) -> ConfigError {
    ConfigError::InvalidKey {
        reason: e.to_string(),
    }
}

/// Verification keys by `kid`, plus keys without a `kid` (tried when a token names none).
#[derive(Debug, Clone, Default)]
pub struct KeySet {
    by_kid: HashMap<String, VerificationKey>,
    anonymous: Vec<VerificationKey>,
}

impl KeySet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a key under `kid` (or without one).
    #[must_use]
    pub fn with_key(mut self, kid: Option<&str>, key: VerificationKey) -> Self {
        self.insert(kid, key);
        self
    }

    pub(crate) fn insert(&mut self, kid: Option<&str>, key: VerificationKey) {
        match kid {
            Some(kid) => {
                self.by_kid.insert(kid.to_owned(), key);
            }
            None => self.anonymous.push(key),
        }
    }

    /// Parses a JWKS document (`{"keys": [...]}`) as fetched from an identity provider.
    ///
    /// Keys that cannot verify signatures are skipped, not fatal: encryption keys (`use: enc`),
    /// keys whose `alg` is not a signature algorithm (`RSA-OAEP`, `ECDH-ES` …), unsupported
    /// types, and symmetric keys (`kty: oct`) — a published JWKS must never make a shared secret
    /// an accepted signing key, or anyone who reads the document could mint tokens. Two keys with
    /// the same `kid` are an error: which one a token means would be a guess.
    pub fn from_jwks_json(doc: &serde_json::Value) -> Result<Self, ConfigError> {
        let keys = doc
            .get("keys")
            .and_then(serde_json::Value::as_array)
            .ok_or_else(|| ConfigError::InvalidKey {
                reason: "JWKS document has no `keys` array".into(),
            })?;
        let mut set = Self::new();
        for raw in keys {
            if raw.get("kty").and_then(serde_json::Value::as_str) == Some("oct") {
                tracing::warn!("skipping a symmetric (kty oct) key published in a JWKS");
                continue;
            }
            if let Some(alg) = raw.get("alg").and_then(serde_json::Value::as_str)
                && (alg.parse::<Algorithm>().is_err() || alg.starts_with("HS"))
            {
                tracing::debug!(alg, "skipping a JWK whose alg is not a signature algorithm");
                continue;
            }
            let parsed = serde_json::from_value::<Jwk>(raw.clone())
                .map_err(|e| ConfigError::InvalidKey {
                    reason: e.to_string(),
                })
                .and_then(|jwk| VerificationKey::from_jwk(&jwk).map(|k| (jwk, k)));
            match parsed {
                Ok((jwk, key)) => {
                    if let Some(kid) = jwk.common.key_id.as_deref()
                        && set.contains_kid(kid)
                    {
                        return Err(ConfigError::InvalidKey {
                            reason: format!("JWKS has two keys with kid `{kid}`"),
                        });
                    }
                    set.insert(jwk.common.key_id.as_deref(), key);
                }
                Err(error) => tracing::debug!(%error, "skipping unusable JWK"),
            }
        }
        Ok(set)
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.by_kid.len() + self.anonymous.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether a key with this `kid` is present.
    pub fn contains_kid(&self, kid: &str) -> bool {
        self.by_kid.contains_key(kid)
    }

    /// Candidate keys for a token: the key named by `kid`, or (without `kid`) every key.
    pub(crate) fn candidates<'a>(
        &'a self,
        kid: Option<&str>,
    ) -> Box<dyn Iterator<Item = &'a VerificationKey> + 'a> {
        match kid {
            Some(kid) => Box::new(self.by_kid.get(kid).into_iter()),
            None => Box::new(self.anonymous.iter().chain(self.by_kid.values())),
        }
    }
}
