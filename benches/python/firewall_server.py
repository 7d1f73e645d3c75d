"""The Python FastMCP peer of the reference server, for the side-by-side benchmark.

It does for the benchmarked calls what `mcp-patterns-example` does, with FastMCP's own parts:

* Eager cache (pattern 1): every application's rules are fetched from the same downstream
  firewall API (`GET {downstream}/api/v1/firewall-rules`) before the server accepts requests,
  kept as an immutable snapshot (a dict keyed by application name, O(1) lookups) and refreshed
  in the background every TTL seconds; a refresh builds a complete new snapshot and swaps the
  reference (copy-on-write), readers never wait. A failed refresh keeps the last good snapshot.
* Authorization (pattern 2): `JWTVerifier` against the same JWKS, issuer and audience (ES256),
  the global scope `mcp:access` required on every request (layer 1), `firewall:read` required
  per tool and resource (layers 2-3: `auth=require_scopes(...)` hides and blocks them), and the
  same per-application entitlement check from the token's `entitlements.applications` claim
  (layer 4). Verified tokens are cached by SHA-256 of the token until their `exp`, bounded
  (like mcp-authz's `CachedVerifier`).
* Tracing (pattern 3): the OpenTelemetry SDK with FastMCP's native spans, exported over OTLP
  HTTP/protobuf with a batch processor; sampler and endpoint from the standard `OTEL_*`
  variables, as the Rust server reads them. Each cache read adds a `cache.read` span, as
  mcp-cache does.

Tools: `get_firewall_rule(app_name)`, `list_firewall_rules()`, `cache_status()`; resources
`cache://firewalls`, `cache://firewalls/{app}`, `cache://meta/health`. The admin tools of the
reference server (`reset_firewall`, `refresh_cache`) are not here: they are not benchmarked.

Run: `python firewall_server.py --port 9000 --downstream-url http://127.0.0.1:PORT
--jwks-url http://127.0.0.1:PORT/jwks.json --issuer http://127.0.0.1:PORT
--audience mcp-patterns-example`.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import logging
import os
import re
import sys
import time
from collections import OrderedDict
from typing import Any

import httpx2 as httpx
from fastmcp import FastMCP
from fastmcp.exceptions import ResourceError, ToolError
from fastmcp.server.auth import AccessToken, require_scopes
from fastmcp.server.auth.providers.jwt import JWTVerifier
from fastmcp.server.dependencies import get_access_token
from opentelemetry import trace

GLOBAL_SCOPE = "mcp:access"
READ_SCOPE = "firewall:read"
READ = "read"
MAX_APP_NAME_LEN = 64
_APP_NAME = re.compile(r"^[a-z0-9._-]+$")

log = logging.getLogger("firewall_server")


# --- errors: the same messages as mcp-patterns-example's ExampleError ----------------------


def validate_app_name(name: str) -> None:
    """The reference server's rule: 1-64 of a-z 0-9 - _ . not starting with '.'."""
    if not name:
        raise ToolError("invalid application name: it is empty")
    if len(name.encode()) > MAX_APP_NAME_LEN:
        raise ToolError("invalid application name: it is longer than 64 characters")
    if name.startswith("."):
        raise ToolError("invalid application name: it starts with '.'")
    if not name.isascii() or not _APP_NAME.match(name):
        raise ToolError(
            "invalid application name: only lowercase ASCII letters, digits, '-', '_' and '.' "
            "are allowed"
        )


# --- the eager cache -----------------------------------------------------------------------


class Snapshot:
    """One immutable version of the data: app name -> {"app_name", "rules"}."""

    __slots__ = ("apps", "generation", "refreshed_at", "items")

    def __init__(self, apps: dict[str, dict[str, Any]], generation: int) -> None:
        self.apps = apps
        self.generation = generation
        self.refreshed_at = time.time()
        self.items = sum(len(a["rules"]) for a in apps.values())


