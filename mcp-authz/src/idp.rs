//! What every request to an identity provider shares: the HTTP client's defaults, the rule that
//! tokens and keys travel over `https` only, a cap on response sizes, and a bound on how many
//! verification requests a server sends at once and per second.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use crate::error::ConfigError;

/// The largest response body accepted from an identity provider (discovery, JWKS, userinfo,
/// introspection): 256 KiB. Real documents are a few KiB; a larger answer is refused rather than
/// buffered.
pub const DEFAULT_MAX_IDP_RESPONSE_BYTES: usize = 256 * 1024;

/// A `reqwest` client builder with the defaults this crate uses for identity-provider traffic:
/// redirects are never followed (a redirect could send the token or the key request elsewhere),
/// a 5 s connect timeout, and at most 8 idle connections per host. Add your own settings (extra
/// root certificates for a private CA, a proxy) and pass the client to a verifier's
/// `http_client`.
///
/// ```
/// let client = mcp_authz::idp_client_builder()
///     .user_agent("my-server/1.0")
///     .build()
///     .expect("client");
/// let verifier = mcp_authz::UserinfoVerifier::new("https://idp.example.com/userinfo")
///     .http_client(client);
/// # let _ = verifier;
/// ```
pub fn idp_client_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(5))
        .pool_max_idle_per_host(8)
}

/// The client verifiers use when none is given: [`idp_client_builder`] as it is.
pub(crate) fn default_client() -> reqwest::Client {
    idp_client_builder()
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
}

/// Whether `host` (as in a URL, IPv6 in brackets or not) is this machine: `localhost` or a
/// loopback address.
pub(crate) fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Checks that `url` may carry tokens or keys: `https`, or plain `http` to a loopback host (a
/// provider on the same machine), or any `http` when `allow_http` is set.
pub(crate) fn check_url(url: &str, allow_http: bool) -> Result<(), ConfigError> {
    let parsed = reqwest::Url::parse(url).map_err(|_| ConfigError::InvalidUrl {
        url: url.to_owned(),
    })?;
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if allow_http => Ok(()),
        "http" if parsed.host_str().is_some_and(is_loopback_host) => Ok(()),
        "http" => Err(ConfigError::Invalid {
            reason: format!(
                "{url}: identity-provider URLs must use https (plain http is accepted only for \
                 loopback hosts, or with allow_insecure_http)"
            ),
        }),
        other => Err(ConfigError::Invalid {
            reason: format!("{url}: unsupported scheme `{other}`"),
        }),
    }
}

/// Why a capped body could not be read.
#[derive(Debug)]
pub(crate) enum BodyError {
    /// More than the cap.
    TooLarge(usize),
    /// The transfer failed.
    Transport(reqwest::Error),
    /// Not JSON.
    Json,
}

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::TooLarge(max) => write!(f, "response larger than {max} bytes"),
            Self::Transport(error) => write!(f, "{}", crate::userinfo::transport(error)),
            Self::Json => f.write_str("response is not valid JSON"),
        }
    }
}

