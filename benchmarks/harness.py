"""The benchmark machinery shared by every workload module: timing, statistics, selection, tables, JSON.

A workload module describes *what* to measure as :class:`Family` objects (one table each) holding
:class:`Bench` objects (one implementation on one input); this module decides *how*: it checks each
implementation's output once, times it, and reports. Nothing here knows about WebSocket.
"""

from __future__ import annotations

import gc
import itertools
import json
import os
import platform
import statistics
import sys
import sysconfig
import time
from dataclasses import dataclass, field, replace
from typing import Callable

SIMD_FLAGS = ("sse2", "ssse3", "sse4_1", "avx2", "avx512bw", "avx512vbmi")


@dataclass(frozen=True)
class Settings:
    """How long to measure: ``repeats`` timed runs of an inner loop lasting about ``repeat_ns`` each."""

    repeats: int
    repeat_ns: int

    @classmethod
    def for_mode(cls, quick: bool) -> Settings:
        """Full runs: 7 repeats of ~25 ms; quick (CI smoke) runs: 3 repeats of ~1 ms."""
        return cls(repeats=3, repeat_ns=1_000_000) if quick else cls(repeats=7, repeat_ns=25_000_000)


@dataclass
class Bench:
    """One implementation on one input.

    ``stmt`` is timed in a loop with the names of ``namespace`` bound as local variables (as timeit
    does; names must not start with "_"), so the measurement includes the call itself and nothing of
    the harness. ``check`` runs the
    implementation once and raises if its output is wrong; a bench that fails it is reported as an error
    row, never timed. ``nbytes`` is the input size, for throughput. ``reference`` benches are measured
    whenever their workload is selected, because other rows are compared with them; ``peer`` marks
    another library's implementation. ``items`` counts what one call processes (messages, handshakes)
    for rate columns; ``prepare(bench)``, when given, builds large inputs on first use (filling
    ``namespace``, ``nbytes`` and ``items``) so that unselected workloads cost nothing. ``external``, when
    given, replaces the timed loop: it measures elsewhere (e.g. in other processes) and returns the time
    per call of each of ``settings.repeats`` repeats.
    """

    workload: str
    implementation: str
    nbytes: int
    stmt: str
    namespace: dict
    check: Callable[[], None]
    reference: bool = False
    peer: bool = False
    items: int = 0
    prepare: Callable[[Bench], None] | None = None
    external: Callable[[Settings], list[float]] | None = None


@dataclass
class Result:
    """A measured bench: per-call times (ns) of each repeat, or the error that stopped it; minor page
    faults of the process per call over the timed repeats (None where getrusage is missing)."""

    bench: Bench
    loops: int = 0
    per_call_ns: list[float] = field(default_factory=list)
    error: str | None = None
    faults_per_call: float | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def median_ns(self) -> float:
        return statistics.median(self.per_call_ns)

    @property
    def min_ns(self) -> float:
        return min(self.per_call_ns)

    def gbps(self, ns: float) -> float:
        """Throughput in GB/s (10**9 bytes per second) for a call lasting ns: bytes per nanosecond."""
        return self.bench.nbytes / ns

    def rate(self, ns: float) -> float:
        """Items (messages, handshakes...) per second for a call lasting ns."""
        return self.bench.items * 1e9 / ns


@dataclass(frozen=True)
class Baseline:
    """A ratio column: ``pick`` chooses, among the results of one workload, the row the others are compared with."""

    label: str
    pick: Callable[[list[Result]], Result | None]


@dataclass(frozen=True)
class TargetCheck:
    """A performance goal and whether this run met it (None: not measured, e.g. a peer is missing)."""

    goal: str
    measured: str
    met: bool | None


