//! `mcp-patterns-example`: the reference firewall-rules MCP server.
//!
//! Every option comes from (highest first) the command line, the environment, the TOML file
//! given with `--config`, then the built-in default. `mcp-patterns-example --help` lists them.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use mcp_authz::{DEFAULT_IDP_TIMEOUT, JwksRefresh, SessionLimits};
use mcp_cache::InitialFetch;
use mcp_otel::{OtelLayer, Profile, SamplerConfig, TelemetryConfig, TraceExporter};
use mcp_patterns_example::access::READ;
use mcp_patterns_example::auth::{AuthSettings, GLOBAL_SCOPE, Identity};
use mcp_patterns_example::data::{CacheScope, CacheSettings, default_initial_fetch};
use mcp_patterns_example::devidp::demo_users;
use mcp_patterns_example::downstream::FirewallStore;
use mcp_patterns_example::server::{TOOL_NAMES, describe_scope};
use mcp_patterns_example::tls::TrustedCas;
use mcp_patterns_example::{
    ConnectionLimits, DEFAULT_SESSION_IDLE_TIMEOUT, DEFAULT_SHUTDOWN_GRACE, ExampleError,
    HttpOptions, serve_stdio, start_http, telemetry_layer,
};
use serde::Deserialize;
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

/// The binary's allocator (feature `jemalloc`, on by default): under load the system allocator
/// spent a fifth of the server's CPU time in malloc, free and their arena locks. (mimalloc was
/// as fast but kept about 60 % more resident memory per idle session.)
#[cfg(feature = "jemalloc")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// The reference MCP server of mcp-patterns: firewall rules per application from a downstream
/// HTTP API (a built-in demo one by default), cached (mcp-cache), authorized (mcp-authz) and
/// traced (mcp-otel). Without options it starts everything it needs on loopback and prints
/// demo tokens.
#[derive(Debug, Default, Parser, Deserialize)]
#[command(version, about)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
#[allow(clippy::struct_excessive_bools)] // command-line switches
struct Args {
    /// A TOML file with any of these options (kebab-case keys, e.g. `cache-scope = "session"`).
    #[arg(long, env = "MCP_CONFIG")]
    #[serde(skip)]
    config: Option<PathBuf>,
    /// Address to bind the Streamable HTTP endpoint to [default: 127.0.0.1].
    #[arg(long, env = "MCP_BIND")]
    bind: Option<IpAddr>,
    /// Port of the Streamable HTTP endpoint, 0 for a free one [default: 8080].
    #[arg(long, env = "MCP_PORT")]
    port: Option<u16>,
    /// Serve one session on stdin/stdout instead of HTTP (the local operator: no token, every
    /// application).
    #[arg(long)]
    #[serde(skip)]
    stdio: bool,
    /// Base URL of an external firewall API; without it the built-in demo API is started on a
    /// free loopback port.
    #[arg(long, env = "DOWNSTREAM_URL")]
    downstream_url: Option<String>,
    /// Where the cache lives: `server` (one shared cache, filtered per caller), `session` (one
    /// cache per user with only their applications) or `hybrid` (shared data plus a per-user
    /// overlay of the user's change requests); see docs/cache-scopes.md [default: server].
    #[arg(long, env = "MCP_CACHE_SCOPE", value_enum)]
    cache_scope: Option<CacheScope>,
    /// Share the cache's refreshes with the other replicas through this Redis
    /// (`redis://host:port/db`): per TTL one replica fetches from the downstream, the others
    /// load its snapshot; see docs/scale-out.md. Server and hybrid scopes.
    #[arg(long, env = "MCP_REDIS_URL")]
    redis_url: Option<String>,
    /// Seconds between background refreshes of the cache [default: 60].
    #[arg(long, env = "MCP_CACHE_TTL")]
    cache_ttl: Option<u64>,
    /// Seconds between background refreshes of each user's overlay in the hybrid scope (their
    /// change requests) [default: 30].
    #[arg(long, env = "MCP_OVERLAY_TTL")]
    overlay_ttl: Option<u64>,
    /// What start-up does when the downstream does not answer: `retry` (backoff for up to 20 s,
    /// then fail), `fail-fast`, or `degrade` (start anyway; tools answer "data not available
    /// yet" until a refresh succeeds) [default: retry].
    #[arg(long, env = "MCP_INITIAL_FETCH", value_enum)]
    initial_fetch: Option<InitialFetchArg>,
    /// With `--initial-fetch retry`: seconds after which start-up gives up [default: 20].
    #[arg(long, env = "MCP_INITIAL_FETCH_DEADLINE")]
    initial_fetch_deadline: Option<u64>,
    /// Seconds without a request after which an HTTP session is closed (for clients that vanish
    /// without ending it); 0 keeps idle sessions [default: 300].
    #[arg(long, env = "MCP_SESSION_IDLE_TIMEOUT")]
    session_idle_timeout: Option<u64>,
    /// Trust JWTs signed by keys at this JWKS URL instead of the development issuer.
    #[arg(long, env = "MCP_JWKS_URL")]
    jwks_url: Option<String>,
    /// Trust JWTs of this OIDC issuer, keys found by discovery.
    #[arg(long, env = "MCP_OIDC_ISSUER")]
    oidc_issuer: Option<String>,
    /// Check tokens at this OIDC userinfo endpoint.
    #[arg(long, env = "MCP_USERINFO_URL")]
    userinfo_url: Option<String>,
    /// Check tokens at this RFC 7662 introspection endpoint (with --client-id/--client-secret).
    #[arg(long, env = "MCP_INTROSPECTION_URL")]
    introspection_url: Option<String>,
    /// Client id for introspection.
    #[arg(long, env = "MCP_CLIENT_ID")]
    client_id: Option<String>,
    /// Client secret for introspection.
    #[arg(long, env = "MCP_CLIENT_SECRET", hide_env_values = true)]
    client_secret: Option<String>,
    /// Milliseconds one request to an external identity provider (userinfo, introspection,
    /// JWKS, discovery) may take before the token is refused with 503 [default: 5000].
    #[arg(long, env = "MCP_IDP_TIMEOUT_MS")]
    idp_timeout_ms: Option<u64>,
    /// A PEM file of CA certificates trusted for HTTPS to the identity provider and the OTLP
    /// collector, in addition to the platform's roots and the file `SSL_CERT_FILE` names (for
    /// a private CA).
    #[arg(long, env = "MCP_CA_FILE")]
    ca_file: Option<PathBuf>,
    /// Expected `iss` of tokens.
    #[arg(long, env = "MCP_ISSUER")]
    issuer: Option<String>,
    /// Expected `aud` of tokens [default: the public URL].
    #[arg(long, env = "MCP_AUDIENCE")]
    audience: Option<String>,
    /// The URL clients use for the MCP endpoint when it differs from the bound address (behind
    /// a reverse proxy or load balancer), e.g. https://mcp.example.com/mcp: the RFC 9728
    /// `resource`, the default expected audience and the audience of demo tokens [default:
    /// http://BIND:PORT/mcp].
    #[arg(long, env = "MCP_PUBLIC_URL")]
    public_url: Option<String>,
    /// With --userinfo-url: accept that userinfo cannot check the audience of tokens (a token
    /// the provider issued for any other API is accepted too).
    #[arg(long, env = "MCP_USERINFO_WITHOUT_AUDIENCE")]
    userinfo_without_audience: bool,
    /// Allow binding a non-loopback address with the development issuer or --no-auth, which
    /// give access to anyone who can reach the port. Refused without this flag.
    #[arg(long, env = "MCP_INSECURE_PUBLIC_BIND")]
    insecure_public_bind: bool,
    /// Sessions one user may hold open at once; one more is answered 429 [default: 32].
    #[arg(long, env = "MCP_MAX_SESSIONS_PER_USER")]
    max_sessions_per_user: Option<usize>,
    /// Sessions open at once on the server; one more is answered 503 [default: 10000].
    #[arg(long, env = "MCP_MAX_SESSIONS")]
    max_sessions: Option<usize>,
    /// A scope every request needs; repeat for several [default: mcp:access].
    #[arg(
        long = "required-scope",
        env = "MCP_REQUIRED_SCOPES",
        value_delimiter = ','
    )]
    required_scope: Vec<String>,
    /// The authorization policy (TOML or JSON) instead of the built-in policy.toml.
    #[arg(long, env = "MCP_POLICY")]
    policy: Option<PathBuf>,
    /// Telemetry: `off`, `console` (spans as lines on stderr) or `otlp` (to
    /// OTEL_EXPORTER_OTLP_ENDPOINT or PHOENIX_COLLECTOR_ENDPOINT, http://localhost:4318 by
    /// default). Without this option it is `otlp` when one of those variables is set or
    /// MCP_OTEL_ENABLED=true, `off` otherwise. The OTEL_*/PHOENIX_* variables of docs/observability.md
    /// apply.
    #[arg(long, env = "MCP_OTEL", value_enum)]
    otel: Option<OtelMode>,
    /// Seconds a client may take to send a request's header (from connecting, or from the first
    /// byte of the next request on a kept-alive connection) before the connection is closed
    /// [default: 10].
    #[arg(long, env = "MCP_HEADER_READ_TIMEOUT")]
    header_read_timeout: Option<u64>,
    /// Seconds a kept-alive connection with no request in flight stays open [default: 60].
    #[arg(long, env = "MCP_KEEP_ALIVE_TIMEOUT")]
    keep_alive_timeout: Option<u64>,
    /// Most HTTP connections open at once; at the limit new ones wait in the listen backlog
    /// [default: the open-file limit less an eighth of it].
    #[arg(long, env = "MCP_MAX_CONNECTIONS")]
    max_connections: Option<usize>,
    /// Seconds that requests in flight get to finish after SIGTERM or SIGINT, before their
    /// connections are closed [default: 25].
    #[arg(long, env = "MCP_SHUTDOWN_GRACE")]
    shutdown_grace: Option<u64>,
    /// Telemetry verbosity profile: `development` (console, or OTLP when an endpoint is set;
    /// input/output capture on with redaction; every trace; debug-level cache and authorization
    /// spans) or `production` (capture off, parent-based sampling of 10 % of traces, info
    /// level). Turns telemetry on; every other telemetry option and variable overrides it.
    /// See docs/observability.md.
    #[arg(long, env = "MCP_OTEL_PROFILE", value_enum)]
    otel_profile: Option<ProfileArg>,
    /// Record tool inputs and outputs on spans (`input.value`, `output.value`), with the
    /// default redaction list; overrides the profile and MCP_OTEL_CAPTURE_IO.
    #[arg(long, value_name = "BOOL")]
    otel_capture_io: Option<bool>,
    /// Fraction of traces recorded (0 to 1), parent-based: a caller's sampling decision in
    /// `traceparent` is followed; overrides the profile and OTEL_TRACES_SAMPLER*.
    #[arg(long, value_name = "RATIO")]
    otel_sampling_ratio: Option<f64>,
    /// INSECURE, for testing evaluators only: answer every caller with every application's
    /// rules (the per-application data filter is off; token checks and tool policy stay on).
    /// Refused with `--otel-profile production` and on a non-loopback `--bind`. It exists so the
    /// entitlement-leak evaluator (scripts/evals) can be seen to fail.
    #[arg(long)]
    insecure_no_data_filter: bool,
    /// Print the development issuer's demo users and the applications each may read, as the
    /// JSON entitlements file the evaluation workflow's leak check takes (`scripts/evals
    /// --entitlements FILE`), and exit.
    #[arg(long)]
    #[serde(skip)]
    print_entitlements: bool,
    /// Serve every request statelessly: no `Mcp-Session-Id` even for clients of the legacy
    /// protocol (`initialize` clients keep working; each request stands alone), JSON responses
    /// where no stream is needed. Everything per user is keyed by the caller's identity, not
    /// by a session, so any replica can answer any request. 2026-07-28 clients are served
    /// statelessly either way. `resources/subscribe` needs a session: use
    /// `subscriptions/listen`.
    #[arg(long, env = "MCP_STATELESS")]
    stateless: bool,
    /// Turn authorization off: every caller is the local operator. Local experiments only.
    #[arg(long, env = "MCP_NO_AUTH")]
    no_auth: bool,
}

