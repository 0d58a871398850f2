"""Broadcast over loopback: one server process sends each message to many connections of a receiver process.

Each library runs its own server (wsframe: ``wsframe.asyncio.broadcast``; websockets: its ``broadcast``;
picows and aiohttp: a loop of ``send`` over the connections, awaited per connection on aiohttp, whose
``send_bytes`` is a coroutine). The receivers are the same for every library: one process holding all
the connections on plain asyncio Protocols with wsframe's sans-I/O client, which checks every message
(sequence number and content) on every connection. A round: the parent tells the server (on its stdin)
to broadcast ``count`` binary messages, yielding to the event loop after each; the server writes the
monotonic clock when it starts, the receiver process when the last connection got the last message
(``CLOCK_MONOTONIC`` is one clock for all processes); the time per broadcast is their difference over
``count``. The servers run without compression (the peers' defaults differ).

Also runnable by hand: ``python -m benchmarks.fanout server LIB`` then ``... receive PORT CONNECTIONS``.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

from wsframe.connection import ClientConnection
from wsframe.events import AcceptConnection, BytesMessage, Request

from .echo import HOST, ROOT, _child_env, _importable, _new_loop, _size_name, loop_name
from .harness import Baseline, Bench, Family, Results, TargetCheck, fastest_peer, speed_check
from .peers import Missing, load

SIZES = (32, 4096)
LIBRARIES = ("wsframe", "websockets", "aiohttp", "picows")
SERVER_LIFETIME = 600  # seconds
START_TIMEOUT = 60
ROUND_TIMEOUT = 60


@dataclass(frozen=True)
class Bounds:
    """Connections, and broadcasts per round for each size (kept under 1 MiB per connection)."""

    connections: int
    count: dict[int, int]

    @classmethod
    def for_mode(cls, quick: bool) -> Bounds:
        if quick:
            return cls(100, {32: 50, 4096: 20})
        return cls(1000, {32: 1000, 4096: 200})


def message(sequence: int, size: int) -> bytes:
    """Broadcast number ``sequence``: its number in 4 bytes, then a fixed pattern (at least 4 bytes)."""
    return sequence.to_bytes(4, "big") + _pattern(size)[4:]


_PATTERNS: dict[int, bytes] = {}


def _pattern(size: int) -> bytes:
    if size not in _PATTERNS:
        _PATTERNS[size] = random.Random(size).randbytes(max(size, 4))
    return _PATTERNS[size]


def _raise_open_files_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# --- servers (run in the server process): each returns (port, connections, send_all, close) ----------


async def _wsframe_server():
    ws_asyncio = load("wsframe.asyncio")
    server = await ws_asyncio.serve(_hold_open, HOST, 0, compression=None)

    async def send_all(data):
        ws_asyncio.broadcast(server.connections, data)

    return server.port, lambda: len(server.connections), send_all, server.close


async def _hold_open(ws):
    async for _message in ws:
        pass


async def _websockets_server():
    server_module = load("websockets.asyncio.server")
    server = await server_module.serve(_hold_open, HOST, 0, compression=None, max_size=None)

    async def send_all(data):
        server_module.broadcast(server.connections, data)

    return server.sockets[0].getsockname()[1], lambda: len(server.connections), send_all, server.close


async def _aiohttp_server():
    web = load("aiohttp.web")
    connections = set()

    async def handler(request):
        ws = web.WebSocketResponse(compress=False)
        await ws.prepare(request)
        connections.add(ws)
        try:
            async for _message in ws:
                pass
        finally:
            connections.discard(ws)
        return ws

    app = web.Application()
    app.router.add_get("/", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, HOST, 0, backlog=2048).start()

    async def send_all(data):
        for ws in list(connections):
            await ws.send_bytes(data)

    return runner.addresses[0][1], lambda: len(connections), send_all, runner.cleanup


async def _picows_server():
    picows = load("picows")
    transports = set()

    class Listener(picows.WSListener):
        def on_ws_connected(self, transport):
            transports.add(transport)

        def on_ws_disconnected(self, transport):
            transports.discard(transport)

        def on_ws_frame(self, transport, frame):
            if frame.msg_type == picows.WSMsgType.CLOSE:
                transport.send_close(frame.get_close_code())
                transport.disconnect()

    server = await picows.ws_create_server(lambda request: Listener(), HOST, 0, backlog=2048)
    binary = picows.WSMsgType.BINARY

    async def send_all(data):
        for transport in transports:
            transport.send(binary, data)

    return server.sockets[0].getsockname()[1], lambda: len(transports), send_all, server.close


SERVERS = {
    "wsframe": _wsframe_server,
    "websockets": _websockets_server,
    "aiohttp": _aiohttp_server,
    "picows": _picows_server,
}


async def _serve(library: str) -> None:
    """Prints ``PORT n``; then per stdin line ``go SIZE COUNT`` broadcasts and prints ``START ns``;
    ``connections`` prints ``CONNECTIONS n``; exits at stdin EOF or after SERVER_LIFETIME seconds."""
    _raise_open_files_limit()
    port, connected, send_all, close = await SERVERS[library]()
    loop = asyncio.get_running_loop()
    commands: asyncio.Queue = asyncio.Queue()

    def read_stdin():
        for line in sys.stdin:
            loop.call_soon_threadsafe(commands.put_nowait, line.split())
        loop.call_soon_threadsafe(commands.put_nowait, None)

    threading.Thread(target=read_stdin, daemon=True).start()
    print(f"PORT {port}", flush=True)
    deadline = loop.time() + SERVER_LIFETIME
    while True:
        try:
            command = await asyncio.wait_for(commands.get(), max(0.0, deadline - loop.time()))
        except asyncio.TimeoutError:
            break
        if command is None:
            break
        if command[0] == "connections":
            print(f"CONNECTIONS {connected()}", flush=True)
        elif command[0] == "go":
            size, count = int(command[1]), int(command[2])
            messages = [message(sequence, size) for sequence in range(count)]
            print(f"START {time.monotonic_ns()}", flush=True)
            for data in messages:
                await send_all(data)
                await asyncio.sleep(0)  # let the transports and the rest of the loop run
    result = close()
    if asyncio.iscoroutine(result):
        await result


# --- the receiver process ------------------------------------------------------------------------


class Receiver(asyncio.Protocol):
    """One receiving connection: checks that the messages of a round are 0, 1, ... with the right bytes."""

    def __init__(self, group: ReceiverGroup) -> None:
        self.group = group
        self.connection = ClientConnection(deflate=None, max_message_size=None)
        self.opened = asyncio.get_running_loop().create_future()
        self.expected = 0

    def connection_made(self, transport) -> None:
        self.transport = transport
        transport.write(self.connection.send(Request(host=HOST, target="/")))

    def data_received(self, data) -> None:
        connection = self.connection
        connection.receive_data(data)
        for event in connection.events():
            if type(event) is BytesMessage:
                self.check(event.data)
            elif isinstance(event, AcceptConnection):
                self.opened.set_result(None)
        pending = connection.data_to_send()
        if pending:
            self.transport.write(pending)

    def check(self, data: bytes) -> None:
        group = self.group
        if data != message(self.expected, group.size):
            group.failed(f"message {self.expected} of a round arrived wrong: {data[:16]!r}...")
            return
        self.expected += 1
        if self.expected == group.count:
            group.finished()

    def connection_lost(self, exc) -> None:
        if not self.group.closing:
            self.group.failed(f"a receiving connection was lost: {exc}")


class ReceiverGroup:
    """All the receiving connections; ``finished()`` by each at the end of a round."""

    def __init__(self, total: int) -> None:
        self.total = total  # connections
        self.size = self.count = 0
        self.done = 0
        self.closing = False
        self.round_over: asyncio.Future | None = None

    def start_round(self, size: int, count: int, receivers) -> asyncio.Future:
        self.size, self.count, self.done = size, count, 0
        for receiver in receivers:
            receiver.expected = 0
        self.round_over = asyncio.get_running_loop().create_future()
        return self.round_over

    def finished(self) -> None:
        self.done += 1
        if self.done == self.total and not self.round_over.done():
            self.round_over.set_result(time.monotonic_ns())

    def failed(self, reason: str) -> None:
        if self.round_over is not None and not self.round_over.done():
            self.round_over.set_exception(AssertionError(reason))


async def _receive(port: int, connections: int) -> None:
    """Opens the connections and prints ``READY``; per stdin line ``round SIZE COUNT`` prints ``DONE ns``
    when every connection has the round's messages, or ``FAILED reason``."""
    _raise_open_files_limit()
    loop = asyncio.get_running_loop()
    group = ReceiverGroup(connections)
    receivers = []
    for start in range(0, connections, 100):  # in batches: the listen backlog
        batch = [
            loop.create_connection(lambda: Receiver(group), HOST, port)
            for _ in range(min(100, connections - start))
        ]
        for _transport, receiver in await asyncio.gather(*batch):
            receivers.append(receiver)
        await asyncio.wait_for(asyncio.gather(*(r.opened for r in receivers[start:])), START_TIMEOUT)
    print("READY", flush=True)
    lines: asyncio.Queue = asyncio.Queue()

    def read_stdin():
        for line in sys.stdin:
            loop.call_soon_threadsafe(lines.put_nowait, line.split())
        loop.call_soon_threadsafe(lines.put_nowait, None)

    threading.Thread(target=read_stdin, daemon=True).start()
    while (command := await lines.get()) is not None:
        round_over = group.start_round(int(command[1]), int(command[2]), receivers)
        print("ARMED", flush=True)
        try:
            print(f"DONE {await asyncio.wait_for(round_over, ROUND_TIMEOUT)}", flush=True)
        except (AssertionError, asyncio.TimeoutError) as exc:
            print(f"FAILED {type(exc).__name__}: {exc}", flush=True)
            break
    group.closing = True
    for receiver in receivers:
        receiver.transport.close()


