#!/usr/bin/env bash
# The reference server exporting to a real Arize Phoenix: started with only
# PHOENIX_COLLECTOR_ENDPOINT / PHOENIX_PROJECT_NAME set, one tool call by a demo user, then the
# spans are read back from Phoenix's REST API: the tools/call span with the conventions'
# attributes and user.id, and the cache and authorization spans nested in its trace.
# Phoenix is installed by scripts/setup/phoenix.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib/e2e.sh
phoenix="$E2E_CACHE/phoenix/bin/phoenix"
inspector="$E2E_CACHE/inspector/node_modules/.bin/mcp-inspector"
if [ ! -x "$phoenix" ]; then
  echo "FAIL: Arize Phoenix is not installed; run scripts/setup/phoenix.sh" >&2
  exit 1
fi
if [ ! -x "$inspector" ]; then
  echo "FAIL: the MCP Inspector is not installed; run scripts/setup/inspector.sh" >&2
  exit 1
fi
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port=$(free_port)
grpc_port=$(free_port)
workdir=$(mktemp -d)
phoenix_log=$(mktemp)
PHOENIX_WORKING_DIR="$workdir" PHOENIX_HOST=127.0.0.1 PHOENIX_PORT="$port" \
  PHOENIX_GRPC_PORT="$grpc_port" PHOENIX_TELEMETRY_ENABLED=false "$phoenix" serve >"$phoenix_log" 2>&1 &
phoenix_pid=$!
E2E_SERVER_PIDS+=("$phoenix_pid")
for _ in $(seq 1 180); do
  curl -sf "http://127.0.0.1:$port/v1/projects" >/dev/null && break
  kill -0 "$phoenix_pid" 2>/dev/null || { echo "FAIL: Phoenix exited:" >&2; cat "$phoenix_log" >&2; exit 1; }
  sleep 1
done
curl -sf "http://127.0.0.1:$port/v1/projects" >/dev/null || { echo "FAIL: Phoenix did not start in 180 s" >&2; exit 1; }

log=$(mktemp)
PHOENIX_COLLECTOR_ENDPOINT="http://127.0.0.1:$port" PHOENIX_PROJECT_NAME=firewall-e2e \
  OTEL_BSP_SCHEDULE_DELAY=200 e2e_start_server "$log"
"$inspector" --cli "$E2E_MCP_URL" --method tools/call --tool-name get_firewall_rule \
  --tool-arg app_name=app-alpha --header "Authorization: Bearer $(e2e_token "$log" alice)" >/dev/null

for attempt in $(seq 1 60); do
  spans=$(curl -sf "http://127.0.0.1:$port/v1/projects/firewall-e2e/spans?limit=200" || true)
  if python3 - "$spans" <<'PY'
import json, sys
try:
    spans = json.loads(sys.argv[1])["data"]
except (ValueError, KeyError, TypeError):
    sys.exit(1)
calls = [s for s in spans if s["name"] == "tools/call get_firewall_rule"]
if not calls:
    sys.exit(1)
call = calls[0]
attrs = call["attributes"]
def attr(key):
    # Phoenix returns attributes flattened or nested by dots, depending on the key.
    if key in attrs:
        return attrs[key]
    value = attrs
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value
trace = call["context"]["trace_id"]
in_trace = {s["name"] for s in spans if s["context"]["trace_id"] == trace}
problems = []
if attr("mcp.method.name") != "tools/call":
    problems.append(f"mcp.method.name={attr('mcp.method.name')!r}")
if attr("gen_ai.tool.name") != "get_firewall_rule":
    problems.append(f"gen_ai.tool.name={attr('gen_ai.tool.name')!r}")
if attr("user.id") != "alice":
    problems.append(f"user.id={attr('user.id')!r}")
if call["span_kind"] != "TOOL":
    problems.append(f"span_kind={call['span_kind']!r}")
for child in ("cache.read", "auth.check_scope"):
    if child not in in_trace:
        problems.append(f"no {child} span in the call's trace (has {sorted(in_trace)})")
if problems:
    print("FAIL: " + "; ".join(problems), file=sys.stderr)
    sys.exit(2)
print(f"phoenix: OK (tools/call span with conventions attributes, user.id, {sorted(in_trace)} in one trace)")
PY
  then
    exit 0
  else
    status=$?
    [ "$status" -eq 2 ] && exit 1
  fi
  sleep 0.5
done
echo "FAIL: Phoenix never showed the tools/call span" >&2
exit 1
