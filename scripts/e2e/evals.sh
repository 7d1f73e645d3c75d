#!/usr/bin/env bash
# The evaluation workflow (scripts/evals) against a real Arize Phoenix:
#  1. the reference server with the development profile (capture on) exports to Phoenix; two demo
#     users (alice, victor) call its tools; `scripts/evals evaluate` annotates the spans, and the
#     annotations read back from Phoenix's REST API pass: no entitlement leak, tool errors where
#     a user asked for another user's application, output schemas valid;
#  2. the same traffic against a server started with --insecure-no-data-filter: the leak
#     evaluator flags every call whose output names another user's application;
#  3. a production-profile server: no output.value on the spans, so only the evaluators that
#     need no capture annotate;
#  4. a dataset of the filtered server's data calls replayed against it: every row `equal`;
#     after the downstream's data changed: `changed` rows; as a user without entitlements:
#     `now_error`.
# Needs scripts/setup/phoenix.sh and scripts/setup/evals.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib/e2e.sh
evals_python="$E2E_CACHE/evals/bin/python"
if [ ! -x "$evals_python" ]; then
  echo "FAIL: the evaluation environment is not installed; run scripts/setup/evals.sh" >&2
  exit 1
fi
export PYTHONPATH="$PWD/scripts/evaluation"
check() { python3 scripts/e2e/evals_check.py "$@"; }
traffic() { "$evals_python" scripts/e2e/evals_traffic.py "$@" >/dev/null; }
e2e_start_phoenix
phoenix="$E2E_PHOENIX_URL"
work=$(mktemp -d)
bin=$(e2e_server_binary)
"$bin" --print-entitlements >"$work/entitlements.json"

start() { # start LOG PROJECT ARGS...: a server exporting to Phoenix's PROJECT
  local log=$1 project=$2
  shift 2
  PHOENIX_COLLECTOR_ENDPOINT="$phoenix" PHOENIX_PROJECT_NAME="$project" OTEL_BSP_SCHEDULE_DELAY=200 \
    MCP_OTEL_CAPTURE_MAX_BYTES=65536 e2e_start_server "$log" "$@"
}

# 1. The real data filter.
start "$work/filtered.log" evals-filtered --otel-profile development
filtered_url=$E2E_MCP_URL
alice=$(e2e_token "$work/filtered.log" alice)
victor=$(e2e_token "$work/filtered.log" victor)
ada=$(e2e_token "$work/filtered.log" ada)
nobody=$(e2e_token "$work/filtered.log" nobody)
traffic "$filtered_url" "alice=$alice" "victor=$victor"
check wait "$phoenix" evals-filtered 8
scripts/evals evaluate --phoenix "$phoenix" --project evals-filtered --since 10m \
  --tools-from "$filtered_url" --token "$ada" --entitlements "$work/entitlements.json" \
  --out "$work/filtered-out" >"$work/evaluate-filtered.txt"
grep -q "llm_judge: skipped (no model endpoint configured" "$work/evaluate-filtered.txt" \
  || { echo "FAIL: the run does not say the LLM judge is skipped:" >&2; cat "$work/evaluate-filtered.txt" >&2; exit 1; }
grep -Eq "^entitlement_leak +list_firewall_rules +2 +0 +0 +100%" "$work/evaluate-filtered.txt" \
  || { echo "FAIL: summary table:" >&2; cat "$work/evaluate-filtered.txt" >&2; exit 1; }
[ -s "$work/filtered-out/evals-pass-rate.png" ] || { echo "FAIL: no plot written" >&2; exit 1; }
check filtered "$phoenix" evals-filtered

# 2. The data filter off: the leak evaluator must fail those calls.
start "$work/leaky.log" evals-leaky --otel-profile development --insecure-no-data-filter
grep -q "WARNING: --insecure-no-data-filter" "$work/leaky.log"
traffic "$E2E_MCP_URL" "alice=$(e2e_token "$work/leaky.log" alice)" "victor=$(e2e_token "$work/leaky.log" victor)"
check wait "$phoenix" evals-leaky 8
if scripts/evals evaluate --phoenix "$phoenix" --project evals-leaky --since 10m \
  --entitlements "$work/entitlements.json" --out "$work/leaky-out" --fail-on-failures >"$work/evaluate-leaky.txt"; then
  echo "FAIL: --fail-on-failures passed although the server leaks:" >&2
  cat "$work/evaluate-leaky.txt" >&2
  exit 1
fi
check leaky "$phoenix" evals-leaky

# 3. The production profile: capture off (every trace kept here, to have something to evaluate).
start "$work/production.log" evals-production --otel-profile production --otel-sampling-ratio 1
traffic "$E2E_MCP_URL" "alice=$(e2e_token "$work/production.log" alice)"
check wait "$phoenix" evals-production 4
scripts/evals evaluate --phoenix "$phoenix" --project evals-production --since 10m \
  --entitlements "$work/entitlements.json" --out "$work/production-out" >"$work/evaluate-production.txt"
check production "$phoenix" evals-production

# 4. Dataset and replays against the filtered server.
scripts/evals dataset --phoenix "$phoenix" --project evals-filtered --since 10m \
  --tool list_firewall_rules --tool get_firewall_rule --name evals-e2e-calls >"$work/dataset.txt"
grep -q "6 tool calls" "$work/dataset.txt" || { echo "FAIL: dataset:" >&2; cat "$work/dataset.txt" >&2; exit 1; }
replay() { # replay EXPERIMENT TOKENS...
  local name=$1
  shift
  scripts/evals replay --phoenix "$phoenix" --dataset evals-e2e-calls --server "$filtered_url" \
    --experiment "$name" "$@" >>"$work/replay.txt" 2>&1
}
replay same-server --token "alice=$alice" --token "victor=$victor"
check experiment "$phoenix" same-server "equal=6"

# Change app-alpha's rules in the built-in downstream, then refresh the cache as the admin.
downstream=$(sed -n 's/^  downstream: \(http:[^ ]*\).*/\1/p' "$work/filtered.log")
curl -sf -X PUT -H 'content-type: application/json' \
  -d '[{"id":"alpha-9","direction":"ingress","protocol":"tcp","ports":"8443","cidr":"10.9.0.0/16","action":"allow","description":"changed by the e2e test"}]' \
  "$downstream/api/v1/apps/app-alpha/firewall-rules" >/dev/null
"$evals_python" -c 'import sys; from mcp_evals import mcp_client; r = mcp_client.call_tool(sys.argv[1], sys.argv[2], "refresh_cache", {}); sys.exit(1 if r.get("isError") else 0)' \
  "$filtered_url" "$ada"
replay changed-data --token "alice=$alice" --token "victor=$victor"
check experiment "$phoenix" changed-data "alice:changed,victor:equal"
# As a user with no entitlements, what worked is now an error.
replay as-nobody --token "alice=$nobody" --token "victor=$nobody"
check experiment "$phoenix" as-nobody "alice:now_error,victor:now_error"
echo "evals: OK"
