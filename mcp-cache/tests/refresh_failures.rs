//! A fetch that errors, hangs past its timeout, panics or returns data that fails validation
//! never replaces good data: the generation stays, the failure is recorded and counted, and
//! the next success bumps the generation. Single flight and clean shutdown.

mod common;

use std::time::Duration;

use common::{Mode, Scripted, alive_tasks, map, settle_to};
use mcp_cache::{Backoff, Cache, CacheConfig, CacheError};

fn manual() -> CacheConfig {
    CacheConfig::default()
        .background_refresh(false)
        .fetch_timeout(Duration::from_secs(1))
}

#[tokio::test(start_paused = true)]
async fn failure_keeps_the_old_generation_and_recovery_bumps_it() {
    let fetcher = Scripted::new(Mode::Data(map(1, 2)));
    let cache = Cache::builder(fetcher.clone())
        .config(manual())
        .build()
        .await
        .expect("first fetch");
    assert_eq!(cache.generation(), 1);

    fetcher.set(Mode::Fail);
    let error = cache.refresh_now().await.expect_err("downstream fails");
    assert!(matches!(error, CacheError::Fetch { .. }), "{error:?}");
    assert_eq!(cache.generation(), 1, "failure keeps the generation");
    assert_eq!(cache.get("a").unwrap(), 1, "and the data");
    let snapshot = cache.snapshot().unwrap();
    assert_eq!(snapshot.meta().consecutive_failures, 1);
    assert_eq!(
        snapshot.meta().last_error.as_ref().map(CacheError::kind),
        Some("fetch")
    );
    let _ = cache.refresh_now().await.expect_err("still failing");
    let health = cache.health();
    assert_eq!(health.generation, 1);
    assert_eq!(health.consecutive_failures, 2);
    assert!(
        health
            .last_error
            .as_deref()
            .unwrap_or_default()
            .contains("503")
    );

    fetcher.set(Mode::Data(map(7, 8)));
    assert_eq!(cache.refresh_now().await.expect("recovered"), 2);
    assert_eq!(cache.get("a").unwrap(), 7);
    let health = cache.health();
    assert_eq!((health.generation, health.consecutive_failures), (2, 0));
    assert!(health.last_error.is_none());
    let stats = cache.stats();
    assert_eq!((stats.refreshes, stats.refresh_failures), (2, 2));
}

