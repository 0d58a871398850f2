"""End-to-end echo over loopback: round trips and pipelined bursts, a client process against a server process.

Each library runs its own server and its own client (wsframe: ``wsframe.asyncio``; websockets: its asyncio
implementation; aiohttp: web server and ClientSession; picows: ws_create_server / ws_connect), on uvloop
when it is installed, else asyncio's default loop. Two kinds of rows:

* round trips: the client sends binary messages one at a time, waits for each echo and compares it with
  what it sent (a wrong echo fails the row); time per round trip;
* a pipelined burst: the client writes ``burst`` messages without waiting for echoes (a sender task) while
  it reads and compares every echo; time per message. wsframe also runs it on several connections to
  1 and to 2 worker processes (``wsframe.workers.run_workers``, as ``python -m wsframe --workers N``; see
  benchmarks/workers.py), the kernel spreading the connections over them.

Everything is bounded: calls per repeat, seconds per repeat, a timeout on the client process; a server
process exits when its stdin closes (so also when the benchmark dies) or after ``SERVER_LIFETIME``
seconds, and is killed if it lingers. This module also holds what the process benchmarks (echo,
broadcast, uvicorn) share: the child processes, their command lines, the declaration of their rows.

Also runnable by hand: ``python -m benchmarks.echo server LIB`` prints ``PORT n``;
``python -m benchmarks.echo client LIB PORT SIZE ROUNDS REPEATS SECONDS BURST CONNECTIONS`` (BURST 0:
round trips; CONNECTIONS 1: one) prints a JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import random
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from .harness import Baseline, Bench, Family, Results, TargetCheck, add_counts, fastest_peer, speed_check
from .peers import Missing, load

SIZES = (256, 100 * 1024, 1024 * 1024)
LIBRARIES = ("wsframe", "wsframe-callback", "websockets", "aiohttp", "picows")
OWN = ("wsframe", "wsframe-callback")  # wsframe's async iterator and its on_message callback API; the rest are peers
BURST = "burst"  # the workload key of the pipelined burst (one connection)
WORKERS_BURST = "workers burst"  # the workload key of the burst on several connections to worker processes
BURST_SIZE = 256
WORKER_CONNECTIONS = 4  # client connections of the workers burst, spread over the workers by the kernel
WORKER_COUNTS = (1, 2)
SERVER_LIFETIME = 600  # seconds
SERVER_START_TIMEOUT = 30
HOST = "127.0.0.1"


def worker_row(count: int) -> str:
    """The implementation name of wsframe served by ``count`` worker processes."""
    return f"wsframe {count} worker{'s' if count > 1 else ''}"


WORKER_ROWS = {worker_row(count): count for count in WORKER_COUNTS}


@dataclass(frozen=True)
class Bounds:
    """Calls per repeat for each workload key (a round trip per message size, or a whole burst), the
    messages of a burst, and the seconds a repeat may last."""

    rounds: dict
    burst: int
    seconds: float

    @classmethod
    def for_mode(cls, quick: bool) -> Bounds:
        if quick:
            rounds = {256: 200, 64 * 1024: 50, 100 * 1024: 50, 1024 * 1024: 10, BURST: 2, WORKERS_BURST: 2}
            return cls(rounds, 200, 0.5)
        rounds = {256: 5_000, 64 * 1024: 1_000, 100 * 1024: 1_000, 1024 * 1024: 200, BURST: 20, WORKERS_BURST: 10}
        return cls(rounds, 1_000, 3.0)


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


async def echo_messages(ws) -> None:
    """wsframe's echo handler: every message back as it came."""
    async for message in ws:
        await ws.send(message)


async def _wsframe_server():
    # wsframe negotiates permessage-deflate by default; the peers here run without it.
    server = await load("wsframe.asyncio").serve(echo_messages, HOST, 0, compression=None)
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


