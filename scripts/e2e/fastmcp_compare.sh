#!/usr/bin/env bash
# The side-by-side comparison's pipeline (docs/benchmarks.md) in a short debug run, so that it
# keeps working: the `compare` binary starts the shared downstream, issuer and OTLP sink, the Rust
# reference server and the Python FastMCP peer (installed by scripts/setup/fastmcp-peer.sh),
# checks that both answer every parity call the same way (it exits non-zero otherwise), loads
# both (and the bare HTTP ceiling) at 1 and 4 clients, and writes the table, results.json and the plot. The figures of a
# debug build under a test run mean nothing; the release run is `scripts/bench-compare`.
set -euo pipefail
cd "$(dirname "$0")/../.."
python="${MCP_BENCH_VENV:-$HOME/.cache/mcp-patterns/bench-venv}/bin/python"
if [ ! -x "$python" ]; then
  echo "FAIL: the FastMCP peer is not installed; run scripts/setup/fastmcp-peer.sh" >&2
  exit 1
fi
source scripts/lib/e2e.sh
e2e_build
target=$(cargo metadata --format-version 1 --no-deps \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
if ! "$target/debug/compare" --rust-bin "$target/debug/mcp-patterns-example" \
  --baseline-bin "$target/debug/baseline" --python "$python" \
  --python-dir benches/python --out "$out" --plot "$out/throughput.png" \
  --levels 1,4 --runs 1 --duration 1 --warmup 0.5 --idle-sessions 20 >"$out/log" 2>&1; then
  echo "FAIL: the comparison failed:" >&2
  cat "$out/log" >&2
  exit 1
fi
fail() { echo "FAIL: $1" >&2; cat "$out/log" >&2; exit 1; }
same=$(grep -c '^same ' "$out/log" || true)
grep -q '^DIFF' "$out/log" && fail "the servers answered a parity call differently"
[ "$same" -ge 10 ] || fail "only $same parity calls matched"
# The rmcp client speaks MCP, so it loads the two servers; the keep-alive client also the ceiling.
for mode in rmcp keep-alive; do
  servers="rust python"
  [ "$mode" = keep-alive ] && servers="rust python ceiling"
  for server in $servers; do
    grep -Eq "^4 \\| $mode \\| $server \\| [0-9]+ " "$out/log" \
      || fail "no $server row at 4 $mode clients in the table"
  done
  grep -Eq "^4 \\| $mode \\| [0-9.]+x \\|" "$out/log" || fail "no ratio row for $mode clients"
done
grep -Eq '^idle sessions rmcp-bare: 20 sessions' "$out/log" || fail "no idle-session memory figures"
python3 - "$out/results.json" <<'PY' || fail "results.json has errors or no requests"
import json, sys
runs = json.load(open(sys.argv[1]))["runs"]
assert runs and all(r["report"]["requests"] > 0 and r["report"]["errors"] == 0 for r in runs), runs
PY
[ -s "$out/throughput.png" ] || fail "no plot"
# With the `get` mix the bare rmcp server (rmcp's defaults, no layers) is loaded in the same
# rounds, so the table says how much of the gap to the ceiling is rmcp's own.
if ! "$target/debug/compare" --rust-bin "$target/debug/mcp-patterns-example" \
  --baseline-bin "$target/debug/baseline" --python "$python" \
  --python-dir benches/python --out "$out/get" --plot "$out/get/throughput.png" \
  --levels 4 --modes keep-alive --runs 1 --duration 1 --warmup 0.5 --idle-sessions 0 \
  --mix get >"$out/log" 2>&1; then
  fail "the comparison with --mix get failed"
fi
grep -Eq "^4 \\| keep-alive \\| rmcp-bare \\| [0-9]+ " "$out/log" || fail "no bare rmcp row with --mix get"
grep -Eq "^4 \\| keep-alive \\| [0-9.]+x \\| .* \\| (-|[0-9.]+) \\| [0-9.]+$" "$out/log" \
  || fail "no 'untraced x bare rmcp' / 'bare rmcp x ceiling' columns"
python3 - "$out/get/results.json" <<'PY' || fail "results.json (--mix get) has errors or no bare rmcp runs"
import json, sys
runs = json.load(open(sys.argv[1]))["runs"]
assert any(r["server"] == "rmcp-bare" for r in runs), runs
assert all(r["report"]["requests"] > 0 and r["report"]["errors"] == 0 for r in runs), runs
PY
echo "fastmcp comparison: OK ($same parity calls matched; both servers loaded at 1 and 4 clients; bare rmcp loaded with --mix get; table, results.json and plot written)"
