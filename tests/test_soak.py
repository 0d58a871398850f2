"""tools/soak.py: a tiny soak (seconds, tens of connections) keeps its code paths alive; the verdict
it reaches from a report is checked on made-up figures."""

import importlib.util
import json
import os
import subprocess
import sys

import pytest

SOAK = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools", "soak.py")

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the server's RSS in /proc")


def load_soak():
    spec = importlib.util.spec_from_file_location("soak", SOAK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tiny_soak_runs_every_scenario_and_verifies_every_echo(tmp_path):
    report_path = tmp_path / "report.json"
    tiny = "--idle 12 --echo 2 --slow 1 --hostile 1 --duration 3 --accept-delay 0.1 --flood-frames 20000"
    tiny += " --early-bytes 44000 --ping-flood 500 --unread-messages 3 --unread-hold 0.5 --slow-messages 4"
    # Loose RSS and latency bounds: a server that does not yet bound what hostile peers make it hold
    # (and a busy machine, and RSS noise over 12 connections) still pass the tiny run; the bounds are
    # tested on the verdict below.
    loose = ["--max-rss-mib", "4096", "--max-stall", "30", "--max-idle-kib", "1024", "--max-idle-deflate-kib", "1024"]
    command = [sys.executable, SOAK, *tiny.split(), *loose, "--json", str(report_path)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(report_path.read_text())
    assert report["failures"] == []
    assert set(load_soak().HOSTILE_SCENARIOS) <= set(report["outcomes"])
    assert report["mix"]["ping_rtt_seconds"]["count"] > 0
    for scenario in ("echo", "echo-deflate", "slow-reader", "idle", "idle-deflate", "final"):
        verified, expected = report["echoes"][scenario]
        assert verified == expected > 0, scenario
    assert report["idle_deflate"]["deflate_agreed"] == 12 and report["idle"]["deflate_agreed"] == 0
    assert report["mix"]["rss_peak_kib"] >= report["mix"]["rss_start_kib"] > 0


def passing_report(soak):
    """A report and tally as a clean run leaves them, with room under every bound."""
    args = soak.parse_args(["--ci"])
    tally = soak.Tally()
    tally.echo("echo", b"x", b"x")
    tally.outcome("echo", "closed")
    tally.outcome("deflate-bomb", "close 1009")
    idle = {"kib_per_connection": 10.0}
    mix = {"rss_peak_kib": 100 * 1024, "server_alive": True, "server_exit_status": 0, "final_echo": "ok"}
    mix.update(stuck_tasks=0, ping_rtt_seconds={"median": 0.001, "max": 0.01, "server_max": 0.01, "count": 10})
    report = {"idle": dict(idle), "idle_deflate": dict(idle), "mix": mix, "bounds": {"max_rss_kib": 200 * 1024}}
    expected = {"deflate-bomb": {"close 1009"}}
    return args, report, tally, expected


def test_verdict_passes_a_clean_report():
    soak = load_soak()
    assert soak.verdict(*passing_report(soak)) == []


@pytest.mark.parametrize(
    "spoil, failure",
    [
        (lambda report, tally: tally.echo("echo", b"sent", b"sen"), "echo: 1 of 2 echoes verified"),
        (lambda report, tally: tally.echo("echo", "text", b"text"), "echo: 1 of 2 echoes verified"),
        (lambda report, tally: tally.outcome("deflate-bomb", "close 1006"), "deflate-bomb: 1 x close 1006"),
        (lambda report, tally: tally.outcome("echo", "TimeoutError"), "echo: 1 x TimeoutError"),
        (lambda report, tally: report["mix"].update(rss_peak_kib=300 * 1024), "server peak RSS 300 MiB, bound 200"),
        (lambda report, tally: report["idle_deflate"].update(kib_per_connection=999.0), "idle_deflate: 999.0 KiB"),
        (lambda report, tally: report["mix"].update(server_alive=False, server_exit_status=-11), "exit status -11"),
        (lambda report, tally: report["mix"].update(final_echo="ConnectionRefusedError"), "echo after the mix failed"),
        (lambda report, tally: report["mix"]["ping_rtt_seconds"].update(server_max=9.5), "took 9.5 s to answer"),
    ],
)
def test_verdict_names_each_failure(spoil, failure):
    soak = load_soak()
    args, report, tally, expected = passing_report(soak)
    spoil(report, tally)
    failures = soak.verdict(args, report, tally, expected)
    assert len(failures) == 1 and failure in failures[0], failures


def test_rss_bound_counts_the_idle_holders_at_their_bounds():
    soak = load_soak()
    args = soak.parse_args(["--max-idle-kib", "40", "--max-idle-deflate-kib", "160", "--base-rss-mib", "50"])
    args.hostile_allowance_mib = 100
    assert soak.rss_bound_kib(args, 1000) == 150 * 1024 + 500 * (40 + 160)
    args.max_rss_mib = 64
    assert soak.rss_bound_kib(args, 1000) == 64 * 1024


def test_server_stall_leaves_out_the_load_process_own_lag():
    soak = load_soak()
    latencies = [(10.0, 0.01), (20.0, 3.0), (30.0, 1.5)]  # (sent, round trip)
    lags = [(20.5, 2.5), (40.0, 5.0)]  # this process stalled 2.5 s during the second ping, later 5 s
    assert soak.server_stall(latencies, lags) == 1.5
