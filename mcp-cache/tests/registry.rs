//! Session-scoped caches: isolation between keys, coalesced creation, eviction by count
//! and idleness, removal when a session ends, and the hybrid base + overlay.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::settle_to;
use mcp_cache::{
    Cache, CacheConfig, CacheError, CacheRegistry, Hybrid, InitialFetch, RegistryConfig,
};

type Rules = HashMap<String, u64>;
type FetchCounts = Arc<Mutex<HashMap<String, u64>>>;

/// A registry whose cache for `user` holds `{user: <fetch count for that user>}` and counts
/// fetches per user.
fn per_user(config: RegistryConfig) -> (CacheRegistry<String, Rules>, FetchCounts) {
    let fetches = Arc::new(Mutex::new(HashMap::<String, u64>::new()));
    let registry = CacheRegistry::from_fn(config, {
        let fetches = fetches.clone();
        move |user: String| {
            let fetches = fetches.clone();
            async move {
                if user == "broken" {
                    return Err::<Rules, std::io::Error>(std::io::Error::other("no such user"));
                }
                let n = {
                    let mut fetches = fetches.lock().unwrap();
                    let n = fetches.entry(user.clone()).or_default();
                    *n += 1;
                    *n
                };
                tokio::time::sleep(Duration::from_millis(10)).await;
                Ok(HashMap::from([(user, n)]))
            }
        }
    });
    (registry, fetches)
}

fn manual() -> CacheConfig {
    CacheConfig::default().background_refresh(false)
}

#[tokio::test(start_paused = true)]
async fn keys_are_isolated() {
    let (registry, fetches) = per_user(RegistryConfig::default().cache(manual()));
    let alice = registry.get(&"alice".into()).await.expect("alice");
    let bob = registry.get(&"bob".into()).await.expect("bob");
    assert!(!alice.ptr_eq(&bob));
    assert_eq!(alice.get("alice").unwrap(), 1);
    assert!(matches!(
        alice.get("bob"),
        Err(CacheError::KeyNotFound { .. })
    ));
    assert!(matches!(
        bob.get("alice"),
        Err(CacheError::KeyNotFound { .. })
    ));

    // Refreshing alice's cache neither fetches nor changes bob's.
    assert_eq!(alice.refresh_now().await.expect("refresh"), 2);
    assert_eq!(alice.get("alice").unwrap(), 2);
    assert_eq!(bob.generation(), 1);
    assert_eq!(bob.get("bob").unwrap(), 1);
    assert_eq!(
        fetches.lock().unwrap().clone(),
        HashMap::from([("alice".into(), 2), ("bob".into(), 1)])
    );
    assert_eq!(bob.stats().misses, 1);
    assert_eq!(alice.stats().misses, 1);

    // The same key gives the same cache.
    assert!(registry.get(&"alice".into()).await.unwrap().ptr_eq(&alice));
}

#[tokio::test(start_paused = true)]
async fn concurrent_first_uses_of_a_key_build_one_cache() {
    let (registry, fetches) = per_user(RegistryConfig::default().cache(manual()));
    let gets: Vec<_> = (0..10)
        .map(|_| {
            let registry = registry.clone();
            tokio::spawn(async move { registry.get(&"carol".to_owned()).await })
        })
        .collect();
    let mut caches = Vec::new();
    for get in gets {
        caches.push(get.await.unwrap().expect("built"));
    }
    assert!(caches.iter().all(|c| c.ptr_eq(&caches[0])));
    assert_eq!(fetches.lock().unwrap()["carol"], 1);
    assert_eq!(registry.stats().created, 1);
}

#[tokio::test(start_paused = true)]
async fn a_failed_build_leaves_no_entry() {
    let (registry, _) =
        per_user(RegistryConfig::default().cache(manual().initial_fetch(InitialFetch::FailFast)));
    let error = registry
        .get(&"broken".into())
        .await
        .expect_err("fails fast");
    assert!(error.to_string().contains("no such user"), "{error}");
    assert!(!registry.contains(&"broken".into()));
    assert!(registry.is_empty());
}

