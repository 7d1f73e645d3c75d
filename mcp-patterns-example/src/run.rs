//! Starting the server on Streamable HTTP or stdio.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use rmcp::ServiceExt;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio_util::sync::CancellationToken;

use mcp_authz::{
    AccessRequest, Action, AuthLayer, AuthzLayer, ListenFilterLayer, Policy as _,
    ProtectedResourceMetadata, SessionLimits, SessionOwnershipLayer, StaticPolicy, TargetKind,
    TokenVerifier, principal_from,
};
use mcp_otel::{OtelLayer, OtelLayerBuilder};
use tower::ServiceBuilder;

use crate::access::Caller;
use crate::auth::{AuthSettings, GLOBAL_SCOPE, Identity as IdentitySource, development_verifier};
use crate::data::{CacheSettings, FirewallCache};
use crate::devidp::{DEV_TOKEN_TTL, DemoUser, RunningIssuer, demo_users, start_dev_issuer};
use crate::downstream::{self, DownstreamClient, FirewallStore, RunningDownstream};
use crate::listen::{Bound, ConnectionLimits, DEFAULT_SHUTDOWN_GRACE, Served};
use crate::metrics;
use crate::probes::{self, Readiness};
use crate::sessions::RedisSessions;
use crate::shared_mcp::SharedMcp;
use crate::{ExampleError, FirewallServer};

/// Where and how to serve over HTTP.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// Address to bind, `127.0.0.1` by default.
    pub bind: IpAddr,
    /// Port, 8080 by default; 0 picks a free one.
    pub port: u16,
    /// An external downstream API; when `None` the built-in one is started on a free loopback port.
    pub downstream_url: Option<String>,
    /// Cache scope and configuration.
    pub cache: CacheSettings,
    /// Authorization: the development issuer by default.
    pub auth: AuthSettings,
    /// The tracing layer every session's handler is wrapped in (outermost, so authorization
    /// denials are traced too). `None`: an untraced layer without metrics.
    pub telemetry: Option<OtelLayer>,
    /// A session with no request for this long is closed and its resources freed, for clients
    /// that vanish without ending their session (crash, dropped connection). A client that ends
    /// its session (HTTP `DELETE`) frees it at once. 5 minutes by default; `None` keeps idle
    /// sessions until shutdown.
    pub session_idle_timeout: Option<Duration>,
    /// Limits on the HTTP connections: header read timeout, keep-alive timeout, the bound on
    /// open connections. See [`ConnectionLimits`].
    pub connections: ConnectionLimits,
    /// At shutdown, how long requests in flight may take to finish before their connections
    /// are closed; the MCP sessions end after them. [`DEFAULT_SHUTDOWN_GRACE`] (25 s) by default.
    pub shutdown_grace: Duration,
    /// The URL clients use to reach the MCP endpoint, when it differs from the address bound
    /// (behind a reverse proxy or load balancer), e.g. `https://mcp.example.com/mcp`. It is the
    /// RFC 9728 `resource` (and where its metadata document is announced), the audience tokens
    /// must be issued for unless [`AuthSettings::audience`] says otherwise, and the audience of
    /// the development issuer's tokens. Default: `http://{bind}:{port}/mcp`.
    pub public_url: Option<String>,
    /// Sessions per user and in total (`429` / `503` past them).
    pub session_limits: SessionLimits,
    /// Allow binding a non-loopback address with the development issuer or without
    /// authorization. Both hand out access to anyone who can reach the port (the development
    /// issuer's demo tokens are printed, `--no-auth` needs none), so by default the server
    /// refuses to start that way.
    pub insecure_public_bind: bool,
    /// Serve every request statelessly (rmcp's `legacy_session_mode = false`, JSON responses
    /// where no stream is needed): clients of the legacy protocol get no `Mcp-Session-Id`
    /// either, so any replica behind a load balancer can answer any request without shared
    /// session state. Per-user caches and entitlements are keyed by the caller's identity as
    /// always; `resources/subscribe` is refused (no session to notify), `subscriptions/listen`
    /// works. Default `false`: legacy clients get sessions, 2026-07-28 clients are stateless.
    pub stateless: bool,
    /// INSECURE, for testing evaluators only: every caller gets every application's rules (the
    /// server's per-application data filter is off; token verification and the tool policy
    /// stay on). Default `false`. See [`FirewallServer::data_filter`].
    pub insecure_no_data_filter: bool,
}

/// The default [`HttpOptions::session_idle_timeout`].
pub const DEFAULT_SESSION_IDLE_TIMEOUT: Duration = Duration::from_secs(5 * 60);