class FirewallCache:
    """Eager, TTL-refreshed, copy-on-write cache of the downstream's rule set."""

    def __init__(self, downstream: str, ttl: float, fetch_timeout: float = 10.0) -> None:
        self.downstream = downstream.rstrip("/")
        self.ttl = ttl
        self.fetch_timeout = fetch_timeout
        self.snapshot: Snapshot | None = None
        self.last_error: str | None = None
        self.last_attempt: float | None = None
        self.failures = 0
        self.refreshes = 0
        self.hits = 0
        self.misses = 0
        self._client = httpx.AsyncClient(timeout=fetch_timeout)
        self._lock = asyncio.Lock()  # single flight: one refresh at a time
        self._tracer = trace.get_tracer("firewall_server.cache")

    async def _fetch(self) -> dict[str, dict[str, Any]]:
        response = await self._client.get(f"{self.downstream}/api/v1/firewall-rules")
        response.raise_for_status()
        return {app["app_name"]: app for app in response.json()}

    async def refresh(self) -> int:
        """Fetches everything and swaps in a new snapshot; keeps the old one on failure."""
        async with self._lock:
            with self._tracer.start_as_current_span("cache.refresh") as span:
                self.last_attempt = time.time()
                try:
                    apps = await self._fetch()
                except Exception as error:  # noqa: BLE001 - any failure keeps the last snapshot
                    self.failures += 1
                    self.last_error = str(error)
                    span.set_attribute("error.type", type(error).__name__)
                    raise
                generation = (self.snapshot.generation if self.snapshot else 0) + 1
                self.snapshot = Snapshot(apps, generation)  # the copy-on-write swap
                self.failures = 0
                self.last_error = None
                self.refreshes += 1
                span.set_attribute("cache.items", self.snapshot.items)
                span.set_attribute("cache.generation", generation)
                return generation

    async def start(self, deadline: float = 20.0) -> None:
        """Initial fetch with retry and backoff (0.2 s doubling to 5 s) up to `deadline`."""
        delay, give_up = 0.2, time.monotonic() + deadline
        while True:
            try:
                await self.refresh()
                return
            except Exception:
                if time.monotonic() + delay > give_up:
                    raise
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(self.ttl)
            try:
                await self.refresh()
            except Exception as error:  # noqa: BLE001 - logged, the last snapshot stays
                log.warning("cache refresh failed: %s", error)

    def read(self) -> Snapshot:
        """The current snapshot, in a `cache.read` span (as mcp-cache's reads)."""
        with self._tracer.start_as_current_span("cache.read") as span:
            snapshot = self.snapshot
            if snapshot is None:
                self.misses += 1
                raise ToolError("firewall data unavailable: data not available yet")
            self.hits += 1
            span.set_attribute("cache.name", "firewalls")
            span.set_attribute("cache.hit", True)
            span.set_attribute("cache.generation", snapshot.generation)
            span.set_attribute("cache.age_seconds", time.time() - snapshot.refreshed_at)
            return snapshot

    def health(self) -> dict[str, Any]:
        s = self.snapshot
        age = time.time() - s.refreshed_at if s else None
        return {
            "name": "firewalls",
            "ready": s is not None,
            "generation": s.generation if s else 0,
            "items": s.items if s else 0,
            "age_seconds": age,
            "ttl_seconds": float(self.ttl),
            "stale": s is None or (age is not None and age > self.ttl),
            "refreshed_at_unix": s.refreshed_at if s else None,
            "last_attempt_at_unix": self.last_attempt,
            "last_error": self.last_error,
            "consecutive_failures": self.failures,
            "stats": {"refreshes": self.refreshes, "hits": self.hits, "misses": self.misses},
        }


# --- authorization -------------------------------------------------------------------------


