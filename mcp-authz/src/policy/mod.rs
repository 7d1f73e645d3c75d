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

mod all_of;
mod fn_policy;
mod load;
mod requirement;
mod static_policy;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use rmcp::model::JsonObject;

use crate::Principal;

pub use all_of::AllOf;
pub use fn_policy::FnPolicy;
pub use requirement::{DefaultDecision, Requirement, Rule};
pub use static_policy::StaticPolicy;

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
