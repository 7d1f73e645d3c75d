//! The Redis coordinator: lease, fence, versioned shared snapshot, pub/sub and poll.

use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Script, Value};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{RedisShared, SnapshotCodec, scripts};
use crate::cache::Inner;
use crate::coordination::{Coordination, Coordinator, Refreshed, Role};
use crate::refresh::{random_fraction, random_id};
use crate::{Backoff, CacheConfig, CacheError};

/// A failure to talk to Redis (never shown to readers: the replica falls back to a local
/// fetch and reports it in its coordination state).
#[derive(Debug, thiserror::Error)]
enum BackendError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
    #[error("unexpected reply from redis: {0}")]
    Reply(String),
}

/// The shared refresh is failing on the leader; followers report it as their own failure.
#[derive(Debug, thiserror::Error)]
#[error("the shared refresh is failing ({failures} attempts in a row): {error}")]
struct SharedFailing {
    failures: u32,
    error: String,
}

struct Keys {
    state: String,
    lease: String,
    fence: String,
    epoch: String,
    channel: String,
}

impl Keys {
    fn new(name: &str) -> Self {
        let base = format!("mcp-cache:{{{name}}}");
        Self {
            state: format!("{base}:state"),
            lease: format!("{base}:lease"),
            fence: format!("{base}:fence"),
            epoch: format!("{base}:epoch"),
            channel: format!("{base}:generations"),
        }
    }
}

#[derive(Clone, PartialEq, Eq)]
struct Version {
    epoch: String,
    generation: u64,
}

impl Version {
    /// Parses a pub/sub message, `epoch:generation`.
    fn parse(message: &str) -> Option<Self> {
        let (epoch, generation) = message.rsplit_once(':')?;
        Some(Self {
            epoch: epoch.to_owned(),
            generation: generation.parse().ok()?,
        })
    }
}

struct State {
    role: Role,
    reachable: bool,
    subscribed: bool,
    seen: Option<Version>,
    writer: Option<String>,
    format_mismatch: bool,
    last_error: Option<String>,
    leads: u64,
    loads: u64,
    fenced: u64,
    local_fetches: u64,
    /// When this replica should look again (before jitter).
    due_at: Option<Instant>,
}

/// What the acquire script decided.
enum Decision {
    Fresh,
    Lead { fence: String },
    Busy { remaining: Duration },
}

struct Acquired {
    decision: Decision,
    epoch: String,
    generation: u64,
    /// Age of the shared snapshot of this epoch, `None` without one.
    age: Option<Duration>,
    failures: u32,
    error: String,
}

impl Acquired {
    fn version(&self) -> Version {
        Version {
            epoch: self.epoch.clone(),
            generation: self.generation,
        }
    }
}

struct Loaded {
    version: Version,
    age: Duration,
    format: String,
    writer: String,
    data: Vec<u8>,
}

enum Written {
    Written(u64),
    Fenced,
}

/// The part of the coordinator that does not depend on the data type.
struct Core {
    client: redis::Client,
    conn: OnceLock<ConnectionManager>,
    keys: Keys,
    replica: String,
    lease: Duration,
    ttl: Duration,
    jitter: Duration,
    due: Duration,
    backoff: Backoff,
    pubsub: bool,
    command_timeout: Duration,
    state: Mutex<State>,
}

pub(crate) struct RedisCoordinator<T> {
    core: Arc<Core>,
    codec: Arc<dyn SnapshotCodec<T>>,
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

fn text(value: &Value) -> Result<String, BackendError> {
    match value {
        Value::BulkString(bytes) => String::from_utf8(bytes.clone())
            .map_err(|_| BackendError::Reply("a reply field is not UTF-8".into())),
        Value::SimpleString(text) => Ok(text.clone()),
        Value::Int(n) => Ok(n.to_string()),
        Value::Nil => Ok(String::new()),
        other => Err(BackendError::Reply(format!("unexpected field {other:?}"))),
    }
}

fn number<N: std::str::FromStr>(field: &str) -> Result<N, BackendError> {
    field
        .parse()
        .map_err(|_| BackendError::Reply(format!("not a number: {field:?}")))
}

impl Core {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn conn(&self) -> Result<ConnectionManager, BackendError> {
        if let Some(conn) = self.conn.get() {
            return Ok(conn.clone());
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.command_timeout))
            .set_response_timeout(Some(self.command_timeout))
            .set_number_of_retries(1)
            .set_max_delay(self.command_timeout);
        let manager = ConnectionManager::new_lazy_with_config(self.client.clone(), config)?;
        Ok(self.conn.get_or_init(|| manager).clone())
    }

