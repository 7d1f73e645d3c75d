#!/usr/bin/env bash
# Installs the evaluation workflow's Python environment (scripts/evals): the Phoenix client and
# evals packages, the MCP Python SDK (to replay datasets and read tools/list), jsonschema and
# matplotlib, pinned in scripts/evaluation/requirements.txt, into a venv at
# ${MCP_PATTERNS_CACHE:-$HOME/.cache/mcp-patterns}/evals. Idempotent: a stamp file records the
# requirements installed, so a second run returns at once; a changed pin reinstalls.
set -euo pipefail
cd "$(dirname "$0")/../.."
cache="${MCP_PATTERNS_CACHE:-$HOME/.cache/mcp-patterns}"
venv="$cache/evals"
requirements=scripts/evaluation/requirements.txt
stamp="$venv/.installed"
wanted=$(grep -v '^#' "$requirements" | sed '/^$/d' | sort | tr '\n' ' ')
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ] && [ -x "$venv/bin/python" ]; then
  echo "evals: requirements already installed in $venv"
  exit 0
fi
echo "evals: installing scripts/evaluation/requirements.txt into $venv"
mkdir -p "$cache"
rm -rf "$venv"
"${PYTHON:-python3}" -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
"$venv/bin/python" -c 'import phoenix.client, phoenix.evals, mcp, jsonschema, matplotlib, openai'
echo "$wanted" > "$stamp"
echo "evals: installed in $venv"
