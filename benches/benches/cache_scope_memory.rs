//! Memory and downstream fetches of the three cache scopes (mcp-cache), for
//! `docs/caching.md`: a server-wide cache, a session-scoped registry (full copy per session and
//! pre-filtered per user), and the hybrid shared base + per-user overlay. Each scenario runs in
//! its own child process and reports its resident-set growth, so the allocator's retained
//! memory from one scenario cannot hide another's. Ratios are to the server scope.
#![allow(missing_docs)]

use mcp_patterns_benches::rss_bytes;
use std::collections::HashMap;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use mcp_cache::{Cache, CacheConfig, CacheRegistry, Hybrid, RegistryConfig};

const APPS: usize = 200;
const RULES_PER_APP: usize = 50;
const SESSIONS: usize = 50;
const APPS_PER_USER: usize = 10;
const ENV: &str = "MCP_CACHE_SCOPE_SCENARIO";

#[derive(Clone)]
#[allow(dead_code)] // fields are the payload being measured
struct Rule {
    id: String,
    action: String,
    port: u16,
    cidr: String,
    description: String,
}

type Rules = HashMap<String, Vec<Rule>>;

fn rules(apps: impl Iterator<Item = usize>) -> Rules {
    apps.map(|app| {
        let rules = (0..RULES_PER_APP)
            .map(|i| Rule {
                id: format!("app-{app}-rule-{i}"),
                action: if i % 3 == 0 { "deny" } else { "allow" }.to_owned(),
                port: u16::try_from(1000 + i).unwrap_or(u16::MAX),
                cidr: format!("10.{}.{}.0/24", app % 256, i % 256),
                description: format!("rule {i} of application {app}, managed by the platform team"),
            })
            .collect();
        (format!("app-{app}"), rules)
    })
    .collect()
}

fn user_apps(user: usize) -> impl Iterator<Item = usize> {
    (0..APPS_PER_USER).map(move |i| (user * APPS_PER_USER + i) % APPS)
}

fn manual() -> CacheConfig {
    CacheConfig::default().background_refresh(false)
}

/// Builds one scenario, counting downstream fetches in `fetches`; returns what keeps its
/// caches alive.
async fn scenario(name: &str, fetches: Arc<AtomicU64>) -> Vec<Box<dyn std::any::Any>> {
    let count = move || fetches.fetch_add(1, Ordering::Relaxed);
    let mut keep: Vec<Box<dyn std::any::Any>> = Vec::new();
    match name {
        "server" => {
            let cache = Cache::from_fn(move || {
                count();
                async { Ok::<_, std::io::Error>(rules(0..APPS)) }
            })
            .config(manual())
            .build()
            .await
            .unwrap();
            keep.push(Box::new(cache));
        }
        "session-full" | "session-filtered" => {
            let filtered = name == "session-filtered";
            let registry = CacheRegistry::from_fn(
                RegistryConfig::default().cache(manual()),
                move |user: usize| {
                    count();
                    async move {
                        Ok::<_, std::io::Error>(if filtered {
                            rules(user_apps(user))
                        } else {
                            rules(0..APPS)
                        })
                    }
                },
            );
            for user in 0..SESSIONS {
                keep.push(Box::new(registry.get(&user).await.unwrap()));
            }
            keep.push(Box::new(registry));
        }
        "hybrid" => {
            let base_count = count.clone();
            let base = Cache::from_fn(move || {
                base_count();
                async { Ok::<_, std::io::Error>(rules(0..APPS)) }
            })
            .config(manual())
            .build()
            .await
            .unwrap();
            // Each user's overlay: one private application.
            let overlays = CacheRegistry::from_fn(
                RegistryConfig::default().cache(manual()),
                move |user: usize| {
                    count();
                    async move { Ok::<_, std::io::Error>(rules(std::iter::once(APPS + user))) }
                },
            );
            let hybrid = Hybrid::new(base, overlays);
            for user in 0..SESSIONS {
                let view = hybrid.view(&user).await.unwrap();
                assert!(view.get("app-0").is_some());
            }
            keep.push(Box::new(hybrid));
        }
        other => panic!("unknown scenario {other}"),
    }
    keep
}

fn child(name: &str) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let fetches = Arc::new(AtomicU64::new(0));
    let before = rss_bytes();
    let keep = runtime.block_on(scenario(name, fetches.clone()));
    let after = rss_bytes();
    println!(
        "{} {} {}",
        after.saturating_sub(before),
        fetches.load(Ordering::Relaxed),
        keep.len()
    );
    drop(keep);
}

fn main() {
    if let Ok(name) = std::env::var(ENV) {
        child(&name);
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let scenarios = [
        ("server", "one cache for all sessions"),
        ("session-full", "one full copy per session"),
        ("session-filtered", "one per user, pre-filtered to 10 apps"),
        ("hybrid", "shared base + 1-app overlay per user"),
    ];
    println!(
        "\ncache scopes: {APPS} apps x {RULES_PER_APP} rules, {SESSIONS} sessions, \
         {APPS_PER_USER} entitled apps per user (resident-set growth, ratio to server)"
    );
    let mut server_bytes = None;
    for (name, what) in scenarios {
        let output = Command::new(&exe).env(ENV, name).output().unwrap();
        let line = String::from_utf8_lossy(&output.stdout);
        let mut fields = line
            .split_whitespace()
            .map(|f| f.parse::<u64>().unwrap_or(0));
        let (bytes, fetches) = (fields.next().unwrap_or(0), fields.next().unwrap_or(0));
        let base = *server_bytes.get_or_insert(bytes.max(1));
        #[allow(clippy::cast_precision_loss)] // byte counts far below 2^52
        let (mib, ratio) = (bytes as f64 / 1_048_576.0, bytes as f64 / base as f64);
        println!(
            "  {name:<17} {mib:>8.1} MiB  {ratio:>6.2}x  {fetches:>3} downstream fetches  ({what})"
        );
    }
}
