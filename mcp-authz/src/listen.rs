//! `subscriptions/listen` filtered per caller before rmcp acknowledges it.
//!
//! rmcp decides which subscriptions of a `subscriptions/listen` request to acknowledge without a
//! request context, so an MCP-level decorator cannot tell whose request it is. Over HTTP the
//! caller is known before rmcp sees the request: [`ListenFilterLayer`] removes from the request
//! every resource subscription the caller may not read, so the acknowledgement names only the
//! permitted ones and no notification for the others can ever be sent.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::{Method, Request, StatusCode};
use rmcp::model::{ClientJsonRpcMessage, ClientRequest, JsonRpcMessage, JsonRpcRequest};
use tower::{Layer, Service};

use crate::policy::{AccessRequest, Action, Policy, TargetKind};
use crate::{Principal, audit, body};

type Readable = dyn Fn(&Principal, &str) -> bool + Send + Sync;

/// The largest request body inspected (rmcp's own limit): 4 MiB.
const MAX_BODY: usize = 4 * 1024 * 1024;

/// Filters the resource subscriptions of `subscriptions/listen` requests to those the caller's
/// [`Principal`] may read (the policy's `Invoke` decision on the resource URI). Place it inside
/// [`AuthLayer`](crate::AuthLayer), around rmcp's Streamable HTTP service. Other requests pass
/// unchanged; a listen request without a principal passes too, and
/// [`AuthzHandler`](crate::AuthzHandler) then refuses it.
///
/// Get one from [`AuthzHandler::listen_filter_layer`](crate::AuthzHandler::listen_filter_layer)
/// (same policy as the handler) or build it from a policy:
///
/// ```
/// use mcp_authz::{ListenFilterLayer, Requirement, StaticPolicy};
/// let layer = ListenFilterLayer::new(
///     StaticPolicy::new().resource("cache://public/*", Requirement::none()),
/// );
/// # let _ = layer;
/// ```
#[derive(Clone)]
pub struct ListenFilterLayer {
    readable: Arc<Readable>,
}

impl fmt::Debug for ListenFilterLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ListenFilterLayer").finish_non_exhaustive()
    }
}

impl ListenFilterLayer {
    /// Keeps the subscriptions `policy` lets the caller read.
    pub fn new(policy: impl Policy) -> Self {
        Self::from_fn(move |principal, uri| {
            policy
                .evaluate(&AccessRequest::new(
                    principal,
                    Action::Invoke,
                    TargetKind::Resource,
                    uri,
                ))
                .is_allowed()
        })
    }

    /// Keeps the subscriptions for which `readable(principal, uri)` is true: for servers that
    /// decide per caller beyond the policy, e.g. from the principal's entitlements to the
    /// record a URI names.
    ///
    /// ```
    /// use mcp_authz::ListenFilterLayer;
    /// // Each user may listen to their own folder only.
    /// let layer = ListenFilterLayer::from_fn(|principal, uri| {
    ///     uri.strip_prefix("files://")
    ///         .and_then(|rest| rest.split('/').next())
    ///         .is_some_and(|owner| owner == principal.subject)
    /// });
    /// # let _ = layer;
    /// ```
    pub fn from_fn(readable: impl Fn(&Principal, &str) -> bool + Send + Sync + 'static) -> Self {
        Self {
            readable: Arc::new(readable),
        }
    }
}

impl<S> Layer<S> for ListenFilterLayer {
    type Service = ListenFilter<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ListenFilter {
            inner,
            readable: Arc::clone(&self.readable),
        }
    }
}

/// The service [`ListenFilterLayer`] builds.
#[derive(Clone)]
pub struct ListenFilter<S> {
    inner: S,
    readable: Arc<Readable>,
}

impl<S> fmt::Debug for ListenFilter<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ListenFilter").finish_non_exhaustive()
    }
}