/// `--otel`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum OtelMode {
    Off,
    Console,
    Otlp,
}

/// `--otel-profile`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum ProfileArg {
    #[value(alias = "dev")]
    #[serde(alias = "dev")]
    Development,
    #[value(alias = "prod")]
    #[serde(alias = "prod")]
    Production,
}

impl From<ProfileArg> for Profile {
    fn from(profile: ProfileArg) -> Self {
        match profile {
            ProfileArg::Development => Profile::Development,
            ProfileArg::Production => Profile::Production,
        }
    }
}

/// `--initial-fetch`.
#[derive(Debug, Clone, Copy, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum InitialFetchArg {
    Retry,
    FailFast,
    Degrade,
}

impl Args {
    /// Fills every option not given on the command line or in the environment from `file`.
    fn merge(mut self, file: Self) -> Self {
        macro_rules! fill {
            ($($field:ident),*) => { $( if self.$field.is_none() { self.$field = file.$field; } )* };
        }
        fill!(
            bind,
            port,
            downstream_url,
            cache_scope,
            redis_url,
            cache_ttl,
            overlay_ttl,
            initial_fetch,
            initial_fetch_deadline,
            idp_timeout_ms,
            session_idle_timeout,
            jwks_url,
            oidc_issuer,
            userinfo_url,
            introspection_url,
            client_id,
            client_secret,
            issuer,
            audience,
            public_url,
            max_sessions_per_user,
            max_sessions,
            policy,
            otel,
            otel_profile,
            otel_capture_io,
            otel_sampling_ratio,
            ca_file,
            header_read_timeout,
            keep_alive_timeout,
            max_connections,
            shutdown_grace
        );
        self.userinfo_without_audience |= file.userinfo_without_audience;
        self.insecure_public_bind |= file.insecure_public_bind;
        if self.required_scope.is_empty() {
            self.required_scope = file.required_scope;
        }
        self.no_auth |= file.no_auth;
        self.stateless |= file.stateless;
        self.insecure_no_data_filter |= file.insecure_no_data_filter;
        self
    }

