//! Helpers shared by the integration tests.
#![allow(dead_code, unreachable_pub)]

pub mod binary;
pub mod keepalive;
pub mod oidc;
// The same `redis-server` launcher as mcp-cache's Redis tests, not a copy of it.
#[path = "../../../mcp-cache/tests/common/redis.rs"]
pub mod redis;
pub mod tls;

use rmcp::model::{CallToolRequestParams, CallToolResult, ResourceUpdatedNotificationParam};
use rmcp::service::{NotificationContext, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use serde_json::{Map, Value};

/// A free loopback port (bound, then released), for a service that is started later or never.
#[allow(unused_imports)]
pub use mcp_patterns_test_support::free_port;

/// A client that sends the URI of every `notifications/resources/updated` it receives, and a
/// description of every other server notification (`list_changed: resources`, `log: …`,
/// `custom: {method}` …), so a test can assert that nothing at all arrived.
#[derive(Clone)]
pub struct Recorder(pub tokio::sync::mpsc::UnboundedSender<String>);

impl ClientHandler for Recorder {
    async fn on_resource_updated(
        &self,
        params: ResourceUpdatedNotificationParam,
        _: NotificationContext<RoleClient>,
    ) {
        let _ = self.0.send(params.uri);
    }

    async fn on_resource_list_changed(&self, _: NotificationContext<RoleClient>) {
        let _ = self.0.send("list_changed: resources".to_owned());
    }

    async fn on_tool_list_changed(&self, _: NotificationContext<RoleClient>) {
        let _ = self.0.send("list_changed: tools".to_owned());
    }

    async fn on_prompt_list_changed(&self, _: NotificationContext<RoleClient>) {
        let _ = self.0.send("list_changed: prompts".to_owned());
    }

    #[allow(deprecated)] // logging is deprecated by SEP-2577; servers may still send it
    async fn on_logging_message(
        &self,
        params: rmcp::model::LoggingMessageNotificationParam,
        _: NotificationContext<RoleClient>,
    ) {
        let _ = self.0.send(format!("log: {}", params.data));
    }

    async fn on_progress(
        &self,
        params: rmcp::model::ProgressNotificationParam,
        _: NotificationContext<RoleClient>,
    ) {
        let _ = self
            .0
            .send(format!("progress: {:?}", params.progress_token));
    }

    async fn on_custom_notification(
        &self,
        notification: rmcp::model::CustomNotification,
        _: NotificationContext<RoleClient>,
    ) {
        let _ = self.0.send(format!("custom: {}", notification.method));
    }
}

/// An rmcp client session with the server at `url`, sending `token` as its bearer token.
pub async fn connect(url: &str, token: Option<&str>) -> RunningService<RoleClient, ()> {
    let mut config = StreamableHttpClientTransportConfig::with_uri(url.to_owned());
    if let Some(token) = token {
        config = config.auth_header(token.to_owned());
    }
    ().serve(StreamableHttpClientTransport::from_config(config))
        .await
        .expect("MCP session initializes")
}

/// The JSON of a text resource read from `client`'s server.
pub async fn read_json(client: &RunningService<RoleClient, ()>, uri: &str) -> Value {
    let result = client
        .read_resource(rmcp::model::ReadResourceRequestParams::new(uri))
        .await
        .unwrap_or_else(|e| panic!("read {uri}: {e}"));
    match result.contents.first() {
        Some(rmcp::model::ResourceContents::TextResourceContents { text, .. }) => {
            serde_json::from_str(text).expect("JSON resource")
        }
        other => panic!("expected text contents for {uri}, got {other:?}"),
    }
}

/// Builds `tools/call` params for `name` with JSON object `args`.
pub fn call(name: &'static str, args: Value) -> CallToolRequestParams {
    let params = CallToolRequestParams::new(name);
    match args {
        Value::Object(map) => params.with_arguments(map),
        Value::Null => params.with_arguments(Map::new()),
        other => panic!("tool arguments must be an object, got {other}"),
    }
}

/// The text of a tool result's first content block.
pub fn text(result: &CallToolResult) -> String {
    result
        .content
        .first()
        .and_then(|c| c.as_text())
        .map(|t| t.text.clone())
        .unwrap_or_default()
}

/// The sorted app names in a `list_firewall_rules` result.
pub fn app_names(result: &CallToolResult) -> Vec<String> {
    let value = result
        .structured_content
        .clone()
        .expect("structured content");
    let mut names: Vec<String> = value["apps"]
        .as_array()
        .expect("apps array")
        .iter()
        .map(|a| a["app_name"].as_str().expect("app_name").to_owned())
        .collect();
    names.sort();
    names
}

/// The token the development issuer of `server` minted for demo user `name`.
pub fn demo_token(server: &mcp_patterns_example::RunningHttp, name: &str) -> String {
    server
        .demo_tokens
        .iter()
        .find(|(user, _)| user.subject == name)
        .map_or_else(|| panic!("no demo user {name}"), |(_, token)| token.clone())
}

/// A seeded demo downstream on a free loopback port, and the reference server (development
/// issuer, defaults otherwise) over it with `scope`, cache TTL `ttl` (no jitter) and
/// `stateless`. Both stop when the test calls their `shutdown`.
pub async fn start_over_downstream(
    scope: mcp_patterns_example::data::CacheScope,
    ttl: std::time::Duration,
    stateless: bool,
) -> (
    mcp_patterns_example::downstream::RunningDownstream,
    mcp_patterns_example::RunningHttp,
) {
    use mcp_patterns_example::data::CacheSettings;
    use mcp_patterns_example::downstream::{self, FirewallStore};
    use std::net::{IpAddr, Ipv4Addr, SocketAddr};
    let downstream = downstream::serve(
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        FirewallStore::seeded(),
    )
    .await
    .expect("downstream");
    let server = mcp_patterns_example::start_http(mcp_patterns_example::HttpOptions {
        bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
        port: 0,
        downstream_url: Some(downstream.url.clone()),
        cache: CacheSettings {
            scope,
            cache: mcp_cache::CacheConfig::default()
                .name("firewalls")
                .ttl(ttl)
                .jitter(std::time::Duration::ZERO),
            ..CacheSettings::default()
        },
        stateless,
        ..mcp_patterns_example::HttpOptions::default()
    })
    .await
    .expect("server");
    (downstream, server)
}
