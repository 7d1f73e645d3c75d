//! Helpers shared by the integration tests.
#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub mod redis;

use mcp_cache::{FetchError, Fetcher};

/// What the scripted fetcher does on its next call.
#[derive(Debug, Clone)]
pub enum Mode {
    /// Return this map.
    Data(HashMap<String, u64>),
    /// Return an error.
    Fail,
    /// Never finish.
    Hang,
    /// Panic.
    Panic,
    /// Sleep, then return the map.
    Slow(Duration, HashMap<String, u64>),
}

/// A fetcher whose behaviour a test switches at run time, counting its calls.
#[derive(Clone)]
pub struct Scripted {
    pub mode: Arc<Mutex<Mode>>,
    pub calls: Arc<AtomicUsize>,
}

impl Scripted {
    pub fn new(mode: Mode) -> Self {
        Self {
            mode: Arc::new(Mutex::new(mode)),
            calls: Arc::new(AtomicUsize::new(0)),
        }
    }

    pub fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

#[async_trait::async_trait]
impl Fetcher<HashMap<String, u64>> for Scripted {
    async fn fetch(&self) -> Result<HashMap<String, u64>, FetchError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let mode = self.mode.lock().unwrap().clone();
        match mode {
            Mode::Data(data) => Ok(data),
            Mode::Fail => Err("downstream answered 503".into()),
            Mode::Hang => std::future::pending().await,
            Mode::Panic => panic!("fetch exploded"),
            Mode::Slow(delay, data) => {
                tokio::time::sleep(delay).await;
                Ok(data)
            }
        }
    }
}

/// `{"a": a, "b": b}`.
pub fn map(a: u64, b: u64) -> HashMap<String, u64> {
    HashMap::from([("a".to_owned(), a), ("b".to_owned(), b)])
}

/// Tasks alive on the current runtime.
pub fn alive_tasks() -> usize {
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

/// Yields until the runtime's alive task count drops to `target` (aborted tasks are reaped
/// asynchronously), or panics after many tries.
pub async fn settle_to(target: usize) {
    for _ in 0..1000 {
        if alive_tasks() <= target {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("{} tasks still alive, expected {target}", alive_tasks());
}
