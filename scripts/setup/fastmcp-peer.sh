#!/usr/bin/env bash
# Installs the Python FastMCP peer of the reference server (benches/python, pinned in
# requirements.txt) into its venv, for scripts/e2e/fastmcp_compare.sh and scripts/bench-compare.
# Idempotent: benches/python/setup.sh returns at once when the pinned requirements are installed.
set -euo pipefail
cd "$(dirname "$0")/../.."
python=$(benches/python/setup.sh)
echo "FastMCP peer venv: $python"
