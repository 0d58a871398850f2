"""The asyncio WebSocket server: :func:`serve` starts a :class:`Server` that runs ``handler(ws)`` per connection."""

from __future__ import annotations

import asyncio
import inspect

from .. import handshake
from ..connection import DEFAULT_MAX_MESSAGE_SIZE, ConnectionState, ServerConnection, check_origin_policy
from ..deflate import PerMessageDeflate
from ..errors import ConnectionClosed, HandshakeError
from ..events import AcceptConnection, RejectConnection, Request
from .protocol import DEFAULT_MAX_QUEUE, DEFAULT_MAX_QUEUE_BYTES, WebSocket, logger

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time
if TYPE_CHECKING:
    import socket
    import ssl as ssl_module
    from collections.abc import Awaitable, Callable, Iterable
    from typing import Any

    from ..connection import _OriginPolicy
    from ..errors import WebSocketError
    from ..events import Event

    _Handler = Callable[[WebSocket], Awaitable[object]]
    _Compression = PerMessageDeflate | None | Callable[[Request], PerMessageDeflate | None]
    _ProcessRequest = Callable[[Request], RejectConnection | None | Awaitable[RejectConnection | None]]
    # (status, headers, body), or None for the codec's answer (426)
    _HTTPHandler = Callable[[handshake.HTTPRequest], tuple[int, Iterable[tuple[str, str]], bytes] | None]

__all__ = ["serve", "Server"]


class _ServerWebSocket(WebSocket):
    """The server's side of one connection: the opening handshake, then ``handler(self)``."""

    def __init__(self, server: Server, connection: ServerConnection, **options: Any) -> None:
        super().__init__(connection, **options)
        self._server = server
        self._open_timer: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._server._connections.add(self)
        self._open_timer = self._loop.call_later(self._server.open_timeout, self._open_timed_out)

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self._cancel_open_timer()
        self._server._connections.discard(self)

    def _handshake_event(self, event: Event) -> None:
        if type(event) is Request:
            self.request = event
            self._update_reading()  # no more frames until the application has answered
            self._task = self._loop.create_task(self._run())
            self._server._tasks.add(self._task)
            self._task.add_done_callback(self._server._tasks.discard)

    def _fail(self, error: WebSocketError) -> None:
        super()._fail(error)
        self._cancel_open_timer()
        if self._server.http_handler is not None and isinstance(error, HandshakeError) and error.request is not None:
            self._serve_http(error.request)

    def _serve_http(self, request: handshake.HTTPRequest) -> None:
        """A plain HTTP GET (no Upgrade header) the codec refused: http_handler may answer it instead."""
        if request.method != "GET" or handshake.header_values(request.headers, "Upgrade"):
            return
        response = None
        try:
            response = self._server.http_handler(request)  # type: ignore[misc]  # _fail checked it is set
            if response is None:
                return  # the codec's answer (426) goes out
            status, headers, body = response
            answer = handshake.build_rejection(status, headers=headers, body=body)
        except Exception:  # here, not in data_received: the client gets its 500
            logger.exception("http_handler failed or returned an invalid response: %r", response)
            answer = handshake.build_rejection(_INTERNAL_ERROR.status_code, body=_INTERNAL_ERROR.body)
        self.connection.data_to_send()  # the codec's answer, replaced by the handler's
        self.transport.write(answer)

    def _open_timed_out(self) -> None:
        self._open_timer = None
        if self.connection.state is ConnectionState.CONNECTING:
            logger.debug("dropping %s: no handshake within %s s", self.remote_address, self._server.open_timeout)
            self.transport.abort()

    def _cancel_open_timer(self) -> None:
        if self._open_timer is not None:
            self._open_timer.cancel()
            self._open_timer = None

    async def _run(self) -> None:
        """Answers the request (after ``process_request``), then runs the handler and closes."""
        server = self._server
        rejection = await self._process_request()
        if self._lost or self.connection.state is not ConnectionState.CONNECTING:
            return  # the peer left, the open timeout struck, or the codec refused the request meanwhile
        self._cancel_open_timer()
        if rejection is not None:
            try:
                response = self.connection.send(rejection)
            except Exception:  # the codec refused it and left the request waiting for an answer
                logger.exception("process_request returned an invalid rejection: %r", rejection)
                response = self.connection.send(_INTERNAL_ERROR)
            self.transport.write(response)
            self._release_transport()
            return
        self.transport.write(self.connection.send(AcceptConnection()))
        self._process()  # frames that came with the request
        self._update_reading()
        self._start_keepalive()
        code = 1000
        try:
            await server.handler(self)
        except ConnectionClosed:
            pass  # the peer went away while the handler was using the connection: nothing to report
        except Exception:
            logger.exception("connection handler failed")
            code = 1011
        except asyncio.CancelledError:
            self.transport.abort()
            raise
        await self.close(code)

    async def _process_request(self) -> RejectConnection | None:
        """``process_request``'s answer, then the compression policy when it is chosen per request; a 500
        (and the error logged) when either raises or process_request returns another type."""
        process_request = self._server.process_request
        compression = self._server.compression
        try:
            if process_request is not None:
                rejection = process_request(self.request)  # type: ignore[arg-type]  # set before _run starts
                if inspect.isawaitable(rejection):
                    rejection = await rejection
                if rejection is not None:
                    if not isinstance(rejection, RejectConnection):
                        raise TypeError(f"process_request returned {rejection!r}, not None or a RejectConnection")
                    return rejection
            if callable(compression):
                self.connection.deflate = compression(self.request)  # type: ignore[arg-type]  # as above
        except Exception:
            logger.exception("process_request failed" if process_request is not None else "compression failed")
            return _INTERNAL_ERROR
        return None


