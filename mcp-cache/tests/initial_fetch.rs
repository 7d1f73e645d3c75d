//! Each initial-fetch policy, with backoff timing measured on tokio's paused clock.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Mode, Scripted, alive_tasks, map, settle_to};
use mcp_cache::{Backoff, Cache, CacheConfig, CacheError, FetchError, InitialFetch};
use tokio::time::Instant;

#[tokio::test(start_paused = true)]
async fn fail_fast_returns_the_fetch_error_and_leaves_no_task() {
    let baseline = alive_tasks();
    let fetcher = Scripted::new(Mode::Fail);
    let result = Cache::builder(fetcher.clone())
        .config(CacheConfig::default().initial_fetch(InitialFetch::FailFast))
        .build()
        .await;
    let error = result.expect_err("fail-fast must fail");
    assert!(matches!(error, CacheError::Fetch { .. }), "{error:?}");
    assert!(error.to_string().contains("503"));
    assert_eq!(fetcher.calls(), 1);
    settle_to(baseline).await;
}

#[tokio::test(start_paused = true)]
async fn fail_fast_succeeds_with_generation_one() {
    let fetcher = Scripted::new(Mode::Data(map(1, 2)));
    let cache = Cache::builder(fetcher.clone())
        .build()
        .await
        .expect("ready");
    assert_eq!(cache.generation(), 1);
    assert_eq!(cache.get("a").unwrap(), 1);
    assert_eq!(fetcher.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn degrade_starts_empty_reports_not_ready_then_recovers_in_background() {
    let fetcher = Scripted::new(Mode::Fail);
    let start = Instant::now();
    let cache = Cache::builder(fetcher.clone())
        .config(
            CacheConfig::default()
                .initial_fetch(InitialFetch::Degrade)
                .failure_backoff(Backoff::new(Duration::from_secs(1), Duration::from_secs(8))),
        )
        .build()
        .await
        .expect("degrade never fails start-up");
    assert_eq!(start.elapsed(), Duration::ZERO, "start-up does not wait");
    assert!(!cache.is_ready());
    let error = cache.get("a").expect_err("no data yet");
    assert!(matches!(error, CacheError::NotReady));
    let tool_error = error.to_tool_result();
    assert_eq!(tool_error.is_error, Some(true));
    let text = serde_json::to_string(&tool_error).unwrap();
    assert!(text.contains("data not available yet"), "{text}");

    // Background attempts at t = 0, 1, 3 (backoff 1 s, 2 s) all fail.
    tokio::time::sleep(Duration::from_millis(3500)).await;
    assert_eq!(fetcher.calls(), 3);
    let health = cache.health();
    assert!(!health.ready);
    assert_eq!(health.consecutive_failures, 3);
    assert_eq!(health.last_error_kind, Some("fetch"));

    // The downstream recovers; the next attempt (t = 7) fills the cache.
    fetcher.set(Mode::Data(map(5, 6)));
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(cache.is_ready());
    assert_eq!(cache.get("a").unwrap(), 5);
    assert_eq!(cache.generation(), 1);
    assert_eq!(cache.health().consecutive_failures, 0);
    assert_eq!(cache.stats().not_ready, 1);
    cache.shutdown().await;
}

/// A fetcher failing `failures` times, recording when each attempt started.
fn flaky(
    failures: usize,
    attempts: Arc<Mutex<Vec<Instant>>>,
) -> impl mcp_cache::Fetcher<HashMap<String, u64>> {
    mcp_cache::fetch_fn(move || {
        let attempts = attempts.clone();
        async move {
            let n = {
                let mut attempts = attempts.lock().unwrap();
                attempts.push(Instant::now());
                attempts.len()
            };
            if n <= failures {
                Err::<HashMap<String, u64>, FetchError>(format!("attempt {n} failed").into())
            } else {
                Ok(map(n as u64, 0))
            }
        }
    })
}

fn offsets(start: Instant, attempts: &Mutex<Vec<Instant>>) -> Vec<u128> {
    attempts
        .lock()
        .unwrap()
        .iter()
        .map(|t| (*t - start).as_millis())
        .collect()
}

#[tokio::test(start_paused = true)]
async fn retry_backs_off_exponentially_until_success() {
    let attempts = Arc::new(Mutex::new(Vec::new()));
    let start = Instant::now();
    let cache = Cache::builder(flaky(3, attempts.clone()))
        .config(CacheConfig::default().initial_fetch(InitialFetch::Retry {
            backoff: Backoff::new(Duration::from_millis(100), Duration::from_secs(10)),
            deadline: Duration::from_secs(5),
        }))
        .build()
        .await
        .expect("fourth attempt succeeds");
    assert_eq!(offsets(start, &attempts), [0, 100, 300, 700]);
    assert_eq!(start.elapsed(), Duration::from_millis(700));
    assert_eq!(cache.get("a").unwrap(), 4);
    assert_eq!(cache.generation(), 1);
    let stats = cache.stats();
    assert_eq!((stats.refreshes, stats.refresh_failures), (1, 3));
}

#[tokio::test(start_paused = true)]
async fn retry_caps_the_backoff_and_gives_up_at_the_deadline() {
    let baseline = alive_tasks();
    let attempts = Arc::new(Mutex::new(Vec::new()));
    let start = Instant::now();
    let error = Cache::builder(flaky(usize::MAX, attempts.clone()))
        .config(CacheConfig::default().initial_fetch(InitialFetch::Retry {
            backoff: Backoff::new(Duration::from_millis(100), Duration::from_millis(300)),
            deadline: Duration::from_secs(1),
        }))
        .build()
        .await
        .expect_err("never succeeds");
    // Delays 100, 200, 300 (capped), 300: the attempt after t = 900 would start past the deadline.
    assert_eq!(offsets(start, &attempts), [0, 100, 300, 600, 900]);
    assert_eq!(start.elapsed(), Duration::from_millis(900));
    assert!(error.to_string().contains("attempt 5 failed"), "{error}");
    settle_to(baseline).await;
}
