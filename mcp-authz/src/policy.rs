//! Authorization policies: what a principal may see and invoke.
//!
//! A [`Policy`] answers one question, [`Policy::evaluate`], for an [`AccessRequest`]: may this
//! principal *see* ([`Action::List`]) or *use* ([`Action::Invoke`]) this tool, resource or prompt
//! (with these arguments)? [`AuthzHandler`](crate::AuthzHandler) asks it for every list entry
//! (layer 2) and for every call or read (layer 3). When an invocation is denied it asks again
//! with [`Action::List`]: if the target is visible the caller gets a clear
//! insufficient-permissions error, otherwise exactly the error an unknown target gets.
//!
//! Policies in this crate: [`StaticPolicy`] (a map from names to required scopes/roles, in code
//! or from a TOML/JSON file), [`FnPolicy`] (attribute-based closures that see the tool name and
//! arguments), [`AllOf`] (every policy must allow) and, behind the `cedar` feature,
//! `CedarPolicy`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use rmcp::model::JsonObject;
use serde::Deserialize;

use crate::Principal;
use crate::error::ConfigError;
use crate::principal::join;

/// Whether the principal wants to see a target or use it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Action {
    /// Appear in `tools/list`, `resources/list`, `resources/templates/list`, `prompts/list`
    /// (layer 2, visibility).
    List,
    /// `tools/call`, `resources/read`, `resources/subscribe`, `prompts/get` (layer 3).
    Invoke,
}

/// What kind of MCP object is the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TargetKind {
    /// A tool, named by its tool name.
    Tool,
    /// A resource, named by its URI (or, in `resources/templates/list`, by its URI template).
    Resource,
    /// A prompt, named by its prompt name.
    Prompt,
    /// A task (`tasks/get`, `tasks/update`, `tasks/cancel`), named by its task id.
    Task,
    /// A skill (`skills/list`, `skills/get`), named by the URI of its `SKILL.md`.
    Skill,
}

impl TargetKind {
    /// `"tool"`, `"resource"`, `"prompt"`, `"task"` or `"skill"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tool => "tool",
            Self::Resource => "resource",
            Self::Prompt => "prompt",
            Self::Task => "task",
            Self::Skill => "skill",
        }
    }
}

/// One question to a [`Policy`].
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct AccessRequest<'a> {
    /// Who asks.
    pub principal: &'a Principal,
    /// See or use.
    pub action: Action,
    /// Tool, resource or prompt.
    pub kind: TargetKind,
    /// The tool or prompt name, or the resource URI.
    pub name: &'a str,
    /// The call's arguments (`tools/call`, `prompts/get`); `None` for lists and reads.
    pub arguments: Option<&'a JsonObject>,
}

impl<'a> AccessRequest<'a> {
    /// A request about `name` of `kind`, without arguments.
    pub fn new(principal: &'a Principal, action: Action, kind: TargetKind, name: &'a str) -> Self {
        Self {
            principal,
            action,
            kind,
            name,
            arguments: None,
        }
    }

    /// Adds the call's arguments.
    #[must_use]
    pub fn with_arguments(mut self, arguments: Option<&'a JsonObject>) -> Self {
        self.arguments = arguments;
        self
    }

    /// The string argument `name`, if present.
    pub fn str_argument(&self, name: &str) -> Option<&'a str> {
        self.arguments?.get(name)?.as_str()
    }
}

/// A policy's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Permitted.
    Allow,
    /// Refused, with a short reason for the audit record and the caller (never secret).
    Deny {
        /// Why, e.g. `requires scope firewall:admin`.
        reason: String,
    },
}

impl Decision {
    /// A denial with `reason`.
    pub fn deny(reason: impl Into<String>) -> Self {
        Self::Deny {
            reason: reason.into(),
        }
    }

    /// Whether this is [`Decision::Allow`].
    pub fn is_allowed(&self) -> bool {
        matches!(self, Self::Allow)
    }

    /// `Allow` when `allowed`, otherwise a denial with `reason()`.
    pub fn allow_if(allowed: bool, reason: impl FnOnce() -> String) -> Self {
        if allowed {
            Self::Allow
        } else {
            Self::deny(reason())
        }
    }
}

/// Decides whether a principal may see or use a tool, resource or prompt.
///
/// Implementations must be cheap and must not block: they run on every list entry and every
/// call.
pub trait Policy: Send + Sync + 'static {
    /// Answers `request`.
    fn evaluate(&self, request: &AccessRequest<'_>) -> Decision;
}

impl<P: Policy + ?Sized> Policy for Arc<P> {
    fn evaluate(&self, request: &AccessRequest<'_>) -> Decision {
        (**self).evaluate(request)
    }
}

