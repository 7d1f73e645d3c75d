//! Layer 4: result-set filtering returns exactly the entitled items (property test).

use std::collections::{BTreeMap, BTreeSet};

use mcp_authz::{Principal, filter_entitled, require_entitlement};
use proptest::prelude::*;

const APPS: [&str; 5] = ["app-alpha", "app-beta", "app-gamma", "app-delta", "*"];
const PERMS: [&str; 3] = ["read", "write", "admin"];

fn grants() -> impl Strategy<Value = BTreeMap<&'static str, BTreeSet<&'static str>>> {
    prop::collection::btree_map(
        prop::sample::select(&APPS[..]),
        prop::collection::btree_set(prop::sample::select(&PERMS[..]), 0..3),
        0..5,
    )
}

fn items() -> impl Strategy<Value = Vec<(&'static str, u32)>> {
    // Items keyed by application; "*" never names a real item, and one key is unknown to all.
    prop::collection::vec(
        (
            prop::sample::select(
                &[
                    "app-alpha",
                    "app-beta",
                    "app-gamma",
                    "app-delta",
                    "app-omega",
                ][..],
            ),
            any::<u32>(),
        ),
        0..40,
    )
}

proptest! {
    #[test]
    fn only_entitled_items_are_returned(grants in grants(), items in items(), perm in prop::sample::select(&PERMS[..])) {
        let mut principal = Principal::new("user");
        for (app, perms) in &grants {
            principal = principal.with_permissions(*app, perms.iter().copied());
        }
        // The oracle, written independently of the crate: granted directly or through "*".
        let entitled = |app: &str| {
            grants.get(app).is_some_and(|p| p.contains(perm)) || grants.get("*").is_some_and(|p| p.contains(perm))
        };
        let filtered = filter_entitled(&principal, perm, items.clone(), |item| item.0);
        let expected: Vec<_> = items.iter().copied().filter(|item| entitled(item.0)).collect();
        prop_assert_eq!(&filtered, &expected);
        for item in &items {
            prop_assert_eq!(require_entitlement(&principal, item.0, perm).is_ok(), entitled(item.0));
        }
        for item in &filtered {
            prop_assert!(require_entitlement(&principal, item.0, perm).is_ok());
        }
    }
}

#[test]
fn refusal_names_the_application() {
    let principal = Principal::new("user").with_permissions("app-alpha", ["read"]);
    let error = require_entitlement(&principal, "app-beta", "read").expect_err("not entitled");
    assert_eq!(
        error.to_string(),
        "no read entitlement for application app-beta"
    );
    let result = error.to_tool_result();
    assert_eq!(result.is_error, Some(true));
    let data = error.to_error_data();
    assert_eq!(data.message, "no read entitlement for application app-beta");
}
