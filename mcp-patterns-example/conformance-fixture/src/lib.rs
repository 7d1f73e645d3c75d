//! The conformance fixture: the tools, resources and prompts that the server scenarios of the
//! MCP conformance suite (npm `@modelcontextprotocol/conformance`) call, served by the
//! `mcp-conformance-fixture` binary of this (unpublished) crate.
//!
//! The suite checks a server against a fixed "everything server" surface — `test_simple_text`,
//! `test://static-text`, `test_simple_prompt` and so on — so a server can only be checked
//! against it by offering that surface. It lives apart from the reference server, which offers
//! only its firewall tools. `docs/conformance.md` lists the scenarios and results.
//!
//! The fixture is served through the same decorators as the reference server ([`Decorators`]):
//! tracing, authorization (an allow-all policy and a fixed principal) and cache resources, so a
//! passing scenario shows that the decorators forward what the protocol needs, not only that
//! rmcp does.
//!
//! One [`ConformanceServer`] serves one MCP session (protocol 2025-11-25) or one request
//! (2026-07-28, stateless): the log level a client sets and the resources it subscribes to are
//! per session, as the protocol defines them. What outlives a session — the announcements of
//! list changes to `subscriptions/listen` streams and the key that seals `requestState` — is
//! shared by every [`ConformanceServer`] made with [`ConformanceServer::for_new_session`].

// Logging, sampling, roots and `resources/subscribe` are deprecated by SEP-2577 (protocol
// 2026-07-28), but the suite's 2025-11-25 scenarios call them and its 2026-07-28 scenarios ask
// for sampling and roots through input requests; the fixture must use them.
#![allow(deprecated)]

mod changes;
mod content;
mod elicitation;
mod error;
mod mrtr;
mod polling;
mod prompts;
mod resources;
mod serve;
mod tools;

use std::sync::{Arc, Mutex, PoisonError};

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CompleteRequestParams, CompleteResult,
    GetPromptRequestParams, GetPromptResponse, Implementation, ListPromptsResult,
    ListResourceTemplatesResult, ListResourcesResult, ListToolsResult, LoggingLevel,
    LoggingMessageNotificationParam, PaginatedRequestParams, ProtocolVersion,
    ReadResourceRequestParams, ReadResourceResponse, ServerCapabilities, ServerConfig,
    SetLevelRequestParams, SubscribeRequestParams, SubscriptionFilter, Tool,
    UnsubscribeRequestParams,
};
use rmcp::service::{RequestContext, SubscriptionContext};
use rmcp::{ErrorData, RoleServer, ServerHandler};
use tokio::sync::broadcast;

pub use error::FixtureError;
pub use polling::PollingSessionManager;
pub use serve::{RunningConformance, ServeError, serve_conformance_stdio, start_conformance_http};

mod decorators;
pub use decorators::{CACHE_URI, Decorated, Decorators, PRINCIPAL};

/// Name the fixture reports in `serverInfo`.
pub const SERVER_NAME: &str = "mcp-patterns-example-conformance";

/// The logger name on the fixture's `notifications/message`.
const LOGGER: &str = "conformance-fixture";

/// The MCP handler of the conformance fixture; one per session.
#[derive(Clone, Debug)]
pub struct ConformanceServer {
    state: Arc<SessionState>,
    shared: Arc<Shared>,
}

/// What a session changes: its log level and its resource subscriptions.
///
/// Each sits behind a `std` mutex held only for a copy, an insert or a take, never across an
/// `.await`.
#[derive(Debug, Default)]
struct SessionState {
    /// The minimum level the client asked for with `logging/setLevel`; `None` sends every level.
    log_level: Mutex<Option<LoggingLevel>>,
    /// URIs the client subscribed to with `resources/subscribe`.
    subscriptions: Mutex<std::collections::BTreeSet<String>>,
    /// The list-change receiver of a `subscriptions/listen` request, subscribed when rmcp asks
    /// for the accepted filter (before it acknowledges the stream) and taken by
    /// [`ServerHandler::listen`]: a change announced right after the acknowledgement is not lost.
    pending_listen: Mutex<Option<broadcast::Receiver<changes::ListChange>>>,
}

