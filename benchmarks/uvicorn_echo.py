"""ASGI echo through uvicorn: wsframe's uvicorn protocol against uvicorn's built-in WebSocket protocols.

One uvicorn server process per protocol (``--ws``: wsframe.integrations.uvicorn:WebSocketProtocol,
websockets, websockets-sansio, wsproto), the same ASGI echo application and the same client process
(wsframe.asyncio, so that only the server side differs), on uvloop when it is installed. Rows: round
trips of one message in flight (256 B, 64 KiB, 1 MiB) and a pipelined burst (a sender task and the
receiving loop run at once; time per message). Every echo is compared with what was sent. The process
handling (bounds, timeouts, stdin-EOF shutdown) is echo.py's.

Also runnable by hand: ``python -m benchmarks.uvicorn_echo server PROTOCOL`` prints ``PORT n``;
``python -m benchmarks.uvicorn_echo client PROTOCOL PORT SIZE ROUNDS REPEATS SECONDS [BURST]``.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import socket
import sys
import time

from . import echo
from .harness import Baseline, Bench, Family, Results, TargetCheck, fastest_peer
from .peers import Missing, load

# uvicorn's --ws values; wsframe's is the import string uvicorn resolves.
PROTOCOLS = {
    "wsframe": "wsframe.integrations.uvicorn:WebSocketProtocol",
    "websockets": "websockets",
    "websockets-sansio": "websockets-sansio",
    "wsproto": "wsproto",
}
PROTOCOL_MODULES = {
    "wsframe": "wsframe.integrations.uvicorn",
    "websockets": "uvicorn.protocols.websockets.websockets_impl",
    "websockets-sansio": "uvicorn.protocols.websockets.websockets_sansio_impl",
    "wsproto": "uvicorn.protocols.websockets.wsproto_impl",
}
SIZES = (256, 64 * 1024, 1024 * 1024)
BURST_SIZE = 256
BURST = "burst"  # the workload key of the pipelined burst


class Bounds:
    """Calls per repeat per workload (a round trip, or a whole burst) and the seconds a repeat may last."""

    def __init__(self, quick: bool):
        if quick:
            self.rounds = {256: 200, 64 * 1024: 50, 1024 * 1024: 5, BURST: 2}
            self.burst, self.seconds = 200, 0.5
        else:
            self.rounds = {256: 5_000, 64 * 1024: 1_000, 1024 * 1024: 100, BURST: 20}
            self.burst, self.seconds = 1_000, 3.0


async def echo_app(scope, receive, send):
    """The ASGI application of every row: accept, then send back each message as it came."""
    if scope["type"] != "websocket":
        return
    await receive()  # websocket.connect
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] != "websocket.receive":
            return
        await send({"type": "websocket.send", "bytes": message.get("bytes"), "text": message.get("text")})


async def start_server(protocol: str):
    uvicorn = load("uvicorn")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((echo.HOST, 0))
    config = uvicorn.Config(
        echo_app,
        ws=PROTOCOLS[protocol],
        lifespan="off",
        log_level="warning",
        access_log=False,
        ws_max_size=16 * 1024 * 1024,
        ws_per_message_deflate=False,  # as the other echo benchmarks: no compression
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()  # raises why the server did not start
            raise RuntimeError("uvicorn exited before starting")
        await asyncio.sleep(0.01)

    async def close():
        server.should_exit = True
        await task

    return sock.getsockname()[1], close


async def _run_client(port: int, size: int, rounds: int, repeats: int, seconds: float, burst: int) -> dict:
    """Round trips (burst == 0) or pipelined bursts of ``burst`` messages; ns per round trip / message."""
    ws = await load("wsframe.asyncio").connect(f"ws://{echo.HOST}:{port}/", compression=None, max_message_size=None)
    rng = random.Random(size)
    payloads = [rng.randbytes(size), rng.randbytes(size)]  # alternated, so a stale or lost echo is caught
    clock = time.perf_counter_ns

    async def send_all(count):
        for index in range(count):
            await ws.send(payloads[index & 1])

    async def call(done):
        count = burst or 1
        sender = asyncio.ensure_future(send_all(count))
        try:
            for index in range(count):
                reply = await ws.recv()
                if reply != payloads[index & 1]:
                    raise AssertionError(f"call {done}, message {index}: the echo of {len(reply)} bytes differs")
        finally:
            await sender

    per_item_ns = []
    try:
        for repeat in range(repeats + 1):  # the first one warms up
            deadline = clock() + int(seconds * 1e9)
            started, done = clock(), 0
            while done < rounds and (done < 2 or clock() < deadline):
                await call(done)
                done += 1
            if repeat:
                per_item_ns.append((clock() - started) / (done * (burst or 1)))
    finally:
        await ws.close()
    return {"per_round_trip_ns": per_item_ns, "rounds": rounds, "loop": echo.loop_name()}


def _importable(protocol: str) -> None:
    """Raises Missing when uvicorn, the protocol's module or the client does not import here."""
    for module in ("uvicorn", PROTOCOL_MODULES[protocol], "wsframe.asyncio"):
        load(module)