impl<P: Policy + ?Sized> Policy for Box<P> {
    fn evaluate(&self, request: &AccessRequest<'_>) -> Decision {
        (**self).evaluate(request)
    }
}

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

/// Every policy must allow; the first denial (in order) is the answer. An empty `AllOf` allows.
#[derive(Clone, Default)]
pub struct AllOf(Vec<Arc<dyn Policy>>);

impl fmt::Debug for AllOf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AllOf({} policies)", self.0.len())
    }
}

impl AllOf {
    /// No policies yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a policy.
    #[must_use]
    pub fn with(mut self, policy: impl Policy) -> Self {
        self.0.push(Arc::new(policy));
        self
    }

    pub(crate) fn push(&mut self, policy: Arc<dyn Policy>) {
        self.0.push(policy);
    }

    /// Number of policies.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Policy for AllOf {
    fn evaluate(&self, request: &AccessRequest<'_>) -> Decision {
        for policy in &self.0 {
            let decision = policy.evaluate(request);
            if !decision.is_allowed() {
                return decision;
            }
        }
        Decision::Allow
    }
}

/// What a principal needs: every scope in `scopes` and, if `roles` is not empty, at least one of
/// `roles` (roles are already expanded through the role hierarchy).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Requirement {
    /// Scopes that are all required.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Roles of which one is required (none: no role needed).
    #[serde(default)]
    pub roles: Vec<String>,
}

impl Requirement {
    /// Nothing required (any authenticated principal).
    pub fn none() -> Self {
        Self::default()
    }

    /// Requires every scope in `scopes`.
    #[must_use]
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes.extend(scopes.into_iter().map(Into::into));
        self
    }

    /// Requires one of `roles`.
    #[must_use]
    pub fn roles<I, S>(mut self, roles: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.roles.extend(roles.into_iter().map(Into::into));
        self
    }

    /// Checks `principal`; the denial names what is missing.
    pub fn check(&self, principal: &Principal) -> Decision {
        check_requirement(&self.scopes, &self.roles, principal)
    }
}

/// All of `scopes` and one of `roles` (if any); the denial names what is missing.
fn check_requirement(scopes: &[String], roles: &[String], principal: &Principal) -> Decision {
    if scopes.iter().any(|s| !principal.has_scope(s)) {
        let missing = scopes.iter().filter(|s| !principal.has_scope(s));
        return Decision::deny(format!("requires scope {}", join(missing)));
    }
    if !roles.is_empty() && !roles.iter().any(|r| principal.has_role(r)) {
        return Decision::deny(format!("requires role {}", roles.join(" or ")));
    }
    Decision::Allow
}

/// The rule for one tool, resource or prompt: what invoking it requires and, optionally, a
/// weaker requirement for seeing it. Without `visible`, a target is visible exactly to those who
/// may invoke it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Rule {
    /// Scopes that are all required to invoke.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Roles of which one is required to invoke.
    #[serde(default)]
    pub roles: Vec<String>,
    /// What seeing the target requires, if less than invoking it.
    #[serde(default)]
    pub visible: Option<Requirement>,
}

impl Rule {
    /// Invoking requires `requirement`; visible to the same principals.
    pub fn new(requirement: Requirement) -> Self {
        Self {
            scopes: requirement.scopes,
            roles: requirement.roles,
            visible: None,
        }
    }

    /// Makes the target visible to principals meeting `requirement` (e.g.
    /// [`Requirement::none`]: everyone sees it, only some may use it).
    #[must_use]
    pub fn visible_to(mut self, requirement: Requirement) -> Self {
        self.visible = Some(requirement);
        self
    }

    fn check(&self, action: Action, principal: &Principal) -> Decision {
        match (action, &self.visible) {
            (Action::List, Some(visible)) => visible.check(principal),
            _ => check_requirement(&self.scopes, &self.roles, principal),
        }
    }
}

/// What happens to a target no rule names.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DefaultDecision {
    /// Unlisted targets are hidden and refused (zero trust; the default).
    #[default]
    Deny,
    /// Unlisted targets are open to every authenticated principal.
    Allow,
}

