"""ASGI echo through uvicorn: wsframe's uvicorn protocol against uvicorn's built-in WebSocket protocols.

One uvicorn server process per protocol (``--ws``: wsframe.integrations.uvicorn:WebSocketProtocol,
websockets, websockets-sansio, wsproto), the same ASGI echo application and the same client process
(wsframe.asyncio, so that only the server side differs), on uvloop when it is installed. Rows: round
trips of one message in flight (256 B, 64 KiB, 1 MiB) and a pipelined burst (a sender task and the
receiving loop run at once; time per message). Every echo is compared with what was sent. The client
and the process handling (bounds, timeouts, stdin-EOF shutdown) are echo.py's.

Also runnable by hand: ``python -m benchmarks.uvicorn_echo server PROTOCOL`` prints ``PORT n``; then
``python -m benchmarks.echo client wsframe PORT ...`` (see there).
"""

from __future__ import annotations

import asyncio
import socket
import sys

from . import echo
from .harness import Baseline, Family, Results, TargetCheck, fastest_peer
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
BURST, BURST_SIZE = echo.BURST, echo.BURST_SIZE  # the workload key of the pipelined burst, its messages' size


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


def _importable(protocol: str) -> None:
    """Raises Missing when uvicorn, the protocol's module or the client does not import here."""
    for module in ("uvicorn", PROTOCOL_MODULES[protocol], "wsframe.asyncio"):
        load(module)


def workload_name(key) -> str:
    if key == BURST:
        return f"uvicorn echo {BURST_SIZE} B pipelined burst"
    return f"uvicorn echo {echo._size_name(key)} round trip"


def measure_uvicorn(protocol: str, key, bounds: echo.Bounds, repeats: int) -> list[float]:
    """The protocol's uvicorn server process against echo's wsframe client process; ns per message per repeat."""
    with echo.server_process("benchmarks.uvicorn_echo", "server", protocol) as (_server, port):
        return echo.measure_client("wsframe", port, key, bounds, repeats)


def families(quick: bool = False) -> list[Family]:
    bounds = echo.Bounds.for_mode(quick)
    repeats = 3 if quick else 5

    def bench(key, protocol):
        size = BURST_SIZE if key == BURST else key
        measure = lambda repeats: measure_uvicorn(protocol, key, bounds, repeats)  # noqa: E731
        return echo.external_bench(workload_name(key), protocol, 2 * size, measure, peer=protocol != "wsframe")

    benches, skipped = echo.declare_benches(PROTOCOLS, _importable, (*SIZES, BURST), bench)
    return [
        Family(
            name="uvicorn",
            title="ASGI echo through uvicorn: wsframe's --ws protocol against uvicorn's built-in ones",
            benches=benches,
            baselines=[Baseline("× fastest peer", fastest_peer)],
            targets=uvicorn_targets,
            notes=[
                f"One uvicorn server process per protocol (the row's name is its --ws), the same ASGI echo app, "
                f"the same client process (echo's wsframe.asyncio client); event loop: {echo.loop_name()} in both. "
                f"A repeat is {bounds.rounds[256]:,} round trips (256 B), {bounds.rounds[64 * 1024]:,} (64 KiB), "
                f"{bounds.rounds[1024 * 1024]:,} (1 MiB) or {bounds.rounds[BURST]:,} bursts of {bounds.burst:,} "
                f"messages (times are per message), cut short after {bounds.seconds:g} s. Each repeat runs in a "
                "new server and client process after a warm-up repeat of its own; the rows of a workload take "
                "turns, one repeat each, the order rotating (as in the echo table). Binary messages, every echo "
                "compared with what was sent; no compression.",
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
    roles = {"server": ([("protocol", PROTOCOLS)], lambda args: echo.serve_until_stdin_closes(lambda: start_server(args.protocol)))}
    return echo.side_main(argv, "python -m benchmarks.uvicorn_echo", roles)


if __name__ == "__main__":
    sys.exit(main())