    /// Runs one script on the four keys, bounded by the command timeout.
    async fn run(&self, script: &Script, args: &[&[u8]]) -> Result<Vec<Value>, BackendError> {
        let mut conn = self.conn()?;
        let mut invocation = script.prepare_invoke();
        invocation
            .key(&self.keys.state)
            .key(&self.keys.lease)
            .key(&self.keys.fence)
            .key(&self.keys.epoch);
        for arg in args {
            invocation.arg(*arg);
        }
        let reply = tokio::time::timeout(
            self.command_timeout,
            invocation.invoke_async::<Vec<Value>>(&mut conn),
        )
        .await
        .map_err(|_| BackendError::Timeout(self.command_timeout))??;
        Ok(reply)
    }

    async fn acquire(&self) -> Result<Acquired, BackendError> {
        let candidate = random_id();
        let lease = millis(self.lease).to_string();
        let due = millis(self.due).to_string();
        let reply = self
            .run(
                &scripts::ACQUIRE,
                &[
                    self.replica.as_bytes(),
                    lease.as_bytes(),
                    due.as_bytes(),
                    candidate.as_bytes(),
                ],
            )
            .await?;
        let fields = reply.iter().map(text).collect::<Result<Vec<_>, _>>()?;
        let [
            kind,
            epoch,
            generation,
            age,
            _format,
            failures,
            error,
            _writer,
            extra,
        ] = <[String; 9]>::try_from(fields)
            .map_err(|fields| BackendError::Reply(format!("acquire: {fields:?}")))?;
        let age: i64 = number(&age)?;
        let decision = match kind.as_str() {
            "fresh" => Decision::Fresh,
            "lead" => Decision::Lead { fence: extra },
            "busy" => Decision::Busy {
                remaining: Duration::from_millis(number::<i64>(&extra)?.max(0).cast_unsigned()),
            },
            other => return Err(BackendError::Reply(format!("acquire kind {other:?}"))),
        };
        Ok(Acquired {
            decision,
            epoch,
            generation: number(&generation)?,
            age: (age >= 0).then(|| Duration::from_millis(age.cast_unsigned())),
            failures: number(&failures)?,
            error,
        })
    }

    async fn load(&self) -> Result<Option<Loaded>, BackendError> {
        let reply = self.run(&scripts::LOAD, &[]).await?;
        let Ok([epoch, generation, age, format, writer, data]) = <[Value; 6]>::try_from(reply)
        else {
            return Err(BackendError::Reply("load: wrong field count".into()));
        };
        let Value::BulkString(data) = data else {
            return Ok(None);
        };
        let epoch = text(&epoch)?;
        if epoch.is_empty() {
            return Ok(None);
        }
        Ok(Some(Loaded {
            version: Version {
                epoch,
                generation: number(&text(&generation)?)?,
            },
            age: Duration::from_millis(number(&text(&age)?)?),
            format: text(&format)?,
            writer: text(&writer)?,
            data,
        }))
    }

    async fn write(
        &self,
        fence: &str,
        epoch: &str,
        format: &str,
        data: &[u8],
        floor: u64,
    ) -> Result<Written, BackendError> {
        let floor = floor.to_string();
        let reply = self
            .run(
                &scripts::WRITE,
                &[
                    fence.as_bytes(),
                    epoch.as_bytes(),
                    format.as_bytes(),
                    data,
                    self.replica.as_bytes(),
                    floor.as_bytes(),
                    self.keys.channel.as_bytes(),
                ],
            )
            .await?;
        let fields = reply.iter().map(text).collect::<Result<Vec<_>, _>>()?;
        match fields.as_slice() {
            [kind, generation] if kind == "written" => Ok(Written::Written(number(generation)?)),
            [kind, _] if kind == "fenced" => Ok(Written::Fenced),
            other => Err(BackendError::Reply(format!("write: {other:?}"))),
        }
    }

    async fn fail(&self, fence: &str, error: &str) -> Result<(), BackendError> {
        let max = self.backoff.max.min(self.ttl);
        let initial = millis(self.backoff.initial.min(max)).to_string();
        let max = millis(max).to_string();
        self.run(
            &scripts::FAIL,
            &[
                self.replica.as_bytes(),
                fence.as_bytes(),
                error.as_bytes(),
                initial.as_bytes(),
                max.as_bytes(),
            ],
        )
        .await?;
        Ok(())
    }

    async fn release(&self) -> Result<(), BackendError> {
        self.run(&scripts::RELEASE, &[self.replica.as_bytes()])
            .await?;
        Ok(())
    }

