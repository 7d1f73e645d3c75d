//! The verifiers against an identity provider on loopback: JWT (JWKS and discovery), userinfo
//! and RFC 7662 introspection agree on who the caller is; key rotation is picked up; a flood of
//! unknown `kid`s costs the provider at most one JWKS fetch per interval.
//!
//! Each scenario runs against the in-process issuer (`in_process::…`) and, with
//! `MCP_PATTERNS_NODE_TESTS=1`, against the real node oidc-provider (`real_provider::…`).

#![allow(clippy::too_many_lines)] // scenario tests read top to bottom

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{AUDIENCE, Issuer, OidcProvider, TestIdp, node_suites_enabled};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use mcp_authz::{
    AuthError, CachedVerifier, ClientAuth, IntrospectionVerifier, IssuerDispatch, JwksRefresh,
    JwtVerifier, OidcMetadata, Principal, TokenVerifier, UserinfoVerifier,
};

const OPAQUE: &str = "urn:mcp-patterns:opaque";

fn names(set: &std::collections::BTreeSet<String>) -> Vec<&str> {
    set.iter().map(String::as_str).collect()
}

fn assert_same_caller(a: &Principal, b: &Principal, what: &str) {
    assert_eq!(a.subject, b.subject, "{what}: subject");
    assert_eq!(a.entitlements.roles, b.entitlements.roles, "{what}: roles");
    assert_eq!(
        a.entitlements.resources, b.entitlements.resources,
        "{what}: per-app permissions"
    );
}

