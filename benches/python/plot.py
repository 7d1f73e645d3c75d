"""Plots throughput vs concurrency for both servers from the compare binary's results.json.

Usage: python plot.py results.json out.png
Each point is the median of the runs; the bars span min..max.
"""

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

LABELS = {"rust": "Rust reference server (rmcp)", "python": "Python FastMCP peer"}


def main() -> None:
    results_path, out_path = sys.argv[1], sys.argv[2]
    with open(results_path) as f:
        results = json.load(f)
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=120)
    for server, style in (("rust", "o-"), ("python", "s--")):
        rows = sorted(
            (s for s in results["summary"] if s["server"] == server), key=lambda s: s["clients"]
        )
        if not rows:
            continue
        x = [r["clients"] for r in rows]
        med = [r["throughput"]["median"] for r in rows]
        low = [r["throughput"]["median"] - r["throughput"]["min"] for r in rows]
        high = [r["throughput"]["max"] - r["throughput"]["median"] for r in rows]
        ax.errorbar(x, med, yerr=[low, high], fmt=style, capsize=4, label=LABELS[server])
    config = results["config"]
    ax.set_xscale("log", base=2)
    ax.set_xticks(config["levels"])
    ax.set_xticklabels([str(c) for c in config["levels"]])
    ax.set_xlabel("concurrent MCP clients (one Streamable HTTP session each)")
    ax.set_ylabel("requests per second (median, min-max bars)")
    ax.set_title(
        f"Throughput vs concurrency, {config['runs']} runs x {config['duration_s']:g} s, "
        f"tracing sampled at {config['sampling']:g}",
        fontsize=10,
    )
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out_path)


if __name__ == "__main__":
    main()
