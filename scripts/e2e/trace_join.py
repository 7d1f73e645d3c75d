"""A traced MCP Python SDK client (openinference-instrumentation-mcp puts the W3C trace context
into `params._meta`) calls the reference server; prints the client span's trace and span ids.

Usage: trace_join.py URL TOKEN
"""

import asyncio
import sys

from openinference.instrumentation.mcp import MCPInstrumentor
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

provider = TracerProvider()
trace.set_tracer_provider(provider)
# Before `mcp` is imported: the instrumentor wraps the SDK's transports on import.
MCPInstrumentor().instrument(tracer_provider=provider)

from mcp import Client  # noqa: E402
from mcp.client.streamable_http import streamable_http_client  # noqa: E402
from mcp.shared._httpx_utils import create_mcp_http_client  # noqa: E402


async def main(url: str, token: str) -> None:
    http = create_mcp_http_client(headers={"Authorization": f"Bearer {token}"})
    tracer = trace.get_tracer("mcp-patterns-e2e")
    async with Client(streamable_http_client(url, http_client=http)) as client:
        with tracer.start_as_current_span("agent turn") as span:
            result = await client.call_tool("get_firewall_rule", {"app_name": "app-alpha"})
            if result.is_error:
                sys.exit(f"FAIL: get_firewall_rule failed: {result.content}")
            context = span.get_span_context()
            print(f"{context.trace_id:032x} {context.span_id:016x}")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
