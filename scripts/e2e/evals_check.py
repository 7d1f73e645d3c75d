"""Reads what the evaluation workflow left in Phoenix back through Phoenix's REST API and checks
it, for scripts/e2e/evals.sh. Standard library only.

  evals_check.py wait PHOENIX PROJECT N          until the project has N tools/call spans
  evals_check.py filtered PHOENIX PROJECT        annotations of a server with its data filter on
  evals_check.py leaky PHOENIX PROJECT           annotations of a server with the filter off
  evals_check.py production PHOENIX PROJECT      annotations of a production-profile server
  evals_check.py experiment PHOENIX NAME EXPECT  the experiment's labels, e.g. "equal=6" or
                                                 "alice:changed,victor:equal"
"""

import json
import sys
import time
import urllib.parse
import urllib.request
from collections import Counter, defaultdict


def fail(message: str) -> None:
    print(f"FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def get(base: str, path: str, **params) -> dict:
    query = urllib.parse.urlencode(params, doseq=True)
    with urllib.request.urlopen(f"{base}{path}?{query}", timeout=30) as response:
        return json.load(response)


def attr(attributes: dict, key: str):
    if key in attributes:
        return attributes[key]
    value = attributes
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def tool_calls(base: str, project: str) -> list[dict]:
    spans = get(base, f"/v1/projects/{project}/spans", limit=1000)["data"]
    return [s for s in spans if s["name"].startswith("tools/call ")]


def annotations(base: str, project: str, spans: list[dict]) -> dict[str, dict[str, dict]]:
    """span id -> annotation name -> annotation."""
    ids = [s["context"]["span_id"] for s in spans]
    found: dict[str, dict[str, dict]] = defaultdict(dict)
    data = get(base, f"/v1/projects/{project}/span_annotations", span_ids=ids, limit=1000)["data"]
    for annotation in data:
        found[annotation["span_id"]][annotation["name"]] = annotation
    return found


def described(span: dict) -> tuple[str, str, str]:
    attributes = span["attributes"]
    arguments = attr(attributes, "input.value") or "{}"
    app = json.loads(arguments).get("app_name", "") if arguments.startswith("{") else ""
    return attr(attributes, "user.id"), span["name"].removeprefix("tools/call "), app


def label(found: dict, span: dict, name: str) -> str:
    annotation = found.get(span["context"]["span_id"], {}).get(name)
    if annotation is None:
        fail(f"no {name} annotation on {described(span)} (has {sorted(found.get(span['context']['span_id'], {}))})")
    if annotation["annotator_kind"] != "CODE":
        fail(f"{name} on {described(span)} has annotator_kind {annotation['annotator_kind']}")
    return annotation["result"]["label"]


def wait(base: str, project: str, count: str) -> None:
    for _ in range(120):
        try:
            if len(tool_calls(base, project)) >= int(count):
                return
        except OSError:
            pass
        time.sleep(0.5)
    fail(f"Phoenix never showed {count} tools/call spans in project {project}")


OWN = {"alice": "app-alpha", "victor": "app-beta"}


def filtered(base: str, project: str) -> None:
    spans = tool_calls(base, project)
    found = annotations(base, project, spans)
    seen = Counter()
    for span in spans:
        user, tool, app = described(span)
        leak = label(found, span, "entitlement_leak")
        if leak != "no_leak":
            fail(f"the filtered server's {user} {tool} {app} was judged {leak}")
        error = label(found, span, "tool_error")
        expected_error = "error" if tool == "get_firewall_rule" and app != OWN[user] else "ok"
        if error != expected_error:
            fail(f"tool_error of {user} {tool} {app} was {error}, expected {expected_error}")
        if label(found, span, "latency_slo") not in ("within_slo", "over_slo"):
            fail(f"latency_slo of {user} {tool} has an unknown label")
        if tool == "list_firewall_rules" or (tool == "get_firewall_rule" and app == OWN[user]):
            schema = label(found, span, "output_schema")
            if schema != "valid":
                fail(f"output_schema of {user} {tool} {app} was {schema}")
        seen[(user, tool)] += 1
    if seen[("alice", "list_firewall_rules")] != 1 or seen[("victor", "list_firewall_rules")] != 1:
        fail(f"expected one list_firewall_rules call per user, saw {dict(seen)}")
    print(f"evals: filtered server: {len(spans)} calls of two users, entitlement_leak=no_leak on all, "
          "tool_error/latency_slo/output_schema as expected")


def leaky(base: str, project: str) -> None:
    spans = tool_calls(base, project)
    found = annotations(base, project, spans)
    leaks = []
    for span in spans:
        user, tool, app = described(span)
        verdict = label(found, span, "entitlement_leak")
        leaking_call = tool == "list_firewall_rules" or (tool == "get_firewall_rule" and app != OWN[user])
        expected = "leak" if leaking_call else "no_leak"
        if verdict != expected:
            fail(f"entitlement_leak of {user} {tool} {app} on the unfiltered server was {verdict}, expected {expected}")
        if verdict == "leak":
            explanation = found[span["context"]["span_id"]]["entitlement_leak"]["result"]["explanation"]
            others = sorted(set(OWN.values()) - {OWN[user]})
            if not any(other in explanation for other in [*others, "app-gamma"]):
                fail(f"the leak explanation does not name the leaked application: {explanation!r}")
            leaks.append(f"{user} {tool}")
    print(f"evals: unfiltered server: entitlement_leak flagged {len(leaks)} calls ({', '.join(sorted(leaks))})")


def production(base: str, project: str) -> None:
    spans = tool_calls(base, project)
    found = annotations(base, project, spans)
    for span in spans:
        if attr(span["attributes"], "output.value") is not None:
            fail(f"the production profile captured output.value on {span['name']}")
        names = set(found.get(span["context"]["span_id"], {}))
        if not {"tool_error", "latency_slo"} <= names:
            fail(f"{span['name']} lacks the tool_error/latency_slo annotations: {sorted(names)}")
        if names & {"entitlement_leak", "output_schema"}:
            fail(f"{span['name']} got capture-based annotations without capture: {sorted(names)}")
    print(f"evals: production profile: {len(spans)} calls, no output.value, only tool_error and latency_slo")


def experiment(base: str, name: str, expect: str) -> None:
    datasets = get(base, "/v1/datasets", limit=100)["data"]
    for dataset in datasets:
        experiments = get(base, f"/v1/datasets/{dataset['id']}/experiments", limit=100)["data"]
        for candidate in experiments:
            if candidate.get("name") == name:
                rows = get(base, f"/v1/experiments/{candidate['id']}/json")
                break
        else:
            continue
        break
    else:
        fail(f"no experiment named {name!r} in Phoenix")
    labels = Counter()
    by_user = defaultdict(Counter)
    for row in rows:
        match = [a for a in row["annotations"] if a["name"] == "output_match"]
        if len(match) != 1:
            fail(f"row {row['input']} has {len(match)} output_match annotations")
        labels[match[0]["label"]] += 1
        by_user[row["input"]["user"]][match[0]["label"]] += 1
    for clause in expect.split(","):
        key, _, value = clause.partition(":") if ":" in clause else ("", "", clause)
        if key:  # user:label -> that user has at least one row with that label
            if by_user[key][value] == 0:
                fail(f"experiment {name!r}: no {value} row for {key}; labels by user {dict(by_user)}")
        else:
            wanted, _, count = value.partition("=")
            if labels[wanted] != int(count) or sum(labels.values()) != int(count):
                fail(f"experiment {name!r}: expected {value} on every row, got {dict(labels)}")
    print(f"evals: experiment {name!r}: {dict(labels)}")


if __name__ == "__main__":
    command, *rest = sys.argv[1:]
    {"wait": wait, "filtered": filtered, "leaky": leaky, "production": production, "experiment": experiment}[command](*rest)
