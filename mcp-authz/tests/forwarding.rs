//! `AuthzHandler` implements every method of rmcp's `ServerHandler`: an inner handler overrides
//! each one with a marker, the decorator (allow-all policy, fixed principal) is called through
//! each, and each must reach the inner handler (forwarded, after its check) or be deliberately
//! answered by the decorator (`get_tool`). A method rmcp adds later fails
//! `handled_methods_are_exactly_rmcp_server_handler_methods`: it would otherwise fall back to
//! rmcp's default silently, bypassing both the inner handler and the policy.
//!
//! Requests are direct trait calls (with a real request context); client notifications go
//! through rmcp's client over an in-process duplex pipe; `subscriptions/listen` over Streamable
//! HTTP on loopback (rmcp builds its context only there).

// `logging/setLevel` and `resources/subscribe` are deprecated in rmcp, and still forwarded.
#![allow(deprecated, clippy::too_many_lines)]

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mcp_authz::{AuthzHandler, Decision, FnPolicy, HANDLED_METHODS, Principal};
use rmcp::model::{
    ArgumentInfo, CallToolRequestMethod, CallToolRequestParams, CallToolResponse, CancelTaskMethod,
    CancelTaskParams, CancelledNotificationMethod, CancelledNotificationParam,
    CompleteRequestMethod, CompleteRequestParams, CompleteResult, ConstString, CustomNotification,
    CustomRequest, CustomResult, DiscoverRequestMethod, DiscoverResult, GetPromptRequestMethod,
    GetPromptRequestParams, GetPromptResponse, GetSkillRequestMethod, GetSkillRequestParams,
    GetSkillResult, GetTaskMethod, GetTaskParams, GetTaskResult, InitializeRequestParams,
    InitializeResult, InitializeResultMethod, InitializedNotificationMethod,
    ListPromptsRequestMethod, ListPromptsResult, ListResourceTemplatesRequestMethod,
    ListResourceTemplatesResult, ListResourcesRequestMethod, ListResourcesResult,
    ListSkillsRequestMethod, ListSkillsResult, ListToolsRequestMethod, ListToolsResult,
    LoggingLevel, NumberOrString, PaginatedRequestParams, PingRequestMethod,
    ProgressNotificationMethod, ProgressNotificationParam, ProgressToken, ProtocolVersion,
    ReadResourceDirectoryRequestMethod, ReadResourceDirectoryRequestParams,
    ReadResourceDirectoryResult, ReadResourceRequestMethod, ReadResourceRequestParams,
    ReadResourceResponse, Reference, RootsListChangedNotificationMethod, ServerCapabilities,
    ServerConfig, SetLevelRequestMethod, SetLevelRequestParams, SubscribeRequestMethod,
    SubscribeRequestParams, SubscriptionFilter, SubscriptionsListenRequestMethod, Tool,
    UnsubscribeRequestMethod, UnsubscribeRequestParams, UpdateTaskMethod, UpdateTaskParams,
};
use rmcp::service::{NotificationContext, RequestContext, SubscriptionContext};
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt};

/// The marker of a method without an MCP method name of its own in rmcp.
const GET_INFO: &str = "get_info";
const NEGOTIATE_INITIALIZE: &str = "negotiate_initialize";
const SUPPORTED_PROTOCOL_VERSIONS: &str = "supported_protocol_versions";
const GET_TOOL: &str = "get_tool";
const ACCEPTED_SUBSCRIPTION_FILTER: &str = "accepted_subscription_filter";
const CUSTOM_REQUEST: &str = "x/custom-request";
const CUSTOM_NOTIFICATION: &str = "notifications/x-custom";

/// Records the marker of every method that reached it.
#[derive(Clone, Default)]
struct Marker {
    reached: Arc<Mutex<Vec<String>>>,
    arrived: Arc<tokio::sync::Notify>,
}

