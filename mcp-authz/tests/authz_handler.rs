//! Layers 2-3: `AuthzHandler` around an rmcp tool router. Over an in-process stdio-style pipe
//! (principal supplied by the embedding application) and over real HTTP with tokens from an
//! identity provider (principal from Layer 1, stateful session): the in-process issuer always,
//! the real node oidc-provider too with `MCP_PATTERNS_NODE_TESTS=1`.

#![allow(clippy::too_many_lines)] // scenario tests read top to bottom

mod common;

use std::time::{Duration, SystemTime};

use common::{
    AUDIENCE, HttpServer, Issuer, OidcProvider, TestIdp, TestServer, node_suites_enabled, now,
};
use mcp_authz::{
    Action, AuthzHandler, CachedVerifier, Decision, DefaultMapper, EntitlementMapper, FnPolicy,
    JwtVerifier, Principal, Requirement, RoleHierarchy, Rule, StaticPolicy, TargetKind,
};
use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{ErrorData, ServiceError, ServiceExt};
use serde_json::json;

fn policy() -> StaticPolicy {
    StaticPolicy::new()
        .tool("whoami", Requirement::none().scopes(["mcp:access"]))
        .tool(
            "get_firewall_rule",
            Requirement::none().scopes(["firewall:read"]),
        )
        .tool(
            "reset_firewall",
            Rule::new(
                Requirement::none()
                    .scopes(["firewall:admin"])
                    .roles(["admin"]),
            )
            .visible_to(Requirement::none().scopes(["mcp:access"])),
        )
        .tool("rotate_secrets", Requirement::none().roles(["admin"]))
}

/// ABAC: `get_firewall_rule` only for applications the caller may read.
fn app_policy() -> impl mcp_authz::Policy {
    FnPolicy::new(|req| match (req.kind, req.name, req.action) {
        (TargetKind::Tool, "get_firewall_rule", Action::Invoke) => {
            let app = req.str_argument("app_name").unwrap_or_default();
            Decision::allow_if(req.principal.entitlements.allows(app, "read"), || {
                format!("no read entitlement for application {app}")
            })
        }
        _ => Decision::Allow,
    })
}

fn reader() -> Principal {
    Principal::new("alice")
        .with_scopes(["mcp:access", "firewall:read"])
        .with_roles(["developer"])
        .with_permissions("app-alpha", ["read"])
}

fn call(name: &'static str) -> CallToolRequestParams {
    CallToolRequestParams::new(name)
}

fn text(result: &CallToolResult) -> String {
    result.content[0].as_text().expect("text").text.clone()
}

fn mcp_error(result: Result<CallToolResult, ServiceError>) -> ErrorData {
    match result {
        Err(ServiceError::McpError(error)) => error,
        other => panic!("expected a JSON-RPC error, got {other:?}"),
    }
}

/// Serves `handler` over an in-memory pipe (what stdio is to a real process).
async fn connect<H: rmcp::ServerHandler>(handler: H) -> RunningService<RoleClient, ()> {
    let (server_io, client_io) = tokio::io::duplex(64 * 1024);
    tokio::spawn(async move {
        if let Ok(server) = handler.serve(server_io).await {
            let _ = server.waiting().await;
        }
    });
    ().serve(client_io).await.expect("client connects")
}

