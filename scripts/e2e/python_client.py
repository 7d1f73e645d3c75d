"""Drives the reference server with the MCP Python SDK client and checks what it receives.

Usage: python_client.py [--protocol 2025-11-25|2026-07-28] [--stateless] URL DOWNSTREAM_URL
                        ADMIN_TOKEN DEVELOPER_TOKEN

The tokens are the development issuer's demo tokens for `ada` (admin, every application) and
`alice` (developer, app-alpha only), as the server prints them at start-up; DOWNSTREAM_URL is the
built-in demo API the server fronts (the banner's `downstream:` line), where the subscription
check changes app-alpha's rules before ada refreshes the cache.

`--protocol 2025-11-25` (the default) connects with the initialize handshake and a session and
subscribes with `resources/subscribe`; `--protocol 2026-07-28` negotiates with `server/discover`
(the SDK's `mode="auto"`), runs stateless and subscribes with `subscriptions/listen`.
`--stateless` says the server runs with `--stateless` (the 2026-07-28 pass only).
"""

import argparse
import asyncio
import json
import logging
import sys
import warnings

import anyio
import httpx2
import mcp_types as types
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

LEGACY = "2025-11-25"
MODERN = "2026-07-28"
ALPHA = "cache://firewalls/app-alpha"
BETA = "cache://firewalls/app-beta"
DEFAULT_ALPHA_RULES = ["alpha-1", "alpha-2", "alpha-3"]
CHANGED_RULE = {
    "id": "alpha-e2e",
    "direction": "ingress",
    "protocol": "tcp",
    "ports": "8443",
    "cidr": "10.0.0.0/8",
    "action": "allow",
    "description": "added by the Python client suite",
}
# How long a notification may take after the refresh that causes it.
NOTIFICATION_TIMEOUT_S = 10

PROTOCOL = LEGACY
STATELESS = False


class QuietSessionEnd(logging.Filter):
    """Drops the SDK's "Session termination failed: 202" warning: the server answers the DELETE
    that ends a 2025-11-25 session with 202 Accepted, which that revision allows (it names no
    status but 405); the SDK expects 200 or 204 and says so when a legacy client closes."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Session termination failed: 202")


logging.getLogger("mcp.client.streamable_http").addFilter(QuietSessionEnd())


class Failure(Exception):
    """A check failed; its message is printed once, without the SDK's task-group tracebacks."""


def fail(message: str) -> None:
    raise Failure(f"python client ({PROTOCOL}{', stateless server' if STATELESS else ''}): {message}")


def check(condition: bool, message: str) -> None:
    if not condition:
        fail(message)


def text_of(result) -> str:
    return "".join(getattr(block, "text", "") for block in result.content)


class Responses:
    """The HTTP responses the SDK's own HTTP client received (status, headers), via an event hook."""

    def __init__(self) -> None:
        self.seen: list[httpx2.Response] = []

    async def hook(self, response: httpx2.Response) -> None:
        self.seen.append(response)

    def session_ids(self) -> set[str]:
        return {r.headers["mcp-session-id"] for r in self.seen if "mcp-session-id" in r.headers}


def client_for(url: str, token: str | None, responses: Responses | None = None, **options) -> Client:
    headers = {"Authorization": f"Bearer {token}"} if token else None
    http = create_mcp_http_client(headers=headers)
    if responses is not None:
        http.event_hooks = {"response": [responses.hook]}
    mode = "legacy" if PROTOCOL == LEGACY else "auto"
    return Client(streamable_http_client(url, http_client=http), mode=mode, **options)


def check_negotiated(client: Client, responses: Responses, who: str) -> None:
    check(client.protocol_version == PROTOCOL,
          f"{who}: negotiated {client.protocol_version!r}, expected {PROTOCOL}")
    sessions = responses.session_ids()
    if PROTOCOL == MODERN or STATELESS:
        check(not sessions, f"{who}: a stateless connection was given Mcp-Session-Id {sessions}")
    else:
        check(len(sessions) == 1, f"{who}: expected one Mcp-Session-Id, the server sent {sessions}")


async def refusal(request) -> Exception | None:
    """The error the SDK raises for `request` (a JSON-RPC error answer), None if it succeeds."""
    try:
        await request
    except Exception as error:
        return error
    return None


def rule_ids(read: types.ReadResourceResult) -> list[str]:
    return [rule["id"] for rule in json.loads(read.contents[0].text)["rules"]]