async fn jwt_userinfo_and_introspection_agree(provider: impl TestIdp) {
    let http = reqwest::Client::new();
    let metadata = OidcMetadata::discover(&http, provider.issuer(), Duration::from_secs(5))
        .await
        .expect("discovery");

    // A JWT access token, verified locally with keys from discovery.
    let jwt = JwtVerifier::from_oidc_discovery(provider.issuer())
        .audience(AUDIENCE)
        .build()
        .await
        .expect("jwt verifier");
    let token = provider
        .client_token("app1", "mcp:access firewall:read", AUDIENCE)
        .await;
    let from_jwt = jwt.verify(&token).await.expect("valid JWT accepted");
    assert_eq!(from_jwt.subject, "app1");
    assert_eq!(from_jwt.client_id.as_deref(), Some("app1"));
    assert_eq!(from_jwt.issuer.as_deref(), Some(provider.issuer()));
    assert_eq!(from_jwt.audience, [AUDIENCE]);
    assert_eq!(names(from_jwt.scopes()), ["firewall:read", "mcp:access"]);
    assert_eq!(names(&from_jwt.entitlements.roles), ["developer"]);
    assert!(from_jwt.entitlements.allows("app-alpha", "read"));
    assert!(!from_jwt.entitlements.allows("app-alpha", "write"));
    assert!(
        from_jwt
            .expires_at
            .is_some_and(|exp| exp > std::time::SystemTime::now())
    );

    // The same client's opaque token, introspected (client authentication as `mcp-server`).
    let introspection = IntrospectionVerifier::from_metadata(
        &metadata,
        ClientAuth::basic("mcp-server", "rs-secret"),
    )
    .expect("introspection endpoint")
    .audience(OPAQUE)
    .timeout(Duration::from_secs(5));
    let opaque = provider
        .client_token("app1", "mcp:access firewall:read", OPAQUE)
        .await;
    let from_introspection = introspection.verify(&opaque).await.expect("active token");
    assert_same_caller(&from_jwt, &from_introspection, "jwt vs introspection");
    assert_eq!(
        from_jwt.scopes(),
        from_introspection.scopes(),
        "same scopes"
    );
    assert!(from_introspection.expires_at.is_some());

    // An end user's token: userinfo and introspection agree on the user and their entitlements.
    let user_token = provider.user_token("alice", "openid profile").await;
    let userinfo = UserinfoVerifier::from_metadata(&metadata).expect("userinfo endpoint");
    let from_userinfo = userinfo
        .verify(&user_token)
        .await
        .expect("userinfo accepts");
    let from_introspection = IntrospectionVerifier::from_metadata(
        &metadata,
        ClientAuth::post("mcp-server", "rs-secret"),
    )
    .expect("introspection endpoint")
    .verify(&user_token)
    .await
    .expect("introspection accepts");
    assert_eq!(from_userinfo.subject, "alice");
    assert_same_caller(
        &from_userinfo,
        &from_introspection,
        "userinfo vs introspection",
    );
    assert!(from_userinfo.entitlements.allows("app-alpha", "read"));

    // Refusals: a made-up token, the JWT audience at the opaque verifier, bad client secret.
    let bogus = "definitely-not-a-token";
    assert!(matches!(
        userinfo.verify(bogus).await,
        Err(AuthError::InvalidToken { .. })
    ));
    assert_eq!(
        introspection.verify(bogus).await,
        Err(AuthError::InvalidToken {
            reason: "token is not active".into()
        })
    );
    let wrong_secret =
        IntrospectionVerifier::from_metadata(&metadata, ClientAuth::basic("mcp-server", "wrong"))
            .expect("endpoint");
    let err = wrong_secret
        .verify(&opaque)
        .await
        .expect_err("bad client credentials");
    assert!(matches!(err, AuthError::Unavailable { .. }), "{err:?}");
    assert_eq!(err.status(), 503);

    // Cached introspection: the second verification does not ask the provider again.
    let cached = CachedVerifier::new(introspection.clone());
    let first = cached.verify(&opaque).await.expect("first");
    let second = cached.verify(&opaque).await.expect("second");
    assert_eq!(first, second);
    let stats = cached.stats();
    assert_eq!((stats.hits, stats.misses), (1, 1));

    // Dispatch by issuer: JWTs of this issuer go to the JWT verifier, opaque ones to
    // introspection, other issuers are refused.
    let dispatch = IssuerDispatch::new()
        .issuer(provider.issuer().to_owned(), jwt.clone())
        .opaque(introspection.clone());
    assert_eq!(dispatch.verify(&token).await.expect("jwt").subject, "app1");
    assert_eq!(
        dispatch.verify(&opaque).await.expect("opaque").subject,
        "app1"
    );
    let mut claims = provider.claims();
    claims["iss"] = "http://other-tenant.example".into();
    assert_eq!(
        dispatch.verify(&provider.sign("RS256", &claims)).await,
        Err(AuthError::InvalidToken {
            reason: "untrusted issuer".into()
        })
    );

    provider.stop();
}

#[tokio::test]
async fn identity_provider_timeouts_are_503_not_hangs() {
    // A server that accepts connections and never answers: a fault a real IdP rarely produces
    // on demand.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let timeout = Duration::from_millis(300);
    let userinfo = UserinfoVerifier::new(format!("http://{addr}/me")).timeout(timeout);
    let introspection = IntrospectionVerifier::new(
        format!("http://{addr}/introspect"),
        ClientAuth::basic("a", "b"),
    )
    .timeout(timeout);
    for result in [userinfo.verify("t").await, introspection.verify("t").await] {
        match result {
            Err(AuthError::Unavailable { reason }) => {
                assert!(reason.contains("timed out"), "{reason}");
            }
            other => panic!("expected a timeout, got {other:?}"),
        }
    }
    silent.abort();
}

