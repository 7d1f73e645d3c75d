#!/usr/bin/env bash
# The MCP Inspector CLI (npm @modelcontextprotocol/inspector --cli) calling the reference server's
# tools over Streamable HTTP with an Authorization header. Installed by scripts/setup/inspector.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib/e2e.sh
inspector="$E2E_CACHE/inspector/node_modules/.bin/mcp-inspector"
if [ ! -x "$inspector" ]; then
  echo "FAIL: the MCP Inspector is not installed; run scripts/setup/inspector.sh" >&2
  exit 1
fi
log=$(mktemp)
e2e_start_server "$log"
out=$(mktemp)
# victor: a viewer entitled to app-beta only, with the development issuer's demo token.
token=$(e2e_token "$log" victor)
"$inspector" --cli "$E2E_MCP_URL" --method tools/call --tool-name get_firewall_rule \
  --tool-arg app_name=app-beta --header "Authorization: Bearer $token" >"$out"
python3 - "$out" <<'PY'
import json, sys
result = json.load(open(sys.argv[1]))
ids = [rule["id"] for rule in result["structuredContent"]["rules"]]
assert result["structuredContent"]["app_name"] == "app-beta", result
assert ids == ["beta-1", "beta-2"], ids
assert not result.get("isError"), result
PY
"$inspector" --cli "$E2E_MCP_URL" --method tools/list --header "Authorization: Bearer $token" >"$out"
python3 - "$out" <<'PY'
import json, sys
names = sorted(tool["name"] for tool in json.load(open(sys.argv[1]))["tools"])
# A viewer sees the read tools only; the admin tools are hidden.
assert names == ["cache_status", "get_firewall_rule", "list_firewall_rules"], names
PY
# Without a token the server refuses before MCP: the CLI must fail.
if "$inspector" --cli "$E2E_MCP_URL" --method tools/list >"$out" 2>&1; then
  echo "FAIL: tools/list without a token succeeded:" >&2
  cat "$out" >&2
  exit 1
fi
echo "inspector cli: OK (tools/list and tools/call with a demo token; refused without one)"
