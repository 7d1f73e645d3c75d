//! `AuthzHandler` decides for every request method of rmcp's `ServerHandler`: a probe inner
//! handler overrides each one with a marker, and the test calls each through the decorator with
//! no principal, with a principal the policy grants nothing, and with one it grants everything.
//!
//! If rmcp adds a request type, `rmcp_request_types_are_all_covered` fails until the new method
//! is decided in `AuthzHandler` and added here.

// `logging/setLevel` is deprecated in rmcp, and still decided.
#![allow(deprecated)]

use std::sync::{Arc, Mutex};

use mcp_authz::{AuthzHandler, Principal, Requirement, StaticPolicy};
use rmcp::model::{
    ArgumentInfo, CallToolRequestParams, CallToolResponse, CancelTaskParams, CompleteRequestParams,
    CompleteResult, CustomRequest, CustomResult, DiscoverResult, GetPromptRequestParams,
    GetPromptResponse, GetSkillRequestParams, GetSkillResult, GetTaskParams, GetTaskResult,
    InitializeRequestParams, InitializeResult, ListPromptsResult, ListResourceTemplatesResult,
    ListResourcesResult, ListSkillsResult, ListToolsResult, LoggingLevel, NumberOrString,
    PaginatedRequestParams, Prompt, ReadResourceDirectoryRequestParams,
    ReadResourceDirectoryResult, ReadResourceRequestParams, ReadResourceResponse, Reference,
    Resource, ResourceTemplate, SetLevelRequestParams, SubscribeRequestParams, Tool,
    UnsubscribeRequestParams, UpdateTaskParams,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt};

/// Which methods the inner handler saw.
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
}

