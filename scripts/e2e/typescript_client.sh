#!/usr/bin/env bash
# The official TypeScript MCP SDK v1 client (npm @modelcontextprotocol/sdk, MCP 2025-11-25,
# installed by scripts/setup/typescript-sdk.sh) against the reference server over Streamable
# HTTP: 401 without a token, tools/list per caller, get_firewall_rule (allowed and refused),
# resources, resources/subscribe notified after an admin refresh, then 50 sequential calls on its
# kept-alive connection that must show no delayed-ACK stall (scripts/e2e/typescript_client.mjs).
# The 2026-07-28 client (v2, @modelcontextprotocol/client) is scripts/e2e/typescript_client_v2.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib/e2e.sh
sdk="$E2E_CACHE/typescript-sdk"
if [ ! -f "$sdk/node_modules/@modelcontextprotocol/sdk/dist/esm/client/streamableHttp.js" ]; then
  echo "FAIL: the TypeScript MCP SDK is not installed; run scripts/setup/typescript-sdk.sh" >&2
  exit 1
fi
command -v node >/dev/null || { echo "FAIL: node is required" >&2; exit 1; }
log=$(mktemp)
e2e_start_server "$log"
node scripts/e2e/typescript_client.mjs "$sdk" "$E2E_MCP_URL" "$(e2e_downstream_url "$log")" \
  "$(e2e_token "$log" ada)" "$(e2e_token "$log" alice)"
