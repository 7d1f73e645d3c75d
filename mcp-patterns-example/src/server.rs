//! The MCP handler: firewall tools answered from the downstream API.

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::{Json, Parameters};
use rmcp::model::{CallToolResult, Implementation, ServerCapabilities, ServerConfig};
use rmcp::{ServerHandler, tool, tool_handler, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ExampleError;
use crate::downstream::DownstreamClient;
use crate::model::{AppFirewall, validate_app_name};

/// Arguments of `get_firewall_rule`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct GetFirewallRuleArgs {
    /// The application whose rules to return, e.g. `app-alpha`.
    pub app_name: String,
}

/// Result of `list_firewall_rules`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct FirewallRuleList {
    /// Every application's rules.
    pub apps: Vec<AppFirewall>,
}

/// Names of the tools this server offers.
pub const TOOL_NAMES: [&str; 2] = ["list_firewall_rules", "get_firewall_rule"];

/// The firewall MCP server.
#[derive(Clone, Debug)]
pub struct FirewallServer {
    downstream: DownstreamClient,
    tool_router: ToolRouter<Self>,
}

impl FirewallServer {
    /// A server answering from the downstream API behind `downstream`.
    pub fn new(downstream: DownstreamClient) -> Self {
        Self {
            downstream,
            tool_router: Self::tool_router(),
        }
    }
}

#[tool_router]
impl FirewallServer {
    /// Lists every application's firewall rules.
    #[tool(description = "List the firewall rules of every application")]
    async fn list_firewall_rules(&self) -> Result<Json<FirewallRuleList>, CallToolResult> {
        match self.downstream.all().await {
            Ok(apps) => Ok(Json(FirewallRuleList { apps })),
            Err(error) => Err(error.into_tool_result()),
        }
    }

    /// Returns one application's firewall rules.
    #[tool(description = "Get the firewall rules of one application, by name (e.g. app-alpha)")]
    async fn get_firewall_rule(
        &self,
        Parameters(GetFirewallRuleArgs { app_name }): Parameters<GetFirewallRuleArgs>,
    ) -> Result<Json<AppFirewall>, CallToolResult> {
        let lookup = async {
            validate_app_name(&app_name)?;
            self.downstream
                .app(&app_name)
                .await?
                .ok_or(ExampleError::UnknownApp {
                    app: app_name.clone(),
                })
        };
        lookup
            .await
            .map(Json)
            .map_err(ExampleError::into_tool_result)
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for FirewallServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new(
                "mcp-patterns-example",
                env!("CARGO_PKG_VERSION"),
            ))
            .with_instructions(
                "Firewall rules per application. Use list_firewall_rules for everything, \
                 get_firewall_rule with an app_name for one application.",
            )
    }
}
