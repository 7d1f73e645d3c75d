#!/usr/bin/env bash
# Installs the official TypeScript MCP SDK (npm `@modelcontextprotocol/sdk`, the client most MCP
# hosts are built on) into $MCP_PATTERNS_CACHE/typescript-sdk, for
# scripts/e2e/typescript_client.sh. Runs on the system Node (20 or later). Idempotent: a stamp
# records the pinned version, so a second run returns at once.
set -euo pipefail
cache="${MCP_PATTERNS_CACHE:-$HOME/.cache/mcp-patterns}"
dir="$cache/typescript-sdk"
version="1.32.2"
stamp="$dir/.installed"
entry="$dir/node_modules/@modelcontextprotocol/sdk/dist/esm/client/streamableHttp.js"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$version" ] && [ -f "$entry" ]; then
  exit 0
fi
command -v npm >/dev/null || { echo "npm is required to install the TypeScript MCP SDK" >&2; exit 1; }
echo "installing the TypeScript MCP SDK $version into $dir"
mkdir -p "$dir"
rm -f "$stamp"
# A private package.json keeps the install out of any enclosing project.
if [ ! -f "$dir/package.json" ]; then
  echo '{ "name": "mcp-patterns-typescript-sdk", "private": true }' >"$dir/package.json"
fi
npm install --prefix "$dir" --no-audit --no-fund --loglevel=error \
  "@modelcontextprotocol/sdk@$version"
[ -f "$entry" ] || { echo "the TypeScript MCP SDK installed without $entry" >&2; exit 1; }
echo "$version" > "$stamp"
