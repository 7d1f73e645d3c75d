//! Layer 1: a tower layer in front of the MCP endpoint.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use axum::response::{IntoResponse, Response};
use http::{Request, header};
use tower::{Layer, Service};

use crate::verifier::TokenVerifier;
use crate::{AuthError, Principal, audit};

#[derive(Clone)]
struct Config {
    verifier: Arc<dyn TokenVerifier>,
    required_scopes: Vec<String>,
    resource_metadata: Option<String>,
}

/// Builds [`RequireAuth`] services: every request must carry `Authorization: Bearer <token>`
/// that the verifier accepts and whose principal holds the required global scopes.
///
/// - no token, or a token the verifier refuses: `401` with
///   `WWW-Authenticate: Bearer error="invalid_token", …, resource_metadata="…"` (RFC 6750,
///   RFC 9728 §5.1) and the inner service is not called;
/// - a required scope missing: `403` with `error="insufficient_scope"` and the scopes;
/// - the identity provider unreachable: `503`;
/// - otherwise the verified [`Principal`] is inserted into the request's extensions, where
///   rmcp's Streamable HTTP service hands it on to the MCP handler (see
///   [`principal_from`](crate::principal_from));
/// - a streaming answer (`text/event-stream`: a `GET` stream, a `subscriptions/listen` stream,
///   a long tool call) ends when the token that opened it expires.
///
/// ```no_run
/// use mcp_authz::{AuthLayer, JwtVerifier, ProtectedResourceMetadata};
/// # async fn run(mcp_service: axum::routing::Router) -> Result<(), Box<dyn std::error::Error>> {
/// let verifier = JwtVerifier::from_oidc_discovery("https://idp.example.com")
///     .audience("https://mcp.example.com/mcp")
///     .build()
///     .await?;
/// let metadata = ProtectedResourceMetadata::new("https://mcp.example.com/mcp")
///     .authorization_server("https://idp.example.com");
/// let app: axum::Router = axum::Router::new()
///     .nest_service("/mcp", mcp_service)
///     .layer(
///         AuthLayer::new(verifier)
///             .require_scopes(["mcp:access"])
///             .resource_metadata(metadata.metadata_url()),
///     )
///     .merge(metadata.router()); // public, so outside the layer
/// # let _ = app; Ok(()) }
/// ```
#[derive(Clone)]
pub struct AuthLayer {
    config: Arc<Config>,
}

impl fmt::Debug for AuthLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthLayer")
            .field("required_scopes", &self.config.required_scopes)
            .field("resource_metadata", &self.config.resource_metadata)
            .finish_non_exhaustive()
    }
}

impl AuthLayer {
    /// Authenticates with `verifier`; no scopes required, no `resource_metadata` in challenges.
    pub fn new(verifier: impl TokenVerifier + 'static) -> Self {
        Self {
            config: Arc::new(Config {
                verifier: Arc::new(verifier),
                required_scopes: Vec::new(),
                resource_metadata: None,
            }),
        }
    }

    fn config_mut(&mut self) -> &mut Config {
        Arc::make_mut(&mut self.config)
    }

    /// Scopes every request needs (layer 1, "global access").
    #[must_use]
    pub fn require_scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.config_mut()
            .required_scopes
            .extend(scopes.into_iter().map(Into::into));
        self
    }

    /// The absolute URL of the RFC 9728 metadata document, sent as `resource_metadata` in every
    /// challenge (see [`ProtectedResourceMetadata::metadata_url`](crate::ProtectedResourceMetadata::metadata_url)).
    #[must_use]
    pub fn resource_metadata(mut self, url: impl Into<String>) -> Self {
        self.config_mut().resource_metadata = Some(url.into());
        self
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = RequireAuth<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireAuth {
            inner,
            config: Arc::clone(&self.config),
        }
    }
}

/// The service [`AuthLayer`] builds: authenticates, checks global scopes, then calls `S`.
#[derive(Clone)]
pub struct RequireAuth<S> {
    inner: S,
    config: Arc<Config>,
}

