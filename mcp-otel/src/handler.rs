//! [`OtelHandler`]: the decorator that traces every request of a wrapped rmcp [`ServerHandler`].

// SEP-2577 deprecated `logging/setLevel`; the decorator still forwards it.
#![allow(deprecated)]

use std::borrow::Cow;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use opentelemetry::KeyValue;
use rmcp::ErrorData as McpError;
use rmcp::ServerHandler;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CancelTaskParams, CancelledNotificationParam,
    CompleteRequestParams, CompleteResult, CustomNotification, CustomRequest, CustomResult,
    DiscoverResult, GetPromptRequestParams, GetPromptResponse, GetSkillRequestParams,
    GetSkillResult, GetTaskParams, GetTaskResult, InitializeRequestParams, InitializeResult,
    ListPromptsResult, ListResourceTemplatesResult, ListResourcesResult, ListSkillsResult,
    ListToolsResult, PaginatedRequestParams, ProgressNotificationParam, ProtocolVersion,
    ReadResourceDirectoryRequestParams, ReadResourceDirectoryResult, ReadResourceRequestParams,
    ReadResourceResponse, ServerConfig, SetLevelRequestParams, SubscribeRequestParams,
    SubscriptionFilter, Tool, UnsubscribeRequestParams, UpdateTaskParams,
};
use rmcp::service::{NotificationContext, RequestContext, RoleServer, SubscriptionContext};
use serde_json::Value;
use tracing::Instrument;

use crate::layer::{OtelLayer, Shared};
use crate::operation::{Operation, Outcome, Target};
use crate::semconv;

/// Wraps any rmcp [`ServerHandler`] and opens one OpenTelemetry SERVER span per request,
/// following the MCP semantic conventions, and records the MCP server metrics.
///
/// Every `ServerHandler` method is forwarded to the inner handler; request methods run inside
/// the request's span, so `tracing` spans and events of the inner handler (and of libraries it
/// calls) nest under it. Create one per session (rmcp's Streamable HTTP service factory does),
/// from an [`OtelLayer`]: when it is dropped at the end of an initialized session it records
/// `mcp.server.session.duration`. Under MCP 2026-07-28 there is no `initialize` and no session
/// (rmcp makes one handler per request), so nothing records that metric, and no span carries
/// `mcp.session.id`; every span carries the request's own `mcp.protocol.version`.
///
/// ```
/// use mcp_otel::OtelHandler;
/// # struct MyServer;
/// # impl rmcp::ServerHandler for MyServer {}
///
/// let handler = OtelHandler::new(MyServer);
/// // rmcp::ServiceExt::serve(handler, rmcp::transport::stdio()).await?;
/// # let _ = handler.into_inner();
/// ```
pub struct OtelHandler<H> {
    inner: H,
    shared: Arc<Shared>,
    session: SessionClock,
}

struct SessionStart {
    at: Instant,
    attrs: Vec<KeyValue>,
}

impl<H: std::fmt::Debug> std::fmt::Debug for OtelHandler<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtelHandler")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<H: ServerHandler> OtelHandler<H> {
    /// Wraps `inner` with the default [`OtelLayer`].
    pub fn new(inner: H) -> Self {
        OtelLayer::default().layer(inner)
    }

    pub(crate) fn from_parts(inner: H, shared: Arc<Shared>, sessions: bool) -> Self {
        Self {
            inner,
            session: SessionClock {
                start: Mutex::new(None),
                enabled: sessions,
                shared: shared.clone(),
            },
            shared,
        }
    }

    /// The wrapped handler.
    pub fn get_ref(&self) -> &H {
        &self.inner
    }

    /// The wrapped handler, mutably.
    pub fn get_mut(&mut self) -> &mut H {
        &mut self.inner
    }

    /// Unwraps the inner handler (no session duration is recorded for it).
    pub fn into_inner(self) -> H {
        self.session.disarm();
        self.inner
    }

    async fn traced<T, F>(
        &self,
        op: Operation,
        fut: F,
        tool_error: impl FnOnce(&T) -> bool,
    ) -> Result<T, McpError>
    where
        T: Captured,
        F: Future<Output = Result<T, McpError>>,
    {
        let result = fut.instrument(op.span().clone()).await;
        match &result {
            Ok(value) => {
                if op.capturing()
                    && let Some(json) = value.captured()
                {
                    op.output(&json);
                }
                op.finish(&if tool_error(value) {
                    Outcome::ToolError
                } else {
                    Outcome::Ok
                });
            }
            Err(error) => op.finish(&Outcome::Rpc(error)),
        }
        result
    }

    async fn plain<T, F>(&self, op: Operation, fut: F) -> Result<T, McpError>
    where
        F: Future<Output = Result<T, McpError>>,
    {
        let result = fut.instrument(op.span().clone()).await;
        match &result {
            Ok(_) => op.finish(&Outcome::Ok),
            Err(error) => op.finish(&Outcome::Rpc(error)),
        }
        result
    }

    fn op(
        &self,
        method: &str,
        target: Target<'_>,
        context: &RequestContext<RoleServer>,
    ) -> Operation {
        Operation::start(&self.shared, method, target, context)
    }
}

