//! `AuthzHandler` decides for every request method of rmcp's `ServerHandler`: the probe inner
//! handler (tests/probe, shared with tests/forwarding.rs) overrides each one with a marker, and
//! the test calls each through the decorator with no principal, with a principal the policy
//! grants nothing, and with one it grants everything.
//!
//! If rmcp adds a request type, `rmcp_request_types_are_all_covered` fails until the new method
//! is decided in `AuthzHandler` and added here.

// `logging/setLevel` is deprecated in rmcp, and still decided.
#![allow(deprecated)]

mod probe;

use mcp_authz::{AuthzHandler, Principal, Requirement, StaticPolicy};
use probe::{CUSTOM_REQUEST, Probe, call_request, peer};
use rmcp::model::{
    CallToolRequestMethod, CancelTaskMethod, CompleteRequestMethod, ConstString,
    DiscoverRequestMethod, GetPromptRequestMethod, GetSkillRequestMethod, GetTaskMethod,
    InitializeResultMethod, ListPromptsRequestMethod, ListResourceTemplatesRequestMethod,
    ListResourcesRequestMethod, ListSkillsRequestMethod, ListToolsRequestMethod, NumberOrString,
    PingRequestMethod, ReadResourceDirectoryRequestMethod, ReadResourceRequestMethod,
    SetLevelRequestMethod, SubscribeRequestMethod, UnsubscribeRequestMethod, UpdateTaskMethod,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};

/// How the decorator treats a method for a principal the policy grants nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Any authenticated principal reaches the inner handler (lifecycle, logging, custom).
    Authenticated,
    /// The target is checked: refused without a grant.
    Targeted,
    /// The inner handler answers and the answer is filtered.
    Filtered,
}

/// Every request method with a request context (its name in `ServerHandler`, the probe's
/// marker for it) and how it is decided.
const METHODS: [(&str, &str, Kind); 21] = [
    ("ping", PingRequestMethod::VALUE, Kind::Authenticated),
    (
        "initialize",
        InitializeResultMethod::VALUE,
        Kind::Authenticated,
    ),
    (
        "discover",
        DiscoverRequestMethod::VALUE,
        Kind::Authenticated,
    ),
    ("complete", CompleteRequestMethod::VALUE, Kind::Targeted),
    (
        "set_level",
        SetLevelRequestMethod::VALUE,
        Kind::Authenticated,
    ),
    ("get_prompt", GetPromptRequestMethod::VALUE, Kind::Targeted),
    (
        "list_prompts",
        ListPromptsRequestMethod::VALUE,
        Kind::Filtered,
    ),
    (
        "list_resources",
        ListResourcesRequestMethod::VALUE,
        Kind::Filtered,
    ),
    (
        "list_resource_templates",
        ListResourceTemplatesRequestMethod::VALUE,
        Kind::Filtered,
    ),
    (
        "read_resource",
        ReadResourceRequestMethod::VALUE,
        Kind::Targeted,
    ),
    ("subscribe", SubscribeRequestMethod::VALUE, Kind::Targeted),
    (
        "unsubscribe",
        UnsubscribeRequestMethod::VALUE,
        Kind::Authenticated,
    ),
    ("call_tool", CallToolRequestMethod::VALUE, Kind::Targeted),
    ("list_tools", ListToolsRequestMethod::VALUE, Kind::Filtered),
    ("on_custom_request", CUSTOM_REQUEST, Kind::Authenticated),
    ("get_task", GetTaskMethod::VALUE, Kind::Targeted),
    ("update_task", UpdateTaskMethod::VALUE, Kind::Targeted),
    ("cancel_task", CancelTaskMethod::VALUE, Kind::Targeted),
    (
        "list_skills",
        ListSkillsRequestMethod::VALUE,
        Kind::Filtered,
    ),
    ("get_skill", GetSkillRequestMethod::VALUE, Kind::Targeted),
    (
        "read_resource_directory",
        ReadResourceDirectoryRequestMethod::VALUE,
        Kind::Targeted,
    ),
];

