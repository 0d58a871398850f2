"""A thin asyncio integration of the sans-I/O codec: a WebSocket server and client on asyncio Protocols.

It is the reference for embedding :mod:`wsframe.connection` in an event loop (see
:mod:`wsframe.asyncio.protocol`) and the driver of the test suite and of ``python -m wsframe``, not a
framework. It runs on the default event loop and on uvloop alike.

    async def echo(ws):
        async for message in ws:
            await ws.send(message)

    async with await serve(echo, "127.0.0.1", 8765) as server:
        await server.serve_forever()

    async with connect("ws://127.0.0.1:8765/") as ws:
        await ws.send("hello")
        print(await ws.recv())

    broadcast(server.connections, "to everyone")  # encoded once, written without awaiting
"""

from ..errors import ConnectionClosed, ConnectionClosedError, ConnectionClosedOK
from .broadcast import broadcast
from .client import connect
from .protocol import WebSocket
from .server import Server, serve

__all__ = [
    "serve",
    "Server",
    "broadcast",
    "connect",
    "WebSocket",
    "ConnectionClosed",
    "ConnectionClosedOK",
    "ConnectionClosedError",
]
