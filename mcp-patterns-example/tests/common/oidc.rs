//! The real node `oidc-provider` on loopback, for the reference server's identity-provider fault
//! tests: the launcher shared with mcp-authz's tests, from `mcp-patterns-test-support` (the
//! fixture `mcp-authz/tests/fixtures/oidc-provider.mjs`, installed by
//! `scripts/setup/oidc-provider.sh`). Fresh keys at every start (so a restart on the same port
//! is a key rotation), JWT access tokens for `urn:mcp-patterns`, opaque ones for
//! `urn:mcp-patterns:opaque`, userinfo at `/me`, introspection at `/token/introspection`; it can
//! be stopped (`SIGSTOP`), resumed and killed, and is killed when dropped.

// Each test binary uses some of these.
#[allow(unused_imports)]
pub use mcp_patterns_test_support::oidc::{
    AUDIENCE, INTROSPECTION_CLIENT, OPAQUE_AUDIENCE, OidcProvider, ProviderOptions, ProviderTls,
};