/// The start of an initialized session; records `mcp.server.session.duration` when dropped.
struct SessionClock {
    start: Mutex<Option<SessionStart>>,
    /// `false` for handlers of one stateless request: there is no session to time.
    enabled: bool,
    shared: Arc<Shared>,
}

impl SessionClock {
    fn start(&self, attrs: Vec<KeyValue>) {
        if !self.enabled {
            return;
        }
        if let Ok(mut start) = self.start.lock() {
            start.get_or_insert(SessionStart {
                at: Instant::now(),
                attrs,
            });
        }
    }

    fn disarm(&self) {
        if let Ok(mut start) = self.start.lock() {
            start.take();
        }
    }
}

impl Drop for SessionClock {
    fn drop(&mut self) {
        let start = self.start.get_mut().ok().and_then(Option::take);
        if let (Some(start), Some(metrics)) = (start, &self.shared.metrics) {
            metrics
                .session_duration
                .record(start.at.elapsed().as_secs_f64(), &start.attrs);
        }
    }
}

/// The part of a result that output capture records.
trait Captured {
    fn captured(&self) -> Option<Value>;
}

impl Captured for CallToolResponse {
    fn captured(&self) -> Option<Value> {
        match self {
            Self::Complete(result) => serde_json::to_value(result).ok(),
            _ => None,
        }
    }
}

impl Captured for ReadResourceResponse {
    fn captured(&self) -> Option<Value> {
        match self {
            Self::Complete(result) => serde_json::to_value(result).ok(),
            _ => None,
        }
    }
}

impl Captured for GetPromptResponse {
    fn captured(&self) -> Option<Value> {
        match self {
            Self::Complete(result) => serde_json::to_value(result).ok(),
            _ => None,
        }
    }
}

fn is_tool_error(response: &CallToolResponse) -> bool {
    matches!(response, CallToolResponse::Complete(result) if result.is_error == Some(true))
}

fn never<T>(_: &T) -> bool {
    false
}

impl<H: ServerHandler> ServerHandler for OtelHandler<H> {
    async fn ping(&self, context: RequestContext<RoleServer>) -> Result<(), McpError> {
        let op = self.op("ping", Target::None, &context);
        self.plain(op, self.inner.ping(context)).await
    }

    async fn initialize(
        &self,
        request: InitializeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<InitializeResult, McpError> {
        let op = self.op("initialize", Target::None, &context);
        let http = context.extensions.get::<http::request::Parts>().is_some();
        let result = self
            .plain(op, self.inner.initialize(request, context))
            .await;
        if let Ok(info) = &result {
            let mut attrs = vec![KeyValue::new(
                semconv::MCP_PROTOCOL_VERSION,
                info.protocol_version.as_str().to_owned(),
            )];
            if http {
                attrs.push(KeyValue::new(semconv::NETWORK_PROTOCOL_NAME, "http"));
            }
            self.session.start(attrs);
        }
        result
    }

    fn negotiate_initialize(
        &self,
        request: &InitializeRequestParams,
    ) -> Result<InitializeResult, McpError> {
        self.inner.negotiate_initialize(request)
    }

    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        self.inner.supported_protocol_versions()
    }

