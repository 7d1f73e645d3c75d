//! A probe for `AuthzHandler`'s tests: an inner handler that overrides every `ServerHandler`
//! method and records which ones reached it, and one way to call each method.
#![allow(dead_code, unreachable_pub)]

use std::borrow::Cow;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mcp_authz::AuthzHandler;
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
    LoggingLevel, PaginatedRequestParams, PingRequestMethod, ProgressNotificationMethod,
    ProgressNotificationParam, Prompt, ProtocolVersion, ReadResourceDirectoryRequestMethod,
    ReadResourceDirectoryRequestParams, ReadResourceDirectoryResult, ReadResourceRequestMethod,
    ReadResourceRequestParams, ReadResourceResponse, Reference, Resource, ResourceTemplate,
    RootsListChangedNotificationMethod, ServerCapabilities, ServerConfig, SetLevelRequestMethod,
    SetLevelRequestParams, SubscribeRequestMethod, SubscribeRequestParams, SubscriptionFilter,
    SubscriptionsListenRequestMethod, Tool, UnsubscribeRequestMethod, UnsubscribeRequestParams,
    UpdateTaskMethod, UpdateTaskParams,
};
use rmcp::service::{NotificationContext, RequestContext, SubscriptionContext};
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt};

/// The marker of a method without an MCP method name of its own in rmcp.
pub const GET_INFO: &str = "get_info";
pub const NEGOTIATE_INITIALIZE: &str = "negotiate_initialize";
pub const SUPPORTED_PROTOCOL_VERSIONS: &str = "supported_protocol_versions";
pub const GET_TOOL: &str = "get_tool";
pub const ACCEPTED_SUBSCRIPTION_FILTER: &str = "accepted_subscription_filter";
pub const CUSTOM_REQUEST: &str = "x/custom-request";
pub const CUSTOM_NOTIFICATION: &str = "notifications/x-custom";

/// Records the marker of every method that reached it.
#[derive(Clone, Default)]
pub struct Probe {
    reached: Arc<Mutex<Vec<String>>>,
    arrived: Arc<tokio::sync::Notify>,
}

impl Probe {
    pub fn mark(&self, marker: &str) {
        self.reached.lock().unwrap().push(marker.to_owned());
        self.arrived.notify_waiters();
    }
    pub fn error(&self, marker: &str) -> ErrorData {
        self.mark(marker);
        ErrorData::internal_error(format!("reached {marker}"), None)
    }
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.reached.lock().unwrap())
    }
    /// Waits (bounded) until `marker` has been recorded, for what arrives asynchronously.
    pub async fn wait_for(&self, marker: &str) {
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

/// The one tool, prompt, resource and resource template the probe lists.
pub const TOOL: &str = "secret_tool";
/// See [`TOOL`].
pub const PROMPT: &str = "secret_prompt";
/// See [`TOOL`].
pub const RESOURCE: &str = "secret://r";
/// See [`TOOL`].
pub const TEMPLATE: &str = "secret://{x}";

fn tool() -> Tool {
    Tool::new(TOOL, "a tool", Arc::new(serde_json::Map::new()))
}

impl ServerHandler for Probe {
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
        Ok(initialize_result(&request))
    }
    fn negotiate_initialize(
        &self,
        request: &InitializeRequestParams,
    ) -> Result<InitializeResult, ErrorData> {
        self.mark(NEGOTIATE_INITIALIZE);
        Ok(initialize_result(request))
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
        self.mark(ListPromptsRequestMethod::VALUE);
        Ok(ListPromptsResult::with_all_items(vec![Prompt::new(
            PROMPT,
            None::<String>,
            None,
        )]))
    }
    async fn list_resources(
        &self,
        _: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        self.mark(ListResourcesRequestMethod::VALUE);
        Ok(ListResourcesResult::with_all_items(vec![Resource::new(
            RESOURCE, "r",
        )]))
    }
    async fn list_resource_templates(
        &self,
        _: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        self.mark(ListResourceTemplatesRequestMethod::VALUE);
        Ok(ListResourceTemplatesResult::with_all_items(vec![
            ResourceTemplate::new(TEMPLATE, "x"),
        ]))
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
        self.mark(ListToolsRequestMethod::VALUE);
        Ok(ListToolsResult::with_all_items(vec![tool()]))
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
        info()
    }
}

