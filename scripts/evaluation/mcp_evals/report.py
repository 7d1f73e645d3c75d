"""The summary of an evaluation run: a plain-text table and a PNG plot of the pass rate per
evaluator and tool."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field


@dataclass
class Tally:
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    labels: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    @property
    def evaluated(self) -> int:
        return self.passed + self.failed

    @property
    def rate(self) -> float | None:
        return self.passed / self.evaluated if self.evaluated else None


def table(tallies: dict[tuple[str, str], Tally]) -> str:
    """One line per evaluator and tool: passed, failed, skipped, pass rate, labels seen."""
    header = ("evaluator", "tool", "passed", "failed", "skipped", "pass rate", "labels")
    rows = []
    for (evaluator, tool), tally in sorted(tallies.items()):
        rate = "-" if tally.rate is None else f"{tally.rate:.0%}"
        labels = ", ".join(f"{label}={n}" for label, n in sorted(tally.labels.items())) or "-"
        rows.append((evaluator, tool, str(tally.passed), str(tally.failed), str(tally.skipped), rate, labels))
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def plot(tallies: dict[tuple[str, str], Tally], path: str, title: str) -> None:
    """Grouped bars: for each tool, the pass rate of each evaluator that ran on it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    evaluators = sorted({evaluator for evaluator, _ in tallies})
    tools = sorted({tool for _, tool in tallies})
    width = 0.8 / max(len(evaluators), 1)
    fig, ax = plt.subplots(figsize=(max(7.0, 1.8 * len(tools) + 3.5), 4.2), dpi=100)
    for i, evaluator in enumerate(evaluators):
        xs, rates, notes = [], [], []
        for j, tool in enumerate(tools):
            tally = tallies.get((evaluator, tool))
            if tally is None or tally.rate is None:
                continue
            xs.append(j + (i - (len(evaluators) - 1) / 2) * width)
            rates.append(tally.rate * 100)
            notes.append(f"{tally.passed}/{tally.evaluated}")
        bars = ax.bar(xs, rates, width, label=evaluator)
        for bar, note in zip(bars, notes):
            ax.annotate(note, (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                        ha="center", va="bottom", fontsize=7)
    ax.set_xticks(range(len(tools)), tools, rotation=15, ha="right")
    ax.set_ylim(0, 112)
    ax.set_ylabel("pass rate (%)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