#[tokio::test(start_paused = true)]
async fn validation_rejection_keeps_the_old_generation() {
    let fetcher = Scripted::new(Mode::Data(map(1, 2)));
    let cache = Cache::builder(fetcher.clone())
        .config(manual())
        .validate(|data| {
            if data.len() < 2 {
                Err(format!("only {} entries, expected at least 2", data.len()))
            } else {
                Ok(())
            }
        })
        .build()
        .await
        .expect("valid first fetch");

    // A truncated answer from the downstream: the corruption guard refuses it.
    fetcher.set(Mode::Data([("a".to_owned(), 99)].into()));
    let error = cache.refresh_now().await.expect_err("rejected");
    assert!(matches!(error, CacheError::Rejected { .. }), "{error:?}");
    assert!(error.to_string().contains("only 1 entries"), "{error}");
    assert_eq!(cache.generation(), 1);
    assert_eq!(cache.get("a").unwrap(), 1);
    assert_eq!(cache.get("b").unwrap(), 2);
    assert_eq!(cache.stats().rejections, 1);
    assert_eq!(cache.health().last_error_kind, Some("rejected"));

    fetcher.set(Mode::Data(map(3, 4)));
    assert_eq!(cache.refresh_now().await.expect("valid again"), 2);
    assert_eq!(cache.get("a").unwrap(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_hanging_or_panicking_fetch_keeps_the_old_generation() {
    let fetcher = Scripted::new(Mode::Data(map(1, 2)));
    let cache = Cache::builder(fetcher.clone())
        .config(manual())
        .build()
        .await
        .expect("first fetch");

    fetcher.set(Mode::Hang);
    let error = cache.refresh_now().await.expect_err("times out");
    assert!(
        matches!(error, CacheError::Timeout { timeout } if timeout == Duration::from_secs(1)),
        "{error:?}"
    );
    assert_eq!(cache.generation(), 1);

    fetcher.set(Mode::Panic);
    let error = cache.refresh_now().await.expect_err("panics");
    assert!(matches!(error, CacheError::Panicked { .. }), "{error:?}");
    assert!(error.to_string().contains("fetch exploded"), "{error}");
    assert_eq!(cache.generation(), 1);
    assert_eq!(cache.get("a").unwrap(), 1, "still serving");

    let stats = cache.stats();
    assert_eq!(
        (stats.timeouts, stats.panics, stats.refresh_failures),
        (1, 1, 2)
    );
    fetcher.set(Mode::Data(map(5, 6)));
    assert_eq!(cache.refresh_now().await.expect("recovered"), 2);
}

#[tokio::test(start_paused = true)]
async fn concurrent_refresh_now_calls_share_one_fetch() {
    let fetcher = Scripted::new(Mode::Data(map(1, 2)));
    let cache = Cache::builder(fetcher.clone())
        .config(manual())
        .build()
        .await
        .expect("first fetch");
    fetcher.set(Mode::Slow(Duration::from_millis(500), map(2, 3)));
    let calls: Vec<_> = (0..8)
        .map(|_| {
            let cache = cache.clone();
            tokio::spawn(async move { cache.refresh_now().await })
        })
        .collect();
    for call in calls {
        assert_eq!(call.await.expect("joined").expect("refreshed"), 2);
    }
    assert_eq!(fetcher.calls(), 2, "initial fetch + one coalesced refresh");
    assert_eq!(cache.generation(), 2);
    assert_eq!(cache.stats().coalesced_refreshes, 7);
}

#[tokio::test(start_paused = true)]
async fn background_refresh_follows_the_ttl_and_backs_off_on_failure() {
    let fetcher = Scripted::new(Mode::Data(map(1, 2)));
    let cache = Cache::builder(fetcher.clone())
        .config(
            CacheConfig::with_ttl(Duration::from_secs(10))
                .failure_backoff(Backoff::new(Duration::from_secs(1), Duration::from_secs(4))),
        )
        .build()
        .await
        .expect("first fetch");
    tokio::time::sleep(Duration::from_millis(10_500)).await;
    assert_eq!((fetcher.calls(), cache.generation()), (2, 2));
    assert!(!cache.snapshot().unwrap().is_stale());

    // The downstream goes down at t = 10.5: the refresh due at t = 20 fails, then retries
    // come after 1 s, 2 s, 4 s, 4 s (capped) while the old snapshot is served, stale.
    fetcher.set(Mode::Fail);
    tokio::time::sleep(Duration::from_secs(21)).await; // t = 31.5
    assert_eq!(fetcher.calls(), 2 + 5, "attempts at t = 20, 21, 23, 27, 31");
    assert_eq!(cache.generation(), 2);
    assert!(cache.snapshot().unwrap().is_stale());
    assert_eq!(cache.get("a").unwrap(), 1);

    fetcher.set(Mode::Data(map(9, 9)));
    tokio::time::sleep(Duration::from_secs(4)).await; // next attempt at t = 35
    assert_eq!(cache.generation(), 3);
    assert!(!cache.snapshot().unwrap().is_stale());
    cache.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn shutdown_stops_the_background_task_and_aborts_an_inflight_fetch() {
    let baseline = alive_tasks();
    let fetcher = Scripted::new(Mode::Data(map(1, 2)));
    let cache = Cache::builder(fetcher.clone())
        .config(
            CacheConfig::with_ttl(Duration::from_secs(5)).fetch_timeout(Duration::from_secs(600)),
        )
        .build()
        .await
        .expect("first fetch");
    assert!(cache.is_refreshing_in_background());
    fetcher.set(Mode::Hang);
    tokio::time::sleep(Duration::from_secs(6)).await; // a refresh is now hanging
    assert_eq!(fetcher.calls(), 2);

    cache.shutdown().await;
    assert!(!cache.is_refreshing_in_background());
    settle_to(baseline).await;
    assert!(matches!(
        cache.refresh_now().await,
        Err(CacheError::ShutDown)
    ));
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(fetcher.calls(), 2, "no refresh after shutdown");
    assert_eq!(
        cache.get("a").unwrap(),
        1,
        "the last snapshot is still readable"
    );
}

#[tokio::test(start_paused = true)]
async fn dropping_the_last_handle_ends_the_background_task() {
    let baseline = alive_tasks();
    let fetcher = Scripted::new(Mode::Data(map(1, 2)));
    let cache = Cache::builder(fetcher.clone())
        .config(CacheConfig::with_ttl(Duration::from_secs(5)))
        .build()
        .await
        .expect("first fetch");
    assert!(alive_tasks() > baseline);
    drop(cache);
    settle_to(baseline).await;
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(fetcher.calls(), 1, "no refresh after the cache is gone");
}