    /// Records a successful call and when to look next.
    fn reached(state: &mut State, next: Duration) {
        state.reachable = true;
        state.last_error = None;
        state.due_at = Some(Instant::now() + next);
    }

    /// The look after a fresh snapshot of age `age`: when it goes due.
    fn until_due(&self, age: Duration) -> Duration {
        self.ttl.saturating_sub(age)
    }

    /// Whether a pub/sub message announces a version this replica has not seen.
    fn is_new(&self, version: &Version) -> bool {
        self.state().seen.as_ref() != Some(version)
    }
}

impl<T: Send + Sync + 'static> RedisCoordinator<T> {
    pub(crate) fn new(shared: RedisShared<T>, config: &CacheConfig) -> Self {
        let ttl = config.ttl.max(Duration::from_millis(10));
        let jitter = config.jitter.min(ttl / 2);
        // A snapshot younger than `due` is fresh: the replicas' looks land within `jitter` (and
        // timer slack) before the snapshot's TTL ends, and must still count it as due.
        let slack = (ttl / 10).min(Duration::from_millis(250));
        let due = ttl.saturating_sub(jitter + slack).max(ttl / 4);
        let key = shared.key.unwrap_or_else(|| config.name.to_string());
        Self {
            core: Arc::new(Core {
                client: shared.client,
                conn: OnceLock::new(),
                keys: Keys::new(&key),
                replica: shared.replica.unwrap_or_else(random_id),
                lease: shared
                    .lease
                    .unwrap_or(config.fetch_timeout)
                    .max(Duration::from_millis(1)),
                ttl,
                jitter,
                due,
                backoff: config.failure_backoff,
                pubsub: shared.pubsub,
                command_timeout: shared.command_timeout.max(Duration::from_millis(1)),
                state: Mutex::new(State {
                    role: Role::Starting,
                    reachable: false,
                    subscribed: false,
                    seen: None,
                    writer: None,
                    format_mismatch: false,
                    last_error: None,
                    leads: 0,
                    loads: 0,
                    fenced: 0,
                    local_fetches: 0,
                    due_at: None,
                }),
            }),
            codec: shared.codec,
        }
    }

    /// Redis is unreachable: fetch from the downstream alone, with jitter.
    async fn local(
        &self,
        inner: &Inner<T>,
        error: &BackendError,
    ) -> Result<Refreshed<T>, CacheError> {
        tracing::warn!(%error, "shared refresh: redis unreachable; refreshing locally");
        {
            let mut state = self.core.state();
            state.reachable = false;
            state.last_error = Some(error.to_string());
            state.role = Role::Local;
            // Without coordination, spread the replicas' fetches over a tenth of the TTL.
            let spread = self.core.jitter.max(self.core.ttl / 10);
            let next = self
                .core
                .ttl
                .saturating_sub(spread.mul_f64(random_fraction()));
            state.due_at = Some(Instant::now() + next);
        }
        self.fetch_alone(inner).await
    }

    async fn fetch_alone(&self, inner: &Inner<T>) -> Result<Refreshed<T>, CacheError> {
        let (data, items) = inner.fetch_validated().await?;
        self.core.state().local_fetches += 1;
        Ok(Refreshed::Swap {
            data,
            items,
            generation: inner.next_generation(),
            fetched: true,
        })
    }

    /// The shared snapshot is fresh: load it unless this replica already has that version.
    async fn follow(
        &self,
        inner: &Inner<T>,
        acquired: &Acquired,
    ) -> Result<Refreshed<T>, CacheError> {
        let age = acquired.age.unwrap_or_default();
        {
            let mut state = self.core.state();
            if state.seen.as_ref() == Some(&acquired.version()) && inner.current.load().is_some() {
                Core::reached(&mut state, self.core.until_due(age));
                if !state.format_mismatch {
                    let mine = state.writer.as_deref() == Some(self.core.replica.as_str());
                    state.role = if mine { Role::Leader } else { Role::Follower };
                }
                return Ok(Refreshed::Unchanged);
            }
        }
        self.load_newer(inner).await
    }

    /// Loads the shared snapshot and swaps it in if it is a version this replica has not seen;
    /// fetches alone when it is in a format this replica cannot read.
    async fn load_newer(&self, inner: &Inner<T>) -> Result<Refreshed<T>, CacheError> {
        let loaded = match self.core.load().await {
            Ok(Some(loaded)) => loaded,
            Ok(None) => return Ok(Refreshed::Unchanged),
            Err(error) => return self.local(inner, &error).await,
        };
        {
            let mut state = self.core.state();
            Core::reached(&mut state, self.core.until_due(loaded.age));
            if state.seen.as_ref() == Some(&loaded.version) && inner.current.load().is_some() {
                return Ok(Refreshed::Unchanged);
            }
            state.seen = Some(loaded.version.clone());
            state.writer = Some(loaded.writer.clone());
        }
        let decoded = if loaded.format == self.codec.format() {
            self.codec.decode(&loaded.data).map_err(|error| {
                format!(
                    "cannot decode the shared snapshot ({}): {error}",
                    loaded.format
                )
            })
        } else {
            Err(format!(
                "the shared snapshot is in format {:?}, this replica reads {:?}",
                loaded.format,
                self.codec.format()
            ))
        };
        match decoded {
            Ok(data) => {
                inner.check(&data)?;
                let items = inner.count_items(&data);
                let mut state = self.core.state();
                state.format_mismatch = false;
                state.role = Role::Follower;
                state.loads += 1;
                Ok(Refreshed::Swap {
                    data,
                    items,
                    generation: loaded.version.generation,
                    fetched: false,
                })
            }
            Err(reason) => {
                tracing::warn!(%reason, "shared refresh: fetching locally");
                {
                    let mut state = self.core.state();
                    state.format_mismatch = true;
                    state.role = Role::Local;
                    state.last_error = Some(reason);
                }
                self.fetch_alone(inner).await
            }
        }
    }

    /// This replica holds the lease: fetch, then write under the fence.
    async fn lead(
        &self,
        inner: &Inner<T>,
        acquired: &Acquired,
        fence: &str,
    ) -> Result<Refreshed<T>, CacheError> {
        let (data, items) = match inner.fetch_validated().await {
            Ok(fetched) => fetched,
            Err(error) => {
                self.core.state().role = Role::Leader;
                if let Err(backend) = self.core.fail(fence, &error.to_string()).await {
                    let mut state = self.core.state();
                    state.reachable = false;
                    state.last_error = Some(backend.to_string());
                }
                return Err(error);
            }
        };
        let bytes = match self.codec.encode(&data) {
            Ok(bytes) => bytes,
            Err(error) => {
                tracing::error!(%error, "shared refresh: cannot encode the snapshot; serving it locally");
                let _ = self.core.release().await;
                let mut state = self.core.state();
                state.role = Role::Local;
                state.local_fetches += 1;
                state.last_error = Some(format!("cannot encode the snapshot: {error}"));
                return Ok(Refreshed::Swap {
                    data,
                    items,
                    generation: inner.next_generation(),
                    fetched: true,
                });
            }
        };
        let floor = inner.next_generation();
        let written = self
            .core
            .write(fence, &acquired.epoch, self.codec.format(), &bytes, floor)
            .await;
        match written {
            Ok(Written::Written(generation)) => {
                let mut state = self.core.state();
                Core::reached(&mut state, self.core.ttl);
                state.seen = Some(Version {
                    epoch: acquired.epoch.clone(),
                    generation,
                });
                state.writer = Some(self.core.replica.clone());
                state.role = Role::Leader;
                state.format_mismatch = false;
                state.leads += 1;
                Ok(Refreshed::Swap {
                    data,
                    items,
                    generation,
                    fetched: true,
                })
            }
            Ok(Written::Fenced) => {
                tracing::warn!(
                    replica = %self.core.replica,
                    "shared refresh: another replica took over during this fetch; the fence rejected the write"
                );
                self.core.state().fenced += 1;
                self.load_newer(inner).await
            }
            Err(error) => {
                tracing::warn!(%error, "shared refresh: cannot write the snapshot; serving it locally");
                let mut state = self.core.state();
                state.reachable = false;
                state.last_error = Some(error.to_string());
                state.role = Role::Local;
                state.local_fetches += 1;
                Ok(Refreshed::Swap {
                    data,
                    items,
                    generation: floor,
                    fetched: true,
                })
            }
        }
    }
}

