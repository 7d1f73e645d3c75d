//! The firewall data behind the tools and resources, cached by `mcp-cache` in one of three
//! scopes (`--cache-scope`), and each caller's view of it.
//!
//! | scope | what is cached | downstream calls | isolation |
//! |---|---|---|---|
//! | `server` | one snapshot of every application, shared | one bulk call per TTL | filtered at tool time |
//! | `session` | one snapshot per user with only their applications | one call per entitled app, per user, per TTL | by construction: nothing else is in the user's cache |
//! | `hybrid` | the shared snapshot plus a per-user overlay: the user's own change requests, fetched with their identity | one bulk call per TTL, plus one per-user call per user per overlay TTL | filtered at tool time, the overlay holds only the user's own data |
//!
//! `docs/cache-scopes.md` compares them with measured figures.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use mcp_cache::{
    Backoff, Cache, CacheConfig, CacheRegistry, Health, Hybrid, InitialFetch, JsonCodec,
    RedisShared, RegistryConfig,
};
use serde::{Deserialize, Serialize};

use crate::ExampleError;
use crate::access::Caller;
use crate::downstream::DownstreamClient;
use crate::model::{AppFirewall, ChangeRequest};

/// The cached data: application name → its rules.
pub type FirewallData = BTreeMap<String, AppFirewall>;

/// Where the cache lives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum CacheScope {
    /// One cache for all sessions, filtered to the caller's entitlements at tool time.
    #[default]
    Server,
    /// One cache per user, holding only that user's entitled applications.
    Session,
    /// One shared cache plus a small per-user overlay: the user's own change requests, fetched
    /// from the downstream with the user's identity and refreshed on their own TTL.
    Hybrid,
}

/// The key of a per-user cache: the user and what they are entitled to, so a token with other
/// entitlements gets another cache.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UserKey {
    /// `sub`.
    pub subject: String,
    /// The applications the user may read; `None` for all.
    pub apps: Option<BTreeSet<String>>,
}

impl UserKey {
    /// The key of `caller`.
    pub fn of(caller: &Caller) -> Self {
        Self {
            subject: caller.subject.clone(),
            apps: caller.readable_apps(),
        }
    }
}

/// Cache settings of the reference server.
#[derive(Debug, Clone)]
pub struct CacheSettings {
    /// Where the cache lives.
    pub scope: CacheScope,
    /// Configuration of the caches (TTL, timeouts, initial-fetch policy). The default: TTL 60 s,
    /// fetch timeout 10 s, and at start-up retry with backoff (0.2 s doubling to 5 s) for up to
    /// 20 s before giving up. The initial-fetch policy applies to the shared cache; a per-user
    /// cache (session and hybrid scopes) always fetches when the user first calls, and that call
    /// gets the error if the fetch fails (the next call tries again).
    pub cache: CacheConfig,
    /// Most per-user caches kept (session and hybrid scopes).
    pub max_users: usize,
    /// Per-user caches unused this long are dropped.
    pub idle_timeout: Duration,
    /// How long a user's overlay (hybrid scope: their change requests) stays fresh before its
    /// background refresh; the per-user caches of the session scope use `cache`'s TTL.
    pub overlay_ttl: Duration,
    /// Share the shared cache's refreshes (server scope, and the base of the hybrid scope) with
    /// the other replicas through the Redis at this URL (`--redis-url`): per TTL one replica
    /// fetches from the downstream and the others load its snapshot. See docs/scale-out.md.
    pub redis_url: Option<String>,
}

/// The name under which the replicas share the firewall snapshot in Redis, and the stored
/// format: change the format when [`FirewallData`]'s shape changes, so that replicas of the
/// old and the new version do not load each other's snapshots during a rolling deploy.
pub const SHARED_KEY: &str = "firewalls";
/// See [`SHARED_KEY`].
pub const SHARED_FORMAT: &str = "firewall-rules/v1";

impl Default for CacheSettings {
    fn default() -> Self {
        Self {
            scope: CacheScope::Server,
            cache: CacheConfig::default()
                .name("firewalls")
                .ttl(Duration::from_secs(60))
                .fetch_timeout(Duration::from_secs(10))
                .initial_fetch(default_initial_fetch()),
            max_users: 1024,
            idle_timeout: Duration::from_secs(15 * 60),
            overlay_ttl: DEFAULT_OVERLAY_TTL,
            redis_url: None,
        }
    }
}

