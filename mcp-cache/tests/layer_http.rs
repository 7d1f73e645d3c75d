//! `CacheResourcesLayer` over real rmcp Streamable HTTP sessions on loopback: two callers with
//! different entitlements (put into the HTTP request's extensions by an axum middleware, as an
//! authentication layer would) each list and read only their URIs, a hidden URI answers like an
//! unknown one, and a change is announced only to the subscriber entitled to it — on the
//! legacy `resources/subscribe` protocol and on 2026-07-28 `subscriptions/listen`, with one
//! shared component and with one component per caller. The inner handler's resources, tools
//! and capabilities stay reachable.
#![cfg(feature = "rmcp")]
// `resources/subscribe` is legacy-only in rmcp 3.11; clients still use it.
#![allow(deprecated)]

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use mcp_cache::{Cache, CacheConfig, CacheResources, CacheResourcesLayer, JsonView, Viewer};
use rmcp::model::{
    ClientConfig, ErrorCode, ListResourcesResult, PaginatedRequestParams, ProtocolVersion,
    ReadResourceRequestParams, ReadResourceResponse, Resource, ResourceContents,
    ResourceUpdatedNotificationParam, ServerCapabilities, ServerConfig, ServerNotification,
    SubscribeRequestParams, SubscriptionFilter,
};
use rmcp::service::{NotificationContext, RequestContext, RoleClient, RoleServer, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{
    ClientHandler, ClientLifecycleMode, ClientServiceExt, ErrorData, ServerHandler, ServiceError,
    ServiceExt,
};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tower_layer::Layer as _;

type Rules = BTreeMap<String, Vec<String>>;

const DATA: &str = "cache://data";
const ALPHA: &str = "cache://data/app-alpha";
const BETA: &str = "cache://data/app-beta";
const HEALTH: &str = "cache://meta/health";
const NOTE: &str = "inner://note";
/// Deadline for a notification that must arrive (a failure bound, not a timing assertion).
const DEADLINE: Duration = Duration::from_secs(20);

/// The verified caller, as an authentication middleware leaves it in the HTTP request's
/// extensions: the applications it is entitled to.
#[derive(Debug, Clone)]
struct Entitled(Vec<String>);

/// Stands in for token verification: `Bearer alice` may see app-alpha, `Bearer bob` app-beta.
async fn authenticate(mut request: Request, next: Next) -> Response {
    let token = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(ToOwned::to_owned);
    let apps = match token.as_deref() {
        Some("alice") => vec!["app-alpha".to_owned()],
        Some("bob") => vec!["app-beta".to_owned()],
        _ => Vec::new(),
    };
    request.extensions_mut().insert(Entitled(apps));
    next.run(request).await
}

/// Segments visible to the caller's entitlements; the component itself sees all.
fn entitled_view() -> JsonView<Rules> {
    JsonView::btree_map(DATA).visible(|viewer: Viewer<'_>, app: &str| {
        viewer.is_server()
            || viewer
                .extension::<Entitled>()
                .is_some_and(|entitled| entitled.0.iter().any(|a| a == app))
    })
}

/// The existing server the layer is added to: one resource and no resources capability of
/// its own.
#[derive(Clone)]
struct Existing;

impl ServerHandler for Existing {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }
    async fn list_resources(
        &self,
        _: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        Ok(ListResourcesResult::with_all_items(vec![Resource::new(
            NOTE, "note",
        )]))
    }
    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        if request.uri == NOTE {
            return Ok(
                rmcp::model::ReadResourceResult::new(vec![ResourceContents::text(
                    "from the inner handler",
                    NOTE,
                )])
                .into(),
            );
        }
        Err(ErrorData::resource_not_found(
            "inner: no such resource",
            None,
        ))
    }
}

/// A cache over `rules`, refreshed only when the test says so.
async fn cache_of(rules: Arc<Mutex<Rules>>) -> Cache<Rules> {
    Cache::from_fn(move || {
        let rules = rules.lock().unwrap().clone();
        async move { Ok::<_, std::io::Error>(rules) }
    })
    .config(
        CacheConfig::default()
            .name("rules")
            .background_refresh(false),
    )
    .build()
    .await
    .expect("first fetch")
}

fn rules() -> Arc<Mutex<Rules>> {
    Arc::new(Mutex::new(Rules::from([
        ("app-alpha".to_owned(), vec!["allow tcp/443".to_owned()]),
        ("app-beta".to_owned(), vec!["allow tcp/22".to_owned()]),
    ])))
}

