//! Adapters that turn cache and authorization statistics into OpenTelemetry metrics, without
//! depending on the crates that produce them: you hand over a closure that reads the numbers
//! (for mcp-cache, its `Cache::stats()` and snapshot age) and call the recorders from hooks.
//!
//! ```
//! use mcp_otel::stats::{AuthMetrics, CacheMetrics, CacheSnapshot};
//! use std::time::Duration;
//!
//! let meter = opentelemetry::global::meter("demo");
//! // Read at every metric collection; here fixed numbers stand in for `cache.stats()`.
//! let _registration = CacheMetrics::observe(&meter, "firewalls", || CacheSnapshot {
//!     items: Some(3),
//!     age_seconds: Some(12.5),
//!     refreshes: 7,
//!     refresh_errors: 1,
//!     hits: 40,
//!     misses: 2,
//! });
//! let cache = CacheMetrics::new(&meter, "firewalls");
//! cache.record_refresh(Duration::from_millis(30), true);
//!
//! let auth = AuthMetrics::new(&meter);
//! auth.record_verify(Duration::from_micros(80), "valid");
//! auth.record_decision("firewall:read", true);
//! ```

use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Histogram, Meter, ObservableCounter, ObservableGauge};

/// `mcp_otel.cache.items`: entries in the current snapshot (gauge, `{item}`).
pub const CACHE_ITEMS: &str = "mcp_otel.cache.items";
/// `mcp_otel.cache.age`: age of the current snapshot (gauge, seconds).
pub const CACHE_AGE: &str = "mcp_otel.cache.age";
/// `mcp_otel.cache.refreshes`: refresh attempts by [`OUTCOME`] `ok`/`error` (counter).
pub const CACHE_REFRESHES: &str = "mcp_otel.cache.refreshes";
/// `mcp_otel.cache.lookups`: keyed lookups by [`CACHE_HIT`] (counter).
pub const CACHE_LOOKUPS: &str = "mcp_otel.cache.lookups";
/// `mcp_otel.cache.refresh.duration`: refresh duration (histogram, seconds).
pub const CACHE_REFRESH_DURATION: &str = "mcp_otel.cache.refresh.duration";
/// `mcp_otel.auth.verify.duration`: token verification duration by [`OUTCOME`] (histogram,
/// seconds).
pub const AUTH_VERIFY_DURATION: &str = "mcp_otel.auth.verify.duration";
/// `mcp_otel.auth.decisions`: authorization decisions by [`AUTH_DECISION`] and
/// [`AUTH_PERMISSION`] (counter).
pub const AUTH_DECISIONS: &str = "mcp_otel.auth.decisions";

/// Attribute: the cache's name.
pub const CACHE_NAME: &str = "cache.name";
/// Attribute: whether a lookup hit (`true`/`false`).
pub const CACHE_HIT: &str = "cache.hit";
/// Attribute: how an operation ended (`ok`, `error`, or a verifier's outcome such as
/// `valid`, `expired`); the same key as the tool-call counter's.
pub use crate::metrics::OUTCOME;
/// Attribute: `allow` or `deny`.
pub const AUTH_DECISION: &str = "auth.decision";
/// Attribute: the permission or scope checked.
pub const AUTH_PERMISSION: &str = "auth.permission";

/// What [`CacheMetrics::observe`] reads from a cache at each collection. Counters are totals
/// since start (they only grow); `items` and `age_seconds` are `None` before the first load.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CacheSnapshot {
    /// Entries in the current snapshot.
    pub items: Option<u64>,
    /// Seconds since the current snapshot was fetched.
    pub age_seconds: Option<f64>,
    /// Successful refreshes.
    pub refreshes: u64,
    /// Failed refresh attempts.
    pub refresh_errors: u64,
    /// Keyed lookups that found their key.
    pub hits: u64,
    /// Keyed lookups that did not.
    pub misses: u64,
}

/// Keeps the observable instruments of [`CacheMetrics::observe`] registered; drop it to stop
/// reporting (instruments stay registered with the meter provider until it shuts down).
#[derive(Debug)]
pub struct CacheObservation {
    _items: ObservableGauge<u64>,
    _age: ObservableGauge<f64>,
    _refreshes: ObservableCounter<u64>,
    _lookups: ObservableCounter<u64>,
}

/// Cache metrics: observable gauges/counters fed from a snapshot closure, and a histogram of
/// refresh durations recorded from a refresh hook.
#[derive(Clone, Debug)]
pub struct CacheMetrics {
    refresh_duration: Histogram<f64>,
    attrs: [KeyValue; 1],
}