@dataclass
class Family:
    """A group of workloads shown as one table, with its ratio columns, notes and performance goals."""

    name: str
    title: str
    benches: list[Bench]
    baselines: list[Baseline]
    targets: Callable[[Results], list[TargetCheck]]
    notes: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    repeats: int | None = None  # overrides Settings.repeats for long calls (whole streams)
    rate_unit: str | None = None  # e.g. "msg/s": adds rate columns from Bench.items
    show_faults: bool = False  # adds a page-faults-per-call column
    # The rows of a workload take turns, one repeat each (see take_turns); False measures each row at once,
    # for rows whose every repeat would pay a long setup again (external ones start processes per call).
    interleaved: bool = True


class Results:
    """The results of one family, looked up by workload and implementation."""

    def __init__(self, results: list[Result]):
        self.all = results
        self._by_key = {(r.bench.workload, r.bench.implementation): r for r in results}

    def get(self, workload: str, implementation: str) -> Result | None:
        """The successful result of implementation on workload, or None if it was not measured or failed."""
        result = self._by_key.get((workload, implementation))
        return result if result is not None and result.ok else None

    def workloads(self) -> list[str]:
        return list(dict.fromkeys(r.bench.workload for r in self.all))

    def of_workload(self, workload: str) -> list[Result]:
        return [r for r in self.all if r.bench.workload == workload]


def by_name(implementation: str) -> Callable[[list[Result]], Result | None]:
    """A Baseline picker choosing the row of one named implementation."""

    def pick(results: list[Result]) -> Result | None:
        return next((r for r in results if r.ok and r.bench.implementation == implementation), None)

    return pick


def fastest_peer(results: list[Result]) -> Result | None:
    """A Baseline picker choosing the peer row with the lowest median time."""
    peers = [r for r in results if r.ok and r.bench.peer]
    return min(peers, key=lambda r: r.median_ns, default=None)


# --- selection ---------------------------------------------------------------------------------------


def select(families: list[Family], patterns: list[str]) -> list[Family]:
    """Keeps the benches that ``--only`` patterns ask for.

    A pattern (case-insensitive substring) that matches some workload name selects workloads; any other
    pattern selects implementations. A bench runs when its workload is selected (or no workload pattern
    was given) and its implementation is selected (or none was given, or it is a reference row).
    Raises ValueError naming the patterns that match nothing.
    """
    if not patterns:
        return families
    patterns = [p.lower() for p in patterns]
    benches = [b for f in families for b in f.benches]
    workload_patterns = [p for p in patterns if any(p in b.workload.lower() for b in benches)]
    implementation_patterns = [p for p in patterns if p not in workload_patterns]
    unmatched = [p for p in implementation_patterns if not any(p in b.implementation.lower() for b in benches)]
    if unmatched:
        raise ValueError(f"--only: no workload or implementation matches {', '.join(unmatched)}")

    def wanted(bench: Bench) -> bool:
        workload_ok = not workload_patterns or any(p in bench.workload.lower() for p in workload_patterns)
        implementation_ok = (
            not implementation_patterns
            or bench.reference
            or any(p in bench.implementation.lower() for p in implementation_patterns)
        )
        return workload_ok and implementation_ok

    selected = [replace(f, benches=[b for b in f.benches if wanted(b)]) for f in families]
    return [f for f in selected if f.benches]


# --- timing ------------------------------------------------------------------------------------------

_TIMER_SOURCE = """
def timer(_loops, _clock=_clock, _repeat=_repeat, {bindings}):
    _t0 = _clock()
    for _ in _repeat(None, _loops):
        {stmt}
    return _clock() - _t0
"""


def _make_timer(bench: Bench) -> Callable[[int], int]:
    """Compiles a loop running bench.stmt n times with its names as fast locals; returns elapsed ns."""
    bindings = ", ".join(f"{name}={name}" for name in bench.namespace)
    namespace = dict(bench.namespace, _clock=time.perf_counter_ns, _repeat=itertools.repeat)
    exec(_TIMER_SOURCE.format(bindings=bindings, stmt=bench.stmt), namespace)
    return namespace["timer"]


