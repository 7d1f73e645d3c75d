//! Audit records: `tracing` spans `auth.verify_token` and `auth.check_scope`
//! with `enduser.id`, `enduser.scope`, the target, `auth.decision` and `auth.reason`. Never the
//! token.
//!
//! Every refusal, every verification of a token not yet cached and every decision about a tool,
//! resource or prompt is an `INFO` span. The two decisions the HTTP layer repeats on every
//! request of a client that is let in — its token found in the verification cache, its global
//! scopes present — are `DEBUG` spans: with the usual `info` span filter they are neither
//! exported nor formatted (each would be a trace of its own, two per request), while the
//! request's own span and its decisions are.
//!
//! Each decision is also a log event inside its span: refusals at `INFO`, so that a server
//! logging at the usual level records every refused token and request; allowed ones at `DEBUG`,
//! so that the common case costs no formatting and no write per request.

use tracing::field::Empty;
use tracing::{Level, Span};

use crate::{AuthError, Principal};

/// `auth.decision` value for an allowed request.
pub const ALLOW: &str = "allow";
/// `auth.decision` value for a refused request.
pub const DENY: &str = "deny";

macro_rules! verify_span {
    ($level:expr, $verifier:expr) => {
        tracing::span!(
            $level,
            "auth.verify_token",
            auth.verifier = $verifier,
            enduser.id = Empty,
            enduser.scope = Empty,
            auth.decision = Empty,
            auth.reason = Empty,
            auth.cache_hit = Empty,
        )
    };
}

/// The `INFO` `auth.verify_token` span of one verification by `verifier`.
pub(crate) fn verify_span(verifier: &'static str) -> Span {
    verify_span!(Level::INFO, verifier)
}

/// The `DEBUG` `auth.verify_token` span of a token accepted from the verification cache.
pub(crate) fn cached_verify_span() -> Span {
    verify_span!(Level::DEBUG, "cache")
}

pub(crate) fn record_verify(span: &Span, result: &Result<Principal, AuthError>) {
    match result {
        Ok(principal) => {
            // The span's fields are only worth formatting when something records the span.
            if !span.is_disabled() {
                span.record("enduser.id", principal.subject.as_str());
                span.record("enduser.scope", principal.scope_string());
                span.record("auth.decision", ALLOW);
            }
            tracing::debug!(parent: span, enduser.id = %principal.subject, auth.decision = ALLOW, "token verified");
        }
        Err(error) => {
            span.record("auth.decision", DENY);
            span.record("auth.reason", error.to_string());
            tracing::info!(parent: span, auth.decision = DENY, auth.reason = %error, "token refused");
        }
    }
}

macro_rules! check_span {
    ($level:expr, $principal:expr, $method:expr, $target:expr) => {{
        let principal: Option<&Principal> = $principal;
        let method: &str = $method;
        let target: &str = $target;
        // The values are computed only when a subscriber wants the span, and handed to it in
        // one call.
        tracing::span!(
            $level,
            "auth.check_scope",
            enduser.id = principal.map(|p| p.subject.as_str()),
            enduser.scope = principal.map(Principal::scope_string),
            mcp.method.name = method,
            auth.target = target,
            gen_ai.tool.name = (method == "tools/call" || method == "tools/list").then_some(target),
            auth.decision = Empty,
            auth.reason = Empty,
        )
    }};
}

/// The `INFO` `auth.check_scope` span for one decision about `target` (a tool name, resource
/// URI, or `""` with the method `"http"` for the global scopes).
pub(crate) fn check_span(principal: Option<&Principal>, method: &str, target: &str) -> Span {
    check_span!(Level::INFO, principal, method, target)
}

/// The `DEBUG` `auth.check_scope` span of a request let in by the global scope check.
pub(crate) fn admitted_span(principal: &Principal) -> Span {
    check_span!(Level::DEBUG, Some(principal), "http", "")
}

pub(crate) fn record_check(span: &Span, allowed: bool, reason: &str) {
    let decision = if allowed { ALLOW } else { DENY };
    span.record("auth.decision", decision);
    span.record("auth.reason", reason);
    if allowed {
        tracing::debug!(parent: span, auth.decision = decision, auth.reason = reason, "authorization decision");
    } else {
        tracing::info!(parent: span, auth.decision = decision, auth.reason = reason, "authorization decision");
    }
}
