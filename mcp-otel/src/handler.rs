//! [`OtelHandler`]: the decorator that traces every request of a wrapped rmcp [`ServerHandler`].

// SEP-2577 deprecated `logging/setLevel`, `resources/subscribe` and `resources/unsubscribe`; the
// decorator still traces and forwards them.
#![allow(deprecated)]

use std::borrow::Cow;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures::future::{self, FutureExt as _};
use opentelemetry::KeyValue;
use rmcp::ErrorData as McpError;
use rmcp::ServerHandler;
use rmcp::model::{
    CallToolRequestMethod, CallToolRequestParams, CallToolResponse, CancelTaskMethod,
    CancelTaskParams, CancelledNotificationParam, CompleteRequestMethod, CompleteRequestParams,
    CompleteResult, ConstString, CustomNotification, CustomRequest, CustomResult,
    DiscoverRequestMethod, DiscoverResult, GetPromptRequestMethod, GetPromptRequestParams,
    GetPromptResponse, GetSkillRequestMethod, GetSkillRequestParams, GetSkillResult, GetTaskMethod,
    GetTaskParams, GetTaskResult, InitializeRequestParams, InitializeResult,
    InitializeResultMethod, ListPromptsRequestMethod, ListPromptsResult,
    ListResourceTemplatesRequestMethod, ListResourceTemplatesResult, ListResourcesRequestMethod,
    ListResourcesResult, ListSkillsRequestMethod, ListSkillsResult, ListToolsRequestMethod,
    ListToolsResult, PaginatedRequestParams, PingRequestMethod, ProgressNotificationParam,
    ProtocolVersion, ReadResourceDirectoryRequestMethod, ReadResourceDirectoryRequestParams,
    ReadResourceDirectoryResult, ReadResourceRequestMethod, ReadResourceRequestParams,
    ReadResourceResponse, ServerConfig, SetLevelRequestMethod, SetLevelRequestParams,
    SubscribeRequestMethod, SubscribeRequestParams, SubscriptionFilter,
    SubscriptionsListenRequestMethod, Tool, UnsubscribeRequestMethod, UnsubscribeRequestParams,
    UpdateTaskMethod, UpdateTaskParams,
};
use rmcp::service::{
    MaybeSendFuture, NotificationContext, RequestContext, RoleServer, SubscriptionContext,
};
use serde_json::Value;
use tracing::Instrument;

use crate::layer::{OtelLayer, Shared};
use crate::operation::{Operation, Outcome, Target};
use crate::semconv;

/// Wraps any rmcp [`ServerHandler`] and opens one OpenTelemetry SERVER span per request,
/// following the MCP semantic conventions, and records the MCP server metrics.
///
/// Every `ServerHandler` method is forwarded to the inner handler: requests run inside the
/// request's span, so `tracing` spans and events of the inner handler (and of libraries it
/// calls) nest under it; notifications and the synchronous methods (`get_info`, `get_tool`,
/// `negotiate_initialize`, `supported_protocol_versions`, `accepted_subscription_filter`) are
/// passed through unchanged. [`FORWARDED_METHODS`] lists them all.
///
/// One handler serves one session. When a handler that answered `initialize` is dropped at the
/// end of its session it records `mcp.server.session.duration` (unless it came from a
/// stateless [`OtelLayer`]). Under MCP 2026-07-28 there is no `initialize` and no session (rmcp
/// makes one handler per request), so nothing records that metric, and no span carries
/// `mcp.session.id`; every span carries the request's own `mcp.protocol.version`.
///
/// # Cloning
///
/// With a `Clone` inner handler, `OtelHandler` is `Clone`, so a stack built once can be handed
/// to rmcp's Streamable HTTP service factory, which clones it per session
/// (`move || Ok(handler.clone())`). A clone is a fresh handler for a new session: it shares the
/// configuration and metric instruments, clones the inner handler, and has its own session
/// clock, which is unstarted whatever the state of the original. A clone that answers its own
/// `initialize` records its own `mcp.server.session.duration` when it is dropped; a clone that
/// never initializes records none.
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

impl<H: Clone> Clone for OtelHandler<H> {
    /// A handler for a new session: the same configuration and instruments, a clone of the
    /// inner handler, and an unstarted session clock of its own.
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            shared: self.shared.clone(),
            session: SessionClock::new(self.shared.clone(), self.session.enabled),
        }
    }
}