    fn load() -> Result<Self, ExampleError> {
        let args = Self::parse();
        let Some(path) = args.config.clone() else {
            return Ok(args);
        };
        let text = std::fs::read_to_string(&path).map_err(|e| ExampleError::Config {
            reason: format!("cannot read {}: {e}", path.display()),
        })?;
        let file: Self = toml::from_str(&text).map_err(|e| ExampleError::Config {
            reason: format!("{}: {e}", path.display()),
        })?;
        Ok(args.merge(file))
    }

    fn cache(&self) -> CacheSettings {
        let mut settings = CacheSettings {
            scope: self.cache_scope.unwrap_or_default(),
            redis_url: self.redis_url.clone(),
            ..CacheSettings::default()
        };
        if let Some(seconds) = self.overlay_ttl {
            settings.overlay_ttl = Duration::from_secs(seconds.max(1));
        }
        let initial = match self.initial_fetch.unwrap_or(InitialFetchArg::Retry) {
            InitialFetchArg::Retry => {
                match (default_initial_fetch(), self.initial_fetch_deadline) {
                    (InitialFetch::Retry { backoff, .. }, Some(seconds)) => InitialFetch::Retry {
                        backoff,
                        deadline: Duration::from_secs(seconds),
                    },
                    (policy, _) => policy,
                }
            }
            InitialFetchArg::FailFast => InitialFetch::FailFast,
            InitialFetchArg::Degrade => InitialFetch::Degrade,
        };
        settings.cache = settings
            .cache
            .ttl(Duration::from_secs(self.cache_ttl.unwrap_or(60).max(1)))
            .initial_fetch(initial);
        settings
    }

