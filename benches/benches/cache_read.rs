//! Baseline of snapshot reads: `ArcSwap::load` vs `RwLock<Arc<T>>` read of a keyed map.
#![allow(missing_docs)]

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::{Arc, RwLock};

use arc_swap::ArcSwap;
use criterion::{Criterion, criterion_group, criterion_main};

fn data() -> HashMap<String, u64> {
    (0..1000).map(|i| (format!("app-{i}"), i)).collect()
}

fn bench(c: &mut Criterion) {
    let swap = ArcSwap::from_pointee(data());
    let lock = RwLock::new(Arc::new(data()));
    let mut group = c.benchmark_group("keyed_read");
    group.bench_function("arc_swap_load", |b| {
        b.iter(|| swap.load().get(black_box("app-500")).copied());
    });
    group.bench_function("rwlock_arc", |b| {
        b.iter(|| {
            lock.read()
                .map(|g| g.get(black_box("app-500")).copied())
                .ok()
                .flatten()
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
