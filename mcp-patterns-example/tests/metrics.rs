//! The reference server's cache and authorization metrics (`mcp_patterns_example::metrics`),
//! read through an in-memory OpenTelemetry exporter: a real firewall cache over a real loopback
//! downstream, a verifier and a policy wrapped by the metered decorators.

// Every value compared is a count or an item number: a small whole number, exact in an f64.
#![allow(clippy::float_cmp)]

mod common;

use std::sync::Arc;

use mcp_authz::{
    AccessRequest, Action, AuthError, Decision, FnPolicy, Policy, Principal, TargetKind,
    TokenVerifier,
};
use mcp_otel::stats;
use mcp_patterns_example::data::{CacheScope, CacheSettings, FirewallCache, UserKey};
use mcp_patterns_example::downstream::{self, DownstreamClient, Fault, FirewallStore};
use mcp_patterns_example::metrics::{
    MeteredPolicy, MeteredVerifier, SESSION_CACHES, USER_CACHES, observe_cache,
};
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::{KeyValue, Value};
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData, ResourceMetrics};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};

/// A meter provider whose metrics are read on demand from memory.
struct Meters {
    provider: SdkMeterProvider,
    exporter: InMemoryMetricExporter,
}

impl Meters {
    fn new() -> Self {
        let exporter = InMemoryMetricExporter::default();
        let provider = SdkMeterProvider::builder()
            .with_reader(PeriodicReader::builder(exporter.clone()).build())
            .build();
        Self { provider, exporter }
    }

    fn meter(&self) -> opentelemetry::metrics::Meter {
        self.provider.meter("mcp-patterns-example-test")
    }

    /// Collects now (observable callbacks run) and returns the exports so far (none when
    /// nothing was recorded).
    fn collect(&self) -> Vec<ResourceMetrics> {
        self.provider.force_flush().expect("metric flush");
        self.exporter
            .get_finished_metrics()
            .expect("in-memory metrics")
    }
}

/// One point: its attributes and value (u64 as f64; histograms: their count).
type Point = (Vec<KeyValue>, f64);

/// Every point of the metric `name` in the latest export.
#[allow(clippy::cast_precision_loss)] // small test counts
fn points(metrics: &[ResourceMetrics], name: &str) -> Vec<Point> {
    let mut points = Vec::new();
    for scope in metrics
        .iter()
        .last()
        .into_iter()
        .flat_map(ResourceMetrics::scope_metrics)
    {
        for metric in scope.metrics().filter(|m| m.name() == name) {
            match metric.data() {
                AggregatedMetrics::U64(MetricData::Gauge(gauge)) => points.extend(
                    gauge
                        .data_points()
                        .map(|p| (p.attributes().cloned().collect(), p.value() as f64)),
                ),
                AggregatedMetrics::F64(MetricData::Gauge(gauge)) => points.extend(
                    gauge
                        .data_points()
                        .map(|p| (p.attributes().cloned().collect(), p.value())),
                ),
                AggregatedMetrics::U64(MetricData::Sum(sum)) => points.extend(
                    sum.data_points()
                        .map(|p| (p.attributes().cloned().collect(), p.value() as f64)),
                ),
                AggregatedMetrics::F64(MetricData::Histogram(histogram)) => points.extend(
                    histogram
                        .data_points()
                        .map(|p| (p.attributes().cloned().collect(), p.count() as f64)),
                ),
                other => panic!("{name}: unexpected data {other:?}"),
            }
        }
    }
    points
}

/// The value of the one point of `name` whose attributes include every one of `with`.
fn value(metrics: &[ResourceMetrics], name: &str, with: &[KeyValue]) -> f64 {
    let matching: Vec<f64> = points(metrics, name)
        .into_iter()
        .filter(|(attrs, _)| with.iter().all(|kv| attrs.contains(kv)))
        .map(|(_, value)| value)
        .collect();
    assert_eq!(
        matching.len(),
        1,
        "{name} with {with:?}: {:?}",
        points(metrics, name)
    );
    matching[0]
}

async fn downstream() -> downstream::RunningDownstream {
    downstream::serve(
        "127.0.0.1:0".parse().expect("loopback"),
        FirewallStore::seeded(),
    )
    .await
    .expect("downstream API")
}

