"""End-to-end echo over loopback: round trips per second, a client process against a server process.

Each library runs its own server and its own client (wsframe: ``wsframe.asyncio``; websockets: its asyncio
implementation; aiohttp: web server and ClientSession; picows: ws_create_server / ws_connect), on uvloop
when it is installed, else asyncio's default loop. The client sends binary messages one at a time, waits
for each echo and compares it with what it sent (a wrong echo fails the row); it reports the time per round
trip of each repeat. Everything is bounded: round trips per repeat, seconds per repeat, a timeout on the
client process; the server process exits when its stdin closes (so also when the benchmark dies) or after
``SERVER_LIFETIME`` seconds, and is killed if it lingers.

Also runnable by hand: ``python -m benchmarks.echo server LIB`` prints ``PORT n``;
``python -m benchmarks.echo client LIB PORT SIZE ROUNDS REPEATS SECONDS`` prints a JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

from .harness import Baseline, Bench, Family, Results, TargetCheck, fastest_peer
from .peers import Missing, load

SIZES = (256, 100 * 1024, 1024 * 1024)
LIBRARIES = ("wsframe", "wsframe-callback", "websockets", "aiohttp", "picows")
OWN = ("wsframe", "wsframe-callback")  # wsframe's async iterator and its on_message callback API; the rest are peers
SERVER_LIFETIME = 600  # seconds
SERVER_START_TIMEOUT = 30
HOST = "127.0.0.1"


@dataclass(frozen=True)
class Bounds:
    """Round trips per repeat (per size) and the seconds a repeat may last."""

    rounds: dict[int, int]
    seconds: float

    @classmethod
    def for_mode(cls, quick: bool) -> Bounds:
        if quick:
            return cls({256: 200, 100 * 1024: 50, 1024 * 1024: 10}, 0.5)
        return cls({256: 5_000, 100 * 1024: 1_000, 1024 * 1024: 200}, 3.0)


def loop_name() -> str:
    """uvloop when it is installed, else asyncio's default loop."""
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio"
    return "uvloop"


def _new_loop():
    if loop_name() == "uvloop":
        import uvloop

        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


# --- servers (run in the server process) ---------------------------------------------------------


async def _wsframe_server():
    ws_asyncio = load("wsframe.asyncio")

    async def echo(ws):
        async for message in ws:
            await ws.send(message)

    # wsframe negotiates permessage-deflate by default; the peers here run without it.
    server = await ws_asyncio.serve(echo, HOST, 0, compression=None)
    return server.port, server.close


async def _wsframe_callback_server():
    ws_asyncio = load("wsframe.asyncio")

    async def echo(ws):
        ws.on_message = lambda ws, message: ws.send_nowait(message)
        await ws.wait_closed()

    server = await ws_asyncio.serve(echo, HOST, 0, compression=None)
    return server.port, server.close


async def _websockets_server():
    serve = load("websockets.asyncio.server").serve

    async def echo(ws):
        async for message in ws:
            await ws.send(message)

    server = await serve(echo, HOST, 0, max_size=None, compression=None)
    return server.sockets[0].getsockname()[1], server.close


async def _aiohttp_server():
    web = load("aiohttp.web")

    async def handler(request):
        ws = web.WebSocketResponse(max_msg_size=0, compress=False)
        await ws.prepare(request)
        async for message in ws:
            if message.type == web.WSMsgType.BINARY:
                await ws.send_bytes(message.data)
            elif message.type == web.WSMsgType.TEXT:
                await ws.send_str(message.data)
        return ws

    app = web.Application()
    app.router.add_get("/", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, HOST, 0)
    await site.start()
    return runner.addresses[0][1], runner.cleanup


async def _picows_server():
    picows = load("picows")

    class Echo(picows.WSListener):
        def on_ws_frame(self, transport, frame):
            if frame.msg_type in (picows.WSMsgType.BINARY, picows.WSMsgType.TEXT):
                transport.send(frame.msg_type, frame.get_payload_as_bytes())
            elif frame.msg_type == picows.WSMsgType.CLOSE:
                transport.send_close(frame.get_close_code())
                transport.disconnect()

    server = await picows.ws_create_server(lambda request: Echo(), HOST, 0, max_frame_size=16 << 20)
    return server.sockets[0].getsockname()[1], server.close


SERVERS = {
    "wsframe": _wsframe_server,
    "wsframe-callback": _wsframe_callback_server,
    "websockets": _websockets_server,
    "aiohttp": _aiohttp_server,
    "picows": _picows_server,
}


async def serve_until_stdin_closes(start) -> None:
    """Runs the server ``start()`` starts (it returns ``(port, close)``), printing ``PORT n``, until stdin closes."""
    port, close = await start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def wait_for_stdin_eof():
        sys.stdin.read()
        loop.call_soon_threadsafe(stop.set)

    threading.Thread(target=wait_for_stdin_eof, daemon=True).start()
    print(f"PORT {port}", flush=True)
    try:
        await asyncio.wait_for(stop.wait(), SERVER_LIFETIME)
    except asyncio.TimeoutError:
        pass
    result = close()
    if asyncio.iscoroutine(result):
        await result


