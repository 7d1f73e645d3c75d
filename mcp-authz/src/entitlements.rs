//! Entitlements (scopes, roles, per-resource permissions) and how claims become them.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

/// What a principal may do: scopes, roles (already expanded through the role hierarchy) and
/// per-resource permissions such as `{"app-alpha": ["read", "write"]}`.
///
/// The resource key `"*"` grants its permissions on every resource.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct Entitlements {
    /// OAuth scopes.
    pub scopes: BTreeSet<String>,
    /// Roles, including every role implied through the hierarchy.
    pub roles: BTreeSet<String>,
    /// Permissions per resource (application, tenant, …).
    pub resources: BTreeMap<String, BTreeSet<String>>,
}

impl Entitlements {
    /// Whether `permission` is granted on `resource` (directly or through the `"*"` key).
    pub fn allows(&self, resource: &str, permission: &str) -> bool {
        let has = |key: &str| {
            self.resources
                .get(key)
                .is_some_and(|perms| perms.contains(permission))
        };
        has(resource) || has("*")
    }
}

/// Which roles imply which others (`admin` implies `developer` …). Expansion is transitive and
/// cycle-safe.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoleHierarchy {
    implies: BTreeMap<String, BTreeSet<String>>,
}

impl RoleHierarchy {
    /// An empty hierarchy (every role stands alone).
    pub fn new() -> Self {
        Self::default()
    }

    /// Declares that `role` implies each of `implied`.
    #[must_use]
    pub fn with<I, S>(mut self, role: impl Into<String>, implied: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.implies
            .entry(role.into())
            .or_default()
            .extend(implied.into_iter().map(Into::into));
        self
    }

    /// `roles` plus every role they imply, transitively.
    pub fn expand<I, S>(&self, roles: I) -> BTreeSet<String>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut out = BTreeSet::new();
        let mut todo: Vec<String> = roles.into_iter().map(Into::into).collect();
        while let Some(role) = todo.pop() {
            if let Some(implied) = self.implies.get(&role) {
                todo.extend(implied.iter().filter(|r| !out.contains(*r)).cloned());
            }
            out.insert(role);
        }
        out
    }
}

/// Turns token claims, an introspection response or a userinfo document into [`Entitlements`]
///. Verifiers call it once per token; the result is cached with the principal.
pub trait EntitlementMapper: Send + Sync + 'static {
    /// Maps `claims` (a JSON object) to entitlements. Must not fail: unknown shapes map to
    /// fewer entitlements, never to more.
    fn map(&self, claims: &Value) -> Entitlements;
}

impl<F> EntitlementMapper for F
where
    F: Fn(&Value) -> Entitlements + Send + Sync + 'static,
{
    fn map(&self, claims: &Value) -> Entitlements {
        self(claims)
    }
}

/// The mapper for the common claim shapes:
///
/// - scopes from `scope` (space-separated string, RFC 8693/9068) and `scp` (array or string);
/// - roles from `roles` (array or string), expanded through a [`RoleHierarchy`];
/// - per-resource permissions from `entitlements.applications.{app}: [perms]` (the JSON pointer
///   is configurable with [`DefaultMapper::resources_pointer`]).
#[derive(Debug, Clone)]
pub struct DefaultMapper {
    hierarchy: RoleHierarchy,
    roles_pointer: String,
    resources_pointer: String,
}

impl Default for DefaultMapper {
    fn default() -> Self {
        Self {
            hierarchy: RoleHierarchy::default(),
            roles_pointer: "/roles".into(),
            resources_pointer: "/entitlements/applications".into(),
        }
    }
}

impl DefaultMapper {
    /// The default shapes, no role hierarchy.
    pub fn new() -> Self {
        Self::default()
    }

    /// Uses `hierarchy` to expand roles.
    #[must_use]
    pub fn role_hierarchy(mut self, hierarchy: RoleHierarchy) -> Self {
        self.hierarchy = hierarchy;
        self
    }

    /// Reads roles from this JSON pointer (default `/roles`; Keycloak uses
    /// `/realm_access/roles`).
    #[must_use]
    pub fn roles_pointer(mut self, pointer: impl Into<String>) -> Self {
        self.roles_pointer = pointer.into();
        self
    }

    /// Reads per-resource permissions from this JSON pointer (default
    /// `/entitlements/applications`), an object of `resource: [permissions]`.
    #[must_use]
    pub fn resources_pointer(mut self, pointer: impl Into<String>) -> Self {
        self.resources_pointer = pointer.into();
        self
    }
}

fn strings(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::String(s)) => s.split_whitespace().map(str::to_owned).collect(),
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

impl EntitlementMapper for DefaultMapper {
    fn map(&self, claims: &Value) -> Entitlements {
        let mut scopes: BTreeSet<String> = strings(claims.get("scope")).into_iter().collect();
        scopes.extend(strings(claims.get("scp")));
        let roles = self
            .hierarchy
            .expand(strings(claims.pointer(&self.roles_pointer)));
        let resources = claims
            .pointer(&self.resources_pointer)
            .and_then(Value::as_object)
            .map(|apps| {
                apps.iter()
                    .map(|(app, perms)| (app.clone(), strings(Some(perms)).into_iter().collect()))
                    .collect()
            })
            .unwrap_or_default();
        Entitlements {
            scopes,
            roles,
            resources,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn default_mapper_reads_common_shapes() {
        let mapper = DefaultMapper::new().role_hierarchy(
            RoleHierarchy::new()
                .with("admin", ["developer"])
                .with("developer", ["viewer"])
                .with("viewer", ["admin"]), // a cycle must not loop
        );
        let e = mapper.map(&json!({
            "scope": "mcp:access firewall:read",
            "scp": ["extra"],
            "roles": ["developer"],
            "entitlements": {"applications": {"app-alpha": ["read", "write"], "bad": 3}}
        }));
        assert_eq!(
            e.scopes.iter().map(String::as_str).collect::<Vec<_>>(),
            ["extra", "firewall:read", "mcp:access"]
        );
        assert_eq!(
            e.roles.iter().map(String::as_str).collect::<Vec<_>>(),
            ["admin", "developer", "viewer"]
        );
        assert!(e.allows("app-alpha", "write"));
        assert!(!e.allows("bad", "read"));
        assert!(!e.allows("app-beta", "read"));
    }

    #[test]
    fn hierarchy_is_one_way() {
        let h = RoleHierarchy::new().with("admin", ["developer"]);
        assert!(h.expand(["admin"]).contains("developer"));
        assert!(!h.expand(["developer"]).contains("admin"));
    }

    #[test]
    fn wildcard_resource() {
        let mut e = Entitlements::default();
        e.resources.insert("*".into(), ["read".into()].into());
        assert!(e.allows("anything", "read"));
        assert!(!e.allows("anything", "write"));
    }
}
