//! Cache and authorization metrics of the reference server, through mcp-otel's adapters
//! ([`mcp_otel::stats`]):
//!
//! - [`observe_cache`] registers observable instruments read from the firewall cache at every
//!   metric collection: `mcp_otel.cache.items`, `mcp_otel.cache.age`,
//!   `mcp_otel.cache.refreshes` (by outcome `ok`/`error`) and `mcp_otel.cache.lookups` (by
//!   `cache.hit`) for the shared cache (server and hybrid scopes), and [`USER_CACHES`], the
//!   number of per-user caches (session and hybrid scopes).
//! - [`MeteredVerifier`] wraps a token verifier and records `mcp_otel.auth.verify.duration` by
//!   outcome (`valid`, or the error's [`AuthError::reason_code`]).
//! - [`MeteredPolicy`] wraps an authorization policy and counts `mcp_otel.auth.decisions` by
//!   decision and permission (see [`permission`]).
//!
//! `mcp_otel.cache.refresh.duration` (by outcome) is recorded around the shared cache's fetch,
//! where [`FirewallCache::build`](crate::data::FirewallCache::build) builds it, through the
//! global meter provider.
//!
//! ```no_run
//! # async fn wire(
//! #     meter: opentelemetry::metrics::Meter,
//! #     cache: mcp_patterns_example::data::FirewallCache,
//! #     verifier: std::sync::Arc<dyn mcp_authz::TokenVerifier>,
//! #     policy: mcp_authz::StaticPolicy,
//! # ) {
//! use mcp_patterns_example::metrics::{MeteredPolicy, MeteredVerifier, observe_cache};
//!
//! let _observers = observe_cache(&meter, &cache); // keep for the life of the server
//! let verifier = MeteredVerifier::wrap(verifier, &meter);
//! let policy = MeteredPolicy::new(policy, &meter);
//! # let _ = (verifier, policy);
//! # }
//! ```

use std::sync::Arc;
use std::time::Instant;

use mcp_authz::{AccessRequest, Action, AuthError, Decision, Policy, Principal};
use mcp_cache::Cache;
use mcp_otel::stats::{AuthMetrics, CACHE_NAME, CacheMetrics, CacheObservation, CacheSnapshot};
use opentelemetry::KeyValue;
use opentelemetry::metrics::{Meter, ObservableGauge};

use crate::data::{FirewallCache, FirewallData};

/// `mcp_patterns.cache.user_caches`: per-user caches alive (gauge, `{cache}`), by
/// [`CACHE_NAME`] (`firewalls-user` in the session scope, `firewalls-overlay` in the hybrid one).
pub const USER_CACHES: &str = "mcp_patterns.cache.user_caches";

/// The cache name [`USER_CACHES`] carries in the session scope.
pub const SESSION_CACHES: &str = "firewalls-user";

/// The cache name [`USER_CACHES`] carries in the hybrid scope (the per-user overlays).
pub const HYBRID_OVERLAYS: &str = "firewalls-overlay";

/// Keeps the instruments of [`observe_cache`] registered: hold it for the life of the server
/// (dropping it stops nothing already registered with the meter provider, but it owns the
/// instruments' handles).
#[derive(Debug)]
pub struct CacheObservers {
    _shared: Option<CacheObservation>,
    _user_caches: Option<ObservableGauge<u64>>,
}

/// What the observers read from `cache` at each collection: its health (items, age) and
/// counters (refreshes, failures, hits, misses).
pub fn snapshot(cache: &Cache<FirewallData>) -> CacheSnapshot {
    let health = cache.health();
    CacheSnapshot {
        items: health
            .ready
            .then(|| u64::try_from(health.items).unwrap_or(u64::MAX)),
        age_seconds: health.age_seconds,
        refreshes: health.stats.refreshes,
        refresh_errors: health.stats.refresh_failures,
        hits: health.stats.hits,
        misses: health.stats.misses,
    }
}

