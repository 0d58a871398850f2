"""Autobahn TestSuite conformance runs for wsframe, with kosoku (``pip install kosoku``, or the ``autobahn`` extra).

    python tools/autobahn.py --role server|client|both --impl native|fallback|both
                             [--cases PATTERN[,PATTERN...]] [--jobs N] [--report-dir DIR]

Each run (role x implementation) starts the echo peer of tools/autobahn_peers.py in a child process
(``WSFRAME_PURE_PYTHON=1`` selects the pure-Python fallback; the child prints which one is active and the
run checks it) and kosoku in another. Server role: kosoku's fuzzing client drives the echo server, one
case per call, each bounded by ``--case-timeout`` (kosoku has no timeouts of its own). Client role:
kosoku's fuzzing server serves the cases to the echo client, which bounds each case itself. Reports
(Autobahn JSON and HTML) go to ``DIR/<role>-<impl>/``; the summary counts every run's verdicts and lists
every case not OK. Exit status 1 when any run has a FAILED, UNIMPLEMENTED or NON-STRICT case, a closing handshake
verdict other than OK or INFORMATIONAL, or a case missing or timed out.
"""

from __future__ import annotations

import argparse
import asyncio
import fnmatch
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PEERS = ROOT / "tools" / "autobahn_peers.py"
VERDICTS = ("OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED", "FAILED")
# NON-STRICT too: the asyncio layer answers the messages that came before a protocol error first (3.2-3.4,
# 4.1.3-4.1.5, 4.2.3-4.2.5 and 5.15 were NON-STRICT while it failed on the read that held both).
BAD_VERDICTS = ("FAILED", "UNIMPLEMENTED", "NON-STRICT")
GOOD_CLOSE = ("OK", "INFORMATIONAL")

# Why these cases are not OK for wsframe (all graded INFORMATIONAL by the cases themselves).
EXPLAINED = {
    "7.1.6": "always INFORMATIONAL: both messages echoed, then the close answered; the case lists neither outcome",
    "7.13.1": "always INFORMATIONAL: close code 5000 is undefined by the RFC; refused with 1002",
    "7.13.2": "always INFORMATIONAL: close code 65535 is undefined by the RFC; refused with 1002",
}


def all_case_ids() -> list[str]:
    from kosoku.cases import CASES

    return list(CASES)


def select_cases(patterns: str) -> list[str]:
    globs = [p.strip() for p in patterns.split(",") if p.strip()]
    return [case for case in all_case_ids() if any(fnmatch.fnmatchcase(case, glob) for glob in globs)]


# -- the kosoku side, run in a child process ----------------------------------------------------------


async def drive_server(url: str, cases: list[str], case_timeout: float) -> tuple[list, list[str]]:
    """kosoku's fuzzing client against the server at ``url``: one case per call, each bounded."""
    import kosoku

    results, timed_out = [], []
    started = time.monotonic()
    for done, case in enumerate(cases):
        if done and done % 50 == 0:
            print(f"progress: {done}/{len(cases)} cases in {time.monotonic() - started:.0f} s", flush=True)
        try:
            results += await asyncio.wait_for(kosoku.run_fuzzingclient(url, [case]), case_timeout)
        except kosoku.FailureError as failure:
            results += failure.results
        except asyncio.TimeoutError:
            print(f"case {case}: no result within {case_timeout} s", flush=True)
            timed_out.append(case)
    return results, timed_out


async def drive_client(cases: list[str], run_timeout: float) -> list:
    """kosoku's fuzzing server for the client, which the parent starts once the port is printed."""
    import kosoku

    async with kosoku.run_fuzzingserver(cases, port=0) as server:
        print(f"port {server.port}", flush=True)
        try:
            return await asyncio.wait_for(server.get_result(), run_timeout)
        except kosoku.FailureError as failure:
            return failure.results


def kosoku_main(args) -> int:
    from kosoku._report import write_reports

    cases = args.case_ids.split(",")
    timed_out: list[str] = []
    if args.url:
        results, timed_out = asyncio.run(drive_server(args.url, cases, args.case_timeout))
    else:
        results = asyncio.run(drive_client(cases, args.run_timeout))
    out = Path(args.report_dir)
    write_reports(results, str(out))
    (out / "timed_out.json").write_text(json.dumps(timed_out))
    return 0