def _calibrate(timer: Callable[[int], int], repeat_ns: int) -> int:
    """The loop count making one run last about repeat_ns; its growing trial runs double as warm-up."""
    loops = 1
    while True:
        elapsed = timer(loops)
        if elapsed >= repeat_ns // 10:
            return max(1, round(loops * repeat_ns / elapsed))
        loops *= 10


class _Timing:
    """A bench ready to be timed, one repeat at a time: its output checked, loop count calibrated, warmed up."""

    def __init__(self, bench: Bench, settings: Settings) -> None:
        self.result = Result(bench)
        self.faults: int | None = 0
        try:
            if bench.prepare is not None:
                bench.prepare(bench)
            bench.check()
        except Exception as exc:  # a wrong or broken implementation becomes an error row
            self.result.error = f"output check failed: {type(exc).__name__}: {exc}"
            return
        self._settings = settings
        if bench.external is not None:
            self.result.loops, self.faults = 1, None
            return
        self._timer = _make_timer(bench)
        self._run(lambda: self._warm_up(settings.repeat_ns), "failed while calibrated")

    def _warm_up(self, repeat_ns: int) -> None:
        self.result.loops = _calibrate(self._timer, repeat_ns)
        self._timer(self.result.loops)

    def repeat(self, count: int = 1) -> None:
        """Times ``count`` more repeats (nothing once the bench has failed); an external bench measures
        them in one call."""
        if self.result.ok:
            self._run(lambda: self._time(count), "failed" if self.result.bench.external else "failed while timed")

    def _time(self, count: int) -> None:
        bench, result = self.result.bench, self.result
        if bench.external is not None:
            result.per_call_ns += bench.external(replace(self._settings, repeats=count))
            return
        faults_before = minor_faults()
        result.per_call_ns += [self._timer(result.loops) / result.loops for _ in range(count)]
        faults_after = minor_faults()
        if self.faults is None or faults_before is None or faults_after is None:
            self.faults = None
        else:
            self.faults += faults_after - faults_before

    def _run(self, step: Callable[[], None], failure: str) -> None:
        """Runs ``step`` with the cyclic garbage collector off; an exception fails the bench (no half a row)."""
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            step()
        except Exception as exc:
            self.result.error, self.result.per_call_ns = f"{failure}: {type(exc).__name__}: {exc}", []
        finally:
            if gc_was_enabled:
                gc.enable()

    def finished(self) -> Result:
        result = self.result
        if result.ok and self.faults is not None and result.per_call_ns:
            result.faults_per_call = self.faults / (result.loops * len(result.per_call_ns))
        return result


def measure(bench: Bench, settings: Settings) -> Result:
    """Checks bench's output, then times it: calibration, one warm-up run, ``settings.repeats`` runs."""
    timing = _Timing(bench, settings)
    timing.repeat(settings.repeats)
    return timing.finished()


def minor_faults() -> int | None:
    """This process's minor page faults so far (getrusage ru_minflt), None where there is no resource module."""
    try:
        import resource
    except ImportError:
        return None
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def run(families: list[Family], settings: Settings, progress=None) -> list[Results]:
    """Measures every bench of every family, showing progress on ``progress`` (stderr): which bench is
    being readied, then its outcome and the elapsed time of the run. The rows of a workload take turns
    (see :func:`take_turns`) where the family is ``interleaved``, else each is measured at once."""
    progress = progress or sys.stderr
    total = sum(len(f.benches) for f in families)
    done = itertools.count(1)
    started = time.perf_counter()
    measured = []
    for family in families:
        family_settings = replace(settings, repeats=family.repeats) if family.repeats else settings
        groups = _by_workload(family.benches) if family.interleaved else [[bench] for bench in family.benches]
        results = []
        for group in groups:
            numbers = [next(done) for _ in group]
            for number, bench in zip(numbers, group):
                print(f"[{number}/{total}] {family.name}: {bench.workload} | {bench.implementation} ...", file=progress, flush=True)
            group_results = take_turns(group, family_settings) if family.interleaved else [measure(group[0], family_settings)]
            results += group_results
            for number, result in zip(numbers, group_results):
                outcome = f"ERROR {result.error}" if not result.ok else f"median {format_ns(result.median_ns)}"
                elapsed = time.perf_counter() - started
                print(f"[{number}/{total}]   {result.bench.implementation}: {outcome} ({elapsed:.0f} s elapsed)", file=progress, flush=True)
        measured.append(Results(results))
    return measured


