//! Replicas sharing one cache through a real `redis-server` (started per test on a free
//! loopback port; runs with `MCP_PATTERNS_REDIS=1`, see `common/redis.rs`): one downstream fetch
//! per TTL for the group, convergence on one generation, and each failure: a leader killed
//! mid-fetch, a leader paused past its lease (fenced), a failing downstream, Redis down, Redis
//! restarted empty, a lost pub/sub message, a format mismatch.
#![cfg(feature = "redis")]
#![allow(clippy::cast_precision_loss)] // small counts and durations

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::redis::RedisServer;
use common::{Mode, Scripted, map};
use mcp_cache::{Backoff, Cache, CacheConfig, JsonCodec, RedisShared, Role};

type Data = HashMap<String, u64>;

fn shared(server: &RedisServer, id: &str) -> RedisShared<Data> {
    RedisShared::new(&server.url(), JsonCodec::new("map/v1"))
        .expect("url")
        .key("test-data")
        .replica_id(id)
        .command_timeout(Duration::from_millis(300))
}

fn config(ttl_ms: u64) -> CacheConfig {
    CacheConfig::with_ttl(Duration::from_millis(ttl_ms))
        .fetch_timeout(Duration::from_secs(5))
        .failure_backoff(Backoff::new(
            Duration::from_millis(100),
            Duration::from_millis(400),
        ))
}

async fn replica(
    shared: RedisShared<Data>,
    fetcher: &Scripted,
    config: CacheConfig,
) -> Cache<Data> {
    Cache::builder(fetcher.clone())
        .config(config)
        .item_count(HashMap::len)
        .shared(shared)
        .build()
        .await
        .expect("replica starts")
}

/// Polls `condition` every 10 ms until it holds or `timeout` passes.
async fn eventually(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if condition() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    condition()
}

fn generations(replicas: &[&Cache<Data>]) -> Vec<u64> {
    replicas.iter().map(|c| c.generation()).collect()
}

