"""Drives the reference server with the MCP Python SDK client and checks what it receives.

Usage: python_client.py URL ADMIN_TOKEN DEVELOPER_TOKEN
The tokens are the development issuer's demo tokens for `ada` (admin, every application) and
`alice` (developer, app-alpha only), as the server prints them at start-up.
"""

import asyncio
import json
import sys

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client


def fail(message: str) -> None:
    print(f"FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def check(condition: bool, message: str) -> None:
    if not condition:
        fail(message)


def text_of(result) -> str:
    return "".join(getattr(block, "text", "") for block in result.content)


def client_for(url: str, token: str) -> Client:
    http = create_mcp_http_client(headers={"Authorization": f"Bearer {token}"})
    return Client(streamable_http_client(url, http_client=http))


async def as_admin(url: str, token: str) -> None:
    async with client_for(url, token) as client:
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
        check(ids == ["alpha-1", "alpha-2", "alpha-3"], f"app-alpha rules were {ids}")
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
        check("cache://firewalls" in uris and "cache://firewalls/app-beta" in uris, f"resources were {uris}")
        read = await client.read_resource("cache://firewalls/app-beta")
        body = json.loads(read.contents[0].text)
        check(read.contents[0].mime_type == "application/json", f"mime type {read.contents[0].mime_type}")
        check([r["id"] for r in body["rules"]] == ["beta-1", "beta-2"], f"cache://firewalls/app-beta was {body}")
        health = json.loads((await client.read_resource("cache://meta/health")).contents[0].text)
        check(health["ready"] is True and health["generation"] >= 2, f"health was {health}")


async def as_developer(url: str, token: str) -> None:
    async with client_for(url, token) as client:
        tools = sorted(tool.name for tool in (await client.list_tools()).tools)
        check(tools == ["cache_status", "get_firewall_rule", "list_firewall_rules"], f"developer tools/list gave {tools}")

        listed = await client.call_tool("list_firewall_rules", {})
        apps = [app["app_name"] for app in listed.structured_content["apps"]]
        check(apps == ["app-alpha"], f"developer saw apps {apps}")

        other = await client.call_tool("get_firewall_rule", {"app_name": "app-beta"})
        check(other.is_error, "another team's app must be refused")
        check("no entitlement for application 'app-beta'" in text_of(other), f"message was {text_of(other)!r}")

        uris = sorted(str(r.uri) for r in (await client.list_resources()).resources)
        check("cache://firewalls/app-beta" not in uris, f"developer saw resources {uris}")

        # A hidden admin tool answers exactly like a tool that does not exist.
        errors = []
        for name in ["reset_firewall", "no_such_tool"]:
            try:
                result = await client.call_tool(name, {"app_name": "app-alpha"})
                errors.append(text_of(result).replace(name, "X"))
            except Exception as error:  # the SDK raises for protocol errors
                errors.append(str(error).replace(name, "X"))
        check(errors[0] == errors[1], f"hidden and unknown tools differ: {errors}")


async def without_token(url: str) -> None:
    async with httpx2.AsyncClient() as http:
        response = await http.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
                                   headers={"Accept": "application/json, text/event-stream"})
    check(response.status_code == 401, f"no token gave HTTP {response.status_code}")
    challenge = response.headers.get("www-authenticate", "")
    check(challenge.startswith("Bearer") and "resource_metadata=" in challenge, f"challenge was {challenge!r}")


async def main(url: str, admin: str, developer: str) -> None:
    await without_token(url)
    await as_admin(url, admin)
    await as_developer(url, developer)
    print("python client: OK (401 without a token; admin and developer see different tools and data; resources)")


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
