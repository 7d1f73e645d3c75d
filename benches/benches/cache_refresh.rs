//! Refreshing a cached snapshot (mcp-cache), in two parts:
//!
//! - `refresh_cost/*`: one `Cache::refresh_now` whose fetch builds a snapshot of 10, 1k and 100k
//!   items, against the floor of copy-on-write without the cache (build the same map, store it in
//!   a raw `ArcSwap`, drop the old one);
//! - `read_100k/*`: keyed reads of a 100k-item snapshot while idle and while a background task
//!   refreshes it continuously (one 100k-item fetch after another, on its own thread), for the
//!   cache (`lookup_with`, `get`) and for a raw `ArcSwap` whose map is rebuilt the same way.
//!
//! Ends with a table of ratios of criterion's median estimates from this run (to the raw `ArcSwap`
//! for refresh cost, to the idle read for reads during a refresh).
#![allow(missing_docs)]

use mcp_patterns_benches::estimates::median_ns;
use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use criterion::{BenchmarkId, Criterion};
use mcp_cache::{Cache, CacheConfig};

/// One cached item: what a firewall rule set might hold.
#[derive(Clone)]
struct Rule {
    port: u16,
    cidr: String,
}

type Data = HashMap<String, Rule>;

const SIZES: [usize; 3] = [10, 1_000, 100_000];
const BIG: usize = 100_000;
const KEY: &str = "app-00005000";

/// What the fetch returns: `n` items, built from scratch as a downstream response would be.
fn build(n: usize) -> Data {
    (0..n)
        .map(|i| {
            let port = u16::try_from(i % 65_536).unwrap_or(0);
            (
                format!("app-{i:08}"),
                Rule {
                    port,
                    cidr: format!("10.{}.{}.0/24", (i >> 8) & 0xff, i & 0xff),
                },
            )
        })
        .collect()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime")
}

/// A cache whose fetch builds `n` items, refreshed only when asked (no background task).
fn cache(rt: &tokio::runtime::Runtime, n: usize) -> Cache<Data> {
    rt.block_on(
        Cache::from_fn(move || async move { Ok::<_, std::io::Error>(build(n)) })
            .config(
                CacheConfig::default()
                    .name(format!("bench-{n}"))
                    .background_refresh(false)
                    .fetch_timeout(Duration::from_secs(60)),
            )
            .item_count(HashMap::len)
            .build(),
    )
    .expect("initial fetch")
}

fn refresh_cost(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("refresh_cost");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    for n in SIZES {
        let swap = ArcSwap::from_pointee(build(n));
        group.bench_with_input(BenchmarkId::new("raw_arc_swap_store", n), &n, |b, &n| {
            // Build, swap, drop the old map: the work of a copy-on-write refresh without a cache.
            b.iter(|| swap.store(Arc::new(build(black_box(n)))));
        });
        let cache = cache(&rt, n);
        group.bench_with_input(BenchmarkId::new("cache_refresh_now", n), &n, |b, _| {
            b.iter(|| rt.block_on(cache.refresh_now()).expect("refresh"));
        });
        assert_eq!(
            cache.health().items,
            n,
            "the refreshed snapshot holds every item"
        );
    }
    group.finish();
}

