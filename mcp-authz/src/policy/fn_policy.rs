//! [`FnPolicy`]: attribute-based policies from closures.

use std::fmt;

use super::{AccessRequest, Decision, Policy};

/// An attribute-based policy from a closure that sees the whole [`AccessRequest`]: principal,
/// action, target name and arguments.
///
/// ```
/// use mcp_authz::{Action, Decision, FnPolicy, TargetKind};
///
/// // Only callers entitled to read an application may ask for its firewall rule.
/// let policy = FnPolicy::new(|req| {
///     match (req.kind, req.name, req.action, req.str_argument("app_name")) {
///         (TargetKind::Tool, "get_firewall_rule", Action::Invoke, Some(app)) => {
///             Decision::allow_if(req.principal.entitlements.allows(app, "read"), || {
///                 format!("no read entitlement for application {app}")
///             })
///         }
///         _ => Decision::Allow,
///     }
/// });
/// # let _ = policy;
/// ```
pub struct FnPolicy<F>(F);

impl<F> FnPolicy<F>
where
    F: Fn(&AccessRequest<'_>) -> Decision + Send + Sync + 'static,
{
    /// Wraps `f`.
    pub fn new(f: F) -> Self {
        Self(f)
    }
}

impl<F> fmt::Debug for FnPolicy<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FnPolicy(..)")
    }
}

impl<F> Policy for FnPolicy<F>
where
    F: Fn(&AccessRequest<'_>) -> Decision + Send + Sync + 'static,
{
    fn evaluate(&self, request: &AccessRequest<'_>) -> Decision {
        (self.0)(request)
    }
}