impl Marker {
    fn mark(&self, marker: &str) {
        self.reached.lock().unwrap().push(marker.to_owned());
        self.arrived.notify_waiters();
    }
    fn error(&self, marker: &str) -> ErrorData {
        self.mark(marker);
        ErrorData::internal_error(format!("reached {marker}"), None)
    }
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.reached.lock().unwrap())
    }
    /// Waits (bounded) until `marker` has been recorded, for what arrives asynchronously.
    async fn wait_for(&self, marker: &str) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let arrived = self.arrived.notified();
            if self.reached.lock().unwrap().iter().any(|m| m == marker) {
                return;
            }
            assert!(
                tokio::time::timeout_at(deadline, arrived).await.is_ok(),
                "{marker} never reached the inner handler; reached: {:?}",
                self.reached.lock().unwrap()
            );
        }
    }
}

fn tool() -> Tool {
    Tool::new("marker_tool", "marker", Arc::new(serde_json::Map::new()))
}

impl ServerHandler for Marker {
    async fn ping(&self, _: RequestContext<RoleServer>) -> Result<(), ErrorData> {
        Err(self.error(PingRequestMethod::VALUE))
    }
    async fn initialize(
        &self,
        request: InitializeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<InitializeResult, ErrorData> {
        // Answers, so that the in-process client can complete its handshake.
        self.mark(InitializeResultMethod::VALUE);
        context.peer.set_peer_info(request.clone());
        self.negotiate_initialize(&request)
    }
    fn negotiate_initialize(
        &self,
        request: &InitializeRequestParams,
    ) -> Result<InitializeResult, ErrorData> {
        self.mark(NEGOTIATE_INITIALIZE);
        let version = if request.protocol_version.has_initialize() {
            request.protocol_version.clone()
        } else {
            ProtocolVersion::LATEST_WITH_INITIALIZE
        };
        Ok(InitializeResult::new(self.get_info().capabilities).with_protocol_version(version))
    }
    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        self.mark(SUPPORTED_PROTOCOL_VERSIONS);
        // The known versions but the oldest: recognisably this handler's answer.
        Cow::Owned(
            ProtocolVersion::KNOWN_VERSIONS
                .iter()
                .filter(|v| **v != ProtocolVersion::V_2024_11_05)
                .cloned()
                .collect(),
        )
    }
    async fn discover(&self, _: RequestContext<RoleServer>) -> Result<DiscoverResult, ErrorData> {
        Err(self.error(DiscoverRequestMethod::VALUE))
    }
    async fn complete(
        &self,
        _: CompleteRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, ErrorData> {
        Err(self.error(CompleteRequestMethod::VALUE))
    }
    async fn set_level(
        &self,
        _: SetLevelRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        Err(self.error(SetLevelRequestMethod::VALUE))
    }
    async fn get_prompt(
        &self,
        _: GetPromptRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        Err(self.error(GetPromptRequestMethod::VALUE))
    }
    async fn list_prompts(
        &self,
        _: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        Err(self.error(ListPromptsRequestMethod::VALUE))
    }
    async fn list_resources(
        &self,
        _: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        Err(self.error(ListResourcesRequestMethod::VALUE))
    }
    async fn list_resource_templates(
        &self,
        _: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        Err(self.error(ListResourceTemplatesRequestMethod::VALUE))
    }
    async fn read_resource(
        &self,
        _: ReadResourceRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        Err(self.error(ReadResourceRequestMethod::VALUE))
    }
    async fn subscribe(
        &self,
        _: SubscribeRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        Err(self.error(SubscribeRequestMethod::VALUE))
    }
    async fn unsubscribe(
        &self,
        _: UnsubscribeRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        Err(self.error(UnsubscribeRequestMethod::VALUE))
    }
    async fn call_tool(
        &self,
        _: CallToolRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        Err(self.error(CallToolRequestMethod::VALUE))
    }
    async fn list_tools(
        &self,
        _: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Err(self.error(ListToolsRequestMethod::VALUE))
    }
    fn get_tool(&self, _: &str) -> Option<Tool> {
        self.mark(GET_TOOL);
        Some(tool())
    }
    async fn on_custom_request(
        &self,
        _: CustomRequest,
        _: RequestContext<RoleServer>,
    ) -> Result<CustomResult, ErrorData> {
        Err(self.error(CUSTOM_REQUEST))
    }
    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        self.mark(ACCEPTED_SUBSCRIPTION_FILTER);
        Some(requested.clone())
    }
    async fn listen(&self, _: SubscriptionContext) -> Result<(), ErrorData> {
        // Ends the stream at once with its final result.
        self.mark(SubscriptionsListenRequestMethod::VALUE);
        Ok(())
    }
    async fn get_task(
        &self,
        _: GetTaskParams,
        _: RequestContext<RoleServer>,
    ) -> Result<GetTaskResult, ErrorData> {
        Err(self.error(GetTaskMethod::VALUE))
    }
    async fn update_task(
        &self,
        _: UpdateTaskParams,
        _: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        Err(self.error(UpdateTaskMethod::VALUE))
    }
    async fn cancel_task(
        &self,
        _: CancelTaskParams,
        _: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        Err(self.error(CancelTaskMethod::VALUE))
    }
    async fn list_skills(
        &self,
        _: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListSkillsResult, ErrorData> {
        Err(self.error(ListSkillsRequestMethod::VALUE))
    }
    async fn get_skill(
        &self,
        _: GetSkillRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<GetSkillResult, ErrorData> {
        Err(self.error(GetSkillRequestMethod::VALUE))
    }
    async fn read_resource_directory(
        &self,
        _: ReadResourceDirectoryRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<ReadResourceDirectoryResult, ErrorData> {
        Err(self.error(ReadResourceDirectoryRequestMethod::VALUE))
    }
    async fn on_cancelled(
        &self,
        _: CancelledNotificationParam,
        _: NotificationContext<RoleServer>,
    ) {
        self.mark(CancelledNotificationMethod::VALUE);
    }
    async fn on_progress(&self, _: ProgressNotificationParam, _: NotificationContext<RoleServer>) {
        self.mark(ProgressNotificationMethod::VALUE);
    }
    async fn on_initialized(&self, _: NotificationContext<RoleServer>) {
        self.mark(InitializedNotificationMethod::VALUE);
    }
    async fn on_roots_list_changed(&self, _: NotificationContext<RoleServer>) {
        self.mark(RootsListChangedNotificationMethod::VALUE);
    }
    async fn on_custom_notification(
        &self,
        _: CustomNotification,
        _: NotificationContext<RoleServer>,
    ) {
        self.mark(CUSTOM_NOTIFICATION);
    }
    fn get_info(&self) -> ServerConfig {
        self.mark(GET_INFO);
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_prompts()
                .enable_resources()
                .enable_resources_subscribe()
                .build(),
        )
        .with_instructions("the marker server")
    }
}

fn wrapped(marker: &Marker) -> AuthzHandler<Marker> {
    AuthzHandler::builder(marker.clone())
        .policy(FnPolicy::new(|_| Decision::Allow))
        .principal(Principal::new("probe"))
        .build()
}

/// How the decorator treats a `ServerHandler` method, by the method's name in the trait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Handling {
    /// Reaches the inner handler (after its check, for requests), which the marker records.
    Forwarded(&'static str),
    /// Answered by the decorator itself by design; the inner handler is never asked.
    Intercepted,
}

/// Every `ServerHandler` method and what the test expects of it.
fn expectations() -> Vec<(&'static str, Handling)> {
    use Handling::{Forwarded, Intercepted};
    vec![
        ("ping", Forwarded(PingRequestMethod::VALUE)),
        ("initialize", Forwarded(InitializeResultMethod::VALUE)),
        ("negotiate_initialize", Forwarded(NEGOTIATE_INITIALIZE)),
        (
            "supported_protocol_versions",
            Forwarded(SUPPORTED_PROTOCOL_VERSIONS),
        ),
        ("discover", Forwarded(DiscoverRequestMethod::VALUE)),
        ("complete", Forwarded(CompleteRequestMethod::VALUE)),
        ("set_level", Forwarded(SetLevelRequestMethod::VALUE)),
        ("get_prompt", Forwarded(GetPromptRequestMethod::VALUE)),
        ("list_prompts", Forwarded(ListPromptsRequestMethod::VALUE)),
        (
            "list_resources",
            Forwarded(ListResourcesRequestMethod::VALUE),
        ),
        (
            "list_resource_templates",
            Forwarded(ListResourceTemplatesRequestMethod::VALUE),
        ),
        ("read_resource", Forwarded(ReadResourceRequestMethod::VALUE)),
        ("subscribe", Forwarded(SubscribeRequestMethod::VALUE)),
        ("unsubscribe", Forwarded(UnsubscribeRequestMethod::VALUE)),
        ("call_tool", Forwarded(CallToolRequestMethod::VALUE)),
        ("list_tools", Forwarded(ListToolsRequestMethod::VALUE)),
        // rmcp asks without a caller: no tool schema leaves the decorator.
        ("get_tool", Intercepted),
        ("on_custom_request", Forwarded(CUSTOM_REQUEST)),
        (
            "accepted_subscription_filter",
            Forwarded(ACCEPTED_SUBSCRIPTION_FILTER),
        ),
        ("listen", Forwarded(SubscriptionsListenRequestMethod::VALUE)),
        ("get_task", Forwarded(GetTaskMethod::VALUE)),
        ("update_task", Forwarded(UpdateTaskMethod::VALUE)),
        ("cancel_task", Forwarded(CancelTaskMethod::VALUE)),
        ("list_skills", Forwarded(ListSkillsRequestMethod::VALUE)),
        ("get_skill", Forwarded(GetSkillRequestMethod::VALUE)),
        (
            "read_resource_directory",
            Forwarded(ReadResourceDirectoryRequestMethod::VALUE),
        ),
        (
            "on_cancelled",
            Forwarded(CancelledNotificationMethod::VALUE),
        ),
        ("on_progress", Forwarded(ProgressNotificationMethod::VALUE)),
        (
            "on_initialized",
            Forwarded(InitializedNotificationMethod::VALUE),
        ),
        (
            "on_roots_list_changed",
            Forwarded(RootsListChangedNotificationMethod::VALUE),
        ),
        ("on_custom_notification", Forwarded(CUSTOM_NOTIFICATION)),
        ("get_info", Forwarded(GET_INFO)),
    ]
}

/// Calls the request method `name` (a `ServerHandler` method taking a request context) on
/// `handler`; `None` when `name` is not one.
async fn call_request(
    handler: &AuthzHandler<Marker>,
    name: &str,
    context: RequestContext<RoleServer>,
) -> Option<Result<(), ErrorData>> {
    let done = |r: Result<(), ErrorData>| Some(r);
    match name {
        "ping" => done(handler.ping(context).await),
        "initialize" => done(
            handler
                .initialize(InitializeRequestParams::default(), context)
                .await
                .map(drop),
        ),
        "discover" => done(handler.discover(context).await.map(drop)),
        "complete" => done(
            handler
                .complete(
                    CompleteRequestParams::new(
                        Reference::for_prompt("marker_prompt"),
                        ArgumentInfo::new("a", "b"),
                    ),
                    context,
                )
                .await
                .map(drop),
        ),
        "set_level" => done(
            handler
                .set_level(SetLevelRequestParams::new(LoggingLevel::Info), context)
                .await,
        ),
        "get_prompt" => done(
            handler
                .get_prompt(GetPromptRequestParams::new("marker_prompt"), context)
                .await
                .map(drop),
        ),
        "list_prompts" => done(handler.list_prompts(None, context).await.map(drop)),
        "list_resources" => done(handler.list_resources(None, context).await.map(drop)),
        "list_resource_templates" => done(
            handler
                .list_resource_templates(None, context)
                .await
                .map(drop),
        ),
        "read_resource" => done(
            handler
                .read_resource(ReadResourceRequestParams::new("marker://r"), context)
                .await
                .map(drop),
        ),
        "subscribe" => done(
            handler
                .subscribe(SubscribeRequestParams::new("marker://r"), context)
                .await,
        ),
        "unsubscribe" => done(
            handler
                .unsubscribe(UnsubscribeRequestParams::new("marker://r"), context)
                .await,
        ),
        "call_tool" => done(
            handler
                .call_tool(CallToolRequestParams::new("marker_tool"), context)
                .await
                .map(drop),
        ),
        "list_tools" => done(handler.list_tools(None, context).await.map(drop)),
        "on_custom_request" => done(
            handler
                .on_custom_request(CustomRequest::new(CUSTOM_REQUEST, None), context)
                .await
                .map(drop),
        ),
        "get_task" => done(
            handler
                .get_task(GetTaskParams::new("task-1"), context)
                .await
                .map(drop),
        ),
        "update_task" => done(
            handler
                .update_task(
                    UpdateTaskParams::new("task-1", std::collections::BTreeMap::new()),
                    context,
                )
                .await,
        ),
        "cancel_task" => done(
            handler
                .cancel_task(CancelTaskParams::new("task-1"), context)
                .await,
        ),
        "list_skills" => done(handler.list_skills(None, context).await.map(drop)),
        "get_skill" => done(
            handler
                .get_skill(
                    GetSkillRequestParams::new("skill://marker/SKILL.md"),
                    context,
                )
                .await
                .map(drop),
        ),
        "read_resource_directory" => done(
            handler
                .read_resource_directory(
                    ReadResourceDirectoryRequestParams::new("marker://dir/"),
                    context,
                )
                .await
                .map(drop),
        ),
        _ => None,
    }
}

/// Calls the method `name` that needs no context; `None` when `name` is not one.
fn call_plain(handler: &AuthzHandler<Marker>, name: &str) -> Option<String> {
    match name {
        "get_info" => Some(format!("{:?}", handler.get_info().instructions)),
        "negotiate_initialize" => Some(format!(
            "{:?}",
            handler
                .negotiate_initialize(&InitializeRequestParams::default())
                .map(|r| r.protocol_version)
        )),
        "supported_protocol_versions" => {
            Some(format!("{:?}", handler.supported_protocol_versions()))
        }
        "get_tool" => Some(format!("{:?}", handler.get_tool("marker_tool"))),
        "accepted_subscription_filter" => {
            let requested = SubscriptionFilter::builder()
                .resource_subscription("marker://r")
                .build();
            Some(format!(
                "{:?}",
                handler.accepted_subscription_filter(&requested)
            ))
        }
        _ => None,
    }
}

#[derive(Clone)]
struct Plain;

impl ServerHandler for Plain {}

/// A real peer (over an in-memory pipe) for building request contexts; both ends are kept open
/// while the test uses it.
async fn peer() -> (
    rmcp::Peer<RoleServer>,
    (
        rmcp::service::RunningService<RoleServer, Plain>,
        rmcp::service::RunningService<rmcp::RoleClient, ()>,
    ),
) {
    let (server_io, client_io) = tokio::io::duplex(64 * 1024);
    let server = tokio::spawn(async move { Plain.serve(server_io).await });
    let client = ().serve(client_io).await.expect("client");
    let server = server.await.expect("join").expect("server");
    (server.peer().clone(), (server, client))
}

/// Sends each client notification through rmcp's client to the decorator over a duplex pipe.
async fn send_notifications(handler: AuthzHandler<Marker>, marker: &Marker) {
    let (server_io, client_io) = tokio::io::duplex(64 * 1024);
    let server = tokio::spawn(async move { handler.serve(server_io).await });
    let client = ().serve(client_io).await.expect("client handshake");
    let server = server.await.expect("join").expect("server handshake");
    marker.wait_for(InitializedNotificationMethod::VALUE).await;
    let peer = client.peer().clone();
    peer.notify_cancelled(CancelledNotificationParam::new(
        Some(NumberOrString::Number(7)),
        None,
    ))
    .await
    .expect("cancelled");
    peer.notify_progress(ProgressNotificationParam::new(
        ProgressToken(NumberOrString::Number(7)),
        0.5,
    ))
    .await
    .expect("progress");
    peer.notify_roots_list_changed().await.expect("roots");
    peer.send_notification(rmcp::model::ClientNotification::CustomNotification(
        CustomNotification::new(CUSTOM_NOTIFICATION, None),
    ))
    .await
    .expect("custom notification");
    for marker_name in [
        CancelledNotificationMethod::VALUE,
        ProgressNotificationMethod::VALUE,
        RootsListChangedNotificationMethod::VALUE,
        CUSTOM_NOTIFICATION,
    ] {
        marker.wait_for(marker_name).await;
    }
    let _ = client.cancel().await;
    let _ = server.cancel().await;
}

/// A 2026-07-28 `subscriptions/listen` over Streamable HTTP; the stream ends at once (the marker's
/// `listen` returns), so this returns the SSE body.
async fn listen_over_http(handler: AuthzHandler<Marker>) -> String {
    use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
    use rmcp::transport::streamable_http_server::{
        StreamableHttpServerConfig, StreamableHttpService,
    };
    let service: StreamableHttpService<AuthzHandler<Marker>, LocalSessionManager> =
        StreamableHttpService::new(
            move || Ok(handler.clone()),
            Arc::new(LocalSessionManager::default()),
            StreamableHttpServerConfig::default(),
        );
    let served =
        mcp_patterns_test_support::Served::start(axum::Router::new().nest_service("/mcp", service))
            .await;
    let body = serde_json::json!({
        "jsonrpc": "2.0", "id": 9, "method": SubscriptionsListenRequestMethod::VALUE,
        "params": {
            "notifications": { "resourceSubscriptions": ["marker://r"] },
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientInfo": { "name": "forwarding", "version": "0" },
                "io.modelcontextprotocol/clientCapabilities": {},
            }
        }
    });
    let response = reqwest::Client::new()
        .post(served.url("/mcp"))
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", SubscriptionsListenRequestMethod::VALUE)
        .json(&body)
        .send()
        .await
        .expect("POST");
    tokio::time::timeout(Duration::from_secs(10), response.text())
        .await
        .expect("the stream ends")
        .expect("body")
}

#[tokio::test]
async fn every_method_is_forwarded_or_deliberately_intercepted() {
    let marker = Marker::default();
    let handler = wrapped(&marker);
    let (peer, _keep) = peer().await;
    let mut notifications_sent = false;
    for (name, handling) in expectations() {
        // The notifications all arrive in one session; each then finds its marker.
        if !name.starts_with("on_") {
            marker.take();
        }
        let outcome = if let Some(result) = call_request(
            &handler,
            name,
            RequestContext::new(NumberOrString::Number(1), peer.clone()),
        )
        .await
        {
            format!("{result:?}")
        } else if let Some(result) = call_plain(&handler, name) {
            result
        } else if name == "listen" {
            listen_over_http(handler.clone()).await
        } else if name.starts_with("on_") {
            if !notifications_sent {
                send_notifications(handler.clone(), &marker).await;
                notifications_sent = true;
            }
            String::new()
        } else {
            panic!("the test has no way to call {name}: add one");
        };
        match handling {
            Handling::Forwarded(expected) => {
                marker.wait_for(expected).await;
                // A request the marker answers with an error comes back with that error, not a
                // refusal of the decorator's own.
                if outcome.contains("reached") {
                    assert!(outcome.contains(expected), "{name}: {outcome}");
                }
            }
            Handling::Intercepted => {
                assert!(
                    marker.take().is_empty(),
                    "{name} is answered by the decorator"
                );
            }
        }
        // Specific answers: the inner handler's own values come back where forwarded.
        match name {
            "get_info" => assert!(outcome.contains("the marker server"), "{outcome}"),
            "supported_protocol_versions" => {
                assert!(outcome.contains("2026-07-28"), "{outcome}");
                assert!(!outcome.contains("2024-11-05"), "{outcome}");
            }
            "get_tool" => assert_eq!(outcome, "None"),
            "accepted_subscription_filter" => assert!(outcome.contains("marker://r"), "{outcome}"),
            "listen" => assert!(outcome.contains("\"result\""), "a final result: {outcome}"),
            _ => {}
        }
    }
    // Without a caller rmcp may still ask for a tool's schema; the inner handler has one.
    assert!(marker.get_tool("marker_tool").is_some());
}

/// The `fn` names in rmcp's `server_handler_methods!` (the body of `trait ServerHandler`), read
/// from the source of the rmcp this test is built with (located with `cargo metadata`).
fn rmcp_server_handler_methods() -> BTreeSet<String> {
    // Only the host's dependencies: the others (other platforms') need not be downloaded.
    let version = std::process::Command::new(env!("CARGO"))
        .arg("-vV")
        .output()
        .expect("cargo -vV runs");
    let version = String::from_utf8_lossy(&version.stdout);
    let host = version
        .lines()
        .find_map(|line| line.strip_prefix("host: "))
        .expect("cargo -vV names the host");
    let output = std::process::Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--locked", "--offline"])
        .args(["--filter-platform", host])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        output.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("cargo metadata JSON");
    let rmcp: Vec<&serde_json::Value> = metadata["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .filter(|p| p["name"] == "rmcp")
        .collect();
    assert_eq!(rmcp.len(), 1, "exactly one rmcp in the dependency graph");
    let manifest = std::path::PathBuf::from(rmcp[0]["manifest_path"].as_str().expect("path"));
    let source_file = manifest
        .parent()
        .expect("package dir")
        .join("src/handler/server.rs");
    let source = std::fs::read_to_string(&source_file)
        .unwrap_or_else(|e| panic!("read {}: {e}", source_file.display()));
    // The trait's body is a macro (shared by its Send and `local` variants).
    let start = source
        .find("macro_rules! server_handler_methods")
        .expect("rmcp defines ServerHandler's methods in server_handler_methods!");
    let end = start
        + source[start..]
            .find("\n}\n")
            .expect("the end of server_handler_methods!");
    assert!(
        source.contains("pub trait ServerHandler") && source.contains("server_handler_methods!();"),
        "trait ServerHandler is no longer made of server_handler_methods!: update this test"
    );
    source[start..end]
        .lines()
        .map(str::trim_start)
        .filter(|line| !line.starts_with("//"))
        .filter_map(|line| {
            let rest = line.strip_prefix("async ").unwrap_or(line);
            let rest = rest.strip_prefix("fn ")?;
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            (!name.is_empty()).then_some(name)
        })
        .collect()
}

#[test]
fn handled_methods_are_exactly_rmcp_server_handler_methods() {
    let rmcp = rmcp_server_handler_methods();
    assert!(rmcp.len() > 20, "found only {rmcp:?}");
    let handled: BTreeSet<String> = HANDLED_METHODS.iter().map(|m| (*m).to_owned()).collect();
    assert_eq!(
        HANDLED_METHODS.len(),
        handled.len(),
        "HANDLED_METHODS names a method twice"
    );
    let missing: Vec<_> = rmcp.difference(&handled).collect();
    let stale: Vec<_> = handled.difference(&rmcp).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "AuthzHandler does not implement rmcp's {missing:?} (decide or forward them in \
         handler.rs) and lists {stale:?} that rmcp no longer has"
    );
    let tested: BTreeSet<String> = expectations()
        .iter()
        .map(|(m, _)| (*m).to_owned())
        .collect();
    assert_eq!(tested, rmcp, "every method has an expectation in this test");
}