def _by_workload(benches: list[Bench]) -> list[list[Bench]]:
    """The benches grouped by workload, groups and benches in their first order."""
    groups: dict[str, list[Bench]] = {}
    for bench in benches:
        groups.setdefault(bench.workload, []).append(bench)
    return list(groups.values())


def take_turns(group: list[Bench], settings: Settings) -> list[Result]:
    """Readies every bench of ``group`` (output check, calibration, warm-up), then times ``settings.repeats``
    rounds of one repeat per bench, round r starting at bench r (mod the group's size): each row sees the
    machine at every stage of the measurement and at every place in the order, so that drift and passing
    load reach the rows of a workload alike instead of skewing their ratios. One result per bench, in the
    group's order; a bench that fails is left out of later rounds and keeps no repeat."""
    timings = [_Timing(bench, settings) for bench in group]
    for turn in range(settings.repeats):
        shift = turn % len(timings)
        for timing in timings[shift:] + timings[:shift]:
            timing.repeat()
    return [timing.finished() for timing in timings]


class CountedNote(str):
    """A family note written from counts that later measurements of the same row add to (see add_counts)."""

    key: str
    counts: list[int]


def add_counts(notes: list[str], key: str, counts: list[int], render: Callable[[list[int]], str]) -> None:
    """Adds ``counts`` to those of the note ``key`` in ``notes`` (element by element; a new note if there is
    none yet) and writes it as ``render(totals)``: one note for a row that an interleaved run measures in turns."""
    index = len(notes)
    for i, note in enumerate(notes):
        if isinstance(note, CountedNote) and note.key == key:
            index, counts = i, [a + b for a, b in itertools.zip_longest(note.counts, counts, fillvalue=0)]
            break
    else:
        notes.append("")
    note = CountedNote(render(counts))
    note.key, note.counts = key, counts
    notes[index] = note


# --- targets -----------------------------------------------------------------------------------------


def speed_check(goal: str, subject: Result | None, baseline: Result | None, at_least: float) -> TargetCheck:
    """Met when subject's median speed is at least at_least × baseline's (speed = 1 / time); the ratio of the
    minimums is shown too, as a hint of how much noise there was."""
    if subject is None or baseline is None:
        return TargetCheck(goal, "not measured", None)
    speed = baseline.median_ns / subject.median_ns
    measured = (
        f"{speed:.2f}× ({format_ns(subject.median_ns)} vs {format_ns(baseline.median_ns)} "
        f"{baseline.bench.implementation}); minimums: {baseline.min_ns / subject.min_ns:.2f}×"
    )
    return TargetCheck(goal, measured, speed >= at_least)


# --- formatting --------------------------------------------------------------------------------------


def format_ns(ns: float) -> str:
    """A duration with a unit that keeps 3-4 significant digits: 83.2 ns, 1.24 µs, 22.3 ms."""
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.3g} {unit}" if ns / scale < 100 else f"{ns / scale:.0f} {unit}"
    return f"{ns:.3g} ns" if ns < 100 else f"{ns:.0f} ns"


def format_size(nbytes: int) -> str:
    """125 B, 4 KiB, 1 MiB (exact binary units when they fit)."""
    for unit, scale in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if nbytes >= scale and nbytes % scale == 0:
            return f"{nbytes // scale} {unit}"
    return f"{nbytes} B"


def _format_gbps(gbps: float) -> str:
    return f"{gbps:.3g}" if gbps < 100 else f"{gbps:.0f}"


