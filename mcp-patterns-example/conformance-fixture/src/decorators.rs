//! The decorator stack the fixture is served through: the one the reference server uses.

use mcp_authz::{AuthzHandler, Decision, FnPolicy, Principal};
use mcp_otel::{OtelHandler, OtelLayer};

use crate::ConformanceServer;

/// The subject of the fixed principal every fixture request is made by.
pub const PRINCIPAL: &str = "conformance-suite";

/// The fixture behind the decorators.
pub type Decorated = OtelHandler<AuthzHandler<ConformanceServer>>;

/// Builds the decorator stack around each session's [`ConformanceServer`]: `OtelLayer`
/// outermost (every request traced, denials included), then `AuthzHandler` with an allow-all
/// policy and a fixed principal (every request authenticated, every list filtered and every
/// invocation checked — and allowed).
#[derive(Clone, Debug)]
pub struct Decorators {
    otel: OtelLayer,
}

impl Default for Decorators {
    fn default() -> Self {
        Self::new()
    }
}

impl Decorators {
    /// The stack, tracing to the global tracer provider without metrics.
    pub fn new() -> Self {
        Self {
            otel: OtelLayer::builder().without_metrics().build(),
        }
    }

    /// `server` behind the stack.
    pub fn wrap(&self, server: ConformanceServer) -> Decorated {
        let authz = AuthzHandler::builder(server)
            .policy(FnPolicy::new(|_: &mcp_authz::AccessRequest<'_>| {
                Decision::Allow
            }))
            .principal(Principal::new(PRINCIPAL))
            .build();
        self.otel.layer(authz)
    }
}
