"""scripts/evals: the evaluation workflow on an MCP server's traces in Arize Phoenix.

  evaluate  pull the tools/call spans of a project and time window, run the evaluators, log each
            verdict back onto its span as an annotation, print a summary table, write a plot
  dataset   turn the same window of tool calls into a Phoenix dataset
            (input: tool, arguments, user; output: the recorded result)
  replay    run a dataset's calls again against a server, as each call's user, and record a
            Phoenix experiment that compares new results with the recorded ones
            (equal / changed / now_error)

Run `scripts/evals COMMAND --help` for the options; docs/observability.md has the workflow.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from typing import Any, Optional

from . import mcp_client
from .evaluators import Entitlements, code_evaluators
from .report import Tally, plot, table
from .spans import ToolCall, fetch_tool_calls


def fail(message: str) -> "NoReturn":  # noqa: F821
    print(f"scripts/evals: {message}", file=sys.stderr)
    sys.exit(2)


def parse_duration(text: str) -> timedelta:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(s|m|h|d)", text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a duration such as 90s, 15m, 2h or 1d")
    value, unit = float(match.group(1)), match.group(2)
    return timedelta(**{{"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[unit]: value})


def parse_time(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{text!r}: expected an ISO 8601 time") from error
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def parse_slo(text: str) -> tuple[str, float]:
    tool, sep, millis = text.partition("=")
    try:
        return tool, float(millis)
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"{text!r}: expected TOOL=MILLISECONDS, e.g. list_firewall_rules=50")


def parse_token(text: str) -> tuple[str, str]:
    user, sep, token = text.partition("=")
    if not sep or not user or not token:
        raise argparse.ArgumentTypeError("expected USER=TOKEN")
    return user, token


def window(args: argparse.Namespace) -> tuple[datetime, datetime]:
    end = args.end or datetime.now(timezone.utc)
    start = args.start or end - args.since
    if start >= end:
        fail(f"the window is empty: --start {start.isoformat()} is not before --end {end.isoformat()}")
    return start, end


def selected(calls: list[ToolCall], tools: list[str]) -> list[ToolCall]:
    return [call for call in calls if not tools or call.tool in tools]


def phoenix_client(args: argparse.Namespace):
    from phoenix.client import Client

    api_key = os.environ.get(args.phoenix_api_key_env) if args.phoenix_api_key_env else None
    return Client(base_url=args.phoenix, api_key=api_key)


def load_schemas(args: argparse.Namespace) -> Optional[dict[str, dict[str, Any]]]:
    if args.tools_file:
        with open(args.tools_file, encoding="utf-8") as handle:
            document = json.load(handle)
        tools = document.get("tools", document) if isinstance(document, dict) else document
        return mcp_client.output_schemas(tools)
    if args.tools_from:
        return mcp_client.output_schemas(mcp_client.list_tools(args.tools_from, args.token))
    return None


def cmd_evaluate(args: argparse.Namespace) -> int:
    start, end = window(args)
    client = phoenix_client(args)
    calls = selected(fetch_tool_calls(client, args.project, start, end, args.limit), args.tool)
    print(f"{len(calls)} tools/call spans in project {args.project!r} from {start.isoformat()} to {end.isoformat()}")
    if not calls:
        fail("no tools/call spans in that window (check --project, --since/--start/--end)")

    schemas = load_schemas(args)
    entitlements = Entitlements.load(args.entitlements) if args.entitlements else None
    evaluators, notes = code_evaluators(args.slo_ms, dict(args.slo), schemas, entitlements)
    from .judge import configured_judge

    judge, judge_note = configured_judge(args.judge_url, args.judge_model, args.judge_api_key_env)
    notes.append(judge_note)
    if judge is not None:
        evaluators.append(judge)
    for note in notes:
        print(note)

    tallies: dict[tuple[str, str], Tally] = defaultdict(Tally)
    annotations: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    for call in calls:
        for evaluator in evaluators:
            verdict = evaluator.evaluate(call)
            tally = tallies[(evaluator.name, call.tool)]
            if verdict is None:
                tally.skipped += 1
                continue
            tally.labels[verdict.label] += 1
            if verdict.passed:
                tally.passed += 1
            else:
                tally.failed += 1
            kind = "LLM" if evaluator.name == "llm_judge" else "CODE"
            annotations.append({
                "span_id": call.span_id,
                "name": evaluator.name,
                "annotator_kind": kind,
                "result": {"label": verdict.label, "score": verdict.score, "explanation": verdict.explanation},
                "metadata": {"evaluator": "scripts/evals", "tool": call.tool, "user": call.user},
            })
            results.append({
                "span_id": call.span_id, "trace_id": call.trace_id, "tool": call.tool, "user": call.user,
                "evaluator": evaluator.name, "label": verdict.label, "score": verdict.score,
                "explanation": verdict.explanation,
            })

    print()
    print(table(tallies))
    if annotations and not args.no_annotate:
        for i in range(0, len(annotations), 500):
            client.spans.log_span_annotations(span_annotations=annotations[i : i + 500], sync=True)
        print(f"\nlogged {len(annotations)} span annotations to {args.phoenix} (project {args.project})")
    os.makedirs(args.out, exist_ok=True)
    png = os.path.join(args.out, "evals-pass-rate.png")
    plot(tallies, png, f"{args.project}: pass rate per evaluator and tool ({len(calls)} calls)")
    with open(os.path.join(args.out, "evals-results.json"), "w", encoding="utf-8") as handle:
        json.dump(results, handle, indent=1)
    print(f"wrote {png} and {os.path.join(args.out, 'evals-results.json')}")
    failed = sum(t.failed for t in tallies.values())
    if args.fail_on_failures and failed:
        print(f"{failed} evaluation(s) failed", file=sys.stderr)
        return 1
    return 0


def cmd_dataset(args: argparse.Namespace) -> int:
    start, end = window(args)
    client = phoenix_client(args)
    calls = selected(fetch_tool_calls(client, args.project, start, end, args.limit), args.tool)
    inputs, outputs, metadata = [], [], []
    skipped = 0
    for call in calls:
        arguments, result = call.arguments, call.result
        if arguments is None or result is None:
            skipped += 1  # without capture (or cut by the size cap) there is nothing to replay
            continue
        inputs.append({"tool": call.tool, "arguments": arguments, "user": call.user})
        outputs.append({"result": mcp_client.normalize(result)})
        metadata.append({"span_id": call.span_id, "trace_id": call.trace_id,
                         "recorded_at": call.start.isoformat(), "duration_ms": round(call.duration_ms, 3)})
    if not inputs:
        fail(f"none of the {len(calls)} tools/call spans has captured input and output "
             "(start the server with input/output capture on: MCP_OTEL_CAPTURE_IO=true or the development profile)")
    name = args.name or f"{args.project}-tool-calls-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}"
    dataset = client.datasets.create_dataset(
        name=name, inputs=inputs, outputs=outputs, metadata=metadata,
        dataset_description=f"tools/call spans of {args.project} from {start.isoformat()} to {end.isoformat()}",
    )
    print(f"dataset {name!r} (id {dataset.id}): {len(inputs)} tool calls; {skipped} spans without captured input/output left out")
    return 0


def without_keys(value: Any, keys: frozenset[str]) -> Any:
    """`value` with every object member named in `keys` removed, at any depth; text blocks that
    hold JSON are compared as JSON too."""
    if not keys:
        return value
    if isinstance(value, dict):
        return {k: without_keys(v, keys) for k, v in value.items() if k not in keys}
    if isinstance(value, list):
        return [without_keys(v, keys) for v in value]
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return without_keys(json.loads(value), keys)
        except ValueError:
            return value
    return value


def compare(output: dict[str, Any], expected: dict[str, Any], ignore: frozenset[str] = frozenset()) -> dict[str, Any]:
    """`equal`, `changed` or `now_error` for a replayed result against the recorded one,
    ignoring the object members named in `ignore` (timestamps, counters)."""
    recorded = without_keys(expected.get("result", expected), ignore)
    output = without_keys(output, ignore)
    if "transport_error" in output:
        return {"label": "now_error", "score": 0.0, "explanation": f"the call failed: {output['transport_error']}"}
    if output.get("isError") and not recorded.get("isError"):
        return {"label": "now_error", "score": 0.0, "explanation": "now an error: " + " ".join(output.get("text", []))[:300]}
    if output == recorded:
        return {"label": "equal", "score": 1.0, "explanation": "same error flag, structured content and text"}
    parts = [key for key in ("isError", "structuredContent", "text") if output.get(key) != recorded.get(key)]
    return {"label": "changed", "score": 0.0, "explanation": "differs in " + ", ".join(parts)}


def cmd_replay(args: argparse.Namespace) -> int:
    client = phoenix_client(args)
    tokens = dict(args.token or [])
    if args.tokens_file:
        with open(args.tokens_file, encoding="utf-8") as handle:
            tokens.update(json.load(handle))
    dataset = client.datasets.get_dataset(dataset=args.dataset)
    users = sorted({example["input"].get("user") or "" for example in dataset.examples})
    missing = [user for user in users if user and user not in tokens]
    if missing:
        fail(f"no token for user(s) {', '.join(missing)} of dataset {args.dataset!r}: pass --token USER=TOKEN")

    def task(input: dict[str, Any]) -> dict[str, Any]:  # noqa: A002 - Phoenix binds by name
        try:
            result = mcp_client.call_tool(args.server, tokens.get(input.get("user") or ""), input["tool"], input["arguments"])
        except Exception as error:  # noqa: BLE001 - any failure of the call is the verdict
            return {"transport_error": f"{type(error).__name__}: {error}"}
        return mcp_client.normalize(result)

    def output_match(output: dict[str, Any], expected: dict[str, Any]) -> dict[str, Any]:
        return compare(output, expected, frozenset(args.ignore_key))

    name = args.experiment or f"replay against {args.server} at {datetime.now(timezone.utc):%Y-%m-%dT%H:%M:%SZ}"
    experiment = client.experiments.run_experiment(
        dataset=dataset, task=task, evaluators={"output_match": output_match},
        experiment_name=name, experiment_metadata={"server": args.server},
        print_summary=False, retries=0,
    )
    labels: dict[str, int] = defaultdict(int)
    for run in experiment["evaluation_runs"]:
        result = run.result or {}
        labels[result.get("label") if isinstance(result, dict) else getattr(result, "label", "?")] += 1
    summary = ", ".join(f"{label}={n}" for label, n in sorted(labels.items()))
    print(f"experiment {name!r} (id {experiment['experiment_id']}) on dataset {args.dataset!r}: {summary}")
    return 0 if not args.fail_on_changes or set(labels) <= {"equal"} else 1


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="scripts/evals", description=__doc__,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = top.add_subparsers(dest="command", required=True)

    def phoenix_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--phoenix", default=os.environ.get("PHOENIX_COLLECTOR_ENDPOINT", "http://localhost:6006"),
                       help="Phoenix base URL [default: $PHOENIX_COLLECTOR_ENDPOINT or http://localhost:6006]")
        p.add_argument("--phoenix-api-key-env", default="PHOENIX_API_KEY", metavar="VAR",
                       help="variable holding the Phoenix API key, if it needs one [default: PHOENIX_API_KEY]")

    def window_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--project", default=os.environ.get("PHOENIX_PROJECT_NAME", "default"),
                       help="Phoenix project [default: $PHOENIX_PROJECT_NAME or default]")
        p.add_argument("--since", type=parse_duration, default=timedelta(hours=1),
                       help="window length back from --end, e.g. 15m, 2h [default: 1h]")
        p.add_argument("--start", type=parse_time, help="window start (ISO 8601; overrides --since)")
        p.add_argument("--end", type=parse_time, help="window end (ISO 8601) [default: now]")
        p.add_argument("--limit", type=int, default=5000, help="most spans read [default: 5000]")
        p.add_argument("--tool", action="append", default=[], metavar="NAME",
                       help="only calls of this tool (repeatable) [default: every tool]")

    evaluate = commands.add_parser("evaluate", help="evaluate tool calls and annotate their spans")
    phoenix_options(evaluate)
    window_options(evaluate)
    evaluate.add_argument("--slo-ms", type=float, default=250.0, help="latency objective of every tool [default: 250]")
    evaluate.add_argument("--slo", type=parse_slo, action="append", default=[], metavar="TOOL=MS",
                          help="latency objective of one tool (repeatable)")
    evaluate.add_argument("--tools-from", metavar="MCP_URL", help="read output schemas from this server's tools/list")
    evaluate.add_argument("--token", help="bearer token for --tools-from (one that sees every tool)")
    evaluate.add_argument("--tools-file", metavar="FILE", help="read output schemas from a saved tools/list result")
    evaluate.add_argument("--entitlements", metavar="FILE",
                          help="ground truth for the leak check: {applications: [...], users: {user: [apps]}}")
    evaluate.add_argument("--judge-url", help="OpenAI-compatible endpoint for the LLM-as-judge evaluator")
    evaluate.add_argument("--judge-model", help="model name at --judge-url")
    evaluate.add_argument("--judge-api-key-env", default="OPENAI_API_KEY", metavar="VAR",
                          help="variable holding the judge's API key [default: OPENAI_API_KEY]")
    evaluate.add_argument("--out", default="evals-out", help="directory for the plot and results [default: evals-out]")
    evaluate.add_argument("--no-annotate", action="store_true", help="do not write annotations to Phoenix")
    evaluate.add_argument("--fail-on-failures", action="store_true", help="exit 1 when any evaluation failed")
    evaluate.set_defaults(run=cmd_evaluate)

    dataset = commands.add_parser("dataset", help="make a Phoenix dataset of a window of tool calls")
    phoenix_options(dataset)
    window_options(dataset)
    dataset.add_argument("--name", help="dataset name [default: PROJECT-tool-calls-TIMESTAMP]")
    dataset.set_defaults(run=cmd_dataset)

    replay = commands.add_parser("replay", help="replay a dataset against a server as a Phoenix experiment")
    phoenix_options(replay)
    replay.add_argument("--dataset", required=True, help="dataset name or id")
    replay.add_argument("--server", required=True, metavar="MCP_URL", help="the server to replay against")
    replay.add_argument("--token", type=parse_token, action="append", metavar="USER=TOKEN",
                        help="bearer token of one dataset user (repeatable)")
    replay.add_argument("--tokens-file", metavar="FILE", help="JSON object of user to token")
    replay.add_argument("--ignore-key", action="append", default=[], metavar="KEY",
                        help="object member left out of the comparison at any depth, e.g. age_seconds (repeatable)")
    replay.add_argument("--experiment", help="experiment name [default: replay against URL at TIME]")
    replay.add_argument("--fail-on-changes", action="store_true", help="exit 1 unless every row is equal")
    replay.set_defaults(run=cmd_replay)
    return top


def main() -> int:
    args = parser().parse_args()
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
