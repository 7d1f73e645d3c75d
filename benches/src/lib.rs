//! Benchmarks of mcp-patterns; see `benches/`.
