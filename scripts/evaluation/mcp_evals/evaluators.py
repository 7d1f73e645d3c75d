"""The code evaluators of the workflow. Each takes one tool call and returns a `Verdict`, or
`None` when it does not apply to that call (the summary counts those as skipped).

An evaluator is a class with a `name` and an `evaluate(call) -> Verdict | None` method; add one
to `code_evaluators()` and it is run, annotated onto the spans, summarised and plotted like the
others (docs/observability.md, "Adding an evaluator").
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Iterable, Optional, Protocol

import jsonschema

from .spans import ToolCall


@dataclass(frozen=True)
class Verdict:
    """One evaluator's result for one span, logged as a Phoenix span annotation."""

    label: str
    score: float
    explanation: str

    @property
    def passed(self) -> bool:
        return self.score >= 1.0


class Evaluator(Protocol):
    name: str

    def evaluate(self, call: ToolCall) -> Optional[Verdict]: ...


class ToolError:
    """`error` when the call failed on the server side: span status ERROR or an `error.type`
    (mcp-otel sets `tool_error` for results with `isError: true`, the JSON-RPC code for server
    errors). Caller errors such as invalid params carry neither and pass."""

    name = "tool_error"

    def evaluate(self, call: ToolCall) -> Optional[Verdict]:
        if call.status_code == "ERROR" or call.error_type:
            kind = call.error_type or "ERROR"
            detail = f": {call.status_message}" if call.status_message else ""
            return Verdict("error", 0.0, f"error.type={kind}{detail}")
        return Verdict("ok", 1.0, f"status {call.status_code}, no error.type")


class LatencySlo:
    """`over_slo` when the span took longer than the tool's latency objective."""

    name = "latency_slo"

    def __init__(self, default_ms: float, per_tool: Optional[dict[str, float]] = None):
        self.default_ms = default_ms
        self.per_tool = per_tool or {}

    def evaluate(self, call: ToolCall) -> Optional[Verdict]:
        slo = self.per_tool.get(call.tool, self.default_ms)
        took = call.duration_ms
        if took <= slo:
            return Verdict("within_slo", 1.0, f"{took:.1f} ms <= SLO {slo:g} ms")
        return Verdict("over_slo", 0.0, f"{took:.1f} ms > SLO {slo:g} ms")


class OutputSchema:
    """`invalid` when a successful result's `structuredContent` does not validate against the
    `outputSchema` the server declares for the tool in tools/list. Needs output capture; skips
    tools without an output schema, error results and captured values cut by the size cap."""

    name = "output_schema"

    def __init__(self, schemas: dict[str, dict[str, Any]]):
        self.schemas = schemas

    def evaluate(self, call: ToolCall) -> Optional[Verdict]:
        schema = self.schemas.get(call.tool)
        result = call.result
        if schema is None or result is None or result.get("isError"):
            return None
        structured = result.get("structuredContent")
        if structured is None:
            return Verdict("invalid", 0.0, "the tool declares an outputSchema but the result has no structuredContent")
        validator_class = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
        errors = sorted(validator_class(schema).iter_errors(structured), key=lambda e: list(e.path))
        if errors:
            first = errors[0]
            where = "/".join(str(p) for p in first.path) or "(root)"
            return Verdict("invalid", 0.0, f"{len(errors)} schema error(s); at {where}: {first.message}")
        return Verdict("valid", 1.0, "structuredContent conforms to the declared outputSchema")


@dataclass(frozen=True)
class Entitlements:
    """Ground truth for the leak check: every application name that exists, and the ones each
    user may read. Loaded from a JSON file (`mcp-patterns-example --print-entitlements` writes
    the reference server's; write your own from your IdP and policy):

        {"applications": ["app-alpha", ...], "users": {"alice": ["app-alpha"], ...}}
    """

    applications: frozenset[str]
    users: dict[str, frozenset[str]]

    @classmethod
    def load(cls, path: str) -> "Entitlements":
        with open(path, encoding="utf-8") as handle:
            document = json.load(handle)
        users = {user: frozenset(apps) for user, apps in document.get("users", {}).items()}
        known = set(document.get("applications", []))
        for apps in users.values():
            known |= apps
        return cls(frozenset(known), users)


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


class EntitlementLeak:
    """`leak` when a span's captured `output.value` names an application outside the
    entitlements of the span's `user.id`. In an error result, names the caller gave in its own
    arguments (a refusal echoing the requested app) do not count. Needs output capture; an unknown user fails
    closed (`unknown_user`)."""

    name = "entitlement_leak"

    def __init__(self, entitlements: Entitlements):
        self.entitlements = entitlements
        names = sorted(entitlements.applications, key=len, reverse=True)
        self.pattern = (
            re.compile(r"(?<![A-Za-z0-9_.-])(" + "|".join(re.escape(n) for n in names) + r")(?![A-Za-z0-9_-])")
            if names
            else None
        )

    def named_apps(self, text: str) -> set[str]:
        if self.pattern is None:
            return set()
        return set(self.pattern.findall(text))

    def evaluate(self, call: ToolCall) -> Optional[Verdict]:
        if call.output_text is None:
            return None
        if call.user is None or call.user not in self.entitlements.users:
            return Verdict("unknown_user", 0.0, f"user.id {call.user!r} is not in the entitlements file")
        result = call.result
        texts = list(_strings(result)) if result is not None else [call.output_text]
        named: set[str] = set()
        for text in texts:
            named |= self.named_apps(text)
        # An error result that echoes the application the caller asked for reveals nothing.
        asked: set[str] = set()
        if result is not None and result.get("isError"):
            for text in _strings(call.arguments or {}):
                asked |= self.named_apps(text)
        leaked = sorted(named - self.entitlements.users[call.user] - asked)
        if leaked:
            return Verdict("leak", 0.0, f"{call.user} is not entitled to {', '.join(leaked)} but the output names it")
        allowed = sorted(named - asked) or ["no application"]
        return Verdict("no_leak", 1.0, f"output names {', '.join(allowed)}; all within {call.user}'s entitlements")


def code_evaluators(
    slo_ms: float,
    slo_per_tool: dict[str, float],
    schemas: Optional[dict[str, dict[str, Any]]],
    entitlements: Optional[Entitlements],
) -> tuple[list[Evaluator], list[str]]:
    """The evaluators the options allow, and a line for each one that cannot run and why."""
    evaluators: list[Evaluator] = [ToolError(), LatencySlo(slo_ms, slo_per_tool)]
    skipped: list[str] = []
    if schemas is not None:
        evaluators.append(OutputSchema(schemas))
    else:
        skipped.append("output_schema: skipped (no tool schemas: pass --tools-from URL --token TOKEN or --tools-file FILE)")
    if entitlements is not None:
        evaluators.append(EntitlementLeak(entitlements))
    else:
        skipped.append("entitlement_leak: skipped (no ground truth: pass --entitlements FILE)")
    return evaluators, skipped