impl Default for HttpOptions {
    fn default() -> Self {
        Self {
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 8080,
            downstream_url: None,
            cache: CacheSettings::default(),
            auth: AuthSettings::default(),
            telemetry: None,
            session_idle_timeout: Some(DEFAULT_SESSION_IDLE_TIMEOUT),
            connections: ConnectionLimits::default(),
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
            public_url: None,
            session_limits: SessionLimits::default(),
            insecure_public_bind: false,
            insecure_no_data_filter: false,
            stateless: false,
        }
    }
}

/// A server running on Streamable HTTP.
#[derive(Debug)]
pub struct RunningHttp {
    /// The address it listens on.
    pub local_addr: SocketAddr,
    /// The MCP endpoint, e.g. `http://127.0.0.1:8080/mcp`.
    pub mcp_url: String,
    /// The URL clients are told to use ([`HttpOptions::public_url`], or `mcp_url`): the RFC 9728
    /// `resource` and the audience of the demo tokens.
    pub public_url: String,
    /// The downstream API it answers from.
    pub downstream_url: String,
    /// The built-in downstream, when it started one.
    pub downstream: Option<RunningDownstream>,
    /// The development token issuer, when it runs.
    pub issuer: Option<RunningIssuer>,
    /// Ready-to-use tokens of the development issuer's demo users.
    pub demo_tokens: Vec<(DemoUser, String)>,
    /// Whether requests must carry a verified token.
    pub authorization: bool,
    cache: FirewallCache,
    sessions: Arc<LocalSessionManager>,
    owners: Option<SessionOwnershipLayer>,
    served: Served,
    _cache_metrics: metrics::CacheObservers,
}

impl RunningHttp {
    /// The server's cache (scope, per-user caches, health), for operations and tests.
    pub fn cache(&self) -> &FirewallCache {
        &self.cache
    }

    /// How many MCP sessions are open now.
    pub async fn open_sessions(&self) -> usize {
        self.sessions.sessions.read().await.len()
    }

    /// How many sessions have a recorded owner (with authorization on; idle ones past the
    /// session timeout excluded).
    pub fn owned_sessions(&self) -> Option<usize> {
        self.owners
            .as_ref()
            .map(SessionOwnershipLayer::open_sessions)
    }

    /// Shuts down gracefully: stops accepting connections (`/readyz` answers 503 from here),
    /// lets the requests in flight finish within [`HttpOptions::shutdown_grace`], ends the open
    /// sessions, closes the connections, stops the built-in downstream and development issuer,
    /// and waits for all of it.
    pub async fn shutdown(self) {
        self.served.shutdown().await;
        if let Some(downstream) = self.downstream {
            downstream.shutdown().await;
        }
        if let Some(issuer) = self.issuer {
            issuer.shutdown().await;
        }
    }
}

/// Starts the built-in downstream unless `url` names one; returns its client and handle.
pub(crate) async fn downstream_for(
    url: Option<&str>,
) -> Result<(DownstreamClient, Option<RunningDownstream>), ExampleError> {
    match url {
        Some(url) => Ok((DownstreamClient::new(url), None)),
        None => {
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
            let running = downstream::serve(addr, FirewallStore::seeded()).await?;
            Ok((DownstreamClient::new(running.url.clone()), Some(running)))
        }
    }
}

/// The layer used when telemetry is off: spans go to the no-op global tracer, no metrics.
fn untraced() -> OtelLayer {
    OtelLayer::builder().without_metrics().build()
}

/// The telemetry layer for the reference server: `user.id` is the verified principal's subject.
pub fn telemetry_layer(builder: OtelLayerBuilder) -> OtelLayer {
    builder
        .user_id(|context| principal_from(context).map(|p| p.subject.clone()))
        .build()
}

/// What the server trusts, resolved from [`AuthSettings`].
struct Identity {
    verifier: Option<Arc<dyn TokenVerifier>>,
    authorization_server: Option<String>,
    issuer: Option<RunningIssuer>,
    demo_tokens: Vec<(DemoUser, String)>,
}

/// Starts the development issuer (and mints the demo tokens, for `audience`) or builds the
/// verifier of an external identity provider; nothing when authorization is disabled.
async fn resolve_identity(auth: &AuthSettings, audience: &str) -> Result<Identity, ExampleError> {
    match &auth.identity {
        IdentitySource::Disabled => Ok(Identity {
            verifier: None,
            authorization_server: None,
            issuer: None,
            demo_tokens: Vec::new(),
        }),
        IdentitySource::Development => {
            let running = start_dev_issuer(IpAddr::V4(Ipv4Addr::LOCALHOST), 0).await?;
            let verifier =
                development_verifier(&running.jwks_url, &running.issuer_url, audience).await?;
            let mut demo_tokens = Vec::new();
            for user in demo_users() {
                let token = running.issuer.mint(&user, audience, DEV_TOKEN_TTL)?;
                demo_tokens.push((user, token));
            }
            Ok(Identity {
                verifier: Some(verifier),
                authorization_server: Some(running.issuer_url.clone()),
                issuer: Some(running),
                demo_tokens,
            })
        }
        _ => Ok(Identity {
            verifier: auth.external_verifier(audience).await?,
            authorization_server: auth.issuer.clone(),
            issuer: None,
            demo_tokens: Vec::new(),
        }),
    }
}