/// A static map from tool names, resource URIs and prompt names to [`Rule`]s.
///
/// Resource keys ending in `*` match every URI starting with the rest (`cache://firewalls/*`).
/// Targets no rule names follow [`StaticPolicy::default_decision`] (deny unless set).
///
/// The same map loads from TOML or JSON:
///
/// ```
/// use mcp_authz::{AccessRequest, Action, Policy, Principal, StaticPolicy, TargetKind};
///
/// let policy = StaticPolicy::from_toml(r#"
///     default = "deny"
///
///     [tools.list_firewall_rules]
///     scopes = ["firewall:read"]
///
///     [tools.reset_firewall]
///     scopes = ["firewall:admin"]
///     roles = ["admin"]
///     visible = { scopes = ["mcp:access"] }   # everyone sees it, only admins may call it
///
///     [resources."cache://firewalls*"]
///     scopes = ["firewall:read"]
/// "#).unwrap();
///
/// let reader = Principal::new("alice").with_scopes(["mcp:access", "firewall:read"]);
/// let ask = |action, name| policy.evaluate(&AccessRequest::new(&reader, action, TargetKind::Tool, name));
/// assert!(ask(Action::Invoke, "list_firewall_rules").is_allowed());
/// assert!(ask(Action::List, "reset_firewall").is_allowed());
/// assert!(!ask(Action::Invoke, "reset_firewall").is_allowed());
/// assert!(!ask(Action::List, "not_in_the_map").is_allowed());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticPolicy {
    #[serde(default)]
    default: DefaultDecision,
    #[serde(default)]
    tools: BTreeMap<String, Rule>,
    #[serde(default)]
    resources: BTreeMap<String, Rule>,
    #[serde(default)]
    prompts: BTreeMap<String, Rule>,
    #[serde(default)]
    tasks: BTreeMap<String, Rule>,
    #[serde(default)]
    skills: BTreeMap<String, Rule>,
}

impl StaticPolicy {
    /// An empty map that denies everything not listed.
    pub fn new() -> Self {
        Self::default()
    }

    /// What targets no rule names get.
    #[must_use]
    pub fn default_decision(mut self, default: DefaultDecision) -> Self {
        self.default = default;
        self
    }

    /// Sets the rule for tool `name`.
    #[must_use]
    pub fn tool(mut self, name: impl Into<String>, rule: impl Into<Rule>) -> Self {
        self.tools.insert(name.into(), rule.into());
        self
    }

    /// Sets the rule for resource `uri` (a trailing `*` matches any suffix).
    #[must_use]
    pub fn resource(mut self, uri: impl Into<String>, rule: impl Into<Rule>) -> Self {
        self.resources.insert(uri.into(), rule.into());
        self
    }

    /// Sets the rule for prompt `name`.
    #[must_use]
    pub fn prompt(mut self, name: impl Into<String>, rule: impl Into<Rule>) -> Self {
        self.prompts.insert(name.into(), rule.into());
        self
    }

    /// Sets the rule for task `id`; `"*"` is the rule of every task without one of its own.
    #[must_use]
    pub fn task(mut self, id: impl Into<String>, rule: impl Into<Rule>) -> Self {
        self.tasks.insert(id.into(), rule.into());
        self
    }

    /// Sets the rule for the skill whose `SKILL.md` is at `uri` (a trailing `*` matches any
    /// suffix).
    #[must_use]
    pub fn skill(mut self, uri: impl Into<String>, rule: impl Into<Rule>) -> Self {
        self.skills.insert(uri.into(), rule.into());
        self
    }

    /// Parses a TOML policy document (see the type docs for the format).
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Policy {
            reason: e.to_string(),
        })
    }

    /// Parses a JSON policy document with the same shape as the TOML one.
    pub fn from_json(text: &str) -> Result<Self, ConfigError> {
        serde_json::from_str(text).map_err(|e| ConfigError::Policy {
            reason: e.to_string(),
        })
    }

    /// Reads a policy file: JSON when the name ends in `.json`, TOML otherwise.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.display().to_string(),
            source,
        })?;
        if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"))
        {
            Self::from_json(&text)
        } else {
            Self::from_toml(&text)
        }
    }

    fn rule(&self, kind: TargetKind, name: &str) -> Option<&Rule> {
        match kind {
            TargetKind::Tool => self.tools.get(name),
            TargetKind::Prompt => self.prompts.get(name),
            TargetKind::Resource => longest_prefix(&self.resources, name),
            TargetKind::Skill => longest_prefix(&self.skills, name),
            // Task ids are made up at run time: one rule, `"*"`, covers every task.
            TargetKind::Task => self.tasks.get(name).or_else(|| self.tasks.get("*")),
        }
    }
}

/// The rule named exactly `name`, else the one whose `prefix*` key is the longest prefix of it.
fn longest_prefix<'a>(rules: &'a BTreeMap<String, Rule>, name: &str) -> Option<&'a Rule> {
    rules.get(name).or_else(|| {
        rules
            .iter()
            .filter_map(|(key, rule)| {
                let prefix = key.strip_suffix('*')?;
                name.starts_with(prefix).then_some((prefix.len(), rule))
            })
            .max_by_key(|(len, _)| *len)
            .map(|(_, rule)| rule)
    })
}

impl From<Requirement> for Rule {
    fn from(requirement: Requirement) -> Self {
        Self::new(requirement)
    }
}

