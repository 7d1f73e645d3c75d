//! Cache-resource duality over a real rmcp Streamable HTTP session: the cache is
//! filled from a real axum downstream over loopback; clients list and read resources,
//! subscribe, and receive `notifications/resources/updated` for exactly the URIs whose content
//! changed — on the legacy `resources/subscribe` protocol and on 2026-07-28
//! `subscriptions/listen`.
#![cfg(feature = "rmcp")]
// `resources/subscribe` is legacy-only in rmcp 3.11 (deprecated in favour of
// `subscriptions/listen`); these tests exercise it on purpose, since clients still use it.
#![allow(deprecated)]

use axum::serve::ListenerExt as _;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::routing::get;
use mcp_cache::{Cache, CacheConfig, CacheResources, JsonView};
use rmcp::model::{
    ClientConfig, ErrorCode, ListResourceTemplatesResult, ListResourcesResult,
    PaginatedRequestParams, ProtocolVersion, ReadResourceRequestParams, ReadResourceResponse,
    ResourceContents, ResourceUpdatedNotificationParam, ServerCapabilities, ServerConfig,
    ServerNotification, SubscribeRequestParams, SubscriptionFilter, UnsubscribeRequestParams,
};
use rmcp::service::{
    NotificationContext, RequestContext, RoleClient, RoleServer, RunningService,
    SubscriptionContext,
};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{
    ClientHandler, ClientLifecycleMode, ClientServiceExt, ErrorData, ServerHandler, ServiceError,
    ServiceExt,
};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Sets `TCP_NODELAY` on an accepted connection, as every server should: otherwise the last small
/// write of each response waits for the client's delayed ACK (about 40 ms on a kept-alive
/// connection).
fn nodelay(tcp: &mut tokio::net::TcpStream) {
    let _ = tcp.set_nodelay(true);
}

type Rules = BTreeMap<String, Vec<String>>;

const DATA: &str = "cache://data";
const ALPHA: &str = "cache://data/app-alpha";
const BETA: &str = "cache://data/app-beta";
const GAMMA: &str = "cache://data/app-gamma";
const HEALTH: &str = "cache://meta/health";
/// Deadline for a notification that must arrive (a failure bound, not a timing assertion).
const DEADLINE: Duration = Duration::from_secs(20);

/// The downstream: a real HTTP API whose data the test edits.
#[derive(Clone, Default)]
struct Downstream {
    rules: Arc<Mutex<Rules>>,
    requests: Arc<Mutex<usize>>,
    failing: Arc<Mutex<bool>>,
}

impl Downstream {
    fn set(&self, app: &str, rules: &[&str]) {
        self.rules.lock().unwrap().insert(
            app.to_owned(),
            rules.iter().map(|r| (*r).to_owned()).collect(),
        );
    }
}

async fn serve_rules(
    State(downstream): State<Downstream>,
) -> Result<Json<Rules>, axum::http::StatusCode> {
    *downstream.requests.lock().unwrap() += 1;
    if *downstream.failing.lock().unwrap() {
        return Err(axum::http::StatusCode::SERVICE_UNAVAILABLE);
    }
    Ok(Json(downstream.rules.lock().unwrap().clone()))
}

async fn start_downstream(ct: &CancellationToken) -> (Downstream, String) {
    let downstream = Downstream::default();
    downstream.set("app-alpha", &["allow tcp/443"]);
    downstream.set("app-beta", &["allow tcp/22"]);
    let app = axum::Router::new()
        .route("/rules", get(serve_rules))
        .with_state(downstream.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        axum::serve(listener.tap_io(nodelay), app)
            .with_graceful_shutdown(ct.clone().cancelled_owned())
            .into_future(),
    );
    (downstream, format!("http://{addr}/rules"))
}

/// An MCP server whose resources are the cache, wired with one line per method.
#[derive(Clone)]
struct Server {
    resources: CacheResources<Rules>,
}