    fn auth(&self) -> Result<AuthSettings, ExampleError> {
        let mut chosen = Vec::new();
        if self.no_auth {
            chosen.push(Identity::Disabled);
        }
        if let Some(url) = &self.jwks_url {
            chosen.push(Identity::Jwks { url: url.clone() });
        }
        if let Some(issuer) = &self.oidc_issuer {
            chosen.push(Identity::OidcIssuer {
                issuer: issuer.clone(),
            });
        }
        if let Some(url) = &self.userinfo_url {
            chosen.push(Identity::Userinfo { url: url.clone() });
        }
        if let Some(url) = &self.introspection_url {
            let (Some(client_id), Some(client_secret)) = (&self.client_id, &self.client_secret)
            else {
                return Err(ExampleError::Config {
                    reason: "--introspection-url needs --client-id and --client-secret".into(),
                });
            };
            chosen.push(Identity::Introspection {
                url: url.clone(),
                client_id: client_id.clone(),
                client_secret: client_secret.clone(),
            });
        }
        if chosen.len() > 1 {
            return Err(ExampleError::Config {
                reason: "choose one of --no-auth, --jwks-url, --oidc-issuer, --userinfo-url, \
                         --introspection-url"
                    .into(),
            });
        }
        if self.jwks_url.is_some() && self.issuer.is_none() {
            return Err(ExampleError::Config {
                reason: "--jwks-url needs --issuer: the expected `iss` of the tokens (without \
                         it, a token claiming any issuer would be accepted)"
                    .into(),
            });
        }
        let idp_timeout = self
            .idp_timeout_ms
            .map_or(DEFAULT_IDP_TIMEOUT, Duration::from_millis);
        Ok(AuthSettings {
            identity: chosen.pop().unwrap_or_default(),
            issuer: self.issuer.clone().or_else(|| self.oidc_issuer.clone()),
            audience: self.audience.clone(),
            required_scopes: if self.required_scope.is_empty() {
                vec![GLOBAL_SCOPE.to_owned()]
            } else {
                self.required_scope.clone()
            },
            policy_file: self.policy.clone(),
            idp_timeout,
            userinfo_without_audience: self.userinfo_without_audience,
            jwks_refresh: JwksRefresh::default().timeout(idp_timeout),
            http_client: Some(self.trusted_cas()?.idp_client()?),
        })
    }

