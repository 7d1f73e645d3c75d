//! Keyed reads from a cached snapshot (mcp-cache): `Cache::lookup_with` and
//! `Cache::get` against a raw `ArcSwap::load` (the floor) and a `RwLock<Arc<T>>` (the usual
//! alternative), on one thread and on several threads reading at once (the time of one
//! iteration is one read on every thread). Ends with a table of ratios of criterion's mean
//! estimates from the same run.
#![allow(missing_docs)]

use mcp_patterns_benches::estimates::mean_ns;
use std::collections::HashMap;
use std::hint::black_box;
use std::sync::{Arc, Barrier, RwLock};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use criterion::Criterion;
use mcp_cache::{Cache, CacheConfig};

type Rules = HashMap<String, u64>;
type Read<'a> = Box<dyn Fn() -> Option<u64> + Sync + 'a>;

const KEY: &str = "app-500";

fn data() -> Rules {
    (0..1000).map(|i| (format!("app-{i}"), i)).collect()
}

/// Runs `read` `iters` times on each of `threads` threads started together; returns the
/// wall time (criterion divides it by `iters`: the time of one read on every thread at once).
fn run(threads: usize, iters: u64, read: &(dyn Fn() -> Option<u64> + Sync)) -> Duration {
    if threads == 1 {
        let start = Instant::now();
        for _ in 0..iters {
            black_box(read());
        }
        start.elapsed()
    } else {
        let barrier = Barrier::new(threads + 1);
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(|| {
                    barrier.wait();
                    for _ in 0..iters {
                        black_box(read());
                    }
                });
            }
            barrier.wait();
            let start = Instant::now();
            // Scope end joins the readers.
            start
        })
        .elapsed()
    }
}

const VARIANTS: [&str; 4] = [
    "arc_swap_load",
    "rwlock_arc",
    "cache_lookup_with",
    "cache_get",
];

fn group_name(threads: usize) -> String {
    format!(
        "keyed_read_{threads}_thread{}",
        if threads == 1 { "" } else { "s" }
    )
}

fn bench(c: &mut Criterion, threads: usize) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let cache = runtime
        .block_on(
            Cache::from_fn(|| async { Ok::<_, std::io::Error>(data()) })
                .config(CacheConfig::default().background_refresh(false))
                .build(),
        )
        .unwrap();
    let swap = ArcSwap::from_pointee(data());
    let lock = RwLock::new(Arc::new(data()));

    let variants: [(&str, Read<'_>); 4] = [
        (
            "arc_swap_load",
            Box::new(|| swap.load().get(black_box(KEY)).copied()),
        ),
        (
            "rwlock_arc",
            Box::new(|| {
                lock.read()
                    .ok()
                    .and_then(|g| g.get(black_box(KEY)).copied())
            }),
        ),
        (
            "cache_lookup_with",
            Box::new(|| cache.lookup_with(black_box(KEY), |v| *v).ok().flatten()),
        ),
        ("cache_get", Box::new(|| cache.get(black_box(KEY)).ok())),
    ];

    let group_name = format!(
        "keyed_read_{threads}_thread{}",
        if threads == 1 { "" } else { "s" }
    );
    let mut group = c.benchmark_group(&group_name);
    for (name, read) in &variants {
        group.bench_function(*name, |b| {
            b.iter_custom(|iters| run(threads, iters, read.as_ref()));
        });
    }
    group.finish();
}

fn report(threads: &[usize]) {
    println!(
        "\nkeyed read, criterion mean per iteration (ratio to RwLock<Arc<T>>, to raw ArcSwap::load):"
    );
    for &n in threads {
        let group = group_name(n);
        let (Some(rwlock), Some(raw)) = (
            mean_ns(&group, "rwlock_arc"),
            mean_ns(&group, "arc_swap_load"),
        ) else {
            println!("  (no estimates for {group}: run without --test)");
            continue;
        };
        for name in VARIANTS {
            if let Some(ns) = mean_ns(&group, name) {
                println!(
                    "  {n} thread(s)  {name:<18} {ns:>8.1} ns   {:>5.2}x RwLock   {:>5.2}x ArcSwap",
                    ns / rwlock,
                    ns / raw
                );
            }
        }
    }
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    let many = std::thread::available_parallelism().map_or(4, |n| n.get().max(4));
    let threads = [1, many];
    for &n in &threads {
        bench(&mut criterion, n);
    }
    criterion.final_summary();
    report(&threads);
}
