//! Audit records: `tracing` spans `auth.verify_token` and `auth.check_scope`
//! with `enduser.id`, `enduser.scope`, the target, `auth.decision` and `auth.reason`. Never the
//! token.
//!
//! Each decision is also a log event inside its span: refusals at `INFO`, so that a server
//! logging at the usual level records every refused token and request; allowed ones at `DEBUG`,
//! so that the common case costs no formatting and no write per request (the spans, and the
//! traces exported from them, carry every decision either way).

use tracing::Span;
use tracing::field::Empty;

use crate::{AuthError, Principal};

/// `auth.decision` value for an allowed request.
pub const ALLOW: &str = "allow";
/// `auth.decision` value for a refused request.
pub const DENY: &str = "deny";

pub(crate) fn verify_span(verifier: &'static str) -> Span {
    tracing::info_span!(
        "auth.verify_token",
        auth.verifier = verifier,
        enduser.id = Empty,
        enduser.scope = Empty,
        auth.decision = Empty,
        auth.reason = Empty,
        auth.cache_hit = Empty,
    )
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

/// The `auth.check_scope` span for one decision about `target` (a tool name, resource URI or
/// `"http"` for layer 1).
pub(crate) fn check_span(principal: Option<&Principal>, method: &str, target: &str) -> Span {
    let span = tracing::info_span!(
        "auth.check_scope",
        enduser.id = Empty,
        enduser.scope = Empty,
        mcp.method.name = method,
        auth.target = target,
        gen_ai.tool.name = Empty,
        auth.decision = Empty,
        auth.reason = Empty,
    );
    if span.is_disabled() {
        return span;
    }
    if method == "tools/call" || method == "tools/list" {
        span.record("gen_ai.tool.name", target);
    }
    if let Some(principal) = principal {
        span.record("enduser.id", principal.subject.as_str());
        span.record("enduser.scope", principal.scope_string());
    }
    span
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
