#!/usr/bin/env bash
# Installs Arize Phoenix (PyPI `arize-phoenix`), the OTLP collector and trace UI that the
# mcp-otel end-to-end test (`mcp-otel/tests/phoenix_e2e.rs`) starts on loopback.
# Idempotent: skips in well under a second when the venv already has a working `phoenix`.
# Installs into ${MCP_PATTERNS_CACHE:-$HOME/.cache/mcp-patterns}/phoenix (about 850 MB, ~50 s).
set -euo pipefail

CACHE="${MCP_PATTERNS_CACHE:-$HOME/.cache/mcp-patterns}"
VENV="$CACHE/phoenix"
STAMP="$VENV/.installed"

if [[ -f "$STAMP" && -x "$VENV/bin/phoenix" ]]; then
  echo "phoenix: already installed in $VENV"
  exit 0
fi

PYTHON="${PYTHON:-python3}"
mkdir -p "$CACHE"
rm -rf "$VENV"
"$PYTHON" -m venv "$VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check --upgrade pip
"$VENV/bin/pip" install --quiet --disable-pip-version-check arize-phoenix
"$VENV/bin/phoenix" --help >/dev/null
"$VENV/bin/pip" show arize-phoenix | sed -n 's/^Version: /phoenix: installed arize-phoenix /p'
touch "$STAMP"
