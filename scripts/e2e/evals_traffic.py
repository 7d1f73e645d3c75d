"""Tool calls by two demo users against the reference server, for scripts/e2e/evals.sh.

Usage: evals_traffic.py MCP_URL USER=TOKEN [USER=TOKEN ...]
Each user lists their rules, reads one application they are entitled to and one they are not,
and reads the cache status; every call is a real MCP session of the Python SDK.
"""

import sys

from mcp_evals import mcp_client

OWN = {"alice": "app-alpha", "victor": "app-beta", "ada": "app-gamma"}


def main() -> None:
    url = sys.argv[1]
    for pair in sys.argv[2:]:
        user, _, token = pair.partition("=")
        own = OWN[user]
        other = "app-gamma" if own != "app-gamma" else "app-alpha"
        calls = [
            ("list_firewall_rules", {}),
            ("get_firewall_rule", {"app_name": own}),
            ("get_firewall_rule", {"app_name": other}),
            ("cache_status", {}),
        ]
        for tool, arguments in calls:
            result = mcp_client.call_tool(url, token, tool, arguments)
            print(f"{user} {tool} {arguments}: isError={bool(result.get('isError'))}")


if __name__ == "__main__":
    main()