async def as_admin(url: str, token: str) -> None:
    responses = Responses()
    async with client_for(url, token, responses) as client:
        check(client.server_info is not None and client.server_info.name == "mcp-patterns-example",
              f"server info was {client.server_info}")
        tools = sorted(tool.name for tool in (await client.list_tools()).tools)
        expected = ["cache_status", "get_firewall_rule", "list_firewall_rules", "refresh_cache", "reset_firewall"]
        check(tools == expected, f"admin tools/list gave {tools}")

        listed = await client.call_tool("list_firewall_rules", {})
        check(not listed.is_error, f"list_firewall_rules failed: {text_of(listed)}")
        apps = sorted(app["app_name"] for app in listed.structured_content["apps"])
        check(apps == ["app-alpha", "app-beta", "app-gamma"], f"apps were {apps}")

        alpha = await client.call_tool("get_firewall_rule", {"app_name": "app-alpha"})
        check(not alpha.is_error, f"get_firewall_rule failed: {text_of(alpha)}")
        ids = [rule["id"] for rule in alpha.structured_content["rules"]]
        check(ids == DEFAULT_ALPHA_RULES, f"app-alpha rules were {ids}")
        # The text content mirrors the structured content for clients that only read text.
        check(json.loads(text_of(alpha)) == alpha.structured_content, "text and structured content differ")

        hostile = await client.call_tool("get_firewall_rule", {"app_name": "../../etc/passwd"})
        check(hostile.is_error, "a path-like app name must be refused")
        check("invalid application name" in text_of(hostile), f"message was {text_of(hostile)!r}")

        refreshed = await client.call_tool("refresh_cache", {})
        check(not refreshed.is_error, f"refresh_cache failed: {text_of(refreshed)}")
        check(refreshed.structured_content["generation"] >= 2, f"refresh gave {refreshed.structured_content}")

        # The same data as resources (cache-resource duality).
        uris = sorted(str(r.uri) for r in (await client.list_resources()).resources)
        check("cache://firewalls" in uris and BETA in uris, f"resources were {uris}")
        read = await client.read_resource(BETA)
        body = json.loads(read.contents[0].text)
        check(read.contents[0].mime_type == "application/json", f"mime type {read.contents[0].mime_type}")
        check([r["id"] for r in body["rules"]] == ["beta-1", "beta-2"], f"{BETA} was {body}")
        health = json.loads((await client.read_resource("cache://meta/health")).contents[0].text)
        check(health["ready"] is True and health["generation"] >= 2, f"health was {health}")
        check_negotiated(client, responses, "ada")


async def as_developer(url: str, token: str) -> None:
    responses = Responses()
    async with client_for(url, token, responses) as client:
        tools = sorted(tool.name for tool in (await client.list_tools()).tools)
        check(tools == ["cache_status", "get_firewall_rule", "list_firewall_rules"], f"developer tools/list gave {tools}")

        listed = await client.call_tool("list_firewall_rules", {})
        apps = [app["app_name"] for app in listed.structured_content["apps"]]
        check(apps == ["app-alpha"], f"developer saw apps {apps}")

        other = await client.call_tool("get_firewall_rule", {"app_name": "app-beta"})
        check(other.is_error, "another team's app must be refused")
        check("no entitlement for application 'app-beta'" in text_of(other), f"message was {text_of(other)!r}")

        listing = await client.list_resources()
        uris = sorted(str(r.uri) for r in listing.resources)
        check(ALPHA in uris, f"developer's resources/list lacks {ALPHA}: {uris}")
        check(BETA not in uris, f"developer saw resources {uris}")
        read = await client.read_resource(ALPHA)
        check(rule_ids(read) == DEFAULT_ALPHA_RULES, f"{ALPHA} was {read.contents[0].text}")
        if PROTOCOL == MODERN:
            # The SDK's models default ttl_ms to 0 and cache_scope to "private": check that the
            # server sent them, not just their values.
            for what, result in [("resources/read", read), ("resources/list", listing)]:
                sent = result.model_fields_set
                check("ttl_ms" in sent and "cache_scope" in sent,
                      f"{what} result carries no ttlMs/cacheScope (fields sent: {sorted(sent)})")
                check(result.ttl_ms > 0, f"{what} ttlMs was {result.ttl_ms}")
                check(result.cache_scope == "private", f"{what} cacheScope was {result.cache_scope!r}")
        error = await refusal(client.read_resource(BETA, cache_mode="bypass"))
        check(error is not None, f"alice could read {BETA}")
        check("not found" in str(error).lower(), f"reading {BETA} as alice failed with {error!r}")

        # A hidden admin tool answers exactly like a tool that does not exist.
        errors = []
        for name in ["reset_firewall", "no_such_tool"]:
            try:
                result = await client.call_tool(name, {"app_name": "app-alpha"})
                errors.append(text_of(result).replace(name, "X"))
            except Exception as error:  # the SDK raises for protocol errors
                errors.append(str(error).replace(name, "X"))
        check(errors[0] == errors[1], f"hidden and unknown tools differ: {errors}")
        check_negotiated(client, responses, "alice")