impl CacheMetrics {
    /// Recorders for the cache called `name`.
    pub fn new(meter: &Meter, name: &str) -> Self {
        Self {
            refresh_duration: meter
                .f64_histogram(CACHE_REFRESH_DURATION)
                .with_unit("s")
                .with_description("Duration of cache refreshes.")
                .with_boundaries(crate::semconv::DURATION_BUCKETS.to_vec())
                .build(),
            attrs: [KeyValue::new(CACHE_NAME, name.to_owned())],
        }
    }

    /// Records one refresh of `duration`, successful or not.
    pub fn record_refresh(&self, duration: Duration, ok: bool) {
        let attrs = [
            self.attrs[0].clone(),
            KeyValue::new(OUTCOME, if ok { "ok" } else { "error" }),
        ];
        self.refresh_duration.record(duration.as_secs_f64(), &attrs);
    }

    /// Registers observable instruments that call `stats` at every collection (from the
    /// metric reader's thread; `stats` must be cheap and must not block).
    pub fn observe<F>(meter: &Meter, name: &str, stats: F) -> CacheObservation
    where
        F: Fn() -> CacheSnapshot + Send + Sync + 'static,
    {
        let stats = std::sync::Arc::new(stats);
        let name = KeyValue::new(CACHE_NAME, name.to_owned());
        let items = {
            let (stats, name) = (stats.clone(), name.clone());
            meter
                .u64_observable_gauge(CACHE_ITEMS)
                .with_unit("{item}")
                .with_description("Entries in the cache's current snapshot.")
                .with_callback(move |observer| {
                    if let Some(items) = stats().items {
                        observer.observe(items, std::slice::from_ref(&name));
                    }
                })
                .build()
        };
        let age = {
            let (stats, name) = (stats.clone(), name.clone());
            meter
                .f64_observable_gauge(CACHE_AGE)
                .with_unit("s")
                .with_description("Age of the cache's current snapshot.")
                .with_callback(move |observer| {
                    if let Some(age) = stats().age_seconds {
                        observer.observe(age, std::slice::from_ref(&name));
                    }
                })
                .build()
        };
        let refreshes = {
            let (stats, name) = (stats.clone(), name.clone());
            meter
                .u64_observable_counter(CACHE_REFRESHES)
                .with_unit("{refresh}")
                .with_description("Cache refresh attempts by outcome.")
                .with_callback(move |observer| {
                    let snapshot = stats();
                    observer.observe(
                        snapshot.refreshes,
                        &[name.clone(), KeyValue::new(OUTCOME, "ok")],
                    );
                    observer.observe(
                        snapshot.refresh_errors,
                        &[name.clone(), KeyValue::new(OUTCOME, "error")],
                    );
                })
                .build()
        };
        let lookups = meter
            .u64_observable_counter(CACHE_LOOKUPS)
            .with_unit("{lookup}")
            .with_description("Keyed cache lookups by hit or miss.")
            .with_callback(move |observer| {
                let snapshot = stats();
                observer.observe(
                    snapshot.hits,
                    &[name.clone(), KeyValue::new(CACHE_HIT, true)],
                );
                observer.observe(
                    snapshot.misses,
                    &[name.clone(), KeyValue::new(CACHE_HIT, false)],
                );
            })
            .build();
        CacheObservation {
            _items: items,
            _age: age,
            _refreshes: refreshes,
            _lookups: lookups,
        }
    }
}

/// Authorization metrics, recorded from a verifier's and a policy's hooks.
#[derive(Clone, Debug)]
pub struct AuthMetrics {
    verify_duration: Histogram<f64>,
    decisions: Counter<u64>,
}

impl AuthMetrics {
    /// The instruments, created on `meter`.
    pub fn new(meter: &Meter) -> Self {
        Self {
            verify_duration: meter
                .f64_histogram(AUTH_VERIFY_DURATION)
                .with_unit("s")
                .with_description("Duration of access-token verification by outcome.")
                .with_boundaries(vec![
                    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                    0.1, 0.25, 0.5, 1.0,
                ])
                .build(),
            decisions: meter
                .u64_counter(AUTH_DECISIONS)
                .with_unit("{decision}")
                .with_description("Authorization decisions by outcome and permission.")
                .build(),
        }
    }

    /// Records one token verification of `duration` that ended with `outcome` (a low-cardinality
    /// word such as `valid`, `expired`, `bad_signature`).
    pub fn record_verify(&self, duration: Duration, outcome: &str) {
        self.verify_duration.record(
            duration.as_secs_f64(),
            &[KeyValue::new(OUTCOME, outcome.to_owned())],
        );
    }

    /// Records one decision on `permission`.
    pub fn record_decision(&self, permission: &str, allowed: bool) {
        self.decisions.add(
            1,
            &[
                KeyValue::new(AUTH_DECISION, if allowed { "allow" } else { "deny" }),
                KeyValue::new(AUTH_PERMISSION, permission.to_owned()),
            ],
        );
    }
}
