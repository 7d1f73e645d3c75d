//! Layer 1 over real HTTP: rmcp's Streamable HTTP service behind `AuthLayer`, tokens from (or
//! signed with the keys of) an identity provider: the in-process issuer always, the real node
//! oidc-provider too with `MCP_PATTERNS_NODE_TESTS=1`. Every refused request must get a 401 (or
//! 403) with the right challenge and must never reach the MCP handler.

#![allow(clippy::too_many_lines)] // scenario tests read top to bottom

mod common;

use std::time::Duration;

use common::{
    AUDIENCE, HttpServer, Issuer, OidcProvider, TestIdp, TestServer, node_suites_enabled, now,
    raw_initialize, raw_token,
};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use mcp_authz::{AuthError, JwksRefresh, JwtVerifier, TokenVerifier};
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Value, json};

async fn verifier(provider: &impl TestIdp) -> JwtVerifier {
    JwtVerifier::from_jwks_url(provider.jwks_url())
        .issuer(provider.issuer())
        .audience(AUDIENCE)
        .leeway(Duration::from_secs(5))
        .refresh(JwksRefresh::default().min_refetch_interval(Duration::from_secs(60)))
        .build()
        .await
        .expect("verifier")
}

fn with(mut claims: Value, patch: &Value) -> Value {
    for (k, v) in patch.as_object().expect("object") {
        claims[k] = v.clone();
    }
    claims
}

#[tokio::test]
async fn every_bad_token_gets_401_and_never_reaches_the_handler() {
    every_bad_token_gets_401(Issuer::start().await).await;
}

#[tokio::test]
async fn every_bad_token_gets_401_and_never_reaches_the_handler_real_provider() {
    if node_suites_enabled("every_bad_token_gets_401_and_never_reaches_the_handler_real_provider") {
        every_bad_token_gets_401(OidcProvider::start().await).await;
    }
}

async fn every_bad_token_gets_401(provider: impl TestIdp) {
    let handler = TestServer::new();
    let server =
        HttpServer::start(handler.clone(), verifier(&provider).await, &["mcp:access"]).await;
    let claims = provider.claims();
    let rs = provider.key("RS256");

    let valid = provider.sign("RS256", &claims);
    let other_signature = provider
        .sign(
            "RS256",
            &with(claims.clone(), &json!({"sub": "someone-else"})),
        )
        .rsplit('.')
        .next()
        .expect("signature")
        .to_owned();
    let bad_signature = format!(
        "{}.{other_signature}",
        valid.rsplit_once('.').expect("dots").0
    );
    let alg_none = raw_token(
        &json!({"alg": "none", "typ": "JWT", "kid": rs.kid}),
        &claims,
        b"",
    );
    let mut hs_header = Header::new(Algorithm::HS256);
    hs_header.kid = Some(rs.kid.clone());
    let hs256_with_public_key = jsonwebtoken::encode(
        &hs_header,
        &claims,
        &EncodingKey::from_secret(rs.public_pem.as_bytes()),
    )
    .expect("HS256 token");
    let mut unknown_kid_header = Header::new(Algorithm::RS256);
    unknown_kid_header.kid = Some("no-such-kid".into());
    let unknown_kid = jsonwebtoken::encode(
        &unknown_kid_header,
        &claims,
        &EncodingKey::from_rsa_pem(rs.private_pem.as_bytes()).expect("key"),
    )
    .expect("token");
    let t = now();
    let cases: Vec<(&str, Option<String>, &str)> = vec![
        ("no token", None, ""),
        ("not bearer", Some("Basic YXBwMTpzZWNyZXQ=".into()), ""),
        ("malformed", Some("Bearer not.a.jwt".into()), "malformed"),
        (
            "bad signature",
            Some(format!("Bearer {bad_signature}")),
            "bad signature",
        ),
        ("alg none", Some(format!("Bearer {alg_none}")), "malformed"),
        (
            "HS256 with the RSA public key",
            Some(format!("Bearer {hs256_with_public_key}")),
            "not allowed",
        ),
        (
            "expired",
            Some(format!(
                "Bearer {}",
                provider.sign(
                    "RS256",
                    &with(claims.clone(), &json!({"iat": t - 1200, "exp": t - 600}))
                )
            )),
            "expired",
        ),
        (
            "not yet valid",
            Some(format!(
                "Bearer {}",
                provider.sign("RS256", &with(claims.clone(), &json!({"nbf": t + 600})))
            )),
            "not yet valid",
        ),
        (
            "wrong iss",
            Some(format!(
                "Bearer {}",
                provider.sign(
                    "ES256",
                    &with(claims.clone(), &json!({"iss": "http://evil.example"}))
                )
            )),
            "untrusted issuer",
        ),
        (
            "wrong aud",
            Some(format!(
                "Bearer {}",
                provider.sign(
                    "RS256",
                    &with(claims.clone(), &json!({"aud": "urn:someone-else"}))
                )
            )),
            "wrong audience",
        ),
        (
            "unknown kid",
            Some(format!("Bearer {unknown_kid}")),
            "unknown key id",
        ),
        (
            "oversized",
            Some(format!(
                "Bearer {}",
                provider.sign(
                    "RS256",
                    &with(claims.clone(), &json!({"pad": "x".repeat(9000)}))
                )
            )),
            "too large",
        ),
    ];
    for (name, authorization, detail) in &cases {
        let response = raw_initialize(&server.mcp_url, authorization.as_deref()).await;
        assert_eq!(response.status(), 401, "{name}");
        let challenge = response
            .headers()
            .get("www-authenticate")
            .unwrap_or_else(|| panic!("{name}: no WWW-Authenticate"))
            .to_str()
            .expect("ascii")
            .to_owned();
        assert!(challenge.starts_with("Bearer"), "{name}: {challenge}");
        assert!(
            challenge.contains(&format!("resource_metadata=\"{}\"", server.metadata_url)),
            "{name}: {challenge}"
        );
        if detail.is_empty() {
            assert!(
                !challenge.contains("error="),
                "{name}: no error for a missing token: {challenge}"
            );
        } else {
            assert!(
                challenge.contains("error=\"invalid_token\""),
                "{name}: {challenge}"
            );
            assert!(
                challenge.contains(detail),
                "{name}: {challenge} should say {detail}"
            );
        }
        let body: Value = response.json().await.expect("JSON error body");
        assert_eq!(body["error"], "invalid_token", "{name}");
        assert_eq!(handler.calls(), 0, "{name} reached the handler");
    }

    // Even with HS256 on the allow-list, an RSA key never verifies an HMAC token.
    let lax = JwtVerifier::from_jwks_url(provider.jwks_url())
        .algorithms([Algorithm::RS256, Algorithm::HS256])
        .danger_accept_any_audience()
        .build()
        .await
        .expect("verifier");
    assert_eq!(
        lax.verify(&hs256_with_public_key).await,
        Err(AuthError::InvalidToken {
            reason: "key cannot verify HS256".into()
        })
    );

    // Positive control: the same request with a valid token does reach the handler.
    let response = raw_initialize(&server.mcp_url, Some(&format!("Bearer {valid}"))).await;
    assert_eq!(response.status(), 200);
    assert_eq!(handler.calls(), 1);
    server.stop().await;
    provider.stop();
}

