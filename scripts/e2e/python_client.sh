#!/usr/bin/env bash
# The MCP Python SDK client (a client no one here wrote) against the reference server over
# Streamable HTTP. Installed by scripts/setup/python-client.sh.
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
"$python" scripts/e2e/python_client.py "$E2E_MCP_URL" "$(e2e_token "$log" ada)" \
  "$(e2e_token "$log" alice)"
