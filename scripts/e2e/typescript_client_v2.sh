#!/usr/bin/env bash
# The official TypeScript MCP client v2 (npm @modelcontextprotocol/client, MCP 2026-07-28,
# installed by scripts/setup/typescript-client-v2.sh) against the reference server over
# Streamable HTTP, once as it starts by default and once with --stateless: 401 without a token,
# server/discover, tools and data per caller, resources with their cache hints, and
# subscriptions/listen notified after an admin refresh (scripts/e2e/typescript_client_v2.mjs).
# The 2025-11-25 client (v1, @modelcontextprotocol/sdk) is scripts/e2e/typescript_client.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib/e2e.sh
client="$E2E_CACHE/typescript-client-v2"
if [ ! -f "$client/node_modules/@modelcontextprotocol/client/dist/index.mjs" ]; then
  echo "FAIL: the TypeScript MCP client v2 is not installed; run scripts/setup/typescript-client-v2.sh" >&2
  exit 1
fi
command -v node >/dev/null || { echo "FAIL: node is required" >&2; exit 1; }
for mode in default --stateless; do
  e2e_stop_servers
  log=$(mktemp)
  if [ "$mode" = default ]; then
    e2e_start_server "$log"
  else
    e2e_start_server "$log" --stateless
  fi
  node scripts/e2e/typescript_client_v2.mjs "$client" "$E2E_MCP_URL" "$(e2e_downstream_url "$log")" \
    "$(e2e_token "$log" ada)" "$(e2e_token "$log" alice)" ${mode/default/}
done