/// What all sessions of one fixture server share.
#[derive(Debug)]
struct Shared {
    /// Announces tool and prompt list changes to every open `subscriptions/listen` stream.
    changes: changes::ListChanges,
    /// Seals and opens the `requestState` of multi round-trip requests.
    request_state: mrtr::StateCodec,
}

impl Default for ConformanceServer {
    fn default() -> Self {
        Self::new()
    }
}

impl ConformanceServer {
    /// A fixture server with its first session: no log level set, no subscriptions, a fresh
    /// `requestState` key.
    pub fn new() -> Self {
        Self {
            state: Arc::default(),
            shared: Arc::new(Shared {
                changes: changes::ListChanges::new(),
                request_state: mrtr::StateCodec::random(),
            }),
        }
    }

    /// A fixture for another session (or stateless request) of the same server: fresh session
    /// state, the same list-change announcements and `requestState` key.
    #[must_use]
    pub fn for_new_session(&self) -> Self {
        Self {
            state: Arc::default(),
            shared: self.shared.clone(),
        }
    }

    /// Whether a message at `level` reaches the caller of `context`.
    ///
    /// A 2026-07-28 request asks for log messages in its own `_meta` (`logLevel`) and gets none
    /// without it; a 2025-11-25 session gets every level until it calls `logging/setLevel`.
    fn log_enabled(&self, context: &RequestContext<RoleServer>, level: LoggingLevel) -> bool {
        let minimum = if is_stateless_request(context) {
            match context.meta.log_level() {
                Some(minimum) => Some(minimum),
                None => return false,
            }
        } else {
            *self
                .state
                .log_level
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
        };
        passes(minimum, level)
    }

    /// Sends `message` as a `notifications/message` at `level`, unless the caller's level
    /// filters it out. A client that has gone away is not an error of the caller.
    async fn log(&self, context: &RequestContext<RoleServer>, level: LoggingLevel, message: &str) {
        if !self.log_enabled(context, level) {
            return;
        }
        let param = LoggingMessageNotificationParam::new(level, message.into()).with_logger(LOGGER);
        if let Err(error) = context.peer.notify_logging_message(param).await {
            tracing::debug!(%error, "log notification not delivered");
        }
    }
}

/// Whether the request of `context` follows protocol 2026-07-28 or later: it names its version
/// in `_meta` and belongs to no session.
fn is_stateless_request(context: &RequestContext<RoleServer>) -> bool {
    context
        .meta
        .protocol_version()
        .is_some_and(|version| version.as_str() >= ProtocolVersion::V_2026_07_28.as_str())
}

/// Whether a message at `level` passes `minimum` (everything passes `None`).
fn passes(minimum: Option<LoggingLevel>, level: LoggingLevel) -> bool {
    minimum.is_none_or(|minimum| severity(level) >= severity(minimum))
}

/// RFC 5424 order of the MCP log levels, `debug` lowest.
fn severity(level: LoggingLevel) -> u8 {
    match level {
        LoggingLevel::Debug => 0,
        LoggingLevel::Info => 1,
        LoggingLevel::Notice => 2,
        LoggingLevel::Warning => 3,
        LoggingLevel::Error => 4,
        LoggingLevel::Critical => 5,
        LoggingLevel::Alert => 6,
        LoggingLevel::Emergency => 7,
    }
}

