"""Tool-call spans as Phoenix's REST API returns them, reduced to what the evaluators read."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Optional

#: The marker mcp-otel appends to a captured value cut at MCP_OTEL_CAPTURE_MAX_BYTES.
TRUNCATED = "…[truncated]"


def attribute(attributes: dict[str, Any], key: str) -> Any:
    """An attribute by its dotted key; Phoenix returns some keys flat and some nested by dots."""
    if key in attributes:
        return attributes[key]
    value: Any = attributes
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _json(text: Optional[str]) -> Any:
    if not isinstance(text, str) or text.endswith(TRUNCATED):
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


@dataclass
class ToolCall:
    """One `tools/call` span: who called which tool with what, what came back, how it ended."""

    span_id: str
    trace_id: str
    tool: str
    user: Optional[str]
    start: datetime
    end: datetime
    status_code: str
    status_message: str
    error_type: Optional[str]
    input_text: Optional[str]
    output_text: Optional[str]
    attributes: dict[str, Any] = field(repr=False, default_factory=dict)

    @property
    def duration_ms(self) -> float:
        return (self.end - self.start).total_seconds() * 1000.0

    @property
    def arguments(self) -> Optional[dict[str, Any]]:
        """The captured arguments, `None` without capture or when cut."""
        value = _json(self.input_text)
        return value if isinstance(value, dict) else None

    @property
    def result(self) -> Optional[dict[str, Any]]:
        """The captured `CallToolResult`, `None` without capture or when cut."""
        value = _json(self.output_text)
        return value if isinstance(value, dict) else None

    @property
    def output_truncated(self) -> bool:
        return isinstance(self.output_text, str) and self.output_text.endswith(TRUNCATED)

    @classmethod
    def from_span(cls, span: dict[str, Any]) -> Optional["ToolCall"]:
        """The tool call a Phoenix span records, `None` for any other span."""
        attributes = span.get("attributes") or {}
        # Spans nested in the call (auth.check_scope, cache.read) carry some of its attributes
        # too; the call's own span is the one named `tools/call {tool}`.
        if not str(span.get("name", "")).startswith("tools/call ") or attribute(attributes, "mcp.method.name") != "tools/call":
            return None
        tool = attribute(attributes, "gen_ai.tool.name") or attribute(attributes, "tool.name")
        if not tool:
            return None
        status = span.get("status_code") or "UNSET"
        return cls(
            span_id=span["context"]["span_id"],
            trace_id=span["context"]["trace_id"],
            tool=str(tool),
            user=attribute(attributes, "user.id"),
            start=_time(span["start_time"]),
            end=_time(span["end_time"]),
            status_code=status,
            status_message=span.get("status_message") or "",
            error_type=attribute(attributes, "error.type"),
            input_text=attribute(attributes, "input.value"),
            output_text=attribute(attributes, "output.value"),
            attributes=attributes,
        )


def fetch_tool_calls(client, project: str, start: datetime, end: datetime, limit: int) -> list[ToolCall]:
    """The `tools/call` spans of `project` that started in [start, end), oldest first."""
    spans = client.spans.get_spans(
        project_identifier=project,
        start_time=start,
        end_time=end,
        span_kind="TOOL",
        limit=limit,
    )
    calls = [call for call in (ToolCall.from_span(span) for span in spans) if call is not None]
    calls.sort(key=lambda call: call.start)
    return calls
