#!/usr/bin/env bash
# Installs Arize Phoenix (PyPI `arize-phoenix`), the OTLP collector and trace UI that the
# mcp-otel end-to-end test (`mcp-otel/tests/phoenix_e2e.rs`) starts on loopback.
# Pinned to one version; idempotent: skips in well under a second when the venv already holds
# that version (recorded in a stamp file), and reinstalls when the pin changes.
# Installs into ${MCP_PATTERNS_CACHE:-$HOME/.cache/mcp-patterns}/phoenix (about 850 MB, ~50 s).
set -euo pipefail

PHOENIX_VERSION="20.26.1"
CACHE="${MCP_PATTERNS_CACHE:-$HOME/.cache/mcp-patterns}"
VENV="$CACHE/phoenix"
STAMP="$VENV/.installed"

if [[ -x "$VENV/bin/phoenix" && -f "$STAMP" && "$(cat "$STAMP")" == "arize-phoenix==$PHOENIX_VERSION" ]]; then
  echo "phoenix: arize-phoenix $PHOENIX_VERSION already installed in $VENV"
  exit 0
fi

# A venv that already has the pinned version (e.g. from an older, unpinned run of this script)
# only needs its stamp.
if [[ -x "$VENV/bin/pip" && -x "$VENV/bin/phoenix" ]] \
  && [[ "$("$VENV/bin/pip" show arize-phoenix 2>/dev/null | sed -n 's/^Version: //p')" == "$PHOENIX_VERSION" ]]; then
  echo "arize-phoenix==$PHOENIX_VERSION" > "$STAMP"
  echo "phoenix: arize-phoenix $PHOENIX_VERSION already installed in $VENV (stamp written)"
  exit 0
fi

PYTHON="${PYTHON:-python3}"
mkdir -p "$CACHE"
rm -rf "$VENV"
"$PYTHON" -m venv "$VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check --upgrade pip
"$VENV/bin/pip" install --quiet --disable-pip-version-check "arize-phoenix==$PHOENIX_VERSION"
"$VENV/bin/phoenix" --help >/dev/null
echo "arize-phoenix==$PHOENIX_VERSION" > "$STAMP"
echo "phoenix: installed arize-phoenix $PHOENIX_VERSION in $VENV"