impl ServerHandler for ConformanceServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_tool_list_changed()
                .enable_resources()
                .enable_resources_subscribe()
                .enable_prompts()
                .enable_prompts_list_changed()
                .enable_logging()
                .enable_completions()
                .build(),
        )
        .with_server_info(Implementation::new(SERVER_NAME, env!("CARGO_PKG_VERSION")))
        .with_instructions(
            "MCP conformance-suite fixture of mcp-patterns-example: test tools, resources and \
             prompts only, no firewall data.",
        )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(tools::list()))
    }

    /// The tool `name`, for rmcp's check of `Mcp-Param-*` headers against the arguments.
    fn get_tool(&self, name: &str) -> Option<Tool> {
        tools::list().into_iter().find(|tool| tool.name == name)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let name = request.name.as_ref();
        let response = if let Some(flow) = mrtr::tool_flow(name) {
            mrtr::call_tool(&self.shared.request_state, flow, &request, &context)
        } else if let Some(change) = changes::trigger(name) {
            Ok(changes::announce(self, change, &context).await.into())
        } else {
            tools::call(self, request, context)
                .await
                .map(CallToolResponse::from)
        };
        response.map_err(FixtureError::into_error_data)
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        Ok(ListResourcesResult::with_all_items(resources::list()))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        Ok(ListResourceTemplatesResult::with_all_items(
            resources::templates(),
        ))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        resources::read(&request.uri)
            .map(ReadResourceResponse::from)
            .map_err(FixtureError::into_error_data)
    }

    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        resources::ensure_exists(&request.uri).map_err(FixtureError::into_error_data)?;
        self.state
            .subscriptions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(request.uri.clone());
        let message = format!("Subscribed to resource: {}", request.uri);
        self.log(&context, LoggingLevel::Info, &message).await;
        Ok(())
    }

    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        // rmcp acknowledges the stream right after this: subscribe now, so that a change
        // announced once the client has read the acknowledgement reaches the stream.
        *self
            .state
            .pending_listen
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(self.shared.changes.subscribe());
        Some(changes::accepted_filter(requested))
    }

    async fn listen(&self, context: SubscriptionContext) -> Result<(), ErrorData> {
        let pending = self
            .state
            .pending_listen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let receiver = pending.unwrap_or_else(|| self.shared.changes.subscribe());
        changes::listen(context, receiver).await
    }

    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let was_subscribed = self
            .state
            .subscriptions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&request.uri);
        let message = if was_subscribed {
            format!("Unsubscribed from resource: {}", request.uri)
        } else {
            format!("Not subscribed to resource: {}", request.uri)
        };
        self.log(&context, LoggingLevel::Info, &message).await;
        Ok(())
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        Ok(ListPromptsResult::with_all_items(prompts::list()))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        let response = if let Some(flow) = mrtr::prompt_flow(&request.name) {
            mrtr::get_prompt(&self.shared.request_state, flow, &request, &context)
        } else {
            prompts::get(&request.name, request.arguments.as_ref()).map(GetPromptResponse::from)
        };
        response.map_err(FixtureError::into_error_data)
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, ErrorData> {
        prompts::complete(&request.r#ref, &request.argument).map_err(FixtureError::into_error_data)
    }

    async fn set_level(
        &self,
        request: SetLevelRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        *self
            .state
            .log_level
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(request.level);
        let message = format!("Log level set to: {}", level_name(request.level));
        self.log(&context, LoggingLevel::Info, &message).await;
        Ok(())
    }
}

/// The wire name of a log level.
fn level_name(level: LoggingLevel) -> &'static str {
    match level {
        LoggingLevel::Debug => "debug",
        LoggingLevel::Info => "info",
        LoggingLevel::Notice => "notice",
        LoggingLevel::Warning => "warning",
        LoggingLevel::Error => "error",
        LoggingLevel::Critical => "critical",
        LoggingLevel::Alert => "alert",
        LoggingLevel::Emergency => "emergency",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_level_filters_lower_severities_only() {
        assert!(passes(None, LoggingLevel::Debug), "no level set: all pass");
        let warning = Some(LoggingLevel::Warning);
        assert!(!passes(warning, LoggingLevel::Info));
        assert!(passes(warning, LoggingLevel::Warning));
        assert!(passes(warning, LoggingLevel::Emergency));
    }

    #[test]
    fn sessions_share_announcements_not_state() {
        let first = ConformanceServer::new();
        *first.state.log_level.lock().unwrap() = Some(LoggingLevel::Error);
        let second = first.for_new_session();
        assert!(second.state.log_level.lock().unwrap().is_none());
        assert!(Arc::ptr_eq(&first.shared, &second.shared));
        assert!(!Arc::ptr_eq(
            &first.shared,
            &ConformanceServer::new().shared
        ));
    }
}