/// Runs `rebuild` in a loop on its own thread until dropped (at least once); counts completed
/// rebuilds.
struct Background {
    stop: Arc<AtomicBool>,
    done: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Background {
    fn start(rebuild: impl Fn() + Send + 'static) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicU64::new(0));
        let thread = std::thread::spawn({
            let (stop, done) = (Arc::clone(&stop), Arc::clone(&done));
            move || {
                // At least one rebuild, even when stopped at once (`--test` runs each read once).
                loop {
                    rebuild();
                    done.fetch_add(1, Ordering::Relaxed);
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                }
            }
        });
        Self {
            stop,
            done,
            thread: Some(thread),
        }
    }

    /// Stops the loop, waits for the rebuild in progress; returns how many were completed.
    fn stop(mut self) -> u64 {
        self.halt();
        self.done.load(Ordering::Relaxed)
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        self.halt();
    }
}

/// A background thread refreshing `cache` continuously (each refresh a 100k-item fetch).
fn refreshing(cache: &Cache<Data>) -> Background {
    let cache = cache.clone();
    let rt = runtime();
    Background::start(move || {
        rt.block_on(cache.refresh_now()).expect("refresh");
    })
}

fn read_during_refresh(c: &mut Criterion) {
    let rt = runtime();
    let cache = cache(&rt, BIG);
    let swap = Arc::new(ArcSwap::from_pointee(build(BIG)));
    let mut group = c.benchmark_group("read_100k");
    group
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));

    let lookup = || cache.lookup_with(black_box(KEY), |r| r.port).ok().flatten();
    let get = || cache.get(black_box(KEY)).ok().map(|r| r.cidr.len());
    let raw = || swap.load().get(black_box(KEY)).map(|r| r.port);
    assert!(lookup().is_some() && get().is_some() && raw().is_some());

    group.bench_function("arc_swap_idle", |b| b.iter(raw));
    group.bench_function("cache_lookup_with_idle", |b| b.iter(lookup));
    group.bench_function("cache_get_idle", |b| b.iter(get));

    let background = Background::start({
        let swap = Arc::clone(&swap);
        move || swap.store(Arc::new(build(BIG)))
    });
    group.bench_function("arc_swap_while_rebuilding", |b| b.iter(raw));
    let rebuilt = background.stop();

    let before = cache.stats().refreshes;
    let background = refreshing(&cache);
    group.bench_function("cache_lookup_with_while_refreshing", |b| b.iter(lookup));
    group.bench_function("cache_get_while_refreshing", |b| b.iter(get));
    let refreshed = background.stop();
    group.finish();
    assert!(
        cache.stats().refreshes > before,
        "the background refresh ran during the reads"
    );
    println!(
        "read_100k: {refreshed} cache refreshes and {rebuilt} raw rebuilds of {BIG} items ran \
         during the reads"
    );
}

fn report(since: SystemTime) {
    println!("\nrefresh cost, criterion median (ratio to build + raw ArcSwap store):");
    for n in SIZES {
        let (Some(raw), Some(cache)) = (
            median_ns("refresh_cost", &format!("raw_arc_swap_store/{n}"), since),
            median_ns("refresh_cost", &format!("cache_refresh_now/{n}"), since),
        ) else {
            println!("  (no estimates for {n} items in this run: run without --test)");
            continue;
        };
        #[allow(clippy::cast_precision_loss)] // item counts far below 2^52
        let per_item = cache / n as f64;
        println!(
            "  {n:>7} items  cache {:>10.1} us  raw {:>10.1} us  {:>5.2}x raw  {per_item:>6.1} ns/item",
            cache / 1e3,
            raw / 1e3,
            cache / raw,
        );
    }
    println!(
        "\nkeyed read of a {BIG}-item snapshot, criterion median (ratio to the same read idle):"
    );
    for (idle, busy) in [
        ("arc_swap_idle", "arc_swap_while_rebuilding"),
        (
            "cache_lookup_with_idle",
            "cache_lookup_with_while_refreshing",
        ),
        ("cache_get_idle", "cache_get_while_refreshing"),
    ] {
        let (Some(idle_ns), Some(busy_ns)) = (
            median_ns("read_100k", idle, since),
            median_ns("read_100k", busy, since),
        ) else {
            println!("  (no estimates for {busy} in this run: run without --test)");
            continue;
        };
        println!(
            "  {busy:<36} {busy_ns:>7.1} ns   idle {idle_ns:>7.1} ns   {:>5.2}x idle",
            busy_ns / idle_ns
        );
    }
}

fn main() {
    let since = SystemTime::now();
    let mut criterion = Criterion::default().configure_from_args();
    refresh_cost(&mut criterion);
    read_during_refresh(&mut criterion);
    criterion.final_summary();
    report(since);
}