async fn key_rotation_is_picked_up(provider: impl TestIdp) {
    let verifier = JwtVerifier::from_jwks_url(provider.jwks_url())
        .issuer(provider.issuer())
        .audience(AUDIENCE)
        .refresh(
            JwksRefresh::default()
                .interval(None)
                .min_refetch_interval(Duration::ZERO),
        )
        .build()
        .await
        .expect("verifier");
    let old_token = provider.client_token("app1", "mcp:access", AUDIENCE).await;
    verifier
        .verify(&old_token)
        .await
        .expect("token signed with the first key");
    assert_eq!(verifier.jwks_fetch_count(), 1);

    // Restart the provider on the same port: new keys, new kids.
    let provider = provider.rotate().await;
    let new_token = provider.client_token("app1", "mcp:access", AUDIENCE).await;
    let principal = verifier
        .verify(&new_token)
        .await
        .expect("new key fetched on unknown kid");
    assert_eq!(principal.subject, "app1");
    assert_eq!(verifier.jwks_fetch_count(), 2);
    assert_eq!(
        provider.jwks_count().await,
        1,
        "the new provider served one JWKS"
    );
    // The retired key is gone with the old key set.
    let err = verifier
        .verify(&old_token)
        .await
        .expect_err("old key retired");
    assert_eq!(
        err,
        AuthError::InvalidToken {
            reason: "unknown key id".into()
        }
    );
    provider.stop();
}

async fn unknown_kid_flood_is_bounded_by_the_refetch_interval(provider: impl TestIdp) {
    let interval = Duration::from_secs(3);
    let verifier = JwtVerifier::from_jwks_url(provider.jwks_url())
        .issuer(provider.issuer())
        .audience(AUDIENCE)
        .refresh(
            JwksRefresh::default()
                .interval(None)
                .min_refetch_interval(interval),
        )
        .build()
        .await
        .expect("verifier");
    assert_eq!(provider.jwks_count().await, 1, "the initial fetch");

    // One real signature; only the header's kid varies (a kid the verifier does not know is
    // refused before any signature check, so the signature need not match). RSA signing is slow
    // in debug builds, so the flood is built from one signed token.
    let key = EncodingKey::from_rsa_pem(provider.key("RS256").private_pem.as_bytes()).expect("key");
    let signed = jsonwebtoken::encode(&Header::new(Algorithm::RS256), &provider.claims(), &key)
        .expect("token");
    let (_, rest) = signed.split_once('.').expect("header");
    let flood = |round: usize| {
        (0..200)
            .map(|i| {
                let header = serde_json::json!({"alg": "RS256", "typ": "JWT", "kid": format!("attacker-{round}-{i}")});
                format!("{}.{rest}", common::b64(header.to_string().as_bytes()))
            })
            .collect::<Vec<_>>()
    };

    // Within the interval after the initial fetch: refused without asking the provider.
    let tokens = flood(0);
    let results = futures_join(&verifier, &tokens).await;
    assert!(results.iter().all(Result::is_err));
    assert_eq!(
        provider.jwks_count().await,
        1,
        "no refetch inside the interval"
    );

    // After the interval: 200 concurrent unknown kids cause exactly one fetch (single flight),
    // and an immediate second wave none.
    tokio::time::sleep(interval + Duration::from_millis(200)).await;
    let results = futures_join(&verifier, &flood(1)).await;
    assert!(results.iter().all(Result::is_err));
    let results = futures_join(&verifier, &flood(2)).await;
    assert!(results.iter().all(Result::is_err));
    assert_eq!(
        provider.jwks_count().await,
        2,
        "one refetch for 400 unknown kids"
    );
    assert_eq!(verifier.jwks_fetch_count(), 2);

    // Legitimate tokens kept working throughout.
    let token = provider.client_token("app1", "mcp:access", AUDIENCE).await;
    verifier
        .verify(&token)
        .await
        .expect("real token still accepted");
    provider.stop();
}