    /// The CA certificates trusted beyond the platform's roots: `SSL_CERT_FILE`, `--ca-file`.
    fn trusted_cas(&self) -> Result<TrustedCas, ExampleError> {
        TrustedCas::load(self.ca_file.as_deref())
    }

    fn connections(&self) -> ConnectionLimits {
        let defaults = ConnectionLimits::default();
        ConnectionLimits {
            header_read_timeout: self
                .header_read_timeout
                .map_or(defaults.header_read_timeout, |s| {
                    Duration::from_secs(s.max(1))
                }),
            keep_alive_timeout: self
                .keep_alive_timeout
                .map_or(defaults.keep_alive_timeout, |s| {
                    Duration::from_secs(s.max(1))
                }),
            max_connections: self
                .max_connections
                .map_or(defaults.max_connections, |n| n.max(1)),
        }
    }

    fn http(&self, telemetry: Option<OtelLayer>) -> Result<HttpOptions, ExampleError> {
        let bind = self.bind.unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
        if self.insecure_no_data_filter {
            if self.otel_profile == Some(ProfileArg::Production) {
                return Err(ExampleError::Config {
                    reason: "--insecure-no-data-filter is for test and staging servers; it is \
                             refused with --otel-profile production"
                        .into(),
                });
            }
            if !bind.is_loopback() {
                return Err(ExampleError::Config {
                    reason: format!(
                        "--insecure-no-data-filter serves every application to every caller; \
                         it is refused on the non-loopback address {bind}"
                    ),
                });
            }
        }
        Ok(HttpOptions {
            bind,
            insecure_no_data_filter: self.insecure_no_data_filter,
            port: self.port.unwrap_or(8080),
            downstream_url: self.downstream_url.clone(),
            cache: self.cache(),
            auth: self.auth()?,
            telemetry,
            session_idle_timeout: match self.session_idle_timeout {
                None => Some(DEFAULT_SESSION_IDLE_TIMEOUT),
                Some(0) => None,
                Some(secs) => Some(Duration::from_secs(secs)),
            },
            connections: self.connections(),
            shutdown_grace: self
                .shutdown_grace
                .map_or(DEFAULT_SHUTDOWN_GRACE, Duration::from_secs),
            public_url: self.public_url.clone(),
            session_limits: {
                let defaults = SessionLimits::default();
                defaults
                    .max_per_principal(
                        self.max_sessions_per_user
                            .unwrap_or(defaults.max_per_principal),
                    )
                    .max_total(self.max_sessions.unwrap_or(defaults.max_total))
            },
            insecure_public_bind: self.insecure_public_bind,
            stateless: self.stateless,
        })
    }

