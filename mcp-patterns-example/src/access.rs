//! Who is calling, and which applications they may see: the reference server's view of an
//! authenticated principal, independent of where it came from (a verified token over HTTP, the
//! embedding application on stdio).

use std::collections::{BTreeMap, BTreeSet};

use crate::ExampleError;

/// The permission that lets a caller read an application's rules.
pub const READ: &str = "read";

/// The role that unlocks the admin tools `reset_firewall` and `refresh_cache`.
pub const ADMIN_ROLE: &str = "admin";

/// What a caller may access.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Access {
    /// Every application (the local operator on stdio, or a server run without authorization).
    All,
    /// Exactly these applications, each with its permissions (`read`, `write`, `admin`, …).
    Apps(BTreeMap<String, BTreeSet<String>>),
}

/// The caller of one request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Caller {
    /// Who: the token's `sub`, or `operator`.
    pub subject: String,
    /// Which applications.
    pub access: Access,
    /// Whether the caller holds the admin role.
    pub admin: bool,
}

impl Caller {
    /// The local operator: every application, admin. Used on stdio without an identity and when
    /// authorization is turned off.
    pub fn operator() -> Self {
        Self {
            subject: "operator".into(),
            access: Access::All,
            admin: true,
        }
    }

    /// A caller with exactly `apps` (application → permissions).
    pub fn with_apps<I, A, P>(subject: impl Into<String>, apps: I, admin: bool) -> Self
    where
        I: IntoIterator<Item = (A, P)>,
        A: Into<String>,
        P: IntoIterator,
        P::Item: Into<String>,
    {
        Self {
            subject: subject.into(),
            access: Access::Apps(
                apps.into_iter()
                    .map(|(app, perms)| (app.into(), perms.into_iter().map(Into::into).collect()))
                    .collect(),
            ),
            admin,
        }
    }

    /// Whether the caller holds `permission` on `app`.
    pub fn allows(&self, app: &str, permission: &str) -> bool {
        match &self.access {
            Access::All => true,
            Access::Apps(apps) => apps
                .get(app)
                .is_some_and(|perms| perms.contains(permission)),
        }
    }

    /// Refuses with [`ExampleError::NotEntitled`] unless the caller may read `app`.
    pub fn require_read(&self, app: &str) -> Result<(), ExampleError> {
        if self.allows(app, READ) {
            Ok(())
        } else {
            Err(ExampleError::NotEntitled {
                app: app.to_owned(),
                permission: READ,
            })
        }
    }

    /// The applications the caller may read; `None` means all of them.
    pub fn readable_apps(&self) -> Option<BTreeSet<String>> {
        match &self.access {
            Access::All => None,
            Access::Apps(apps) => Some(
                apps.iter()
                    .filter(|(_, perms)| perms.contains(READ))
                    .map(|(app, _)| app.clone())
                    .collect(),
            ),
        }
    }

    /// Refuses with [`ExampleError::AdminOnly`] unless the caller is an admin.
    pub fn require_admin(&self, tool: &'static str) -> Result<(), ExampleError> {
        if self.admin {
            Ok(())
        } else {
            Err(ExampleError::AdminOnly { tool })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_needs_the_read_permission_on_that_app() {
        let alice = Caller::with_apps("alice", [("app-alpha", ["read", "write"])], false);
        assert!(alice.require_read("app-alpha").is_ok());
        let err = alice.require_read("app-beta").expect_err("not entitled");
        assert_eq!(
            err.to_string(),
            "no entitlement for application 'app-beta' (needs 'read')"
        );
        let writer = Caller::with_apps("w", [("app-alpha", ["write"])], false);
        assert!(writer.require_read("app-alpha").is_err());
        assert_eq!(writer.readable_apps(), Some(BTreeSet::new()));
        assert!(Caller::operator().require_read("anything").is_ok());
        assert!(alice.require_admin("reset_firewall").is_err());
    }
}
