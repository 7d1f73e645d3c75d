//! Shared refresh on Redis (mcp-cache feature `redis`), 4 replicas in one process on loopback
//! against a real `redis-server` started here (it must be installed), a 1 s TTL and a counting
//! downstream:
//!
//! 1. downstream fetches per TTL with the shared backend vs 4 replicas refreshing alone,
//!    measured in interleaved rounds;
//! 2. time from the leader's swap to the moment all replicas hold the new generation
//!    (p50 / p99 / max over the generations seen);
//! 3. keyed read latency with the backend on vs off, against a raw `ArcSwap::load` (criterion).
//!
//! `SHARED_REFRESH_SECONDS` (default 12) sets the length of each round of part 1 and 2.
#![allow(missing_docs, clippy::cast_precision_loss)]

use std::collections::{BTreeMap, HashMap};
use std::hint::black_box;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use criterion::Criterion;
use mcp_cache::{Cache, CacheConfig, JsonCodec, RedisShared};
use mcp_patterns_benches::estimates::mean_ns;

type Rules = HashMap<String, u64>;

const REPLICAS: usize = 4;
const TTL: Duration = Duration::from_secs(1);
const KEY: &str = "app-500";

struct Redis {
    child: Child,
    url: String,
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_redis() -> Redis {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let child = Command::new("redis-server")
        .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .spawn()
        .expect("this bench needs redis-server (apt-get install -y redis-server)");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "redis-server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    Redis {
        child,
        url: format!("redis://127.0.0.1:{port}"),
    }
}

fn data(generation: u64) -> Rules {
    (0..1000)
        .map(|i| (format!("app-{i}"), i + generation))
        .collect()
}

/// A downstream that counts its fetches and returns new data each time.
#[derive(Clone, Default)]
struct Downstream(Arc<AtomicUsize>);

impl Downstream {
    fn fetcher(&self) -> impl mcp_cache::Fetcher<Rules> + use<> {
        let count = Arc::clone(&self.0);
        mcp_cache::fetch_fn(move || {
            let n = count.fetch_add(1, Ordering::SeqCst) as u64;
            async move { Ok::<_, std::io::Error>(data(n)) }
        })
    }