def format_rate(rate: float) -> str:
    """A rate with 3 significant digits and a k/M suffix: 912, 45.3k, 1.27M."""
    for suffix, scale in (("M", 1e6), ("k", 1e3)):
        if rate >= scale:
            return f"{rate / scale:.3g}{suffix}"
    return f"{rate:.3g}"


def ratios(family: Family, results: Results) -> dict[int, list[float | None]]:
    """For each result (by id), its speed relative to each baseline row of its workload: baseline median time
    / its median time, so above 1 means faster than the baseline; None when either is missing."""
    table = {}
    for workload in results.workloads():
        rows = results.of_workload(workload)
        picked = [baseline.pick(rows) for baseline in family.baselines]
        for result in rows:
            table[id(result)] = [base.median_ns / result.median_ns if base and result.ok else None for base in picked]
    return table


def markdown_table(family: Family, results: Results) -> str:
    """The family's results as a Markdown table, one row per bench, workloads in declaration order."""
    header = ["workload", "implementation", "median", "min"]
    if family.rate_unit:
        header += [f"{family.rate_unit} (median)", f"{family.rate_unit} (min time)"]
    header += ["GB/s (median)", "GB/s (min)"]
    if family.show_faults:
        header.append("page faults/call")
    header += [baseline.label for baseline in family.baselines]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * 2 + "---:|" * (len(header) - 2)]
    speeds = ratios(family, results)
    for result in results.all:
        name = result.bench.implementation + (" (reference)" if result.bench.reference else "")
        if not result.ok:
            cells = [result.bench.workload, name, f"ERROR: {result.error}"] + [""] * (len(header) - 3)
        else:
            cells = [result.bench.workload, name, format_ns(result.median_ns), format_ns(result.min_ns)]
            if family.rate_unit:
                cells += [format_rate(result.rate(result.median_ns)), format_rate(result.rate(result.min_ns))]
            cells += [_format_gbps(result.gbps(result.median_ns)), _format_gbps(result.gbps(result.min_ns))]
            if family.show_faults:
                cells.append("?" if result.faults_per_call is None else f"{result.faults_per_call:.3g}")
            cells += [f"{speed:.2f}×" if speed is not None else "–" for speed in speeds[id(result)]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def baseline_notes(family: Family, results: Results) -> list[str]:
    """Which row each ratio column compares with, per workload when that differs (e.g. the fastest peer)."""
    notes = []
    for baseline in family.baselines:
        picked = {w: baseline.pick(results.of_workload(w)) for w in results.workloads()}
        names = {r.bench.implementation if r else "nothing" for r in picked.values()}
        if len(names) == 1:
            notes.append(f"{baseline.label}: compared with {names.pop()}.")
        else:
            each = "; ".join(f"{w}: {r.bench.implementation if r else 'nothing'}" for w, r in picked.items())
            notes.append(f"{baseline.label}: compared with {each}.")
    return notes


def targets_table(checks: list[TargetCheck]) -> str:
    """The performance goals as a Markdown table: goal, measured, met / NOT met."""
    verdicts = {True: "met", False: "**NOT met**", None: "not measured"}
    lines = ["| goal | measured | verdict (on medians) |", "|---|---|---|"]
    lines += [f"| {c.goal} | {c.measured} | {verdicts[c.met]} |" for c in checks]
    return "\n".join(lines)


# --- allocator -------------------------------------------------------------------------------------

MMAP_THRESHOLD = 32 << 20  # glibc's largest allowed value on 64-bit
TRIM_THRESHOLD = 256 << 20


def fix_malloc_thresholds() -> str:
    """Sets glibc's mmap threshold (32 MiB) and trim threshold (256 MiB) in this process with mallopt.

    By default glibc serves blocks over 128 KiB with mmap until a freed one raises its dynamic threshold,
    so 1 MiB messages are mmapped, page-faulted and unmapped per message or not, depending on what ran
    before: a 4x swing. Fixed thresholds keep them on the heap for every row. Returns what was done.
    """
    import ctypes
    import ctypes.util

    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        return "glibc defaults (no mallopt here)"
    if mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) != 1 or mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) != 1:
        return "glibc defaults (mallopt refused)"
    return (
        f"mallopt(M_MMAP_THRESHOLD, {MMAP_THRESHOLD >> 20} MiB) and mallopt(M_TRIM_THRESHOLD, {TRIM_THRESHOLD >> 20} MiB) "
        "in the benchmark process (fixed, not glibc's dynamic threshold; --malloc dynamic to compare)"
    )


