"""wsproto 1.3's public API on wsframe: ``import wsframe.compat.wsproto as wsproto``.

:func:`install` makes ``import wsproto`` (and its submodules) load this package instead, so that code
written for wsproto (hypercorn, httpx-ws, uvicorn's wsproto mode) runs on wsframe unchanged. Needs no
h11: the handshake runs on :mod:`wsframe.handshake`. Where it differs from wsproto is said in the
submodules' docstrings (handshake, connection, events, extensions).
"""

from __future__ import annotations

import sys
from importlib import import_module

from .connection import Connection, ConnectionState, ConnectionType
from .handshake import H11Handshake

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time
if TYPE_CHECKING:
    from collections.abc import Iterator

    from .events import Event
    from .typing import Headers

__version__ = "1.3.2"  # the wsproto release whose API and test suite this package follows

__all__ = ["ConnectionType", "WSConnection", "install"]

SUBMODULES = ("connection", "events", "extensions", "frame_protocol", "handshake", "typing", "utilities")


class WSConnection:
    """One end of a WebSocket connection, handshake included: ``send`` events, ``receive_data``, ``events``."""

    def __init__(self, connection_type: ConnectionType) -> None:
        self.client = connection_type is ConnectionType.CLIENT
        self.handshake = H11Handshake(connection_type)
        self.connection: Connection | None = None

    @property
    def state(self) -> ConnectionState:
        if self.connection is None:
            return self.handshake.state
        return self.connection.state

    def initiate_upgrade_connection(self, headers: Headers, path: bytes | str) -> None:
        """Server: takes a request that the caller's HTTP server already read."""
        self.handshake.initiate_upgrade_connection(headers, path)

    def send(self, event: Event) -> bytes:
        """The bytes to write for ``event``."""
        if self.connection is None:
            data = self.handshake.send(event)
            self.connection = self.handshake.connection
            return data
        return self.connection.send(event)

    def receive_data(self, data: bytes | None) -> None:
        """Feeds received bytes (``None`` at the end of the stream); then read :meth:`events`."""
        if self.connection is None:
            self.handshake.receive_data(data)
            self.connection = self.handshake.connection
        else:
            self.connection.receive_data(data)

    def events(self) -> Iterator[Event]:
        """An iterator over the events received so far: the handshake's, then the connection's."""
        if self.connection is None:
            return self.handshake.events()
        if not self.handshake._events:  # the usual case once open: no generator to chain through
            return self.connection.events()
        return _chain(self.handshake.events(), self.connection)


def _chain(handshake_events: Iterator[Event], connection: Connection) -> Iterator[Event]:
    yield from handshake_events
    yield from connection.events()  # taken after the handshake's, as wsproto does


def install() -> None:
    """Makes ``import wsproto`` and ``import wsproto.<submodule>`` load this package and its submodules.

    Call it before anything imports wsproto; RuntimeError if the real wsproto is imported already.
    """
    current = sys.modules.get("wsproto")
    this = sys.modules[__name__]
    if current is not None and current is not this:
        raise RuntimeError("wsproto is imported already: call install() before anything imports it")
    sys.modules["wsproto"] = this
    for name in SUBMODULES:
        sys.modules[f"wsproto.{name}"] = import_module(f"{__name__}.{name}")