    fn fetches(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

async fn replicas(downstream: &Downstream, redis: Option<&str>, key: &str) -> Vec<Cache<Rules>> {
    let mut all = Vec::new();
    for i in 0..REPLICAS {
        let mut builder = Cache::builder(downstream.fetcher()).config(
            CacheConfig::with_ttl(TTL)
                .jitter(Duration::from_millis(100))
                .name("bench"),
        );
        if let Some(url) = redis {
            builder = builder.shared(
                RedisShared::new(url, JsonCodec::new("bench/v1"))
                    .expect("url")
                    .key(key)
                    .replica_id(format!("replica-{i}")),
            );
        }
        all.push(builder.build().await.expect("replica"));
    }
    all
}

/// Records, per generation, when each replica swapped it in.
fn record_swaps(caches: &[Cache<Rules>]) -> Arc<Mutex<BTreeMap<u64, Vec<Instant>>>> {
    let seen = Arc::new(Mutex::new(BTreeMap::<u64, Vec<Instant>>::new()));
    for cache in caches {
        let cache = cache.clone();
        let seen = Arc::clone(&seen);
        tokio::spawn(async move {
            let mut changes = cache.watch();
            let mut last = cache.generation();
            while changes.changed().await.is_ok() {
                let generation = cache.generation();
                if generation != last {
                    last = generation;
                    seen.lock()
                        .unwrap()
                        .entry(generation)
                        .or_default()
                        .push(Instant::now());
                }
            }
        });
    }
    seen
}

struct Round {
    fetches_per_ttl: f64,
    /// Leader's swap to the last replica's, per generation all replicas reached.
    spreads: Vec<Duration>,
}

async fn round(redis: Option<&str>, key: &str, length: Duration) -> Round {
    let downstream = Downstream::default();
    let caches = replicas(&downstream, redis, key).await;
    let swaps = record_swaps(&caches);
    tokio::time::sleep(TTL).await; // settle: the start-up fetches are not counted
    let before = downstream.fetches();
    let started = Instant::now();
    tokio::time::sleep(length).await;
    let fetches = downstream.fetches() - before;
    let ttls = started.elapsed().as_secs_f64() / TTL.as_secs_f64();
    for cache in &caches {
        cache.shutdown().await;
    }
    let spreads = swaps
        .lock()
        .unwrap()
        .values()
        .filter(|at| at.len() == REPLICAS)
        .map(|at| *at.iter().max().unwrap() - *at.iter().min().unwrap())
        .collect();
    Round {
        fetches_per_ttl: fetches as f64 / ttls,
        spreads,
    }
}

#[allow(clippy::cast_possible_truncation)] // p is a percentage, 0..=100
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    // Nearest rank: ceil(p% of n), 1-based.
    let n = sorted.len();
    let rank = (n * usize::from(u8::try_from(p.round() as i64).unwrap_or(100))).div_ceil(100);
    sorted[rank.clamp(1, n) - 1]
}

fn summary(values: &mut [f64]) -> String {
    values.sort_by(f64::total_cmp);
    format!(
        "min {:.2}  median {:.2}  max {:.2}",
        values[0],
        values[values.len() / 2],
        values[values.len() - 1]
    )
}

fn measure(runtime: &tokio::runtime::Runtime, redis: &Redis) {
    let seconds = std::env::var("SHARED_REFRESH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(12);
    let length = Duration::from_secs(seconds);
    let mut shared = Vec::new();
    let mut alone = Vec::new();
    let mut spreads = Vec::new();
    // Interleaved: shared, alone, shared, alone, shared, alone.
    for i in 0..3 {
        let with = runtime.block_on(round(Some(&redis.url), &format!("bench-{i}"), length));
        shared.push(with.fetches_per_ttl);
        spreads.extend(with.spreads);
        let without = runtime.block_on(round(None, "", length));
        alone.push(without.fetches_per_ttl);
    }
    spreads.sort();
    println!(
        "\nshared refresh, {REPLICAS} replicas, TTL {TTL:?}, 3 interleaved rounds of {length:?}:"
    );
    println!(
        "  downstream fetches per TTL, shared on Redis: {}",
        summary(&mut shared)
    );
    println!(
        "  downstream fetches per TTL, each alone:      {}",
        summary(&mut alone)
    );
    println!(
        "  leader's swap -> all {REPLICAS} replicas on the new generation ({} generations): p50 {:?}  p99 {:?}  max {:?}",
        spreads.len(),
        percentile(&spreads, 50.0),
        percentile(&spreads, 99.0),
        spreads.last().copied().unwrap_or_default()
    );
}

fn reads(c: &mut Criterion, runtime: &tokio::runtime::Runtime, redis: &Redis) {
    let downstream = Downstream::default();
    let (local, shared) = runtime.block_on(async {
        let local = Cache::builder(downstream.fetcher())
            .config(CacheConfig::with_ttl(TTL))
            .build()
            .await
            .expect("local cache");
        let shared = Cache::builder(downstream.fetcher())
            .config(CacheConfig::with_ttl(TTL))
            .shared(
                RedisShared::new(&redis.url, JsonCodec::new("bench/v1"))
                    .expect("url")
                    .key("bench-reads"),
            )
            .build()
            .await
            .expect("shared cache");
        (local, shared)
    });
    let swap = ArcSwap::from_pointee(data(0));
    // Both caches refresh every second in the background while they are read.
    let mut group = c.benchmark_group("shared_refresh_read");
    group.bench_function("arc_swap_load", |b| {
        b.iter(|| swap.load().get(black_box(KEY)).copied());
    });
    group.bench_function("cache_get_local", |b| {
        b.iter(|| local.get(black_box(KEY)).ok());
    });
    group.bench_function("cache_get_shared_redis", |b| {
        b.iter(|| shared.get(black_box(KEY)).ok());
    });
    group.finish();
    let Some(base) = mean_ns("shared_refresh_read", "cache_get_local") else {
        println!("  (no read estimates: run without --test)");
        return;
    };
    println!("\nkeyed read, criterion mean (ratio to the local cache):");
    for name in ["arc_swap_load", "cache_get_local", "cache_get_shared_redis"] {
        if let Some(ns) = mean_ns("shared_refresh_read", name) {
            println!("  {name:<24} {ns:>7.1} ns  {:>5.2}x", ns / base);
        }
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let redis = start_redis();
    let mut criterion = Criterion::default().configure_from_args();
    let test_mode = std::env::args().any(|a| a == "--test");
    if !test_mode {
        measure(&runtime, &redis);
    }
    reads(&mut criterion, &runtime, &redis);
    criterion.final_summary();
}
