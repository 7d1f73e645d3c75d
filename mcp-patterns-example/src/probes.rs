//! Probes for orchestrators and load balancers, outside the MCP endpoint and unauthenticated:
//!
//! - `GET /healthz`: `200 {"status":"ok"}` while the process serves HTTP (liveness);
//! - `GET /readyz`: `200` with `"ready": true` when the server can answer MCP requests, else
//!   `503` with `"ready": false` and a `reason` (readiness). Ready means: the shared firewall
//!   data is loaded (with `--initial-fetch degrade` the server starts before it is, and is not
//!   ready until a refresh succeeds), the identity provider's keys are loaded (the verifier of
//!   a JWKS URL or OIDC issuer fetches them before the server starts listening, and keeps the
//!   last good keys when a background refresh fails), and the server is not shutting down.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::data::FirewallCache;

/// What `/readyz` looks at.
#[derive(Clone, Debug)]
pub(crate) struct Readiness {
    pub(crate) cache: FirewallCache,
    /// Where identities come from, e.g. `oidc-issuer`; `None` when authorization is off.
    pub(crate) identity: Option<&'static str>,
    /// Cancelled when shutdown begins.
    pub(crate) draining: CancellationToken,
}

/// The `/healthz` and `/readyz` routes.
pub(crate) fn router(readiness: Readiness) -> axum::Router {
    axum::Router::new()
        .route(
            "/healthz",
            get(|| async { Json(json!({ "status": "ok" })) }),
        )
        .route("/readyz", get(readyz))
        .with_state(readiness)
}

async fn readyz(State(readiness): State<Readiness>) -> impl IntoResponse {
    let (ready, body) = readiness.report();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        [(http::header::CACHE_CONTROL, "no-store")],
        Json(body),
    )
}

impl Readiness {
    /// Whether the server is ready, and the JSON body saying why (not).
    pub(crate) fn report(&self) -> (bool, Value) {
        let mut reasons = Vec::new();
        let cache = match self.cache.shared() {
            Some(shared) => {
                let health = shared.health();
                if !health.ready {
                    reasons.push(match &health.last_error {
                        Some(error) => format!(
                            "the firewall data is not loaded yet ({} failed fetches, last: {error})",
                            health.consecutive_failures
                        ),
                        None => "the firewall data is not loaded yet".to_owned(),
                    });
                }
                json!({
                    "ready": health.ready,
                    "scope": self.cache.scope(),
                    "generation": health.generation,
                    "stale": health.stale,
                    "last_error": health.last_error,
                    "consecutive_failures": health.consecutive_failures,
                })
            }
            // Per-user caches are fetched when their user first asks.
            None => json!({ "ready": true, "scope": self.cache.scope() }),
        };
        let identity = match self.identity {
            Some(source) => json!({ "ready": true, "source": source }),
            None => json!({ "ready": true, "source": "disabled" }),
        };
        let draining = self.draining.is_cancelled();
        if draining {
            reasons.push("the server is shutting down".to_owned());
        }
        let ready = reasons.is_empty();
        let mut body = json!({
            "ready": ready,
            "cache": cache,
            "identity": identity,
            "shutting_down": draining,
        });
        if !ready {
            body["reason"] = Value::String(reasons.join("; "));
        }
        (ready, body)
    }
}
