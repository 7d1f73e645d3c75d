//! The forwarding probe: an inner handler that overrides every `ServerHandler` method with a
//! marker (it logs its own name; requests also answer with an error naming the method), wrapped
//! in `OtelHandler` and driven in-process, so a method the decorator fails to forward — or
//! forwards to rmcp's default instead of the inner handler — is caught. Every traced request
//! must also have produced its span, named after rmcp's method constant.
//!
//! A second test reads rmcp's own source (located with `cargo metadata`) and checks that the
//! methods of `trait ServerHandler` are exactly the ones `OtelHandler` forwards
//! (`mcp_otel::FORWARDED_METHODS`) and exactly the ones the probe covers ([`PROBED`]), so a
//! method a newer rmcp adds fails here until it is forwarded and probed.

#![allow(deprecated)] // logging/setLevel, resources/subscribe, resources/unsubscribe

mod common;

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Telemetry, attr};
use mcp_otel::{FORWARDED_METHODS, OtelHandler, OtelLayer, semconv, span_name};
use rmcp::model::{
    CallToolRequestMethod, CallToolRequestParams, CallToolResponse, CancelTaskMethod,
    CancelTaskParams, CancelledNotificationMethod, CancelledNotificationParam, ClientCapabilities,
    ClientConfig, ClientNotification, ClientRequest, CompleteRequestMethod, CompleteRequestParams,
    CompleteResult, ConstString, CustomNotification, CustomRequest, CustomResult,
    DiscoverRequestMethod, DiscoverResult, GetPromptRequestMethod, GetPromptRequestParams,
    GetPromptResponse, GetSkillRequestMethod, GetSkillRequestParams, GetSkillResult, GetTaskMethod,
    GetTaskParams, GetTaskResult, InitializeRequestParams, InitializeResult,
    InitializeResultMethod, ListPromptsRequestMethod, ListPromptsResult,
    ListResourceTemplatesRequestMethod, ListResourceTemplatesResult, ListResourcesRequestMethod,
    ListResourcesResult, ListSkillsRequestMethod, ListSkillsResult, ListToolsRequestMethod,
    ListToolsResult, PaginatedRequestParams, PingRequestMethod, ProgressNotificationMethod,
    ProgressNotificationParam, ProtocolVersion, ReadResourceDirectoryRequestMethod,
    ReadResourceDirectoryRequestParams, ReadResourceDirectoryResult, ReadResourceRequestMethod,
    ReadResourceRequestParams, ReadResourceResponse, RootsListChangedNotificationMethod,
    ServerCapabilities, ServerConfig, SetLevelRequestMethod, SetLevelRequestParams,
    SubscribeRequestMethod, SubscribeRequestParams, SubscriptionFilter,
    SubscriptionsListenRequestMethod, Tool, UnsubscribeRequestMethod, UnsubscribeRequestParams,
    UpdateTaskMethod, UpdateTaskParams,
};
use rmcp::service::{
    NotificationContext, RequestContext, RoleClient, RunningService, ServiceError,
    SubscriptionContext,
};
use rmcp::{ClientLifecycleMode, ClientServiceExt, ErrorData, RoleServer, ServerHandler};
use serde_json::{Value, json};

/// Bound for something that must happen (a failure bound, not a timing assertion).
const DEADLINE: Duration = Duration::from_secs(20);

/// A method rmcp does not know: a custom request.
const CUSTOM_METHOD: &str = "probe/custom";

/// The URI of the probe's one skill (`skills/get` needs a `…/SKILL.md` URI).
const SKILL_URI: &str = "skill://probe/SKILL.md";

/// Every `ServerHandler` method the probe checks, by its Rust name.
const PROBED: &[&str] = &[
    "ping",
    "initialize",
    "negotiate_initialize",
    "supported_protocol_versions",
    "discover",
    "complete",
    "set_level",
    "get_prompt",
    "list_prompts",
    "list_resources",
    "list_resource_templates",
    "read_resource",
    "accepted_subscription_filter",
    "listen",
    "subscribe",
    "unsubscribe",
    "call_tool",
    "list_tools",
    "get_tool",
    "on_custom_request",
    "on_cancelled",
    "on_progress",
    "on_initialized",
    "on_roots_list_changed",
    "on_custom_notification",
    "get_info",
    "get_task",
    "update_task",
    "cancel_task",
    "list_skills",
    "get_skill",
    "read_resource_directory",
];