#[tokio::test]
async fn the_shared_cache_reports_items_age_refreshes_and_lookups() {
    let api = downstream().await;
    let cache = FirewallCache::build(DownstreamClient::new(&api.url), &CacheSettings::default())
        .await
        .expect("initial fetch");
    let meters = Meters::new();
    let _observers = observe_cache(&meters.meter(), &cache);
    let shared = cache.shared().expect("the server scope has a shared cache");

    // One hit, two misses; two more successful refreshes and one failed one.
    assert!(shared.lookup("app-alpha").expect("ready").is_some());
    assert!(shared.lookup("app-none").expect("ready").is_none());
    assert!(shared.lookup("app-nothing").expect("ready").is_none());
    shared.refresh_now().await.expect("refresh");
    shared.refresh_now().await.expect("refresh");
    api.store.set_fault(Fault::Fail { status: 503 });
    assert!(shared.refresh_now().await.is_err(), "the downstream fails");

    let health = shared.health();
    let name = KeyValue::new(stats::CACHE_NAME, health.name.clone());
    let metrics = meters.collect();
    #[allow(clippy::cast_precision_loss)]
    let items = health.items as f64;
    assert!(items > 0.0, "the seeded store has rules");
    assert_eq!(
        value(&metrics, stats::CACHE_ITEMS, std::slice::from_ref(&name)),
        items
    );
    let age = value(&metrics, stats::CACHE_AGE, std::slice::from_ref(&name));
    assert!((0.0..60.0).contains(&age), "age {age}");
    let ok = KeyValue::new(stats::OUTCOME, "ok");
    let error = KeyValue::new(stats::OUTCOME, "error");
    assert_eq!(
        value(&metrics, stats::CACHE_REFRESHES, &[name.clone(), ok]),
        3.0,
        "the initial fetch and two refreshes"
    );
    assert_eq!(
        value(&metrics, stats::CACHE_REFRESHES, &[name.clone(), error]),
        1.0
    );
    let hit = |on: bool| KeyValue::new(stats::CACHE_HIT, Value::Bool(on));
    assert_eq!(
        value(&metrics, stats::CACHE_LOOKUPS, &[name.clone(), hit(true)]),
        1.0
    );
    assert_eq!(
        value(&metrics, stats::CACHE_LOOKUPS, &[name, hit(false)]),
        2.0
    );
    assert!(
        points(&metrics, USER_CACHES).is_empty(),
        "no per-user caches"
    );
    api.shutdown().await;
}

#[tokio::test]
async fn the_session_scope_reports_its_per_user_caches() {
    let api = downstream().await;
    let settings = CacheSettings {
        scope: CacheScope::Session,
        ..CacheSettings::default()
    };
    let cache = FirewallCache::build(DownstreamClient::new(&api.url), &settings)
        .await
        .expect("session-scope cache");
    let meters = Meters::new();
    let _observers = observe_cache(&meters.meter(), &cache);
    let FirewallCache::Session(registry) = &cache else {
        panic!("the session scope");
    };
    for subject in ["alice", "bob"] {
        let key = UserKey {
            subject: subject.to_owned(),
            apps: None,
        };
        registry.get(&key).await.expect("a per-user cache");
    }

    let metrics = meters.collect();
    assert_eq!(
        value(
            &metrics,
            USER_CACHES,
            &[KeyValue::new(stats::CACHE_NAME, SESSION_CACHES)]
        ),
        2.0
    );
    assert!(
        points(&metrics, stats::CACHE_ITEMS).is_empty(),
        "no shared cache in the session scope"
    );
    api.shutdown().await;
}

/// Accepts `good`; anything else has expired.
struct Stub;

#[async_trait::async_trait]
impl TokenVerifier for Stub {
    async fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        if token == "good" {
            Ok(Principal::new("alice"))
        } else {
            Err(AuthError::Expired)
        }
    }
}

