//! Streamable HTTP sessions bound to the principal that opened them.
//!
//! rmcp's Streamable HTTP server hands out an `Mcp-Session-Id` on `initialize` and then serves
//! anyone who presents it. [`SessionOwnershipLayer`] sits behind [`AuthLayer`](crate::AuthLayer)
//! and records who initialized each session; a `POST`, `GET` (also with `Last-Event-ID`) or
//! `DELETE` on that session by any other principal gets exactly the answer of an unknown session
//! (`404`), so a leaked or guessed session id is worth nothing without the owner's token.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::{Method, Request, StatusCode, header};
use tower::{Layer, Service};

use crate::{Principal, audit};

/// The header rmcp's Streamable HTTP transport names sessions with.
pub const SESSION_HEADER: &str = "mcp-session-id";

/// Who owns a session: the issuer and subject of the principal that initialized it, and its
/// OAuth client where the token names one. A renewed token of the same user (same issuer,
/// subject and client) continues the session.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct SessionOwner {
    /// The token issuer (`iss`), when known.
    pub issuer: Option<String>,
    /// The subject (`sub`).
    pub subject: String,
    /// The OAuth client (`client_id` / `azp`), when known.
    pub client_id: Option<String>,
}

impl SessionOwner {
    /// The owner a principal would be.
    pub fn of(principal: &Principal) -> Self {
        Self {
            issuer: principal.issuer.clone(),
            subject: principal.subject.clone(),
            client_id: principal.client_id.clone(),
        }
    }
}

/// Errors of a [`SessionOwnerStore`].
pub type OwnerStoreError = Box<dyn std::error::Error + Send + Sync>;

/// Where session owners are kept. The default keeps them in this process
/// ([`SessionOwnershipLayer::new`]); replicas behind a load balancer that share sessions (an rmcp
/// `SessionStore`) share owners through an implementation on the same store, so that ownership is
/// checked on every replica.
#[async_trait::async_trait]
pub trait SessionOwnerStore: Send + Sync + 'static {
    /// The owner of `session_id`, or `None` when the session is unknown.
    async fn owner(&self, session_id: &str) -> Result<Option<SessionOwner>, OwnerStoreError>;
    /// Records `owner` as the owner of the new session `session_id`.
    async fn record(&self, session_id: &str, owner: &SessionOwner) -> Result<(), OwnerStoreError>;
    /// Forgets `session_id` (it was closed).
    async fn forget(&self, session_id: &str) -> Result<(), OwnerStoreError>;
}

/// Limits of a [`SessionOwnershipLayer`]. Plain data; defaults per field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionLimits {
    /// Sessions one principal may hold open at once on this server; one more `initialize` is
    /// answered `429 Too Many Requests`. Default: 32.
    pub max_per_principal: usize,
    /// Sessions open at once on this server; past it `initialize` is answered
    /// `503 Service Unavailable`. Default: 10 000.
    pub max_total: usize,
    /// The session manager's idle timeout (rmcp's `keep_alive`). A session with no request for
    /// twice this long, and at least a minute longer, is forgotten (and no longer counts); one
    /// the session manager closed earlier is forgotten as soon as a request finds it gone.
    /// Default: 5 minutes; `None` keeps owners until the session is deleted or found gone.
    pub idle_timeout: Option<Duration>,
    /// The largest `initialize` body inspected; larger bodies without a session are refused
    /// with `413`. Default: 4 MiB (rmcp's own request limit).
    pub max_body_bytes: usize,
}

impl Default for SessionLimits {
    fn default() -> Self {
        Self {
            max_per_principal: 32,
            max_total: 10_000,
            idle_timeout: Some(Duration::from_secs(300)),
            max_body_bytes: 4 * 1024 * 1024,
        }
    }
}

impl SessionLimits {
    /// Sets [`SessionLimits::max_per_principal`].
    #[must_use]
    pub fn max_per_principal(mut self, max: usize) -> Self {
        self.max_per_principal = max;
        self
    }