# --- the parent side -----------------------------------------------------------------------------


class _Process:
    """A child process spoken to by lines on stdin and stdout, stopped (stdin closed, then killed) at exit."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.fanout", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=_child_env(),
            text=True,
            cwd=ROOT,
        )

    def send(self, line: str) -> None:
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def expect(self, word: str, timeout: float) -> str:
        """The rest of the next stdout line, which must start with ``word``; RuntimeError otherwise."""
        timer = threading.Timer(timeout, self.process.kill)
        timer.start()
        try:
            line = self.process.stdout.readline()
        finally:
            timer.cancel()
        if not line.startswith(word):
            self.process.kill()
            raise RuntimeError(f"expected {word}, got {line.strip()!r}: {self.process.stderr.read().strip()[-500:]}")
        return line[len(word) :].strip()

    def stop(self) -> None:
        if self.process.poll() is None:
            try:
                self.process.stdin.close()
                self.process.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait()
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            if not stream.closed:
                stream.close()


def measure_broadcast(library: str, size: int, bounds: Bounds, repeats: int) -> list[float]:
    """ns per broadcast (to ``bounds.connections`` connections) of each repeat, after one warm-up round."""
    count = bounds.count[size]
    server = _Process("server", library)
    receiver = None
    try:
        port = server.expect("PORT ", START_TIMEOUT)
        receiver = _Process("receive", port, str(bounds.connections))
        receiver.expect("READY", START_TIMEOUT + bounds.connections / 10)
        server.send("connections")
        connected = int(server.expect("CONNECTIONS ", START_TIMEOUT))
        if connected != bounds.connections:
            raise RuntimeError(f"the server holds {connected} connections, not {bounds.connections}")
        per_broadcast_ns = []
        for repeat in range(repeats + 1):  # the first one warms up
            receiver.send(f"round {size} {count}")
            receiver.expect("ARMED", ROUND_TIMEOUT)
            server.send(f"go {size} {count}")
            started = int(server.expect("START ", ROUND_TIMEOUT))
            done = int(receiver.expect("DONE ", ROUND_TIMEOUT + 5))
            if repeat:
                per_broadcast_ns.append((done - started) / count)
        return per_broadcast_ns
    finally:
        if receiver is not None:
            receiver.stop()
        server.stop()


def workload_name(size: int, connections: int) -> str:
    return f"broadcast {_size_name(size)} to {connections:,}"


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
                    workload=workload_name(size, bounds.connections),
                    implementation=library,
                    nbytes=size * bounds.connections,
                    stmt="",
                    namespace={},
                    check=_checked_by_receivers,
                    peer=library != "wsframe",
                    items=1,
                    external=lambda settings, library=library, size=size: measure_broadcast(
                        library, size, bounds, settings.repeats
                    ),
                )
            )
    benches.sort(key=lambda bench: SIZES.index(bench.nbytes // bounds.connections))
    return [
        Family(
            name="broadcast",
            title=f"Broadcast to {bounds.connections:,} connections over loopback (receivers in another process)",
            benches=benches,
            baselines=[Baseline("× fastest peer", fastest_peer)],
            targets=lambda results: broadcast_targets(results, bounds.connections),
            notes=[
                f"A repeat is one round of {bounds.count[32]:,} (32 B) or {bounds.count[4096]:,} (4 KiB) binary "
                "broadcasts, the server yielding to its event loop after each; timed from the server's start to the "
                "last message at the last receiver (CLOCK_MONOTONIC in both processes); one warm-up round first. "
                "Every message is checked on every connection. No compression. wsframe: wsframe.asyncio.broadcast; "
                "websockets: websockets.asyncio.server.broadcast; picows: a loop of transport.send; aiohttp: a loop "
                f"of await ws.send_bytes. Event loop: {loop_name()}.",
                "The machine has 2 cores shared by the server and the receiver process.",
            ],
            skipped=skipped,
            repeats=repeats,
            rate_unit="broadcasts/s",
        )
    ]


def broadcast_targets(results: Results, connections: int) -> list[TargetCheck]:
    checks = []
    for size in SIZES:
        workload = workload_name(size, connections)
        peer = fastest_peer(results.of_workload(workload))
        goal = f"{workload}: wsframe ≥ 2× the fastest peer"
        checks.append(speed_check(goal, results.get(workload, "wsframe"), peer, 2.0))
    return checks


def _checked_by_receivers() -> None:
    """The receiver process checks every message on every connection; nothing to check beforehand."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fanout", description="a side of the broadcast benchmark")
    sub = parser.add_subparsers(dest="role", required=True)
    server = sub.add_parser("server")
    server.add_argument("library", choices=LIBRARIES)
    receive = sub.add_parser("receive")
    receive.add_argument("port", type=int)
    receive.add_argument("connections", type=int)
    args = parser.parse_args(argv)
    loop = _new_loop()
    try:
        if args.role == "server":
            loop.run_until_complete(_serve(args.library))
        else:
            loop.run_until_complete(_receive(args.port, args.connections))
    finally:
        loop.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
