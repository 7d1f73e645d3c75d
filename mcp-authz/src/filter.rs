//! Layer 4: data filtering inside tools.

use crate::Principal;
use crate::error::EntitlementError;

/// Checks that `principal` holds `permission` on `resource` (e.g. an application named in the
/// tool's arguments) and says which entitlement is missing if not.
///
/// ```
/// use mcp_authz::{Principal, require_entitlement};
///
/// let alice = Principal::new("alice").with_permissions("app-alpha", ["read"]);
/// assert!(require_entitlement(&alice, "app-alpha", "read").is_ok());
/// let err = require_entitlement(&alice, "app-beta", "read").unwrap_err();
/// assert_eq!(err.to_string(), "no read entitlement for application app-beta");
/// // In a tool: `return Ok(err.to_tool_result())`, or `?` into an `rmcp::ErrorData`.
/// ```
pub fn require_entitlement(
    principal: &Principal,
    resource: &str,
    permission: &str,
) -> Result<(), EntitlementError> {
    if principal.entitlements.allows(resource, permission) {
        Ok(())
    } else {
        Err(EntitlementError {
            resource: resource.to_owned(),
            permission: permission.to_owned(),
        })
    }
}

/// Keeps the items of a result set whose entitlement key (`key(item)`, e.g. the application
/// name) `principal` holds `permission` on; order is preserved.
///
/// ```
/// use mcp_authz::{Principal, filter_entitled};
///
/// let alice = Principal::new("alice").with_permissions("app-alpha", ["read"]);
/// let rules = vec![("app-alpha", 1), ("app-beta", 2), ("app-alpha", 3)];
/// let mine = filter_entitled(&alice, "read", rules, |r| r.0);
/// assert_eq!(mine, [("app-alpha", 1), ("app-alpha", 3)]);
/// ```
pub fn filter_entitled<T, I, K>(principal: &Principal, permission: &str, items: I, key: K) -> Vec<T>
where
    I: IntoIterator<Item = T>,
    K: Fn(&T) -> &str,
{
    items
        .into_iter()
        .filter(|item| principal.entitlements.allows(key(item), permission))
        .collect()
}