impl ServerHandler for Server {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_resources()
                .enable_resources_subscribe()
                .enable_resources_list_changed()
                .build(),
        )
    }
    async fn list_resources(
        &self,
        _: Option<PaginatedRequestParams>,
        cx: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        self.resources.list_resources(&cx)
    }
    async fn list_resource_templates(
        &self,
        _: Option<PaginatedRequestParams>,
        cx: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        self.resources.list_resource_templates(&cx)
    }
    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        cx: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        self.resources.read_resource(&request, &cx)
    }
    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        cx: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.resources.subscribe(&request, &cx)
    }
    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        cx: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.resources.unsubscribe(&request, &cx)
    }
    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        Some(self.resources.accepted_subscription_filter(requested))
    }
    async fn listen(&self, cx: SubscriptionContext) -> Result<(), ErrorData> {
        self.resources.listen(cx).await
    }
}

async fn start_server(resources: CacheResources<Rules>, ct: &CancellationToken) -> SocketAddr {
    let server = Server { resources };
    let service: StreamableHttpService<Server, LocalSessionManager> = StreamableHttpService::new(
        move || Ok(server.clone()),
        Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default().with_cancellation_token(ct.child_token()),
    );
    let app = axum::Router::new().nest_service("/mcp", service);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        axum::serve(listener.tap_io(nodelay), app)
            .with_graceful_shutdown(ct.clone().cancelled_owned())
            .into_future(),
    );
    addr
}

#[derive(Debug, PartialEq, Eq)]
enum Note {
    Updated(String),
    ListChanged,
}

/// A legacy-protocol client that records the resource notifications it receives.
#[derive(Clone)]
struct Recorder(mpsc::UnboundedSender<Note>);

impl ClientHandler for Recorder {
    async fn on_resource_updated(
        &self,
        params: ResourceUpdatedNotificationParam,
        _: NotificationContext<RoleClient>,
    ) {
        let _ = self.0.send(Note::Updated(params.uri));
    }
    async fn on_resource_list_changed(&self, _: NotificationContext<RoleClient>) {
        let _ = self.0.send(Note::ListChanged);
    }
}

async fn legacy_client(
    addr: SocketAddr,
) -> (
    RunningService<RoleClient, Recorder>,
    mpsc::UnboundedReceiver<Note>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let client = Recorder(tx)
        .serve(StreamableHttpClientTransport::from_uri(format!(
            "http://{addr}/mcp"
        )))
        .await
        .expect("initialize");
    (client, rx)
}

async fn next_note(rx: &mut mpsc::UnboundedReceiver<Note>) -> Note {
    tokio::time::timeout(DEADLINE, rx.recv())
        .await
        .expect("a notification arrives")
        .expect("client alive")
}

fn text(result: &rmcp::model::ReadResourceResult) -> (&str, Option<&str>, &str) {
    match result.contents.first().expect("one content") {
        ResourceContents::TextResourceContents {
            uri,
            mime_type,
            text,
            ..
        } => (uri.as_str(), mime_type.as_deref(), text.as_str()),
        other => panic!("expected text contents, got {other:?}"),
    }
}

fn error_code(error: ServiceError) -> ErrorCode {
    match error {
        ServiceError::McpError(data) => data.code,
        other => panic!("expected an MCP error, got {other:?}"),
    }
}

async fn setup() -> (
    CancellationToken,
    Downstream,
    CacheResources<Rules>,
    SocketAddr,
) {
    let ct = CancellationToken::new();
    let (downstream, url) = start_downstream(&ct).await;
    let http = reqwest::Client::new();
    let cache = Cache::from_fn(move || {
        let http = http.clone();
        let url = url.clone();
        async move {
            let response = http.get(&url).send().await?.error_for_status()?;
            response.json::<Rules>().await
        }
    })
    .config(
        CacheConfig::default()
            .name("rules")
            .background_refresh(false),
    )
    .item_count(BTreeMap::len)
    .build()
    .await
    .expect("first fetch from the downstream");
    let resources = CacheResources::new(cache, JsonView::btree_map(DATA));
    let addr = start_server(resources.clone(), &ct).await;
    (ct, downstream, resources, addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::too_many_lines)] // one session, one story: splitting it would hide the sequence