#[async_trait]
impl<T: Send + Sync + 'static> Coordinator<T> for RedisCoordinator<T> {
    async fn refresh(&self, inner: &Inner<T>) -> Result<Refreshed<T>, CacheError> {
        let started = Instant::now();
        loop {
            let acquired = match self.core.acquire().await {
                Ok(acquired) => acquired,
                Err(error) => return self.local(inner, &error).await,
            };
            match &acquired.decision {
                Decision::Fresh => return self.follow(inner, &acquired).await,
                Decision::Lead { fence } => return self.lead(inner, &acquired, fence).await,
                Decision::Busy { remaining } => {
                    // Another replica is fetching (or the group is backing off after a failed
                    // fetch): look again when its lease ends, and at least every quarter TTL
                    // in case its message is lost.
                    let spread = (self.core.ttl / 20).mul_f64(random_fraction());
                    let next =
                        (*remaining + Duration::from_millis(10) + spread).min(self.core.ttl / 4);
                    {
                        let mut state = self.core.state();
                        Core::reached(&mut state, next);
                    }
                    let has_snapshot = inner.current.load().is_some();
                    let newer = acquired.age.is_some()
                        && self.core.state().seen.as_ref() != Some(&acquired.version());
                    if newer || (!has_snapshot && acquired.age.is_some()) {
                        return self.load_newer(inner).await;
                    }
                    if acquired.failures > 0 {
                        return Err(CacheError::fetch(SharedFailing {
                            failures: acquired.failures,
                            error: acquired.error.clone(),
                        }));
                    }
                    if has_snapshot {
                        return Ok(Refreshed::Unchanged);
                    }
                    // Nothing to serve yet: wait for the leader's first snapshot, or for its
                    // lease to end so that this replica can lead.
                    if started.elapsed() > self.core.lease + self.core.ttl {
                        return self.fetch_alone(inner).await;
                    }
                    tokio::time::sleep(
                        (*remaining).clamp(Duration::from_millis(10), Duration::from_millis(100)),
                    )
                    .await;
                }
            }
        }
    }

    fn next_delay(&self, _inner: &Inner<T>) -> Duration {
        let due_at = self.core.state().due_at;
        let base = due_at.map_or(self.core.ttl, |at| {
            at.saturating_duration_since(Instant::now())
        });
        let jitter = self.core.jitter.min(base / 2);
        base.saturating_sub(jitter.mul_f64(random_fraction()))
            .max(Duration::from_millis(1))
    }

    fn start(&self, inner: Weak<Inner<T>>, stop: CancellationToken) {
        if self.core.pubsub {
            tokio::spawn(listen(Arc::clone(&self.core), inner, stop));
        }
    }

    fn status(&self) -> Coordination {
        let state = self.core.state();
        Coordination {
            backend: "redis",
            replica: self.core.replica.clone(),
            role: state.role,
            reachable: state.reachable,
            subscribed: state.subscribed,
            shared_generation: state.seen.as_ref().map_or(0, |v| v.generation),
            epoch: state.seen.as_ref().map(|v| v.epoch.clone()),
            writer: state.writer.clone(),
            format_mismatch: state.format_mismatch,
            last_error: state.last_error.clone(),
            leads: state.leads,
            loads: state.loads,
            fenced: state.fenced,
            local_fetches: state.local_fetches,
        }
    }
}

