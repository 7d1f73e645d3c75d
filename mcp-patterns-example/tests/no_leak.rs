//! In every cache scope, no result ever holds an application outside the caller's
//! entitlements — for random users, random entitlements (including write-only ones, which do not
//! grant read) and random requests (known, unknown and hostile application names).

use std::collections::BTreeSet;
use std::net::SocketAddr;

use mcp_patterns_example::access::{Caller, READ};
use mcp_patterns_example::data::{CacheScope, CacheSettings, FirewallCache};
use mcp_patterns_example::downstream::{self, DownstreamClient, FirewallStore};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

const APPS: [&str; 6] = [
    "app-00000",
    "app-00001",
    "app-00002",
    "app-00003",
    "app-00004",
    "app-00005",
];

fn caller_strategy() -> impl Strategy<Value = Caller> {
    (
        "[a-z]{1,8}",
        proptest::collection::vec(
            (0..APPS.len(), prop_oneof![Just("read"), Just("write")]),
            0..5,
        ),
        any::<bool>(),
    )
        .prop_map(|(subject, grants, admin)| {
            let mut apps: std::collections::BTreeMap<String, BTreeSet<String>> =
                std::collections::BTreeMap::new();
            for (app, perm) in grants {
                apps.entry(APPS[app].to_owned())
                    .or_default()
                    .insert(perm.to_owned());
            }
            Caller::with_apps(subject, apps, admin)
        })
}

fn request_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        (0..APPS.len()).prop_map(|i| APPS[i].to_owned()),
        Just("app-omega".to_owned()),
        Just("../app-00000".to_owned()),
        "\\PC{0,12}",
    ]
}

#[test]
fn no_caller_ever_sees_an_application_outside_their_entitlements() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let (downstream, caches) = rt.block_on(async {
        // Six apps of three rules each.
        let downstream = downstream::serve(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            FirewallStore::synthetic(APPS.len(), 3),
        )
        .await
        .expect("downstream");
        let mut caches = Vec::new();
        for scope in [CacheScope::Server, CacheScope::Session, CacheScope::Hybrid] {
            let settings = CacheSettings {
                scope,
                ..CacheSettings::default()
            };
            let client = DownstreamClient::new(&downstream.url);
            caches.push(
                FirewallCache::build(client, &settings)
                    .await
                    .expect("cache"),
            );
        }
        (downstream, caches)
    });

    let mut runner = TestRunner::new(Config {
        cases: 96,
        ..Config::default()
    });
    let strategy = (
        proptest::collection::vec(caller_strategy(), 1..4),
        proptest::collection::vec(request_strategy(), 1..6),
    );
    runner
        .run(&strategy, |(callers, requests)| {
            rt.block_on(async {
                for cache in &caches {
                    for caller in &callers {
                        let readable: BTreeSet<String> =
                            caller.readable_apps().expect("never All here");
                        let view = cache.view(caller).await.expect("view");
                        for app in view.apps().expect("apps") {
                            prop_assert!(
                                readable.contains(&app.app_name),
                                "{:?}: {} listed {} outside {readable:?}",
                                cache.scope(),
                                caller.subject,
                                app.app_name
                            );
                            prop_assert!(app.rules.iter().all(|r| r.id.starts_with(&app.app_name)));
                        }
                        for name in view.app_names().expect("names") {
                            prop_assert!(readable.contains(&name));
                        }
                        for request in &requests {
                            let allowed = caller.require_read(request).is_ok();
                            prop_assert_eq!(allowed, caller.allows(request, READ));
                            if let Some(app) = view.app(request).expect("lookup") {
                                prop_assert!(
                                    readable.contains(&app.app_name) && allowed,
                                    "{:?}: {} read {} outside {readable:?}",
                                    cache.scope(),
                                    caller.subject,
                                    app.app_name
                                );
                            }
                        }
                    }
                }
                Ok(())
            })
        })
        .expect("no leak");
    rt.block_on(downstream.shutdown());
}