async fn list_read_subscribe_and_receive_updates_for_exactly_the_changed_segment() {
    let (ct, downstream, resources, addr) = setup().await;
    let cache = resources.cache().clone();
    let (client, mut notes) = legacy_client(addr).await;

    // resources/list and resources/templates/list come from the snapshot.
    let listed = client.list_all_resources().await.expect("resources/list");
    let uris: Vec<&str> = listed.iter().map(|r| r.uri.as_str()).collect();
    assert_eq!(uris, [DATA, ALPHA, BETA, HEALTH]);
    assert!(
        listed
            .iter()
            .all(|r| r.mime_type.as_deref() == Some("application/json"))
    );
    let templates = client
        .list_all_resource_templates()
        .await
        .expect("templates/list");
    let templates: Vec<&str> = templates.iter().map(|t| t.uri_template.as_str()).collect();
    assert_eq!(templates, ["cache://data/{segment}"]);

    // resources/read: a segment, the whole, and the health resource.
    let alpha = client
        .read_resource(ReadResourceRequestParams::new(ALPHA))
        .await
        .expect("read");
    let (uri, mime, body) = text(&alpha);
    assert_eq!((uri, mime), (ALPHA, Some("application/json")));
    assert_eq!(
        serde_json::from_str::<Value>(body).unwrap(),
        json!(["allow tcp/443"])
    );
    let whole = client
        .read_resource(ReadResourceRequestParams::new(DATA))
        .await
        .expect("read");
    assert_eq!(
        serde_json::from_str::<Value>(text(&whole).2).unwrap(),
        json!({ "app-alpha": ["allow tcp/443"], "app-beta": ["allow tcp/22"] })
    );
    let health = client
        .read_resource(ReadResourceRequestParams::new(HEALTH))
        .await
        .expect("read");
    let health: Value = serde_json::from_str(text(&health).2).unwrap();
    assert_eq!(health["name"], "rules");
    assert_eq!(health["generation"], 1);
    assert_eq!(health["items"], 2);
    assert_eq!(health["stale"], false);
    assert_eq!(health["ttl_seconds"], 300.0);
    assert_eq!(health["consecutive_failures"], 0);

    // Unknown URIs are resource-not-found; path tricks in the segment are refused.
    let missing = client
        .read_resource(ReadResourceRequestParams::new("cache://data/app-omega"))
        .await;
    assert_eq!(
        error_code(missing.expect_err("unknown segment")),
        ErrorCode::RESOURCE_NOT_FOUND
    );
    let foreign = client
        .read_resource(ReadResourceRequestParams::new("file:///etc/passwd"))
        .await;
    assert_eq!(
        error_code(foreign.expect_err("foreign URI")),
        ErrorCode::RESOURCE_NOT_FOUND
    );
    for hostile in [
        "cache://data/..%2F..%2Fmeta%2Fhealth",
        "cache://data/a/b",
        "cache://data/%00",
        "cache://data/%zz",
    ] {
        let refused = client
            .read_resource(ReadResourceRequestParams::new(hostile))
            .await;
        assert_eq!(
            error_code(refused.expect_err(hostile)),
            ErrorCode::INVALID_PARAMS,
            "{hostile}"
        );
    }
    let escaped = client
        .read_resource(ReadResourceRequestParams::new("cache://data/app%2Dalpha"))
        .await
        .expect("escaped name");
    assert_eq!(
        serde_json::from_str::<Value>(text(&escaped).2).unwrap(),
        json!(["allow tcp/443"])
    );
    let foreign_subscribe = client
        .subscribe(SubscribeRequestParams::new("file:///etc/passwd"))
        .await;
    assert_eq!(
        error_code(foreign_subscribe.expect_err("foreign URI")),
        ErrorCode::RESOURCE_NOT_FOUND
    );

    // Subscribe to both segments (not to the whole, nor to health).
    client
        .subscribe(SubscribeRequestParams::new(ALPHA))
        .await
        .expect("subscribe alpha");
    client
        .subscribe(SubscribeRequestParams::new(BETA))
        .await
        .expect("subscribe beta");
    assert_eq!(resources.subscriber_stats().subscriptions, 2);

    // The downstream changes app-alpha only: exactly one notification, for app-alpha.
    downstream.set("app-alpha", &["allow tcp/443", "deny all"]);
    assert_eq!(cache.refresh_now().await.expect("refresh"), 2);
    assert_eq!(next_note(&mut notes).await, Note::Updated(ALPHA.into()));
    let alpha = client
        .read_resource(ReadResourceRequestParams::new(ALPHA))
        .await
        .expect("read");
    assert_eq!(
        serde_json::from_str::<Value>(text(&alpha).2).unwrap(),
        json!(["allow tcp/443", "deny all"])
    );

    // A refresh with no change and a failed refresh send nothing: the next notification is
    // the one caused by the following change to app-beta.
    assert_eq!(cache.refresh_now().await.expect("refresh"), 3);
    *downstream.failing.lock().unwrap() = true;
    let failed = cache
        .refresh_now()
        .await
        .expect_err("downstream answers 503");
    assert!(failed.to_string().contains("503"), "{failed}");
    *downstream.failing.lock().unwrap() = false;
    assert_eq!(*downstream.requests.lock().unwrap(), 4);
    downstream.set("app-beta", &["allow tcp/2222"]);
    assert_eq!(cache.refresh_now().await.expect("refresh"), 4);
    assert_eq!(next_note(&mut notes).await, Note::Updated(BETA.into()));

    // A new segment appears: list_changed (no update for unsubscribed URIs).
    downstream.set("app-gamma", &["allow udp/53"]);
    cache.refresh_now().await.expect("refresh");
    assert_eq!(next_note(&mut notes).await, Note::ListChanged);
    let uris: Vec<String> = client
        .list_all_resources()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.uri)
        .collect();
    assert_eq!(uris, [DATA, ALPHA, BETA, GAMMA, HEALTH]);

    // After unsubscribing from app-alpha, a change to both segments notifies only app-beta.
    client
        .unsubscribe(UnsubscribeRequestParams::new(ALPHA))
        .await
        .expect("unsubscribe");
    downstream.set("app-alpha", &["deny all"]);
    downstream.set("app-beta", &["deny all"]);
    cache.refresh_now().await.expect("refresh");
    assert_eq!(next_note(&mut notes).await, Note::Updated(BETA.into()));
    downstream.set("app-beta", &["allow tcp/22"]);
    cache.refresh_now().await.expect("refresh");
    assert_eq!(next_note(&mut notes).await, Note::Updated(BETA.into()));

    // The health resource changes with every attempt, failed ones included.
    client
        .subscribe(SubscribeRequestParams::new(HEALTH))
        .await
        .expect("subscribe health");
    *downstream.failing.lock().unwrap() = true;
    cache
        .refresh_now()
        .await
        .expect_err("downstream answers 503");
    assert_eq!(next_note(&mut notes).await, Note::Updated(HEALTH.into()));
    let health = client
        .read_resource(ReadResourceRequestParams::new(HEALTH))
        .await
        .expect("read");
    let health: Value = serde_json::from_str(text(&health).2).unwrap();
    assert_eq!(health["consecutive_failures"], 1);
    assert_eq!(health["last_error_kind"], "fetch");
    assert_eq!(health["generation"], 7, "the failure kept the generation");
    assert!(notes.try_recv().is_err(), "nothing else was sent");

    client.cancel().await.expect("client closes");
    ct.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listen_streams_receive_updates_on_protocol_2026_07_28() {
    let (ct, downstream, resources, addr) = setup().await;
    let cache = resources.cache().clone();
    let client = ClientConfig::default()
        .serve_with_lifecycle(
            StreamableHttpClientTransport::from_uri(format!("http://{addr}/mcp")),
            ClientLifecycleMode::Discover {
                preferred_versions: vec![ProtocolVersion::V_2026_07_28],
            },
        )
        .await
        .expect("discover");

    let missing = client
        .read_resource(ReadResourceRequestParams::new("cache://data/app-omega"))
        .await;
    assert_eq!(
        error_code(missing.expect_err("unknown segment")),
        ErrorCode::INVALID_PARAMS,
        "2026-07-28 reports resource-not-found as invalid params (SEP-2164)"
    );

    let mut subscription = client
        .listen(
            SubscriptionFilter::builder()
                .resources_list_changed()
                .resource_subscriptions([BETA, "file:///not-ours"])
                .build(),
        )
        .await
        .expect("subscriptions/listen");
    assert_eq!(
        subscription.acknowledged().resource_subscriptions,
        Some(vec![BETA.to_owned()])
    );
    assert_eq!(
        subscription.acknowledged().resources_list_changed,
        Some(true)
    );

    downstream.set("app-alpha", &["deny all"]);
    cache.refresh_now().await.expect("refresh");
    downstream.set("app-beta", &["deny all"]);
    cache.refresh_now().await.expect("refresh");
    let note = tokio::time::timeout(DEADLINE, subscription.next())
        .await
        .expect("a notification arrives")
        .expect("stream open")
        .expect("a notification");
    match note {
        ServerNotification::ResourceUpdatedNotification(n) => assert_eq!(n.params.uri, BETA),
        other => panic!("expected resources/updated for app-beta first, got {other:?}"),
    }
    downstream.set("app-gamma", &["allow udp/53"]);
    cache.refresh_now().await.expect("refresh");
    let note = tokio::time::timeout(DEADLINE, subscription.next())
        .await
        .expect("a notification arrives")
        .expect("stream open")
        .expect("a notification");
    assert!(
        matches!(note, ServerNotification::ResourceListChangedNotification(_)),
        "{note:?}"
    );
    assert_eq!(resources.subscriber_stats().streams, 1);

    subscription.cancel().await.expect("cancel");
    wait_until(|| resources.subscriber_stats().streams == 0).await;
    client.cancel().await.expect("client closes");
    ct.cancel();
}

