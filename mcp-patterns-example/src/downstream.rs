//! The downstream firewall API the server fronts: a small axum service ([`serve`]) seeded with
//! demo data, and the HTTP client the MCP server uses to reach it ([`DownstreamClient`]).
//!
//! Endpoints:
//!
//! | method | path | answers |
//! |---|---|---|
//! | GET | `/api/v1/firewall-rules` | every application's rules (`[AppFirewall]`, bulk) |
//! | GET | `/api/v1/apps/{app}/firewall-rules` | one application's rules, 404 if unknown |
//! | POST | `/api/v1/apps/{app}/firewall-rules/reset` | restores the app's seeded rules (none if not seeded) |
//! | PUT | `/api/v1/apps/{app}/firewall-rules` | replaces the app's rules (`[FirewallRule]`) |
//! | GET | `/api/v1/me/change-requests` | the calling user's change requests (`[ChangeRequest]`), per [`USER_HEADER`]; 400 without it |
//! | GET | `/healthz` | `ok` (never affected by faults) |
//! | GET, PUT | `/admin/faults` | the injected [`Fault`]; only with [`DownstreamOptions::admin`] |
//!
//! For tests and demonstrations the API can misbehave on purpose: [`FirewallStore::set_fault`]
//! (or `PUT /admin/faults` with e.g. `{"mode": "slow", "delay_ms": 5000}`) makes every `/api/`
//! request fail with a status, answer late, or answer with a body that is not the promised JSON.
//! [`FirewallStore::requests`] counts the `/api/` requests it received, so tests and benchmarks
//! can show how often a cache reached the downstream.
//!
//! The per-user endpoint knows the user from [`USER_HEADER`], which the MCP server sets to the
//! verified subject of the caller: the downstream trusts the MCP server (in production through
//! its own service credential, mTLS or a token exchanged for the downstream), never the user's
//! own access token, which was issued for the MCP server and is not passed on.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use crate::ExampleError;
use crate::listen::{Bound, Served};
use crate::model::{Action, AppFirewall, ChangeRequest, Direction, FirewallRule};

type Rules = BTreeMap<String, Vec<FirewallRule>>;
type ChangeRequests = BTreeMap<String, Vec<ChangeRequest>>;

/// The request header naming the user a per-user downstream call is made for.
pub const USER_HEADER: &str = "x-forwarded-user";

/// A fault the downstream injects into every `/api/` request.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Fault {
    /// Answer normally.
    #[default]
    Healthy,
    /// Answer with this HTTP status and a short text body.
    Fail {
        /// The status, e.g. 503.
        status: u16,
    },
    /// Wait this long, then answer normally.
    Slow {
        /// The delay in milliseconds.
        delay_ms: u64,
    },
    /// Answer 200 with `application/json` and a body that is not the promised JSON.
    Garbage,
}

/// The downstream's state: the rule set per application, the injected fault, request counts.
#[derive(Clone, Debug)]
pub struct FirewallStore {
    rules: Arc<RwLock<Rules>>,
    seed: Arc<Rules>,
    fault: Arc<RwLock<Fault>>,
    requests: Arc<AtomicU64>,
    change_requests: Arc<RwLock<ChangeRequests>>,
    user_requests: Arc<AtomicU64>,
}

impl FirewallStore {
    /// A store seeded with the demo applications `app-alpha`, `app-beta` and `app-gamma`.
    pub fn seeded() -> Self {
        Self::with_rules(seed())
    }

    /// A store seeded with `apps` synthetic applications (`app-00000`, …) of `rules_per_app`
    /// rules each, for benchmarks and load tests.
    pub fn synthetic(apps: usize, rules_per_app: usize) -> Self {
        let mut rules = Rules::new();
        for a in 0..apps {
            let app = format!("app-{a:05}");
            let list = (0..rules_per_app)
                .map(|r| {
                    rule(
                        &format!("{app}-{r}"),
                        if r % 2 == 0 {
                            Direction::Ingress
                        } else {
                            Direction::Egress
                        },
                        "tcp",
                        &(1024 + r % 60000).to_string(),
                        "10.0.0.0/8",
                        Action::Allow,
                        "synthetic rule",
                    )
                })
                .collect();
            rules.insert(app, list);
        }
        Self::with_rules(rules)
    }

