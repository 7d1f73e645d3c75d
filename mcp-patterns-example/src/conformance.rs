//! The conformance fixture: the tools, resources and prompts that the server scenarios of the
//! MCP conformance suite (npm `@modelcontextprotocol/conformance`) call, served by
//! `mcp-patterns-example --conformance` instead of the firewall tools.
//!
//! The suite checks a server against a fixed "everything server" surface — `test_simple_text`,
//! `test://static-text`, `test_simple_prompt` and so on — so a server can only be checked
//! against it by offering that surface. It lives here, behind a flag, so the reference server
//! itself offers only its firewall tools. `docs/conformance.md` lists the scenarios and results.
//!
//! One [`ConformanceServer`] serves one MCP session: the log level a client sets and the
//! resources it subscribes to are per session, as the protocol defines them.

// Logging, sampling and `resources/subscribe` are deprecated by SEP-2577 (protocol 2026-07-28),
// but the suite's scenarios target 2025-11-25, where they are current; the fixture must use them.
#![allow(deprecated)]

mod content;
mod elicitation;
mod error;
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
    LoggingMessageNotificationParam, PaginatedRequestParams, ReadResourceRequestParams,
    ReadResourceResponse, ServerCapabilities, ServerConfig, SetLevelRequestParams,
    SubscribeRequestParams, UnsubscribeRequestParams,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, Peer, RoleServer, ServerHandler};

pub use error::FixtureError;
pub use polling::PollingSessionManager;
pub use serve::{RunningConformance, serve_conformance_stdio, start_conformance_http};

/// Name the fixture reports in `serverInfo`.
pub const SERVER_NAME: &str = "mcp-patterns-example-conformance";

/// The logger name on the fixture's `notifications/message`.
const LOGGER: &str = "conformance-fixture";

/// The MCP handler of the conformance fixture; one per session.
#[derive(Clone, Debug, Default)]
pub struct ConformanceServer {
    state: Arc<SessionState>,
}

/// What a session changes: its log level and its resource subscriptions.
///
/// Both sit behind a `std` mutex held only for a copy or an insert, never across an `.await`.
#[derive(Debug, Default)]
struct SessionState {
    /// The minimum level the client asked for with `logging/setLevel`; `None` sends every level.
    log_level: Mutex<Option<LoggingLevel>>,
    /// URIs the client subscribed to with `resources/subscribe`.
    subscriptions: Mutex<std::collections::BTreeSet<String>>,
}

impl ConformanceServer {
    /// A fixture for one new session: no log level set, no subscriptions.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether a message at `level` passes the level the client set (all pass until it sets one).
    fn log_enabled(&self, level: LoggingLevel) -> bool {
        let minimum = *self
            .state
            .log_level
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        minimum.is_none_or(|minimum| severity(level) >= severity(minimum))
    }

    /// Sends `message` as a `notifications/message` at `level`, unless the client's level
    /// filters it out. A client that has gone away is not an error of the caller.
    async fn log(&self, peer: &Peer<RoleServer>, level: LoggingLevel, message: &str) {
        if !self.log_enabled(level) {
            return;
        }
        let param = LoggingMessageNotificationParam::new(level, message.into()).with_logger(LOGGER);
        if let Err(error) = peer.notify_logging_message(param).await {
            tracing::debug!(%error, "log notification not delivered");
        }
    }
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
                .enable_resources()
                .enable_resources_subscribe()
                .enable_prompts()
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

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        tools::call(self, request, context)
            .await
            .map(CallToolResponse::from)
            .map_err(FixtureError::into_error_data)
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
        self.log(&context.peer, LoggingLevel::Info, &message).await;
        Ok(())
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
        self.log(&context.peer, LoggingLevel::Info, &message).await;
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
        _context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        prompts::get(&request.name, request.arguments.as_ref())
            .map(GetPromptResponse::from)
            .map_err(FixtureError::into_error_data)
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
        self.log(&context.peer, LoggingLevel::Info, &message).await;
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
        let server = ConformanceServer::new();
        assert!(
            server.log_enabled(LoggingLevel::Debug),
            "no level set: all pass"
        );
        *server.state.log_level.lock().unwrap() = Some(LoggingLevel::Warning);
        assert!(!server.log_enabled(LoggingLevel::Info));
        assert!(server.log_enabled(LoggingLevel::Warning));
        assert!(server.log_enabled(LoggingLevel::Emergency));
    }
}