/// Polls `condition` until it holds, failing after [`DEADLINE`].
async fn wait_until(condition: impl Fn() -> bool) {
    tokio::time::timeout(DEADLINE, async {
        while !condition() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("condition reached");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_that_went_away_are_dropped_and_never_block_a_refresh() {
    let (ct, downstream, resources, addr) = setup().await;
    let cache = resources.cache().clone();
    let (staying, mut staying_notes) = legacy_client(addr).await;
    staying
        .subscribe(SubscribeRequestParams::new(ALPHA))
        .await
        .expect("subscribe");
    for _ in 0..3 {
        let (leaving, _notes) = legacy_client(addr).await;
        leaving
            .subscribe(SubscribeRequestParams::new(ALPHA))
            .await
            .expect("subscribe");
        leaving.cancel().await.expect("client leaves");
    }
    assert!(resources.subscriber_stats().sessions >= 1);

    downstream.set("app-alpha", &["deny all"]);
    cache
        .refresh_now()
        .await
        .expect("refresh is not held up by dead sessions");
    assert_eq!(
        next_note(&mut staying_notes).await,
        Note::Updated(ALPHA.into())
    );
    wait_until(|| resources.subscriber_stats().sessions == 1).await;

    staying.cancel().await.expect("client closes");
    downstream.set("app-alpha", &["allow all"]);
    cache.refresh_now().await.expect("refresh");
    wait_until(|| resources.subscriber_stats().sessions == 0).await;
    ct.cancel();
}