/// Reads at most `max` bytes of `response` and parses them as JSON; a longer body is refused as
/// soon as it passes the cap (or at once when `Content-Length` says so).
pub(crate) async fn read_json<T: serde::de::DeserializeOwned>(
    mut response: reqwest::Response,
    max: usize,
) -> Result<T, BodyError> {
    if response
        .content_length()
        .is_some_and(|len| len > max as u64)
    {
        return Err(BodyError::TooLarge(max));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(BodyError::Transport)? {
        if body.len() + chunk.len() > max {
            return Err(BodyError::TooLarge(max));
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&body).map_err(|_| BodyError::Json)
}

/// Bounds on the requests a verifier sends to its identity provider, so that a flood of made-up
/// tokens cannot turn into a flood of userinfo or introspection calls. Plain data; defaults per
/// field.
///
/// Tokens that were verified once are answered from a [`CachedVerifier`](crate::CachedVerifier)
/// without any request, so these bounds only ever meet tokens the server has not seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct IdpLimits {
    /// At most this many requests in flight at once. Default: 16.
    pub max_concurrent: usize,
    /// How long a verification waits for a free slot before it is refused as "identity provider
    /// busy" (`503`). Default: 100 ms.
    pub max_wait: Duration,
    /// Requests allowed in a burst. Default: 50.
    pub burst: u32,
    /// Requests allowed per second once the burst is spent. Default: 20.
    pub per_second: u32,
    /// Responses larger than this are refused. Default [`DEFAULT_MAX_IDP_RESPONSE_BYTES`].
    pub max_response_bytes: usize,
}

impl Default for IdpLimits {
    fn default() -> Self {
        Self {
            max_concurrent: 16,
            max_wait: Duration::from_millis(100),
            burst: 50,
            per_second: 20,
            max_response_bytes: DEFAULT_MAX_IDP_RESPONSE_BYTES,
        }
    }
}

impl IdpLimits {
    /// Sets [`IdpLimits::max_concurrent`] (at least 1).
    #[must_use]
    pub fn max_concurrent(mut self, max: usize) -> Self {
        self.max_concurrent = max.max(1);
        self
    }

    /// Sets [`IdpLimits::max_wait`].
    #[must_use]
    pub fn max_wait(mut self, wait: Duration) -> Self {
        self.max_wait = wait;
        self
    }

    /// Sets [`IdpLimits::burst`] and [`IdpLimits::per_second`].
    #[must_use]
    pub fn rate(mut self, burst: u32, per_second: u32) -> Self {
        self.burst = burst.max(1);
        self.per_second = per_second;
        self
    }

    /// Sets [`IdpLimits::max_response_bytes`].
    #[must_use]
    pub fn max_response_bytes(mut self, max: usize) -> Self {
        self.max_response_bytes = max;
        self
    }
}

/// The live state of [`IdpLimits`]: a semaphore and a token bucket, shared by clones of a
/// verifier.
#[derive(Debug, Clone)]
pub(crate) struct Gate {
    limits: IdpLimits,
    slots: Arc<Semaphore>,
    bucket: Arc<Mutex<Bucket>>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// A held slot; dropping it frees the slot.
pub(crate) struct Permit(#[allow(dead_code)] tokio::sync::OwnedSemaphorePermit);

impl Gate {
    pub(crate) fn new(limits: IdpLimits) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(limits.max_concurrent.max(1))),
            bucket: Arc::new(Mutex::new(Bucket {
                tokens: f64::from(limits.burst.max(1)),
                at: Instant::now(),
            })),
            limits,
        }
    }

    pub(crate) fn limits(&self) -> IdpLimits {
        self.limits
    }

    /// Takes one request's worth of rate and a concurrency slot, or says why not.
    pub(crate) async fn enter(&self) -> Result<Permit, &'static str> {
        {
            let mut bucket = self
                .bucket
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let now = Instant::now();
            let refill =
                now.duration_since(bucket.at).as_secs_f64() * f64::from(self.limits.per_second);
            bucket.tokens = (bucket.tokens + refill).min(f64::from(self.limits.burst.max(1)));
            bucket.at = now;
            if bucket.tokens < 1.0 {
                return Err("identity provider request rate limit reached");
            }
            bucket.tokens -= 1.0;
        }
        match tokio::time::timeout(
            self.limits.max_wait,
            Arc::clone(&self.slots).acquire_owned(),
        )
        .await
        {
            Ok(Ok(permit)) => Ok(Permit(permit)),
            _ => Err("identity provider busy: too many verifications in flight"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_is_required_except_for_loopback() {
        assert!(check_url("https://idp.example.com/jwks", false).is_ok());
        assert!(check_url("http://127.0.0.1:8080/jwks", false).is_ok());
        assert!(check_url("http://localhost/jwks", false).is_ok());
        assert!(check_url("http://[::1]:9/jwks", false).is_ok());
        let error = check_url("http://idp.example.com/jwks", false).unwrap_err();
        assert!(error.to_string().contains("must use https"), "{error}");
        assert!(check_url("http://idp.example.com/jwks", true).is_ok());
        assert!(check_url("ftp://idp.example.com/jwks", true).is_err());
        assert!(check_url("not a url", true).is_err());
    }

    #[tokio::test]
    async fn the_bucket_refuses_past_the_burst_and_refills() {
        let gate = Gate::new(IdpLimits::default().rate(3, 1000));
        for _ in 0..3 {
            drop(gate.enter().await.expect("within the burst"));
        }
        assert!(gate.enter().await.is_err(), "burst spent");
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(gate.enter().await.is_ok(), "refilled at 1000/s");
    }

    #[tokio::test]
    async fn concurrency_is_bounded() {
        let gate = Gate::new(
            IdpLimits::default()
                .max_concurrent(2)
                .max_wait(Duration::from_millis(10)),
        );
        let a = gate.enter().await.expect("slot 1");
        let _b = gate.enter().await.expect("slot 2");
        assert_eq!(
            gate.enter().await.err(),
            Some("identity provider busy: too many verifications in flight")
        );
        drop(a);
        assert!(gate.enter().await.is_ok());
    }
}