/// The identity source as `/readyz` names it.
fn identity_source(identity: &IdentitySource) -> Option<&'static str> {
    Some(match identity {
        IdentitySource::Disabled => return None,
        IdentitySource::Development => "development",
        IdentitySource::Jwks { .. } => "jwks",
        IdentitySource::OidcIssuer { .. } => "oidc-issuer",
        IdentitySource::Userinfo { .. } => "userinfo",
        IdentitySource::Introspection { .. } => "introspection",
    })
}

/// Refuses a non-loopback bind with an identity source that gives access to anyone who can
/// reach the port, unless [`HttpOptions::insecure_public_bind`] says so.
fn check_bind(options: &HttpOptions) -> Result<(), ExampleError> {
    let open_identity = matches!(
        options.auth.identity,
        IdentitySource::Development | IdentitySource::Disabled
    );
    if !options.bind.is_loopback() && open_identity && !options.insecure_public_bind {
        Err(ExampleError::Config {
            reason: format!(
                "refusing to bind {} with {}: anyone who can reach the port would get access. \
                 Configure a real identity provider (--oidc-issuer, --jwks-url, \
                 --introspection-url), bind 127.0.0.1, or pass --insecure-public-bind",
                options.bind,
                if options.auth.identity == IdentitySource::Disabled {
                    "--no-auth"
                } else {
                    "the development token issuer (its demo tokens are printed)"
                }
            ),
        })
    } else {
        Ok(())
    }
}

/// Serves `app` with the probes beside it, under the options' connection limits and grace.
fn serve(bound: Bound, app: axum::Router, cache: &FirewallCache, options: &HttpOptions) -> Served {
    let readiness = Readiness {
        cache: cache.clone(),
        identity: identity_source(&options.auth.identity),
        draining: bound.draining.clone(),
    };
    bound.serve_with(
        app.merge(probes::router(readiness)),
        "MCP HTTP server",
        options.connections,
        options.shutdown_grace,
    )
}

/// rmcp's Streamable HTTP configuration for `options`.
fn http_config(options: &HttpOptions, bound: &Bound) -> StreamableHttpServerConfig {
    let config = StreamableHttpServerConfig::default()
        .with_cancellation_token(bound.ct.child_token())
        .with_legacy_session_mode(!options.stateless)
        .with_json_response(options.stateless);
    if options.bind.is_loopback() {
        config
    } else {
        // Bound to a non-loopback address on purpose: accept the Host headers that reach it.
        config.disable_allowed_hosts()
    }
}

/// The filter of `subscriptions/listen` requests: a request keeps the subscriptions the caller
/// may read — the policy's resource rule and the caller's entitlement to the application — so
/// the acknowledgement names only those.
fn listen_filter(policy: StaticPolicy) -> ListenFilterLayer {
    ListenFilterLayer::from_fn(move |principal, uri| {
        let request = AccessRequest::new(principal, Action::Invoke, TargetKind::Resource, uri);
        policy.evaluate(&request).is_allowed()
            && FirewallServer::subscribable(&Caller::from_principal(principal), uri)
    })
}

/// The RFC 9728 metadata of the MCP endpoint at `public_url`.
fn resource_metadata(
    public_url: &str,
    authorization_server: Option<String>,
) -> ProtectedResourceMetadata {
    let metadata = ProtectedResourceMetadata::new(public_url.to_owned())
        .resource_name("mcp-patterns-example firewall rules")
        .scopes([GLOBAL_SCOPE, "firewall:read", "firewall:admin"]);
    match authorization_server {
        Some(server) => metadata.authorization_server(server),
        None => metadata,
    }
}

