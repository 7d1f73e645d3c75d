//! Cedar policies (`cedar-policy`), behind the `cedar` feature.

use std::fmt;
use std::str::FromStr;

use cedar_policy::{
    Authorizer, Context, Decision as CedarDecision, Entities, EntityUid, PolicySet, Request,
};
use serde_json::{Value, json};

use crate::error::ConfigError;
use crate::policy::{AccessRequest, Action, Decision, Policy, TargetKind};

/// A [`Policy`] written in [Cedar](https://www.cedarpolicy.com/). Each [`AccessRequest`]
/// becomes a Cedar request:
///
/// - principal `User::"<subject>"` with attributes `scopes` and `roles` (sets of strings) and
///   `entitlements` (a record `{ "<resource>": ["<permission>", …] }`), member of
///   `Role::"<role>"` for each of its roles;
/// - action `Action::"tools/call"`, `"tools/list"`, `"resources/read"`, `"resources/list"`,
///   `"prompts/get"` or `"prompts/list"`;
/// - resource `Tool::"<name>"`, `Resource::"<uri>"` or `Prompt::"<name>"`;
/// - context `{ "arguments": { … } }` (an empty record when the call has none).
///
/// Cedar denies by default; `forbid` overrides `permit`.
///
/// ```
/// use mcp_authz::{AccessRequest, Action, CedarPolicy, Policy, Principal, TargetKind};
///
/// let policy = CedarPolicy::from_text(r#"
///     permit(principal, action == Action::"tools/list", resource);
///     permit(principal in Role::"admin", action == Action::"tools/call", resource == Tool::"reset_firewall");
///     permit(principal, action == Action::"tools/call", resource == Tool::"get_firewall_rule")
///         when { principal.scopes.contains("firewall:read") };
/// "#).unwrap();
/// let dev = Principal::new("bob").with_roles(["developer"]).with_scopes(["firewall:read"]);
/// let ask = |action, name| policy.evaluate(&AccessRequest::new(&dev, action, TargetKind::Tool, name));
/// assert!(ask(Action::Invoke, "get_firewall_rule").is_allowed());
/// assert!(ask(Action::List, "reset_firewall").is_allowed());
/// assert!(!ask(Action::Invoke, "reset_firewall").is_allowed());
/// ```
#[derive(Clone)]
pub struct CedarPolicy {
    policies: PolicySet,
    authorizer: std::sync::Arc<Authorizer>,
}

impl fmt::Debug for CedarPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CedarPolicy")
            .field("policies", &self.policies.policies().count())
            .finish_non_exhaustive()
    }
}

impl CedarPolicy {
    /// Parses Cedar policy text.
    pub fn from_text(text: &str) -> Result<Self, ConfigError> {
        let policies = PolicySet::from_str(text).map_err(|e| ConfigError::Policy {
            reason: e.to_string(),
        })?;
        Ok(Self {
            policies,
            authorizer: std::sync::Arc::new(Authorizer::new()),
        })
    }

    /// Reads a `.cedar` policy file.
    pub fn from_file(path: impl AsRef<std::path::Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_text(&text)
    }

    fn request(request: &AccessRequest<'_>) -> Result<(Request, Entities), String> {
        let principal = request.principal;
        let uid = |ty: &str, id: &str| {
            EntityUid::from_json(json!({ "type": ty, "id": id })).map_err(|e| e.to_string())
        };
        let (resource_type, verb) = match request.kind {
            TargetKind::Tool => ("Tool", "tools"),
            TargetKind::Resource => ("Resource", "resources"),
            TargetKind::Prompt => ("Prompt", "prompts"),
            TargetKind::Task => ("Task", "tasks"),
            TargetKind::Skill => ("Skill", "skills"),
        };
        let action = match (request.action, request.kind) {
            (Action::List, _) => "list",
            (Action::Invoke, TargetKind::Tool) => "call",
            (Action::Invoke, TargetKind::Resource) => "read",
            (Action::Invoke, TargetKind::Prompt | TargetKind::Skill) => "get",
            (Action::Invoke, _) => "use",
        };
        let ents = &principal.entitlements;
        let entities = Entities::from_json_value(
            json!([{
                "uid": { "type": "User", "id": principal.subject },
                "attrs": {
                    "scopes": ents.scopes,
                    "roles": ents.roles,
                    "entitlements": ents.resources,
                },
                "parents": ents.roles.iter()
                    .map(|r| json!({ "type": "Role", "id": r }))
                    .collect::<Vec<_>>(),
            }]),
            None,
        )
        .map_err(|e| e.to_string())?;
        let arguments = request.arguments.map_or_else(
            || Value::Object(serde_json::Map::new()),
            |a| Value::Object(a.clone()),
        );
        let context = Context::from_json_value(json!({ "arguments": arguments }), None)
            .map_err(|e| e.to_string())?;
        let cedar_request = Request::new(
            uid("User", &principal.subject)?,
            uid("Action", &format!("{verb}/{action}"))?,
            uid(resource_type, request.name)?,
            context,
            None,
        )
        .map_err(|e| e.to_string())?;
        Ok((cedar_request, entities))
    }
}

impl Policy for CedarPolicy {
    fn evaluate(&self, request: &AccessRequest<'_>) -> Decision {
        let (cedar_request, entities) = match Self::request(request) {
            Ok(built) => built,
            Err(error) => return Decision::deny(format!("cedar request invalid: {error}")),
        };
        let response = self
            .authorizer
            .is_authorized(&cedar_request, &self.policies, &entities);
        match response.decision() {
            CedarDecision::Allow => Decision::Allow,
            CedarDecision::Deny => {
                let forbids: Vec<String> = response
                    .diagnostics()
                    .reason()
                    .map(ToString::to_string)
                    .collect();
                if forbids.is_empty() {
                    Decision::deny("no cedar policy permits this")
                } else {
                    Decision::deny(format!("forbidden by cedar policy {}", forbids.join(", ")))
                }
            }
        }
    }
}