_INTERNAL_ERROR = RejectConnection(500, body=b"internal server error\n")


class Server:
    """A listening WebSocket server; see :func:`serve`. An async context manager that closes on exit.

    :attr:`sockets` are the listening sockets, :attr:`port` the first one's port (for ``port=0``).
    """

    def __init__(self, handler: _Handler, **options: Any) -> None:
        self.handler = handler
        self.subprotocols: list[str] = options["subprotocols"]
        self.origins = check_origin_policy(options["origins"])
        self.compression: _Compression = options["compression"]
        self.max_message_size: int | None = options["max_message_size"]
        self.max_queue: int | None = options["max_queue"]
        self.max_queue_bytes: int | None = options["max_queue_bytes"]
        self.ping_interval: float | None = options["ping_interval"]
        self.ping_timeout: float | None = options["ping_timeout"]
        self.open_timeout: float = options["open_timeout"]
        self.close_timeout: float = options["close_timeout"]
        self.max_request_head: int = options["max_request_head"]
        self.process_request: _ProcessRequest | None = options["process_request"]
        self.http_handler: _HTTPHandler | None = options["http_handler"]
        self._server: asyncio.Server = None  # type: ignore[assignment]  # set by serve() before it returns this
        self._port = 0
        self._connections: set[_ServerWebSocket] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing: asyncio.Task[None] | None = None
        self._closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()  # done when close() is done

    def _make_protocol(self) -> _ServerWebSocket:
        connection = ServerConnection(
            subprotocols=self.subprotocols,
            origins=self.origins,
            max_request_head=self.max_request_head,
            max_message_size=self.max_message_size,
            deflate=None if callable(self.compression) else self.compression,  # per request: see _process_request
        )
        return _ServerWebSocket(
            self,
            connection,
            max_queue=self.max_queue,
            max_queue_bytes=self.max_queue_bytes,
            ping_interval=self.ping_interval,
            ping_timeout=self.ping_timeout,
            close_timeout=self.close_timeout,
        )

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        """The listening sockets."""
        return self._server.sockets

    @property
    def port(self) -> int:
        """The port of the first listening socket (still known after :meth:`close`)."""
        return self._port

    @property
    def connections(self) -> set[WebSocket]:
        """The open connections (their :class:`~wsframe.asyncio.WebSocket` objects)."""
        return set(self._connections)

    async def serve_forever(self) -> None:
        """Serves until cancelled (e.g. by Ctrl-C under :func:`asyncio.run`) or until :meth:`close` has
        finished; leave the graceful shutdown to :meth:`close` (``async with`` calls it)."""
        # Not asyncio's Server.serve_forever: cancelled, it waits for every connection to end (Python
        # 3.12+), before close() could send them 1001.
        await asyncio.shield(self._closed)

    async def close(self) -> None:
        """Graceful shutdown: stop listening, close every connection with 1001 (going away), wait up to
        ``close_timeout`` for the closing handshakes and then for the handlers, cancel those still running."""
        if self._closing is None:
            self._closing = asyncio.ensure_future(self._shutdown())
        await asyncio.shield(self._closing)

    async def wait_closed(self) -> None:
        """Waits until :meth:`close` has finished."""
        await asyncio.shield(self._closed)

    async def _shutdown(self) -> None:
        self._server.close()
        for ws in list(self._connections):
            if ws._releasing:  # no need to linger for a peer's EOF any more
                ws.transport.abort()
        closing = [ws.close(1001, "server shutting down") for ws in list(self._connections)]
        if closing:
            await asyncio.gather(*closing, return_exceptions=True)
        if self._tasks:
            _done, running = await asyncio.wait(set(self._tasks), timeout=self.close_timeout)
            for task in running:
                task.cancel()
            if running:
                await asyncio.wait(running)
        await self._server.wait_closed()
        self._closed.set_result(None)

    async def __aenter__(self) -> Server:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


