#!/usr/bin/env bash
# Installs the real OIDC provider (npm `oidc-provider`, pinned below) that mcp-authz's tests
# drive on loopback (mcp-authz/tests/fixtures/oidc-provider.mjs). Idempotent: returns at once
# when the pinned version is already installed.
set -euo pipefail
VERSION=9.13.3
CACHE="${MCP_PATTERNS_CACHE:-$HOME/.cache/mcp-patterns}"
DIR="$CACHE/oidc-provider"
PKG="$DIR/node_modules/oidc-provider/package.json"
if [ -f "$PKG" ] && grep -q "\"version\": \"$VERSION\"" "$PKG"; then
  echo "oidc-provider $VERSION already installed in $DIR"
  exit 0
fi
command -v node >/dev/null || { echo "node is required for oidc-provider" >&2; exit 1; }
command -v npm >/dev/null || { echo "npm is required for oidc-provider" >&2; exit 1; }
mkdir -p "$DIR"
cd "$DIR"
[ -f package.json ] || echo '{ "name": "mcp-patterns-oidc-provider", "private": true, "type": "module" }' > package.json
npm install --no-audit --no-fund --loglevel=error --save-exact "oidc-provider@$VERSION"
echo "oidc-provider $VERSION installed in $DIR"
