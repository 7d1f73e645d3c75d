"""Drives the reference server with the MCP Python SDK client and checks what it receives."""

import asyncio
import json
import sys

from mcp import Client


def fail(message: str) -> None:
    print(f"FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def check(condition: bool, message: str) -> None:
    if not condition:
        fail(message)


def text_of(result) -> str:
    return "".join(getattr(block, "text", "") for block in result.content)


async def main(url: str) -> None:
    async with Client(url) as client:
        tools = sorted(tool.name for tool in (await client.list_tools()).tools)
        expected = ["cache_status", "get_firewall_rule", "list_firewall_rules", "refresh_cache", "reset_firewall"]
        check(tools == expected, f"tools/list gave {tools}")

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

        unknown = await client.call_tool("get_firewall_rule", {"app_name": "app-omega"})
        check(unknown.is_error, "an unknown app must be a tool error")
        check("unknown application 'app-omega'" in text_of(unknown), f"message was {text_of(unknown)!r}")

        hostile = await client.call_tool("get_firewall_rule", {"app_name": "../../etc/passwd"})
        check(hostile.is_error, "a path-like app name must be refused")
        check("invalid application name" in text_of(hostile), f"message was {text_of(hostile)!r}")

        # The same data as resources (cache-resource duality).
        uris = sorted(str(r.uri) for r in (await client.list_resources()).resources)
        check("cache://firewalls" in uris and "cache://firewalls/app-beta" in uris, f"resources were {uris}")
        read = await client.read_resource("cache://firewalls/app-beta")
        body = json.loads(read.contents[0].text)
        check(read.contents[0].mime_type == "application/json", f"mime type {read.contents[0].mime_type}")
        check([r["id"] for r in body["rules"]] == ["beta-1", "beta-2"], f"cache://firewalls/app-beta was {body}")
        health = json.loads((await client.read_resource("cache://meta/health")).contents[0].text)
        check(health["ready"] is True and health["generation"] >= 1, f"health was {health}")
    print("python client: OK (tools/list, list_firewall_rules, get_firewall_rule, tool errors, resources)")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