impl Policy for StaticPolicy {
    fn evaluate(&self, request: &AccessRequest<'_>) -> Decision {
        match self.rule(request.kind, request.name) {
            Some(rule) => rule.check(request.action, request.principal),
            None => match self.default {
                DefaultDecision::Allow => Decision::Allow,
                DefaultDecision::Deny => Decision::deny(format!(
                    "no rule grants access to {} {}",
                    request.kind.as_str(),
                    request.name
                )),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(
        policy: &impl Policy,
        p: &Principal,
        action: Action,
        kind: TargetKind,
        name: &str,
    ) -> Decision {
        policy.evaluate(&AccessRequest::new(p, action, kind, name))
    }

    #[test]
    fn static_rules_and_prefixes() {
        let policy = StaticPolicy::new()
            .tool("read", Requirement::none().scopes(["r"]))
            .tool(
                "admin",
                Rule::new(Requirement::none().roles(["admin"])).visible_to(Requirement::none()),
            )
            .resource("cache://a/*", Requirement::none().scopes(["r"]))
            .resource("cache://a/secret*", Requirement::none().roles(["admin"]));
        let reader = Principal::new("u").with_scopes(["r"]);
        assert!(ask(&policy, &reader, Action::Invoke, TargetKind::Tool, "read").is_allowed());
        assert_eq!(
            ask(&policy, &reader, Action::Invoke, TargetKind::Tool, "admin"),
            Decision::deny("requires role admin")
        );
        assert!(ask(&policy, &reader, Action::List, TargetKind::Tool, "admin").is_allowed());
        assert!(
            ask(
                &policy,
                &reader,
                Action::Invoke,
                TargetKind::Resource,
                "cache://a/x"
            )
            .is_allowed()
        );
        assert!(
            !ask(
                &policy,
                &reader,
                Action::Invoke,
                TargetKind::Resource,
                "cache://a/secret/1"
            )
            .is_allowed()
        );
        assert!(!ask(&policy, &reader, Action::List, TargetKind::Prompt, "p").is_allowed());
        let open = policy.clone().default_decision(DefaultDecision::Allow);
        assert!(ask(&open, &reader, Action::List, TargetKind::Prompt, "p").is_allowed());
        let nobody = Principal::new("n");
        assert_eq!(
            ask(&policy, &nobody, Action::Invoke, TargetKind::Tool, "read"),
            Decision::deny("requires scope r")
        );
    }

    #[test]
    fn json_and_toml_agree() {
        let toml =
            StaticPolicy::from_toml("[tools.t]\nscopes = [\"a\"]\nvisible = { roles = [\"x\"] }\n")
                .unwrap();
        let json = StaticPolicy::from_json(
            r#"{"tools": {"t": {"scopes": ["a"], "visible": {"roles": ["x"]}}}}"#,
        )
        .unwrap();
        assert_eq!(toml, json);
        let err = StaticPolicy::from_toml("[tools.t]\nscope = [\"a\"]\n").unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
    }

    #[test]
    fn policy_files_by_extension() {
        let dir = std::env::temp_dir().join(format!("mcp-authz-policy-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let toml = dir.join("policy.toml");
        let json = dir.join("policy.json");
        std::fs::write(
            &toml,
            "default = \"allow\"\n[tools.t]\nroles = [\"admin\"]\n",
        )
        .unwrap();
        std::fs::write(
            &json,
            r#"{"default": "allow", "tools": {"t": {"roles": ["admin"]}}}"#,
        )
        .unwrap();
        let from_toml = StaticPolicy::from_file(&toml).unwrap();
        assert_eq!(from_toml, StaticPolicy::from_file(&json).unwrap());
        let p = Principal::new("u");
        assert!(ask(&from_toml, &p, Action::List, TargetKind::Tool, "other").is_allowed());
        assert!(!ask(&from_toml, &p, Action::List, TargetKind::Tool, "t").is_allowed());
        let missing = StaticPolicy::from_file(dir.join("missing.toml")).unwrap_err();
        assert!(matches!(missing, ConfigError::Io { .. }), "{missing}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn all_of_takes_first_denial() {
        let p = Principal::new("u");
        let all = AllOf::new()
            .with(FnPolicy::new(|_: &AccessRequest<'_>| Decision::Allow))
            .with(FnPolicy::new(|r: &AccessRequest<'_>| {
                Decision::deny(format!("no {}", r.name))
            }));
        assert_eq!(
            ask(&all, &p, Action::List, TargetKind::Tool, "t"),
            Decision::deny("no t")
        );
        assert!(ask(&AllOf::new(), &p, Action::List, TargetKind::Tool, "t").is_allowed());
    }
}