/// The default [`CacheSettings::overlay_ttl`].
pub const DEFAULT_OVERLAY_TTL: Duration = Duration::from_secs(30);

/// A user's overlay in the hybrid scope: their own change requests, for the applications they
/// may read.
pub type UserOverlay = Vec<ChangeRequest>;

/// The default start-up policy: retry with backoff for up to 20 s.
pub fn default_initial_fetch() -> InitialFetch {
    InitialFetch::Retry {
        backoff: Backoff::new(Duration::from_millis(200), Duration::from_secs(5)),
        deadline: Duration::from_secs(20),
    }
}

/// The initial-fetch policy as an operator reads it in a start-up error.
fn describe_policy(policy: &InitialFetch) -> String {
    match policy {
        InitialFetch::FailFast => "fail-fast: one attempt".to_owned(),
        InitialFetch::Degrade => "degrade".to_owned(),
        InitialFetch::Retry { deadline, .. } => {
            format!("retry: gave up at the {deadline:?} deadline")
        }
        other => format!("{other:?}"),
    }
}

/// The firewall data in the configured scope.
#[derive(Clone, Debug)]
pub enum FirewallCache {
    /// `--cache-scope server`.
    Server(Cache<FirewallData>),
    /// `--cache-scope session`.
    Session(CacheRegistry<UserKey, FirewallData>),
    /// `--cache-scope hybrid`.
    Hybrid(Hybrid<UserKey, FirewallData, UserOverlay>),
}

async fn fetch_all(client: &DownstreamClient) -> Result<FirewallData, ExampleError> {
    Ok(client
        .all()
        .await?
        .into_iter()
        .map(|app| (app.app_name.clone(), app))
        .collect())
}

/// Fetches only `apps`, one request each, concurrently (one fetch may fan out to several downstream calls).
async fn fetch_apps(
    client: &DownstreamClient,
    apps: &BTreeSet<String>,
) -> Result<FirewallData, ExampleError> {
    let fetches = apps.iter().map(|app| client.app(app));
    let found = futures::future::try_join_all(fetches).await?;
    Ok(found
        .into_iter()
        .flatten()
        .map(|app| (app.app_name.clone(), app))
        .collect())
}

/// The overlay of `key`'s user: their change requests from the downstream, asked for with
/// their identity, kept only for the applications they may read (the downstream answers per
/// user, the entitlements are this server's).
async fn fetch_overlay(
    client: &DownstreamClient,
    key: &UserKey,
) -> Result<UserOverlay, ExampleError> {
    let mut requests = client.change_requests(&key.subject).await?;
    if let Some(apps) = &key.apps {
        requests.retain(|request| apps.contains(&request.app_name));
    }
    Ok(requests)
}

