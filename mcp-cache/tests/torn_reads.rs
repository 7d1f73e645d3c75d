//! Readers in a tight loop across refreshes never see a torn or missing snapshot and are never
//! held up by a refresh whose fetch is still running.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use mcp_cache::{Cache, CacheConfig, CacheError};

const ITEMS: usize = 1000;
/// Reads every reader thread must complete while a fetch is parked, before the fetch may end.
const READS_DURING_FETCH: u64 = 20_000;
const REFRESHES: u64 = 3;
const READERS: usize = 3;

#[derive(Default)]
struct Gate {
    /// Set while a refresh's fetch is running.
    fetching: AtomicBool,
    /// Reads completed while `fetching` was set, per fetch.
    reads_during_fetch: AtomicU64,
    stop: AtomicBool,
}

/// One reader: reads in a tight loop until told to stop, checking every snapshot; returns the
/// number of reads or what went wrong.
fn read_until_stopped(cache: &Cache<Vec<u64>>, gate: &Gate) -> Result<u64, String> {
    let mut last_generation = 0;
    let mut reads = 0u64;
    while !gate.stop.load(Ordering::SeqCst) {
        let fetching = gate.fetching.load(Ordering::SeqCst);
        let generation = cache
            .read(|snapshot| {
                let generation = snapshot.generation();
                let data = snapshot.data();
                if data.len() != ITEMS || snapshot.meta().items != ITEMS {
                    return Err(format!("snapshot {generation} has {} items", data.len()));
                }
                if let Some(bad) = data.iter().find(|v| **v != generation) {
                    return Err(format!("torn: generation {generation} holds {bad}"));
                }
                Ok(generation)
            })
            .map_err(|e: CacheError| format!("snapshot missing: {e}"))??;
        if generation < last_generation {
            return Err(format!(
                "generation went back {last_generation} -> {generation}"
            ));
        }
        last_generation = generation;
        // The owned-Arc path must agree as well.
        let owned = cache
            .snapshot()
            .map_err(|e| format!("snapshot missing: {e}"))?;
        if owned.data().iter().any(|v| *v != owned.generation()) {
            return Err("torn owned snapshot".into());
        }
        reads += 1;
        if fetching {
            gate.reads_during_fetch.fetch_add(1, Ordering::SeqCst);
        }
    }
    Ok(reads)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_never_see_a_torn_snapshot_and_never_wait_for_a_slow_fetch() {
    let gate = Arc::new(Gate::default());
    let fetches = Arc::new(AtomicU64::new(0));
    let cache = Cache::from_fn({
        let gate = gate.clone();
        let fetches = fetches.clone();
        move || {
            let gate = gate.clone();
            let fetches = fetches.clone();
            async move {
                let n = fetches.fetch_add(1, Ordering::SeqCst) + 1;
                if n > 1 {
                    // A slow fetch: it only finishes once the readers have shown that they
                    // keep reading while it runs. If reads waited for the refresh, this would
                    // never happen and the test would hit its deadline.
                    gate.reads_during_fetch.store(0, Ordering::SeqCst);
                    gate.fetching.store(true, Ordering::SeqCst);
                    while gate.reads_during_fetch.load(Ordering::SeqCst)
                        < READS_DURING_FETCH * READERS as u64
                    {
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                    gate.fetching.store(false, Ordering::SeqCst);
                }
                // Every item of snapshot n carries n: a mix of two snapshots is detectable.
                Ok::<_, std::io::Error>(vec![n; ITEMS])
            }
        }
    })
    .config(
        CacheConfig::default()
            .background_refresh(false)
            .fetch_timeout(Duration::from_secs(120)),
    )
    .item_count(Vec::len)
    .build()
    .await
    .expect("first fetch");

    let readers: Vec<_> = (0..READERS)
        .map(|_| {
            let cache = cache.clone();
            let gate = gate.clone();
            std::thread::spawn(move || read_until_stopped(&cache, &gate))
        })
        .collect();

    let refreshes = tokio::time::timeout(Duration::from_secs(120), async {
        let mut generations = Vec::new();
        for _ in 0..REFRESHES {
            generations.push(cache.refresh_now().await.expect("refresh"));
        }
        generations
    })
    .await
    .expect("readers kept reading while each fetch was parked");
    gate.stop.store(true, Ordering::SeqCst);

    assert_eq!(refreshes, [2, 3, 4]);
    let mut total = 0;
    for reader in readers {
        total += reader
            .join()
            .expect("reader thread")
            .expect("consistent reads");
    }
    assert!(
        total >= READS_DURING_FETCH * READERS as u64 * REFRESHES,
        "{total} reads"
    );
    assert_eq!(cache.generation(), 1 + REFRESHES);
    assert_eq!(fetches.load(Ordering::SeqCst), 1 + REFRESHES);
}