/// Registers the observers of the firewall cache on `meter`: the shared cache's items, age,
/// refreshes (successful and failed) and lookups (server and hybrid scopes, under the cache's
/// configured name), and the number of per-user caches (session and hybrid scopes). The
/// callbacks only read counters and the current snapshot's metadata; they never fetch.
pub fn observe_cache(meter: &Meter, cache: &FirewallCache) -> CacheObservers {
    let shared = cache.shared().map(|shared| {
        let name = shared.health().name;
        let shared = shared.clone();
        CacheMetrics::observe(meter, &name, move || snapshot(&shared))
    });
    let user_caches = match cache {
        FirewallCache::Server(_) => None,
        FirewallCache::Session(_) => Some(SESSION_CACHES),
        FirewallCache::Hybrid(_) => Some(HYBRID_OVERLAYS),
    }
    .map(|name| {
        let cache = cache.clone();
        let attrs = [KeyValue::new(CACHE_NAME, name)];
        meter
            .u64_observable_gauge(USER_CACHES)
            .with_unit("{cache}")
            .with_description("Per-user caches alive.")
            .with_callback(move |observer| {
                let count = u64::try_from(cache.user_caches()).unwrap_or(u64::MAX);
                observer.observe(count, &attrs);
            })
            .build()
    });
    CacheObservers {
        _shared: shared,
        _user_caches: user_caches,
    }
}

/// A token verifier that records how long each verification took and how it ended
/// (`mcp_otel.auth.verify.duration`, outcome `valid` or the error's
/// [`AuthError::reason_code`], e.g. `token_expired`, `invalid_token`, `idp_unavailable`).
/// The inner verifier's answer is returned unchanged.
#[derive(Clone)]
pub struct MeteredVerifier {
    inner: Arc<dyn mcp_authz::TokenVerifier>,
    metrics: AuthMetrics,
}

impl std::fmt::Debug for MeteredVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MeteredVerifier").finish_non_exhaustive()
    }
}

impl MeteredVerifier {
    /// Wraps `inner`, recording on `meter`.
    pub fn new(inner: Arc<dyn mcp_authz::TokenVerifier>, meter: &Meter) -> Self {
        Self {
            inner,
            metrics: AuthMetrics::new(meter),
        }
    }

    /// [`new`](Self::new), as the `Arc<dyn TokenVerifier>` the server's auth layer takes.
    pub fn wrap(
        inner: Arc<dyn mcp_authz::TokenVerifier>,
        meter: &Meter,
    ) -> Arc<dyn mcp_authz::TokenVerifier> {
        Arc::new(Self::new(inner, meter))
    }
}

#[async_trait::async_trait]
impl mcp_authz::TokenVerifier for MeteredVerifier {
    async fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        let started = Instant::now();
        let result = self.inner.verify(token).await;
        let outcome = match &result {
            Ok(_) => "valid",
            Err(error) => error.reason_code(),
        };
        self.metrics.record_verify(started.elapsed(), outcome);
        result
    }
}

/// The permission label of a decision: `{kind}:{action}`, e.g. `tool:invoke`, `resource:list`
/// (low cardinality: no target names, which for resources are unbounded URIs).
pub fn permission(request: &AccessRequest<'_>) -> String {
    let action = match request.action {
        Action::List => "list",
        _ => "invoke",
    };
    format!("{}:{action}", request.kind.as_str())
}

/// An authorization policy that counts its decisions (`mcp_otel.auth.decisions`, by
/// `auth.decision` `allow`/`deny` and `auth.permission` = [`permission`]). List filtering
/// evaluates the policy once per entry, so a `tools/list` counts one `tool:list` decision per
/// tool. The inner policy's decision is returned unchanged.
#[derive(Debug, Clone)]
pub struct MeteredPolicy<P> {
    inner: P,
    metrics: AuthMetrics,
}

impl<P: Policy> MeteredPolicy<P> {
    /// Wraps `inner`, recording on `meter`.
    pub fn new(inner: P, meter: &Meter) -> Self {
        Self {
            inner,
            metrics: AuthMetrics::new(meter),
        }
    }

    /// The wrapped policy.
    pub fn get_ref(&self) -> &P {
        &self.inner
    }
}

impl<P: Policy> Policy for MeteredPolicy<P> {
    fn evaluate(&self, request: &AccessRequest<'_>) -> Decision {
        let decision = self.inner.evaluate(request);
        self.metrics
            .record_decision(&permission(request), decision.is_allowed());
        decision
    }
}
