#!/usr/bin/env bash
# Installs the v2 TypeScript MCP client (npm `@modelcontextprotocol/client`, the line that speaks
# MCP 2026-07-28; the v1 `@modelcontextprotocol/sdk` of scripts/setup/typescript-sdk.sh speaks
# 2025-11-25 only) into $MCP_PATTERNS_CACHE/typescript-client-v2, for
# scripts/e2e/typescript_client_v2.sh. Its own directory keeps its dependencies (zod 4, the v2
# core package) apart from the v1 SDK's. Runs on the system Node (20 or later). Idempotent: a
# stamp records the pinned version, so a second run returns at once.
set -euo pipefail
cache="${MCP_PATTERNS_CACHE:-$HOME/.cache/mcp-patterns}"
dir="$cache/typescript-client-v2"
version="2.4.0"
stamp="$dir/.installed"
entry="$dir/node_modules/@modelcontextprotocol/client/package.json"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$version" ] && [ -f "$entry" ]; then
  exit 0
fi
command -v npm >/dev/null || { echo "npm is required to install the TypeScript MCP client" >&2; exit 1; }
echo "installing the TypeScript MCP client (v2) $version into $dir"
mkdir -p "$dir"
rm -f "$stamp"
# A private package.json keeps the install out of any enclosing project.
if [ ! -f "$dir/package.json" ]; then
  echo '{ "name": "mcp-patterns-typescript-client-v2", "private": true }' >"$dir/package.json"
fi
npm install --prefix "$dir" --no-audit --no-fund --loglevel=error --save-exact \
  "@modelcontextprotocol/client@$version"
grep -q "\"version\": \"$version\"" "$entry" \
  || { echo "the TypeScript MCP client installed without version $version in $entry" >&2; exit 1; }
echo "$version" > "$stamp"
