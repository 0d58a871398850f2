"""The states of a :class:`~wsframe.connection.Connection`, in a module of their own so that the
connection's compiled core (``_connection_core``) and ``connection`` share one enum."""

from __future__ import annotations

import enum

__all__ = ["ConnectionState"]


class ConnectionState(enum.Enum):
    CONNECTING = "connecting"  # opening handshake in progress
    OPEN = "open"
    CLOSING = "closing"  # we sent a close frame and wait for the peer's
    CLOSED = "closed"  # close frames exchanged, connection failed, or handshake refused