async def change_alpha(downstream: str) -> None:
    """Replaces app-alpha's rules in the demo downstream API (the server sees it at its next refresh)."""
    async with httpx2.AsyncClient() as http:
        response = await http.put(f"{downstream}/api/v1/apps/app-alpha/firewall-rules", json=[CHANGED_RULE])
    check(response.status_code == 200, f"the downstream refused the change: HTTP {response.status_code} {response.text}")


async def restore_alpha(url: str, downstream: str, admin_token: str) -> None:
    """After a failed subscription check: app-alpha's default rules back in the downstream and in
    the server's cache, so that the next pass (or suite) starts from the seeded data."""
    async with httpx2.AsyncClient() as http:
        await http.post(f"{downstream}/api/v1/apps/app-alpha/firewall-rules/reset")
    async with client_for(url, admin_token) as admin:
        await admin.call_tool("refresh_cache", {})


async def admin_tool(admin: Client, name: str, arguments: dict) -> None:
    result = await admin.call_tool(name, arguments)
    check(not result.is_error, f"{name} as ada failed: {text_of(result)}")


async def subscription_legacy(url: str, downstream: str, admin_token: str, token: str) -> None:
    """resources/subscribe in alice's session: an admin refresh that changes app-alpha notifies her."""
    updates: list[str] = []
    arrived = anyio.Event()

    async def on_message(message) -> None:
        if isinstance(message, types.ResourceUpdatedNotification):
            updates.append(str(message.params.uri))
            arrived.set()

    async with client_for(url, token, message_handler=on_message) as client, \
            client_for(url, admin_token) as admin:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # resources/subscribe is deprecated as of 2026-07-28
            await client.subscribe_resource(ALPHA)
            error = await refusal(client.subscribe_resource(BETA))
            check(error is not None, f"alice could subscribe to {BETA}")
            check("not found" in str(error).lower(), f"subscribing to {BETA} failed with {error!r}")

        async def wait_for_update(after: str) -> None:
            try:
                with anyio.fail_after(NOTIFICATION_TIMEOUT_S):
                    await arrived.wait()
            except TimeoutError:
                fail(f"no notifications/resources/updated within {NOTIFICATION_TIMEOUT_S} s after {after}")

        await change_alpha(downstream)
        await admin_tool(admin, "refresh_cache", {})
        await wait_for_update("a refresh that changed app-alpha")
        check(updates == [ALPHA], f"updates were {updates}, expected [{ALPHA}]")
        check(rule_ids(await client.read_resource(ALPHA)) == ["alpha-e2e"], "the changed rules were not read back")

        updates.clear()
        arrived = anyio.Event()
        await admin_tool(admin, "reset_firewall", {"app_name": "app-alpha"})
        await wait_for_update("reset_firewall app-alpha")
        check(updates == [ALPHA], f"updates after the reset were {updates}")
        check(rule_ids(await client.read_resource(ALPHA)) == DEFAULT_ALPHA_RULES, "the reset rules were not read back")


async def subscription_modern(url: str, downstream: str, admin_token: str, token: str) -> None:
    """subscriptions/listen: acknowledged for alice's apps only; an admin refresh that changes
    app-alpha sends notifications/resources/updated, which also invalidates the SDK's cached read."""
    responses = Responses()
    async with client_for(url, token, responses) as client, client_for(url, admin_token) as admin:
        # Warm the SDK's response cache: the read carries ttlMs, so the client serves it from the
        # cache (no HTTP request) until the listen stream tells it the resource changed.
        warm = await client.read_resource(ALPHA)
        check(rule_ids(warm) == DEFAULT_ALPHA_RULES, f"{ALPHA} before the change")
        before = len(responses.seen)
        check(rule_ids(await client.read_resource(ALPHA)) == DEFAULT_ALPHA_RULES, f"{ALPHA} read again")
        # (Unless the server's next refresh was due within a second, ttlMs then being that short.)
        check(len(responses.seen) == before or warm.ttl_ms < 1000,
              f"the SDK did not serve a read within its ttlMs ({warm.ttl_ms} ms) from its cache")
        async with client.listen(resource_subscriptions=[ALPHA, BETA]) as subscription:
            honored = subscription.honored.resource_subscriptions or []
            check(honored == [ALPHA], f"listen acknowledged {honored}, expected [{ALPHA}] (alice may not read app-beta)")

            async def next_update(after: str) -> str:
                try:
                    with anyio.fail_after(NOTIFICATION_TIMEOUT_S):
                        event = await subscription.__anext__()
                except TimeoutError:
                    fail(f"no notifications/resources/updated within {NOTIFICATION_TIMEOUT_S} s after {after}")
                except StopAsyncIteration:
                    fail(f"the listen stream ended before an update after {after}")
                check(type(event).__name__ == "ResourceUpdated", f"listen delivered {event!r}")
                return event.uri

            await change_alpha(downstream)
            await admin_tool(admin, "refresh_cache", {})
            uri = await next_update("a refresh that changed app-alpha")
            check(uri == ALPHA, f"the update named {uri}, expected {ALPHA}")
            before = len(responses.seen)
            ids = rule_ids(await client.read_resource(ALPHA))  # cache_mode "use": the event evicted it
            check(len(responses.seen) > before, "after the update the SDK served the read from its cache")
            check(ids == ["alpha-e2e"], f"after the update the client read {ids}")

            await admin_tool(admin, "reset_firewall", {"app_name": "app-alpha"})
            uri = await next_update("reset_firewall app-alpha")
            check(uri == ALPHA, f"the update after the reset named {uri}")
            ids = rule_ids(await client.read_resource(ALPHA))
            check(ids == DEFAULT_ALPHA_RULES, f"after the reset the client read {ids}")


