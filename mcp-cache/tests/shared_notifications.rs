//! Notifications across replicas: two MCP servers, each with its own cache of one real HTTP
//! downstream, share refreshes through a real `redis-server`. A client subscribed on replica B
//! receives `notifications/resources/updated` for exactly the URI that replica A's refresh
//! changed, and B never fetched from the downstream. Runs with `MCP_PATTERNS_REDIS=1`.
#![cfg(all(feature = "redis", feature = "rmcp"))]
// `resources/subscribe` is legacy-only in rmcp 3.11; clients still use it.
#![allow(deprecated)]

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::routing::get;
use common::redis::RedisServer;
use mcp_cache::{Cache, CacheConfig, CacheResources, JsonCodec, JsonView, RedisShared, Role};
use rmcp::model::{
    ReadResourceRequestParams, ReadResourceResponse, ResourceUpdatedNotificationParam,
    ServerCapabilities, ServerConfig, SubscribeRequestParams,
};
use rmcp::service::{NotificationContext, RequestContext, RoleClient, RoleServer};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ClientHandler, ErrorData, ServerHandler, ServiceExt};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

type Rules = BTreeMap<String, Vec<String>>;

const ALPHA: &str = "cache://data/app-alpha";
const BETA: &str = "cache://data/app-beta";

#[derive(Clone, Default)]
struct Downstream {
    rules: Arc<Mutex<Rules>>,
    requests: Arc<Mutex<usize>>,
}

async fn serve_rules(State(downstream): State<Downstream>) -> Json<Rules> {
    *downstream.requests.lock().unwrap() += 1;
    Json(downstream.rules.lock().unwrap().clone())
}

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
                .build(),
        )
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
}

/// One replica: its own cache of the downstream, shared through Redis, served over HTTP.
async fn replica(
    downstream: &str,
    redis: &str,
    id: &str,
    ct: &CancellationToken,
) -> (Cache<Rules>, SocketAddr) {
    let http = reqwest::Client::new();
    let url = downstream.to_owned();
    let cache = Cache::from_fn(move || {
        let http = http.clone();
        let url = url.clone();
        async move {
            http.get(&url)
                .send()
                .await?
                .error_for_status()?
                .json::<Rules>()
                .await
        }
    })
    .config(
        CacheConfig::with_ttl(Duration::from_millis(500))
            .name("rules")
            .background_refresh(false),
    )
    .shared(
        RedisShared::new(redis, JsonCodec::new("rules/v1"))
            .expect("url")
            .replica_id(id),
    )
    .build()
    .await
    .expect("replica starts");
    let server = Server {
        resources: CacheResources::new(cache.clone(), JsonView::btree_map("cache://data")),
    };
    let service: StreamableHttpService<Server, LocalSessionManager> = StreamableHttpService::new(
        move || Ok(server.clone()),
        Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default().with_cancellation_token(ct.child_token()),
    );
    let app = axum::Router::new().nest_service("/mcp", service);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        axum::serve(listener, app)
            .with_graceful_shutdown(ct.clone().cancelled_owned())
            .into_future(),
    );
    (cache, addr)
}

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_on_one_replica_hears_of_a_change_another_replica_fetched() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let ct = CancellationToken::new();
    let downstream = Downstream::default();
    downstream.rules.lock().unwrap().extend([
        ("app-alpha".to_owned(), vec!["allow tcp/443".to_owned()]),
        ("app-beta".to_owned(), vec!["allow tcp/22".to_owned()]),
    ]);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let downstream_url = format!("http://{}/rules", listener.local_addr().unwrap());
    let app = axum::Router::new()
        .route("/rules", get(serve_rules))
        .with_state(downstream.clone());
    tokio::spawn(
        axum::serve(listener, app)
            .with_graceful_shutdown(ct.clone().cancelled_owned())
            .into_future(),
    );

    let (a, _) = replica(&downstream_url, &redis.url(), "a", &ct).await;
    let (b, b_addr) = replica(&downstream_url, &redis.url(), "b", &ct).await;
    assert_eq!(
        *downstream.requests.lock().unwrap(),
        1,
        "b loaded a's snapshot"
    );

    let (tx, mut notes) = mpsc::unbounded_channel();
    let client = Recorder(tx)
        .serve(StreamableHttpClientTransport::from_uri(format!(
            "http://{b_addr}/mcp"
        )))
        .await
        .expect("initialize on replica b");
    for uri in [ALPHA, BETA] {
        client
            .subscribe(SubscribeRequestParams::new(uri))
            .await
            .expect("subscribe");
    }

    // Replica A refreshes (B has no background loop: only A's message can tell it).
    tokio::time::sleep(Duration::from_millis(500)).await;
    downstream
        .rules
        .lock()
        .unwrap()
        .insert("app-alpha".into(), vec!["deny tcp/443".into()]);
    assert_eq!(a.refresh_now().await.expect("a leads"), 2);
    assert_eq!(a.coordination().expect("shared").role, Role::Leader);

    let uri = tokio::time::timeout(Duration::from_secs(10), notes.recv())
        .await
        .expect("b's subscriber is notified")
        .expect("client alive");
    assert_eq!(uri, ALPHA);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(notes.try_recv().is_err(), "app-beta did not change");
    let read = client
        .read_resource(ReadResourceRequestParams::new(ALPHA))
        .await
        .expect("read on b");
    let body = serde_json::to_string(&read).expect("json");
    assert!(body.contains("deny tcp/443"), "{body}");
    assert_eq!(b.generation(), 2);
    assert_eq!(b.coordination().expect("shared").role, Role::Follower);
    assert_eq!(*downstream.requests.lock().unwrap(), 2, "only a fetched");
    let _ = client.cancel().await;
    ct.cancel();
}
