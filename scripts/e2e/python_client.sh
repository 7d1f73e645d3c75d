#!/usr/bin/env bash
# The MCP Python SDK client (a client no one here wrote) against the reference server over
# Streamable HTTP, in both protocol revisions (scripts/e2e/python_client.py): 2025-11-25
# (initialize, a session, resources/subscribe) and 2026-07-28 (server/discover, stateless,
# subscriptions/listen), then 2026-07-28 again against the server started with --stateless.
# Each pass: 401 without a token, tools and data per caller, resources, a subscription notified
# after an admin refresh. Installed by scripts/setup/python-client.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib/e2e.sh
python="$E2E_CACHE/pyclient/bin/python"
if [ ! -x "$python" ]; then
  echo "FAIL: the MCP Python client is not installed; run scripts/setup/python-client.sh" >&2
  exit 1
fi
log=$(mktemp)
e2e_start_server "$log"
downstream=$(e2e_downstream_url "$log")
ada=$(e2e_token "$log" ada)
alice=$(e2e_token "$log" alice)
for protocol in 2025-11-25 2026-07-28; do
  "$python" scripts/e2e/python_client.py --protocol "$protocol" "$E2E_MCP_URL" "$downstream" \
    "$ada" "$alice"
done

# --stateless: no sessions at all; the 2026-07-28 client works the same.
e2e_stop_servers
log=$(mktemp)
e2e_start_server "$log" --stateless
"$python" scripts/e2e/python_client.py --protocol 2026-07-28 --stateless "$E2E_MCP_URL" \
  "$(e2e_downstream_url "$log")" "$(e2e_token "$log" ada)" "$(e2e_token "$log" alice)"

# The client's trace continues in the server: a client instrumented with
# openinference-instrumentation-mcp sends its trace context in `params._meta`; the server (with
# `--otel console`, spans printed as lines) must put its `tools/call` span in that trace, with a
# parent from the client (the SDK's own request span, a child of the client's "agent turn" span).
e2e_stop_servers
log=$(mktemp)
OTEL_BSP_SCHEDULE_DELAY=100 e2e_start_server "$log" --otel console
read -r trace_id span_id < <("$python" scripts/e2e/trace_join.py "$E2E_MCP_URL" "$(e2e_token "$log" alice)")
found=""
for _ in $(seq 1 100); do
  found=$(grep -E "^\[otel\] tools/call get_firewall_rule kind=Server trace_id=$trace_id span_id=[0-9a-f]+ parent_id=[0-9a-f]+ " "$log" \
    | grep -v "parent_id=0000000000000000 " || true)
  [ -n "$found" ] && break
  sleep 0.1
done
if [ -z "$found" ]; then
  echo "FAIL: no server span of tools/call in the client's trace $trace_id (client span $span_id):" >&2
  grep '^\[otel\] tools/call' "$log" >&2 || cat "$log" >&2
  exit 1
fi
echo "python client: OK (openinference-instrumented client's trace $trace_id continues in the server)"