    /// Sets [`SessionLimits::max_total`].
    #[must_use]
    pub fn max_total(mut self, max: usize) -> Self {
        self.max_total = max;
        self
    }

    /// Sets [`SessionLimits::idle_timeout`].
    #[must_use]
    pub fn idle_timeout(mut self, idle: Option<Duration>) -> Self {
        self.idle_timeout = idle;
        self
    }
}

struct Shared {
    limits: SessionLimits,
    /// Sessions opened or used through this process: the owner store when no other is given,
    /// and what the caps count.
    local: moka::sync::Cache<String, SessionOwner>,
    store: Option<Arc<dyn SessionOwnerStore>>,
}

impl Shared {
    async fn owner(&self, id: &str) -> Result<Option<SessionOwner>, OwnerStoreError> {
        match &self.store {
            None => Ok(self.local.get(id)),
            Some(store) => {
                let owner = store.owner(id).await?;
                match &owner {
                    // Seen here now: it counts against this process's caps.
                    Some(owner) => self.local.insert(id.to_owned(), owner.clone()),
                    None => self.local.invalidate(id),
                }
                Ok(owner)
            }
        }
    }

    async fn record(&self, id: &str, owner: &SessionOwner) -> Result<(), OwnerStoreError> {
        self.local.insert(id.to_owned(), owner.clone());
        if let Some(store) = &self.store {
            store.record(id, owner).await?;
        }
        Ok(())
    }

    async fn forget(&self, id: &str) {
        self.local.invalidate(id);
        if let Some(store) = &self.store
            && let Err(error) = store.forget(id).await
        {
            tracing::warn!(%error, "could not forget a closed session's owner");
        }
    }

    /// Whether `owner` may open one more session: `None` if so, else the refusal.
    fn over_limit(&self, owner: &SessionOwner) -> Option<Response> {
        self.local.run_pending_tasks();
        let total = usize::try_from(self.local.entry_count()).unwrap_or(usize::MAX);
        if total >= self.limits.max_total {
            tracing::warn!(
                sessions = total,
                max = self.limits.max_total,
                "session limit reached; refusing a new session"
            );
            return Some(refusal(
                StatusCode::SERVICE_UNAVAILABLE,
                "too many open sessions on this server; try again later",
            ));
        }
        let mine = self.local.iter().filter(|(_, o)| o == owner).count();
        if mine >= self.limits.max_per_principal {
            let span = audit::check_span(None, "http", "session");
            span.record("enduser.id", owner.subject.as_str());
            audit::record_check(&span, false, "session_limit");
            return Some(refusal(
                StatusCode::TOO_MANY_REQUESTS,
                "too many open sessions for this user; close one (HTTP DELETE) or wait for an idle one to expire",
            ));
        }
        None
    }
}

fn refusal(status: StatusCode, message: &str) -> Response {
    let body = serde_json::json!({ "error": message }).to_string();
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    if status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, http::HeaderValue::from_static("30"));
    }
    response
}

/// Exactly what rmcp's Streamable HTTP service answers for a session it does not know.
fn unknown_session() -> Response {
    let mut response = Response::new(Body::from("Not Found: Session not found"));
    *response.status_mut() = StatusCode::NOT_FOUND;
    response
}