async def stdin_lines(lifetime: float = SERVER_LIFETIME) -> AsyncIterator[list[str]]:
    """The words of each line on stdin, until it closes or ``lifetime`` seconds have passed."""
    loop = asyncio.get_running_loop()
    lines: asyncio.Queue = asyncio.Queue()

    def read_stdin():
        for line in sys.stdin:
            loop.call_soon_threadsafe(lines.put_nowait, line.split())
        loop.call_soon_threadsafe(lines.put_nowait, None)

    threading.Thread(target=read_stdin, daemon=True).start()
    deadline = loop.time() + lifetime
    while True:
        try:
            words = await asyncio.wait_for(lines.get(), max(0.0, deadline - loop.time()))
        except asyncio.TimeoutError:
            return
        if words is None:
            return
        yield words


async def close_server(close) -> None:
    """Calls a server's ``close``, awaiting it where it is a coroutine function."""
    result = close()
    if asyncio.iscoroutine(result):
        await result


async def serve_until_stdin_closes(start) -> None:
    """Runs the server ``start()`` starts (it returns ``(port, close)``), printing ``PORT n``, until stdin closes."""
    port, close = await start()
    print(f"PORT {port}", flush=True)
    async for _words in stdin_lines():
        pass
    await close_server(close)


# --- clients (run in the client process) ---------------------------------------------------------


class Client:
    """One connection: after ``open``, ``await send(payload)`` writes a binary message (waiting for the
    write buffer at most) and ``await receive()`` returns the next message received."""

    async def open(self, url: str) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError


class Inbox:
    """The messages a callback API delivers, in order, for ``get()`` to await."""

    def __init__(self) -> None:
        self.messages: collections.deque = collections.deque()
        self.waiter: asyncio.Future | None = None

    def put(self, message) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(message)
        else:
            self.messages.append(message)

    async def get(self):
        if self.messages:
            return self.messages.popleft()
        self.waiter = asyncio.get_running_loop().create_future()
        return await self.waiter


class WsframeClient(Client):
    async def open(self, url):
        self.ws = await load("wsframe.asyncio").connect(url, compression=None)
        self.send, self.receive = self.ws.send, self.ws.recv

    async def close(self):
        await self.ws.close()


class WsframeCallbackClient(Client):
    async def open(self, url):
        self.ws = await load("wsframe.asyncio").connect(url, compression=None)
        inbox = Inbox()
        self.ws.on_message = lambda ws, message: inbox.put(message)
        self.receive = inbox.get

    async def send(self, payload):
        self.ws.send_nowait(payload)

    async def close(self):
        await self.ws.close()


class WebsocketsClient(Client):
    async def open(self, url):
        connect = load("websockets.asyncio.client").connect
        self.ws = await connect(url, max_size=None, compression=None)
        self.send, self.receive = self.ws.send, self.ws.recv

    async def close(self):
        await self.ws.close()


class AiohttpClient(Client):
    async def open(self, url):
        aiohttp = load("aiohttp")
        self.session = aiohttp.ClientSession()
        self.ws = await self.session.ws_connect(url, max_msg_size=0, compress=0)
        self.send = self.ws.send_bytes

    async def receive(self):
        return (await self.ws.receive()).data

    async def close(self):
        await self.ws.close()
        await self.session.close()


class PicowsClient(Client):
    async def open(self, url):
        picows = load("picows")
        inbox = Inbox()
        self.binary = picows.WSMsgType.BINARY

        class Listener(picows.WSListener):
            def on_ws_frame(self, transport, frame):
                if frame.msg_type == picows.WSMsgType.BINARY:
                    inbox.put(frame.get_payload_as_bytes())

        self.receive = inbox.get
        self.transport, _ = await picows.ws_connect(Listener, url, max_frame_size=16 << 20)

    async def send(self, payload):
        self.transport.send(self.binary, payload)

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


async def round_trips(client: Client, payloads: Sequence[bytes], count: int) -> None:
    """``count`` messages (``payloads`` in turn), each sent once the echo of the one before is back and checked."""
    send, receive = client.send, client.receive
    for index in range(count):
        payload = payloads[index & 1]
        await send(payload)
        echo = await receive()
        if echo != payload:
            raise AssertionError(f"round trip {index}: echo of {len(echo)} bytes differs from the {len(payload)} sent")