/// The names of the probe's methods that ran, in order.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<&'static str>>>);

impl Log {
    fn push(&self, name: &'static str) {
        self.0.lock().expect("log").push(name);
    }

    fn clear(&self) {
        self.0.lock().expect("log").clear();
    }

    fn contains(&self, name: &str) -> bool {
        self.0.lock().expect("log").contains(&name)
    }

    /// Waits until `name` ran (notifications have no response to wait for).
    async fn wait_for(&self, name: &str) {
        let waited = tokio::time::timeout(DEADLINE, async {
            while !self.contains(name) {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await;
        assert!(waited.is_ok(), "the inner {name} never ran");
    }
}

/// The inner handler: every method logs its name; requests other than the lifecycle ones
/// answer with [`marker`].
struct Probe {
    log: Log,
}

/// The error a probed request answers with: `-32603` naming the method.
fn marker(name: &str) -> ErrorData {
    ErrorData::internal_error(format!("probe:{name}"), None)
}

/// What the probe advertises: everything, so that rmcp routes every request to the handler.
fn config() -> ServerConfig {
    let mut capabilities = ServerCapabilities::builder()
        .enable_completions()
        .enable_logging()
        .enable_prompts()
        .enable_resources()
        .enable_resources_subscribe()
        .enable_tools()
        .build();
    let with_extensions = ServerCapabilities::builder()
        .enable_resources()
        .enable_tasks()
        .enable_skills_with_directory_read()
        .build();
    capabilities.extensions = with_extensions.extensions;
    ServerConfig::new(capabilities)
}

impl ServerHandler for Probe {
    async fn ping(&self, _context: RequestContext<RoleServer>) -> Result<(), ErrorData> {
        self.log.push("ping");
        Err(marker("ping"))
    }

    async fn initialize(
        &self,
        request: InitializeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<InitializeResult, ErrorData> {
        self.log.push("initialize");
        let mut info = config();
        info.protocol_version = request.protocol_version.clone();
        context.peer.set_peer_info(request);
        Ok(info)
    }

    fn negotiate_initialize(
        &self,
        _request: &InitializeRequestParams,
    ) -> Result<InitializeResult, ErrorData> {
        self.log.push("negotiate_initialize");
        Err(marker("negotiate_initialize"))
    }

    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        self.log.push("supported_protocol_versions");
        Cow::Borrowed(ProtocolVersion::KNOWN_VERSIONS)
    }

    async fn discover(
        &self,
        _context: RequestContext<RoleServer>,
    ) -> Result<DiscoverResult, ErrorData> {
        self.log.push("discover");
        Ok(DiscoverResult::from_server_info(
            ProtocolVersion::KNOWN_VERSIONS.to_vec(),
            config(),
        ))
    }

    async fn complete(
        &self,
        _request: CompleteRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, ErrorData> {
        self.log.push("complete");
        Err(marker("complete"))
    }

    async fn set_level(
        &self,
        _request: SetLevelRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.log.push("set_level");
        Err(marker("set_level"))
    }

    async fn get_prompt(
        &self,
        _request: GetPromptRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        self.log.push("get_prompt");
        Err(marker("get_prompt"))
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        self.log.push("list_prompts");
        Err(marker("list_prompts"))
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        self.log.push("list_resources");
        Err(marker("list_resources"))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        self.log.push("list_resource_templates");
        Err(marker("list_resource_templates"))
    }

    async fn read_resource(
        &self,
        _request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        self.log.push("read_resource");
        Err(marker("read_resource"))
    }

    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        self.log.push("accepted_subscription_filter");
        Some(requested.clone())
    }

    async fn listen(&self, _context: SubscriptionContext) -> Result<(), ErrorData> {
        self.log.push("listen");
        Err(marker("listen"))
    }

    async fn subscribe(
        &self,
        _request: SubscribeRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.log.push("subscribe");
        Err(marker("subscribe"))
    }

    async fn unsubscribe(
        &self,
        _request: UnsubscribeRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.log.push("unsubscribe");
        Err(marker("unsubscribe"))
    }

    async fn call_tool(
        &self,
        _request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        self.log.push("call_tool");
        Err(marker("call_tool"))
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        self.log.push("list_tools");
        Err(marker("list_tools"))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.log.push("get_tool");
        Some(Tool::new(
            format!("probe:{name}"),
            "the probe's tool",
            Arc::default(),
        ))
    }

    async fn on_custom_request(
        &self,
        _request: CustomRequest,
        _context: RequestContext<RoleServer>,
    ) -> Result<CustomResult, ErrorData> {
        self.log.push("on_custom_request");
        Err(marker("on_custom_request"))
    }

    async fn on_cancelled(
        &self,
        _notification: CancelledNotificationParam,
        _context: NotificationContext<RoleServer>,
    ) {
        self.log.push("on_cancelled");
    }

    async fn on_progress(
        &self,
        _notification: ProgressNotificationParam,
        _context: NotificationContext<RoleServer>,
    ) {
        self.log.push("on_progress");
    }

    async fn on_initialized(&self, _context: NotificationContext<RoleServer>) {
        self.log.push("on_initialized");
    }

    async fn on_roots_list_changed(&self, _context: NotificationContext<RoleServer>) {
        self.log.push("on_roots_list_changed");
    }

    async fn on_custom_notification(
        &self,
        _notification: CustomNotification,
        _context: NotificationContext<RoleServer>,
    ) {
        self.log.push("on_custom_notification");
    }

    fn get_info(&self) -> ServerConfig {
        self.log.push("get_info");
        config()
    }

    async fn get_task(
        &self,
        _request: GetTaskParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<GetTaskResult, ErrorData> {
        self.log.push("get_task");
        Err(marker("get_task"))
    }

    async fn update_task(
        &self,
        _request: UpdateTaskParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.log.push("update_task");
        Err(marker("update_task"))
    }

    async fn cancel_task(
        &self,
        _request: CancelTaskParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.log.push("cancel_task");
        Err(marker("cancel_task"))
    }

    async fn list_skills(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListSkillsResult, ErrorData> {
        self.log.push("list_skills");
        Err(marker("list_skills"))
    }

    async fn get_skill(
        &self,
        _request: GetSkillRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<GetSkillResult, ErrorData> {
        self.log.push("get_skill");
        Err(marker("get_skill"))
    }

    async fn read_resource_directory(
        &self,
        _request: ReadResourceDirectoryRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceDirectoryResult, ErrorData> {
        self.log.push("read_resource_directory");
        Err(marker("read_resource_directory"))
    }
}

/// A client message from its JSON-RPC `method` and `params` (the wire form rmcp parses).
fn message<T: serde::de::DeserializeOwned>(method: &str, params: Option<Value>) -> T {
    let body = match params {
        Some(params) => json!({ "method": method, "params": params }),
        None => json!({ "method": method }),
    };
    serde_json::from_value(body).unwrap_or_else(|e| panic!("{method}: {e}"))
}

/// One probed request: the probe method that serves it, the request, the span it must produce.
type Probed = (&'static str, ClientRequest, String);

/// A probed request to `method` with `params`, whose span is named `method` (and `target`).
fn probed(name: &'static str, method: &str, params: Option<Value>, target: Option<&str>) -> Probed {
    (name, message(method, params), span_name(method, target))
}

/// The requests of a legacy (`initialize`) session, each with the probe method that serves it
/// and the name of the span `OtelHandler` opens for it.
fn session_requests() -> Vec<Probed> {
    let uri = || Some(json!({ "uri": "memo://probe" }));
    let task = || Some(json!({ "taskId": "t1" }));
    let completion = json!({
        "ref": { "type": "ref/prompt", "name": "probe" },
        "argument": { "name": "a", "value": "b" },
    });
    vec![
        probed("ping", PingRequestMethod::VALUE, None, None),
        probed(
            "complete",
            CompleteRequestMethod::VALUE,
            Some(completion),
            None,
        ),
        probed(
            "set_level",
            SetLevelRequestMethod::VALUE,
            Some(json!({ "level": "info" })),
            None,
        ),
        probed(
            "get_prompt",
            GetPromptRequestMethod::VALUE,
            Some(json!({ "name": "probe" })),
            Some("probe"),
        ),
        probed("list_prompts", ListPromptsRequestMethod::VALUE, None, None),
        probed(
            "list_resources",
            ListResourcesRequestMethod::VALUE,
            None,
            None,
        ),
        probed(
            "list_resource_templates",
            ListResourceTemplatesRequestMethod::VALUE,
            None,
            None,
        ),
        probed(
            "read_resource",
            ReadResourceRequestMethod::VALUE,
            uri(),
            None,
        ),
        probed("subscribe", SubscribeRequestMethod::VALUE, uri(), None),
        probed("unsubscribe", UnsubscribeRequestMethod::VALUE, uri(), None),
        probed(
            "call_tool",
            CallToolRequestMethod::VALUE,
            Some(json!({ "name": "probe" })),
            Some("probe"),
        ),
        probed("list_tools", ListToolsRequestMethod::VALUE, None, None),
        probed("on_custom_request", CUSTOM_METHOD, Some(json!({})), None),
        probed("get_task", GetTaskMethod::VALUE, task(), None),
        probed(
            "update_task",
            UpdateTaskMethod::VALUE,
            Some(json!({ "taskId": "t1", "inputResponses": {} })),
            None,
        ),
        probed("cancel_task", CancelTaskMethod::VALUE, task(), None),
        probed("list_skills", ListSkillsRequestMethod::VALUE, None, None),
        probed(
            "get_skill",
            GetSkillRequestMethod::VALUE,
            Some(json!({ "uri": SKILL_URI })),
            None,
        ),
        probed(
            "read_resource_directory",
            ReadResourceDirectoryRequestMethod::VALUE,
            Some(json!({ "uri": "skill://probe/" })),
            None,
        ),
    ]
}

/// The notifications of a session, each with the probe method that handles it.
fn session_notifications() -> Vec<(&'static str, ClientNotification)> {
    vec![
        (
            "on_cancelled",
            message(
                CancelledNotificationMethod::VALUE,
                Some(json!({ "requestId": 999, "reason": "probe" })),
            ),
        ),
        (
            "on_progress",
            message(
                ProgressNotificationMethod::VALUE,
                Some(json!({ "progressToken": "p", "progress": 1 })),
            ),
        ),
        (
            "on_roots_list_changed",
            message(RootsListChangedNotificationMethod::VALUE, None),
        ),
        (
            "on_custom_notification",
            message("notifications/probe", Some(json!({}))),
        ),
    ]
}

/// Serves `handler` over an in-process pipe and connects a client with `lifecycle`.
async fn connect(
    handler: OtelHandler<Probe>,
    lifecycle: ClientLifecycleMode,
) -> RunningService<RoleClient, ClientConfig> {
    let (server_io, client_io) = tokio::io::duplex(64 * 1024);
    tokio::spawn(async move {
        if let Ok(running) = rmcp::ServiceExt::serve(handler, server_io).await {
            let _ = running.waiting().await;
        }
    });
    let mut client = ClientConfig::default();
    client.capabilities = ClientCapabilities::builder().enable_tasks().build();
    client
        .serve_with_lifecycle(client_io, lifecycle)
        .await
        .expect("client connects")
}

/// Asserts that a request was answered with the probe's marker for `name`.
fn assert_marker(name: &str, response: Result<rmcp::model::ServerResult, ServiceError>) {
    match response {
        Err(ServiceError::McpError(error)) => {
            assert_eq!(error.message, format!("probe:{name}"), "{name}: {error:?}");
        }
        other => panic!("{name}: expected the probe's error, got {other:?}"),
    }
}

#[tokio::test]
async fn every_server_handler_method_reaches_the_inner_handler() {
    let telemetry = Telemetry::install();
    let log = Log::default();
    let otel = OtelLayer::builder().without_metrics().build();
    let mut covered = BTreeSet::new();
    // The span each traced request must have produced, named after rmcp's method constants.
    let mut spans = vec![
        span_name(InitializeResultMethod::VALUE, None),
        span_name(DiscoverRequestMethod::VALUE, None),
        span_name(SubscriptionsListenRequestMethod::VALUE, None),
    ];

    // The synchronous methods, called on the decorator.
    let handler = otel.layer(Probe { log: log.clone() });
    log.clear();
    let info = handler.get_info();
    assert!(log.contains("get_info") && info.capabilities.supports_tasks());
    covered.insert("get_info");
    log.clear();
    assert_eq!(
        handler.supported_protocol_versions().as_ref(),
        ProtocolVersion::KNOWN_VERSIONS
    );
    assert!(log.contains("supported_protocol_versions"));
    covered.insert("supported_protocol_versions");
    log.clear();
    let negotiated = handler.negotiate_initialize(&ClientConfig::default());
    assert!(
        negotiated.is_err_and(|e| e.message == "probe:negotiate_initialize")
            && log.contains("negotiate_initialize")
    );
    covered.insert("negotiate_initialize");
    log.clear();
    let requested = SubscriptionFilter::builder()
        .resource_subscriptions(["memo://probe"])
        .build();
    assert_eq!(
        handler.accepted_subscription_filter(&requested),
        Some(requested)
    );
    assert!(log.contains("accepted_subscription_filter"));
    covered.insert("accepted_subscription_filter");
    log.clear();
    let tool = handler.get_tool("x").expect("the probe's tool");
    assert_eq!(tool.name, "probe:x");
    assert!(log.contains("get_tool"));
    covered.insert("get_tool");
    drop(handler);

    // A legacy session: `initialize`, `notifications/initialized`, then every request and
    // notification.
    log.clear();
    let client = connect(
        otel.layer(Probe { log: log.clone() }),
        ClientLifecycleMode::Initialize,
    )
    .await;
    assert!(log.contains("initialize"));
    covered.insert("initialize");
    log.wait_for("on_initialized").await;
    covered.insert("on_initialized");
    for (name, request, span) in session_requests() {
        log.clear();
        assert_marker(name, client.send_request(request).await);
        assert!(log.contains(name), "the inner {name} did not run");
        covered.insert(name);
        spans.push(span);
    }
    for (name, notification) in session_notifications() {
        log.clear();
        client
            .send_notification(notification)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        log.wait_for(name).await;
        covered.insert(name);
    }
    client.cancel().await.expect("close the session");

    // MCP 2026-07-28: `server/discover`, then a `subscriptions/listen` stream.
    log.clear();
    let client = connect(
        otel.layer(Probe { log: log.clone() }),
        ClientLifecycleMode::Discover {
            preferred_versions: vec![ProtocolVersion::V_2026_07_28],
        },
    )
    .await;
    assert!(log.contains("discover"));
    covered.insert("discover");
    log.clear();
    let filter = SubscriptionFilter::builder()
        .resource_subscriptions(["memo://probe"])
        .build();
    // The probe's `listen` fails the stream right after the acknowledgement.
    let _ = client.listen(filter).await;
    log.wait_for("listen").await;
    covered.insert("listen");
    client.cancel().await.expect("close the client");

    let probed: BTreeSet<&str> = PROBED.iter().copied().collect();
    assert_eq!(covered, probed, "every probed method was exercised");

    let traced: BTreeSet<String> = telemetry
        .finished_spans()
        .into_iter()
        .filter(|span| attr(span, semconv::MCP_METHOD_NAME).is_some())
        .map(|span| span.name.into_owned())
        .collect();
    for span in spans {
        assert!(traced.contains(&span), "no span {span:?} in {traced:?}");
    }
}

#[test]
fn the_forwarded_methods_are_the_probed_ones() {
    let forwarded: BTreeSet<&str> = FORWARDED_METHODS.iter().copied().collect();
    let probed: BTreeSet<&str> = PROBED.iter().copied().collect();
    assert_eq!(forwarded.len(), FORWARDED_METHODS.len(), "no duplicates");
    assert_eq!(forwarded, probed);
}

#[test]
fn the_forwarded_methods_are_every_method_of_rmcps_server_handler() {
    let in_rmcp =
        mcp_patterns_test_support::rmcp_server_handler_methods(env!("CARGO_MANIFEST_DIR"));
    let forwarded: BTreeSet<String> = FORWARDED_METHODS.iter().map(|m| (*m).to_owned()).collect();
    let missing: Vec<_> = in_rmcp.difference(&forwarded).collect();
    let stale: Vec<_> = forwarded.difference(&in_rmcp).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "ServerHandler methods of rmcp that OtelHandler does not forward: {missing:?}; \
         forwarded methods rmcp no longer has: {stale:?}"
    );
}