    fn with_rules(rules: Rules) -> Self {
        Self {
            seed: Arc::new(rules.clone()),
            rules: Arc::new(RwLock::new(rules)),
            fault: Arc::new(RwLock::new(Fault::Healthy)),
            requests: Arc::new(AtomicU64::new(0)),
            change_requests: Arc::new(RwLock::new(seed_change_requests())),
            user_requests: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The change requests of `user`, oldest first.
    pub fn change_requests(&self, user: &str) -> Vec<ChangeRequest> {
        self.change_requests
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(user)
            .cloned()
            .unwrap_or_default()
    }

    /// Records a new change request of `user`.
    pub fn add_change_request(&self, user: &str, request: ChangeRequest) {
        self.change_requests
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(user.to_owned())
            .or_default()
            .push(request);
    }

    /// How many per-user requests (`/api/v1/me/...`) the downstream has received; they are
    /// counted in [`requests`](Self::requests) too.
    pub fn user_requests(&self) -> u64 {
        self.user_requests.load(Ordering::Relaxed)
    }

    /// Makes every following `/api/` request misbehave as `fault` says ([`Fault::Healthy`] ends it).
    pub fn set_fault(&self, fault: Fault) {
        *self.fault.write().unwrap_or_else(PoisonError::into_inner) = fault;
    }

    /// The fault currently injected.
    pub fn fault(&self) -> Fault {
        self.fault
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// How many `/api/` requests the downstream has received (faulted ones included).
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Replaces one application's rules (adds the application if it is new).
    pub fn replace(&self, app: &str, rules: Vec<FirewallRule>) {
        self.rules
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(app.to_owned(), rules);
    }

    /// Restores one application's seeded rules (removes it if it was not seeded); returns the
    /// rules it has now, `None` if it is gone.
    pub fn reset(&self, app: &str) -> Option<AppFirewall> {
        let mut rules = self.rules.write().unwrap_or_else(PoisonError::into_inner);
        match self.seed.get(app) {
            Some(seeded) => {
                rules.insert(app.to_owned(), seeded.clone());
                Some(AppFirewall {
                    app_name: app.to_owned(),
                    rules: seeded.clone(),
                })
            }
            None => {
                rules.remove(app);
                None
            }
        }
    }

    /// Every application's rules, sorted by application name.
    pub fn all(&self) -> Vec<AppFirewall> {
        let rules = self
            .rules
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        rules
            .iter()
            .map(|(app, rules)| AppFirewall {
                app_name: app.clone(),
                rules: rules.clone(),
            })
            .collect()
    }

    /// One application's rules.
    pub fn app(&self, app: &str) -> Option<AppFirewall> {
        let rules = self
            .rules
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        rules.get(app).map(|rules| AppFirewall {
            app_name: app.to_owned(),
            rules: rules.clone(),
        })
    }
}

fn rule(
    id: &str,
    direction: Direction,
    protocol: &str,
    ports: &str,
    cidr: &str,
    action: Action,
    description: &str,
) -> FirewallRule {
    FirewallRule {
        id: id.to_owned(),
        direction,
        protocol: protocol.to_owned(),
        ports: ports.to_owned(),
        cidr: cidr.to_owned(),
        action,
        description: description.to_owned(),
    }
}

/// The demo users' change requests: alice has one on her app-alpha and one on app-beta (which
/// she may not read, so the server never shows it to her), victor one on app-beta, ada one on
/// app-gamma.
fn seed_change_requests() -> ChangeRequests {
    let request = |id: &str, app: &str, summary: &str, status: &str| ChangeRequest {
        id: id.to_owned(),
        app_name: app.to_owned(),
        summary: summary.to_owned(),
        status: status.to_owned(),
    };
    ChangeRequests::from([
        (
            "alice".to_owned(),
            vec![
                request(
                    "cr-1001",
                    "app-alpha",
                    "allow tcp/8443 from 10.20.0.0/16",
                    "pending",
                ),
                request("cr-1002", "app-beta", "deny udp/53 egress", "pending"),
            ],
        ),
        (
            "victor".to_owned(),
            vec![request(
                "cr-2001",
                "app-beta",
                "allow tcp/5432 from 10.30.0.0/16",
                "pending",
            )],
        ),
        (
            "ada".to_owned(),
            vec![request(
                "cr-3001",
                "app-gamma",
                "remove the legacy tcp/21 rule",
                "approved",
            )],
        ),
    ])
}

fn seed() -> Rules {
    use Action::{Allow, Deny};
    use Direction::{Egress, Ingress};
    let mut rules = Rules::new();
    rules.insert(
        "app-alpha".into(),
        vec![
            rule(
                "alpha-1",
                Ingress,
                "tcp",
                "443",
                "0.0.0.0/0",
                Allow,
                "public HTTPS",
            ),
            rule(
                "alpha-2",
                Ingress,
                "tcp",
                "22",
                "10.0.0.0/8",
                Allow,
                "SSH from the corporate network",
            ),
            rule(
                "alpha-3",
                Egress,
                "tcp",
                "5432",
                "10.20.0.0/16",
                Allow,
                "PostgreSQL",
            ),
        ],
    );
    rules.insert(
        "app-beta".into(),
        vec![
            rule(
                "beta-1",
                Ingress,
                "tcp",
                "8080",
                "10.0.0.0/8",
                Allow,
                "internal API",
            ),
            rule(
                "beta-2",
                Ingress,
                "udp",
                "53",
                "0.0.0.0/0",
                Deny,
                "no public DNS",
            ),
        ],
    );
    rules.insert(
        "app-gamma".into(),
        vec![
            rule(
                "gamma-1",
                Ingress,
                "tcp",
                "8000-8099",
                "192.168.0.0/16",
                Allow,
                "lab services",
            ),
            rule(
                "gamma-2",
                Egress,
                "icmp",
                "",
                "0.0.0.0/0",
                Allow,
                "ping anywhere",
            ),
        ],
    );
    rules
}

/// Options of the downstream API.
#[derive(Clone, Copy, Debug, Default)]
pub struct DownstreamOptions {
    /// Serve `GET`/`PUT /admin/faults` (off by default: anyone who can reach the port could
    /// break the API).
    pub admin: bool,
}

/// The downstream API's axum router over `store`, without the admin endpoints.
pub fn router(store: FirewallStore) -> Router {
    router_with(store, DownstreamOptions::default())
}

/// The downstream API's axum router over `store` with `options`.
pub fn router_with(store: FirewallStore, options: DownstreamOptions) -> Router {
    let api = Router::new()
        .route("/api/v1/firewall-rules", get(all_rules))
        .route(
            "/api/v1/apps/{app}/firewall-rules",
            get(app_rules).put(replace_rules),
        )
        .route("/api/v1/apps/{app}/firewall-rules/reset", post(reset_rules))
        .route("/api/v1/me/change-requests", get(my_change_requests))
        .route_layer(middleware::from_fn_with_state(store.clone(), inject_fault));
    let mut app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .merge(api);
    if options.admin {
        app = app.route("/admin/faults", get(get_fault).put(put_fault));
    }
    app.with_state(store)
}

/// Counts the request and applies the injected fault before the handler runs.
async fn inject_fault(
    State(store): State<FirewallStore>,
    request: Request,
    next: Next,
) -> Response {
    store.requests.fetch_add(1, Ordering::Relaxed);
    match store.fault() {
        Fault::Healthy => next.run(request).await,
        Fault::Fail { status } => (
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            "injected fault",
        )
            .into_response(),
        Fault::Slow { delay_ms } => {
            tokio::time::sleep(Duration::from_millis(delay_ms)).await;
            next.run(request).await
        }
        Fault::Garbage => (
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            "{\"rules\": [this is not json",
        )
            .into_response(),
    }
}

async fn get_fault(State(store): State<FirewallStore>) -> Json<Fault> {
    Json(store.fault())
}

async fn put_fault(State(store): State<FirewallStore>, Json(fault): Json<Fault>) -> Json<Fault> {
    tracing::warn!(?fault, "downstream fault injected");
    store.set_fault(fault.clone());
    Json(fault)
}

async fn replace_rules(
    State(store): State<FirewallStore>,
    Path(app): Path<String>,
    Json(rules): Json<Vec<FirewallRule>>,
) -> Response {
    if let Err(reason) = crate::model::validate_app_name(&app) {
        return (StatusCode::BAD_REQUEST, reason.to_string()).into_response();
    }
    store.replace(&app, rules.clone());
    Json(AppFirewall {
        app_name: app,
        rules,
    })
    .into_response()
}

async fn reset_rules(State(store): State<FirewallStore>, Path(app): Path<String>) -> Response {
    match store.reset(&app) {
        Some(rules) => Json(rules).into_response(),
        None => StatusCode::NO_CONTENT.into_response(),
    }
}

async fn my_change_requests(
    State(store): State<FirewallStore>,
    headers: axum::http::HeaderMap,
) -> Response {
    store.user_requests.fetch_add(1, Ordering::Relaxed);
    match headers.get(USER_HEADER).and_then(|v| v.to_str().ok()) {
        Some(user) if !user.is_empty() => Json(store.change_requests(user)).into_response(),
        _ => (
            StatusCode::BAD_REQUEST,
            format!("{USER_HEADER} names no user"),
        )
            .into_response(),
    }
}

async fn all_rules(State(store): State<FirewallStore>) -> Json<Vec<AppFirewall>> {
    Json(store.all())
}

async fn app_rules(State(store): State<FirewallStore>, Path(app): Path<String>) -> Response {
    match store.app(&app) {
        Some(rules) => Json(rules).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            format!("no application named {app:?}"),
        )
            .into_response(),
    }
}

/// A running downstream API.
#[derive(Debug)]
pub struct RunningDownstream {
    /// Base URL, e.g. `http://127.0.0.1:40123`.
    pub url: String,
    /// The store it serves, for tests that change the data.
    pub store: FirewallStore,
    served: Served,
}

impl RunningDownstream {
    /// Stops the API and waits for it to finish.
    pub async fn shutdown(self) {
        self.served.shutdown().await;
    }
}

/// Starts the downstream API on `addr` (port 0 picks a free port) serving `store`, without the
/// admin endpoints.
pub async fn serve(
    addr: SocketAddr,
    store: FirewallStore,
) -> Result<RunningDownstream, ExampleError> {
    serve_with(addr, store, DownstreamOptions::default()).await
}

/// Starts the downstream API on `addr` (port 0 picks a free port) serving `store` with `options`.
pub async fn serve_with(
    addr: SocketAddr,
    store: FirewallStore,
    options: DownstreamOptions,
) -> Result<RunningDownstream, ExampleError> {
    let bound = Bound::bind(addr).await?;
    let url = format!("http://{}", bound.local_addr);
    let app = router_with(store.clone(), options);
    Ok(RunningDownstream {
        url,
        store,
        served: bound.serve(app, "downstream API"),
    })
}

/// Timeout of one downstream request.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// HTTP client of the downstream API.
#[derive(Clone, Debug)]
pub struct DownstreamClient {
    base: String,
    http: reqwest::Client,
}

impl DownstreamClient {
    /// A client of the API at `base` (e.g. `http://127.0.0.1:40123`), with a 10-second timeout.
    pub fn new(base: impl Into<String>) -> Self {
        Self::with_timeout(base, DEFAULT_TIMEOUT)
    }

    /// A client of the API at `base` whose requests give up after `timeout`.
    pub fn with_timeout(base: impl Into<String>, timeout: Duration) -> Self {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        Self {
            base: base.into().trim_end_matches('/').to_owned(),
            http,
        }
    }

    /// The base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// Fetches every application's rules in one request.
    pub async fn all(&self) -> Result<Vec<AppFirewall>, ExampleError> {
        let url = format!("{}/api/v1/firewall-rules", self.base);
        self.get_json(&url).await
    }

    /// Fetches one application's rules; `Ok(None)` if the downstream does not know it. The name
    /// must have passed [`validate_app_name`](crate::model::validate_app_name).
    pub async fn app(&self, app: &str) -> Result<Option<AppFirewall>, ExampleError> {
        crate::model::validate_app_name(app)?;
        let url = format!("{}/api/v1/apps/{app}/firewall-rules", self.base);
        match self.get_json(&url).await {
            Ok(rules) => Ok(Some(rules)),
            Err(ExampleError::Downstream { source })
                if source.status() == Some(reqwest::StatusCode::NOT_FOUND) =>
            {
                Ok(None)
            }
            Err(error) => Err(error),
        }
    }

    /// Restores one application's seeded rules in the downstream
    /// (`POST /api/v1/apps/{app}/firewall-rules/reset`). The name must have passed
    /// [`validate_app_name`](crate::model::validate_app_name).
    pub async fn reset(&self, app: &str) -> Result<(), ExampleError> {
        crate::model::validate_app_name(app)?;
        let url = format!("{}/api/v1/apps/{app}/firewall-rules/reset", self.base);
        self.http
            .post(url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|source| ExampleError::Downstream { source })?;
        Ok(())
    }

    /// Fetches the change requests of `user` (`GET /api/v1/me/change-requests`, the user named
    /// in [`USER_HEADER`]).
    pub async fn change_requests(&self, user: &str) -> Result<Vec<ChangeRequest>, ExampleError> {
        let url = format!("{}/api/v1/me/change-requests", self.base);
        let response = self
            .http
            .get(url)
            .header(USER_HEADER, user)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|source| ExampleError::Downstream { source })?;
        response
            .json()
            .await
            .map_err(|source| ExampleError::Downstream { source })
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, ExampleError> {
        let response = self
            .http
            .get(url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|source| ExampleError::Downstream { source })?;
        response
            .json()
            .await
            .map_err(|source| ExampleError::Downstream { source })
    }
}
