"""Exceptions raised by wsframe.

Every error a peer can cause carries what to send back: a WebSocket close code for errors on an open
connection, an HTTP status for errors in the opening handshake. This module imports nothing of wsframe,
so the hot path (native and fallback alike) raises these same classes.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time
if TYPE_CHECKING:
    from collections.abc import Iterable

    from .handshake import HTTPRequest

__all__ = [
    "WebSocketError",
    "ProtocolError",
    "InvalidUTF8",
    "MessageTooBig",
    "HandshakeError",
    "HandshakeRejected",
    "InvalidState",
    "ConnectionClosed",
    "ConnectionClosedOK",
    "ConnectionClosedError",
]


class WebSocketError(Exception):
    """Base class of every wsframe exception."""


class ProtocolError(WebSocketError):
    """The peer broke RFC 6455; fail the connection with :attr:`close_code` (1002 by default)."""

    close_code = 1002

    def __init__(self, message: str, close_code: int | None = None) -> None:
        super().__init__(message)
        if close_code is not None:
            self.close_code = close_code


class InvalidUTF8(ProtocolError):
    """Text that is not UTF-8 (close code 1007).

    :attr:`offset` is the index of the first byte after which the stream can never be valid UTF-8;
    for a stream that ends inside a multi-byte sequence it is the stream's length.
    """

    close_code = 1007

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset


class MessageTooBig(ProtocolError):
    """A frame or message over the configured size limit (close code 1009)."""

    close_code = 1009


class HandshakeError(WebSocketError):
    """The opening handshake failed.

    On the server side :attr:`status` is the HTTP status to answer with (400 unless said otherwise) and
    :attr:`headers` the extra response headers it needs (426 carries ``Sec-WebSocket-Version: 13``);
    :attr:`request` is the parsed :class:`~wsframe.handshake.HTTPRequest` when the head was well-formed
    HTTP but no acceptable upgrade (e.g. a plain GET, for a server that also answers HTTP), else None.
    On the client side (an invalid response from the server) :attr:`status` is None.
    """

    def __init__(
        self,
        message: str,
        status: int | None = 400,
        headers: Iterable[tuple[str, str]] = (),
        request: HTTPRequest | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.headers = list(headers)
        self.request = request


class HandshakeRejected(HandshakeError):
    """The server answered the client's upgrade request with something other than 101.

    :attr:`status`, :attr:`headers` and :attr:`body` are the server's response.
    """

    def __init__(self, status: int, headers: Iterable[tuple[str, str]], body: bytes) -> None:
        super().__init__(f"server rejected the WebSocket upgrade with HTTP {status}", status, headers)
        self.body = body


class InvalidState(WebSocketError):
    """The caller asked for something the connection's state does not allow (e.g. sending after close)."""


class ConnectionClosed(WebSocketError):
    """The WebSocket connection is closed; :attr:`code` and :attr:`reason` tell how it ended.

    Raised by I/O integrations (e.g. :mod:`wsframe.asyncio`) when the application receives from or sends
    to a closed connection. ``code`` is the peer's close code, 1005 when its close frame had none, the
    code we failed the connection with after a peer's protocol error, or 1006 when the connection was
    lost without a closing handshake.
    """

    def __init__(self, code: int, reason: str = "") -> None:
        super().__init__(f"connection closed with code {code}" + (f": {reason}" if reason else ""))
        self.code = code
        self.reason = reason


class ConnectionClosedOK(ConnectionClosed):
    """The connection ended normally: close code 1000 (normal), 1001 (going away) or 1005 (no code)."""


class ConnectionClosedError(ConnectionClosed):
    """The connection ended abnormally: any other close code, including 1006 (no closing handshake)."""
