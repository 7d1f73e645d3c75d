//! How long a snapshot stays current (`Cache::fresh_for`), and the `ttlMs` hints
//! `CacheResources` derives from it: the time until the next scheduled refresh or until the
//! snapshot goes stale, never longer; zero when stale or not ready.
#![cfg(feature = "rmcp")]

mod common;

use std::time::Duration;

use common::{Mode, Scripted, map};
use mcp_cache::{Backoff, Cache, CacheConfig, CacheResources, InitialFetch, JsonView, Viewer};

const TTL: Duration = Duration::from_secs(10);

fn config() -> CacheConfig {
    CacheConfig::with_ttl(TTL).jitter(Duration::ZERO)
}

#[tokio::test(start_paused = true)]
async fn fresh_for_counts_down_to_the_next_refresh_and_restarts_after_it() {
    let cache = Cache::builder(Scripted::new(Mode::Data(map(1, 2))))
        .config(config())
        .build()
        .await
        .expect("first fetch");
    tokio::task::yield_now().await;
    assert_eq!(cache.fresh_for(), TTL);
    tokio::time::advance(Duration::from_secs(4)).await;
    assert_eq!(cache.fresh_for(), Duration::from_secs(6));
    // The background refresh at 10 s swaps in a new snapshot, current for another TTL.
    tokio::time::sleep(Duration::from_secs(7)).await;
    assert_eq!(cache.generation(), 2);
    assert_eq!(cache.fresh_for(), Duration::from_secs(9));
}

#[tokio::test(start_paused = true)]
async fn a_refresh_scheduled_before_the_ttl_shortens_the_hint() {
    // With jitter the background task refreshes before the TTL ends: the data can change then.
    let cache = Cache::builder(Scripted::new(Mode::Data(map(1, 2))))
        .config(CacheConfig::with_ttl(TTL).jitter(Duration::from_secs(5)))
        .build()
        .await
        .expect("first fetch");
    tokio::task::yield_now().await;
    let hint = cache.fresh_for();
    assert!(
        hint >= Duration::from_secs(5) && hint <= TTL,
        "between ttl - jitter and ttl: {hint:?}"
    );
    // The refresh happens exactly when the hint ran out.
    tokio::time::sleep(hint.saturating_sub(Duration::from_millis(1))).await;
    assert_eq!(cache.generation(), 1);
    tokio::time::sleep(Duration::from_millis(2)).await;
    assert_eq!(cache.generation(), 2);
}

#[tokio::test(start_paused = true)]
async fn stale_not_ready_and_replaced_snapshots_are_current_for_zero() {
    // No background refresh: the snapshot just goes stale.
    let cache = Cache::builder(Scripted::new(Mode::Data(map(1, 2))))
        .config(config().background_refresh(false))
        .build()
        .await
        .expect("first fetch");
    let old = cache.snapshot().expect("ready");
    assert_eq!(cache.fresh_for_snapshot(&old), TTL);
    cache.refresh_now().await.expect("refresh");
    assert_eq!(cache.fresh_for_snapshot(&old), Duration::ZERO, "replaced");
    tokio::time::advance(TTL + Duration::from_secs(1)).await;
    assert_eq!(cache.fresh_for(), Duration::ZERO, "stale");

    let never = Cache::builder(Scripted::new(Mode::Fail))
        .config(
            config()
                .initial_fetch(InitialFetch::Degrade)
                .failure_backoff(Backoff::new(Duration::from_secs(1), Duration::from_secs(1))),
        )
        .build()
        .await
        .expect("degrade");
    assert_eq!(never.fresh_for(), Duration::ZERO, "not ready");
}

#[tokio::test(start_paused = true)]
async fn reads_and_lists_carry_the_time_until_the_next_refresh() {
    let cache = Cache::builder(Scripted::new(Mode::Data(map(1, 2))))
        .config(config())
        .build()
        .await
        .expect("first fetch");
    let resources = CacheResources::new(cache.clone(), JsonView::map("cache://data"));
    tokio::task::yield_now().await;
    tokio::time::advance(Duration::from_secs(3)).await;
    let read = resources
        .read("cache://data/a", Viewer::Server)
        .expect("read");
    assert_eq!(read.ttl_ms, Some(7_000));
    assert!(
        read.cache_scope.is_none(),
        "who may see it is not the cache's to say"
    );
    let health = resources
        .read("cache://meta/health", Viewer::Server)
        .expect("health");
    assert_eq!(health.ttl_ms, None, "health changes with every attempt");

    let off = CacheResources::builder(cache, JsonView::map("cache://data"))
        .ttl_hints(false)
        .build();
    assert_eq!(
        off.read("cache://data/a", Viewer::Server)
            .expect("read")
            .ttl_ms,
        None
    );
}
