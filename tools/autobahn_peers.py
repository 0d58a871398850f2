"""Echo peers for the Autobahn TestSuite, on wsframe's asyncio integration (wsframe.asyncio).

    python tools/autobahn_peers.py server [--port 9001]        # echo server; prints its port
    python tools/autobahn_peers.py client --url ws://127.0.0.1:9001 --count 517

The server echoes every message (text as text, binary as binary) with ``wsframe.asyncio.serve``. The
client runs cases 1..count of a fuzzing server (``/runCase?case=N&agent=wsframe``) with
``wsframe.asyncio.connect``, echoing likewise, then asks for the reports (``/updateReports``). Both
negotiate permessage-deflate; keepalive pings are off (the cases measure the protocol, not liveness).
"""

from __future__ import annotations

import argparse
import asyncio
import sys

import wsframe
from wsframe.asyncio import connect, serve as serve_websockets
from wsframe.deflate import PerMessageDeflate
from wsframe.errors import HandshakeError, WebSocketError

AGENT = "wsframe"
MAX_MESSAGE_SIZE = 16 * 1024 * 1024  # the 9.x cases send messages of up to 16 MiB
CLOSE_TIMEOUT = 2.0  # seconds to wait for the peer's close frame, or for the server to drop TCP
# zlib's level changes only the compression ratio, not the protocol; level 1 halves the 12.x/13.x run time.
COMPRESS_LEVEL = 1
OPTIONS = {"max_message_size": MAX_MESSAGE_SIZE, "ping_interval": None, "close_timeout": CLOSE_TIMEOUT}


async def echo(ws) -> None:
    """Sends every message back as it came; ends when the peer closes or fails the connection."""
    try:
        async for message in ws:
            await ws.send(message)
    except WebSocketError:
        pass  # the peer broke the protocol: the connection already sent the close frame with its code


async def serve(host: str, port: int):
    """Starts the echo server; its ``port`` says which one when 0 was asked for."""
    compression = PerMessageDeflate(compress_level=COMPRESS_LEVEL)
    return await serve_websockets(echo, host, port, compression=compression, **OPTIONS)


async def _client_session(url: str, timeout: float) -> None:
    # Offering client_no_context_takeover lets a server that requires it accept compression (13.x cases).
    compression = PerMessageDeflate(client_no_context_takeover=True, compress_level=COMPRESS_LEVEL)
    try:
        ws = await connect(url, compression=compression, open_timeout=timeout, **OPTIONS)
    except HandshakeError as exc:
        print(f"{url}: handshake failed: {exc}", file=sys.stderr, flush=True)
        return
    await asyncio.wait_for(echo(ws), timeout)
    await ws.wait_closed()


async def run_client_cases(url: str, count: int, *, case_timeout: float = 60.0, agent: str = AGENT) -> list[int]:
    """Runs cases 1..count against the fuzzing server at ``url``, then /updateReports.

    Returns the case numbers that did not finish within ``case_timeout`` seconds (or failed to connect).
    """
    base = url.rstrip("/")
    timed_out = []
    started = asyncio.get_running_loop().time()
    for case in range(1, count + 1):
        if case > 1 and (case - 1) % 50 == 0:
            elapsed = asyncio.get_running_loop().time() - started
            print(f"progress: {case - 1}/{count} cases in {elapsed:.0f} s", flush=True)
        try:
            await _client_session(f"{base}/runCase?case={case}&agent={agent}", case_timeout)
        except (OSError, asyncio.TimeoutError) as exc:
            print(f"case {case}: {type(exc).__name__} {exc}", file=sys.stderr, flush=True)
            timed_out.append(case)
    await _client_session(f"{base}/updateReports?agent={agent}", case_timeout)
    return timed_out


async def _main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    roles = parser.add_subparsers(dest="role", required=True)
    server = roles.add_parser("server", help="run the echo server until killed")
    server.add_argument("--host", default="127.0.0.1")
    server.add_argument("--port", type=int, default=0, help="0 picks a free port (printed)")
    client = roles.add_parser("client", help="run a fuzzing server's cases 1..COUNT")
    client.add_argument("--url", required=True)
    client.add_argument("--count", type=int, required=True)
    client.add_argument("--case-timeout", type=float, default=60.0)
    args = parser.parse_args()
    print(f"wsframe implementation: {wsframe.IMPLEMENTATION}", flush=True)
    if args.role == "server":
        server = await serve(args.host, args.port)
        print(f"listening on port {server.port}", flush=True)
        await server.serve_forever()
        return 0
    timed_out = await run_client_cases(args.url, args.count, case_timeout=args.case_timeout)
    return 1 if timed_out else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(_main()))
