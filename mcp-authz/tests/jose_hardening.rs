//! JWT verification refuses what RFC 7515/7519/9068 and the MCP authorization specification say
//! to refuse, against a JWKS served over loopback: a missing audience at build time, unknown
//! critical header extensions, non-access-token `typ`s, symmetric or non-signature keys in a
//! published JWKS, duplicate key ids, and a JWKS that turns empty after start-up.

use std::time::Duration;

use mcp_authz::{AuthError, ConfigError, JwksRefresh, JwtVerifier, TokenType, TokenVerifier};
use mcp_patterns_test_support::jose::{AUDIENCE, EcKey, ISSUER, JwksServer, b64, sign_hs256};
use serde_json::json;

async fn verifier(jwks: &JwksServer) -> JwtVerifier {
    JwtVerifier::from_jwks_url(jwks.url())
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .build()
        .await
        .expect("verifier")
}

fn invalid(result: Result<mcp_authz::Principal, AuthError>) -> String {
    match result {
        Err(AuthError::InvalidToken { reason }) => reason,
        other => panic!("expected an invalid-token refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn a_verifier_without_audience_is_a_configuration_error_unless_opted_out() {
    let key = EcKey::generate("k1");
    let jwks = JwksServer::start(key.jwks()).await;
    let error = JwtVerifier::from_jwks_url(jwks.url())
        .issuer(ISSUER)
        .build()
        .await
        .expect_err("no audience");
    assert!(
        matches!(&error, ConfigError::Invalid { reason } if reason.contains("no audience")),
        "{error}"
    );
    // Opting out explicitly accepts a token for another API.
    let any = JwtVerifier::from_jwks_url(jwks.url())
        .issuer(ISSUER)
        .danger_accept_any_audience()
        .build()
        .await
        .expect("opted out");
    let mut claims = EcKey::claims("alice");
    claims["aud"] = json!("https://calendar.example");
    assert_eq!(
        any.verify(&key.sign(&claims)).await.unwrap().subject,
        "alice"
    );
    // The default verifier refuses it.
    let strict = verifier(&jwks).await;
    assert_eq!(
        invalid(strict.verify(&key.sign(&claims)).await),
        "wrong audience"
    );
    assert_eq!(
        strict
            .verify(&key.sign(&EcKey::claims("alice")))
            .await
            .unwrap()
            .subject,
        "alice"
    );
}

#[tokio::test]
async fn unknown_critical_header_extensions_are_refused() {
    let key = EcKey::generate("k1");
    let jwks = JwksServer::start(key.jwks()).await;
    let verifier = verifier(&jwks).await;
    let token = key.sign_with_header(
        &json!({ "typ": "JWT", "crit": ["urn:x:ext"], "urn:x:ext": true }),
        &EcKey::claims("alice"),
    );
    let reason = invalid(verifier.verify(&token).await);
    assert!(
        reason.contains("critical") && reason.contains("urn:x:ext"),
        "{reason}"
    );
    // An empty `crit` is malformed per RFC 7515 and refused as well.
    let token = key.sign_with_header(&json!({ "crit": [] }), &EcKey::claims("alice"));
    assert!(verifier.verify(&token).await.is_err());
}

#[tokio::test]
async fn typ_is_checked_by_default_and_strictly_on_request() {
    let key = EcKey::generate("k1");
    let jwks = JwksServer::start(key.jwks()).await;
    let default = verifier(&jwks).await;
    let claims = EcKey::claims("alice");
    for typ in [json!({}), json!({"typ": "JWT"}), json!({"typ": "at+jwt"})] {
        assert!(
            default
                .verify(&key.sign_with_header(&typ, &claims))
                .await
                .is_ok(),
            "{typ} is accepted by default"
        );
    }
    for typ in ["dpop+jwt", "logout+jwt", "secevent+jwt"] {
        let reason = invalid(
            default
                .verify(&key.sign_with_header(&json!({ "typ": typ }), &claims))
                .await,
        );
        assert!(reason.contains("not an access token"), "{typ}: {reason}");
    }
    let strict = JwtVerifier::from_jwks_url(jwks.url())
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .token_type(TokenType::AccessTokenOnly)
        .build()
        .await
        .expect("verifier");
    assert!(
        strict
            .verify(&key.sign_with_header(&json!({"typ": "at+jwt"}), &claims))
            .await
            .is_ok()
    );
    assert!(
        strict
            .verify(&key.sign_with_header(&json!({"typ": "JWT"}), &claims))
            .await
            .is_err(),
        "an ID token signed by the same key is not an access token"
    );
}

#[tokio::test]
async fn a_published_symmetric_key_never_verifies_tokens() {
    // An attacker who reads the JWKS knows an `oct` key's secret and could HMAC-sign any token.
    let secret = b"published-secret-published-secret";
    let key = EcKey::generate("ec");
    let jwks = JwksServer::start(json!({ "keys": [
        key.jwk(),
        { "kty": "oct", "kid": "hmac", "k": b64(secret), "alg": "HS256" },
    ]}))
    .await;
    let verifier = JwtVerifier::from_jwks_url(jwks.url())
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .algorithms([
            jsonwebtoken::Algorithm::ES256,
            jsonwebtoken::Algorithm::HS256,
        ])
        .build()
        .await
        .expect("verifier");
    let forged = sign_hs256(
        secret,
        &json!({ "alg": "HS256", "kid": "hmac", "typ": "JWT" }),
        &EcKey::claims("mallory"),
    );
    assert!(verifier.verify(&forged).await.is_err());
    assert!(
        verifier
            .verify(&key.sign(&EcKey::claims("alice")))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn keys_for_other_algorithms_are_skipped_and_duplicate_kids_refused() {
    let key = EcKey::generate("k1");
    // The same public key published for encryption (`alg: ECDH-ES`) must not verify anything.
    let mut enc = key.jwk();
    enc["alg"] = json!("ECDH-ES");
    enc["kid"] = json!("enc");
    enc.as_object_mut().expect("object").remove("use");
    let jwks = JwksServer::start(json!({ "keys": [enc] })).await;
    let error = JwtVerifier::from_jwks_url(jwks.url())
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .build()
        .await
        .expect_err("no signing key");
    assert!(error.to_string().contains("unusable response"), "{error}");

    let other = EcKey::generate("k1");
    let jwks = JwksServer::start(json!({ "keys": [key.jwk(), other.jwk()] })).await;
    let error = JwtVerifier::from_jwks_url(jwks.url())
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .build()
        .await
        .expect_err("duplicate kid");
    assert!(
        error.to_string().contains("two keys with kid `k1`"),
        "{error}"
    );
}

#[tokio::test]
async fn a_jwks_that_turns_empty_or_broken_never_replaces_working_keys() {
    let key = EcKey::generate("k1");
    let jwks = JwksServer::start(key.jwks()).await;
    let verifier = JwtVerifier::from_jwks_url(jwks.url())
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .refresh(
            JwksRefresh::default()
                .interval(Some(Duration::from_millis(100)))
                .min_refetch_interval(Duration::ZERO),
        )
        .build()
        .await
        .expect("verifier");
    let token = key.sign(&EcKey::claims("alice"));
    assert!(verifier.verify(&token).await.is_ok());
    for broken in [
        json!({ "keys": [] }),
        json!({ "keys": [{ "kty": "oct", "k": "c2VjcmV0" }] }),
        json!({ "not": "a jwks" }),
    ] {
        jwks.set(broken);
        let before = jwks.fetches();
        // Periodic refreshes and an unknown-kid refetch both see the broken document.
        let unknown = EcKey::generate("k2").sign(&EcKey::claims("bob"));
        assert!(verifier.verify(&unknown).await.is_err());
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(jwks.fetches() > before, "the document was fetched again");
        assert_eq!(
            verifier
                .verify(&token)
                .await
                .expect("old key still works")
                .subject,
            "alice"
        );
    }
}

#[tokio::test]
async fn plain_http_key_urls_are_refused_unless_loopback_or_opted_in() {
    let error = JwtVerifier::from_jwks_url("http://idp.example.com/jwks")
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .build()
        .await
        .expect_err("plain http");
    assert!(error.to_string().contains("must use https"), "{error}");
    let error = JwtVerifier::from_oidc_discovery("http://idp.example.com")
        .audience(AUDIENCE)
        .build()
        .await
        .expect_err("plain http");
    assert!(error.to_string().contains("must use https"), "{error}");
    // A loopback provider gets past the check (and then fails to connect: nothing listens).
    let error = JwtVerifier::from_jwks_url("http://127.0.0.2:9/jwks")
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .build()
        .await
        .expect_err("nothing listens");
    assert!(!error.to_string().contains("must use https"), "{error}");
}
