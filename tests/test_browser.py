"""``python -m wsframe`` as a user runs it: the page and /stats over HTTP, Ctrl-C, and a real browser.

The browser test drives headless Chromium (``chromium``, ``chromium-browser`` or ``google-chrome`` on
PATH; skipped when there is none) through the demo page's ``?selftest=1`` round trip; it is marked
``browser`` so that ``-m "not browser"`` deselects it.
"""

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.request

import pytest

import wsframe
from wsframe.asyncio import connect

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def start_main(*options):
    """Starts ``python -m wsframe --port 0 [options]``; returns the process and the base URL it printed."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")])))
    process = subprocess.Popen(
        [sys.executable, "-m", "wsframe", "--port", "0", *options],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        # A default SIGINT handler even when the test runs in a background job (where SIGINT is ignored).
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    banner = process.stdout.readline()
    assert f"({wsframe.IMPLEMENTATION} hot path)" in banner, banner
    return process, banner.rsplit(" ", 1)[1].strip()


def stop(process, how=signal.SIGINT) -> str:
    process.send_signal(how)
    try:
        output, _ = process.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        raise
    assert process.returncode == 0
    return output


pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


def test_main_serves_the_page_and_stats_and_stops_on_ctrl_c():
    process, base = start_main()
    try:
        with urllib.request.urlopen(base, timeout=10) as response:
            page = response.read().decode()
        assert "<title>wsframe echo</title>" in page and "selftest" in page
        with urllib.request.urlopen(base + "stats", timeout=10) as response:
            stats = json.load(response)
        assert stats["implementation"] == wsframe.IMPLEMENTATION
        assert stats["messages_received"] == 0
    finally:
        output = stop(process)
    assert "closed" in output


def test_main_stops_on_sigterm():
    process, _base = start_main()
    assert "closed" in stop(process, signal.SIGTERM)


def test_main_selects_subprotocols_in_its_order_of_preference():
    process, base = start_main("--subprotocol", "chat.v2", "--subprotocol", "chat.v1")
    ws_url = base.replace("http://", "ws://", 1)

    async def negotiate(offer):
        async with connect(ws_url, subprotocols=offer) as ws:
            await ws.send("hello")
            assert await ws.recv() == "hello"
            return ws.subprotocol

    try:
        assert asyncio.run(negotiate(["chat.v1", "chat.v2"])) == "chat.v2"
        assert asyncio.run(negotiate(["chat.v1", "other"])) == "chat.v1"
        assert asyncio.run(negotiate(["other"])) is None
    finally:
        stop(process)


@pytest.mark.browser
def test_headless_chromium_round_trip():
    browser = next(filter(None, map(shutil.which, BROWSERS)), None)
    if browser is None:
        missing = f"no browser installed (looked for {', '.join(BROWSERS)}; e.g. apt-get install -y chromium)"
        if os.environ.get("WSFRAME_REQUIRE_BROWSER") == "1":  # CI installs one: a skip would hide that it failed
            pytest.fail(missing)
        pytest.skip(missing)
    # The page offers two subprotocols: Chromium fails the connection unless the server selects one.
    process, base = start_main("--subprotocol", "chat")
    try:
        with tempfile.TemporaryDirectory() as profile:
            result = subprocess.run(
                [
                    browser,
                    "--headless",
                    "--no-sandbox",  # as root, in containers
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--no-first-run",
                    f"--user-data-dir={profile}",
                    "--virtual-time-budget=20000",  # let the page's round trip finish before the dump
                    "--dump-dom",
                    base + "?selftest=1&subprotocol=superchat&subprotocol=chat",
                ],
                capture_output=True,
                text=True,
                timeout=90,
            )
    finally:
        stop(process)
    dom = result.stdout
    marker = '<pre id="result">'
    assert marker in dom, result.stderr[-2000:]
    outcome = dom.split(marker, 1)[1].split("</pre>", 1)[0]
    assert outcome.startswith("SELFTEST OK "), outcome[:2000]
    report = json.loads(outcome[len("SELFTEST OK ") :].replace("&quot;", '"').replace("&amp;", "&"))
    assert report["checks"] == [True, True, True]
    assert report["received"] == 3
    assert report["extensions"] == "permessage-deflate"
    assert report["subprotocol"] == "chat"
    assert report["stats"]["implementation"] == wsframe.IMPLEMENTATION
    assert report["stats"]["messages_received"] >= 3
    assert report["stats"]["bytes_received"] > 2**20
    assert report["stats"]["deflate_connections"] >= 1
