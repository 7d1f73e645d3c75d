//! Who is calling, and which applications they may see: the reference server's view of an
//! authenticated principal, independent of where it came from (a verified token over HTTP, the
//! embedding application on stdio).

use std::collections::{BTreeMap, BTreeSet};

use mcp_authz::{Principal, filter_entitled, require_entitlement};

use crate::ExampleError;

/// The permission that lets a caller read an application's rules.
pub const READ: &str = "read";

/// The role that unlocks the admin tools `reset_firewall` and `refresh_cache`.
pub const ADMIN_ROLE: &str = "admin";

/// The entitlement key that grants its permissions on every application (mcp-authz's wildcard).
const EVERY_APP: &str = "*";

/// What a caller may access, as a summary of its entitlements.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Access {
    /// Every application (the local operator on stdio, or a server run without authorization).
    All,
    /// Exactly these applications, each with its permissions (`read`, `write`, `admin`, …).
    Apps(BTreeMap<String, BTreeSet<String>>),
}

/// The caller of one request: a principal as mcp-authz knows it (subject, roles, per-application
/// entitlements), whatever it came from — a verified token over HTTP, or the local operator.
/// Every entitlement check of the server goes through mcp-authz's
/// [`require_entitlement`] and [`filter_entitled`] on it.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Who: the token's `sub`, or `operator`.
    pub subject: String,
    /// Whether the caller holds the admin role.
    pub admin: bool,
    principal: Principal,
}

impl Caller {
    /// The caller `principal` stands for, as it is: its entitlements decide what it may read
    /// (including the `"*"` key, granting on every application), its roles whether it is an
    /// admin. [`Caller::from_principal`] is the one for verified tokens.
    pub fn of(principal: Principal) -> Self {
        Self {
            subject: principal.subject.clone(),
            admin: principal.has_role(ADMIN_ROLE),
            principal,
        }
    }

    /// The local operator: every application, admin. Used on stdio without an identity and when
    /// authorization is turned off.
    pub fn operator() -> Self {
        Self::of(
            Principal::new("operator")
                .with_permissions(EVERY_APP, [READ, "write", "admin"])
                .with_roles([ADMIN_ROLE]),
        )
    }

    /// A caller with exactly `apps` (application → permissions).
    pub fn with_apps<I, A, P>(subject: impl Into<String>, apps: I, admin: bool) -> Self
    where
        I: IntoIterator<Item = (A, P)>,
        A: Into<String>,
        P: IntoIterator,
        P::Item: Into<String>,
    {
        let mut principal = Principal::new(subject);
        for (app, perms) in apps {
            principal = principal.with_permissions(app, perms);
        }
        if admin {
            principal = principal.with_roles([ADMIN_ROLE]);
        }
        Self::of(principal)
    }

    /// The same caller, entitled to read every application (the INSECURE evaluation mode of
    /// [`FirewallServer::data_filter`](crate::FirewallServer::data_filter)).
    #[must_use]
    pub fn entitled_to_everything(&self) -> Self {
        Self::of(self.principal.clone().with_permissions(EVERY_APP, [READ]))
    }

    /// The principal behind the caller.
    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    /// What the caller may access.
    pub fn access(&self) -> Access {
        let resources = &self.principal.entitlements.resources;
        if resources.contains_key(EVERY_APP) {
            Access::All
        } else {
            Access::Apps(resources.clone())
        }
    }

    /// Whether the caller holds `permission` on `app`.
    pub fn allows(&self, app: &str, permission: &str) -> bool {
        require_entitlement(&self.principal, app, permission).is_ok()
    }

    /// Refuses with [`ExampleError::NotEntitled`] unless the caller may read `app`.
    pub fn require_read(&self, app: &str) -> Result<(), ExampleError> {
        require_entitlement(&self.principal, app, READ).map_err(|_| ExampleError::NotEntitled {
            app: app.to_owned(),
            permission: READ,
        })
    }

    /// Keeps the items the caller may read, by application name (`app(item)`); order kept.
    pub fn readable<T, I>(&self, items: I, app: impl Fn(&T) -> &str) -> Vec<T>
    where
        I: IntoIterator<Item = T>,
    {
        filter_entitled(&self.principal, READ, items, app)
    }

    /// The applications the caller may read; `None` means all of them.
    pub fn readable_apps(&self) -> Option<BTreeSet<String>> {
        if self.allows(EVERY_APP, READ) {
            return None;
        }
        let apps = self.principal.entitlements.resources.keys();
        Some(
            self.readable(apps, |app| app)
                .into_iter()
                .cloned()
                .collect(),
        )
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
        assert_eq!(
            alice.readable_apps(),
            Some(BTreeSet::from(["app-alpha".to_owned()]))
        );
        let everything = alice.entitled_to_everything();
        assert_eq!(everything.readable_apps(), None);
        assert!(everything.allows("app-beta", READ));
        assert!(!everything.allows("app-beta", "write"));
        assert_eq!(Caller::operator().access(), Access::All);
    }
}
