//! The reference server's three `--cache-scope`s side by side (`docs/cache-scopes.md`):
//! resident-set growth, downstream requests and per-user caches after N users each list their
//! rules, against the example's real downstream API over loopback. Each scope runs in its own
//! child process so the allocator's retained memory from one cannot hide another's. Ratios are to
//! the server scope.
#![allow(missing_docs)]

use mcp_patterns_benches::rss_bytes;
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::process::Command;

use mcp_patterns_example::access::Caller;
use mcp_patterns_example::data::{CacheScope, CacheSettings, FirewallCache};
use mcp_patterns_example::downstream::{self, DownstreamClient, FirewallStore};
use mcp_patterns_example::model::ChangeRequest;

const APPS: usize = 200;
const RULES_PER_APP: usize = 50;
const USERS: usize = 50;
const APPS_PER_USER: usize = 10;
/// Change requests of each user in the downstream (the hybrid scope's per-user overlay).
const CHANGE_REQUESTS_PER_USER: usize = 5;
const ENV: &str = "MCP_EXAMPLE_SCOPE";

fn caller(user: usize) -> Caller {
    let apps: Vec<(String, BTreeSet<String>)> = (0..APPS_PER_USER)
        .map(|i| {
            (
                format!("app-{:05}", (user * APPS_PER_USER + i) % APPS),
                BTreeSet::from(["read".to_owned()]),
            )
        })
        .collect();
    Caller::with_apps(format!("user-{user}"), apps, false)
}

fn child(scope: CacheScope) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let store = FirewallStore::synthetic(APPS, RULES_PER_APP);
        for user in 0..USERS {
            for i in 0..CHANGE_REQUESTS_PER_USER {
                store.add_change_request(
                    &format!("user-{user}"),
                    ChangeRequest {
                        id: format!("cr-{user}-{i}"),
                        app_name: format!("app-{:05}", (user * APPS_PER_USER + i) % APPS),
                        summary: "allow tcp/8443 from 10.20.0.0/16".into(),
                        status: "pending".into(),
                    },
                );
            }
        }
        let downstream = downstream::serve(SocketAddr::from(([127, 0, 0, 1], 0)), store)
            .await
            .expect("downstream");
        let client = DownstreamClient::new(&downstream.url);
        let before = rss_bytes();
        let settings = CacheSettings {
            scope,
            ..CacheSettings::default()
        };
        let data = FirewallCache::build(client, &settings)
            .await
            .expect("cache");
        let mut listed = 0;
        for user in 0..USERS {
            let view = data.view(&caller(user)).await.expect("view");
            listed += view.apps().expect("apps").len();
        }
        assert_eq!(
            listed,
            USERS * APPS_PER_USER,
            "every user sees exactly their apps"
        );
        let after = rss_bytes();
        // The downstream's own memory is in this process too, but it was allocated before
        // `before` and does not grow with reads.
        println!(
            "{} {} {}",
            after.saturating_sub(before),
            downstream.store.requests(),
            data.user_caches()
        );
        drop(data);
        downstream.shutdown().await;
    });
}

fn main() {
    if let Ok(name) = std::env::var(ENV) {
        let scope = match name.as_str() {
            "server" => CacheScope::Server,
            "session" => CacheScope::Session,
            _ => CacheScope::Hybrid,
        };
        child(scope);
        return;
    }
    let exe = std::env::current_exe().expect("own path");
    println!(
        "\nexample cache scopes: {APPS} apps x {RULES_PER_APP} rules in the downstream, {USERS} \
         users with {APPS_PER_USER} entitled apps and {CHANGE_REQUESTS_PER_USER} change \
         requests each, each lists their rules once"
    );
    println!("  scope     RSS growth   ratio  downstream requests  per-user caches");
    let mut server_bytes = None;
    for name in ["server", "session", "hybrid"] {
        let output = Command::new(&exe)
            .env(ENV, name)
            .output()
            .expect("child runs");
        let line = String::from_utf8_lossy(&output.stdout);
        let fields: Vec<u64> = line
            .split_whitespace()
            .map(|f| f.parse().unwrap_or(0))
            .collect();
        let [bytes, requests, caches] = fields[..] else {
            eprintln!(
                "scenario {name} failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            continue;
        };
        let base = *server_bytes.get_or_insert(bytes.max(1));
        #[allow(clippy::cast_precision_loss)] // byte counts far below 2^52
        let (mib, ratio) = (bytes as f64 / 1_048_576.0, bytes as f64 / base as f64);
        println!("  {name:<8} {mib:>8.1} MiB  {ratio:>6.2}x  {requests:>19}  {caches:>15}");
    }
}