impl<S> fmt::Debug for RequireAuth<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequireAuth")
            .field("required_scopes", &self.config.required_scopes)
            .finish_non_exhaustive()
    }
}

impl<S> RequireAuth<S> {
    /// Wraps `inner` with the configuration of `layer`.
    pub fn new(inner: S, layer: &AuthLayer) -> Self {
        layer.layer(inner)
    }

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

/// The bearer token of a request: `None` when there is no `Authorization: Bearer` header.
fn bearer_token<B>(request: &Request<B>) -> Option<&str> {
    let value = request
        .headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

impl Config {
    async fn authorize(&self, token: Option<String>) -> Result<Principal, AuthError> {
        let Some(token) = token else {
            let span = audit::check_span(None, "http", "");
            audit::record_check(&span, false, AuthError::MissingToken.reason_code());
            return Err(AuthError::MissingToken);
        };
        let principal = self.verifier.verify(&token).await?;
        if principal.is_expired() {
            return Err(AuthError::Expired);
        }
        if self.required_scopes.iter().all(|s| principal.has_scope(s)) {
            let span = audit::admitted_span(&principal);
            audit::record_check(&span, true, "global scopes present");
            Ok(principal)
        } else {
            let span = audit::check_span(Some(&principal), "http", "");
            let error = AuthError::InsufficientScope {
                required: crate::principal::join(self.required_scopes.iter()),
            };
            audit::record_check(&span, false, error.reason_code());
            Err(error)
        }
    }
}

/// Ends a streaming (`text/event-stream`) response when the token that opened it expires: a
/// `GET` stream or a `subscriptions/listen` stream must not outlive the credential. The client
/// reconnects with a fresh token (and is checked again).
fn end_stream_at(response: Response, expires_at: Option<SystemTime>) -> Response {
    use futures::StreamExt as _;
    let Some(expires_at) = expires_at else {
        return response;
    };
    let streaming = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("text/event-stream"));
    if !streaming {
        return response;
    }
    let left = expires_at
        .duration_since(SystemTime::now())
        .unwrap_or(Duration::ZERO);
    let (parts, body) = response.into_parts();
    let stream = body.into_data_stream().take_until(tokio::time::sleep(left));
    Response::from_parts(parts, axum::body::Body::from_stream(stream))
}

/// The response future of [`RequireAuth`].
pub struct ResponseFuture<E> {
    inner: Pin<Box<dyn Future<Output = Result<Response, E>> + Send>>,
}

impl<E> fmt::Debug for ResponseFuture<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ResponseFuture")
    }
}

impl<E> Future for ResponseFuture<E> {
    type Output = Result<Response, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx)
    }
}

impl<S, B> Service<Request<B>> for RequireAuth<S>
where
    S: Service<Request<B>> + Clone + Send + 'static,
    S::Response: IntoResponse,
    S::Future: Send + 'static,
    S::Error: 'static,
    B: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        // The clone is fresh; the readied service is the one we call (tower's usual dance).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let config = Arc::clone(&self.config);
        let token = bearer_token(&request).map(str::to_owned);
        ResponseFuture {
            inner: Box::pin(async move {
                match config.authorize(token).await {
                    Ok(principal) => {
                        let expires_at = principal.expires_at;
                        request.extensions_mut().insert(principal);
                        let response = inner.call(request).await?.into_response();
                        Ok(end_stream_at(response, expires_at))
                    }
                    Err(error) => Ok(error.into_response(config.resource_metadata.as_deref())),
                }
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_parsing() {
        let req = |v: &str| {
            Request::builder()
                .header("authorization", v)
                .body(())
                .unwrap()
        };
        assert_eq!(bearer_token(&req("Bearer abc")), Some("abc"));
        assert_eq!(bearer_token(&req("bearer   abc ")), Some("abc"));
        assert_eq!(bearer_token(&req("Basic abc")), None);
        assert_eq!(bearer_token(&req("Bearer ")), None);
        assert_eq!(bearer_token(&Request::new(())), None);
    }
}
