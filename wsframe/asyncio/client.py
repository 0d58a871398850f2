"""The asyncio WebSocket client: :func:`connect`."""

from __future__ import annotations

import asyncio
import ssl as ssl_module
from urllib.parse import urlsplit

from ..connection import DEFAULT_MAX_MESSAGE_SIZE, ClientConnection
from ..deflate import PerMessageDeflate
from ..errors import HandshakeError, HandshakeRejected
from ..events import AcceptConnection, RejectConnection, Request
from .protocol import DEFAULT_MAX_QUEUE, DEFAULT_MAX_QUEUE_BYTES, WebSocket

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time
if TYPE_CHECKING:
    from collections.abc import Callable, Generator, Iterable
    from typing import Any

    from ..errors import WebSocketError
    from ..events import Event

__all__ = ["connect"]


class _ClientWebSocket(WebSocket):
    """The client's side of one connection: sends the upgrade request and waits for the answer."""

    def __init__(self, connection: ClientConnection, **options: Any) -> None:
        super().__init__(connection, **options)
        self._opened: asyncio.Future[None] = self._loop.create_future()

    async def _open(self, request: Request) -> None:
        self.transport.write(self.connection.send(request))
        await self._opened
        self._start_keepalive()

    def _handshake_event(self, event: Event) -> None:
        if self._opened.done():
            return
        if type(event) is AcceptConnection:
            self.response = event
            self._opened.set_result(None)
        elif type(event) is RejectConnection:
            self._opened.set_exception(HandshakeRejected(event.status_code, event.headers, event.body))

    def _fail(self, error: WebSocketError) -> None:
        super()._fail(error)
        if isinstance(error, HandshakeError) and not self._opened.done():
            self._opened.set_exception(error)

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        if not self._opened.done():
            self._opened.set_exception(self._closed_error())


def _ascii_host(hostname: str) -> str:
    """The host name as sent in Host and SNI and resolved: IDNA for a non-ASCII name (RFC 5890)."""
    if hostname.isascii():
        return hostname
    try:
        return hostname.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise ValueError(f"host {hostname!r} is not a valid internationalized domain name: {exc}") from None


class connect:
    """Opens a WebSocket connection to a ``ws://`` or ``wss://`` URL.

    ``await connect(url)`` returns the open :class:`~wsframe.asyncio.WebSocket`; ``async with
    connect(url) as ws:`` also closes it (1000) on exit. Raises
    :class:`~wsframe.errors.HandshakeRejected` when the server answers with an HTTP error (its status,
    headers and body), :class:`~wsframe.errors.HandshakeError` on an invalid answer, and
    :class:`asyncio.TimeoutError` when connecting plus the opening handshake take over ``open_timeout``
    seconds.

    ``subprotocols`` offered in order of preference; ``compression`` the permessage-deflate offer (None
    for none); ``origin`` the Origin header; ``extra_headers`` more ``(name, value)`` request headers;
    ``ssl`` an :class:`ssl.SSLContext` for wss (default: :func:`ssl.create_default_context`). The other
    options are those of :func:`~wsframe.asyncio.serve`.

    The URL is checked at once (ValueError): credentials in it (``ws://user:pass@host/``) are refused,
    not sent (put an ``Authorization`` header in ``extra_headers`` instead), as are a fragment (RFC 6455
    3) and port 0; an internationalized host name is sent and resolved in its ASCII (IDNA 2003,
    ``str.encode("idna")``) form.
    """

    def __init__(
        self,
        url: str,
        *,
        subprotocols: Iterable[str] = (),
        compression: PerMessageDeflate | None = PerMessageDeflate(),
        origin: str | None = None,
        extra_headers: Iterable[tuple[str, str]] = (),
        max_message_size: int | None = DEFAULT_MAX_MESSAGE_SIZE,
        max_queue: int | None = DEFAULT_MAX_QUEUE,
        max_queue_bytes: int | None = DEFAULT_MAX_QUEUE_BYTES,
        ping_interval: float | None = 20.0,
        ping_timeout: float | None = 20.0,
        open_timeout: float = 10.0,
        close_timeout: float = 10.0,
        ssl: ssl_module.SSLContext | None = None,
    ) -> None:
        parts = urlsplit(url)
        if "@" in parts.netloc:  # checked first: the message must not repeat the credentials
            raise ValueError("credentials in a WebSocket URL are not supported: send an Authorization header")
        if parts.scheme not in ("ws", "wss") or not parts.hostname:
            raise ValueError(f"not a ws:// or wss:// URL: {url!r}")
        if "#" in url:
            raise ValueError(f"a WebSocket URL has no fragment: {url!r}")
        if parts.port == 0:  # parts.port raises ValueError itself for ports that are not 0 to 65535
            raise ValueError(f"port 0 in {url!r}")
        secure = parts.scheme == "wss"
        if ssl is not None and not secure:
            raise ValueError("an ssl context was given for a ws:// URL")
        self._host = _ascii_host(parts.hostname)
        self._port = parts.port or (443 if secure else 80)
        self._ssl = (ssl or ssl_module.create_default_context()) if secure else None
        host = f"[{self._host}]" if ":" in self._host else self._host
        if parts.port is not None:
            host = f"{host}:{parts.port}"
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._request = Request(host, target, origin=origin, subprotocols=subprotocols, headers=extra_headers)
        self._open_timeout = open_timeout
        self._make_connection: Callable[[], ClientConnection] = lambda: ClientConnection(
            max_message_size=max_message_size, deflate=compression
        )
        self._options = dict(
            max_queue=max_queue,
            max_queue_bytes=max_queue_bytes,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            close_timeout=close_timeout,
        )
        self._websocket: WebSocket | None = None

    def __await__(self) -> Generator[Any, None, WebSocket]:
        return self._connect().__await__()

    async def __aenter__(self) -> WebSocket:
        self._websocket = await self._connect()
        return self._websocket

    async def __aexit__(self, *exc_info: object) -> None:
        await self._websocket.close()  # type: ignore[union-attr]  # set by __aenter__

    async def _connect(self) -> WebSocket:
        return await asyncio.wait_for(self._open(), self._open_timeout)

    async def _open(self) -> WebSocket:
        loop = asyncio.get_running_loop()
        transport, websocket = await loop.create_connection(
            lambda: _ClientWebSocket(self._make_connection(), **self._options),
            self._host,
            self._port,
            ssl=self._ssl,
            server_hostname=self._host if self._ssl is not None else None,
        )
        try:
            await websocket._open(self._request)
        except BaseException:
            transport.abort()
            raise
        return websocket