# --- machine and JSON --------------------------------------------------------------------------------


def _cpuinfo() -> dict[str, str]:
    """The first processor's entries of /proc/cpuinfo (Linux); empty elsewhere."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            text = f.read().split("\n\n", 1)[0]
    except OSError:
        return {}
    entries = (line.partition(":") for line in text.splitlines())
    return {key.strip(): value.strip() for key, sep, value in entries if sep}


def machine_info() -> dict:
    """CPU model, core counts, SIMD flags, OS and the Python build, for the report header and the JSON."""
    cpuinfo = _cpuinfo()
    flags = cpuinfo.get("flags", "").split()
    try:
        usable_cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable_cores = os.cpu_count()
    return {
        "cpu": cpuinfo.get("model name") or platform.processor() or platform.machine(),
        "logical_cores": os.cpu_count(),
        "usable_cores": usable_cores,
        "simd_flags": [flag for flag in SIMD_FLAGS if flag in flags] if flags else None,
        "os": platform.platform(),
        "python": {
            "version": platform.python_version(),
            "implementation": platform.python_implementation(),
            "build": " ".join(platform.python_build()),
            "compiler": platform.python_compiler(),
            "free_threaded": bool(sysconfig.get_config_var("Py_GIL_DISABLED")),
            "executable": sys.executable,
        },
    }


def machine_lines(machine: dict) -> list[str]:
    """The machine part of the report header, one Markdown list item per line."""
    flags = " ".join(machine["simd_flags"]) if machine["simd_flags"] is not None else "unknown (no /proc/cpuinfo)"
    python = machine["python"]
    build = "free-threaded" if python["free_threaded"] else "GIL"
    return [
        f"- CPU: {machine['cpu']}, {machine['logical_cores']} logical cores ({machine['usable_cores']} usable)",
        f"- SIMD flags: {flags}",
        f"- OS: {machine['os']}",
        f"- Python: {python['implementation']} {python['version']} ({python['build']}; {python['compiler']}; {build})",
    ]


def family_json(family: Family, results: Results, checks: list[TargetCheck]) -> dict:
    """Everything about one family's run, for the JSON file."""
    speeds = ratios(family, results)
    rows = []
    for result in results.all:
        row = {
            "workload": result.bench.workload,
            "implementation": result.bench.implementation,
            "bytes": result.bench.nbytes,
            "items": result.bench.items,
            "statement": result.bench.stmt,
            "reference": result.bench.reference,
            "peer": result.bench.peer,
            "error": result.error,
        }
        if result.ok:
            row.update(
                loops_per_repeat=result.loops,
                per_call_ns=result.per_call_ns,
                median_ns=result.median_ns,
                min_ns=result.min_ns,
                gbps_median=result.gbps(result.median_ns),
                gbps_max=result.gbps(result.min_ns),
                rate_median=result.rate(result.median_ns) if result.bench.items else None,
                faults_per_call=result.faults_per_call,
                speed_vs={b.label: speed for b, speed in zip(family.baselines, speeds[id(result)])},
            )
        rows.append(row)
    return {
        "name": family.name,
        "title": family.title,
        "rate_unit": family.rate_unit,
        "notes": family.notes,
        "skipped": family.skipped,
        "rows": rows,
        "targets": [{"goal": c.goal, "measured": c.measured, "met": c.met} for c in checks],
    }


def write_json(path: str, document: dict) -> None:
    """Writes document as indented JSON, creating the directory."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(document, f, indent=2, ensure_ascii=False)
        f.write("\n")
