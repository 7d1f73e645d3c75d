#!/usr/bin/env bash
# Creates (or reuses) the venv of the Python FastMCP peer and installs requirements.txt.
# Prints the venv's python on stdout. The venv lives outside the clone so reruns and CI reuse it:
# $MCP_BENCH_VENV, default ~/.cache/mcp-patterns/bench-venv.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${MCP_BENCH_VENV:-$HOME/.cache/mcp-patterns/bench-venv}"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$here/requirements.txt" | cut -d' ' -f1)"
if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  echo "$venv/bin/python"
  exit 0
fi
if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
  echo "setup.sh: python3 with the venv module is needed (apt-get install python3-venv)" >&2
  exit 1
fi
mkdir -p "$(dirname "$venv")"
[[ -x "$venv/bin/python" ]] || python3 -m venv "$venv" >&2
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt" >&2
echo "$want" > "$stamp"
echo "$venv/bin/python"