    async fn discover(
        &self,
        context: RequestContext<RoleServer>,
    ) -> Result<DiscoverResult, McpError> {
        let op = self.op("server/discover", Target::None, &context);
        self.plain(op, self.inner.discover(context)).await
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, McpError> {
        let op = self.op("completion/complete", Target::None, &context);
        self.plain(op, self.inner.complete(request, context)).await
    }

    async fn set_level(
        &self,
        request: SetLevelRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        let op = self.op("logging/setLevel", Target::None, &context);
        self.plain(op, self.inner.set_level(request, context)).await
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, McpError> {
        let op = self.op("prompts/get", Target::Prompt(&request.name), &context);
        if op.capturing()
            && let Some(arguments) = &request.arguments
            && let Ok(json) = serde_json::to_value(arguments)
        {
            op.input(&json);
        }
        self.traced(op, self.inner.get_prompt(request, context), never)
            .await
    }

    async fn list_prompts(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, McpError> {
        let op = self.op("prompts/list", Target::None, &context);
        self.plain(op, self.inner.list_prompts(request, context))
            .await
    }

    async fn list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        let op = self.op("resources/list", Target::None, &context);
        self.plain(op, self.inner.list_resources(request, context))
            .await
    }

    async fn list_resource_templates(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, McpError> {
        let op = self.op("resources/templates/list", Target::None, &context);
        self.plain(op, self.inner.list_resource_templates(request, context))
            .await
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        let op = self.op("resources/read", Target::Resource(&request.uri), &context);
        op.input_text(&request.uri);
        self.traced(op, self.inner.read_resource(request, context), never)
            .await
    }

    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        self.inner.accepted_subscription_filter(requested)
    }

    /// Traces a `subscriptions/listen` stream (MCP 2026-07-28) with one `SERVER` span named
    /// `subscriptions/listen`, open for the life of the stream: from the point rmcp has sent the
    /// acknowledgement and calls `listen` until the inner `listen` returns (the client cancelled
    /// or the server closed the stream). The inner `listen` runs inside it, so its `tracing`
    /// spans and log lines nest under it and carry its trace id.
    ///
    /// The span has the attributes of every other request (`mcp.method.name`,
    /// `mcp.protocol.version`, `jsonrpc.request.id`, `network.*`, `mcp.session.id` only when the
    /// request belongs to a session, the `_meta` parent) plus
    /// [`semconv::MCP_SUBSCRIPTION_RESOURCE_COUNT`], the number of resource subscriptions the
    /// server accepted — an attribute of this crate, not of the conventions, which describe no
    /// `subscriptions/listen`. An `Err` from the inner `listen` sets `rpc.response.status_code`,
    /// and `error.type` with an `ERROR` status under the same rules as other requests.
    /// Notifications sent on the stream get no spans of their own.
    ///
    /// The stream is **not** recorded in `mcp.server.operation.duration`: that histogram
    /// describes request latency, and a stream that stays open for minutes or hours would skew
    /// its percentiles (and land past its last bucket, 300 s). The span's own duration is the
    /// stream's lifetime.
    async fn listen(&self, context: SubscriptionContext) -> Result<(), McpError> {
        let op = self
            .op(
                "subscriptions/listen",
                Target::None,
                context.request_context(),
            )
            .without_duration_metric();
        let accepted = context
            .accepted()
            .resource_subscriptions
            .as_ref()
            .map_or(0, Vec::len);
        op.set_count(semconv::MCP_SUBSCRIPTION_RESOURCE_COUNT, accepted);
        self.plain(op, self.inner.listen(context)).await
    }

    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        let op = self.op(
            "resources/subscribe",
            Target::Resource(&request.uri),
            &context,
        );
        self.plain(op, self.inner.subscribe(request, context)).await
    }

    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        let op = self.op(
            "resources/unsubscribe",
            Target::Resource(&request.uri),
            &context,
        );
        self.plain(op, self.inner.unsubscribe(request, context))
            .await
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let op = self.op("tools/call", Target::Tool(&request.name), &context);
        if op.recording() {
            op.describe_tool(self.inner.get_tool(&request.name));
        }
        if op.capturing() {
            let arguments = request.arguments.clone().unwrap_or_default();
            op.input(&Value::Object(arguments));
        }
        self.traced(op, self.inner.call_tool(request, context), is_tool_error)
            .await
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let op = self.op("tools/list", Target::None, &context);
        self.plain(op, self.inner.list_tools(request, context))
            .await
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.inner.get_tool(name)
    }

    async fn on_custom_request(
        &self,
        request: CustomRequest,
        context: RequestContext<RoleServer>,
    ) -> Result<CustomResult, McpError> {
        let method = request.method.clone();
        let op = self.op(&method, Target::None, &context);
        self.plain(op, self.inner.on_custom_request(request, context))
            .await
    }

    async fn on_cancelled(
        &self,
        notification: CancelledNotificationParam,
        context: NotificationContext<RoleServer>,
    ) {
        self.inner.on_cancelled(notification, context).await;
    }

    async fn on_progress(
        &self,
        notification: ProgressNotificationParam,
        context: NotificationContext<RoleServer>,
    ) {
        self.inner.on_progress(notification, context).await;
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        self.inner.on_initialized(context).await;
    }

    async fn on_roots_list_changed(&self, context: NotificationContext<RoleServer>) {
        self.inner.on_roots_list_changed(context).await;
    }

    async fn on_custom_notification(
        &self,
        notification: CustomNotification,
        context: NotificationContext<RoleServer>,
    ) {
        self.inner
            .on_custom_notification(notification, context)
            .await;
    }

    fn get_info(&self) -> ServerConfig {
        self.inner.get_info()
    }

    async fn get_task(
        &self,
        request: GetTaskParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetTaskResult, McpError> {
        let op = self.op("tasks/get", Target::None, &context);
        self.plain(op, self.inner.get_task(request, context)).await
    }

    async fn update_task(
        &self,
        request: UpdateTaskParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        let op = self.op("tasks/update", Target::None, &context);
        self.plain(op, self.inner.update_task(request, context))
            .await
    }

    async fn cancel_task(
        &self,
        request: CancelTaskParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        let op = self.op("tasks/cancel", Target::None, &context);
        self.plain(op, self.inner.cancel_task(request, context))
            .await
    }

    async fn list_skills(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListSkillsResult, McpError> {
        let op = self.op("skills/list", Target::None, &context);
        self.plain(op, self.inner.list_skills(request, context))
            .await
    }

    async fn get_skill(
        &self,
        request: GetSkillRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetSkillResult, McpError> {
        let op = self.op("skills/get", Target::None, &context);
        self.plain(op, self.inner.get_skill(request, context)).await
    }

    async fn read_resource_directory(
        &self,
        request: ReadResourceDirectoryRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceDirectoryResult, McpError> {
        let op = self.op("resources/directory/read", Target::None, &context);
        self.plain(op, self.inner.read_resource_directory(request, context))
            .await
    }
}