impl<S> ListenFilter<S> {
    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Unwraps the service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

/// Removes unreadable URIs from a listen request; `None` when `body` is not one (or nothing was
/// removed), so the original bytes go on untouched.
fn filter_listen(body: &[u8], principal: &Principal, readable: &Readable) -> Option<Vec<u8>> {
    // Nearly every other request is not parsed here.
    if !body::may_contain(body, "subscriptions/listen") {
        return None;
    }
    // Parsed with rmcp's own type and parser, as rmcp parses the body after this layer: what
    // rmcp would take for a listen request is exactly what is filtered here.
    let mut message: ClientJsonRpcMessage = serde_json::from_slice(body).ok()?;
    let JsonRpcMessage::Request(JsonRpcRequest {
        request: ClientRequest::SubscriptionsListenRequest(listen),
        ..
    }) = &mut message
    else {
        return None;
    };
    let uris = listen
        .params
        .notifications
        .resource_subscriptions
        .as_mut()?;
    let before = uris.len();
    uris.retain(|uri| {
        let keep = readable(principal, uri);
        if !keep {
            let span = audit::check_span(Some(principal), "subscriptions/listen", uri);
            audit::record_check(&span, false, "not readable");
        }
        keep
    });
    (uris.len() != before).then(|| serde_json::to_vec(&message).ok())?
}

impl<S> Service<Request<Body>> for ListenFilter<S>
where
    S: Service<Request<Body>> + Clone + Send + 'static,
    S::Response: IntoResponse,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let readable = Arc::clone(&self.readable);
        Box::pin(async move {
            let authenticated = request.extensions().get::<Principal>().is_some();
            if !authenticated || request.method() != Method::POST {
                return inner.call(request).await.map(IntoResponse::into_response);
            }
            let (parts, body) = request.into_parts();
            let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY).await else {
                return Ok(
                    (StatusCode::PAYLOAD_TOO_LARGE, "request body too large").into_response()
                );
            };
            let filtered = parts
                .extensions
                .get::<Principal>()
                .and_then(|principal| filter_listen(&bytes, principal, &*readable));
            let body = match filtered {
                Some(filtered) => Body::from(filtered),
                None => Body::from(bytes),
            };
            inner
                .call(Request::from_parts(parts, body))
                .await
                .map(IntoResponse::into_response)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn only_readable_subscriptions_remain() {
        let alice = Principal::new("alice");
        let readable = |_: &Principal, uri: &str| uri.ends_with("alpha");
        let body = br#"{"jsonrpc":"2.0","id":7,"method":"subscriptions/listen","params":{"notifications":{"resourceSubscriptions":["cache://firewalls/app-alpha","cache://firewalls/app-beta"],"toolsListChanged":true}}}"#;
        let filtered = filter_listen(body, &alice, &readable).expect("changed");
        let value: Value = serde_json::from_slice(&filtered).unwrap();
        assert_eq!(
            value["params"]["notifications"]["resourceSubscriptions"],
            serde_json::json!(["cache://firewalls/app-alpha"])
        );
        assert_eq!(value["params"]["notifications"]["toolsListChanged"], true);
        assert_eq!(value["id"], 7);
        let all_readable = |_: &Principal, _: &str| true;
        assert!(filter_listen(body, &alice, &all_readable).is_none());
        assert!(filter_listen(br#"{"method":"tools/list"}"#, &alice, &readable).is_none());
        assert!(filter_listen(b"subscriptions/listen but not json", &alice, &readable).is_none());
    }

    #[test]
    fn escaped_strings_are_read_as_rmcp_reads_them() {
        let alice = Principal::new("alice");
        let readable = |_: &Principal, uri: &str| uri.ends_with("alpha");
        let body = br#"{"jsonrpc":"2.0","id":7,"method":"subscriptions\/listen","params":{"notifications":{"resourceSubscriptions":["cache:\/\/firewalls\/app-alpha","cache://firewalls/app-\u0062eta"]}}}"#;
        let filtered = filter_listen(body, &alice, &readable).expect("changed");
        let value: Value = serde_json::from_slice(&filtered).unwrap();
        assert_eq!(value["method"], "subscriptions/listen");
        assert_eq!(
            value["params"]["notifications"]["resourceSubscriptions"],
            serde_json::json!(["cache://firewalls/app-alpha"])
        );
        // Another method with escapes in its arguments passes unchanged.
        let call = br#"{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"t","arguments":{"q":"a\"b subscriptions/listen"}}}"#;
        assert!(filter_listen(call, &alice, &readable).is_none());
    }
}
