//! The firewall domain: rules grouped by application.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ExampleError;

/// Direction of traffic a rule applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Traffic into the application.
    Ingress,
    /// Traffic out of the application.
    Egress,
}

/// What a rule does with matching traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Let it through.
    Allow,
    /// Drop it.
    Deny,
}

/// One firewall rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct FirewallRule {
    /// Stable rule id.
    pub id: String,
    /// Traffic direction.
    pub direction: Direction,
    /// `tcp`, `udp` or `icmp`.
    pub protocol: String,
    /// Port or port range (`443`, `8000-8099`); empty for ICMP.
    pub ports: String,
    /// Peer address range in CIDR notation.
    pub cidr: String,
    /// Allow or deny.
    pub action: Action,
    /// Human description.
    pub description: String,
}

/// The rules of one application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AppFirewall {
    /// The application name, e.g. `app-alpha`.
    pub app_name: String,
    /// Its rules, in evaluation order.
    pub rules: Vec<FirewallRule>,
}

/// A change to an application's rules that a user asked for and that waits for review: the
/// per-user data of the downstream (`GET /api/v1/me/change-requests`), which the hybrid cache
/// scope keeps in each user's overlay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ChangeRequest {
    /// Stable id, e.g. `cr-1001`.
    pub id: String,
    /// The application the change is for.
    pub app_name: String,
    /// What the user asked for.
    pub summary: String,
    /// `pending`, `approved` or `rejected`.
    pub status: String,
}

/// Longest accepted application name.
pub const MAX_APP_NAME_LEN: usize = 64;

/// Checks that `name` is a plausible application name: 1 to 64 characters of ASCII lowercase
/// letters, digits, `-`, `_` or `.`, not starting with `.`. Anything else (path separators,
/// whitespace, unicode look-alikes, control characters) is refused before it reaches the
/// downstream.
pub fn validate_app_name(name: &str) -> Result<(), ExampleError> {
    if name.is_empty() {
        return Err(ExampleError::InvalidAppName {
            reason: "it is empty",
        });
    }
    if name.len() > MAX_APP_NAME_LEN {
        return Err(ExampleError::InvalidAppName {
            reason: "it is longer than 64 characters",
        });
    }
    if name.starts_with('.') {
        return Err(ExampleError::InvalidAppName {
            reason: "it starts with '.'",
        });
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err(ExampleError::InvalidAppName {
            reason: "only lowercase ASCII letters, digits, '-', '_' and '.' are allowed",
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_names() {
        assert!(validate_app_name("app-alpha").is_ok());
        for bad in [
            "",
            "../etc/passwd",
            "app alpha",
            "APP",
            ".hidden",
            "аpp", // Cyrillic a
            "a/b",
            &"x".repeat(65),
        ] {
            assert!(validate_app_name(bad).is_err(), "{bad:?} accepted");
        }
    }
}