async def pipelined_burst(client: Client, payloads: Sequence[bytes], count: int) -> None:
    """``count`` messages (``payloads`` in turn) written without waiting for echoes while every echo is
    read and checked; returns once all are back, raises on the first wrong one."""

    async def send_all():
        send = client.send
        for index in range(count):
            await send(payloads[index & 1])

    async def receive_all():
        receive = client.receive
        for index in range(count):
            echo = await receive()
            if echo != payloads[index & 1]:
                raise AssertionError(f"message {index} of a burst: the echo of {len(echo)} bytes differs")

    tasks = [asyncio.ensure_future(send_all()), asyncio.ensure_future(receive_all())]
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()


async def run_client(
    library: str, port: int, size: int, rounds: int, repeats: int, seconds: float, burst: int, connections: int
) -> dict:
    """``rounds`` calls per repeat, each on ``connections`` connections at once (opened for the repeat,
    untimed): one round trip (``burst`` 0) or a pipelined burst of ``burst`` messages. Returns the time
    per message of each repeat after a warm-up one."""
    rng = random.Random(size)
    payloads = [rng.randbytes(size), rng.randbytes(size)]  # alternated, so a stale or lost echo is caught
    exchange, per_call = (pipelined_burst, burst) if burst else (round_trips, 1)
    clock = time.perf_counter_ns
    per_message_ns = []
    for repeat in range(repeats + 1):  # the first one warms up
        clients = [CLIENTS[library]() for _ in range(connections)]
        opened = []
        try:
            for client in clients:
                await client.open(f"ws://{HOST}:{port}/")
                opened.append(client)
            deadline = clock() + int(seconds * 1e9)
            started, done = clock(), 0
            if burst or connections > 1:
                while done < rounds and (done < 2 or clock() < deadline):
                    await asyncio.gather(*(exchange(client, payloads, per_call) for client in clients))
                    done += 1
            else:  # round trips: in batches, so that the clock is read seldom
                while done < rounds and (done < 10 or clock() < deadline):
                    batch = min(10, rounds - done)
                    await round_trips(clients[0], payloads, batch)
                    done += batch
            if repeat:
                per_message_ns.append((clock() - started) / (done * per_call * connections))
        finally:
            for client in opened:
                await client.close()
    return {"per_message_ns": per_message_ns, "rounds": rounds, "loop": loop_name()}