/// Listens for new-generation messages and refreshes (loads) when one names a version this
/// replica has not seen. Reconnects with backoff; after a reconnect it looks once, since
/// messages sent while disconnected are lost. Ends when the cache stops or is dropped.
async fn listen<T: Send + Sync + 'static>(
    core: Arc<Core>,
    inner: Weak<Inner<T>>,
    stop: CancellationToken,
) {
    let mut delay = Duration::from_millis(50);
    let max_delay = core
        .ttl
        .clamp(Duration::from_millis(50), Duration::from_secs(5));
    let mut connected_before = false;
    loop {
        let connect = async {
            let mut pubsub = core.client.get_async_pubsub().await?;
            pubsub.subscribe(&core.keys.channel).await?;
            Ok::<_, redis::RedisError>(pubsub)
        };
        let pubsub = tokio::select! {
            () = stop.cancelled() => return,
            connected = tokio::time::timeout(core.command_timeout, connect) => connected,
        };
        if let Ok(Ok(pubsub)) = pubsub {
            core.state().subscribed = true;
            delay = Duration::from_millis(50);
            if connected_before {
                let Some(inner) = inner.upgrade() else { return };
                let _ = inner.refresh().await;
            }
            connected_before = true;
            let mut messages = pubsub.into_on_message();
            loop {
                let message = tokio::select! {
                    () = stop.cancelled() => return,
                    message = messages.next() => message,
                };
                let Some(message) = message else { break };
                let Ok(payload) = message.get_payload::<String>() else {
                    continue;
                };
                let Some(version) = Version::parse(&payload) else {
                    continue;
                };
                if core.is_new(&version) {
                    let Some(inner) = inner.upgrade() else { return };
                    let _ = inner.refresh().await;
                }
            }
            core.state().subscribed = false;
            tracing::debug!("shared refresh: pub/sub connection lost; reconnecting");
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(max_delay);
    }
}
