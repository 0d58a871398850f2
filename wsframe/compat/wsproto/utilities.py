"""wsproto.utilities: the errors, and the header and accept-key helpers."""

from __future__ import annotations

from wsframe.handshake import GUID, accept_token, generate_key

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time
if TYPE_CHECKING:
    from collections.abc import Iterable

    from .events import Event

__all__ = [
    "ACCEPT_GUID",
    "ProtocolError",
    "LocalProtocolError",
    "RemoteProtocolError",
    "normed_header_dict",
    "split_comma_header",
    "generate_nonce",
    "generate_accept_token",
]

ACCEPT_GUID = GUID.encode("ascii")


class ProtocolError(Exception):
    """Base class of the two errors below."""


class LocalProtocolError(ProtocolError):
    """The caller asked for something the connection's state or RFC 6455 does not allow."""


class RemoteProtocolError(ProtocolError):
    """The peer broke the protocol during the handshake; ``event_hint`` is the event to answer with."""

    def __init__(self, message: str, event_hint: Event | None = None) -> None:
        self.event_hint = event_hint
        super().__init__(message)


def normed_header_dict(headers: Iterable[tuple[bytes, bytes]]) -> dict[bytes, bytes]:
    """``{name: value}``; repeated headers joined with ``", "`` (names as given: h11's are lower case)."""
    values: dict[bytes, list[bytes]] = {}
    for name, value in headers:
        values.setdefault(name, []).append(value)
    return {name: b", ".join(parts) for name, parts in values.items()}


def split_comma_header(value: bytes) -> list[str]:
    """The comma-separated elements of a header value, stripped (as wsproto: empty ones kept)."""
    return [element.decode("ascii").strip() for element in value.split(b",")]


def generate_nonce() -> bytes:
    """A fresh Sec-WebSocket-Key (base64 of 16 random bytes), as bytes."""
    return generate_key().encode("ascii")


def generate_accept_token(token: bytes) -> bytes:
    """The Sec-WebSocket-Accept value for a Sec-WebSocket-Key, as bytes."""
    return accept_token(token.decode("ascii")).encode("ascii")
