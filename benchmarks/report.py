"""What is made from a run's JSON document: the comparison with an earlier run, and one chart per family."""

from __future__ import annotations

import os
from dataclasses import dataclass

from .harness import format_ns, format_rate


@dataclass(frozen=True)
class Change:
    """One row present in both runs: its time per item (per call when it counts no items) before and now."""

    family: str
    workload: str
    implementation: str
    old_ns: float
    new_ns: float
    guarded: bool  # a wsframe row: a slowdown beyond the tolerance fails the comparison

    @property
    def speed(self) -> float:
        """New speed relative to the old one: above 1 is faster."""
        return self.old_ns / self.new_ns


def _per_item_ns(row: dict) -> float:
    # Stream workloads have fewer messages in quick runs: compare time per message, not per stream.
    return row["median_ns"] / row["items"] if row.get("items") else row["median_ns"]


def _rows(document: dict) -> dict:
    return {
        (family["name"], row["workload"], row["implementation"]): row
        for family in document["families"]
        for row in family["rows"]
        if row.get("error") is None and "median_ns" in row
    }


def compare(old: dict, new: dict) -> tuple[list[Change], list[str]]:
    """The rows measured in both documents, and notes on what cannot be compared."""
    old_rows, new_rows = _rows(old), _rows(new)
    changes = [
        Change(
            *key,
            old_ns=_per_item_ns(old_rows[key]),
            new_ns=_per_item_ns(new_rows[key]),
            guarded=not row["peer"] and not row["reference"],
        )
        for key, row in new_rows.items()
        if key in old_rows
    ]
    notes = []
    if old.get("settings", {}).get("quick") != new.get("settings", {}).get("quick"):
        notes.append("one run is --quick and the other is not: streams differ in length, so times per message are compared, with caution")
    only_new = len([key for key in new_rows if key not in old_rows])
    if only_new:
        notes.append(f"{only_new} rows are new (not in the earlier run)")
    if old.get("machine", {}).get("cpu") != new.get("machine", {}).get("cpu"):
        notes.append(f"different CPUs: {old.get('machine', {}).get('cpu')} then, {new.get('machine', {}).get('cpu')} now")
    return changes, notes


def regressions(changes: list[Change], tolerance: float) -> list[Change]:
    """wsframe rows whose median time per item grew by more than ``tolerance`` (0.15: 15%)."""
    return [c for c in changes if c.guarded and c.new_ns > c.old_ns * (1 + tolerance)]


def comparison_lines(path: str, changes: list[Change], notes: list[str], tolerance: float) -> list[str]:
    """The comparison as a Markdown section."""
    failed = {id(c) for c in regressions(changes, tolerance)}
    lines = [
        f"## Compared with {path}",
        "",
        f"Median time per message (per call where a row counts no messages), earlier run → this run. A wsframe row "
        f"more than {tolerance:.0%} slower is a regression (exit status 1); peer rows are shown as a gauge of the "
        "machine's noise and never fail.",
        "",
        "| family | workload | implementation | earlier | now | change | verdict |",
        "|---|---|---|---:|---:|---:|---|",
    ]
    for c in changes:
        if id(c) in failed:
            verdict = "**REGRESSION**"
        elif c.guarded:
            verdict = "ok"
        else:
            verdict = "peer"
        change = f"{(c.speed - 1) * 100:+.1f}% speed"
        lines.append(
            f"| {c.family} | {c.workload} | {c.implementation} | {format_ns(c.old_ns)} | {format_ns(c.new_ns)} | {change} | {verdict} |"
        )
    lines.append("")
    lines += [f"- {note}" for note in notes]
    lines.append(f"- {len(failed)} regression(s) beyond {tolerance:.0%} among {sum(c.guarded for c in changes)} wsframe rows compared.")
    return lines


# --- charts ------------------------------------------------------------------------------------------

COLORS = {"native": "#1f4e99", "fallback": "#7fa6e0", "reference": "#999999", "peer": "#e08a3c"}


def _color(row: dict) -> str:
    if row["reference"]:
        return COLORS["reference"]
    if row["peer"]:
        return COLORS["peer"]
    return COLORS["fallback"] if "fallback" in row["implementation"] else COLORS["native"]


def write_charts(document: dict, directory: str) -> list[str] | None:
    """One PNG per family in ``directory``: per workload, a bar per implementation (its rate, or GB/s, at the
    median, with a tick at the fastest repeat). Returns the paths, or None when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    os.makedirs(directory, exist_ok=True)
    paths = []
    for family in document["families"]:
        rows = [row for row in family["rows"] if row.get("error") is None and "median_ns" in row]
        if not rows:
            continue
        unit = family.get("rate_unit")

        def value(row, ns):
            return row["items"] * 1e9 / ns if unit else row["bytes"] / ns

        workloads = list(dict.fromkeys(row["workload"] for row in rows))
        heights = [0.7 + 0.3 * sum(row["workload"] == w for row in rows) for w in workloads]
        figure, axes = plt.subplots(
            len(workloads), 1, figsize=(10, sum(heights) + 0.8), squeeze=False, gridspec_kw={"height_ratios": heights}
        )
        for axis, workload in zip(axes[:, 0], workloads):
            selected = [row for row in rows if row["workload"] == workload]
            names = [row["implementation"] for row in selected]
            medians = [value(row, row["median_ns"]) for row in selected]
            bests = [value(row, row["min_ns"]) for row in selected]
            positions = range(len(selected))
            axis.barh(positions, medians, color=[_color(row) for row in selected])
            axis.plot(bests, positions, "|", color="black", markersize=8)
            axis.set_yticks(list(positions), names, fontsize=8)
            axis.invert_yaxis()
            if max(bests) > 20 * min(medians):  # wide spreads only: a log axis exaggerates small differences
                axis.set_xscale("log")
            else:
                axis.set_xlim(0, max(bests) * 1.15)
            axis.set_title(workload, fontsize=9, loc="left")
            axis.tick_params(axis="x", labelsize=8)
            for position, median, best in zip(positions, medians, bests):  # the label right of the tick
                axis.annotate(format_rate(median), (max(median, best), position), xytext=(4, 0), textcoords="offset points", va="center", fontsize=7)
        axes[-1, 0].set_xlabel(f"{unit or 'GB/s'} (bar: median; tick: fastest repeat; log scale where the spread is wide)", fontsize=8)
        figure.suptitle(family["title"], fontsize=10)
        figure.tight_layout()
        path = os.path.join(directory, f"{family['name']}.png")
        figure.savefig(path, dpi=100)
        plt.close(figure)
        paths.append(path)
    return paths