/// Binds Streamable HTTP sessions to the principal that opened them, and caps how many sessions
/// a principal and the server hold. Put it inside [`AuthLayer`](crate::AuthLayer) (it reads the
/// verified [`Principal`] from the request) and around rmcp's `StreamableHttpService`:
///
/// - `initialize` (a `POST` without `Mcp-Session-Id`) is passed on; the session id of the
///   answer is recorded with its owner. Past [`SessionLimits`] the request is refused
///   (`429` per principal, `503` for the server) before rmcp creates a session;
/// - any request that names a session — `POST`, `GET` (with or without `Last-Event-ID`),
///   `DELETE` — is passed on only when the principal is the session's owner. Otherwise, and for
///   sessions it never recorded, the answer is rmcp's own `404 Not Found: Session not found`,
///   byte for byte, and an `auth.check_scope` audit span with reason `session_owner_mismatch`;
/// - a successful `DELETE`, or a `404` from rmcp (the session ended), forgets the session.
///
/// Requests without a principal (the layer placed outside `AuthLayer`) are refused with `401`.
/// Requests that carry no session id and are not `initialize` (2026-07-28 stateless requests)
/// pass unchanged.
///
/// ```
/// use mcp_authz::{AuthLayer, Principal, SessionLimits, SessionOwnershipLayer, TokenVerifier};
/// # fn app(verifier: impl TokenVerifier + 'static, mcp: axum::Router) -> axum::Router {
/// // `.layer` wraps what is above it: the last one added runs first.
/// axum::Router::new()
///     .nest_service("/mcp", mcp)
///     .layer(SessionOwnershipLayer::new(SessionLimits::default()))
///     .layer(AuthLayer::new(verifier))
/// # }
/// ```
#[derive(Clone)]
pub struct SessionOwnershipLayer {
    shared: Arc<Shared>,
}

impl fmt::Debug for SessionOwnershipLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionOwnershipLayer")
            .field("limits", &self.shared.limits)
            .field("sessions", &self.shared.local.entry_count())
            .field("shared_store", &self.shared.store.is_some())
            .finish()
    }
}

impl SessionOwnershipLayer {
    /// Owners kept in this process.
    pub fn new(limits: SessionLimits) -> Self {
        Self::build(limits, None)
    }

    /// Owners kept in `store` (shared by replicas), with this process's sessions counted
    /// against `limits`.
    pub fn with_store(limits: SessionLimits, store: Arc<dyn SessionOwnerStore>) -> Self {
        Self::build(limits, Some(store))
    }

    fn build(limits: SessionLimits, store: Option<Arc<dyn SessionOwnerStore>>) -> Self {
        let mut local = moka::sync::Cache::builder()
            .max_capacity(u64::try_from(limits.max_total.saturating_mul(2)).unwrap_or(u64::MAX));
        if let Some(idle) = limits.idle_timeout {
            // A margin over the session manager's own timeout: an owner must never be forgotten
            // while its session is still open (under load the gap between `initialize` and the
            // next request can exceed a short timeout).
            local = local.time_to_idle(idle.saturating_mul(2).max(idle + Duration::from_secs(60)));
        }
        Self {
            shared: Arc::new(Shared {
                limits,
                local: local.build(),
                store,
            }),
        }
    }

    /// How many sessions this process knows to be open (idle ones past the timeout excluded).
    pub fn open_sessions(&self) -> usize {
        self.shared.local.run_pending_tasks();
        usize::try_from(self.shared.local.entry_count()).unwrap_or(usize::MAX)
    }
}

impl<S> Layer<S> for SessionOwnershipLayer {
    type Service = OwnedSessions<S>;

    fn layer(&self, inner: S) -> Self::Service {
        OwnedSessions {
            inner,
            shared: Arc::clone(&self.shared),
        }
    }
}

/// The service [`SessionOwnershipLayer`] builds.
#[derive(Clone)]
pub struct OwnedSessions<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> fmt::Debug for OwnedSessions<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedSessions").finish_non_exhaustive()
    }
}

impl<S> OwnedSessions<S> {
    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

/// Whether a JSON-RPC body is an `initialize` request.
fn is_initialize(body: &[u8]) -> bool {
    #[derive(serde::Deserialize)]
    struct Probe<'a> {
        #[serde(borrow)]
        method: Option<std::borrow::Cow<'a, str>>,
    }
    // Every 2026-07-28 request comes here, since none names a session; few are parsed.
    if !crate::body::may_contain(body, "initialize") {
        return false;
    }
    serde_json::from_slice::<Probe<'_>>(body)
        .ok()
        .and_then(|p| p.method)
        .is_some_and(|m| m == "initialize")
}