# --- the parent side: processes and rows ---------------------------------------------------------

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _child_env() -> dict:
    """The parent's environment, with this checkout first on the path (for benchmarks and wsframe).

    The children also run in the checkout (``cwd=ROOT``): ``python -m`` puts the working directory first.
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (ROOT, env.get("PYTHONPATH")) if p)
    return env


class ChildProcess:
    """``python -m module args...`` spoken to by lines on stdin and stdout; ``stop()`` closes its stdin
    (it exits at EOF) and kills it if it lingers."""

    def __init__(self, module: str, *args: str, cpu: int | None = None) -> None:
        self.name = " ".join((module, *args))
        self.process = subprocess.Popen(
            [sys.executable, "-m", module, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=_child_env(),
            text=True,
            cwd=ROOT,
            preexec_fn=_pinned_to(cpu),
        )

    def send(self, line: str) -> None:
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def expect(self, word: str, timeout: float) -> str:
        """The rest of the next stdout line, which must start with ``word``; RuntimeError (with the end of
        stderr) otherwise, the process killed."""
        timer = threading.Timer(timeout, self.process.kill)
        timer.start()
        try:
            line = self.process.stdout.readline()
        finally:
            timer.cancel()
        if not line.startswith(word):
            self.process.kill()
            stderr = self.process.stderr.read().strip()[-500:]
            raise RuntimeError(f"{self.name}: expected {word.strip()}, got {line.strip()!r}: {stderr}")
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


def round_trip_cpu() -> int | None:
    """The one CPU that both processes of a round-trip row run on (None where affinity cannot be set).

    One message in flight keeps only one process busy at a time; on two cores each message then also
    pays two cross-core wake-ups, which on this project's VM made the same library measure 18 or 50 µs
    per 256 B round trip from run to run. On one core a round trip is the work of both sides and the
    kernel's, the same for every library, and repeatable.
    """
    if not hasattr(os, "sched_setaffinity"):
        return None
    return max(os.sched_getaffinity(0))


def _pinned_to(cpu: int | None):
    if cpu is None:
        return None
    return lambda: os.sched_setaffinity(0, {cpu})


@contextmanager
def server_process(module: str, *args: str, cpu: int | None = None) -> Iterator[tuple[ChildProcess, str]]:
    """A server process (``python -m module args...``, which prints ``PORT n``) and its port, stopped at exit;
    ``cpu``: the CPU it is pinned to, if any."""
    server = ChildProcess(module, *args, cpu=cpu)
    try:
        yield server, server.expect("PORT ", SERVER_START_TIMEOUT)
    finally:
        server.stop()


def measure_client(
    library: str, port: str, key, bounds: Bounds, repeats: int, connections: int = 1, cpu: int | None = None
) -> list[float]:
    """Runs this module's client process (``library``'s client) against ``port``; ns per message per repeat.
    ``key``: a message size (round trips), BURST or WORKERS_BURST; ``cpu``: the CPU it is pinned to, if any.
    RuntimeError with its stderr if it fails."""
    size, burst = (key, 0) if isinstance(key, int) else (BURST_SIZE, bounds.burst)
    args = [library, port, str(size), str(bounds.rounds[key]), str(repeats), str(bounds.seconds), str(burst), str(connections)]
    client = subprocess.run(
        [sys.executable, "-m", "benchmarks.echo", "client", *args],
        capture_output=True,
        text=True,
        env=_child_env(),
        cwd=ROOT,
        timeout=SERVER_START_TIMEOUT + (repeats + 1) * (bounds.seconds + 5),
        preexec_fn=_pinned_to(cpu),
    )
    if client.returncode != 0:
        raise RuntimeError(f"client failed: {client.stderr.strip()[-500:]}")
    return json.loads(client.stdout.strip().splitlines()[-1])["per_message_ns"]


def measure_echo(library: str, key, bounds: Bounds, repeats: int) -> list[float]:
    """The library's server process and its client process; ns per message of each repeat. Round trips run
    with both processes on one CPU (round_trip_cpu), bursts on all of them."""
    cpu = round_trip_cpu() if isinstance(key, int) else None
    with server_process("benchmarks.echo", "server", library, cpu=cpu) as (_server, port):
        return measure_client(library, port, key, bounds, repeats, cpu=cpu)


def measure_workers_burst(workers: int, bounds: Bounds, repeats: int, notes: list[str]) -> list[float]:
    """wsframe's echo server in ``workers`` processes, WORKER_CONNECTIONS client connections per repeat;
    appends to ``notes`` how many of the connections each worker accepted."""
    with server_process("benchmarks.workers", str(workers)) as (server, port):
        per_message_ns = measure_client("wsframe", port, WORKERS_BURST, bounds, repeats, WORKER_CONNECTIONS)
        server.send("accepted")
        total, *split = server.expect("ACCEPTED ", SERVER_START_TIMEOUT).split()
    if len(split) > 1:
        render = lambda counts: f"{worker_row(workers)}: the connections of all repeats ({counts[0]}) per worker: {' + '.join(map(str, counts[1:]))}."  # noqa: E731
        add_counts(notes, worker_row(workers), [int(total), *map(int, split)], render)
    return per_message_ns


def external_bench(workload: str, implementation: str, nbytes: int, measure: Callable[[int], list[float]], **flags) -> Bench:
    """A row measured in other processes: ``measure(repeats)`` returns the time per message of each repeat,
    every message checked there. ``flags``: Bench's ``peer`` or ``reference``."""
    return Bench(
        workload=workload,
        implementation=implementation,
        nbytes=nbytes,
        stmt="",
        namespace={},
        check=_checked_where_measured,
        items=1,
        external=lambda settings: measure(settings.repeats),
        **flags,
    )


