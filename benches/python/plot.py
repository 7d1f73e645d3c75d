"""Plots throughput vs concurrency from the compare binary's results.json: the Rust reference
server and the Python FastMCP peer with each client kind, and the bare-axum HTTP ceiling.

Usage: python plot.py results.json out.png
Each point is the median of the runs; the bars span min..max. The y axis is logarithmic: the
ceiling and the Python peer are two orders of magnitude apart.
"""

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

SERVERS = {
    "rust": ("Rust reference server", "tab:blue"),
    "rust-untraced": ("Rust reference server, tracing off", "tab:cyan"),
    "python": ("Python FastMCP peer", "tab:orange"),
    "ceiling": ("bare axum ceiling", "tab:gray"),
    "rmcp-bare": ("bare rmcp server (no layers)", "tab:green"),
}
MODES = {
    "keep-alive": ("kept-alive HTTP, whole responses", "o-"),
    "stateless": ("kept-alive HTTP, stateless 2026-07-28", "^-."),
    "rmcp": ("rmcp client", "s--"),
}


def main() -> None:
    results_path, out_path = sys.argv[1], sys.argv[2]
    with open(results_path) as f:
        results = json.load(f)
    fig, ax = plt.subplots(figsize=(8, 5), dpi=120)
    for server, (server_label, color) in SERVERS.items():
        for mode, (mode_label, style) in MODES.items():
            rows = sorted(
                (
                    s
                    for s in results["summary"]
                    if s["server"] == server and s.get("mode", "rmcp") == mode
                ),
                key=lambda s: s["clients"],
            )
            if not rows:
                continue
            x = [r["clients"] for r in rows]
            med = [r["throughput"]["median"] for r in rows]
            low = [r["throughput"]["median"] - r["throughput"]["min"] for r in rows]
            high = [r["throughput"]["max"] - r["throughput"]["median"] for r in rows]
            label = f"{server_label}, {mode_label}"
            ax.errorbar(
                x, med, yerr=[low, high], fmt=style, color=color, capsize=3, label=label
            )
    config = results["config"]
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(config["levels"])
    ax.set_xticklabels([str(c) for c in config["levels"]])
    ax.set_xlabel("concurrent clients (one connection and one MCP session each)")
    ax.set_ylabel("requests per second (median, min-max bars, log scale)")
    ax.set_title(
        f"Throughput vs concurrency, {config['runs']} runs x {config['duration_s']:g} s, "
        f"tracing sampled at {config['sampling']:g}",
        fontsize=10,
    )
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(out_path)


if __name__ == "__main__":
    main()