# --- clients (run in the client process) ---------------------------------------------------------


class Client:
    """One connection: ``round_trip(payload)`` sends a message and returns the echo."""

    async def open(self, url: str) -> None:
        raise NotImplementedError

    async def round_trip(self, payload: bytes) -> bytes:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError


class WsframeClient(Client):
    async def open(self, url):
        self.ws = await load("wsframe.asyncio").connect(url, compression=None)

    async def round_trip(self, payload):
        await self.ws.send(payload)
        return await self.ws.recv()

    async def close(self):
        await self.ws.close()


class WsframeCallbackClient(Client):
    async def open(self, url):
        self.ws = await load("wsframe.asyncio").connect(url, compression=None)
        self.waiter = None
        self.ws.on_message = self._on_message

    def _on_message(self, ws, message):
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(message)

    async def round_trip(self, payload):
        self.waiter = asyncio.get_running_loop().create_future()
        self.ws.send_nowait(payload)
        return await self.waiter

    async def close(self):
        await self.ws.close()


class WebsocketsClient(Client):
    async def open(self, url):
        connect = load("websockets.asyncio.client").connect
        self.ws = await connect(url, max_size=None, compression=None)

    async def round_trip(self, payload):
        await self.ws.send(payload)
        return await self.ws.recv()

    async def close(self):
        await self.ws.close()


class AiohttpClient(Client):
    async def open(self, url):
        aiohttp = load("aiohttp")
        self.session = aiohttp.ClientSession()
        self.ws = await self.session.ws_connect(url, max_msg_size=0, compress=0)

    async def round_trip(self, payload):
        await self.ws.send_bytes(payload)
        return (await self.ws.receive()).data

    async def close(self):
        await self.ws.close()
        await self.session.close()


class PicowsClient(Client):
    async def open(self, url):
        picows = load("picows")
        client = self
        self.binary = picows.WSMsgType.BINARY

        class Listener(picows.WSListener):
            def on_ws_frame(self, transport, frame):
                waiter = client.waiter
                if frame.msg_type == picows.WSMsgType.BINARY and waiter is not None and not waiter.done():
                    waiter.set_result(frame.get_payload_as_bytes())

        self.waiter = None
        self.transport, _ = await picows.ws_connect(Listener, url, max_frame_size=16 << 20)

    async def round_trip(self, payload):
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.send(self.binary, payload)
        return await self.waiter

    async def close(self):
        self.transport.send_close()
        self.transport.disconnect()


CLIENTS = {
    "wsframe": WsframeClient,
    "wsframe-callback": WsframeCallbackClient,
    "websockets": WebsocketsClient,
    "aiohttp": AiohttpClient,
    "picows": PicowsClient,
}


async def _run_client(library: str, port: int, size: int, rounds: int, repeats: int, seconds: float) -> dict:
    client = CLIENTS[library]()
    await client.open(f"ws://{HOST}:{port}/")
    rng = random.Random(size)
    payloads = [rng.randbytes(size), rng.randbytes(size)]  # alternated, so a stale echo is caught
    round_trip, clock = client.round_trip, time.perf_counter_ns
    per_round_trip_ns = []
    try:
        for repeat in range(repeats + 1):  # the first one warms up
            deadline = clock() + int(seconds * 1e9)
            started, done = clock(), 0
            while done < rounds and (done < 10 or clock() < deadline):
                payload = payloads[done & 1]
                echo = await round_trip(payload)
                if echo != payload:
                    raise AssertionError(f"round trip {done}: echo of {len(echo)} bytes differs from the {len(payload)} sent")
                done += 1
            if repeat:
                per_round_trip_ns.append((clock() - started) / done)
    finally:
        await client.close()
    return {"per_round_trip_ns": per_round_trip_ns, "rounds": rounds, "loop": loop_name()}


# --- the parent side: processes and the family ---------------------------------------------------


def _module_command(*args: str, module: str = "benchmarks.echo") -> list[str]:
    return [sys.executable, "-m", module, *args]


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _child_env() -> dict:
    """The parent's environment, with this checkout first on the path (for benchmarks and wsframe).

    The children also run in the checkout (``cwd=ROOT``): ``python -m`` puts the working directory first.
    """
    root = ROOT
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    return env


def measure_echo(library: str, size: int, bounds: Bounds, repeats: int) -> list[float]:
    """Starts the library's server process, runs its client process, returns ns per round trip per repeat.

    Raises RuntimeError with the processes' stderr when either fails; the server is always stopped.
    """
    client_args = [library, str(size), str(bounds.rounds[size]), str(repeats), str(bounds.seconds)]
    timeout = SERVER_START_TIMEOUT + (repeats + 1) * (bounds.seconds + 5)
    return measure_in_processes("benchmarks.echo", ["server", library], client_args, timeout)