async fn start_server(layer: CacheResourcesLayer<Rules>, ct: &CancellationToken) -> SocketAddr {
    start_server_over(layer, Existing, ct).await
}

async fn start_server_over<H: ServerHandler + Clone>(
    layer: CacheResourcesLayer<Rules>,
    inner: H,
    ct: &CancellationToken,
) -> SocketAddr {
    let handler = layer.layer(inner);
    let service = StreamableHttpService::new(
        move || Ok(handler.clone()),
        Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default().with_cancellation_token(ct.child_token()),
    );
    let app = axum::Router::new()
        .nest_service("/mcp", service)
        .layer(axum::middleware::from_fn(authenticate));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        axum::serve(listener, app)
            .with_graceful_shutdown(ct.clone().cancelled_owned())
            .into_future(),
    );
    addr
}

fn transport(addr: SocketAddr, token: &str) -> StreamableHttpClientTransport<reqwest::Client> {
    StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(format!("http://{addr}/mcp"))
            .auth_header(token),
    )
}

/// A legacy-protocol client that records the URIs of the updates it receives.
#[derive(Clone)]
struct Recorder(mpsc::UnboundedSender<String>);

impl ClientHandler for Recorder {
    async fn on_resource_updated(
        &self,
        params: ResourceUpdatedNotificationParam,
        _: NotificationContext<RoleClient>,
    ) {
        let _ = self.0.send(params.uri);
    }
}

async fn legacy_client(
    addr: SocketAddr,
    token: &str,
) -> (
    RunningService<RoleClient, Recorder>,
    mpsc::UnboundedReceiver<String>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let client = Recorder(tx)
        .serve(transport(addr, token))
        .await
        .expect("initialize");
    (client, rx)
}

/// The updates other than health each client received through two refreshes, the second
/// without a change. Health changes with every refresh; waiting for its update after each
/// refresh keeps one notification round per refresh, and all of a round is sent before the
/// next round starts, so after the second round nothing of the first can still arrive.
async fn after_two_refreshes(
    refresh: &impl AsyncFn(),
    alice: &mut mpsc::UnboundedReceiver<String>,
    bob: &mut mpsc::UnboundedReceiver<String>,
) -> (Vec<String>, Vec<String>) {
    let (mut to_alice, mut to_bob) = (Vec::new(), Vec::new());
    for _ in 0..2 {
        refresh().await;
        to_alice.extend(updates_through_health(alice).await);
        to_bob.extend(updates_through_health(bob).await);
    }
    (to_alice, to_bob)
}

/// The updates received before the next one for the health resource.
async fn updates_through_health(rx: &mut mpsc::UnboundedReceiver<String>) -> Vec<String> {
    let mut seen = Vec::new();
    loop {
        let uri = tokio::time::timeout(DEADLINE, rx.recv())
            .await
            .expect("a notification arrives")
            .expect("client alive");
        if uri == HEALTH {
            return seen;
        }
        seen.push(uri);
    }
}

fn error_code(error: ServiceError) -> (ErrorCode, String) {
    match error {
        ServiceError::McpError(data) => (data.code, data.message.replace("app-beta", "X")),
        other => panic!("expected an MCP error, got {other:?}"),
    }
}

fn body(response: &rmcp::model::ReadResourceResult) -> Value {
    match response.contents.first().expect("contents") {
        ResourceContents::TextResourceContents { text, .. } => {
            serde_json::from_str(text).unwrap_or(Value::String(text.clone()))
        }
        other => panic!("text expected, got {other:?}"),
    }
}

async fn read(
    client: &RunningService<RoleClient, Recorder>,
    uri: &str,
) -> Result<rmcp::model::ReadResourceResult, ServiceError> {
    client
        .read_resource(ReadResourceRequestParams::new(uri))
        .await
}

async fn uris(client: &RunningService<RoleClient, Recorder>) -> Vec<String> {
    client
        .list_all_resources()
        .await
        .expect("resources/list")
        .into_iter()
        .map(|r| r.uri)
        .collect()
}