async fn tool_names(client: &RunningService<RoleClient, ()>) -> Vec<String> {
    let mut names: Vec<String> = client
        .list_all_tools()
        .await
        .expect("tools/list")
        .into_iter()
        .map(|t| t.name.to_string())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn stdio_lists_checks_and_hides_like_unknown() {
    let inner = TestServer::new();
    let handler = AuthzHandler::builder(inner.clone())
        .policy(policy())
        .policy(app_policy())
        .principal(reader())
        .build();
    let client = connect(handler).await;
    let calls_after_init = inner.calls();

    // Layer 2: the reader sees what it may use, plus reset_firewall (visible to all).
    assert_eq!(
        tool_names(&client).await,
        ["get_firewall_rule", "reset_firewall", "whoami"]
    );

    // The tool reads the principal the embedding application supplied.
    let me = client.call_tool(call("whoami")).await.expect("whoami");
    assert_eq!(text(&me), "alice");

    // Layer 3, hidden: exactly the bytes of the error for a tool that does not exist, both
    // through the decorator and from the bare rmcp router.
    let hidden = mcp_error(client.call_tool(call("rotate_secrets")).await);
    let unknown = mcp_error(client.call_tool(call("no_such_tool")).await);
    let bare = connect(TestServer::new()).await;
    let bare_unknown = mcp_error(bare.call_tool(call("no_such_tool")).await);
    let bytes = |e: &ErrorData| serde_json::to_vec(e).expect("serialize");
    assert_eq!(bytes(&hidden), bytes(&unknown), "hidden vs unknown");
    assert_eq!(
        bytes(&unknown),
        bytes(&bare_unknown),
        "same as rmcp's own router"
    );
    bare.cancel().await.expect("close");

    // Layer 3, visible but denied: a clear error result the model can read.
    let denied = client
        .call_tool(call("reset_firewall"))
        .await
        .expect("a result");
    assert_eq!(denied.is_error, Some(true));
    assert_eq!(
        text(&denied),
        "insufficient permissions for tool reset_firewall: requires scope firewall:admin"
    );

    // ABAC on arguments: entitled application allowed, another one refused before the tool.
    let alpha = client
        .call_tool(
            call("get_firewall_rule").with_arguments(
                json!({"app_name": "app-alpha"})
                    .as_object()
                    .cloned()
                    .expect("object"),
            ),
        )
        .await
        .expect("alpha");
    assert_eq!(text(&alpha), "rule of app-alpha");
    let beta = client
        .call_tool(
            call("get_firewall_rule").with_arguments(
                json!({"app_name": "app-beta"})
                    .as_object()
                    .cloned()
                    .expect("object"),
            ),
        )
        .await
        .expect("a result");
    assert_eq!(beta.is_error, Some(true));
    assert!(
        text(&beta).contains("no read entitlement for application app-beta"),
        "{}",
        text(&beta)
    );

    // Only whoami and the entitled get_firewall_rule reached the tools.
    assert_eq!(inner.calls() - calls_after_init, 2);
    client.cancel().await.expect("close");
}

#[tokio::test]
async fn resources_are_filtered_and_hidden_reads_look_unknown() {
    let inner = TestServer::new();
    let handler = AuthzHandler::builder(inner.clone())
        .policy(
            StaticPolicy::new()
                .resource(
                    "cache://firewalls/*",
                    Requirement::none().scopes(["firewall:read"]),
                )
                .resource("cache://admin/*", Requirement::none().roles(["admin"])),
        )
        .principal(reader())
        .build();
    let client = connect(handler).await;
    let calls = inner.calls();
    let uris: Vec<String> = client
        .list_all_resources()
        .await
        .expect("resources/list")
        .into_iter()
        .map(|r| r.uri.clone())
        .collect();
    assert_eq!(uris, ["cache://firewalls/app-alpha"]);
    let read = |uri: &str| client.read_resource(rmcp::model::ReadResourceRequestParams::new(uri));
    assert!(read("cache://firewalls/app-alpha").await.is_ok());
    let error = |r: Result<_, ServiceError>| match r {
        Err(ServiceError::McpError(e)) => serde_json::to_string(&e).expect("json"),
        other => panic!("expected an error, got {other:?}"),
    };
    // A hidden resource vs one the policy allows but the inner handler does not have: the same
    // error apart from the URI echoed back.
    let hidden = error(read("cache://admin/secrets").await);
    let unknown = error(read("cache://firewalls/app-omega").await);
    assert_eq!(
        hidden.replace("cache://admin/secrets", "URI"),
        unknown.replace("cache://firewalls/app-omega", "URI"),
    );
    assert!(unknown.contains("resource not found"), "{unknown}");
    assert_eq!(inner.calls() - calls, 1, "only the permitted read ran");
    client.cancel().await.expect("close");
}

#[tokio::test]
async fn admin_sees_everything_and_role_hierarchy_applies() {
    let admin = Principal::new("root")
        .with_scopes(["mcp:access", "firewall:read", "firewall:admin"])
        .with_entitlements(
            DefaultMapper::new()
                .role_hierarchy(RoleHierarchy::new().with("admin", ["developer"]))
                .map(&json!({"scope": "mcp:access firewall:read firewall:admin", "roles": ["admin"]})),
        );
    assert!(admin.has_role("developer"), "admin implies developer");
    let handler = AuthzHandler::builder(TestServer::new())
        .policy(policy())
        .principal(admin)
        .build();
    let client = connect(handler).await;
    assert_eq!(
        tool_names(&client).await,
        [
            "get_firewall_rule",
            "reset_firewall",
            "rotate_secrets",
            "whoami"
        ]
    );
    let reset = client
        .call_tool(call("reset_firewall"))
        .await
        .expect("reset");
    assert_eq!(text(&reset), "reset");
    client.cancel().await.expect("close");
}

#[tokio::test]
async fn stdio_principal_is_refused_once_expired_and_missing_principal_is_refused() {
    let expires = SystemTime::now() + Duration::from_secs(1);
    let inner = TestServer::new();
    let handler = AuthzHandler::builder(inner.clone())
        .policy(policy())
        .principal(reader().with_expiry(expires))
        .build();
    let client = connect(handler).await;
    assert_eq!(
        text(&client.call_tool(call("whoami")).await.expect("before exp")),
        "alice"
    );
    let calls = inner.calls();
    while SystemTime::now() < expires + Duration::from_millis(50) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let error = mcp_error(client.call_tool(call("whoami")).await);
    assert_eq!(error.message, "token expired: re-authenticate");
    assert_eq!(error.data, Some(json!({"error": "token_expired"})));
    assert!(
        client.list_all_tools().await.is_err(),
        "lists are refused too"
    );
    assert_eq!(inner.calls(), calls, "nothing ran after exp");
    client.cancel().await.expect("close");

    // Without any principal even the handshake is refused: `initialize` needs one too.
    let (server_io, client_io) = tokio::io::duplex(64 * 1024);
    let nobody = AuthzHandler::builder(TestServer::new())
        .policy(policy())
        .build();
    tokio::spawn(async move {
        let _ = nobody.serve(server_io).await;
    });
    let error = ().serve(client_io).await.expect_err("no principal, no session");
    assert!(
        error.to_string().contains("authentication required"),
        "{error}"
    );
}

#[tokio::test]
async fn http_principals_from_issued_tokens_and_expiry_mid_session() {
    http_principals_and_expiry(Issuer::start().await).await;
}

#[tokio::test]
async fn http_principals_from_real_tokens_and_expiry_mid_session() {
    if node_suites_enabled("http_principals_from_real_tokens_and_expiry_mid_session") {
        http_principals_and_expiry(OidcProvider::start().await).await;
    }
}

async fn http_principals_and_expiry(provider: impl TestIdp) {
    let inner = TestServer::new();
    let handler = AuthzHandler::builder(inner.clone())
        .policy(policy())
        .build();
    let verifier = CachedVerifier::new(
        JwtVerifier::from_jwks_url(provider.jwks_url())
            .issuer(provider.issuer())
            .audience(AUDIENCE)
            .leeway(Duration::ZERO)
            .mapper(
                DefaultMapper::new()
                    .role_hierarchy(RoleHierarchy::new().with("admin", ["developer"])),
            )
            .build()
            .await
            .expect("verifier"),
    );
    let server = HttpServer::start(handler, verifier, &["mcp:access"]).await;
    let connect_with = |token: String| {
        let url = server.mcp_url.clone();
        async move {
            ().serve(StreamableHttpClientTransport::from_config(
                StreamableHttpClientTransportConfig::with_uri(url).auth_header(token),
            ))
            .await
            .expect("initialize")
        }
    };

    // Different users see different tools (developer vs admin, both from the provider).
    let developer = connect_with(
        provider
            .client_token("app1", "mcp:access firewall:read", AUDIENCE)
            .await,
    )
    .await;
    assert_eq!(
        tool_names(&developer).await,
        ["get_firewall_rule", "reset_firewall", "whoami"]
    );
    assert_eq!(
        text(&developer.call_tool(call("whoami")).await.expect("whoami")),
        "app1"
    );
    developer.cancel().await.expect("close");
    let admin = connect_with(
        provider
            .client_token(
                "admin1",
                "mcp:access firewall:read firewall:admin",
                AUDIENCE,
            )
            .await,
    )
    .await;
    assert_eq!(
        tool_names(&admin).await,
        [
            "get_firewall_rule",
            "reset_firewall",
            "rotate_secrets",
            "whoami"
        ]
    );
    assert_eq!(
        text(
            &admin
                .call_tool(call("reset_firewall"))
                .await
                .expect("reset")
        ),
        "reset"
    );
    admin.cancel().await.expect("close");

    // A token that expires during a stateful session: served before exp (from the cache on the
    // second request), refused with 401 after it.
    let mut claims = provider.claims();
    let exp = now() + 3;
    claims["exp"] = exp.into();
    let session = connect_with(provider.sign("ES256", &claims)).await;
    assert_eq!(
        text(&session.call_tool(call("whoami")).await.expect("before exp")),
        "app1"
    );
    assert_eq!(
        text(&session.call_tool(call("whoami")).await.expect("cached")),
        "app1"
    );
    let calls = inner.calls();
    while now() <= exp {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let error = session
        .call_tool(call("whoami"))
        .await
        .expect_err("expired token refused");
    let challenge = error
        .auth_challenge()
        .unwrap_or_else(|| panic!("a 401 challenge, got {error:?}"));
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    assert!(challenge.contains("token expired"), "{challenge}");
    assert_eq!(inner.calls(), calls, "nothing ran after exp");
    let _ = session.cancel().await;

    server.stop().await;
    provider.stop();
}