/// The probe's answer to `initialize` (recording nothing else).
fn initialize_result(request: &InitializeRequestParams) -> InitializeResult {
    let version = if request.protocol_version.has_initialize() {
        request.protocol_version.clone()
    } else {
        ProtocolVersion::LATEST_WITH_INITIALIZE
    };
    InitializeResult::new(info().capabilities).with_protocol_version(version)
}

fn info() -> ServerConfig {
    ServerConfig::new(
        ServerCapabilities::builder()
            .enable_tools()
            .enable_prompts()
            .enable_resources()
            .enable_resources_subscribe()
            .build(),
    )
    .with_instructions("the probe server")
}

/// Calls the request method `name` (a `ServerHandler` method taking a request context) on
/// `handler`, naming the probe's targets; `None` when `name` is not one. A list answers
/// `"{n} items"`, a tool call its result's `Debug`, anything else `""`.
#[allow(clippy::too_many_lines)] // one arm per method
pub async fn call_request(
    handler: &AuthzHandler<Probe>,
    name: &str,
    context: RequestContext<RoleServer>,
) -> Option<Result<String, ErrorData>> {
    let done = |r: Result<(), ErrorData>| Some(r.map(|()| String::new()));
    let count = |n: usize| format!("{n} items");
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
                        Reference::for_prompt(PROMPT),
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
                .get_prompt(GetPromptRequestParams::new(PROMPT), context)
                .await
                .map(drop),
        ),
        "list_prompts" => Some(
            handler
                .list_prompts(None, context)
                .await
                .map(|r| count(r.prompts.len())),
        ),
        "list_resources" => Some(
            handler
                .list_resources(None, context)
                .await
                .map(|r| count(r.resources.len())),
        ),
        "list_resource_templates" => Some(
            handler
                .list_resource_templates(None, context)
                .await
                .map(|r| count(r.resource_templates.len())),
        ),
        "read_resource" => done(
            handler
                .read_resource(ReadResourceRequestParams::new(RESOURCE), context)
                .await
                .map(drop),
        ),
        "subscribe" => done(
            handler
                .subscribe(SubscribeRequestParams::new(RESOURCE), context)
                .await,
        ),
        "unsubscribe" => done(
            handler
                .unsubscribe(UnsubscribeRequestParams::new(RESOURCE), context)
                .await,
        ),
        "call_tool" => Some(
            handler
                .call_tool(CallToolRequestParams::new(TOOL), context)
                .await
                .map(|r| format!("{r:?}")),
        ),
        "list_tools" => Some(
            handler
                .list_tools(None, context)
                .await
                .map(|r| count(r.tools.len())),
        ),
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
        "list_skills" => Some(
            handler
                .list_skills(None, context)
                .await
                .map(|r| count(r.skills.len())),
        ),
        "get_skill" => done(
            handler
                .get_skill(
                    GetSkillRequestParams::new("skill://secret/SKILL.md"),
                    context,
                )
                .await
                .map(drop),
        ),
        "read_resource_directory" => Some(
            handler
                .read_resource_directory(
                    ReadResourceDirectoryRequestParams::new("secret://dir/"),
                    context,
                )
                .await
                .map(|r| count(r.resources.len())),
        ),
        _ => None,
    }
}

/// Calls the method `name` that needs no context; `None` when `name` is not one.
pub fn call_plain(handler: &AuthzHandler<Probe>, name: &str) -> Option<String> {
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
        "get_tool" => Some(format!("{:?}", handler.get_tool(TOOL))),
        "accepted_subscription_filter" => {
            let requested = SubscriptionFilter::builder()
                .resource_subscription(RESOURCE)
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
pub struct Plain;

impl ServerHandler for Plain {}

/// A real peer (over an in-memory pipe) for building request contexts; both ends are kept open
/// while the test uses it.
pub async fn peer() -> (
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