# -- the parent: runs, watchdogs, summary -------------------------------------------------------------


class Run:
    def __init__(self, role: str, impl: str, cases: list[str], report_dir: Path) -> None:
        self.role, self.impl, self.cases = role, impl, cases
        self.name = f"{role}-{impl}"
        self.dir = report_dir / self.name
        self.problems: list[str] = []  # what went wrong outside the verdicts (crash, timeout, wrong impl)
        self.seconds = 0.0

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.pop("WSFRAME_PURE_PYTHON", None)
        if self.impl == "fallback":
            env["WSFRAME_PURE_PYTHON"] = "1"
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        return env


class Child:
    """A child process whose output (stdout and stderr) is copied to the run's log as it comes.

    Lines starting with "progress" are shown on the console too; ``expect`` waits for a given line.
    """

    def __init__(self, run: Run, name: str, process, log) -> None:
        self.run, self.name, self.process, self.log = run, name, process, log
        self.lines: asyncio.Queue = asyncio.Queue()
        self.relay = asyncio.ensure_future(self._relay())

    @classmethod
    async def start(cls, run: Run, name: str, args, log) -> Child:
        process = await asyncio.create_subprocess_exec(
            sys.executable, *map(str, args), env=run.env(), cwd=ROOT,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )
        return cls(run, name, process, log)

    async def _relay(self) -> None:
        async for raw in self.process.stdout:
            self.log.write(raw)
            self.log.flush()
            line = raw.decode(errors="replace").strip()
            if line.startswith("progress"):
                print(f"[{self.run.name}] {line}", flush=True)
            self.lines.put_nowait(line)
        self.lines.put_nowait(None)

    async def expect(self, prefix: str, timeout: float = 30.0) -> str:
        """The next line starting with ``prefix``; RuntimeError if the child ends first."""
        while True:
            line = await asyncio.wait_for(self.lines.get(), timeout)
            if line is None:
                raise RuntimeError(f"{self.name} exited (status {await self.process.wait()}) before {prefix!r}")
            if line.startswith(prefix):
                return line

    async def wait(self) -> int:
        status = await self.process.wait()
        await self.relay
        return status

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.kill()
        await self.wait()


async def _check_impl(run: Run, peer: Child) -> None:
    line = await peer.expect("wsframe implementation:")
    print(f"[{run.name}] {line}", flush=True)
    if line != f"wsframe implementation: {run.impl}":
        raise RuntimeError(f"expected the {run.impl} implementation, the peer says {line!r}")


async def execute(run: Run, case_timeout: float, run_timeout: float) -> None:
    """One conformance run: peer and kosoku in child processes, logs and reports in ``run.dir``."""
    run.dir.mkdir(parents=True, exist_ok=True)
    for stale in run.dir.glob("*"):
        stale.unlink()
    driver = [Path(__file__), "--kosoku-child", "--case-ids", ",".join(run.cases), "--report-dir", run.dir]
    driver += ["--case-timeout", case_timeout, "--run-timeout", run_timeout]
    started = time.monotonic()
    children: list[Child] = []
    with (run.dir / "run.log").open("wb") as log:
        try:
            if run.role == "server":
                peer = await Child.start(run, "peer", [PEERS, "server", "--port", 0], log)
                children.append(peer)
                await _check_impl(run, peer)
                port = (await peer.expect("listening on port")).rsplit(" ", 1)[1]
                kosoku = await Child.start(run, "kosoku", driver + ["--url", f"ws://127.0.0.1:{port}"], log)
                children.append(kosoku)
                await asyncio.wait_for(kosoku.wait(), run_timeout)
            else:
                kosoku = await Child.start(run, "kosoku", driver, log)
                children.append(kosoku)
                port = (await kosoku.expect("port")).rsplit(" ", 1)[1]
                client = [PEERS, "client", "--url", f"ws://127.0.0.1:{port}", "--count", len(run.cases)]
                peer = await Child.start(run, "peer", client + ["--case-timeout", case_timeout], log)
                children.append(peer)
                await _check_impl(run, peer)
                await asyncio.wait_for(asyncio.gather(peer.wait(), kosoku.wait()), run_timeout)
            for child in children:
                if child.process.returncode:
                    run.problems.append(f"{child.name} exited with status {child.process.returncode}")
        except (RuntimeError, asyncio.TimeoutError) as exc:
            run.problems.append(f"{type(exc).__name__}: {exc}")
        finally:
            for child in children:
                await child.stop()
    run.seconds = time.monotonic() - started
    if run.problems:
        run.problems.append(f"see {run.dir / 'run.log'}")