def declare_benches(implementations: Iterable[str], importable: Callable[[str], None], keys: Iterable, bench: Callable) -> tuple[list[Bench], list[str]]:
    """``bench(key, implementation)`` for every key and every implementation that ``importable`` accepts
    (it raises Missing otherwise), in that order; and a skip note for each one it refused."""
    available, skipped = [], []
    for implementation in implementations:
        try:
            importable(implementation)
        except Missing as exc:
            skipped.append(f"skipped {implementation}: {exc}")
        else:
            available.append(implementation)
    return [bench(key, implementation) for key in keys for implementation in available], skipped


def side_main(argv: list[str] | None, prog: str, roles: dict) -> int:
    """The command line of a benchmark's child process: ``roles`` maps each role (the first argument) to
    its arguments, ``(name, type or choices)`` pairs, and the coroutine function that runs it given the
    parsed arguments, on a new event loop."""
    parser = argparse.ArgumentParser(prog=prog, description="one side of a benchmark")
    sub = parser.add_subparsers(dest="role", required=True)
    for role, (arguments, _run) in roles.items():
        role_parser = sub.add_parser(role)
        for name, kind in arguments:
            if isinstance(kind, (tuple, list, dict)):
                role_parser.add_argument(name, choices=kind)
            else:
                role_parser.add_argument(name, type=kind)
    args = parser.parse_args(argv)
    run_on_new_loop(roles[args.role][1](args))
    return 0


def run_on_new_loop(coroutine) -> None:
    """Runs ``coroutine`` to the end on a new event loop (uvloop's when it is installed), then closes it."""
    loop = _new_loop()
    try:
        loop.run_until_complete(coroutine)
    finally:
        loop.close()


def _importable(implementation: str) -> None:
    """Raises Missing when the modules the implementation's server and client need do not import here."""
    modules = {
        "wsframe": ("wsframe.asyncio",),
        "wsframe-callback": ("wsframe.asyncio",),
        "websockets": ("websockets.asyncio.server", "websockets.asyncio.client"),
        "aiohttp": ("aiohttp.web",),
        "picows": ("picows",),
        **{row: ("wsframe.asyncio", "wsframe.workers") for row in WORKER_ROWS},
    }[implementation]
    for module in modules:
        load(module)