impl FirewallCache {
    /// Builds the cache for `settings` over `client`; the shared snapshot (server and hybrid
    /// scopes) is fetched now, under the configured initial-fetch policy.
    pub async fn build(
        client: DownstreamClient,
        settings: &CacheSettings,
    ) -> Result<Self, ExampleError> {
        if settings.redis_url.is_some() && settings.scope == CacheScope::Session {
            return Err(ExampleError::Config {
                reason: "--redis-url shares the server-wide cache: use it with the server or \
                         hybrid scope (per-user caches stay per replica)"
                    .into(),
            });
        }
        let redis = match &settings.redis_url {
            Some(url) => Some(
                RedisShared::new(url, JsonCodec::<FirewallData>::new(SHARED_FORMAT))
                    .map_err(|e| ExampleError::Config {
                        reason: format!("--redis-url: {e}"),
                    })?
                    .key(SHARED_KEY),
            ),
            None => None,
        };
        // `mcp_otel.cache.refresh.duration` of the shared cache, by outcome, through the global
        // meter provider (a no-op one unless telemetry is set up): the fetch is the refresh.
        let refreshes = mcp_otel::stats::CacheMetrics::new(
            &opentelemetry::global::meter(mcp_otel::INSTRUMENTATION_NAME),
            &settings.cache.name,
        );
        let shared = || {
            let client = client.clone();
            let builder = Cache::from_fn(move || {
                let client = client.clone();
                let refreshes = refreshes.clone();
                async move {
                    let started = std::time::Instant::now();
                    let fetched = fetch_all(&client).await;
                    refreshes.record_refresh(started.elapsed(), fetched.is_ok());
                    fetched
                }
            })
            .config(settings.cache.clone())
            .item_count(|data: &FirewallData| data.values().map(|a| a.rules.len()).sum());
            match redis {
                Some(redis) => builder.shared(redis),
                None => builder,
            }
        };
        let registry = RegistryConfig::default()
            .max_entries(settings.max_users)
            .idle_timeout(settings.idle_timeout);
        let per_user = settings.cache.clone().initial_fetch(InitialFetch::FailFast);
        let initial_fetch = |source| ExampleError::InitialFetch {
            policy: describe_policy(&settings.cache.initial_fetch),
            source,
        };
        Ok(match settings.scope {
            CacheScope::Server => Self::Server(shared().build().await.map_err(initial_fetch)?),
            CacheScope::Session => {
                let client = client.clone();
                Self::Session(CacheRegistry::from_fn(
                    registry.cache(per_user.name("firewalls-user")),
                    move |key: UserKey| {
                        let client = client.clone();
                        async move {
                            match &key.apps {
                                None => fetch_all(&client).await,
                                Some(apps) => fetch_apps(&client, apps).await,
                            }
                        }
                    },
                ))
            }
            CacheScope::Hybrid => {
                let base = shared().build().await.map_err(initial_fetch)?;
                let client = client.clone();
                let overlays = CacheRegistry::from_fn(
                    registry.cache(per_user.name("firewalls-overlay").ttl(settings.overlay_ttl)),
                    move |key: UserKey| {
                        let client = client.clone();
                        async move { fetch_overlay(&client, &key).await }
                    },
                );
                Self::Hybrid(Hybrid::new(base, overlays))
            }
        })
    }

    /// The health of the cache `caller` reads from. Unlike [`view`](Self::view) it answers
    /// before the first successful fetch (degrade policy): `ready: false`, the last error and
    /// the failure count are what an operator needs then. In the session scope it builds the
    /// caller's cache first, and fails as that fetch does.
    pub async fn health(&self, caller: &Caller) -> Result<Health, ExampleError> {
        Ok(match self {
            Self::Server(cache) => cache.health(),
            Self::Hybrid(hybrid) => hybrid.base().health(),
            Self::Session(registry) => registry.get(&UserKey::of(caller)).await?.health(),
        })
    }

    /// The scope.
    pub fn scope(&self) -> CacheScope {
        match self {
            Self::Server(_) => CacheScope::Server,
            Self::Session(_) => CacheScope::Session,
            Self::Hybrid(_) => CacheScope::Hybrid,
        }
    }

    /// The shared cache (server and hybrid scopes).
    pub fn shared(&self) -> Option<&Cache<FirewallData>> {
        match self {
            Self::Server(cache) => Some(cache),
            Self::Hybrid(hybrid) => Some(hybrid.base()),
            Self::Session(_) => None,
        }
    }

    /// What `caller` may see, from the current snapshot(s). Builds the caller's per-user cache
    /// on first use in the session and hybrid scopes.
    pub async fn view(&self, caller: &Caller) -> Result<CallerView, ExampleError> {
        match self {
            Self::Server(cache) => CallerView::new(cache.clone(), caller),
            Self::Session(registry) => {
                let cache = registry.get(&UserKey::of(caller)).await?;
                // Holds only the user's apps already; filtering again costs little and keeps
                // the view correct even if the downstream returned more.
                CallerView::new(cache, caller)
            }
            Self::Hybrid(hybrid) => {
                // The shared data first: before it is there, that is what the caller hears.
                let mut view = CallerView::new(hybrid.base().clone(), caller)?;
                view.overlay = Some(hybrid.overlays().get(&UserKey::of(caller)).await?);
                Ok(view)
            }
        }
    }

    /// `caller`'s own cache in the session scope (built on first use); `None` in the other
    /// scopes, where everyone reads the shared one.
    pub async fn user_cache(
        &self,
        caller: &Caller,
    ) -> Result<Option<Cache<FirewallData>>, ExampleError> {
        match self {
            Self::Session(registry) => Ok(Some(registry.get(&UserKey::of(caller)).await?)),
            Self::Server(_) | Self::Hybrid(_) => Ok(None),
        }
    }