/// Right after a key rotation, a token signed by the new key may arrive while the JWKS refetch
/// is still rate-limited: it is refused then, and accepted as soon as a refetch brings its key.
/// The verification cache does not keep the refusal (it would for up to 30 s).
#[tokio::test]
async fn a_rotated_key_refused_inside_the_refetch_limit_is_accepted_after_it() {
    let provider = Issuer::start().await;
    let interval = Duration::from_secs(1);
    let before_build = tokio::time::Instant::now();
    let verifier = CachedVerifier::new(
        JwtVerifier::from_jwks_url(provider.jwks_url())
            .issuer(&provider.issuer)
            .audience(AUDIENCE)
            .refresh(
                JwksRefresh::default()
                    .interval(None)
                    .min_refetch_interval(interval),
            )
            .build()
            .await
            .expect("verifier"),
    );
    let after_build = tokio::time::Instant::now();
    Issuer::rotate(&provider);
    let token = provider.client_token("app1", "mcp:access", AUDIENCE).await;
    let refused = verifier.verify(&token).await;
    assert!(
        before_build.elapsed() < interval,
        "the first attempt is inside the refetch limit"
    );
    assert_eq!(
        refused,
        Err(AuthError::InvalidToken {
            reason: "unknown key id".into()
        })
    );
    assert_eq!(
        provider.jwks_count().await,
        0,
        "no refetch inside the limit"
    );

    tokio::time::sleep_until(after_build + interval + Duration::from_millis(50)).await;
    let principal = verifier
        .verify(&token)
        .await
        .expect("accepted once a refetch brings the new key");
    assert_eq!(principal.subject, "app1");
    assert_eq!(provider.jwks_count().await, 1, "one refetch");
    // Refusals that do not depend on the key set are still remembered.
    let mut claims = provider.claims();
    claims["aud"] = "urn:someone-else".into();
    let wrong_audience = provider.sign("RS256", &claims);
    for _ in 0..2 {
        assert!(verifier.verify(&wrong_audience).await.is_err());
    }
    assert_eq!(verifier.stats().refusal_hits, 1);
}

async fn futures_join(
    verifier: &JwtVerifier,
    tokens: &[String],
) -> Vec<Result<Principal, AuthError>> {
    let tasks: Vec<_> = tokens
        .iter()
        .map(|token| {
            let verifier = verifier.clone();
            let token = token.clone();
            tokio::spawn(async move { verifier.verify(&token).await })
        })
        .collect();
    let mut out = Vec::new();
    for task in tasks {
        out.push(task.await.expect("task"));
    }
    out
}

async fn periodic_refresh_picks_up_rotated_keys_without_an_unknown_kid_refetch(
    provider: impl TestIdp,
) {
    let verifier = JwtVerifier::from_jwks_url(provider.jwks_url())
        .audience(AUDIENCE)
        .refresh(
            JwksRefresh::default()
                .interval(Some(Duration::from_secs(1)))
                .min_refetch_interval(Duration::from_secs(3600)),
        )
        .build()
        .await
        .expect("verifier");
    let provider = provider.rotate().await;
    let token = provider.client_token("app1", "mcp:access", AUDIENCE).await;
    // Retry (bounded) until the background task has installed the new provider's keys; the
    // unknown-kid path is rate-limited for an hour, so only the periodic refresh can do it.
    let mut result = verifier.verify(&token).await;
    for _ in 0..100 {
        if result.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        result = verifier.verify(&token).await;
    }
    let principal = result.expect("rotated key known after a periodic refresh");
    assert!(
        provider.jwks_count().await > 0,
        "fetched from the new provider"
    );
    assert_eq!(principal.subject, "app1");
    provider.stop();
}

