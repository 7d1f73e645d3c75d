//! Benchmarks of mcp-patterns: the criterion suite in `benches/`, and a load generator for MCP
//! servers over Streamable HTTP ([`load`], the `loadgen` binary) used by the side-by-side
//! comparison with a Python FastMCP server (the `compare` binary, `scripts/bench-compare`).

pub mod compare;
pub mod estimates;
pub mod load;
