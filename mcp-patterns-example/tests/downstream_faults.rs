//! The example's downstream API misbehaving on purpose: what its HTTP client sees for each
//! injected fault, the request counter, the admin endpoint and the write endpoints.

use std::net::SocketAddr;
use std::time::Duration;

use mcp_patterns_example::ExampleError;
use mcp_patterns_example::downstream::{
    self, DownstreamClient, DownstreamOptions, Fault, FirewallStore,
};

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

#[tokio::test]
async fn each_fault_reaches_the_client_as_a_downstream_error_and_healthy_recovers() {
    let running = downstream::serve(loopback(), FirewallStore::seeded())
        .await
        .expect("downstream starts");
    let client = DownstreamClient::with_timeout(&running.url, Duration::from_millis(300));
    assert_eq!(client.all().await.expect("healthy").len(), 3);

    running.store.set_fault(Fault::Fail { status: 503 });
    match client.all().await {
        Err(ExampleError::Downstream { source }) => {
            assert_eq!(
                source.status(),
                Some(reqwest::StatusCode::SERVICE_UNAVAILABLE)
            );
        }
        other => panic!("expected a 503 downstream error, got {other:?}"),
    }

    running.store.set_fault(Fault::Slow { delay_ms: 3_000 });
    match client.all().await {
        Err(ExampleError::Downstream { source }) => assert!(source.is_timeout(), "{source}"),
        other => panic!("expected a timeout, got {other:?}"),
    }

    running.store.set_fault(Fault::Garbage);
    match client.app("app-alpha").await {
        Err(ExampleError::Downstream { source }) => assert!(source.is_decode(), "{source}"),
        other => panic!("expected a decode error, got {other:?}"),
    }

    running.store.set_fault(Fault::Healthy);
    let alpha = client
        .app("app-alpha")
        .await
        .expect("recovered")
        .expect("known app");
    assert_eq!(alpha.rules.len(), 3);
    // Every /api/ request was counted, faulted or not: 1 + 1 + 1 + 1 + 1.
    assert_eq!(running.store.requests(), 5);
    running.shutdown().await;
}

#[tokio::test]
async fn admin_endpoint_is_off_by_default_and_sets_the_fault_when_enabled() {
    let http = reqwest::Client::new();
    let plain = downstream::serve(loopback(), FirewallStore::seeded())
        .await
        .expect("starts");
    let status = http
        .put(format!("{}/admin/faults", plain.url))
        .json(&serde_json::json!({ "mode": "garbage" }))
        .send()
        .await
        .expect("answers")
        .status();
    assert_eq!(status, reqwest::StatusCode::NOT_FOUND);
    assert_eq!(plain.store.fault(), Fault::Healthy);
    plain.shutdown().await;

    let admin = downstream::serve_with(
        loopback(),
        FirewallStore::seeded(),
        DownstreamOptions { admin: true },
    )
    .await
    .expect("starts");
    let set: Fault = http
        .put(format!("{}/admin/faults", admin.url))
        .json(&serde_json::json!({ "mode": "fail", "status": 500 }))
        .send()
        .await
        .expect("answers")
        .json()
        .await
        .expect("echoes the fault");
    assert_eq!(set, Fault::Fail { status: 500 });
    let status = http
        .get(format!("{}/api/v1/firewall-rules", admin.url))
        .send()
        .await
        .expect("answers")
        .status();
    assert_eq!(status, reqwest::StatusCode::INTERNAL_SERVER_ERROR);
    // Health checks are never faulted.
    let health = http
        .get(format!("{}/healthz", admin.url))
        .send()
        .await
        .expect("answers");
    assert!(health.status().is_success());
    // An unknown mode is refused and changes nothing.
    let status = http
        .put(format!("{}/admin/faults", admin.url))
        .json(&serde_json::json!({ "mode": "explode" }))
        .send()
        .await
        .expect("answers")
        .status();
    assert!(status.is_client_error(), "{status}");
    assert_eq!(admin.store.fault(), Fault::Fail { status: 500 });
    admin.shutdown().await;
}

#[tokio::test]
async fn replace_and_reset_change_what_the_api_serves() {
    let running = downstream::serve(loopback(), FirewallStore::seeded())
        .await
        .expect("starts");
    let client = DownstreamClient::new(&running.url);
    let http = reqwest::Client::new();
    let beta = client.app("app-beta").await.expect("ok").expect("known");
    let one_rule = vec![beta.rules[0].clone()];
    let replaced = http
        .put(format!(
            "{}/api/v1/apps/app-beta/firewall-rules",
            running.url
        ))
        .json(&one_rule)
        .send()
        .await
        .expect("answers");
    assert!(replaced.status().is_success());
    assert_eq!(
        client
            .app("app-beta")
            .await
            .expect("ok")
            .expect("known")
            .rules,
        one_rule
    );
    // A path-like name is refused.
    let bad = http
        .put(format!(
            "{}/api/v1/apps/..%2Fetc/firewall-rules",
            running.url
        ))
        .json(&one_rule)
        .send()
        .await
        .expect("answers");
    assert_eq!(bad.status(), reqwest::StatusCode::BAD_REQUEST);

    let reset = http
        .post(format!(
            "{}/api/v1/apps/app-beta/firewall-rules/reset",
            running.url
        ))
        .send()
        .await
        .expect("answers");
    assert!(reset.status().is_success());
    assert_eq!(
        client
            .app("app-beta")
            .await
            .expect("ok")
            .expect("known")
            .rules,
        beta.rules
    );
    running.shutdown().await;
}

#[test]
fn synthetic_store_has_the_requested_shape() {
    let store = FirewallStore::synthetic(20, 50);
    let all = store.all();
    assert_eq!(all.len(), 20);
    assert!(all.iter().all(|app| app.rules.len() == 50));
    assert_eq!(all[0].app_name, "app-00000");
}