/// Forwards `POST /introspect` to the provider's introspection endpoint and counts the
/// requests that reach it.
async fn counting_introspection_proxy(
    provider: &impl TestIdp,
) -> (
    String,
    Arc<std::sync::atomic::AtomicU64>,
    tokio::task::JoinHandle<()>,
) {
    use std::sync::atomic::Ordering;
    let upstream = format!("{}/token/introspection", provider.issuer());
    let count = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let http = reqwest::Client::new();
    let handler = {
        let count = Arc::clone(&count);
        move |headers: http::HeaderMap, body: axum::body::Bytes| {
            let count = Arc::clone(&count);
            let http = http.clone();
            let upstream = upstream.clone();
            async move {
                count.fetch_add(1, Ordering::SeqCst);
                let mut request = http.post(&upstream).body(body);
                for name in [http::header::AUTHORIZATION, http::header::CONTENT_TYPE] {
                    if let Some(value) = headers.get(&name) {
                        request = request.header(name, value);
                    }
                }
                let response = request.send().await.expect("provider answers");
                let status = response.status();
                let body = response.bytes().await.expect("body");
                (
                    status,
                    [(http::header::CONTENT_TYPE, "application/json")],
                    body,
                )
            }
        }
    };
    let app = axum::Router::new().route("/introspect", axum::routing::post(handler));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/introspect", listener.local_addr().expect("addr"));
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, count, task)
}

async fn a_thousand_random_tokens_cost_the_provider_few_introspections(provider: impl TestIdp) {
    use std::sync::atomic::Ordering;
    let (url, reached, proxy) = counting_introspection_proxy(&provider).await;
    let verifier = Arc::new(CachedVerifier::new(
        IntrospectionVerifier::new(&url, ClientAuth::basic("mcp-server", "rs-secret"))
            .audience(OPAQUE)
            .timeout(Duration::from_secs(5)),
    ));
    let tasks: Vec<_> = (0..1000)
        .map(|i| {
            let verifier = Arc::clone(&verifier);
            tokio::spawn(async move { verifier.verify(&format!("random-token-{i:04}")).await })
        })
        .collect();
    for task in tasks {
        let result = task.await.expect("join");
        assert!(
            matches!(
                result,
                Err(AuthError::InvalidToken { .. } | AuthError::Unavailable { .. })
            ),
            "{result:?}"
        );
    }
    let flood = reached.load(Ordering::SeqCst);
    eprintln!("1000 random tokens: {flood} introspection requests reached the provider");
    assert!(flood < 150, "{flood} requests reached the provider");

    // The same tokens again: refusals are remembered, none reaches the provider.
    for i in 0..50 {
        let _ = verifier.verify(&format!("random-token-{i:04}")).await;
    }
    assert!(reached.load(Ordering::SeqCst) <= flood + 50 - verifier.stats().refusal_hits);

    // A real token still gets through once the burst has refilled, and is then cached.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let opaque = provider
        .client_token("app1", "mcp:access firewall:read", OPAQUE)
        .await;
    assert_eq!(
        verifier.verify(&opaque).await.expect("active").subject,
        "app1"
    );
    let before = reached.load(Ordering::SeqCst);
    assert_eq!(
        verifier.verify(&opaque).await.expect("cached").subject,
        "app1"
    );
    assert_eq!(reached.load(Ordering::SeqCst), before);
    proxy.abort();
    provider.stop();
}

/// Each scenario as two tests: against the in-process issuer, and against the real node
/// oidc-provider when `MCP_PATTERNS_NODE_TESTS=1` (skipped, and passing, otherwise).
macro_rules! on_both_providers {
    ($($scenario:ident),* $(,)?) => {
        mod in_process {
            $(
                #[tokio::test]
                async fn $scenario() {
                    super::$scenario(super::Issuer::start().await).await;
                }
            )*
        }
        mod real_provider {
            $(
                #[tokio::test]
                async fn $scenario() {
                    if super::node_suites_enabled(stringify!($scenario)) {
                        super::$scenario(super::OidcProvider::start().await).await;
                    }
                }
            )*
        }
    };
}

on_both_providers!(
    jwt_userinfo_and_introspection_agree,
    key_rotation_is_picked_up,
    unknown_kid_flood_is_bounded_by_the_refetch_interval,
    periodic_refresh_picks_up_rotated_keys_without_an_unknown_kid_refetch,
    a_thousand_random_tokens_cost_the_provider_few_introspections,
);