/// Calls `method` (its `ServerHandler` name) on `handler`.
async fn call(
    handler: &AuthzHandler<Probe>,
    method: &str,
    context: RequestContext<RoleServer>,
) -> Result<String, ErrorData> {
    call_request(handler, method, context)
        .await
        .unwrap_or_else(|| panic!("no call for {method}"))
}

fn open_policy() -> StaticPolicy {
    let open = || Requirement::none().scopes(["all"]);
    StaticPolicy::new()
        .tool("secret_tool", open())
        .prompt("secret_prompt", open())
        .resource("secret://*", open())
        .task("*", open())
        .skill("skill://secret/*", open())
}

fn handler(probe: &Probe, principal: Option<Principal>) -> AuthzHandler<Probe> {
    let builder = AuthzHandler::builder(probe.clone()).policy(open_policy());
    match principal {
        Some(p) => builder.principal(p).build(),
        None => builder.build(),
    }
}

#[tokio::test]
async fn every_method_is_decided() {
    let (peer, _keep) = peer().await;
    let context = || RequestContext::new(NumberOrString::Number(1), peer.clone());
    let probe = Probe::default();

    // No principal: nothing reaches the inner handler.
    let anonymous = handler(&probe, None);
    for (method, _, _) in METHODS {
        let result = call(&anonymous, method, context()).await;
        assert!(result.is_err(), "{method} without a principal: {result:?}");
        assert!(
            probe.take().is_empty(),
            "{method} reached the inner handler"
        );
    }

    // A principal the policy grants nothing: targets are refused, lists come back empty.
    let nobody = handler(&probe, Some(Principal::new("nobody")));
    for (method, marker, kind) in METHODS {
        let result = call(&nobody, method, context()).await;
        let reached = probe.take();
        match kind {
            Kind::Authenticated => assert_eq!(reached, [marker], "{method}"),
            Kind::Targeted => {
                assert!(reached.is_empty(), "{method} reached: {result:?}");
                let refused = match &result {
                    Err(error) => !error.message.contains("reached"),
                    // A hidden tool answers as unknown; a forbidden one as an error result.
                    Ok(text) => text.contains("is_error: Some(true)"),
                };
                assert!(refused, "{method} must be refused: {result:?}");
            }
            Kind::Filtered => {
                assert_eq!(reached, [marker], "{method}");
                if let Ok(text) = &result {
                    assert_eq!(text, "0 items", "{method} filtered to nothing");
                }
            }
        }
    }

    // A principal granted everything reaches every method, and sees the lists whole.
    let all = handler(&probe, Some(Principal::new("root").with_scopes(["all"])));
    for (method, marker, kind) in METHODS {
        let result = call(&all, method, context()).await;
        assert_eq!(probe.take(), [marker], "{method}: {result:?}");
        if kind == Kind::Filtered
            && let Ok(text) = &result
        {
            assert_eq!(text, "1 items", "{method} unfiltered");
        }
    }

    // Without a caller rmcp may still ask for a tool's schema; none leaves the decorator.
    assert!(all.get_tool("secret_tool").is_none());
    assert!(probe.get_tool("secret_tool").is_some());
}

#[test]
fn rmcp_request_types_are_all_covered() {
    // Every client request type rmcp knows, from its own JSON schema; the listen request is
    // decided through its own path (tests/listen_filter.rs).
    let schema =
        serde_json::to_value(schemars::schema_for!(rmcp::model::ClientRequest)).expect("schema");
    let variants = schema["anyOf"].as_array().map_or(0, Vec::len);
    assert_eq!(
        variants,
        METHODS.len() + 1,
        "rmcp's ClientRequest has {variants} variants: decide the new one in AuthzHandler \
         and add it to METHODS"
    );
}
