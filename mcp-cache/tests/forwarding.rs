//! `CacheResourcesHandler` handles every method of rmcp's `ServerHandler`: a probe inner
//! handler overrides each one with a marker; each method is invoked through the wrapper
//! (directly, or over an in-memory rmcp session for notifications and `subscriptions/listen`)
//! and is either forwarded unchanged or deliberately intercepted.
//!
//! `the_handled_methods_are_those_of_rmcps_trait` reads rmcp's own source and fails when rmcp
//! adds (or removes) a `ServerHandler` method, until the wrapper handles it too.
#![cfg(feature = "rmcp")]
// `resources/subscribe` and `logging/setLevel` are deprecated in rmcp, and still handled.
#![allow(deprecated)]

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mcp_cache::{
    Cache, CacheConfig, CacheResources, CacheResourcesLayer, HANDLED_METHODS, JsonView,
};
use mcp_patterns_test_support::handlers::{
    LARGE_FUTURE_BUFFER, LargeFuture, large_future_answer, server_peer,
};
use rmcp::model::{
    ArgumentInfo, CallToolRequestMethod, CallToolRequestParams, CallToolResponse, CancelTaskMethod,
    CancelTaskParams, CancelledNotificationMethod, CancelledNotificationParam, ClientConfig,
    ClientNotification, CompleteRequestMethod, CompleteRequestParams, CompleteResult, ConstString,
    CustomNotification, CustomRequest, CustomResult, DiscoverRequestMethod, DiscoverResult,
    GetPromptRequestMethod, GetPromptRequestParams, GetPromptResponse, GetSkillRequestMethod,
    GetSkillRequestParams, GetSkillResult, GetTaskMethod, GetTaskParams, GetTaskResult,
    InitializeRequestParams, InitializeResult, InitializeResultMethod,
    InitializedNotificationMethod, ListPromptsRequestMethod, ListPromptsResult,
    ListResourceTemplatesRequestMethod, ListResourceTemplatesResult, ListResourcesRequestMethod,
    ListResourcesResult, ListSkillsRequestMethod, ListSkillsResult, ListToolsRequestMethod,
    ListToolsResult, LoggingLevel, NumberOrString, PaginatedRequestParams, PingRequestMethod,
    ProgressNotificationMethod, ProgressNotificationParam, ProgressToken, ProtocolVersion,
    ReadResourceDirectoryRequestMethod, ReadResourceDirectoryRequestParams,
    ReadResourceDirectoryResult, ReadResourceRequestMethod, ReadResourceRequestParams,
    ReadResourceResponse, Reference, Resource, ResourceTemplate,
    RootsListChangedNotificationMethod, ServerCapabilities, ServerConfig, SetLevelRequestMethod,
    SetLevelRequestParams, SubscribeRequestMethod, SubscribeRequestParams, SubscriptionFilter,
    SubscriptionsListenRequestMethod, Tool, UnsubscribeRequestMethod, UnsubscribeRequestParams,
    UpdateTaskMethod, UpdateTaskParams,
};
use rmcp::service::{NotificationContext, RequestContext, RoleServer, SubscriptionContext};
use rmcp::{ClientLifecycleMode, ClientServiceExt, ErrorData, Peer, ServerHandler, ServiceExt};
use tower_layer::Layer as _;

/// The URIs the cache component owns in this test.
const OWNED: &str = "cache://data/a";
/// A URI only the inner handler knows.
const FOREIGN: &str = "probe://x";
const DEADLINE: Duration = Duration::from_secs(20);

/// Which methods the inner handler saw (by JSON-RPC method name where rmcp has one, else by
/// trait method name).
#[derive(Clone, Default)]
struct Probe {
    reached: Arc<Mutex<Vec<&'static str>>>,
}

impl Probe {
    fn mark(&self, method: &'static str) {
        self.reached.lock().unwrap().push(method);
    }
    fn marker(&self, method: &'static str) -> ErrorData {
        self.mark(method);
        ErrorData::internal_error(format!("reached {method}"), None)
    }
    fn take(&self) -> Vec<&'static str> {
        std::mem::take(&mut *self.reached.lock().unwrap())
    }
    fn has(&self, method: &str) -> bool {
        self.reached.lock().unwrap().contains(&method)
    }
    fn info() -> ServerConfig {
        let mut capabilities = ServerCapabilities::builder()
            .enable_tools()
            .enable_tool_list_changed()
            .build();
        capabilities.resources = None;
        ServerConfig::new(capabilities)
    }
}

