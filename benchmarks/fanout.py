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

Two more kinds of rows: ``bare socket.send``, a reference (the kernel's floor): wsframe.asyncio does the
handshakes, then each broadcast is one non-blocking ``socket.send`` of the pre-built frame per receiver;
and wsframe in 1 and 2 worker processes (benchmarks/workers.py), each broadcasting to its own connections.

Also runnable by hand: ``python -m benchmarks.fanout server LIB`` then ``... receive PORT CONNECTIONS``.
"""

from __future__ import annotations

import asyncio
import os
import random
import resource
import socket
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from wsframe.connection import ClientConnection
from wsframe.events import AcceptConnection, BytesMessage, Request

from . import echo
from .echo import HOST, WORKER_ROWS, _size_name, loop_name
from .harness import Baseline, Family, Results, TargetCheck, fastest_peer, speed_check
from .peers import load

SIZES = (32, 4096)
LIBRARIES = ("wsframe", "websockets", "aiohttp", "picows")
FLOOR = "bare socket.send"  # the reference row: the kernel's floor of one send(2) per receiver
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


async def wsframe_server(sock: socket.socket | None = None, handler=None):
    """wsframe.asyncio.serve (on ``sock`` when given; ``handler`` by default holds each connection open)
    and wsframe.asyncio.broadcast."""
    ws_asyncio = load("wsframe.asyncio")
    server = await ws_asyncio.serve(handler or _hold_open, HOST, 0, sock=sock, compression=None)

    async def send_all(data):
        ws_asyncio.broadcast(server.connections, data)

    return server.port, lambda: len(server.connections), send_all, server.close


async def _hold_open(ws):
    async for _message in ws:
        pass


class BareSocket:
    """A receiver's socket for the floor row: a non-blocking duplicate of its transport's descriptor.

    ``write`` sends a frame with one send(2); what the kernel does not take is kept and sent, in order,
    once the socket drains (counted in ``stalls``).
    """

    stalls = 0  # writes the kernel did not take whole, over all sockets

    def __init__(self, fd: int) -> None:
        self.sock = socket.socket(fileno=os.dup(fd))
        self.sock.setblocking(False)
        self.backlog: bytearray | None = None  # not None while a flush is under way

    def write(self, frame: bytes) -> None:
        if self.backlog is not None:
            self.backlog += frame
            return
        try:
            sent = self.sock.send(frame)
        except BlockingIOError:
            sent = 0
        if sent < len(frame):
            BareSocket.stalls += 1
            self.backlog = bytearray(frame[sent:])
            asyncio.ensure_future(self._flush())

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        while self.backlog:
            data, self.backlog = bytes(self.backlog), bytearray()
            await loop.sock_sendall(self.sock, data)
        self.backlog = None


async def _floor_server():
    """The reference: wsframe.asyncio does the handshakes; a broadcast is then its frame, built once, written
    by a loop of one non-blocking send(2) per receiver on the bare sockets (no transport, no codec)."""
    ws_asyncio = load("wsframe.asyncio")
    message_frames = load("wsframe.broadcast").MessageFrames
    server = await ws_asyncio.serve(_hold_open, HOST, 0, compression=None)
    sockets: list[BareSocket] = []

    async def send_all(data):
        if not sockets:  # the first broadcast comes after every handshake
            sockets.extend(BareSocket(ws.transport.get_extra_info("socket").fileno()) for ws in server.connections)
        frame = message_frames(data).plain_frame()
        for bare in sockets:
            bare.write(frame)

    async def close():
        for bare in sockets:
            bare.sock.close()
        server.close()

    return server.port, lambda: len(server.connections), send_all, close


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
    "wsframe": wsframe_server,
    "websockets": _websockets_server,
    "aiohttp": _aiohttp_server,
    "picows": _picows_server,
    FLOOR: _floor_server,
}


async def serve_commands(send_all, commands: AsyncIterator[list[str]], reply: Callable[[str], None], counts: dict) -> None:
    """Runs the commands until they end: ``go SIZE COUNT`` replies ``START ns`` (CLOCK_MONOTONIC) and
    broadcasts ``COUNT`` messages, yielding to the event loop after each; a word of ``counts`` (e.g.
    ``connections``) replies that word in capitals and the count its function returns."""
    async for words in commands:
        if words[0] == "go":
            size, count = int(words[1]), int(words[2])
            messages = [message(sequence, size) for sequence in range(count)]
            reply(f"START {time.monotonic_ns()}")
            for data in messages:
                await send_all(data)
                await asyncio.sleep(0)  # let the transports and the rest of the loop run
        else:
            reply(f"{words[0].upper()} {counts[words[0]]()}")


async def _serve(library: str) -> None:
    """Prints ``PORT n``, then runs the commands of stdin (see serve_commands; ``connections`` counts the
    open connections) until it closes or SERVER_LIFETIME passes."""
    _raise_open_files_limit()
    port, connected, send_all, close = await SERVERS[library]()
    print(f"PORT {port}", flush=True)
    counts = {"connections": connected, "stalls": lambda: BareSocket.stalls}
    await serve_commands(send_all, echo.stdin_lines(), lambda line: print(line, flush=True), counts)
    await echo.close_server(close)


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
        messages = connection.receive_messages(data)  # the receivers' shortcut: the servers are what is measured
        if messages is not None:
            for event in messages:
                self.check(event.data)
            return
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
    async for command in echo.stdin_lines():
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


def server_command(implementation: str) -> tuple[str, ...]:
    """The module and arguments of the implementation's server process."""
    if implementation in WORKER_ROWS:
        return ("benchmarks.workers", str(WORKER_ROWS[implementation]))
    return ("benchmarks.fanout", "server", implementation)


def measure_broadcast(implementation: str, size: int, bounds: Bounds, repeats: int, notes: list[str] | None = None) -> list[float]:
    """ns per broadcast (to ``bounds.connections`` connections) of each repeat, after one warm-up round.
    Worker rows add to ``notes`` how many connections each worker held; the floor row, any stalls."""
    count = bounds.count[size]
    receiver = None
    with echo.server_process(*server_command(implementation)) as (server, port):
        try:
            receiver = echo.ChildProcess("benchmarks.fanout", "receive", port, str(bounds.connections))
            receiver.expect("READY", START_TIMEOUT + bounds.connections / 10)
            server.send("connections")
            connected, *split = server.expect("CONNECTIONS ", START_TIMEOUT).split()
            if int(connected) != bounds.connections:
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
            if len(split) > 1 and notes is not None:
                notes.append(f"{workload_name(size, bounds.connections)}, {implementation}: connections per worker: {' + '.join(split)}.")
            if implementation == FLOOR:
                server.send("stalls")
                stalls = int(server.expect("STALLS ", START_TIMEOUT))
                if stalls and notes is not None:
                    notes.append(f"{workload_name(size, bounds.connections)}, {FLOOR}: {stalls} sends the kernel did not take whole (the rest waited for the socket to drain).")
            return per_broadcast_ns
        finally:
            if receiver is not None:
                receiver.stop()


def workload_name(size: int, connections: int) -> str:
    return f"broadcast {_size_name(size)} to {connections:,}"


def _importable(implementation: str) -> None:
    echo._importable("wsframe" if implementation == FLOOR else implementation)


def families(quick: bool = False) -> list[Family]:
    bounds = Bounds.for_mode(quick)
    repeats = 3 if quick else 5
    notes = [
        f"A repeat is one round of {bounds.count[32]:,} (32 B) or {bounds.count[4096]:,} (4 KiB) binary "
        "broadcasts, the server yielding to its event loop after each; timed from the server's start to the "
        "last message at the last receiver (CLOCK_MONOTONIC in both processes); one warm-up round first. "
        "Every message is checked on every connection. No compression. wsframe: wsframe.asyncio.broadcast; "
        "websockets: websockets.asyncio.server.broadcast; picows: a loop of transport.send; aiohttp: a loop "
        f"of await ws.send_bytes. Event loop: {loop_name()}.",
        f"{FLOOR} (reference): wsframe.asyncio does the handshakes, then each broadcast is its frame built once "
        "and a Python loop of one non-blocking socket.send per receiver on the bare sockets, no transport or "
        "codec in between: the floor of one send(2) per receiver made from Python. (uvloop's transports make "
        "their send(2) from C, so a server whose loop is in Cython can come in under it.)",
        f"{', '.join(WORKER_ROWS)}: wsframe's server in 1 or 2 processes of wsframe.workers.run_workers "
        "(SO_REUSEPORT: the kernel spreads the connections); each worker broadcasts to its own connections "
        "when the parent relays the go to all of them; timed from the first worker's start to the last "
        "message at the last receiver.",
        "The machine has 2 cores shared by the server processes and the receiver process.",
        "Unlike the other tables, each row's repeats run back to back in one pair of processes (not in turns "
        "with the other rows): a turn would open the 1,000 receiving connections again.",
    ]

    def bench(size, implementation):
        measure = lambda repeats: measure_broadcast(implementation, size, bounds, repeats, notes)  # noqa: E731
        flags = {"reference": True} if implementation == FLOOR else {"peer": implementation in LIBRARIES and implementation != "wsframe"}
        return echo.external_bench(workload_name(size, bounds.connections), implementation, size * bounds.connections, measure, **flags)

    benches, skipped = echo.declare_benches((*LIBRARIES, *WORKER_ROWS, FLOOR), _importable, SIZES, bench)
    return [
        Family(
            name="broadcast",
            title=f"Broadcast to {bounds.connections:,} connections over loopback (receivers in another process)",
            benches=benches,
            baselines=[Baseline("× fastest peer", fastest_peer)],
            targets=lambda results: broadcast_targets(results, bounds.connections),
            notes=notes,  # measure_broadcast adds how the worker rows' connections were spread
            skipped=skipped,
            repeats=repeats,
            rate_unit="broadcasts/s",
            interleaved=False,  # a repeat per call would open the 1,000 receiving connections each time
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


def main(argv: list[str] | None = None) -> int:
    roles = {
        "server": ([("library", tuple(SERVERS))], lambda args: _serve(args.library)),
        "receive": ([("port", int), ("connections", int)], lambda args: _receive(args.port, args.connections)),
    }
    return echo.side_main(argv, "python -m benchmarks.fanout", roles)


if __name__ == "__main__":
    sys.exit(main())