async def without_token(url: str) -> None:
    # A bare request, as a client without credentials sends it.
    if PROTOCOL == MODERN:
        message = {"jsonrpc": "2.0", "id": 1, "method": "server/discover", "params": {}}
        headers = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": MODERN}
    else:
        message = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
        headers = {"Accept": "application/json, text/event-stream"}
    async with httpx2.AsyncClient() as http:
        response = await http.post(url, json=message, headers=headers)
    check(response.status_code == 401, f"no token gave HTTP {response.status_code}")
    challenge = response.headers.get("www-authenticate", "")
    check(challenge.startswith("Bearer") and "resource_metadata=" in challenge, f"challenge was {challenge!r}")

    # The SDK's client without a token: it must fail to connect, and what its HTTP client
    # received is a 401 with the bearer challenge.
    responses = Responses()
    listed = None
    try:
        async with client_for(url, None, responses) as client:
            listed = await client.list_tools()
    except Exception:  # the SDK reports the 401 as a JSON-RPC error (in an exception group)
        pass
    check(listed is None, f"the SDK client listed tools without a token: {listed}")
    statuses = [r.status_code for r in responses.seen]
    check(statuses and statuses[0] == 401, f"the SDK client without a token received HTTP {statuses}")
    challenge = responses.seen[0].headers.get("www-authenticate", "")
    check(challenge.startswith("Bearer") and "resource_metadata=" in challenge,
          f"the SDK client's challenge was {challenge!r}")


async def main() -> None:
    global PROTOCOL, STATELESS
    parser = argparse.ArgumentParser()
    parser.add_argument("--protocol", choices=[LEGACY, MODERN], default=LEGACY)
    parser.add_argument("--stateless", action="store_true")
    parser.add_argument("url")
    parser.add_argument("downstream")
    parser.add_argument("admin_token")
    parser.add_argument("developer_token")
    args = parser.parse_args()
    PROTOCOL, STATELESS = args.protocol, args.stateless
    if STATELESS and PROTOCOL == LEGACY:
        fail("resources/subscribe needs a session: run --stateless with --protocol 2026-07-28")

    await without_token(args.url)
    await as_admin(args.url, args.admin_token)
    await as_developer(args.url, args.developer_token)
    subscription = subscription_legacy if PROTOCOL == LEGACY else subscription_modern
    try:
        await subscription(args.url, args.downstream, args.admin_token, args.developer_token)
    except BaseException:
        await restore_alpha(args.url, args.downstream, args.admin_token)
        raise
    if PROTOCOL == LEGACY:
        subscribed = "resources/subscribe"
    else:
        subscribed = "subscriptions/listen acknowledged for app-alpha only"
    server = "stateless server" if STATELESS else "server"
    print(f"python client {PROTOCOL} ({server}): OK (401 without a token; admin and developer see "
          f"different tools and data; resources{', ttlMs and cacheScope private' if PROTOCOL == MODERN else ''}; "
          f"{subscribed}, notified after an admin refresh)")


def first_failure(error: BaseException) -> Failure | None:
    """The Failure in `error`, which the SDK's task groups may have wrapped in exception groups."""
    if isinstance(error, Failure):
        return error
    for inner in getattr(error, "exceptions", ()):
        if (found := first_failure(inner)) is not None:
            return found
    return None


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except BaseException as error:
        failure = first_failure(error)
        if failure is None:
            raise
        print(f"FAIL: {failure}", file=sys.stderr)
        sys.exit(1)
