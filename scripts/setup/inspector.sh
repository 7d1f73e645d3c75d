#!/usr/bin/env bash
# Installs the MCP Inspector (npm `@modelcontextprotocol/inspector`, used in --cli mode) into
# $MCP_PATTERNS_CACHE/inspector, for scripts/e2e/inspector_cli.sh. Idempotent.
set -euo pipefail
cache="${MCP_PATTERNS_CACHE:-$HOME/.cache/mcp-patterns}"
dir="$cache/inspector"
version="2.12.0"
stamp="$dir/.installed"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$version" ] && [ -x "$dir/node_modules/.bin/mcp-inspector" ]; then
  exit 0
fi
command -v npm >/dev/null || { echo "npm is required to install the MCP Inspector" >&2; exit 1; }
echo "installing the MCP Inspector $version into $dir"
mkdir -p "$dir"
(cd "$dir" && npm install --silent --no-audit --no-fund "@modelcontextprotocol/inspector@$version" >/dev/null)
echo "$version" > "$stamp"
