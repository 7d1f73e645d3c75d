#!/usr/bin/env bash
# Installs the real OIDC provider (npm `oidc-provider` 9.x) that mcp-authz's tests drive on
# loopback. Idempotent: returns at once when the package is already installed.
set -euo pipefail
CACHE="${MCP_PATTERNS_CACHE:-$HOME/.cache/mcp-patterns}"
DIR="$CACHE/oidc-provider"
if [ -f "$DIR/node_modules/oidc-provider/package.json" ]; then
  echo "oidc-provider already installed in $DIR"
  exit 0
fi
command -v node >/dev/null || { echo "node is required for oidc-provider" >&2; exit 1; }
command -v npm >/dev/null || { echo "npm is required for oidc-provider" >&2; exit 1; }
mkdir -p "$DIR"
cd "$DIR"
[ -f package.json ] || echo '{ "name": "mcp-patterns-oidc-provider", "private": true, "type": "module" }' > package.json
npm install --no-audit --no-fund --loglevel=error oidc-provider@9
echo "oidc-provider installed in $DIR"
