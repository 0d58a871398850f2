"""Echo peers for the Autobahn TestSuite, built directly on wsframe's sans-I/O connections.

This is also a small demo of embedding the codec in an event loop: one asyncio Protocol owns the
transport, feeds every read to the connection, writes what the connection queued on its own
(``data_to_send()``: pongs, close replies, the close frame after a protocol error) and answers events.

    python tools/autobahn_peers.py server [--port 9001]        # echo server; prints its port
    python tools/autobahn_peers.py client --url ws://127.0.0.1:9001 --count 517

The server echoes every message (text as text, binary as binary) and drops the TCP connection once the
closing handshake is done or the connection failed. The client runs cases 1..count of a fuzzing server
(``/runCase?case=N&agent=wsframe``), echoing likewise, then asks for the reports (``/updateReports``).
Both negotiate permessage-deflate. ``serve`` and ``run_client_cases`` are the two entry points to keep
when switching to a higher-level asyncio API.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from urllib.parse import urlsplit

import wsframe
from wsframe.connection import ClientConnection, ConnectionState, ServerConnection
from wsframe.deflate import PerMessageDeflate
from wsframe.errors import WebSocketError
from wsframe.events import AcceptConnection, CloseConnection, Message, RejectConnection, Request

AGENT = "wsframe"
MAX_MESSAGE_SIZE = 16 * 1024 * 1024  # the 9.x cases send messages of up to 16 MiB
CLOSE_TIMEOUT = 2.0  # seconds a client waits for the server to drop TCP after the closing handshake
# zlib's level changes only the compression ratio, not the protocol; level 1 halves the 12.x/13.x run time.
COMPRESS_LEVEL = 1


def server_connection() -> ServerConnection:
    return ServerConnection(max_message_size=MAX_MESSAGE_SIZE, deflate=PerMessageDeflate(compress_level=COMPRESS_LEVEL))


def client_connection() -> ClientConnection:
    # Offering client_no_context_takeover lets a server that requires it accept compression (13.x cases).
    deflate = PerMessageDeflate(client_no_context_takeover=True, compress_level=COMPRESS_LEVEL)
    return ClientConnection(max_message_size=MAX_MESSAGE_SIZE, deflate=deflate)


class EchoProtocol(asyncio.Protocol):
    """One WebSocket connection over an asyncio transport, echoing every message it receives.

    The server side drops the TCP connection as soon as the connection is closed (it is the server's job,
    RFC 6455 section 7.1.1); the client side waits up to CLOSE_TIMEOUT for the server to do so.
    """

    def __init__(self, connection, request: Request | None = None) -> None:
        self.ws = connection
        self.request = request  # the client's upgrade request, sent once connected
        self.transport = None
        self.closed = asyncio.get_running_loop().create_future()  # done when the TCP connection is gone

    def connection_made(self, transport) -> None:
        self.transport = transport
        if self.request is not None:
            transport.write(self.ws.send(self.request))

    def data_received(self, data: bytes) -> None:
        self._receive(data)

    def eof_received(self) -> bool:
        self._receive(None)
        return False  # let the transport close itself

    def connection_lost(self, exc) -> None:
        if not self.closed.done():
            self.closed.set_result(None)

    def _receive(self, data: bytes | None) -> None:
        ws = self.ws
        ws.receive_data(data)
        # First the pongs the connection sent by itself, then our answers to the events, then what the
        # events closed: the reply to the peer's close, or the close frame after a protocol error.
        out = [ws.data_to_send()]
        try:
            for event in ws.events():
                if isinstance(event, Request):
                    out.append(ws.send(AcceptConnection(extra_headers=[("Server", AGENT)])))
                elif isinstance(event, Message):
                    out.append(ws.send(event))
                elif isinstance(event, (CloseConnection, RejectConnection)):
                    break
        except WebSocketError:
            pass  # a protocol error: the connection queued its close frame (or HTTP error response)
        out.append(ws.data_to_send())
        self.transport.write(b"".join(out))
        if ws.state is ConnectionState.CLOSED:
            self._finish()

    def _finish(self) -> None:
        if isinstance(self.ws, ServerConnection):
            self.transport.close()  # after the buffered writes
        else:
            asyncio.get_running_loop().call_later(CLOSE_TIMEOUT, self.transport.abort)


async def serve(host: str, port: int) -> asyncio.AbstractServer:
    """Starts the echo server; its ``sockets`` say the port when 0 was asked for."""
    loop = asyncio.get_running_loop()
    return await loop.create_server(lambda: EchoProtocol(server_connection()), host, port)


async def _client_session(host: str, port: int, target: str, timeout: float) -> None:
    loop = asyncio.get_running_loop()
    request = Request(host=f"{host}:{port}", target=target)
    transport, protocol = await asyncio.wait_for(
        loop.create_connection(lambda: EchoProtocol(client_connection(), request), host, port), timeout
    )
    try:
        await asyncio.wait_for(asyncio.shield(protocol.closed), timeout)
    except asyncio.TimeoutError:
        transport.abort()
        raise


async def run_client_cases(url: str, count: int, *, case_timeout: float = 60.0, agent: str = AGENT) -> list[int]:
    """Runs cases 1..count against the fuzzing server at ``url``, then /updateReports.

    Returns the case numbers that did not finish within ``case_timeout`` seconds (or failed to connect).
    """
    parts = urlsplit(url)
    host, port = parts.hostname, parts.port or 80
    timed_out = []
    started = asyncio.get_running_loop().time()
    for case in range(1, count + 1):
        if case > 1 and (case - 1) % 50 == 0:
            elapsed = asyncio.get_running_loop().time() - started
            print(f"progress: {case - 1}/{count} cases in {elapsed:.0f} s", flush=True)
        try:
            await _client_session(host, port, f"/runCase?case={case}&agent={agent}", case_timeout)
        except (OSError, asyncio.TimeoutError) as exc:
            print(f"case {case}: {type(exc).__name__} {exc}", file=sys.stderr, flush=True)
            timed_out.append(case)
    await _client_session(host, port, f"/updateReports?agent={agent}", case_timeout)
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
        print(f"listening on port {server.sockets[0].getsockname()[1]}", flush=True)
        await server.serve_forever()
        return 0
    timed_out = await run_client_cases(args.url, args.count, case_timeout=args.case_timeout)
    return 1 if timed_out else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(_main()))
