"""Command line: run the selected workloads and print a Markdown report; write every figure as JSON."""

from __future__ import annotations

import argparse
import json
import os
import sys

from . import echo, fanout, harness, kernels, peers, report, streams, uvicorn_echo

WORKLOAD_MODULES = (kernels, streams, echo, fanout, uvicorn_echo)
DEFAULT_JSON = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "latest.json")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few seconds: short and few repeats")
    parser.add_argument(
        "--only",
        metavar="PATTERNS",
        default="",
        help="comma-separated substrings of workload names (e.g. 'mask,1 MiB') and/or implementation "
        "names (e.g. 'native,aiohttp'); reference rows always run with their workload",
    )
    parser.add_argument("--json", metavar="PATH", default=DEFAULT_JSON, help="where to write all results (default: %(default)s)")
    parser.add_argument(
        "--compare",
        metavar="OLD.json",
        help="show the change of every row against an earlier run's JSON; exit status 1 when a wsframe row's "
        "median time per message grew by more than --tolerance",
    )
    parser.add_argument(
        "--tolerance",
        type=float,
        default=15.0,
        metavar="PERCENT",
        help="the slowdown --compare accepts before calling it a regression (default: %(default)g%%)",
    )
    parser.add_argument("--no-charts", action="store_true", help="do not write the PNG charts (written next to --json otherwise)")
    parser.add_argument(
        "--malloc",
        choices=("fixed", "dynamic"),
        default="fixed",
        help="fixed (default): set glibc's mmap and trim thresholds with mallopt in this process, so that large "
        "messages do not swing with its dynamic threshold; dynamic: leave glibc's defaults",
    )
    return parser.parse_args(argv)


def report_header(
    machine: dict, wsframe: dict, peer_versions: dict, tool_versions: dict, settings: harness.Settings, allocator: str
) -> list[str]:
    return [
        "# wsframe benchmarks",
        "",
        *harness.machine_lines(machine),
        *peers.library_lines(wsframe, peer_versions, tool_versions),
        f"- timing: time.perf_counter_ns, GC off; per row a warm-up, then {settings.repeats} repeats of a loop "
        f"lasting ~{settings.repeat_ns / 1e6:g} ms; the rows of a workload take turns, one repeat each, each "
        "round starting one row later (drift and passing load reach them alike); median and minimum over the "
        "repeats of the time per call; "
        "GB/s = 10^9 bytes/s; × columns = speed relative to the named row of the same workload "
        "(its median time / this row's: above 1 is faster); msg/s = messages per second of a whole stream "
        "(median time; 'min time': its fastest repeat).",
        f"- allocator: {allocator}",
    ]


def main(argv: list[str] | None = None) -> int:
    """Runs the benchmarks; returns the exit status (1: a regression against --compare; 2: bad arguments)."""
    args = parse_args(argv)
    old_document = None
    if args.compare:
        try:
            with open(args.compare, encoding="utf-8") as f:
                old_document = json.load(f)
        except (OSError, ValueError) as exc:
            print(f"--compare: cannot read {args.compare}: {exc}", file=sys.stderr)
            return 2
    settings = harness.Settings.for_mode(args.quick)
    families = [family for module in WORKLOAD_MODULES for family in module.families(quick=args.quick)]
    try:
        families = harness.select(families, [p.strip() for p in args.only.split(",") if p.strip()])
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    machine, wsframe, peer_versions = harness.machine_info(), peers.wsframe_info(), peers.peer_versions()
    tool_versions = peers.tool_versions()
    allocator = harness.fix_malloc_thresholds() if args.malloc == "fixed" else "glibc defaults (dynamic mmap threshold)"
    lines = report_header(machine, wsframe, peer_versions, tool_versions, settings, allocator)
    measured = harness.run(families, settings)

    all_checks, family_documents = [], []
    for family, results in zip(families, measured):
        checks = family.targets(results)
        all_checks += checks
        family_documents.append(harness.family_json(family, results, checks))
        lines += ["", f"## {family.title}", "", harness.markdown_table(family, results), ""]
        lines += [f"- {note}" for note in harness.baseline_notes(family, results) + family.notes + family.skipped]
    unmeasured = [f"- not measured in this run: {c.goal}" for c in all_checks if c.met is None]
    lines += ["", "## Targets", "", harness.targets_table([c for c in all_checks if c.met is not None]), ""]
    lines += unmeasured + ([""] if unmeasured else [])
    document = {
        "machine": machine,
        "wsframe": wsframe,
        "peers": peer_versions,
        "tools": tool_versions,
        "settings": {
            "quick": args.quick,
            "only": args.only,
            "repeats": settings.repeats,
            "repeat_ns": settings.repeat_ns,
            "allocator": allocator,
        },
        "families": family_documents,
    }
    status = 0
    if old_document is not None:
        changes, notes = report.compare(old_document, document)
        tolerance = args.tolerance / 100
        lines += report.comparison_lines(args.compare, changes, notes, tolerance) + [""]
        status = 1 if report.regressions(changes, tolerance) else 0
    harness.write_json(args.json, document)
    lines.append(f"All figures: {args.json}")
    if not args.no_charts:
        charts = report.write_charts(document, os.path.dirname(os.path.abspath(args.json)))
        if charts is None:
            lines.append("Charts: not written (matplotlib is not installed; `pip install .[bench]`).")
        else:
            lines.append(f"Charts: {', '.join(charts) or 'none (no rows measured)'}")
    print("\n".join(lines))
    return status


if __name__ == "__main__":
    sys.exit(main())
