#!/usr/bin/env bash
# Shared helpers for the end-to-end suites: build the reference server once, start it on a free
# loopback port, stop it when the suite exits. Source it; don't run it.

E2E_CACHE="${MCP_PATTERNS_CACHE:-$HOME/.cache/mcp-patterns}"
E2E_SERVER_PIDS=()

# e2e_build: builds the workspace's debug binaries with the same targets, and so the same
# features, as `cargo test --workspace --all-targets`: after ./scripts/test's test run it is a
# no-op, where a `cargo build -p PACKAGE` would rebuild the binary and part of its dependencies
# with the smaller feature set of that one package.
e2e_build() {
  cargo build --quiet --workspace --all-targets >&2
}

# e2e_server_binary [PACKAGE BINARY]: prints the path of BINARY (of PACKAGE) after e2e_build, by
# default the reference server (mcp-patterns-example).
e2e_server_binary() {
  local binary=${2:-mcp-patterns-example}
  e2e_build
  local target
  target=$(cargo metadata --format-version 1 --no-deps \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
  echo "$target/debug/$binary"
}

# e2e_start_server LOGFILE [ARGS...]: starts the server ($E2E_SERVER_BIN, by default the reference
# server) on a free port (--port 0) with ARGS and sets E2E_MCP_URL from the URL it prints. Fails
# if it does not come up within 60 s.
e2e_start_server() {
  local log=$1
  shift
  local bin
  bin=${E2E_SERVER_BIN:-$(e2e_server_binary)}
  "$bin" --port 0 "$@" >"$log" 2>&1 &
  E2E_SERVER_PIDS+=("$!")
  local pid=$!
  for _ in $(seq 1 600); do
    E2E_MCP_URL=$(grep -o 'http://127\.0\.0\.1:[0-9]*/mcp' "$log" | head -n 1 || true)
    if [ -n "$E2E_MCP_URL" ]; then
      export E2E_MCP_URL
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "the server exited during start-up:" >&2
      cat "$log" >&2
      return 1
    fi
    sleep 0.1
  done
  echo "the server did not print its URL within 60 s:" >&2
  cat "$log" >&2
  return 1
}

# e2e_token LOGFILE USER: prints the development issuer's demo token for USER from the server's
# start-up banner ("    alice (developer, …): eyJ…").
e2e_token() {
  local log=$1 user=$2 token=""
  for _ in $(seq 1 100); do
    token=$(sed -n "s/^    $user ([^)]*): \(.*\)$/\1/p" "$log" | head -n 1)
    if [ -n "$token" ]; then
      echo "$token"
      return 0
    fi
    sleep 0.1
  done
  echo "no demo token for $user in the server's output:" >&2
  cat "$log" >&2
  return 1
}

# e2e_downstream_url LOGFILE: prints the URL of the server's built-in demo downstream API from its
# start-up banner ("  downstream: http://127.0.0.1:PORT (built-in demo API)"), where a suite can
# change an application's rules (PUT /api/v1/apps/{app}/firewall-rules).
e2e_downstream_url() {
  local log=$1 url=""
  for _ in $(seq 1 100); do
    url=$(sed -n 's/^  downstream: \(http:\/\/127\.0\.0\.1:[0-9]*\) (built-in demo API)$/\1/p' "$log" | head -n 1)
    if [ -n "$url" ]; then
      echo "$url"
      return 0
    fi
    sleep 0.1
  done
  echo "no built-in downstream URL in the server's output:" >&2
  cat "$log" >&2
  return 1
}

e2e_stop_servers() {
  local pid
  for pid in "${E2E_SERVER_PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  E2E_SERVER_PIDS=()
}
trap e2e_stop_servers EXIT

# e2e_start_phoenix: starts `phoenix serve` (installed by scripts/setup/phoenix.sh) on free
# loopback ports with a fresh working directory, stopped with the servers; sets E2E_PHOENIX_URL.
# Fails if it is not installed or does not answer within 180 s.
e2e_start_phoenix() {
  local phoenix="$E2E_CACHE/phoenix/bin/phoenix" port grpc_port workdir log pid
  if [ ! -x "$phoenix" ]; then
    echo "FAIL: Arize Phoenix is not installed; run scripts/setup/phoenix.sh" >&2
    return 1
  fi
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  grpc_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  workdir=$(mktemp -d)
  log="$workdir/phoenix.log"
  PHOENIX_WORKING_DIR="$workdir" PHOENIX_HOST=127.0.0.1 PHOENIX_PORT="$port" \
    PHOENIX_GRPC_PORT="$grpc_port" PHOENIX_TELEMETRY_ENABLED=false "$phoenix" serve >"$log" 2>&1 &
  pid=$!
  E2E_SERVER_PIDS+=("$pid")
  for _ in $(seq 1 180); do
    if curl -sf "http://127.0.0.1:$port/v1/projects" >/dev/null; then
      export E2E_PHOENIX_URL="http://127.0.0.1:$port"
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "FAIL: Phoenix exited:" >&2
      cat "$log" >&2
      return 1
    fi
    sleep 1
  done
  echo "FAIL: Phoenix did not start in 180 s" >&2
  return 1
}
