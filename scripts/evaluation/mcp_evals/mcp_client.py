"""The MCP side of the workflow, with the MCP Python SDK over Streamable HTTP: the tools a
server declares (for their output schemas) and tool calls replayed as a given user."""

from __future__ import annotations

import asyncio
from typing import Any

from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client


def _client(url: str, token: str | None) -> Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    http = create_mcp_http_client(headers=headers)
    return Client(streamable_http_client(url, http_client=http))


async def _list_tools(url: str, token: str | None) -> list[dict[str, Any]]:
    async with _client(url, token) as client:
        listed = await client.list_tools()
        return [tool.model_dump(by_alias=True, exclude_none=True, mode="json") for tool in listed.tools]


def list_tools(url: str, token: str | None) -> list[dict[str, Any]]:
    """tools/list of the server at `url`, as plain JSON objects."""
    return asyncio.run(_list_tools(url, token))


def output_schemas(tools: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Tool name to its declared `outputSchema`, for the tools that declare one."""
    return {tool["name"]: tool["outputSchema"] for tool in tools if tool.get("outputSchema")}


async def _call_tool(url: str, token: str | None, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    async with _client(url, token) as client:
        result = await client.call_tool(tool, arguments)
        return result.model_dump(by_alias=True, exclude_none=True, mode="json")


def call_tool(url: str, token: str | None, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """One tools/call in its own session; the `CallToolResult` as plain JSON."""
    return asyncio.run(_call_tool(url, token, tool, arguments))


def normalize(result: dict[str, Any]) -> dict[str, Any]:
    """The part of a `CallToolResult` that replays compare: error flag, structured content and
    the text blocks (whatever the serializer's key order or omitted defaults)."""
    texts = [block.get("text", "") for block in result.get("content", []) if block.get("type") == "text"]
    return {
        "isError": bool(result.get("isError")),
        "structuredContent": result.get("structuredContent"),
        "text": texts,
    }
