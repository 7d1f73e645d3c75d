//! Benchmarks of mcp-patterns: the criterion suite in `benches/`, and a load generator for MCP
//! servers over Streamable HTTP ([`load`], the `loadgen` binary) used by the side-by-side
//! comparison with a Python FastMCP server (the `compare` binary, `scripts/bench-compare`).

pub mod compare;
pub mod estimates;
pub mod load;
pub mod raw;

/// This process's resident set size in bytes, from `/proc/self/statm` (4 KiB pages); 0 where
/// that file does not exist (not Linux).
pub fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    statm
        .split_whitespace()
        .nth(1)
        .and_then(|pages| pages.parse::<u64>().ok())
        .unwrap_or(0)
        * 4096
}