fn mismatch(principal: &Principal, owner: Option<&SessionOwner>) {
    let span = audit::check_span(Some(principal), "http", "session");
    audit::record_check(&span, false, "session_owner_mismatch");
    tracing::warn!(
        target: "mcp_authz::audit",
        subject = %principal.subject,
        owner = owner.map_or("unknown", |o| o.subject.as_str()),
        "request on a session the caller does not own: answered as unknown"
    );
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S> Service<Request<Body>> for OwnedSessions<S>
where
    S: Service<Request<Body>> + Clone + Send + 'static,
    S::Response: IntoResponse,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let shared = Arc::clone(&self.shared);
        Box::pin(async move {
            // Only the owner key is taken from the principal (cloning the whole principal,
            // claims included, would cost every request an allocation-heavy copy).
            let Some(me) = request
                .extensions()
                .get::<Principal>()
                .map(SessionOwner::of)
            else {
                tracing::error!(
                    "SessionOwnershipLayer found no principal: put it inside AuthLayer"
                );
                return Ok(refusal(StatusCode::UNAUTHORIZED, "not authenticated"));
            };
            let session = request
                .headers()
                .get(SESSION_HEADER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let Some(session) = session else {
                if request.method() != Method::POST {
                    return inner.call(request).await.map(IntoResponse::into_response);
                }
                // A POST without a session: `initialize` opens one (and counts), anything else
                // is a stateless request or an error rmcp answers itself.
                let (parts, body) = request.into_parts();
                let Ok(bytes) = axum::body::to_bytes(body, shared.limits.max_body_bytes).await
                else {
                    return Ok(refusal(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "request body too large or unreadable",
                    ));
                };
                let initialize = is_initialize(&bytes);
                if initialize && let Some(refused) = shared.over_limit(&me) {
                    return Ok(refused);
                }
                let request = Request::from_parts(parts, Body::from(bytes));
                let response = inner.call(request).await?.into_response();
                if initialize
                    && let Some(id) = response
                        .headers()
                        .get(SESSION_HEADER)
                        .and_then(|v| v.to_str().ok())
                    && let Err(error) = shared.record(id, &me).await
                {
                    // Without a recorded owner nobody could use the session: fail closed.
                    tracing::error!(%error, "could not record a new session's owner");
                    return Ok(refusal(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "session store unavailable",
                    ));
                }
                return Ok(response);
            };
            match shared.owner(&session).await {
                Ok(Some(owner)) if owner == me => {}
                Ok(owner) => {
                    if let Some(principal) = request.extensions().get::<Principal>() {
                        mismatch(principal, owner.as_ref());
                    }
                    return Ok(unknown_session());
                }
                Err(error) => {
                    tracing::error!(%error, "session owner store unavailable");
                    return Ok(refusal(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "session store unavailable",
                    ));
                }
            }
            let delete = request.method() == Method::DELETE;
            let response = inner.call(request).await?.into_response();
            if response.status() == StatusCode::NOT_FOUND
                || (delete && response.status().is_success())
            {
                shared.forget(&session).await;
            }
            Ok(response)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initialize_is_recognised_without_parsing_params() {
        assert!(is_initialize(
            br#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"x":[1,2,3]}}"#
        ));
        assert!(!is_initialize(
            br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#
        ));
        assert!(!is_initialize(b"not json"));
        // Escaped as JSON allows, it is still `initialize` to rmcp.
        assert!(is_initialize(
            br#"{"jsonrpc":"2.0","id":1,"method":"\u0069nitialize"}"#
        ));
        assert!(!is_initialize(br#"[{"method":"initialize"}]"#));
    }

    #[test]
    fn owner_is_issuer_subject_and_client() {
        let a = Principal::new("alice").with_client_id("app");
        let mut b = a.clone();
        assert_eq!(SessionOwner::of(&a), SessionOwner::of(&b));
        b.issuer = Some("https://other".into());
        assert_ne!(SessionOwner::of(&a), SessionOwner::of(&b));
    }
}