impl<H: ServerHandler> OtelHandler<H> {
    /// Wraps `inner` with the default [`OtelLayer`].
    pub fn new(inner: H) -> Self {
        OtelLayer::default().layer(inner)
    }
}

impl<H> OtelHandler<H> {
    pub(crate) fn from_parts(inner: H, shared: Arc<Shared>, sessions: bool) -> Self {
        Self {
            inner,
            session: SessionClock::new(shared.clone(), sessions),
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

    /// Records the outcome of one request (and the output, with capture on) and closes its
    /// span. A successful `initialize` starts the session clock.
    fn finished<T: Traced>(
        &self,
        op: Operation,
        result: Result<T, McpError>,
    ) -> Result<T, McpError> {
        let http = op.over_http();
        match &result {
            Ok(value) => {
                if op.capturing()
                    && let Some(json) = value.captured()
                {
                    op.output(&json);
                }
                op.finish(&if value.is_tool_error() {
                    Outcome::ToolError
                } else {
                    Outcome::Ok
                });
                if let Some(version) = value.session_version() {
                    let mut attrs = vec![KeyValue::new(
                        semconv::MCP_PROTOCOL_VERSION,
                        version.to_owned(),
                    )];
                    if http {
                        attrs.push(KeyValue::new(semconv::NETWORK_PROTOCOL_NAME, "http"));
                    }
                    self.session.start(attrs);
                }
            }
            Err(error) => op.finish(&Outcome::Rpc(error)),
        }
        result
    }

    /// The span of a request method `M` without a target, for methods with no parameters.
    fn bare<M: ConstString>(&self, context: &RequestContext<RoleServer>) -> Operation {
        Operation::start(&self.shared, M::VALUE, Target::None, context)
    }

    /// The span of a request method `M` without a target.
    fn untargeted<M: ConstString, P>(
        &self,
        _params: &P,
        context: &RequestContext<RoleServer>,
    ) -> Operation {
        self.bare::<M>(context)
    }

    fn get_prompt_op(
        &self,
        request: &GetPromptRequestParams,
        context: &RequestContext<RoleServer>,
    ) -> Operation {
        let op = Operation::start(
            &self.shared,
            GetPromptRequestMethod::VALUE,
            Target::Prompt(&request.name),
            context,
        );
        if op.capturing()
            && let Some(arguments) = &request.arguments
            && let Ok(json) = serde_json::to_value(arguments)
        {
            op.input(&json);
        }
        op
    }

    fn read_resource_op(
        &self,
        request: &ReadResourceRequestParams,
        context: &RequestContext<RoleServer>,
    ) -> Operation {
        let op = Operation::start(
            &self.shared,
            ReadResourceRequestMethod::VALUE,
            Target::Resource(&request.uri),
            context,
        );
        op.input_text(&request.uri);
        op
    }

    fn subscribe_op(
        &self,
        request: &SubscribeRequestParams,
        context: &RequestContext<RoleServer>,
    ) -> Operation {
        Operation::start(
            &self.shared,
            SubscribeRequestMethod::VALUE,
            Target::Resource(&request.uri),
            context,
        )
    }

    fn unsubscribe_op(
        &self,
        request: &UnsubscribeRequestParams,
        context: &RequestContext<RoleServer>,
    ) -> Operation {
        Operation::start(
            &self.shared,
            UnsubscribeRequestMethod::VALUE,
            Target::Resource(&request.uri),
            context,
        )
    }

    fn listen_op(&self, context: &SubscriptionContext) -> Operation {
        let op = Operation::start(
            &self.shared,
            SubscriptionsListenRequestMethod::VALUE,
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
        op
    }

    fn custom_request_op(
        &self,
        request: &CustomRequest,
        context: &RequestContext<RoleServer>,
    ) -> Operation {
        Operation::start(&self.shared, &request.method, Target::None, context)
    }
}

impl<H: ServerHandler> OtelHandler<H> {
    fn call_tool_op(
        &self,
        request: &CallToolRequestParams,
        context: &RequestContext<RoleServer>,
    ) -> Operation {
        let op = Operation::start(
            &self.shared,
            CallToolRequestMethod::VALUE,
            Target::Tool(&request.name),
            context,
        );
        if op.recording() {
            op.describe_tool(self.inner.get_tool(&request.name));
        }
        if op.capturing() {
            let arguments = request.arguments.clone().unwrap_or_default();
            op.input(&Value::Object(arguments));
        }
        op
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
    fn new(shared: Arc<Shared>, enabled: bool) -> Self {
        Self {
            start: Mutex::new(None),
            enabled,
            shared,
        }
    }

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

/// What the decorator reads from a successful result: the part output capture records, whether
/// it is a tool error, and whether it starts a session.
trait Traced {
    fn captured(&self) -> Option<Value> {
        None
    }

    fn is_tool_error(&self) -> bool {
        false
    }

    /// The protocol version a successful `initialize` agreed on: the start of a session.
    fn session_version(&self) -> Option<&str> {
        None
    }
}

impl Traced for CallToolResponse {
    fn captured(&self) -> Option<Value> {
        match self {
            Self::Complete(result) => serde_json::to_value(result).ok(),
            _ => None,
        }
    }

    fn is_tool_error(&self) -> bool {
        matches!(self, Self::Complete(result) if result.is_error == Some(true))
    }
}

impl Traced for ReadResourceResponse {
    fn captured(&self) -> Option<Value> {
        match self {
            Self::Complete(result) => serde_json::to_value(result).ok(),
            _ => None,
        }
    }
}

impl Traced for GetPromptResponse {
    fn captured(&self) -> Option<Value> {
        match self {
            Self::Complete(result) => serde_json::to_value(result).ok(),
            _ => None,
        }
    }
}

impl Traced for InitializeResult {
    fn session_version(&self) -> Option<&str> {
        Some(self.protocol_version.as_str())
    }
}

/// Results recorded by outcome only (`ReadResourceDirectoryResult` is `ListResourcesResult`).
macro_rules! outcome_only {
    ($($result:ty),* $(,)?) => {
        $(impl Traced for $result {})*
    };
}

outcome_only!(
    (),
    DiscoverResult,
    CompleteResult,
    ListPromptsResult,
    ListResourcesResult,
    ListResourceTemplatesResult,
    ListToolsResult,
    CustomResult,
    GetTaskResult,
    ListSkillsResult,
    GetSkillResult,
);

/// One method of the `ServerHandler` impl, by kind:
///
/// - `traced`: a request; `=> hook` opens its span from references to the arguments (before they
///   move), then the inner method runs inside the span through [`OtelHandler::run`].
/// - `forward`: a synchronous method, returned unchanged from the inner handler.
/// - `notify`: a notification, awaited on the inner handler unchanged (no span).
macro_rules! forward_method {
    (
        traced $(#[$attr:meta])*
        fn $name:ident($($arg:ident: $ty:ty),*) -> $ok:ty => $hook:expr
    ) => {
        $(#[$attr])*
        fn $name(
            &self,
            $($arg: $ty),*
        ) -> impl Future<Output = Result<$ok, McpError>> + MaybeSendFuture + '_ {
            // Started when first polled, like an `async fn`, but the inner future is kept once:
            // an `async fn` handing it on would store it twice (as an argument and as the
            // future it awaits), doubling the size of every request's task.
            future::lazy(move |_| {
                let op: Operation = ($hook)(self, $(&$arg),*);
                let span = op.span().clone();
                self.inner
                    .$name($($arg),*)
                    .instrument(span)
                    .map(move |result| self.finished(op, result))
            })
            .flatten()
        }
    };
    (forward $(#[$attr:meta])* fn $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty) => {
        $(#[$attr])*
        fn $name(&self, $($arg: $ty),*) -> $ret {
            self.inner.$name($($arg),*)
        }
    };
    (notify $(#[$attr:meta])* fn $name:ident($($arg:ident: $ty:ty),*)) => {
        $(#[$attr])*
        async fn $name(&self, $($arg: $ty),*) {
            self.inner.$name($($arg),*).await;
        }
    };
}

/// Generates the `ServerHandler` impl of [`OtelHandler`] and [`FORWARDED_METHODS`] from one list
/// of the trait's methods.
macro_rules! server_handler_forwarding {
    ($(
        $(#[$attr:meta])*
        $kind:ident fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? $(=> $hook:expr)?;
    )*) => {
        /// The names of the `ServerHandler` methods [`OtelHandler`] implements, each either traced
        /// or forwarded unchanged: every method of the trait.
        #[doc(hidden)]
        pub const FORWARDED_METHODS: &[&str] = &[$(stringify!($name)),*];

        impl<H: ServerHandler> ServerHandler for OtelHandler<H> {
            $(
                forward_method!(
                    $kind $(#[$attr])* fn $name($($arg: $ty),*) $(-> $ret)? $(=> $hook)?
                );
            )*
        }
    };
}

server_handler_forwarding! {
    traced fn ping(context: RequestContext<RoleServer>) -> () => Self::bare::<PingRequestMethod>;
    traced fn initialize(request: InitializeRequestParams, context: RequestContext<RoleServer>)
        -> InitializeResult => Self::untargeted::<InitializeResultMethod, _>;
    forward fn negotiate_initialize(request: &InitializeRequestParams)
        -> Result<InitializeResult, McpError>;
    forward fn supported_protocol_versions() -> Cow<'static, [ProtocolVersion]>;
    traced fn discover(context: RequestContext<RoleServer>) -> DiscoverResult
        => Self::bare::<DiscoverRequestMethod>;
    traced fn complete(request: CompleteRequestParams, context: RequestContext<RoleServer>)
        -> CompleteResult => Self::untargeted::<CompleteRequestMethod, _>;
    traced fn set_level(request: SetLevelRequestParams, context: RequestContext<RoleServer>)
        -> () => Self::untargeted::<SetLevelRequestMethod, _>;
    traced fn get_prompt(request: GetPromptRequestParams, context: RequestContext<RoleServer>)
        -> GetPromptResponse => Self::get_prompt_op;
    traced fn list_prompts(
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> ListPromptsResult => Self::untargeted::<ListPromptsRequestMethod, _>;
    traced fn list_resources(
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> ListResourcesResult => Self::untargeted::<ListResourcesRequestMethod, _>;
    traced fn list_resource_templates(
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> ListResourceTemplatesResult => Self::untargeted::<ListResourceTemplatesRequestMethod, _>;
    traced fn read_resource(
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> ReadResourceResponse => Self::read_resource_op;
    forward fn accepted_subscription_filter(requested: &SubscriptionFilter)
        -> Option<SubscriptionFilter>;
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
    traced fn listen(context: SubscriptionContext) -> () => Self::listen_op;
    traced fn subscribe(request: SubscribeRequestParams, context: RequestContext<RoleServer>)
        -> () => Self::subscribe_op;
    traced fn unsubscribe(
        request: UnsubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> () => Self::unsubscribe_op;
    traced fn call_tool(request: CallToolRequestParams, context: RequestContext<RoleServer>)
        -> CallToolResponse => Self::call_tool_op;
    traced fn list_tools(
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> ListToolsResult => Self::untargeted::<ListToolsRequestMethod, _>;
    forward fn get_tool(name: &str) -> Option<Tool>;
    traced fn on_custom_request(request: CustomRequest, context: RequestContext<RoleServer>)
        -> CustomResult => Self::custom_request_op;
    notify fn on_cancelled(
        notification: CancelledNotificationParam,
        context: NotificationContext<RoleServer>,
    );
    notify fn on_progress(
        notification: ProgressNotificationParam,
        context: NotificationContext<RoleServer>,
    );
    notify fn on_initialized(context: NotificationContext<RoleServer>);
    notify fn on_roots_list_changed(context: NotificationContext<RoleServer>);
    notify fn on_custom_notification(
        notification: CustomNotification,
        context: NotificationContext<RoleServer>,
    );
    forward fn get_info() -> ServerConfig;
    traced fn get_task(request: GetTaskParams, context: RequestContext<RoleServer>)
        -> GetTaskResult => Self::untargeted::<GetTaskMethod, _>;
    traced fn update_task(request: UpdateTaskParams, context: RequestContext<RoleServer>)
        -> () => Self::untargeted::<UpdateTaskMethod, _>;
    traced fn cancel_task(request: CancelTaskParams, context: RequestContext<RoleServer>)
        -> () => Self::untargeted::<CancelTaskMethod, _>;
    traced fn list_skills(
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> ListSkillsResult => Self::untargeted::<ListSkillsRequestMethod, _>;
    traced fn get_skill(request: GetSkillRequestParams, context: RequestContext<RoleServer>)
        -> GetSkillResult => Self::untargeted::<GetSkillRequestMethod, _>;
    traced fn read_resource_directory(
        request: ReadResourceDirectoryRequestParams,
        context: RequestContext<RoleServer>,
    ) -> ReadResourceDirectoryResult => Self::untargeted::<ReadResourceDirectoryRequestMethod, _>;
}