def _size_name(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size // (1024 * 1024)} MiB"
    return f"{size // 1024} KiB" if size >= 1024 else f"{size} B"


def workload_name(key) -> str:
    if key == BURST:
        return f"echo {BURST_SIZE} B pipelined burst"
    if key == WORKERS_BURST:
        return f"echo {BURST_SIZE} B pipelined burst, {WORKER_CONNECTIONS} connections"
    return f"echo {_size_name(key)} round trip"


def families(quick: bool = False) -> list[Family]:
    bounds = Bounds.for_mode(quick)
    repeats = 3 if quick else 5
    notes = [
        f"Client and server are separate processes of this Python; event loop: {loop_name()} in both. "
        f"A repeat is {bounds.rounds[256]:,} round trips (256 B), {bounds.rounds[100 * 1024]:,} (100 KiB) or "
        f"{bounds.rounds[1024 * 1024]:,} (1 MiB), or {bounds.rounds[BURST]:,} pipelined bursts of {bounds.burst:,} "
        f"{BURST_SIZE} B messages (a sender task writes them without waiting while the client reads; times are "
        f"per message), cut short after {bounds.seconds:g} s. Each repeat runs in new server and client processes, "
        "after a warm-up repeat of its own on another connection. The rows of a workload take turns, one repeat "
        "each, the order rotating from repeat to repeat, so that the machine's drift over the minutes of a run "
        "(large on a shared host) reaches every row alike instead of skewing the ratios. Binary messages; every "
        "echo is compared with what was sent. GB/s counts both directions. No compression.",
        f"{workload_name(WORKERS_BURST)}: wsframe's echo server (the wsframe row's) in 1 or 2 processes of "
        f"wsframe.workers.run_workers (SO_REUSEPORT: the kernel spreads the connections), {WORKER_CONNECTIONS} "
        f"client connections in one client process each running {bounds.rounds[WORKERS_BURST]:,} bursts of "
        f"{bounds.burst:,} messages at once per repeat; times per message of all connections.",
        "Round trips: client and server pinned to one CPU (the last one this process may use), so that a round "
        "trip is the work of both sides and the kernel's: with one message in flight only one process runs at a "
        "time, and on two cores each message also paid two cross-core wake-ups, which made the same library "
        "measure 18 or 50 µs per 256 B round trip from run to run on this project's VM. Bursts and workers: "
        "all CPUs (the machine has 2, shared by the client and the server processes; 2 workers share them with "
        "the client).",
    ]

    def library_bench(key, library):
        size = key if isinstance(key, int) else BURST_SIZE
        measure = lambda repeats: measure_echo(library, key, bounds, repeats)  # noqa: E731
        return external_bench(workload_name(key), library, 2 * size, measure, peer=library not in OWN)

    def workers_bench(key, row):
        measure = lambda repeats: measure_workers_burst(WORKER_ROWS[row], bounds, repeats, notes)  # noqa: E731
        return external_bench(workload_name(key), row, 2 * BURST_SIZE, measure)

    benches, skipped = declare_benches(LIBRARIES, _importable, (*SIZES, BURST), library_bench)
    worker_benches, worker_skipped = declare_benches(WORKER_ROWS, _importable, (WORKERS_BURST,), workers_bench)
    return [
        Family(
            name="echo",
            title="End-to-end echo over loopback (one message in flight, or a pipelined burst)",
            benches=benches + worker_benches,
            baselines=[Baseline("× fastest peer", fastest_peer)],
            targets=echo_targets,
            notes=notes,  # measure_workers_burst adds how the connections were spread
            skipped=skipped + worker_skipped,
            repeats=repeats,
            rate_unit="msg/s",
        )
    ]


def _checked_where_measured() -> None:
    """The client (or receiver) process checks every message it gets; nothing to check beforehand."""


def echo_targets(results: Results) -> list[TargetCheck]:
    """Issue 11's aims: wsframe (its faster API) ≥ 1× picows per round trip at 256 B, ≥ 1.2× from 100 KiB."""
    checks = []
    for size, factor in ((256, 1.0), (100 * 1024, 1.2), (1024 * 1024, 1.2)):
        workload = workload_name(size)
        ours = [r for r in (results.get(workload, name) for name in OWN) if r is not None]
        best = min(ours, key=lambda r: r.median_ns) if ours else None
        goal = f"{workload}: wsframe ≥ {factor:g}× picows"
        checks.append(speed_check(goal, best, results.get(workload, "picows"), factor))
    return checks


def main(argv: list[str] | None = None) -> int:
    client_arguments = [("library", LIBRARIES), ("port", int), ("size", int), ("rounds", int), ("repeats", int)]
    client_arguments += [("seconds", float), ("burst", int), ("connections", int)]

    async def client(args):
        fields = ("port", "size", "rounds", "repeats", "seconds", "burst", "connections")
        print(json.dumps(await run_client(args.library, *(getattr(args, name) for name in fields))), flush=True)

    roles = {
        "server": ([("library", LIBRARIES)], lambda args: serve_until_stdin_closes(SERVERS[args.library])),
        "client": (client_arguments, client),
    }
    return side_main(argv, "python -m benchmarks.echo", roles)


if __name__ == "__main__":
    sys.exit(main())