class CachedJWTVerifier(JWTVerifier):
    """JWTVerifier whose successful verifications are kept by SHA-256 of the token until the
    token's `exp`, at most `max_entries` (oldest dropped first): mcp-authz's CachedVerifier."""

    def __init__(self, *args: Any, max_entries: int = 10_000, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._verified: OrderedDict[bytes, AccessToken] = OrderedDict()
        self._max_entries = max_entries

    async def verify_token(self, token: str) -> AccessToken | None:
        key = hashlib.sha256(token.encode()).digest()
        cached = self._verified.get(key)
        if cached is not None:
            if cached.expires_at is None or cached.expires_at > time.time():
                return cached
            del self._verified[key]
        verified = await super().verify_token(token)
        if verified is not None:
            self._verified[key] = verified
            while len(self._verified) > self._max_entries:
                self._verified.popitem(last=False)
        return verified


def entitled_apps(token: AccessToken | None) -> set[str] | None:
    """Applications the caller may read; None (all) only when authorization is off."""
    if token is None:
        return None
    apps = (token.claims.get("entitlements") or {}).get("applications") or {}
    return {app for app, perms in apps.items() if isinstance(perms, list) and READ in perms}


def caller_apps() -> set[str] | None:
    return entitled_apps(get_access_token()) if AUTH_ENABLED else None


# --- the server ----------------------------------------------------------------------------

AUTH_ENABLED = True
CACHE: FirewallCache  # set in main()


def build(auth: JWTVerifier | None) -> FastMCP:
    mcp = FastMCP(
        "mcp-patterns-fastmcp",
        instructions="Firewall rules per application, limited to the applications you are "
        "entitled to (the Python FastMCP peer of mcp-patterns-example).",
        auth=auth,
    )
    read = require_scopes(READ_SCOPE) if auth is not None else None

    @mcp.tool(
        description="Get the firewall rules of one application, by name (e.g. app-alpha)",
        auth=read,
    )
    async def get_firewall_rule(app_name: str) -> dict[str, Any]:
        validate_app_name(app_name)
        allowed = caller_apps()
        if allowed is not None and app_name not in allowed:
            raise ToolError(f"no entitlement for application '{app_name}' (needs 'read')")
        app = CACHE.read().apps.get(app_name)
        if app is None:
            raise ToolError(f"unknown application '{app_name}': no firewall rules exist for it")
        return app

    @mcp.tool(
        description="List the firewall rules of every application you are entitled to",
        auth=read,
    )
    async def list_firewall_rules() -> dict[str, Any]:
        allowed = caller_apps()
        apps = CACHE.read().apps
        return {
            "apps": [apps[name] for name in sorted(apps) if allowed is None or name in allowed]
        }

    @mcp.tool(
        description="Show the state of the firewall-rule cache: age, TTL, staleness, "
        "generation, items, last error",
        auth=read,
    )
    async def cache_status() -> dict[str, Any]:
        return {"scope": "server", "health": CACHE.health(), "user_caches": 0}

    def compact(value: Any) -> str:
        return json.dumps(value, separators=(",", ":"))

    @mcp.resource("cache://firewalls", mime_type="application/json", auth=read)
    async def firewalls() -> str:
        allowed = caller_apps()
        apps = CACHE.read().apps
        return compact(
            {"apps": [apps[n] for n in sorted(apps) if allowed is None or n in allowed]}
        )

    @mcp.resource("cache://meta/health", mime_type="application/json", auth=read)
    async def health() -> str:
        return compact(CACHE.health())

    @mcp.resource("cache://firewalls/{app}", mime_type="application/json", auth=read)
    async def firewall(app: str) -> str:
        uri = f"cache://firewalls/{app}"
        allowed = caller_apps()
        try:
            validate_app_name(app)
        except ToolError:
            raise ResourceError(f"resource not found: {uri}") from None
        if allowed is not None and app not in allowed:
            raise ResourceError(f"resource not found: {uri}")
        rules = CACHE.read().apps.get(app)
        if rules is None:
            raise ResourceError(f"resource not found: {uri}")
        return compact(rules)

    return mcp


def setup_tracing() -> None:
    """OpenTelemetry SDK from the standard variables (`OTEL_TRACES_SAMPLER[_ARG]`,
    `OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_BSP_*`, `OTEL_SERVICE_NAME`); off when
    `MCP_OTEL_ENABLED` is not true."""
    if os.environ.get("MCP_OTEL_ENABLED", "").lower() not in ("1", "true"):
        return
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create(
        {"service.name": os.environ.get("OTEL_SERVICE_NAME", "mcp-patterns-fastmcp")}
    )
    provider = TracerProvider(resource=resource)  # sampler from OTEL_TRACES_SAMPLER[_ARG]
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)


async def serve(args: argparse.Namespace) -> None:
    global CACHE, AUTH_ENABLED
    CACHE = FirewallCache(args.downstream_url, ttl=args.cache_ttl)
    await CACHE.start()
    refresher = asyncio.create_task(CACHE.refresh_forever())
    auth = None
    if args.jwks_url:
        auth = CachedJWTVerifier(
            jwks_uri=args.jwks_url,
            issuer=args.issuer,
            audience=args.audience,
            algorithm=args.algorithm,
            required_scopes=[GLOBAL_SCOPE],
        )
    else:
        AUTH_ENABLED = False
    mcp = build(auth)
    print(
        f"mcp-patterns-fastmcp serving MCP (Streamable HTTP) at "
        f"http://{args.host}:{args.port}/mcp; {len(CACHE.snapshot.apps)} applications cached",
        file=sys.stderr,
        flush=True,
    )
    try:
        # FastMCP's defaults: stateful sessions, SSE responses (as rmcp's server defaults).
        await mcp.run_http_async(
            transport="http",
            host=args.host,
            port=args.port,
            path="/mcp",
            log_level="warning",
            show_banner=False,
        )
    finally:
        refresher.cancel()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--downstream-url", required=True)
    parser.add_argument("--cache-ttl", type=float, default=60.0)
    parser.add_argument("--jwks-url", help="trust JWTs signed by these keys (no auth if unset)")
    parser.add_argument("--issuer")
    parser.add_argument("--audience", default="mcp-patterns-example")
    parser.add_argument("--algorithm", default="ES256")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    setup_tracing()
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
