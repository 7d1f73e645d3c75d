//! The reference server of mcp-patterns: a firewall-rules MCP server over a small downstream
//! HTTP API. The binary `mcp-patterns-example` is a thin command line over this library, which
//! tests and benchmarks use to start servers in-process.

pub mod access;
pub mod auth;
pub mod data;
pub mod devidp;
pub mod downstream;
mod error;
mod listen;
pub mod metrics;
pub mod model;
mod probes;
pub mod resources;
mod run;
pub mod server;
pub mod sessions;
mod shared_mcp;
pub mod structured;
pub mod tls;

pub use error::ExampleError;
pub use listen::{
    ConnectionLimits, DEFAULT_HEADER_READ_TIMEOUT, DEFAULT_KEEP_ALIVE_TIMEOUT,
    DEFAULT_SHUTDOWN_GRACE, default_max_connections,
};
pub use run::{
    DEFAULT_SESSION_IDLE_TIMEOUT, HttpOptions, RunningHttp, serve_stdio, start_http,
    telemetry_layer,
};
pub use server::FirewallServer;
