//! What a target requires: [`Requirement`], [`Rule`] and the [`DefaultDecision`] for targets no
//! rule names.

use serde::Deserialize;

use super::{Action, Decision};
use crate::Principal;
use crate::principal::join;

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

    pub(super) fn check(&self, action: Action, principal: &Principal) -> Decision {
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

impl From<Requirement> for Rule {
    fn from(requirement: Requirement) -> Self {
        Self::new(requirement)
    }
}