#[tokio::test]
async fn token_verification_is_timed_by_outcome() {
    let meters = Meters::new();
    let verifier = MeteredVerifier::wrap(Arc::new(Stub), &meters.meter());
    let principal = verifier.verify("good").await.expect("valid");
    assert_eq!(principal.subject, "alice");
    verifier.verify("good").await.expect("valid");
    assert_eq!(verifier.verify("old").await, Err(AuthError::Expired));

    let metrics = meters.collect();
    let outcome = |word: &'static str| [KeyValue::new(stats::OUTCOME, word)];
    assert_eq!(
        value(&metrics, stats::AUTH_VERIFY_DURATION, &outcome("valid")),
        2.0
    );
    assert_eq!(
        value(
            &metrics,
            stats::AUTH_VERIFY_DURATION,
            &outcome("token_expired")
        ),
        1.0
    );
}

#[test]
fn authorization_decisions_are_counted_by_decision_and_permission() {
    let meters = Meters::new();
    let policy = MeteredPolicy::new(
        FnPolicy::new(|request: &AccessRequest<'_>| {
            Decision::allow_if(request.kind == TargetKind::Tool, || "tools only".to_owned())
        }),
        &meters.meter(),
    );
    let alice = Principal::new("alice");
    let ask = |action, kind, name| policy.evaluate(&AccessRequest::new(&alice, action, kind, name));
    assert!(ask(Action::Invoke, TargetKind::Tool, "get_firewall_rule").is_allowed());
    assert!(ask(Action::List, TargetKind::Tool, "get_firewall_rule").is_allowed());
    assert!(ask(Action::List, TargetKind::Tool, "list_apps").is_allowed());
    assert!(!ask(Action::Invoke, TargetKind::Resource, "firewall://apps").is_allowed());

    let metrics = meters.collect();
    let count = |decision: &'static str, permission: &'static str| {
        value(
            &metrics,
            stats::AUTH_DECISIONS,
            &[
                KeyValue::new(stats::AUTH_DECISION, decision),
                KeyValue::new(stats::AUTH_PERMISSION, permission),
            ],
        )
    };
    assert_eq!(count("allow", "tool:invoke"), 1.0);
    assert_eq!(count("allow", "tool:list"), 2.0);
    assert_eq!(count("deny", "resource:invoke"), 1.0);
    assert_eq!(points(&metrics, stats::AUTH_DECISIONS).len(), 3);
}

/// The running server records them: the only test here that sets the global meter provider,
/// which `start_http` records through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_running_server_records_verifications_decisions_and_its_cache() {
    let meters = Meters::new();
    opentelemetry::global::set_meter_provider(meters.provider.clone());
    let server = mcp_patterns_example::start_http(mcp_patterns_example::HttpOptions {
        port: 0,
        ..mcp_patterns_example::HttpOptions::default()
    })
    .await
    .expect("server");
    let token = common::demo_token(&server, "alice");
    let alice = common::connect(&server.mcp_url, Some(&token)).await;
    let listed = alice
        .call_tool(common::call("list_firewall_rules", serde_json::json!({})))
        .await
        .expect("list");
    assert_ne!(listed.is_error, Some(true));
    let _ = alice.cancel().await;

    let metrics = meters.collect();
    let verified = points(&metrics, stats::AUTH_VERIFY_DURATION);
    assert!(
        verified.iter().any(|(attrs, count)| attrs
            .contains(&KeyValue::new(stats::OUTCOME, "valid"))
            && *count >= 1.0),
        "{verified:?}"
    );
    let allowed = value(
        &metrics,
        stats::AUTH_DECISIONS,
        &[
            KeyValue::new(stats::AUTH_DECISION, "allow"),
            KeyValue::new(stats::AUTH_PERMISSION, "tool:invoke"),
        ],
    );
    assert!(allowed >= 1.0, "{allowed}");
    // The initial fetch at start-up is the first refresh.
    let refreshed = points(&metrics, stats::CACHE_REFRESH_DURATION);
    assert!(
        refreshed.iter().any(
            |(attrs, count)| attrs.contains(&KeyValue::new(stats::OUTCOME, "ok")) && *count >= 1.0
        ),
        "{refreshed:?}"
    );
    let items = points(&metrics, stats::CACHE_ITEMS);
    assert!(
        items.iter().any(|(_, value)| *value > 0.0),
        "the shared cache's items: {items:?}"
    );
    server.shutdown().await;
}