    /// Refreshes the shared cache, or `caller`'s cache in the session scope, now; returns the
    /// new generation.
    pub async fn refresh_now(&self, caller: &Caller) -> Result<u64, ExampleError> {
        let cache = match self {
            Self::Server(cache) => cache.clone(),
            Self::Hybrid(hybrid) => hybrid.base().clone(),
            Self::Session(registry) => registry.get(&UserKey::of(caller)).await?,
        };
        Ok(cache.refresh_now().await?)
    }

    /// Ends the per-user caches of `caller` (session end).
    pub fn forget(&self, caller: &Caller) {
        let key = UserKey::of(caller);
        match self {
            Self::Server(_) => {}
            Self::Session(registry) => {
                registry.remove(&key);
            }
            Self::Hybrid(hybrid) => {
                hybrid.overlays().remove(&key);
            }
        }
    }

    /// How many per-user caches exist (0 in the server scope).
    pub fn user_caches(&self) -> usize {
        match self {
            Self::Server(_) => 0,
            Self::Session(registry) => registry.len(),
            Self::Hybrid(hybrid) => hybrid.overlays().len(),
        }
    }
}

/// One caller's view of the data: the cache they read from and the applications they may read.
/// Every read goes through the cache (a `cache.read` span, hit/miss counters) and sees the
/// snapshot current at that moment.
#[derive(Debug, Clone)]
pub struct CallerView {
    cache: Cache<FirewallData>,
    /// Whose entitlements filter what is read.
    caller: Caller,
    /// The caller's overlay (hybrid scope).
    overlay: Option<Cache<UserOverlay>>,
}

impl CallerView {
    fn new(cache: Cache<FirewallData>, caller: &Caller) -> Result<Self, ExampleError> {
        if !cache.is_ready() {
            // Counted as a not-ready read, answered with "data not available yet".
            cache.snapshot()?;
        }
        Ok(Self {
            cache,
            caller: caller.clone(),
            overlay: None,
        })
    }

    fn permits(&self, app: &str) -> bool {
        self.caller.allows(app, crate::access::READ)
    }

    /// The caller's applications with their rules, sorted by name.
    pub fn apps(&self) -> Result<Vec<AppFirewall>, ExampleError> {
        Ok(self.cache.read(|snapshot| {
            let mine = self
                .caller
                .readable(snapshot.data().values(), |app| &app.app_name);
            mine.into_iter().cloned().collect()
        })?)
    }

    /// Names of the caller's applications present in the snapshot.
    pub fn app_names(&self) -> Result<Vec<String>, ExampleError> {
        Ok(self.cache.read(|snapshot| {
            let mine = self.caller.readable(snapshot.data().keys(), |app| app);
            mine.into_iter().cloned().collect()
        })?)
    }

    /// One application; `Ok(None)` if the data has no such application *or the caller may not
    /// read it* (so nothing reveals that it exists). Callers check the entitlement first
    /// ([`Caller::require_read`]) to give a clear refusal.
    pub fn app(&self, app: &str) -> Result<Option<AppFirewall>, ExampleError> {
        if !self.permits(app) {
            return Ok(None);
        }
        Ok(self.cache.lookup(app)?)
    }

    /// The caller's own change requests on applications they may read, from their overlay:
    /// `Some` in the hybrid scope (possibly empty), `None` in the others. Fails like a read
    /// when the overlay's data is unavailable.
    pub fn change_requests(&self) -> Result<Option<Vec<ChangeRequest>>, ExampleError> {
        let Some(overlay) = &self.overlay else {
            return Ok(None);
        };
        Ok(Some(overlay.read(|snapshot| {
            let mine = self
                .caller
                .readable(snapshot.data().iter(), |request| &request.app_name);
            mine.into_iter().cloned().collect()
        })?))
    }

    /// The health of the cache this view reads from.
    pub fn health(&self) -> Health {
        self.cache.health()
    }

    /// How long what this view reads stays current: until the next scheduled refresh of its
    /// cache (0 when stale). Ask before reading: a refresh in between only makes the answer
    /// shorter than the truth, never longer.
    pub fn fresh_for(&self) -> Duration {
        self.cache.fresh_for()
    }
}