/// Starts the server on Streamable HTTP at `http://{bind}:{port}/mcp`.
pub async fn start_http(options: HttpOptions) -> Result<RunningHttp, ExampleError> {
    check_bind(&options)?;
    let (client, downstream) = downstream_for(options.downstream_url.as_deref()).await?;
    let bound = Bound::bind(SocketAddr::new(options.bind, options.port)).await?;
    let local_addr = bound.local_addr;
    let mut config = http_config(&options, &bound);
    let stateless = options.stateless;
    // With --redis-url, legacy sessions and their owners are shared with the other replicas.
    let shared_sessions = RedisSessions::optional(&options)?;
    config.session_store = shared_sessions.clone().map(RedisSessions::session_store);
    let mcp_url = format!("http://{local_addr}/mcp");
    let public_url = options
        .public_url
        .clone()
        .unwrap_or_else(|| mcp_url.clone());
    let data = FirewallCache::build(client.clone(), &options.cache).await?;
    let cache = data.clone();
    // Cache and authorization metrics, through the global meter provider (a no-op one unless
    // telemetry is set up).
    let meter = opentelemetry::global::meter(mcp_otel::INSTRUMENTATION_NAME);
    let cache_metrics = metrics::observe_cache(&meter, &data);
    let mut manager = LocalSessionManager::default();
    manager.session_config.keep_alive = options.session_idle_timeout;
    let sessions = Arc::new(manager);
    let Identity {
        verifier,
        authorization_server,
        issuer,
        demo_tokens,
    } = resolve_identity(&options.auth, &public_url).await?;
    let mut owners = None;
    let mut otel = options.telemetry.clone().unwrap_or_else(untraced);
    if stateless {
        // One handler per request: no session clock to start.
        otel = otel.stateless();
    }
    let app = match verifier {
        None => {
            let server = FirewallServer::new(data, client.clone());
            // Built once; rmcp's factory clones it for each session (a fresh session clock).
            let stack = ServiceBuilder::new()
                .layer(otel)
                .layer(server.resources_layer())
                .service(server);
            let service =
                StreamableHttpService::new(move || Ok(stack.clone()), sessions.clone(), config);
            axum::Router::new().nest_service("/mcp", SharedMcp::new(service))
        }
        Some(verifier) => {
            let server = FirewallServer::with_callers(data, client.clone(), |context| {
                principal_from(context).map(Caller::from_principal)
            })
            .data_filter(!options.insecure_no_data_filter);
            let policy = options.auth.policy()?;
            let authz = AuthzLayer::builder()
                .policy(metrics::MeteredPolicy::new(policy.clone(), &meter))
                .build();
            let listen_filter = listen_filter(policy);
            // Traced outermost (denials too), then authorized (lists filtered, invocations
            // checked, resources included), then the cache's resources beside the tools.
            let stack = ServiceBuilder::new()
                .layer(otel)
                .layer(authz)
                .layer(server.resources_layer())
                .service(server);
            let service =
                StreamableHttpService::new(move || Ok(stack.clone()), sessions.clone(), config);
            let metadata = resource_metadata(&public_url, authorization_server);
            let layer = AuthLayer::new(metrics::MeteredVerifier::wrap(verifier, &meter))
                .require_scopes(options.auth.required_scopes.clone())
                .resource_metadata(metadata.metadata_url());
            let limits = options
                .session_limits
                .idle_timeout(options.session_idle_timeout);
            let ownership = match shared_sessions {
                Some(store) => SessionOwnershipLayer::with_store(limits, Arc::new(store)),
                None => SessionOwnershipLayer::new(limits),
            };
            owners = Some(ownership.clone());
            // A request passes AuthLayer (token, global scopes), then the session-owner check,
            // then the listen filter, then rmcp. The layers are composed into one service that
            // the router holds once, rather than one router layer each: each router layer boxes
            // what is under it again, and the router clones every box on every request.
            let mcp = ServiceBuilder::new()
                .layer(layer)
                .layer(ownership)
                .layer(listen_filter)
                .service(SharedMcp::new(service));
            axum::Router::new()
                .nest_service("/mcp", mcp)
                .merge(metadata.router())
        }
    };
    let served = serve(bound, app, &cache, &options);
    Ok(RunningHttp {
        local_addr,
        mcp_url,
        public_url,
        downstream_url: client.base_url().to_owned(),
        downstream,
        authorization: options.auth.identity != IdentitySource::Disabled,
        issuer,
        demo_tokens,
        cache,
        sessions,
        owners,
        served,
        _cache_metrics: cache_metrics,
    })
}

/// Serves one MCP session on stdin/stdout until the client closes it or `shutdown` fires.
pub async fn serve_stdio(
    downstream_url: Option<&str>,
    cache: &CacheSettings,
    telemetry: Option<OtelLayer>,
    shutdown: CancellationToken,
) -> Result<(), ExampleError> {
    let (client, downstream) = downstream_for(downstream_url).await?;
    tracing::info!(downstream = client.base_url(), "serving MCP on stdio");
    let data = FirewallCache::build(client.clone(), cache).await?;
    let server = FirewallServer::new(data, client);
    let service = ServiceBuilder::new()
        .layer(telemetry.unwrap_or_else(untraced))
        .layer(server.resources_layer())
        .service(server)
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|error| ExampleError::Transport(error.to_string()))?;
    let service_ct = service.cancellation_token();
    let result = tokio::select! {
        result = service.waiting() => result.map(|_| ()).map_err(|error| ExampleError::Transport(error.to_string())),
        () = shutdown.cancelled() => { service_ct.cancel(); Ok(()) }
    };
    if let Some(downstream) = downstream {
        downstream.shutdown().await;
    }
    result
}