def workload_name(key) -> str:
    if key == BURST:
        return f"uvicorn echo {BURST_SIZE} B pipelined burst"
    return f"uvicorn echo {echo._size_name(key)} round trip"


def measure(protocol: str, key, bounds: Bounds, repeats: int) -> list[float]:
    size, burst = (BURST_SIZE, bounds.burst) if key == BURST else (key, 0)
    client_args = [protocol, str(size), str(bounds.rounds[key]), str(repeats), str(bounds.seconds), str(burst)]
    timeout = echo.SERVER_START_TIMEOUT + (repeats + 1) * (bounds.seconds + 5)
    return echo.measure_in_processes("benchmarks.uvicorn_echo", ["server", protocol], client_args, timeout)


def families(quick: bool = False) -> list[Family]:
    bounds = Bounds(quick)
    repeats = 3 if quick else 5
    benches, skipped = [], []
    for protocol in PROTOCOLS:
        try:
            _importable(protocol)
        except Missing as exc:
            skipped.append(f"skipped {protocol}: {exc}")
            continue
        for key in (*SIZES, BURST):
            size = BURST_SIZE if key == BURST else key
            benches.append(
                Bench(
                    workload=workload_name(key),
                    implementation=protocol,
                    nbytes=2 * size,
                    stmt="",
                    namespace={},
                    check=echo._checked_by_client,
                    peer=protocol != "wsframe",
                    items=1,  # a call is one round trip, or one message of a burst
                    external=lambda settings, protocol=protocol, key=key: measure(protocol, key, bounds, settings.repeats),
                )
            )
    benches.sort(key=lambda b: [workload_name(key) for key in (*SIZES, BURST)].index(b.workload))
    return [
        Family(
            name="uvicorn",
            title="ASGI echo through uvicorn: wsframe's --ws protocol against uvicorn's built-in ones",
            benches=benches,
            baselines=[Baseline("× fastest peer", fastest_peer)],
            targets=uvicorn_targets,
            notes=[
                f"One uvicorn server process per protocol (the row's name is its --ws), the same ASGI echo app, "
                f"the same client process (wsframe.asyncio); event loop: {echo.loop_name()} in both. A repeat is "
                f"{bounds.rounds[256]:,} round trips (256 B), {bounds.rounds[64 * 1024]:,} (64 KiB), "
                f"{bounds.rounds[1024 * 1024]:,} (1 MiB) or {bounds.rounds[BURST]:,} bursts of {bounds.burst:,} "
                f"messages (times are per message), cut short after {bounds.seconds:g} s; one warm-up repeat "
                "first. Binary messages, every echo compared with what was sent; no compression.",
                "The machine's cores are shared by both processes: round trips include scheduling between them.",
            ],
            skipped=skipped,
            repeats=repeats,
            rate_unit="msg/s",
        )
    ]


def uvicorn_targets(results: Results) -> list[TargetCheck]:
    """Faster than every built-in protocol on every row; by 1.3x or more on the burst."""
    checks = []
    for key in (*SIZES, BURST):
        workload = workload_name(key)
        ours = results.get(workload, "wsframe")
        peers = [r for r in (results.get(workload, p) for p in PROTOCOLS if p != "wsframe") if r is not None]
        goal_ratio = 1.3 if key == BURST else 1.0
        goal = f"{workload}: wsframe ≥ {goal_ratio:g}x every built-in protocol"
        if ours is None or not peers:
            checks.append(TargetCheck(goal, "not measured", None))
            continue
        ratio = min(peer.median_ns for peer in peers) / ours.median_ns
        checks.append(TargetCheck(goal, f"{ratio:.2f}x the fastest built-in", ratio >= goal_ratio))
    return checks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.uvicorn_echo", description="one side of the uvicorn echo")
    sub = parser.add_subparsers(dest="role", required=True)
    server = sub.add_parser("server")
    server.add_argument("protocol", choices=PROTOCOLS)
    client = sub.add_parser("client")
    client.add_argument("protocol", choices=PROTOCOLS)  # the server's; recorded, the client is always the same
    for name, kind in (("port", int), ("size", int), ("rounds", int), ("repeats", int), ("seconds", float)):
        client.add_argument(name, type=kind)
    client.add_argument("burst", type=int, nargs="?", default=0)
    args = parser.parse_args(argv)
    if args.role == "server":
        return echo.run_side(serve=lambda: start_server(args.protocol))
    return echo.run_side(measure=lambda: _run_client(args.port, args.size, args.rounds, args.repeats, args.seconds, args.burst))


if __name__ == "__main__":
    sys.exit(main())
