"""``python -m wsframe --workers 2``: two server processes on one port, stopped together by a signal
to the parent, every client closed with 1001."""

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
import urllib.request

import pytest

import wsframe
from wsframe.asyncio import connect
from main_process import main_process
from wsframe.workers import BALANCED_REUSE_PORT, run_workers

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


@contextlib.contextmanager
def running_workers(count):
    """Runs ``python -m wsframe --workers COUNT --port 0``; yields the process, its URL and worker pids."""
    with main_process("--workers", str(count), "--port", "0") as (process, banner):
        assert f"({wsframe.IMPLEMENTATION} hot path, {count} workers, pids " in banner, banner
        pids = [int(pid) for pid in banner.split(" pids ", 1)[1].split(")", 1)[0].split()]
        yield process, banner.rsplit(" ", 1)[1].strip(), pids


def ended(pid):
    """Whether ``pid`` is gone or a zombie (a killed orphan waits there until its new parent reaps it)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True
    except OSError:  # no /proc
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False


def stats(base):
    with urllib.request.urlopen(base + "stats", timeout=10) as response:
        return json.load(response)


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_two_workers_share_the_port_and_stop_together_with_1001(how):
    with running_workers(2) as (process, base, pids):
        assert len(set(pids)) == 2 and process.pid not in pids
        if BALANCED_REUSE_PORT:  # the kernel spreads connections: both answer within a few requests
            seen = set()
            for _ in range(60):
                seen.add(stats(base)["pid"])
                if seen == set(pids):
                    break
            assert seen == set(pids)
        else:
            assert stats(base)["pid"] in pids

        async def clients():
            websockets = [await connect(base.replace("http", "ws", 1)) for _ in range(6)]
            for number, ws in enumerate(websockets):
                await ws.send(f"client {number}")
                assert await ws.recv() == f"client {number}"
            process.send_signal(how)
            for ws in websockets:
                await asyncio.wait_for(ws.wait_closed(), 20)
            return [ws.close_code for ws in websockets]

        assert asyncio.run(clients()) == [1001] * 6
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0
    assert output.count("closed") == 2 and "all workers stopped" in output
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_a_test_that_fails_before_its_stop_leaves_no_server_process_running():
    with pytest.raises(AssertionError, match="failed before its stop"):
        with running_workers(2) as (process, _base, pids):
            raise AssertionError("failed before its stop")
    assert process.returncode == -signal.SIGKILL  # killed and reaped
    deadline = time.monotonic() + 10
    while not all(map(ended, pids)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert all(map(ended, pids)), "a worker outlived its parent"


def _exit_at_once(sock, ready):
    ready()


def _fail_at_once(sock, ready):
    raise SystemExit(3)


def test_a_worker_that_dies_stops_the_others_with_status_1():
    assert run_workers(2, _exit_at_once, "127.0.0.1", 0) == 1


def test_a_worker_that_fails_to_start_ends_the_run_with_status_1_at_once():
    started = time.monotonic()
    assert run_workers(2, _fail_at_once, "127.0.0.1", 0) == 1
    assert time.monotonic() - started < 10  # not the 30 s allowed for starting