fn all_equal(values: &[u64]) -> bool {
    values.windows(2).all(|w| w[0] == w[1])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_make_one_fetch_per_ttl_and_converge_on_one_generation() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let downstream = Scripted::new(Mode::Data(map(1, 1)));
    let ttl = 400;
    let a = replica(shared(&server, "a"), &downstream, config(ttl)).await;
    let b = replica(shared(&server, "b"), &downstream, config(ttl)).await;
    let c = replica(shared(&server, "c"), &downstream, config(ttl)).await;
    // Only the first replica fetched; the others loaded its snapshot at start-up.
    assert_eq!(downstream.calls(), 1);
    assert_eq!(generations(&[&a, &b, &c]), [1, 1, 1]);

    let start_calls = downstream.calls();
    let started = Instant::now();
    tokio::time::sleep(Duration::from_millis(ttl * 8)).await;
    let periods = started.elapsed().as_secs_f64() / (ttl as f64 / 1000.0);
    let fetches = (downstream.calls() - start_calls) as f64;
    // One fetch per TTL for the whole group (three replicas alone would make three).
    assert!(
        fetches <= periods + 1.0 && fetches >= periods - 2.0,
        "{fetches} fetches in {periods:.1} TTLs"
    );

    downstream.set(Mode::Data(map(2, 1)));
    assert!(
        eventually(Duration::from_millis(ttl * 3), || {
            [&a, &b, &c].iter().all(|r| r.get("a").ok() == Some(2))
                && all_equal(&generations(&[&a, &b, &c]))
        })
        .await,
        "replicas did not converge: {:?}",
        generations(&[&a, &b, &c])
    );
    let roles: Vec<Role> = [&a, &b, &c]
        .iter()
        .map(|r| r.coordination().expect("shared").role)
        .collect();
    assert_eq!(
        roles.iter().filter(|r| **r == Role::Leader).count(),
        1,
        "{roles:?}"
    );
    let status = b.coordination().expect("shared");
    assert!(status.reachable && status.subscribed, "{status:?}");
    assert_eq!(status.shared_generation, b.generation());
    let health = c.health().to_json();
    assert_eq!(health["coordination"]["backend"], "redis");
    assert_eq!(health["coordination"]["reachable"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_killed_mid_fetch_is_replaced_once_its_lease_expires() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let manual = config(300).background_refresh(false);
    let fetch_a = Scripted::new(Mode::Data(map(1, 1)));
    let fetch_b = Scripted::new(Mode::Data(map(1, 1)));
    let lease = Duration::from_millis(400);
    let a = replica(shared(&server, "a").lease(lease), &fetch_a, manual.clone()).await;
    let b = replica(shared(&server, "b").lease(lease), &fetch_b, manual).await;
    assert_eq!((fetch_a.calls(), fetch_b.calls()), (1, 0));
    tokio::time::sleep(Duration::from_millis(350)).await; // the shared snapshot is due

    // A takes the lease and hangs in its fetch; then it dies without releasing the lease.
    fetch_a.set(Mode::Hang);
    let hung = tokio::spawn({
        let a = a.clone();
        async move { a.refresh_now().await }
    });
    assert!(eventually(Duration::from_secs(2), || fetch_a.calls() == 2).await);
    let killed_at = Instant::now();
    hung.abort();
    a.close();

    // While the dead leader's lease lasts, B does not fetch: it keeps serving generation 1.
    fetch_b.set(Mode::Data(map(7, 7)));
    assert_eq!(b.refresh_now().await.expect("unchanged"), 1);
    assert_eq!(fetch_b.calls(), 0);

    // Once the lease has expired, B takes over.
    tokio::time::sleep(lease.saturating_sub(killed_at.elapsed()) + Duration::from_millis(50)).await;
    assert_eq!(b.refresh_now().await.expect("b leads"), 2);
    assert_eq!(fetch_b.calls(), 1);
    assert_eq!(b.get("a").expect("new data"), 7);
    let status = b.coordination().expect("shared");
    assert_eq!((status.role, status.leads), (Role::Leader, 1), "{status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_paused_past_its_lease_cannot_overwrite_newer_data() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let manual = config(300).background_refresh(false);
    let fetch_a = Scripted::new(Mode::Data(map(1, 1)));
    let fetch_b = Scripted::new(Mode::Data(map(1, 1)));
    let lease = Duration::from_millis(200);
    let a = replica(shared(&server, "a").lease(lease), &fetch_a, manual.clone()).await;
    let b = replica(shared(&server, "b").lease(lease), &fetch_b, manual).await;
    tokio::time::sleep(Duration::from_millis(350)).await;

    // A leads, but its fetch stalls past the lease and returns what the downstream said
    // before B's fetch: older data.
    fetch_a.set(Mode::Slow(Duration::from_millis(800), map(10, 10)));
    let paused = tokio::spawn({
        let a = a.clone();
        async move { a.refresh_now().await }
    });
    assert!(eventually(Duration::from_secs(2), || fetch_a.calls() == 2).await);
    tokio::time::sleep(lease + Duration::from_millis(50)).await;
    fetch_b.set(Mode::Data(map(20, 20)));
    assert_eq!(b.refresh_now().await.expect("b takes over"), 2);

    // A's late write is rejected by the fence; A loads B's newer snapshot instead.
    let outcome = paused.await.expect("joined").expect("a refreshes");
    assert_eq!(outcome, 2);
    assert_eq!(
        a.get("a").expect("data"),
        20,
        "the paused leader overwrote newer data"
    );
    assert_eq!(b.get("a").expect("data"), 20);
    let status = a.coordination().expect("shared");
    assert_eq!(status.fenced, 1, "{status:?}");
    assert_eq!(status.role, Role::Follower);
    // And the shared store still holds B's snapshot.
    let stored = server
        .command("HMGET mcp-cache:{test-data}:state generation data writer")
        .expect("redis answers");
    assert!(
        stored.contains("\"a\":20") && stored.contains("\r\nb\r\n"),
        "{stored}"
    );
    assert!(!stored.contains("\"a\":10"), "{stored}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_downstream_keeps_the_last_good_snapshot_everywhere_and_backs_off_once() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let downstream = Scripted::new(Mode::Data(map(1, 1)));
    let ttl = 300;
    let a = replica(shared(&server, "a"), &downstream, config(ttl)).await;
    let b = replica(shared(&server, "b"), &downstream, config(ttl)).await;
    let c = replica(shared(&server, "c"), &downstream, config(ttl)).await;

    downstream.set(Mode::Fail);
    let before = downstream.calls();
    tokio::time::sleep(Duration::from_millis(2_400)).await;
    let attempts = downstream.calls() - before;
    // One backoff schedule for the group (100, 200, then 300 ms capped at the TTL: about 9 in
    // 2.4 s), not one per replica (about 27).
    assert!((3..=12).contains(&attempts), "{attempts} attempts");
    for r in [&a, &b, &c] {
        assert_eq!(r.get("a").expect("last good snapshot"), 1);
        let health = r.health();
        assert!(health.consecutive_failures > 0, "{health:?}");
        assert!(health.last_error.is_some());
    }

    downstream.set(Mode::Data(map(3, 3)));
    assert!(
        eventually(Duration::from_secs(3), || {
            [&a, &b, &c].iter().all(|r| r.get("a").ok() == Some(3))
                && all_equal(&generations(&[&a, &b, &c]))
        })
        .await
    );
    assert!(
        eventually(Duration::from_secs(2), || c.health().consecutive_failures
            == 0)
        .await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_down_replicas_refresh_locally_and_rejoin_when_it_returns() {
    let Some(mut server) = RedisServer::start() else {
        return;
    };
    let downstream = Scripted::new(Mode::Data(map(1, 1)));
    let ttl = 300;
    let a = replica(shared(&server, "a"), &downstream, config(ttl)).await;
    let b = replica(shared(&server, "b"), &downstream, config(ttl)).await;

    server.kill();
    downstream.set(Mode::Data(map(2, 2)));
    assert!(
        eventually(Duration::from_secs(3), || {
            [&a, &b].iter().all(|r| {
                let status = r.coordination().expect("shared");
                !status.reachable && status.role == Role::Local && r.get("a").ok() == Some(2)
            })
        })
        .await,
        "{:?}",
        a.coordination()
    );
    let health = a.health().to_json();
    assert_eq!(health["coordination"]["reachable"], false);
    assert_eq!(health["coordination"]["role"], "local");
    assert!(health["coordination"]["last_error"].is_string());
    assert!(a.coordination().expect("shared").local_fetches >= 1);

    server.restart();
    downstream.set(Mode::Data(map(3, 3)));
    assert!(
        eventually(Duration::from_secs(5), || {
            let sa = a.coordination().expect("shared");
            let sb = b.coordination().expect("shared");
            sa.reachable
                && sb.reachable
                && sa.role != Role::Local
                && sb.role != Role::Local
                && sa.shared_generation == sb.shared_generation
                && a.generation() == b.generation()
                && a.get("a").ok() == Some(3)
                && b.get("a").ok() == Some(3)
        })
        .await,
        "{:?} / {:?}",
        a.coordination(),
        b.coordination()
    );
    // Back to one fetch per TTL for the group.
    let before = downstream.calls();
    let started = Instant::now();
    tokio::time::sleep(Duration::from_millis(ttl * 6)).await;
    let periods = started.elapsed().as_secs_f64() / (ttl as f64 / 1000.0);
    let fetches = (downstream.calls() - before) as f64;
    assert!(
        fetches <= periods + 1.0,
        "{fetches} fetches in {periods:.1} TTLs"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_redis_restarts_empty_the_replicas_converge_in_a_new_epoch() {
    let Some(mut server) = RedisServer::start() else {
        return;
    };
    let downstream = Scripted::new(Mode::Data(map(1, 1)));
    let ttl = 300;
    let a = replica(shared(&server, "a"), &downstream, config(ttl)).await;
    let b = replica(shared(&server, "b"), &downstream, config(ttl)).await;
    let c = replica(shared(&server, "c"), &downstream, config(ttl)).await;
    tokio::time::sleep(Duration::from_millis(ttl * 2)).await;
    let epoch = a.coordination().expect("shared").epoch.expect("epoch");
    let generation = a.generation();

    server.restart();
    assert!(
        eventually(Duration::from_secs(5), || {
            let statuses: Vec<_> = [&a, &b, &c]
                .iter()
                .map(|r| r.coordination().expect("shared"))
                .collect();
            statuses
                .iter()
                .all(|s| s.reachable && s.epoch.as_deref().is_some_and(|e| e != epoch))
                && statuses.windows(2).all(|w| w[0].epoch == w[1].epoch)
                && all_equal(&generations(&[&a, &b, &c]))
        })
        .await,
        "{:?}",
        [&a, &b, &c].map(Cache::coordination)
    );
    // Generations go on from where they were (the new epoch does not restart them at 1).
    assert!(
        a.generation() > generation,
        "{} <= {generation}",
        a.generation()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_that_misses_the_pubsub_message_catches_up_by_polling() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let ttl = 2_000;
    let downstream = Scripted::new(Mode::Data(map(1, 1)));
    // A is driven by hand; B1 has no background loop, so it can only learn by pub/sub; B2
    // gets no messages at all, so it can only learn by looking every TTL.
    let a = replica(
        shared(&server, "a"),
        &downstream,
        config(ttl).background_refresh(false),
    )
    .await;
    let b1 = replica(
        shared(&server, "b1"),
        &downstream,
        config(ttl).background_refresh(false),
    )
    .await;
    let b2 = replica(
        shared(&server, "b2").pubsub(false),
        &downstream,
        config(ttl),
    )
    .await;
    let written = Instant::now();
    assert!(
        eventually(Duration::from_secs(1), || b1
            .coordination()
            .expect("shared")
            .subscribed)
        .await
    );
    assert!(!b2.coordination().expect("shared").subscribed);

    // A leads once the snapshot is due, just before B2's own look at the end of the TTL.
    tokio::time::sleep(Duration::from_millis(1_850).saturating_sub(written.elapsed())).await;
    downstream.set(Mode::Data(map(2, 2)));
    assert_eq!(a.refresh_now().await.expect("a leads"), 2);
    let swapped = Instant::now();
    assert!(
        eventually(Duration::from_millis(500), || b1.generation() == 2).await,
        "no pub/sub"
    );
    let by_pubsub = swapped.elapsed();
    assert_eq!(b2.generation(), 1, "b2 cannot have heard");
    assert!(eventually(Duration::from_millis(ttl), || b2.generation() == 2).await);
    let status = b2.coordination().expect("shared");
    assert_eq!((status.loads, status.leads), (2, 0), "{status:?}");
    assert_eq!(b2.get("a").expect("data"), 2);
    eprintln!("pub/sub delivered in {by_pubsub:?}");
    assert_eq!(downstream.calls(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_in_another_format_is_not_loaded_and_the_replica_fetches_alone() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let manual = config(300).background_refresh(false);
    let old = Scripted::new(Mode::Data(map(1, 1)));
    let new = Scripted::new(Mode::Data(map(5, 5)));
    let a = replica(shared(&server, "old"), &old, manual.clone()).await;
    let b_shared = RedisShared::new(&server.url(), JsonCodec::new("map/v2"))
        .expect("url")
        .key("test-data")
        .replica_id("new");
    let b = replica(b_shared, &new, manual).await;
    assert_eq!(b.get("a").expect("own fetch"), 5);
    assert_eq!(new.calls(), 1);
    let status = b.coordination().expect("shared");
    assert!(
        status.format_mismatch && status.role == Role::Local,
        "{status:?}"
    );
    assert!(
        status
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("map/v1"))
    );
    assert_eq!(a.get("a").expect("unaffected"), 1);
}
