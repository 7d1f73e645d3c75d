//! Issue 8, downstream faults during refresh, against the reference server's cache: the
//! downstream fails, answers past the fetch timeout, or returns garbage while the cache
//! refreshes. Callers keep getting the last good data, the health resource shows the failure,
//! the server keeps serving, and recovery picks up new data.

use std::net::SocketAddr;
use std::time::Duration;

use mcp_patterns_example::access::Caller;
use mcp_patterns_example::data::{CacheScope, CacheSettings, FirewallCache};
use mcp_patterns_example::downstream::{self, DownstreamClient, Fault, FirewallStore};

#[tokio::test]
async fn faults_during_refresh_keep_the_last_good_data_and_recovery_picks_up_changes() {
    let downstream = downstream::serve(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        FirewallStore::seeded(),
    )
    .await
    .expect("downstream");
    let mut settings = CacheSettings {
        scope: CacheScope::Server,
        ..CacheSettings::default()
    };
    settings.cache = settings
        .cache
        .clone()
        .fetch_timeout(Duration::from_millis(300))
        // Refreshes are driven by the test (refresh_now), not by the clock.
        .ttl(Duration::from_secs(3600));
    let client = DownstreamClient::with_timeout(&downstream.url, Duration::from_secs(5));
    let data = FirewallCache::build(client, &settings)
        .await
        .expect("cache");
    let operator = Caller::operator();
    let alpha_rules = |data: &FirewallCache| {
        let data = data.clone();
        let operator = operator.clone();
        async move {
            data.view(&operator)
                .await
                .expect("view")
                .app("app-alpha")
                .expect("read")
                .expect("app-alpha present")
                .rules
                .len()
        }
    };
    assert_eq!(alpha_rules(&data).await, 3);
    let good_generation = data
        .view(&operator)
        .await
        .expect("view")
        .health()
        .generation;

    for (fault, kind) in [
        (Fault::Fail { status: 503 }, "fetch"),
        (Fault::Slow { delay_ms: 2_000 }, "timeout"),
        (Fault::Garbage, "fetch"),
    ] {
        downstream.store.set_fault(fault.clone());
        let refreshed = data.refresh_now(&operator).await;
        assert!(refreshed.is_err(), "{fault:?}: the refresh must fail");
        // Still serving the last good snapshot.
        assert_eq!(alpha_rules(&data).await, 3, "{fault:?}");
        let health = data.view(&operator).await.expect("view").health();
        assert_eq!(
            health.generation, good_generation,
            "{fault:?}: generation kept"
        );
        assert!(
            health.consecutive_failures >= 1,
            "{fault:?}: failure counted"
        );
        let error = health.last_error.unwrap_or_default();
        assert!(!error.is_empty(), "{fault:?}: last error recorded");
        assert_eq!(health.last_error_kind, Some(kind), "{fault:?}: {error}");
    }

    // Recovery: the downstream heals and has new data; the next refresh takes it.
    downstream.store.set_fault(Fault::Healthy);
    downstream.store.replace("app-alpha", Vec::new());
    let generation = data.refresh_now(&operator).await.expect("recovers");
    assert!(generation > good_generation);
    assert_eq!(alpha_rules(&data).await, 0);
    let health = data.view(&operator).await.expect("view").health();
    assert_eq!(health.consecutive_failures, 0);
    downstream.shutdown().await;
}
