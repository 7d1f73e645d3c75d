//! The decorator stack the fixture is served through: the one the reference server uses.

use std::collections::BTreeMap;
use std::time::Duration;

use mcp_authz::{AccessRequest, AuthzHandler, AuthzLayer, Decision, FnPolicy, Principal};
use mcp_cache::{Cache, CacheConfig, CacheResources, CacheResourcesHandler, CacheResourcesLayer};
use mcp_otel::{OtelHandler, OtelLayer};
use tower::ServiceBuilder;

use crate::ConformanceServer;

/// The subject of the fixed principal every fixture request is made by.
pub const PRINCIPAL: &str = "conformance-suite";

/// The base URI of the cache resources the stack adds beside the fixture's own.
pub const CACHE_URI: &str = "cache://fixture";

/// The data of the cache the stack serves.
type FixtureData = BTreeMap<String, String>;

/// The fixture behind the decorators.
pub type Decorated =
    OtelHandler<AuthzHandler<CacheResourcesHandler<ConformanceServer, FixtureData>>>;

/// Builds the decorator stack around each session's [`ConformanceServer`], in the order the
/// reference server uses: `OtelLayer` outermost (every request traced, denials included), then
/// `AuthzLayer` with an allow-all policy and a fixed principal (every request authenticated,
/// every list filtered and every invocation checked — and allowed), then `CacheResourcesLayer`
/// serving a small cache at `cache://fixture/{key}` beside the fixture's own resources (lists
/// merged, every other request forwarded).
#[derive(Clone, Debug)]
pub struct Decorators {
    otel: OtelLayer,
    authz: AuthzLayer,
    resources: CacheResourcesLayer<FixtureData>,
}

impl Decorators {
    /// The stack, tracing to the global tracer provider without metrics. Must be called within
    /// a tokio runtime (the cache fetches its data and watches for changes).
    pub async fn new() -> Result<Self, mcp_cache::CacheError> {
        let cache = Cache::from_fn(|| async {
            Ok::<_, std::convert::Infallible>(FixtureData::from([(
                "greeting".to_owned(),
                "served by mcp-cache".to_owned(),
            )]))
        })
        .config(
            CacheConfig::default()
                .name("fixture")
                .ttl(Duration::from_secs(3600)),
        )
        .build()
        .await?;
        let resources = CacheResourcesLayer::new(CacheResources::new(
            cache,
            mcp_cache::JsonView::btree_map(CACHE_URI),
        ));
        Ok(Self {
            otel: OtelLayer::builder().without_metrics().build(),
            authz: AuthzLayer::builder()
                .policy(FnPolicy::new(|_: &AccessRequest<'_>| Decision::Allow))
                .principal(Principal::new(PRINCIPAL))
                // The suite checks `Mcp-Param-*` validation; every fixture tool is visible.
                .tool_header_validation(true)
                .build(),
            resources,
        })
    }

    /// `server` behind the stack.
    pub fn wrap(&self, server: ConformanceServer) -> Decorated {
        ServiceBuilder::new()
            .layer(self.otel.clone())
            .layer(self.authz.clone())
            .layer(self.resources.clone())
            .service(server)
    }
}