#[tokio::test]
async fn issued_tokens_reach_the_handler_with_their_principal_and_missing_scope_is_403() {
    issued_tokens_reach_the_handler(Issuer::start().await).await;
}

#[tokio::test]
async fn real_tokens_reach_the_handler_with_their_principal_and_missing_scope_is_403() {
    if node_suites_enabled(
        "real_tokens_reach_the_handler_with_their_principal_and_missing_scope_is_403",
    ) {
        issued_tokens_reach_the_handler(OidcProvider::start().await).await;
    }
}

async fn issued_tokens_reach_the_handler(provider: impl TestIdp) {
    let handler = TestServer::new();
    let server =
        HttpServer::start(handler.clone(), verifier(&provider).await, &["mcp:access"]).await;

    // RS256 and ES256 tokens issued by the provider are accepted; the tool sees who called.
    for resource in [AUDIENCE, "urn:mcp-patterns:es256"] {
        let token = provider
            .client_token("app1", "mcp:access firewall:read", resource)
            .await;
        let server_for_aud = if resource == AUDIENCE {
            None
        } else {
            // The ES256 resource has its own audience: a verifier that accepts it.
            let verifier = JwtVerifier::from_oidc_discovery(provider.issuer())
                .audience(resource)
                .build()
                .await
                .expect("discovery verifier");
            Some(HttpServer::start(handler.clone(), verifier, &["mcp:access"]).await)
        };
        let url = server_for_aud
            .as_ref()
            .map_or(server.mcp_url.clone(), |s| s.mcp_url.clone());
        let transport = StreamableHttpClientTransport::from_config(
            StreamableHttpClientTransportConfig::with_uri(url).auth_header(token),
        );
        let client = ().serve(transport).await.expect("initialize with a valid token");
        let result = client
            .call_tool(CallToolRequestParams::new("whoami"))
            .await
            .expect("whoami");
        let text = result.content[0].as_text().expect("text").text.clone();
        assert_eq!(text, "app1", "{resource}");
        client.cancel().await.expect("close");
        if let Some(s) = server_for_aud {
            s.stop().await;
        }
    }
    let calls_before = handler.calls();

    // A valid token without the global scope: 403 insufficient_scope, handler untouched.
    let token = provider
        .client_token("app1", "firewall:read", AUDIENCE)
        .await;
    let response = raw_initialize(&server.mcp_url, Some(&format!("Bearer {token}"))).await;
    assert_eq!(response.status(), 403);
    let challenge = response.headers()["www-authenticate"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        challenge.contains("error=\"insufficient_scope\""),
        "{challenge}"
    );
    assert!(challenge.contains("scope=\"mcp:access\""), "{challenge}");
    assert!(challenge.contains("resource_metadata="), "{challenge}");
    assert_eq!(handler.calls(), calls_before);

    // The RFC 9728 document is public and names the resource.
    let metadata: Value = reqwest::get(&server.metadata_url)
        .await
        .expect("metadata")
        .json()
        .await
        .expect("metadata json");
    assert_eq!(metadata["resource"], server.mcp_url);
    assert_eq!(metadata["bearer_methods_supported"], json!(["header"]));
    assert_eq!(metadata["scopes_supported"], json!(["mcp:access"]));

    server.stop().await;
    provider.stop();
}