#[tokio::test(start_paused = true)]
async fn the_least_recently_used_cache_is_evicted_at_capacity() {
    let (registry, _) = per_user(
        RegistryConfig::default()
            .max_entries(2)
            .cache(CacheConfig::with_ttl(Duration::from_secs(60))),
    );
    let a = registry.get(&"a".into()).await.unwrap();
    tokio::time::advance(Duration::from_secs(1)).await;
    let _b = registry.get(&"b".into()).await.unwrap();
    tokio::time::advance(Duration::from_secs(1)).await;
    let _a_again = registry.get(&"a".into()).await.unwrap(); // a is now more recent than b
    tokio::time::advance(Duration::from_secs(1)).await;
    let _c = registry.get(&"c".into()).await.unwrap();

    assert_eq!(registry.len(), 2);
    assert!(registry.contains(&"a".into()));
    assert!(!registry.contains(&"b".into()), "b was least recently used");
    assert!(registry.contains(&"c".into()));
    assert_eq!(registry.stats().evicted_capacity, 1);
    assert!(a.is_refreshing_in_background(), "survivors keep refreshing");
}

#[tokio::test(start_paused = true)]
async fn idle_caches_are_evicted_and_stop_refreshing() {
    let (registry, fetches) = per_user(
        RegistryConfig::default()
            .idle_timeout(Duration::from_secs(60))
            .cache(CacheConfig::with_ttl(Duration::from_secs(20))),
    );
    let idle = registry.get(&"idle".into()).await.unwrap();
    let _busy = registry.get(&"busy".into()).await.unwrap();
    // Keep "busy" in use; leave "idle" alone. The sweep runs every 30 s.
    for _ in 0..9 {
        tokio::time::sleep(Duration::from_secs(10)).await;
        registry.get(&"busy".into()).await.unwrap();
    }
    assert!(
        !registry.contains(&"idle".into()),
        "evicted after 60 s idle"
    );
    assert!(registry.contains(&"busy".into()));
    assert_eq!(registry.stats().evicted_idle, 1);
    assert!(!idle.is_refreshing_in_background());
    let idle_fetches = fetches.lock().unwrap()["idle"];
    tokio::time::sleep(Duration::from_secs(100)).await;
    assert_eq!(
        fetches.lock().unwrap()["idle"],
        idle_fetches,
        "no refresh after eviction"
    );
    assert_eq!(
        idle.get("idle").unwrap(),
        idle_fetches,
        "a held handle still reads"
    );
}

#[tokio::test(start_paused = true)]
async fn a_session_end_removes_its_cache() {
    let baseline = common::alive_tasks();
    let (registry, _) =
        per_user(RegistryConfig::default().cache(CacheConfig::with_ttl(Duration::from_secs(5))));
    {
        // A per-session handler holds the guard; the session ends when it is dropped.
        let _session = registry.guard("dave".to_owned());
        let dave = registry.get(&"dave".into()).await.unwrap();
        assert!(dave.is_refreshing_in_background());
        assert!(registry.contains(&"dave".into()));
    }
    assert!(!registry.contains(&"dave".into()));
    let eve = registry.get(&"eve".into()).await.unwrap();
    assert!(registry.remove(&"eve".into()));
    assert!(!registry.remove(&"eve".into()));
    assert_eq!(registry.stats().removed, 2);
    assert!(registry.is_empty());
    drop(eve);
    drop(registry);
    settle_to(baseline).await;
}

#[tokio::test(start_paused = true)]
async fn hybrid_overlays_shadow_the_shared_base_per_key() {
    let base_fetches = Arc::new(AtomicUsize::new(0));
    let base = Cache::from_fn({
        let base_fetches = base_fetches.clone();
        move || {
            base_fetches.fetch_add(1, Ordering::SeqCst);
            async {
                Ok::<_, std::io::Error>(HashMap::from([
                    ("shared".to_owned(), 1),
                    ("x".to_owned(), 2),
                ]))
            }
        }
    })
    .config(manual())
    .build()
    .await
    .unwrap();
    let overlays = CacheRegistry::from_fn(
        RegistryConfig::default().cache(manual()),
        |user: String| async move {
            Ok::<_, std::io::Error>(HashMap::from([(
                "x".to_owned(),
                if user == "alice" { 10 } else { 20 },
            )]))
        },
    );
    let hybrid = Hybrid::new(base, overlays);
    let alice = hybrid.view(&"alice".into()).await.unwrap();
    let bob = hybrid.view(&"bob".into()).await.unwrap();
    assert_eq!(alice.get("shared"), Some(&1));
    assert_eq!(bob.get("shared"), Some(&1));
    assert_eq!(alice.get("x"), Some(&10));
    assert_eq!(bob.get("x"), Some(&20));
    assert_eq!(alice.get("nope"), None);
    assert_eq!(
        base_fetches.load(Ordering::SeqCst),
        1,
        "one base for everyone"
    );
    assert_eq!(hybrid.overlays().len(), 2);
}
