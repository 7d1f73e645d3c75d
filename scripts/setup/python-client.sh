#!/usr/bin/env bash
# Installs the MCP Python SDK client (PyPI `mcp`) with OpenInference's MCP instrumentation into a
# venv at $MCP_PATTERNS_CACHE/pyclient, for scripts/e2e/python_client.sh. Idempotent: a stamp
# file records the pinned requirements, so a second run returns at once.
set -euo pipefail
cache="${MCP_PATTERNS_CACHE:-$HOME/.cache/mcp-patterns}"
venv="$cache/pyclient"
requirements="mcp==2.3.0 openinference-instrumentation-mcp==2.0.13 opentelemetry-sdk==1.45.2 opentelemetry-exporter-otlp-proto-http==1.45.2"
stamp="$venv/.installed"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$requirements" ] && [ -x "$venv/bin/python" ]; then
  exit 0
fi
echo "installing the MCP Python client into $venv"
python3 -m venv "$venv"
# shellcheck disable=SC2086
"$venv/bin/pip" install --quiet --disable-pip-version-check $requirements
echo "$requirements" > "$stamp"