def summarize(run: Run) -> bool:
    """Prints the run's counts and every case not OK; True when the run meets the bar."""
    index_file = run.dir / "index.json"
    index = next(iter(json.loads(index_file.read_text()).values()), {}) if index_file.exists() else {}
    timed_out = json.loads((run.dir / "timed_out.json").read_text()) if (run.dir / "timed_out.json").exists() else []
    counts = dict.fromkeys(VERDICTS, 0)
    bad = False
    lines = []
    for case in run.cases:
        entry = index.get(case)
        if entry is None:
            lines.append(f"  {case:8} MISSING" + (" (timed out)" if case in timed_out else ""))
            bad = True
            continue
        behavior, close = entry["behavior"], entry["behaviorClose"]
        counts[behavior] = counts.get(behavior, 0) + 1
        if behavior == "OK" and close == "OK":
            continue
        failing = behavior in BAD_VERDICTS or behavior not in VERDICTS or close not in GOOD_CLOSE
        bad |= failing
        note = EXPLAINED.get(case, "UNEXPLAINED") if not failing else _result_text(run, entry)
        lines.append(f"  {case:8} {behavior:13} close {close} ({entry['remoteCloseCode']}): {note}")
    shown = ", ".join(f"{verdict} {counts[verdict]}" for verdict in counts)
    print(f"\n{run.name}: {len(index)}/{len(run.cases)} cases in {run.seconds:.0f} s: {shown}")
    for problem in run.problems:
        print(f"  PROBLEM: {problem}")
    for line in lines:
        print(line)
    return not bad and not run.problems


def _result_text(run: Run, entry) -> str:
    case = json.loads((run.dir / entry["reportfile"]).read_text())
    return f"{case['result']} / {case['resultClose']}"


async def run_all(runs: list[Run], jobs: int, case_timeout: float, run_timeout: float) -> None:
    slots = asyncio.Semaphore(jobs)

    async def one(run: Run) -> None:
        async with slots:
            print(f"[{run.name}] started: {len(run.cases)} cases", flush=True)
            await execute(run, case_timeout, run_timeout)
            print(f"[{run.name}] finished in {run.seconds:.0f} s", flush=True)

    await asyncio.gather(*(one(run) for run in runs))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--role", choices=("server", "client", "both"), default="both")
    parser.add_argument("--impl", choices=("native", "fallback", "both"), default="both")
    parser.add_argument("--cases", default="*", help="comma-separated case ids or globs, e.g. '1.*,9.7.1'")
    parser.add_argument("--jobs", type=int, default=2, help="runs at the same time (default 2)")
    parser.add_argument("--report-dir", type=Path, default=ROOT / "reports" / "autobahn")
    parser.add_argument("--case-timeout", type=float, default=120.0, help="seconds per case (default 120)")
    parser.add_argument("--run-timeout", type=float, default=1800.0, help="seconds per run (default 1800)")
    # Internal: the kosoku child process.
    parser.add_argument("--kosoku-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--case-ids", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.kosoku_child:
        return kosoku_main(args)
    try:
        import kosoku  # noqa: F401
    except ImportError:
        sys.exit("kosoku is not installed: pip install kosoku (or pip install -e '.[autobahn]')")
    cases = select_cases(args.cases)
    if not cases:
        sys.exit(f"no case matches {args.cases!r}")
    roles = ("server", "client") if args.role == "both" else (args.role,)
    impls = ("native", "fallback") if args.impl == "both" else (args.impl,)
    runs = [Run(role, impl, cases, args.report_dir.resolve()) for impl in impls for role in roles]
    started = time.monotonic()
    asyncio.run(run_all(runs, max(1, args.jobs), args.case_timeout, args.run_timeout))
    passed = [summarize(run) for run in runs]
    verdict = "PASS" if all(passed) else "FAIL"
    print(f"\n{verdict}: {sum(passed)}/{len(runs)} runs meet the bar, {time.monotonic() - started:.0f} s in all")
    return 0 if all(passed) else 1


if __name__ == "__main__":
    sys.exit(main())