/// Lists, reads, and legacy subscriptions of two callers through one layered server.
/// `connected` runs after the notifications, while both callers are still connected.
async fn two_callers_see_and_hear_only_their_own(
    layer: CacheResourcesLayer<Rules>,
    rules: &Arc<Mutex<Rules>>,
    refresh: impl AsyncFn(),
    connected: impl FnOnce(),
) {
    let ct = CancellationToken::new();
    let addr = start_server(layer, &ct).await;
    let (alice, mut alice_notes) = legacy_client(addr, "alice").await;
    let (bob, mut bob_notes) = legacy_client(addr, "bob").await;

    // The layer added the resources capability to the inner handler's.
    let info = alice.peer_info().expect("server info");
    let resources = info.capabilities.resources.as_ref().expect("resources");
    assert_eq!(
        (resources.subscribe, resources.list_changed),
        (Some(true), Some(true))
    );
    assert!(
        info.capabilities.tools.is_some(),
        "the inner capabilities stay"
    );

    // Each lists its own segment, then the inner handler's resource.
    assert_eq!(uris(&alice).await, [DATA, ALPHA, HEALTH, NOTE]);
    assert_eq!(uris(&bob).await, [DATA, BETA, HEALTH, NOTE]);

    // Reads: own segment, the whole filtered to it, the inner resource.
    assert_eq!(
        body(&read(&alice, ALPHA).await.expect("own")),
        json!(["allow tcp/443"])
    );
    assert_eq!(
        body(&read(&alice, DATA).await.expect("whole")),
        json!({ "app-alpha": ["allow tcp/443"] })
    );
    assert_eq!(
        body(&read(&bob, DATA).await.expect("whole")),
        json!({ "app-beta": ["allow tcp/22"] })
    );
    assert_eq!(
        body(&read(&alice, NOTE).await.expect("inner")),
        json!("from the inner handler")
    );

    // Another caller's segment answers exactly like one that does not exist.
    let hidden = error_code(read(&alice, BETA).await.expect_err("hidden"));
    let unknown = error_code(read(&alice, "cache://data/X").await.expect_err("unknown"));
    assert_eq!(hidden.0, ErrorCode::RESOURCE_NOT_FOUND);
    assert_eq!(hidden, unknown);
    let refused = alice
        .subscribe(SubscribeRequestParams::new(BETA))
        .await
        .expect_err("hidden");
    assert_eq!(error_code(refused).0, ErrorCode::RESOURCE_NOT_FOUND);

    for (client, uri) in [
        (&alice, ALPHA),
        (&alice, HEALTH),
        (&bob, BETA),
        (&bob, HEALTH),
    ] {
        client
            .subscribe(SubscribeRequestParams::new(uri))
            .await
            .expect("subscribe");
    }

    // app-alpha changes: alice hears of it, bob of nothing but health.
    rules
        .lock()
        .unwrap()
        .insert("app-alpha".into(), vec!["deny all".into()]);
    let (to_alice, to_bob) = after_two_refreshes(&refresh, &mut alice_notes, &mut bob_notes).await;
    assert_eq!(to_alice, [ALPHA]);
    assert!(
        to_bob.is_empty(),
        "bob hears nothing of app-alpha: {to_bob:?}"
    );

    // And the other way round.
    rules
        .lock()
        .unwrap()
        .insert("app-beta".into(), vec!["deny all".into()]);
    let (to_alice, to_bob) = after_two_refreshes(&refresh, &mut alice_notes, &mut bob_notes).await;
    assert_eq!(to_bob, [BETA]);
    assert!(
        to_alice.is_empty(),
        "alice hears nothing of app-beta: {to_alice:?}"
    );
    connected();

    alice.cancel().await.expect("close");
    bob.cancel().await.expect("close");
    ct.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_component_answers_each_caller_with_what_it_may_see() {
    let rules = rules();
    let cache = cache_of(Arc::clone(&rules)).await;
    let resources = CacheResources::new(cache.clone(), entitled_view());
    two_callers_see_and_hear_only_their_own(
        CacheResourcesLayer::new(resources),
        &rules,
        async || {
            cache.refresh_now().await.expect("refresh");
        },
        || {},
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_component_per_caller_answers_each_from_its_own() {
    // One component per caller, each over its own cache of the same downstream.
    let rules = rules();
    let mut components = HashMap::new();
    for caller in ["alice", "bob"] {
        let cache = cache_of(Arc::clone(&rules)).await;
        components.insert(
            caller.to_owned(),
            CacheResources::new(cache, entitled_view()),
        );
    }
    let components = Arc::new(components);
    let caches: Vec<Cache<Rules>> = components.values().map(|c| c.cache().clone()).collect();
    let resolved = Arc::clone(&components);
    let layer = CacheResourcesLayer::per_caller(
        |uri| uri == HEALTH || uri == DATA || uri.starts_with("cache://data/"),
        move |context: &RequestContext<RoleServer>| {
            let caller = Viewer::Request(context)
                .extension::<Entitled>()
                .map(|entitled| match entitled.0.first().map(String::as_str) {
                    Some("app-alpha") => "alice",
                    Some("app-beta") => "bob",
                    _ => "nobody",
                });
            let found = caller.and_then(|c| resolved.get(c).cloned());
            async move { found.ok_or_else(|| ErrorData::invalid_request("unknown caller", None)) }
        },
    );
    two_callers_see_and_hear_only_their_own(
        layer,
        &rules,
        async || {
            for cache in &caches {
                cache.refresh_now().await.expect("refresh");
            }
        },
        || {
            for component in components.values() {
                assert_eq!(
                    component.subscriber_stats().subscriptions,
                    2,
                    "one caller's, in its own"
                );
            }
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listen_stream_gets_only_the_uris_its_caller_may_read() {
    let ct = CancellationToken::new();
    let rules = rules();
    let cache = cache_of(Arc::clone(&rules)).await;
    let resources = CacheResources::new(cache.clone(), entitled_view());
    let addr = start_server(CacheResourcesLayer::new(resources.clone()), &ct).await;
    let alice = ClientConfig::default()
        .serve_with_lifecycle(
            transport(addr, "alice"),
            ClientLifecycleMode::Discover {
                preferred_versions: vec![ProtocolVersion::V_2026_07_28],
            },
        )
        .await
        .expect("discover");
    let mut stream = alice
        .listen(
            SubscriptionFilter::builder()
                .resource_subscriptions([ALPHA, BETA, HEALTH])
                .build(),
        )
        .await
        .expect("subscriptions/listen");
    // Accepted before the caller is known: the URIs the component owns.
    assert_eq!(
        stream.acknowledged().resource_subscriptions,
        Some(vec![ALPHA.to_owned(), BETA.to_owned(), HEALTH.to_owned()])
    );
    // Registered for the caller: app-beta was left out.
    let registered = async {
        while resources.subscriber_stats().subscriptions != 2 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(DEADLINE, registered)
        .await
        .expect("registered");

    // app-beta changes, then app-alpha: the stream hears health, health, app-alpha.
    rules
        .lock()
        .unwrap()
        .insert("app-beta".into(), vec!["deny all".into()]);
    cache.refresh_now().await.expect("refresh");
    rules
        .lock()
        .unwrap()
        .insert("app-alpha".into(), vec!["deny all".into()]);
    cache.refresh_now().await.expect("refresh");
    let mut heard = Vec::new();
    while !heard.contains(&ALPHA.to_owned()) {
        let note = tokio::time::timeout(DEADLINE, stream.next())
            .await
            .expect("a notification arrives")
            .expect("stream open")
            .expect("a notification");
        if let ServerNotification::ResourceUpdatedNotification(n) = note {
            heard.push(n.params.uri);
        }
    }
    heard.retain(|uri| uri != HEALTH);
    assert_eq!(heard, [ALPHA], "nothing about app-beta");

    stream.cancel().await.expect("cancel");
    alice.cancel().await.expect("close");
    ct.cancel();
}

/// The entitled view, refusing subscriptions to the whole map by design.
struct NoWholeSubscriptions(JsonView<Rules>);

impl mcp_cache::ResourceView<Rules> for NoWholeSubscriptions {
    fn resources(&self, data: &Rules, viewer: Viewer<'_>) -> Vec<Resource> {
        self.0.resources(data, viewer)
    }
    fn templates(&self, viewer: Viewer<'_>) -> Vec<rmcp::model::ResourceTemplate> {
        self.0.templates(viewer)
    }
    fn owns(&self, uri: &str) -> bool {
        self.0.owns(uri)
    }
    fn read(
        &self,
        data: &Rules,
        uri: &str,
        viewer: Viewer<'_>,
    ) -> Result<ResourceContents, mcp_cache::ResourceError> {
        self.0.read(data, uri, viewer)
    }
    fn subscription_refused(&self, uri: &str) -> Option<String> {
        (uri == DATA).then(|| "subscribe to one entry instead".to_owned())
    }
}

/// A client that records list-changed notifications as `list_changed` and updates by URI.
#[derive(Clone)]
struct ListRecorder(mpsc::UnboundedSender<String>);

impl ClientHandler for ListRecorder {
    async fn on_resource_updated(
        &self,
        params: ResourceUpdatedNotificationParam,
        _: NotificationContext<RoleClient>,
    ) {
        let _ = self.0.send(params.uri);
    }
    async fn on_resource_list_changed(&self, _: NotificationContext<RoleClient>) {
        let _ = self.0.send("list_changed".to_owned());
    }
}

/// With list-changed turned off the capability does not offer it and a change to the URI set
/// announces nothing; a URI the view refuses subscriptions to answers invalid params with the
/// view's reason, not not-found.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_changed_can_be_turned_off_and_a_refusal_explains_itself() {
    let data = rules();
    let cache = cache_of(data.clone()).await;
    let resources = CacheResources::builder(cache.clone(), NoWholeSubscriptions(entitled_view()))
        .list_changed(false)
        .build();
    let ct = CancellationToken::new();
    let addr = start_server(CacheResourcesLayer::new(resources), &ct).await;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let alice = ListRecorder(tx)
        .serve(transport(addr, "alice"))
        .await
        .expect("initialize");
    let capability = alice
        .peer_info()
        .and_then(|info| info.capabilities.resources.clone())
        .expect("resources capability");
    assert_eq!(capability.subscribe, Some(true));
    assert_ne!(capability.list_changed, Some(true), "{capability:?}");

    let error = alice
        .subscribe(SubscribeRequestParams::new(DATA))
        .await
        .expect_err("refused");
    let ServiceError::McpError(error) = error else {
        panic!("{error:?}")
    };
    assert_eq!(error.code, ErrorCode::INVALID_PARAMS, "{error:?}");
    assert_eq!(error.message, "subscribe to one entry instead");
    alice
        .subscribe(SubscribeRequestParams::new(ALPHA))
        .await
        .expect("an entry");
    // Listing registers a legacy session for list changes, when they are offered.
    alice.list_all_resources().await.expect("resources/list");

    data.lock()
        .unwrap()
        .insert("app-gamma".to_owned(), vec!["deny all".to_owned()]);
    data.lock()
        .unwrap()
        .insert("app-alpha".to_owned(), vec!["allow tcp/8443".to_owned()]);
    cache.refresh_now().await.expect("refresh");
    let mut seen = Vec::new();
    while let Ok(Some(event)) = tokio::time::timeout(Duration::from_secs(1), rx.recv()).await {
        seen.push(event);
    }
    seen.retain(|event| event != HEALTH);
    assert_eq!(seen, [ALPHA]);
    let _ = alice.cancel().await;
    ct.cancel();
}

/// A server with tools and no resources of its own.
#[derive(Clone)]
struct ToolsOnly;

impl ServerHandler for ToolsOnly {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }
}

/// Over a handler without resources, a URI the cache does not own answers like an unknown one
/// (resource not found, with the URI), not "method not found": the layer advertises resources.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unowned_uri_over_a_handler_without_resources_is_not_found() {
    let cache = cache_of(rules()).await;
    let ct = CancellationToken::new();
    let layer = CacheResourcesLayer::new(CacheResources::new(cache, entitled_view()));
    let addr = start_server_over(layer, ToolsOnly, &ct).await;
    let (alice, _updates) = legacy_client(addr, "alice").await;
    let error = read(&alice, "other://missing").await.expect_err("unknown");
    let ServiceError::McpError(error) = error else {
        panic!("{error:?}")
    };
    assert_eq!(error.code, ErrorCode::RESOURCE_NOT_FOUND, "{error:?}");
    assert_eq!(error.data, Some(json!({ "uri": "other://missing" })));
    let subscribed = alice
        .subscribe(SubscribeRequestParams::new("other://missing"))
        .await
        .expect_err("unknown");
    assert_eq!(error_code(subscribed).0, ErrorCode::RESOURCE_NOT_FOUND);
    alice
        .unsubscribe(rmcp::model::UnsubscribeRequestParams::new(
            "other://missing",
        ))
        .await
        .expect("unsubscribing from nothing is not an error");
    // The cache's own URIs still answer.
    read(&alice, ALPHA).await.expect("owned");
    let _ = alice.cancel().await;
    ct.cancel();
}