async def serve(
    handler: _Handler,
    host: str | None = "127.0.0.1",
    port: int = 8765,
    *,
    subprotocols: Iterable[str] = (),
    origins: _OriginPolicy = None,
    compression: _Compression = PerMessageDeflate(),
    max_message_size: int | None = DEFAULT_MAX_MESSAGE_SIZE,
    max_queue: int | None = DEFAULT_MAX_QUEUE,
    max_queue_bytes: int | None = DEFAULT_MAX_QUEUE_BYTES,
    ping_interval: float | None = 20.0,
    ping_timeout: float | None = 20.0,
    open_timeout: float = 10.0,
    close_timeout: float = 10.0,
    max_request_head: int = 65536,
    ssl: ssl_module.SSLContext | None = None,
    sock: socket.socket | None = None,
    process_request: _ProcessRequest | None = None,
    http_handler: _HTTPHandler | None = None,
) -> Server:
    """Starts a WebSocket server on ``host``:``port`` (``port=0``: any free port, see :attr:`Server.port`).

    ``handler(ws)`` is a coroutine function run once per connection after the opening handshake; when it
    returns the connection is closed with 1000, if it raises with 1011 (and the error is logged).

    ``subprotocols``: the ones spoken, in order of preference. ``origins``: None allows any Origin, else
    a collection of allowed values (``None`` in it allows requests without Origin; not a str) or a
    predicate; a refused Origin (or a predicate that raises) gets 403. ``compression``: the
    permessage-deflate policy, None to disable, or a callable that returns one of those for each
    :class:`~wsframe.events.Request` (called after ``process_request``; if it raises: 500).
    ``max_message_size`` (bytes; 1009 beyond; 1 MiB), ``max_queue`` and ``max_queue_bytes`` (received
    messages, and their bytes, waiting before reading pauses; 16 and 1 MiB: with the defaults a peer can
    make a connection hold at most ~4.7 MiB, ~10.7 MiB if it sends text; the README itemizes it),
    ``ping_interval``/``ping_timeout`` (keepalive; None disables), ``open_timeout`` (seconds for the
    whole opening handshake; over TLS the TLS handshake before it gets as long again),
    ``close_timeout`` (seconds for the closing handshake), ``max_request_head`` (bytes; 431 beyond),
    ``ssl`` (an :class:`ssl.SSLContext` for wss), ``sock`` (a bound socket to listen on instead of
    ``host`` and ``port``; see :mod:`wsframe.workers`).

    ``process_request(request)`` (sync or async) sees the :class:`~wsframe.events.Request` before it is
    accepted: return a :class:`~wsframe.events.RejectConnection` to refuse it (authentication), None to
    accept; if it raises or returns anything else the client gets 500 and the error is logged. Reading
    pauses while it runs: frames the client sent early are decoded after the accept.
    ``http_handler(request)`` gets plain HTTP GET requests (no Upgrade header) as a
    :class:`~wsframe.handshake.HTTPRequest` and returns ``(status, headers, body)``, or None to answer
    with the usual handshake error (426); if it raises or returns a response
    :func:`~wsframe.handshake.build_rejection` refuses, the client gets 500 and the error is logged.
    """
    server = Server(
        handler,
        subprotocols=list(subprotocols),
        origins=origins,
        compression=compression,
        max_message_size=max_message_size,
        max_queue=max_queue,
        max_queue_bytes=max_queue_bytes,
        ping_interval=ping_interval,
        ping_timeout=ping_timeout,
        open_timeout=open_timeout,
        close_timeout=close_timeout,
        max_request_head=max_request_head,
        process_request=process_request,
        http_handler=http_handler,
    )
    loop = asyncio.get_running_loop()
    # The open timer starts once TLS is up: bound the TLS handshake too (asyncio's default is 60 s).
    tls_timeout = open_timeout if ssl is not None else None
    if sock is not None:
        host = port = None  # type: ignore[assignment]  # create_server takes the socket instead
    # create_server's overloads take either host and port or sock, as the branch above ensures.
    server._server = await loop.create_server(
        server._make_protocol,
        host,
        port,
        sock=sock,  # type: ignore[arg-type]
        ssl=ssl,
        ssl_handshake_timeout=tls_timeout,
    )
    server._port = server._server.sockets[0].getsockname()[1]
    return server
