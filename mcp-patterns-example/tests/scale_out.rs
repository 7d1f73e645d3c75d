//! Three replicas of the binary behind one downstream share their refreshes through a real
//! `redis-server` (`--redis-url`): together they make about one downstream fetch per TTL and
//! report one generation, and a change in the downstream reaches all of them — their data and
//! their subscribers: a session subscribed on any replica is told of the change, whichever
//! replica fetched it. Runs with `MCP_PATTERNS_REDIS=1` (see `common/redis.rs`).

// `resources/subscribe` is the legacy (pre-2026-07-28) protocol, which rmcp marks deprecated:
// it is what these sessions speak.
#![allow(deprecated)]

mod common;

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::redis::RedisServer;
use common::{Recorder, call, free_port};
use mcp_patterns_example::downstream::{FirewallStore, serve};
use mcp_patterns_example::model::{Action, Direction, FirewallRule};
use rmcp::model::SubscribeRequestParams;
use rmcp::service::RunningService;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::{RoleClient, ServiceExt};
use serde_json::Value;
use tokio::sync::mpsc;

const BIN: &str = env!("CARGO_BIN_EXE_mcp-patterns-example");

/// One replica process, killed on drop.
struct Replica {
    child: Child,
    url: String,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_replica(downstream: &str, redis: &str) -> Replica {
    let port = free_port();
    let child = Command::new(BIN)
        .args([
            "--no-auth",
            "--downstream-url",
            downstream,
            "--redis-url",
            redis,
        ])
        .args(["--cache-ttl", "2", "--port", &port.to_string()])
        .env("MCP_LOG_LEVEL", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn the server");
    Replica {
        child,
        url: format!("http://127.0.0.1:{port}/mcp"),
    }
}

/// The `cache_status` of a replica, over a fresh MCP session (retried while it starts).
async fn cache_status(url: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let transport = StreamableHttpClientTransport::from_uri(url.to_owned());
        match ().serve(transport).await {
            Ok(client) => {
                let result = client
                    .call_tool(call("cache_status", Value::Null))
                    .await
                    .expect("cache_status");
                let _ = client.cancel().await;
                return result.structured_content.expect("structured status");
            }
            Err(error) => {
                assert!(Instant::now() < deadline, "{url} never answered: {error}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// The `get_firewall_rule` answer for app-alpha on a replica, as JSON text.
async fn alpha_rules(url: &str) -> String {
    let transport = StreamableHttpClientTransport::from_uri(url.to_owned());
    let client = ().serve(transport).await.expect("session");
    let rule = client
        .call_tool(call(
            "get_firewall_rule",
            serde_json::json!({"app_name": "app-alpha"}),
        ))
        .await
        .expect("get_firewall_rule");
    let _ = client.cancel().await;
    serde_json::to_string(&rule.structured_content).expect("json")
}

async fn statuses(replicas: &[Replica]) -> Vec<Value> {
    let mut all = Vec::new();
    for replica in replicas {
        all.push(cache_status(&replica.url).await);
    }
    all
}

/// A session on `url` subscribed to app-alpha's and app-beta's resources, and what it hears.
async fn subscriber(
    url: &str,
) -> (
    RunningService<RoleClient, Recorder>,
    mpsc::UnboundedReceiver<String>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let client = Recorder(tx)
        .serve(StreamableHttpClientTransport::from_uri(url.to_owned()))
        .await
        .expect("session");
    for app in ["app-alpha", "app-beta"] {
        client
            .subscribe(SubscribeRequestParams::new(format!(
                "cache://firewalls/{app}"
            )))
            .await
            .expect("subscribe");
    }
    (client, rx)
}

fn generations(statuses: &[Value]) -> Vec<u64> {
    statuses
        .iter()
        .map(|s| s["health"]["generation"].as_u64().expect("generation"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_make_one_downstream_fetch_per_ttl_and_agree_on_the_generation() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let downstream = serve(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        FirewallStore::seeded(),
    )
    .await
    .expect("downstream");
    let replicas: Vec<Replica> = (0..3)
        .map(|_| start_replica(&downstream.url, &redis.url()))
        .collect();
    let first = statuses(&replicas).await;
    for status in &first {
        let coordination = &status["health"]["coordination"];
        assert_eq!(coordination["backend"], "redis", "{status}");
        assert_eq!(coordination["reachable"], true, "{status}");
    }

    // About one fetch every 2 s for the three of them (alone, each would make one).
    let before = downstream.store.requests();
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(10)).await;
    let fetches = downstream.store.requests() - before;
    let periods = started.elapsed().as_secs_f64() / 2.0;
    assert!(
        (3..=7).contains(&fetches),
        "{fetches} downstream fetches in {periods:.1} TTLs of 2 s"
    );

    // A change in the downstream reaches every replica, under one generation.
    let mut subscribers = Vec::new();
    for replica in &replicas {
        subscribers.push(subscriber(&replica.url).await);
    }
    downstream.store.replace(
        "app-alpha",
        vec![FirewallRule {
            id: "scale-out-1".into(),
            direction: Direction::Ingress,
            protocol: "tcp".into(),
            ports: "8443".into(),
            cidr: "10.9.0.0/16".into(),
            action: Action::Allow,
            description: "added while three replicas run".into(),
        }],
    );
    let deadline = Instant::now() + Duration::from_secs(8);
    let converged = loop {
        let now = statuses(&replicas).await;
        let gens = generations(&now);
        let shared: Vec<u64> = now
            .iter()
            .map(|s| {
                s["health"]["coordination"]["shared_generation"]
                    .as_u64()
                    .unwrap_or(0)
            })
            .collect();
        let mut new_data = true;
        for replica in &replicas {
            new_data &= alpha_rules(&replica.url).await.contains("scale-out-1");
        }
        if new_data && gens.windows(2).all(|w| w[0] == w[1]) && shared == gens {
            break Some(now);
        }
        if Instant::now() > deadline {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let converged = converged.expect("the replicas did not agree on the new data and generation");
    let leaders = converged
        .iter()
        .filter(|s| s["health"]["coordination"]["role"] == "leader")
        .count();
    assert_eq!(leaders, 1, "{converged:?}");

    // Every replica's subscriber was told, the followers' included (they did not fetch the
    // change: they loaded the leader's generation from Redis), and only of app-alpha.
    for (i, (client, mut updates)) in subscribers.into_iter().enumerate() {
        let heard = tokio::time::timeout(Duration::from_secs(5), updates.recv())
            .await
            .unwrap_or_else(|_| panic!("replica {i}'s subscriber heard nothing"));
        assert_eq!(heard.as_deref(), Some("cache://firewalls/app-alpha"));
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut more = Vec::new();
        while let Ok(uri) = updates.try_recv() {
            more.push(uri);
        }
        assert!(
            more.iter().all(|uri| uri == "cache://firewalls/app-alpha"),
            "replica {i}: {more:?}"
        );
        let _ = client.cancel().await;
    }
    drop(replicas);
    downstream.shutdown().await;
}