    /// The telemetry configuration, `None` when telemetry is off.
    fn telemetry(&self) -> Result<Option<TelemetryConfig>, ExampleError> {
        let set = |key: &str| std::env::var(key).is_ok_and(|v| !v.trim().is_empty());
        let on_by_env = set("OTEL_EXPORTER_OTLP_ENDPOINT")
            || set("PHOENIX_COLLECTOR_ENDPOINT")
            || std::env::var("MCP_OTEL_ENABLED").is_ok_and(|v| v == "true" || v == "1");
        // A profile turns telemetry on with its own exporter choice; `--otel` still overrides.
        let mode = self.otel.or(if on_by_env || self.otel_profile.is_some() {
            None
        } else {
            Some(OtelMode::Off)
        });
        if mode == Some(OtelMode::Off) {
            return Ok(None);
        }
        // The profile from the command line or config file stands in for MCP_OTEL_PROFILE; the
        // other variables then override it, and the options below override those.
        let profile = self.otel_profile.map(|p| Profile::from(p).as_str());
        let mut config = TelemetryConfig::new("mcp-patterns-example")
            .merge_lookup(|key| match (key, profile) {
                ("MCP_OTEL_PROFILE", Some(profile)) => Some(profile.to_owned()),
                _ => std::env::var(key).ok(),
            })
            .map_err(|e| ExampleError::Config {
                reason: format!("telemetry: {e}"),
            })?;
        match mode {
            Some(OtelMode::Console) => {
                config.traces = TraceExporter::Console;
                config.metrics = false;
            }
            Some(OtelMode::Otlp) => config.traces = TraceExporter::Otlp,
            Some(OtelMode::Off) | None => {}
        }
        if let Some(capture) = self.otel_capture_io {
            config.capture.enabled = capture;
        }
        if let Some(ratio) = self.otel_sampling_ratio {
            if !(0.0..=1.0).contains(&ratio) {
                return Err(ExampleError::Config {
                    reason: format!("--otel-sampling-ratio {ratio}: expected a number from 0 to 1"),
                });
            }
            config.sampler = SamplerConfig::ParentBasedTraceIdRatio(ratio);
        }
        config
            .otlp_certificates
            .extend(self.trusted_cas()?.files().iter().cloned());
        Ok(config.enabled.then_some(config))
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let shutdown = CancellationToken::new();
    tokio::spawn(signal_shutdown(shutdown.clone()));
    let result = run(shutdown).await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("mcp-patterns-example: {}", error.report());
            ExitCode::FAILURE
        }
    }
}

/// Sets logging and telemetry up, then serves as the arguments say.
async fn run(shutdown: CancellationToken) -> Result<(), ExampleError> {
    let args = Args::load();
    let telemetry_config = match &args {
        Ok(args) => args.telemetry(),
        Err(_) => Ok(None),
    };
    // Logs go to stderr: on stdio, stdout carries the protocol. With telemetry, mcp-otel's
    // subscriber writes them (with trace and span ids) and exports spans.
    let guard = match &telemetry_config {
        Ok(Some(config)) => Some(mcp_otel::init(config).map_err(|e| ExampleError::Config {
            reason: format!("telemetry: {}", with_causes(&e)),
        })?),
        Ok(None) | Err(_) => {
            tracing_subscriber::fmt()
                .with_env_filter(
                    EnvFilter::try_from_env("MCP_LOG_LEVEL")
                        .unwrap_or_else(|_| EnvFilter::new("info")),
                )
                .with_writer(std::io::stderr)
                .with_ansi(false)
                .init();
            None
        }
    };
    let telemetry = guard.as_ref().map(|guard| telemetry_layer(guard.layer()));
    let args = args?;
    telemetry_config?;
    let result = if args.print_entitlements {
        print_entitlements()
    } else if args.stdio {
        // The layer's transport is `pipe` unless a request arrives over HTTP.
        serve_stdio(
            args.downstream_url.as_deref(),
            &args.cache(),
            telemetry,
            shutdown,
        )
        .await
    } else {
        run_http(args, telemetry, shutdown).await
    };
    if let Some(guard) = guard {
        let stats = guard.stats();
        tracing::info!(
            exported_spans = stats.exported_spans,
            failed_spans = stats.failed_spans,
            "telemetry: shutting down, flushing the last spans"
        );
        guard.shutdown();
    }
    result
}

