//! Requests to an identity provider are bounded: a flood of made-up tokens turns into few
//! requests, refusals are remembered, redirects are not followed, oversized answers are refused,
//! and plain `http` to a non-loopback provider is refused before any request. Against a userinfo
//! endpoint on loopback that counts what it receives.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::IntoResponse;
use mcp_authz::{AuthError, CachedVerifier, TokenVerifier, UserinfoVerifier};
use mcp_patterns_test_support::Served;

#[derive(Clone, Default)]
struct Counts {
    me: Arc<AtomicU64>,
}

/// `/me` answers 401 to every token but `good` after 20 ms; `/redirect` points to `/me`;
/// `/huge` answers a 1 MiB JSON object.
async fn provider() -> (Served, Counts) {
    let counts = Counts::default();
    let me = {
        let counts = counts.clone();
        move |headers: axum::http::HeaderMap| {
            let counts = counts.clone();
            async move {
                counts.me.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(20)).await;
                let good = headers
                    .get("authorization")
                    .is_some_and(|v| v == "Bearer good");
                if good {
                    axum::Json(serde_json::json!({ "sub": "alice" })).into_response()
                } else {
                    StatusCode::UNAUTHORIZED.into_response()
                }
            }
        }
    };
    let app = axum::Router::new()
        .route("/me", axum::routing::get(me))
        .route(
            "/redirect",
            axum::routing::get(|| async {
                (StatusCode::FOUND, [("location", "/me")]).into_response()
            }),
        )
        .route(
            "/huge",
            axum::routing::get(|| async {
                let pad = "x".repeat(1024 * 1024);
                axum::Json(serde_json::json!({ "sub": "alice", "pad": pad }))
            }),
        );
    (Served::start(app).await, counts)
}

#[tokio::test]
async fn a_thousand_random_tokens_cause_far_fewer_provider_requests() {
    let (served, counts) = provider().await;
    let verifier = Arc::new(CachedVerifier::new(UserinfoVerifier::new(
        served.url("/me"),
    )));
    let tasks: Vec<_> = (0..1000)
        .map(|i| {
            let verifier = Arc::clone(&verifier);
            tokio::spawn(async move { verifier.verify(&format!("random-{i}")).await })
        })
        .collect();
    let mut refused_busy = 0;
    for task in tasks {
        match task.await.expect("join") {
            Err(AuthError::InvalidToken { .. }) => {}
            Err(AuthError::Unavailable { reason }) => {
                assert!(
                    reason.contains("busy") || reason.contains("rate limit"),
                    "{reason}"
                );
                refused_busy += 1;
            }
            other => panic!("a random token must be refused: {other:?}"),
        }
    }
    let requests = counts.me.load(Ordering::SeqCst);
    assert!(
        requests < 200,
        "{requests} provider requests for 1000 tokens"
    );
    assert!(
        refused_busy > 800,
        "{refused_busy} refused without a request"
    );
    // A valid token still gets through once the flood is over, and is then cached.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(verifier.verify("good").await.unwrap().subject, "alice");
    let before = counts.me.load(Ordering::SeqCst);
    assert_eq!(verifier.verify("good").await.unwrap().subject, "alice");
    assert_eq!(counts.me.load(Ordering::SeqCst), before);
}

#[tokio::test]
async fn a_replayed_bad_token_costs_one_request() {
    let (served, counts) = provider().await;
    let verifier = CachedVerifier::new(UserinfoVerifier::new(served.url("/me")));
    for _ in 0..50 {
        assert!(matches!(
            verifier.verify("replayed").await,
            Err(AuthError::InvalidToken { .. })
        ));
    }
    assert_eq!(counts.me.load(Ordering::SeqCst), 1);
    assert_eq!(verifier.stats().refusal_hits, 49);
}

#[tokio::test]
async fn redirects_are_not_followed_and_oversized_answers_are_refused() {
    let (served, counts) = provider().await;
    let redirected = UserinfoVerifier::new(served.url("/redirect"));
    let error = redirected.verify("good").await.expect_err("redirect");
    assert!(
        matches!(&error, AuthError::Unavailable { reason } if reason.contains("302")),
        "{error}"
    );
    assert_eq!(
        counts.me.load(Ordering::SeqCst),
        0,
        "the redirect was not followed"
    );

    let huge = UserinfoVerifier::new(served.url("/huge"));
    let error = huge.verify("good").await.expect_err("huge");
    assert!(
        matches!(&error, AuthError::Unavailable { reason } if reason.contains("larger than")),
        "{error}"
    );
}

#[tokio::test]
async fn plain_http_to_a_remote_provider_is_refused_before_any_request() {
    let remote = UserinfoVerifier::new("http://idp.example.com/userinfo");
    let error = remote.check().expect_err("plain http");
    assert!(error.to_string().contains("must use https"), "{error}");
    let error = remote.verify("token").await.expect_err("refused");
    assert!(
        matches!(&error, AuthError::Unavailable { reason } if reason.contains("must use https")),
        "{error}"
    );
    assert!(
        UserinfoVerifier::new("https://idp.example.com/userinfo")
            .check()
            .is_ok()
    );
    assert!(
        UserinfoVerifier::new("http://127.0.0.1:1/userinfo")
            .check()
            .is_ok()
    );
}
