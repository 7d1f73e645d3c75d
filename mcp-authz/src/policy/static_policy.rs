//! [`StaticPolicy`]: a map from target names to [`Rule`]s.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{AccessRequest, Decision, DefaultDecision, Policy, Rule, TargetKind};

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