async fn run_http(
    args: Args,
    telemetry: Option<OtelLayer>,
    shutdown: CancellationToken,
) -> Result<(), ExampleError> {
    let traced = telemetry.is_some();
    let options = args.http(telemetry)?;
    let insecure = options.insecure_no_data_filter;
    let scope = options.cache.scope;
    let stateless = options.stateless;
    let running = start_http(options).await?;
    eprintln!(
        "mcp-patterns-example serving MCP (Streamable HTTP{}) at {}",
        if stateless {
            ", stateless: no sessions"
        } else {
            ""
        },
        running.mcp_url
    );
    eprintln!(
        "  tools: {}; {}",
        TOOL_NAMES.join(", "),
        describe_scope(scope)
    );
    eprintln!(
        "  downstream: {}{}",
        running.downstream_url,
        if running.downstream.is_some() {
            " (built-in demo API)"
        } else {
            ""
        }
    );
    if let Some(issuer) = &running.issuer {
        eprintln!(
            "  identity: development token issuer at {} (JWKS {}); demo tokens for {}, valid 1 h:",
            issuer.issuer_url, issuer.jwks_url, running.public_url
        );
        for (user, token) in &running.demo_tokens {
            eprintln!("    {} ({}): {token}", user.subject, user.description);
        }
    } else if !running.authorization {
        eprintln!("  identity: authorization OFF (--no-auth): every caller is the operator");
    }
    if traced {
        eprintln!("  telemetry: on (see docs/observability.md)");
    }
    if insecure {
        eprintln!(
            "  WARNING: --insecure-no-data-filter: every caller gets every application's rules \
             (for testing the leak evaluator only)"
        );
    }
    shutdown.cancelled().await;
    eprintln!("mcp-patterns-example shutting down");
    running.shutdown().await;
    Ok(())
}

/// `--print-entitlements`: the demo users' readable applications and every application of the
/// built-in downstream, as JSON on stdout.
fn print_entitlements() -> Result<(), ExampleError> {
    let applications: Vec<String> = FirewallStore::seeded()
        .all()
        .into_iter()
        .map(|app| app.app_name)
        .collect();
    let users: serde_json::Map<String, serde_json::Value> = demo_users()
        .into_iter()
        .map(|user| {
            let readable: Vec<&String> = user
                .applications
                .iter()
                .filter(|(_, permissions)| permissions.iter().any(|p| p == READ))
                .map(|(app, _)| app)
                .collect();
            (user.subject.clone(), serde_json::json!(readable))
        })
        .collect();
    let document = serde_json::json!({
        "source": "mcp-patterns-example development issuer (demo users) and built-in downstream",
        "applications": applications,
        "users": users,
    });
    let text = serde_json::to_string_pretty(&document).map_err(|e| ExampleError::Config {
        reason: format!("cannot render the entitlements: {e}"),
    })?;
    println!("{text}");
    Ok(())
}

/// `error` and its sources, `: `-separated.
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut cause = error.source();
    while let Some(error) = cause {
        let text = error.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        cause = error.source();
    }
    message
}

/// Cancels `shutdown` on Ctrl-C or SIGTERM.
async fn signal_shutdown(shutdown: CancellationToken) {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    shutdown.cancel();
}