#[allow(deprecated)]
impl ServerHandler for Probe {
    async fn ping(&self, _: RequestContext<RoleServer>) -> Result<(), ErrorData> {
        Err(self.marker("ping"))
    }
    async fn initialize(
        &self,
        _: InitializeRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<InitializeResult, ErrorData> {
        Err(self.marker("initialize"))
    }
    async fn discover(&self, _: RequestContext<RoleServer>) -> Result<DiscoverResult, ErrorData> {
        Err(self.marker("server/discover"))
    }
    async fn complete(
        &self,
        _: CompleteRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, ErrorData> {
        Err(self.marker("completion/complete"))
    }
    async fn set_level(
        &self,
        _: SetLevelRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        Err(self.marker("logging/setLevel"))
    }
    async fn get_prompt(
        &self,
        _: GetPromptRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        Err(self.marker("prompts/get"))
    }
    async fn list_prompts(
        &self,
        _: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        self.mark("prompts/list");
        Ok(ListPromptsResult::with_all_items(vec![Prompt::new(
            "secret_prompt",
            None::<String>,
            None,
        )]))
    }
    async fn list_resources(
        &self,
        _: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        self.mark("resources/list");
        Ok(ListResourcesResult::with_all_items(vec![Resource::new(
            "secret://r",
            "r",
        )]))
    }
    async fn list_resource_templates(
        &self,
        _: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        self.mark("resources/templates/list");
        Ok(ListResourceTemplatesResult::with_all_items(vec![
            ResourceTemplate::new("secret://{x}", "x"),
        ]))
    }
    async fn read_resource(
        &self,
        _: ReadResourceRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        Err(self.marker("resources/read"))
    }
    async fn subscribe(
        &self,
        _: SubscribeRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        Err(self.marker("resources/subscribe"))
    }
    async fn unsubscribe(
        &self,
        _: UnsubscribeRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        Err(self.marker("resources/unsubscribe"))
    }
    async fn call_tool(
        &self,
        _: CallToolRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        Err(self.marker("tools/call"))
    }
    async fn list_tools(
        &self,
        _: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        self.mark("tools/list");
        Ok(ListToolsResult::with_all_items(vec![Tool::new(
            "secret_tool",
            "a tool",
            Arc::new(serde_json::Map::new()),
        )]))
    }
    fn get_tool(&self, name: &str) -> Option<Tool> {
        Some(Tool::new(
            name.to_owned(),
            "a tool",
            Arc::new(serde_json::Map::new()),
        ))
    }
    async fn on_custom_request(
        &self,
        _: CustomRequest,
        _: RequestContext<RoleServer>,
    ) -> Result<CustomResult, ErrorData> {
        Err(self.marker("custom"))
    }
    async fn get_task(
        &self,
        _: GetTaskParams,
        _: RequestContext<RoleServer>,
    ) -> Result<GetTaskResult, ErrorData> {
        Err(self.marker("tasks/get"))
    }
    async fn update_task(
        &self,
        _: UpdateTaskParams,
        _: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        Err(self.marker("tasks/update"))
    }
    async fn cancel_task(
        &self,
        _: CancelTaskParams,
        _: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        Err(self.marker("tasks/cancel"))
    }
    async fn list_skills(
        &self,
        _: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListSkillsResult, ErrorData> {
        Err(self.marker("skills/list"))
    }
    async fn get_skill(
        &self,
        _: GetSkillRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<GetSkillResult, ErrorData> {
        Err(self.marker("skills/get"))
    }
    async fn read_resource_directory(
        &self,
        _: ReadResourceDirectoryRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<ReadResourceDirectoryResult, ErrorData> {
        Err(self.marker("resources/directory/read"))
    }
}

/// How the decorator treats a method for a principal the policy grants nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Any authenticated principal reaches the inner handler (lifecycle, logging, custom).
    Authenticated,
    /// The target is checked: refused without a grant.
    Targeted,
    /// The inner handler answers and the answer is filtered.
    Filtered,
}

/// Every request method with a request context, how it is decided, and one call of it.
const METHODS: [(&str, Kind); 21] = [
    ("ping", Kind::Authenticated),
    ("initialize", Kind::Authenticated),
    ("server/discover", Kind::Authenticated),
    ("completion/complete", Kind::Targeted),
    ("logging/setLevel", Kind::Authenticated),
    ("prompts/get", Kind::Targeted),
    ("prompts/list", Kind::Filtered),
    ("resources/list", Kind::Filtered),
    ("resources/templates/list", Kind::Filtered),
    ("resources/read", Kind::Targeted),
    ("resources/subscribe", Kind::Targeted),
    ("resources/unsubscribe", Kind::Authenticated),
    ("tools/call", Kind::Targeted),
    ("tools/list", Kind::Filtered),
    ("custom", Kind::Authenticated),
    ("tasks/get", Kind::Targeted),
    ("tasks/update", Kind::Targeted),
    ("tasks/cancel", Kind::Targeted),
    ("skills/list", Kind::Filtered),
    ("skills/get", Kind::Targeted),
    ("resources/directory/read", Kind::Targeted),
];

/// Calls `method` on `handler`; returns the JSON-RPC error or a short description of the result.
async fn call(
    handler: &AuthzHandler<Probe>,
    method: &str,
    context: RequestContext<RoleServer>,
) -> Result<String, ErrorData> {
    let count = |n: usize| format!("{n} items");
    match method {
        "ping" => handler.ping(context).await.map(|()| String::new()),
        "initialize" => handler
            .initialize(InitializeRequestParams::default(), context)
            .await
            .map(|_| String::new()),
        "server/discover" => handler.discover(context).await.map(|_| String::new()),
        "completion/complete" => handler
            .complete(
                CompleteRequestParams::new(
                    Reference::for_prompt("secret_prompt"),
                    ArgumentInfo::new("a", "b"),
                ),
                context,
            )
            .await
            .map(|_| String::new()),
        "logging/setLevel" => handler
            .set_level(SetLevelRequestParams::new(LoggingLevel::Info), context)
            .await
            .map(|()| String::new()),
        "prompts/get" => handler
            .get_prompt(GetPromptRequestParams::new("secret_prompt"), context)
            .await
            .map(|_| String::new()),
        "prompts/list" => handler
            .list_prompts(None, context)
            .await
            .map(|r| count(r.prompts.len())),
        "resources/list" => handler
            .list_resources(None, context)
            .await
            .map(|r| count(r.resources.len())),
        "resources/templates/list" => handler
            .list_resource_templates(None, context)
            .await
            .map(|r| count(r.resource_templates.len())),
        "resources/read" => handler
            .read_resource(ReadResourceRequestParams::new("secret://r"), context)
            .await
            .map(|_| String::new()),
        "resources/subscribe" => {
            #[allow(deprecated)]
            let result = handler
                .subscribe(SubscribeRequestParams::new("secret://r"), context)
                .await;
            result.map(|()| String::new())
        }
        "resources/unsubscribe" => {
            #[allow(deprecated)]
            let result = handler
                .unsubscribe(UnsubscribeRequestParams::new("secret://r"), context)
                .await;
            result.map(|()| String::new())
        }
        "tools/call" => handler
            .call_tool(CallToolRequestParams::new("secret_tool"), context)
            .await
            .map(|r| format!("{r:?}")),
        "tools/list" => handler
            .list_tools(None, context)
            .await
            .map(|r| count(r.tools.len())),
        "custom" => handler
            .on_custom_request(CustomRequest::new("x/custom", None), context)
            .await
            .map(|_| String::new()),
        "tasks/get" => handler
            .get_task(GetTaskParams::new("task-1"), context)
            .await
            .map(|_| String::new()),
        "tasks/update" => handler
            .update_task(
                UpdateTaskParams::new("task-1", std::collections::BTreeMap::new()),
                context,
            )
            .await
            .map(|()| String::new()),
        "tasks/cancel" => handler
            .cancel_task(CancelTaskParams::new("task-1"), context)
            .await
            .map(|()| String::new()),
        "skills/list" => handler
            .list_skills(None, context)
            .await
            .map(|r| count(r.skills.len())),
        "skills/get" => handler
            .get_skill(
                GetSkillRequestParams::new("skill://secret/SKILL.md"),
                context,
            )
            .await
            .map(|_| String::new()),
        "resources/directory/read" => handler
            .read_resource_directory(
                ReadResourceDirectoryRequestParams::new("secret://dir/"),
                context,
            )
            .await
            .map(|r| count(r.resources.len())),
        other => panic!("no call for {other}"),
    }
}

/// A real peer (over an in-memory pipe) for building request contexts.
async fn peer() -> (rmcp::Peer<RoleServer>, impl Drop) {
    #[derive(Clone)]
    struct Plain;
    impl ServerHandler for Plain {}
    let (server_io, client_io) = tokio::io::duplex(64 * 1024);
    let server = tokio::spawn(async move { Plain.serve(server_io).await });
    let client = ().serve(client_io).await.expect("client");
    let server = server.await.expect("join").expect("server");
    let peer = server.peer().clone();
    struct Keep(
        #[allow(dead_code)] rmcp::service::RunningService<RoleServer, Plain>,
        #[allow(dead_code)] rmcp::service::RunningService<rmcp::RoleClient, ()>,
    );
    impl Drop for Keep {
        fn drop(&mut self) {}
    }
    (peer, Keep(server, client))
}

fn open_policy() -> StaticPolicy {
    let open = || Requirement::none().scopes(["all"]);
    StaticPolicy::new()
        .tool("secret_tool", open())
        .prompt("secret_prompt", open())
        .resource("secret://*", open())
        .task("*", open())
        .skill("skill://secret/*", open())
}

fn handler(probe: &Probe, principal: Option<Principal>) -> AuthzHandler<Probe> {
    let builder = AuthzHandler::builder(probe.clone()).policy(open_policy());
    match principal {
        Some(p) => builder.principal(p).build(),
        None => builder.build(),
    }
}

#[tokio::test]
async fn every_method_is_decided() {
    let (peer, _keep) = peer().await;
    let context = || RequestContext::new(NumberOrString::Number(1), peer.clone());
    let probe = Probe::default();

    // No principal: nothing reaches the inner handler.
    let anonymous = handler(&probe, None);
    for (method, _) in METHODS {
        let result = call(&anonymous, method, context()).await;
        assert!(result.is_err(), "{method} without a principal: {result:?}");
        assert!(
            probe.take().is_empty(),
            "{method} reached the inner handler"
        );
    }

    // A principal the policy grants nothing: targets are refused, lists come back empty.
    let nobody = handler(&probe, Some(Principal::new("nobody")));
    for (method, kind) in METHODS {
        let result = call(&nobody, method, context()).await;
        let reached = probe.take();
        match kind {
            Kind::Authenticated => assert_eq!(reached, [method], "{method}"),
            Kind::Targeted => {
                assert!(reached.is_empty(), "{method} reached: {result:?}");
                let refused = match &result {
                    Err(error) => !error.message.contains("reached"),
                    // A hidden tool answers as unknown; a forbidden one as an error result.
                    Ok(text) => text.contains("is_error: Some(true)"),
                };
                assert!(refused, "{method} must be refused: {result:?}");
            }
            Kind::Filtered => {
                assert_eq!(reached, [method], "{method}");
                if let Ok(text) = &result {
                    assert_eq!(text, "0 items", "{method} filtered to nothing");
                }
            }
        }
    }

    // A principal granted everything reaches every method, and sees the lists whole.
    let all = handler(&probe, Some(Principal::new("root").with_scopes(["all"])));
    for (method, kind) in METHODS {
        let result = call(&all, method, context()).await;
        assert_eq!(probe.take(), [method], "{method}: {result:?}");
        if kind == Kind::Filtered
            && let Ok(text) = &result
        {
            assert_eq!(text, "1 items", "{method} unfiltered");
        }
    }

    // Without a caller rmcp may still ask for a tool's schema; none leaves the decorator.
    assert!(all.get_tool("secret_tool").is_none());
    assert!(probe.get_tool("secret_tool").is_some());
}

#[test]
fn rmcp_request_types_are_all_covered() {
    // Every client request type rmcp knows, from its own JSON schema; the listen request is
    // decided through its own path (tests/listen_filter.rs).
    let schema =
        serde_json::to_value(schemars::schema_for!(rmcp::model::ClientRequest)).expect("schema");
    let variants = schema["anyOf"].as_array().map_or(0, Vec::len);
    assert_eq!(
        variants,
        METHODS.len() + 1,
        "rmcp's ClientRequest has {variants} variants: decide the new one in AuthzHandler \
         and add it to METHODS"
    );
}