def measure_in_processes(module: str, server_args: list[str], client_args: list[str], timeout: float) -> list[float]:
    """Runs ``python -m module *server_args`` (it prints ``PORT n``), then ``python -m module client ARG0
    PORT ARGS...`` from ``client_args``; returns the client's ``per_round_trip_ns``. See measure_echo."""
    env = _child_env()
    server = subprocess.Popen(
        _module_command(*server_args, module=module), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True, cwd=ROOT
    )
    try:
        timer = threading.Timer(SERVER_START_TIMEOUT, server.kill)
        timer.start()
        try:
            line = server.stdout.readline()
        finally:
            timer.cancel()
        if not line.startswith("PORT "):
            server.kill()
            raise RuntimeError(f"server did not start: {server.stderr.read().strip()[-500:] or line!r}")
        port = line.split()[1]
        client = subprocess.run(
            _module_command("client", client_args[0], port, *client_args[1:], module=module),
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT,
            timeout=timeout,
        )
        if client.returncode != 0:
            raise RuntimeError(f"client failed: {client.stderr.strip()[-500:]}")
        return json.loads(client.stdout.strip().splitlines()[-1])["per_round_trip_ns"]
    finally:
        if server.poll() is None:
            server.stdin.close()  # the server exits on stdin EOF
            try:
                server.wait(timeout=5)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        for stream in (server.stdin, server.stdout, server.stderr):
            if stream and not stream.closed:
                stream.close()


def _importable(library: str) -> None:
    """Raises Missing when the library's asyncio server/client modules do not import here."""
    modules = {
        "wsframe": ("wsframe.asyncio",),
        "wsframe-callback": ("wsframe.asyncio",),
        "websockets": ("websockets.asyncio.server", "websockets.asyncio.client"),
        "aiohttp": ("aiohttp.web",),
        "picows": ("picows",),
    }[library]
    for module in modules:
        load(module)


def _size_name(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size // (1024 * 1024)} MiB"
    return f"{size // 1024} KiB" if size >= 1024 else f"{size} B"


def workload_name(size: int) -> str:
    return f"echo {_size_name(size)} round trip"


def families(quick: bool = False) -> list[Family]:
    bounds = Bounds.for_mode(quick)
    repeats = 3 if quick else 5
    benches, skipped = [], []
    for library in LIBRARIES:
        try:
            _importable(library)
        except Missing as exc:
            skipped.append(f"skipped {library}: {exc}")
            continue
        for size in SIZES:
            benches.append(
                Bench(
                    workload=workload_name(size),
                    implementation=library,
                    nbytes=2 * size,
                    stmt="",
                    namespace={},
                    check=_checked_by_client,
                    peer=library not in OWN,
                    items=1,
                    external=lambda settings, library=library, size=size: measure_echo(library, size, bounds, settings.repeats),
                )
            )
    benches.sort(key=lambda b: SIZES.index(b.nbytes // 2))
    return [
        Family(
            name="echo",
            title="End-to-end echo over loopback (one connection, one message in flight)",
            benches=benches,
            baselines=[Baseline("× fastest peer", fastest_peer)],
            targets=echo_targets,
            notes=[
                f"Client and server are separate processes of this Python; event loop: {loop_name()} in both. "
                f"A repeat is {bounds.rounds[256]:,} round trips (256 B), {bounds.rounds[100 * 1024]:,} (100 KiB) or "
                f"{bounds.rounds[1024 * 1024]:,} (1 MiB), cut "
                f"short after {bounds.seconds:g} s; one warm-up repeat first. Binary messages; every echo is compared "
                "with what was sent. GB/s counts both directions. No compression.",
                "The machine has 2 cores shared by both processes: round trips include scheduling between them.",
            ],
            skipped=skipped,
            repeats=repeats,
            rate_unit="round trips/s",
        )
    ]


def _checked_by_client() -> None:
    """The client process compares every echo with what it sent; nothing to check beforehand."""


def echo_targets(results: Results) -> list[TargetCheck]:
    return []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.echo", description="one side of the echo benchmark")
    sub = parser.add_subparsers(dest="role", required=True)
    server = sub.add_parser("server")
    server.add_argument("library", choices=LIBRARIES)
    client = sub.add_parser("client")
    client.add_argument("library", choices=LIBRARIES)
    client.add_argument("port", type=int)
    client.add_argument("size", type=int)
    client.add_argument("rounds", type=int)
    client.add_argument("repeats", type=int)
    client.add_argument("seconds", type=float)
    args = parser.parse_args(argv)
    if args.role == "server":
        return run_side(serve=SERVERS[args.library])
    return run_side(measure=lambda: _run_client(args.library, args.port, args.size, args.rounds, args.repeats, args.seconds))


def run_side(serve=None, measure=None) -> int:
    """One side of a benchmark in its child process, on a fresh loop: ``serve`` (the coroutine function
    that starts a server) served until stdin closes, or ``measure()``'s result printed as JSON."""
    loop = _new_loop()
    try:
        if serve is not None:
            loop.run_until_complete(serve_until_stdin_closes(serve))
        else:
            print(json.dumps(loop.run_until_complete(measure())), flush=True)
    finally:
        loop.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
