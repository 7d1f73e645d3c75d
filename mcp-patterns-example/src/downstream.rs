//! The downstream firewall API the server fronts: a small axum service ([`serve`]) seeded with
//! demo data, and the HTTP client the MCP server uses to reach it ([`DownstreamClient`]).
//!
//! Endpoints:
//!
//! | method | path | answers |
//! |---|---|---|
//! | GET | `/api/v1/firewall-rules` | every application's rules (`[AppFirewall]`, bulk) |
//! | GET | `/api/v1/apps/{app}/firewall-rules` | one application's rules, 404 if unknown |
//! | GET | `/healthz` | `ok` |

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::ExampleError;
use crate::model::{Action, AppFirewall, Direction, FirewallRule};

type Rules = BTreeMap<String, Vec<FirewallRule>>;

/// The downstream's state: the rule set per application.
#[derive(Clone, Debug)]
pub struct FirewallStore {
    rules: Arc<RwLock<Rules>>,
}

impl FirewallStore {
    /// A store seeded with the demo applications `app-alpha`, `app-beta` and `app-gamma`.
    pub fn seeded() -> Self {
        Self {
            rules: Arc::new(RwLock::new(seed())),
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

/// The downstream API's axum router over `store`.
pub fn router(store: FirewallStore) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/api/v1/firewall-rules", get(all_rules))
        .route("/api/v1/apps/{app}/firewall-rules", get(app_rules))
        .with_state(store)
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
    ct: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl RunningDownstream {
    /// Stops the API and waits for it to finish.
    pub async fn shutdown(self) {
        self.ct.cancel();
        let _ = self.task.await;
    }
}

/// Starts the downstream API on `addr` (port 0 picks a free port) serving `store`.
pub async fn serve(
    addr: SocketAddr,
    store: FirewallStore,
) -> Result<RunningDownstream, ExampleError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| ExampleError::Io {
            addr: addr.to_string(),
            source,
        })?;
    let local = listener.local_addr().map_err(|source| ExampleError::Io {
        addr: addr.to_string(),
        source,
    })?;
    let ct = CancellationToken::new();
    let app = router(store.clone());
    let task = tokio::spawn({
        let ct = ct.clone();
        async move {
            if let Err(error) = axum::serve(listener, app)
                .with_graceful_shutdown(ct.cancelled_owned())
                .await
            {
                tracing::error!(%error, "downstream API stopped");
            }
        }
    });
    Ok(RunningDownstream {
        url: format!("http://{local}"),
        store,
        ct,
        task,
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
        let http = reqwest::Client::builder()
            .timeout(DEFAULT_TIMEOUT)
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