fn probe_tool(name: &str) -> Tool {
    Tool::new(
        format!("probe-{name}"),
        "a tool",
        Arc::new(serde_json::Map::new()),
    )
}

impl ServerHandler for Probe {
    async fn ping(&self, _: RequestContext<RoleServer>) -> Result<(), ErrorData> {
        Err(self.marker(PingRequestMethod::VALUE))
    }
    async fn initialize(
        &self,
        request: InitializeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<InitializeResult, ErrorData> {
        self.mark(InitializeResultMethod::VALUE);
        context.peer.set_peer_info(request.clone());
        let mut info = Self::info();
        info.protocol_version = request.protocol_version;
        Ok(info)
    }
    fn negotiate_initialize(
        &self,
        request: &InitializeRequestParams,
    ) -> Result<InitializeResult, ErrorData> {
        self.mark("negotiate_initialize");
        let mut info = Self::info();
        info.protocol_version = request.protocol_version.clone();
        Ok(info)
    }
    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        self.mark("supported_protocol_versions");
        Cow::Borrowed(ProtocolVersion::KNOWN_VERSIONS)
    }
    async fn discover(&self, _: RequestContext<RoleServer>) -> Result<DiscoverResult, ErrorData> {
        self.mark(DiscoverRequestMethod::VALUE);
        Ok(DiscoverResult::from_server_info(
            ProtocolVersion::KNOWN_VERSIONS.to_vec(),
            Self::info(),
        ))
    }
    async fn complete(
        &self,
        _: CompleteRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, ErrorData> {
        Err(self.marker(CompleteRequestMethod::VALUE))
    }
    async fn set_level(
        &self,
        _: SetLevelRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        Err(self.marker(SetLevelRequestMethod::VALUE))
    }
    async fn get_prompt(
        &self,
        _: GetPromptRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        Err(self.marker(GetPromptRequestMethod::VALUE))
    }
    async fn list_prompts(
        &self,
        _: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        Err(self.marker(ListPromptsRequestMethod::VALUE))
    }
    async fn list_resources(
        &self,
        _: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        self.mark(ListResourcesRequestMethod::VALUE);
        Ok(ListResourcesResult::with_all_items(vec![Resource::new(
            FOREIGN, "x",
        )]))
    }
    async fn list_resource_templates(
        &self,
        _: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        self.mark(ListResourceTemplatesRequestMethod::VALUE);
        Ok(ListResourceTemplatesResult::with_all_items(vec![
            ResourceTemplate::new("probe://{x}", "x"),
        ]))
    }
    async fn read_resource(
        &self,
        _: ReadResourceRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        Err(self.marker(ReadResourceRequestMethod::VALUE))
    }
    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        self.mark("accepted_subscription_filter");
        let mut accepted = requested.clone();
        accepted.resources_list_changed = None;
        Some(accepted)
    }
    async fn listen(&self, context: SubscriptionContext) -> Result<(), ErrorData> {
        self.mark(SubscriptionsListenRequestMethod::VALUE);
        context.cancelled().await;
        Ok(())
    }
    async fn subscribe(
        &self,
        _: SubscribeRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        Err(self.marker(SubscribeRequestMethod::VALUE))
    }
    async fn unsubscribe(
        &self,
        _: UnsubscribeRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        Err(self.marker(UnsubscribeRequestMethod::VALUE))
    }
    async fn call_tool(
        &self,
        _: CallToolRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        Err(self.marker(CallToolRequestMethod::VALUE))
    }
    async fn list_tools(
        &self,
        _: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Err(self.marker(ListToolsRequestMethod::VALUE))
    }
    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.mark("get_tool");
        Some(probe_tool(name))
    }
    async fn on_custom_request(
        &self,
        _: CustomRequest,
        _: RequestContext<RoleServer>,
    ) -> Result<CustomResult, ErrorData> {
        Err(self.marker("on_custom_request"))
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
        self.mark("on_custom_notification");
    }
    fn get_info(&self) -> ServerConfig {
        self.mark("get_info");
        Self::info()
    }
    async fn get_task(
        &self,
        _: GetTaskParams,
        _: RequestContext<RoleServer>,
    ) -> Result<GetTaskResult, ErrorData> {
        Err(self.marker(GetTaskMethod::VALUE))
    }
    async fn update_task(
        &self,
        _: UpdateTaskParams,
        _: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        Err(self.marker(UpdateTaskMethod::VALUE))
    }
    async fn cancel_task(
        &self,
        _: CancelTaskParams,
        _: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        Err(self.marker(CancelTaskMethod::VALUE))
    }
    async fn list_skills(
        &self,
        _: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListSkillsResult, ErrorData> {
        Err(self.marker(ListSkillsRequestMethod::VALUE))
    }
    async fn get_skill(
        &self,
        _: GetSkillRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<GetSkillResult, ErrorData> {
        Err(self.marker(GetSkillRequestMethod::VALUE))
    }
    async fn read_resource_directory(
        &self,
        _: ReadResourceDirectoryRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<ReadResourceDirectoryResult, ErrorData> {
        Err(self.marker(ReadResourceDirectoryRequestMethod::VALUE))
    }
}

type Wrapped = mcp_cache::CacheResourcesHandler<Probe, BTreeMap<String, u32>>;

async fn wrapped(probe: &Probe) -> Wrapped {
    wrap(probe.clone()).await
}

/// `inner` inside a `CacheResourcesHandler` that owns `cache://data`.
async fn wrap<H: ServerHandler>(
    inner: H,
) -> mcp_cache::CacheResourcesHandler<H, BTreeMap<String, u32>> {
    let cache = Cache::from_fn(|| async {
        Ok::<_, std::io::Error>(BTreeMap::from([("a".to_owned(), 1_u32)]))
    })
    .config(CacheConfig::default().background_refresh(false))
    .build()
    .await
    .expect("first fetch");
    let resources = CacheResources::builder(cache, JsonView::btree_map("cache://data"))
        .without_health()
        .build();
    CacheResourcesLayer::new(resources).layer(inner)
}

/// Asserts that the probe's marker error came back unchanged and only `marker` was seen.
fn forwarded<R: std::fmt::Debug>(probe: &Probe, marker: &str, result: Result<R, ErrorData>) {
    let error = result.expect_err(marker);
    assert_eq!(error.message, format!("reached {marker}"), "{marker}");
    assert_eq!(probe.take(), [marker], "{marker}");
}

/// Calls the request method `method` (a trait method name) through `handler`, and says how
/// the probe must have seen it: `Ok(marker)` forwarded with the inner answer unchanged (the
/// probe's marker error), or `Err(what)` answered differently, checked here.
#[allow(clippy::too_many_lines)] // one arm per method
async fn call(handler: &Wrapped, probe: &Probe, method: &str, peer: &Peer<RoleServer>) {
    let cx = || RequestContext::new(NumberOrString::Number(1), peer.clone());
    let has_resources = |capabilities: &ServerCapabilities| {
        let r = capabilities
            .resources
            .as_ref()
            .expect("resources capability added");
        assert_eq!((r.subscribe, r.list_changed), (Some(true), Some(true)));
        assert!(capabilities.tools.is_some(), "the inner capabilities kept");
    };
    match method {
        "ping" => forwarded(probe, PingRequestMethod::VALUE, handler.ping(cx()).await),
        "complete" => forwarded(
            probe,
            CompleteRequestMethod::VALUE,
            handler
                .complete(
                    CompleteRequestParams::new(
                        Reference::for_prompt("p"),
                        ArgumentInfo::new("a", "b"),
                    ),
                    cx(),
                )
                .await,
        ),
        "set_level" => forwarded(
            probe,
            SetLevelRequestMethod::VALUE,
            handler
                .set_level(SetLevelRequestParams::new(LoggingLevel::Info), cx())
                .await,
        ),
        "get_prompt" => forwarded(
            probe,
            GetPromptRequestMethod::VALUE,
            handler
                .get_prompt(GetPromptRequestParams::new("p"), cx())
                .await,
        ),
        "list_prompts" => forwarded(
            probe,
            ListPromptsRequestMethod::VALUE,
            handler.list_prompts(None, cx()).await,
        ),
        "call_tool" => forwarded(
            probe,
            CallToolRequestMethod::VALUE,
            handler
                .call_tool(CallToolRequestParams::new("t"), cx())
                .await,
        ),
        "list_tools" => forwarded(
            probe,
            ListToolsRequestMethod::VALUE,
            handler.list_tools(None, cx()).await,
        ),
        "on_custom_request" => forwarded(
            probe,
            "on_custom_request",
            handler
                .on_custom_request(CustomRequest::new("x/custom", None), cx())
                .await,
        ),
        "get_task" => forwarded(
            probe,
            GetTaskMethod::VALUE,
            handler.get_task(GetTaskParams::new("t"), cx()).await,
        ),
        "update_task" => forwarded(
            probe,
            UpdateTaskMethod::VALUE,
            handler
                .update_task(UpdateTaskParams::new("t", BTreeMap::new()), cx())
                .await,
        ),
        "cancel_task" => forwarded(
            probe,
            CancelTaskMethod::VALUE,
            handler.cancel_task(CancelTaskParams::new("t"), cx()).await,
        ),
        "list_skills" => forwarded(
            probe,
            ListSkillsRequestMethod::VALUE,
            handler.list_skills(None, cx()).await,
        ),
        "get_skill" => forwarded(
            probe,
            GetSkillRequestMethod::VALUE,
            handler
                .get_skill(GetSkillRequestParams::new("skill://s/SKILL.md"), cx())
                .await,
        ),
        "read_resource_directory" => forwarded(
            probe,
            ReadResourceDirectoryRequestMethod::VALUE,
            handler
                .read_resource_directory(
                    ReadResourceDirectoryRequestParams::new("probe://d/"),
                    cx(),
                )
                .await,
        ),
        "supported_protocol_versions" => {
            assert_eq!(
                handler.supported_protocol_versions(),
                ProtocolVersion::KNOWN_VERSIONS
            );
            assert_eq!(probe.take(), ["supported_protocol_versions"]);
        }
        "get_tool" => {
            assert_eq!(
                handler.get_tool("t").map(|t| t.name),
                Some("probe-t".into())
            );
            assert_eq!(probe.take(), ["get_tool"]);
        }
        // Intercepted: the inner answer with the resources capability added.
        "get_info" => {
            has_resources(&handler.get_info().capabilities);
            assert_eq!(probe.take(), ["get_info"]);
        }
        "negotiate_initialize" => {
            let info = handler
                .negotiate_initialize(&InitializeRequestParams::default())
                .expect("negotiated");
            has_resources(&info.capabilities);
            assert_eq!(probe.take(), ["negotiate_initialize"]);
        }
        "initialize" => {
            let info = handler
                .initialize(InitializeRequestParams::default(), cx())
                .await
                .expect("initialized");
            has_resources(&info.capabilities);
            assert_eq!(probe.take(), [InitializeResultMethod::VALUE]);
        }
        "discover" => {
            let discovered = handler.discover(cx()).await.expect("discovered");
            has_resources(&discovered.capabilities);
            assert_eq!(probe.take(), [DiscoverRequestMethod::VALUE]);
        }
        // Intercepted: the component's entries first, then the inner handler's.
        "list_resources" => {
            let listed = handler.list_resources(None, cx()).await.expect("listed");
            let uris: Vec<&str> = listed.resources.iter().map(|r| r.uri.as_str()).collect();
            assert_eq!(uris, ["cache://data", OWNED, FOREIGN]);
            assert_eq!(probe.take(), [ListResourcesRequestMethod::VALUE]);
        }
        "list_resource_templates" => {
            let listed = handler
                .list_resource_templates(None, cx())
                .await
                .expect("listed");
            let templates: Vec<&str> = listed
                .resource_templates
                .iter()
                .map(|t| t.uri_template.as_str())
                .collect();
            assert_eq!(templates, ["cache://data/{segment}", "probe://{x}"]);
            assert_eq!(probe.take(), [ListResourceTemplatesRequestMethod::VALUE]);
        }
        // Intercepted for the component's URIs, forwarded for the others.
        "read_resource" => {
            handler
                .read_resource(ReadResourceRequestParams::new(OWNED), cx())
                .await
                .expect("answered by the component");
            assert!(probe.take().is_empty());
            let inner = handler
                .read_resource(ReadResourceRequestParams::new(FOREIGN), cx())
                .await;
            forwarded(probe, ReadResourceRequestMethod::VALUE, inner);
        }
        "subscribe" => {
            handler
                .subscribe(SubscribeRequestParams::new(OWNED), cx())
                .await
                .expect("answered by the component");
            assert!(probe.take().is_empty());
            let inner = handler
                .subscribe(SubscribeRequestParams::new(FOREIGN), cx())
                .await;
            forwarded(probe, SubscribeRequestMethod::VALUE, inner);
        }
        "unsubscribe" => {
            handler
                .unsubscribe(UnsubscribeRequestParams::new(OWNED), cx())
                .await
                .expect("answered by the component");
            assert!(probe.take().is_empty());
            let inner = handler
                .unsubscribe(UnsubscribeRequestParams::new(FOREIGN), cx())
                .await;
            forwarded(probe, UnsubscribeRequestMethod::VALUE, inner);
        }
        // The component's URIs and list changes, merged with what the inner handler accepts of
        // the rest.
        "accepted_subscription_filter" => {
            let requested = SubscriptionFilter::builder()
                .tools_list_changed()
                .resources_list_changed()
                .resource_subscriptions([OWNED, FOREIGN])
                .build();
            let accepted = handler
                .accepted_subscription_filter(&requested)
                .expect("accepted");
            assert_eq!(accepted.tools_list_changed, Some(true), "the inner's part");
            assert_eq!(
                accepted.resources_list_changed,
                Some(true),
                "the component's part"
            );
            assert_eq!(
                accepted.resource_subscriptions,
                Some(vec![OWNED.to_owned(), FOREIGN.to_owned()])
            );
            assert_eq!(probe.take(), ["accepted_subscription_filter"]);
        }
        other => panic!("{other}: not called directly"),
    }
}

/// The methods reached over a session rather than called directly: notifications (rmcp
/// builds their context) and the listen stream.
const OVER_A_SESSION: [&str; 6] = [
    "on_initialized",
    "on_cancelled",
    "on_progress",
    "on_roots_list_changed",
    "on_custom_notification",
    "listen",
];

async fn wait_for(probe: &Probe, marker: &str) {
    tokio::time::timeout(DEADLINE, async {
        while !probe.has(marker) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{marker} never reached the inner handler"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_method_is_forwarded_or_deliberately_intercepted() {
    let probe = Probe::default();
    let handler = wrapped(&probe).await;

    // A session over an in-memory pipe, on protocol 2026-07-28 (discover, then per-request
    // versions), for the notifications and the listen stream.
    let (server_io, client_io) = tokio::io::duplex(64 * 1024);
    let to_serve = handler.clone();
    let server = tokio::spawn(async move { to_serve.serve(server_io).await });
    let client = ClientConfig::default()
        .serve_with_lifecycle(
            client_io,
            ClientLifecycleMode::Discover {
                preferred_versions: vec![ProtocolVersion::V_2026_07_28],
            },
        )
        .await
        .expect("client");
    // The first request after discover settles the server's lifecycle.
    let first = client.peer().list_tools(None).await;
    assert!(first.is_err(), "the probe's marker: {first:?}");
    let server = server.await.expect("join").expect("server");
    let peer = server.peer().clone();
    probe.take();

    let peer_client = client.peer().clone();
    peer_client
        .notify_initialized()
        .await
        .expect("notifications/initialized");
    wait_for(&probe, InitializedNotificationMethod::VALUE).await;
    peer_client
        .notify_cancelled(CancelledNotificationParam::new(
            Some(NumberOrString::Number(99)),
            None,
        ))
        .await
        .expect("notifications/cancelled");
    wait_for(&probe, CancelledNotificationMethod::VALUE).await;
    peer_client
        .notify_progress(ProgressNotificationParam::new(
            ProgressToken(NumberOrString::Number(7)),
            0.5,
        ))
        .await
        .expect("notifications/progress");
    wait_for(&probe, ProgressNotificationMethod::VALUE).await;
    peer_client
        .notify_roots_list_changed()
        .await
        .expect("notifications/roots/list_changed");
    wait_for(&probe, RootsListChangedNotificationMethod::VALUE).await;
    peer_client
        .send_notification(ClientNotification::CustomNotification(
            CustomNotification::new("x/custom", None),
        ))
        .await
        .expect("custom notification");
    wait_for(&probe, "on_custom_notification").await;

    // The listen stream: the component's URI and the inner handler's tools list, both
    // acknowledged; the inner handler's listen runs beside the component's.
    let mut subscription = client
        .listen(
            SubscriptionFilter::builder()
                .tools_list_changed()
                .resource_subscriptions([OWNED])
                .build(),
        )
        .await
        .expect("subscriptions/listen");
    assert_eq!(
        subscription.acknowledged().resource_subscriptions,
        Some(vec![OWNED.to_owned()])
    );
    assert_eq!(subscription.acknowledged().tools_list_changed, Some(true));
    wait_for(&probe, SubscriptionsListenRequestMethod::VALUE).await;
    probe.take();
    subscription.cancel().await.expect("cancel");
    // Cancelling the stream sends `notifications/cancelled`, which reaches the inner handler
    // on its own time: wait for it, so it cannot land among the direct calls' markers below.
    wait_for(&probe, CancelledNotificationMethod::VALUE).await;
    probe.take();

    for method in HANDLED_METHODS {
        if !OVER_A_SESSION.contains(method) {
            call(&handler, &probe, method, &peer).await;
        }
    }
    client.cancel().await.expect("client closes");
    drop(server);
}

fn rmcp_server_handler_methods() -> BTreeSet<String> {
    mcp_patterns_test_support::rmcp_server_handler_methods(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn the_handled_methods_are_those_of_rmcps_trait() {
    let rmcp = rmcp_server_handler_methods();
    assert!(rmcp.len() > 20, "rmcp's trait read: {rmcp:?}");
    let handled: BTreeSet<String> = HANDLED_METHODS.iter().map(|m| (*m).to_owned()).collect();
    assert_eq!(
        handled.len(),
        HANDLED_METHODS.len(),
        "no method listed twice"
    );
    let missing: Vec<&String> = rmcp.difference(&handled).collect();
    let gone: Vec<&String> = handled.difference(&rmcp).collect();
    assert!(
        missing.is_empty() && gone.is_empty(),
        "rmcp's ServerHandler changed: handle {missing:?} in CacheResourcesHandler; \
         {gone:?} are no longer rmcp's"
    );
    // Every handled method is exercised above.
    let called = [
        "ping",
        "complete",
        "set_level",
        "get_prompt",
        "list_prompts",
        "call_tool",
        "list_tools",
        "on_custom_request",
        "get_task",
        "update_task",
        "cancel_task",
        "list_skills",
        "get_skill",
        "read_resource_directory",
        "supported_protocol_versions",
        "get_tool",
        "get_info",
        "negotiate_initialize",
        "initialize",
        "discover",
        "list_resources",
        "list_resource_templates",
        "read_resource",
        "subscribe",
        "unsubscribe",
        "accepted_subscription_filter",
    ];
    let exercised: BTreeSet<String> = called
        .iter()
        .chain(OVER_A_SESSION.iter())
        .map(|m| (*m).to_owned())
        .collect();
    assert_eq!(
        exercised, handled,
        "a handled method the probe test does not call"
    );
}

/// A forwarded request (`tools/call` here) is the inner handler's own future: the decorator adds
/// nothing to it. Every request's future is moved into a task when rmcp spawns it, so its size
/// is paid on every call.
#[tokio::test]
async fn a_forwarded_tool_call_is_the_inner_handlers_own_future() {
    let (peer, _session) = server_peer().await;
    let context = || RequestContext::new(NumberOrString::Number(1), peer.clone());
    let request = || CallToolRequestParams::new("large");
    let inner = std::mem::size_of_val(&LargeFuture.call_tool(request(), context()));
    let wrapped = wrap(LargeFuture).await;
    let outer = std::mem::size_of_val(&wrapped.call_tool(request(), context()));
    assert!(
        inner >= LARGE_FUTURE_BUFFER,
        "the inner future holds its buffer: {inner} bytes"
    );
    assert_eq!(
        outer, inner,
        "the forwarded future is {outer} bytes, the inner one {inner}"
    );
    let response = Box::pin(wrapped.call_tool(request(), context()))
        .await
        .expect("call");
    assert_eq!(large_future_answer(&response), "16384");
}
