"""wsproto.connection: the open WebSocket connection, on wsframe's sans-I/O connection.

wsframe's :class:`~wsframe.connection.ServerConnection` / :class:`~wsframe.connection.ClientConnection`
(opened, streaming messages, no automatic pongs, no message size limit, as wsproto) decodes, checks,
inflates and encodes; this class translates its events and keeps wsproto's states: the peer's close
moves to ``REMOTE_CLOSING`` and the caller answers it; a protocol error of the peer arrives as a
:class:`~.events.CloseConnection` with the close code to answer with, the state unchanged.
"""

from __future__ import annotations

import os
from enum import Enum

from wsframe import connection as _wsframe_connection
from wsframe import events as _wsframe
from wsframe._hotpath import encode_frame
from wsframe.errors import InvalidState, ProtocolError
from wsframe.frames import MAX_CLOSE_REASON, Opcode

from .events import BytesMessage, CloseConnection, Message, Ping, Pong, TextMessage
from .extensions import PerMessageDeflate
from .frame_protocol import LOCAL_ONLY_CLOSE_REASONS, CloseReason
from .utilities import LocalProtocolError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time
if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from typing import Any

    from .events import Event
    from .extensions import Extension

__all__ = ["ConnectionState", "ConnectionType", "CLIENT", "SERVER", "Connection"]


class ConnectionState(Enum):
    """wsproto's states (RFC 6455 section 4 and 7)."""

    CONNECTING = 0
    OPEN = 1
    REMOTE_CLOSING = 2  # the peer sent its close frame; ours is still to send
    LOCAL_CLOSING = 3  # we sent ours and wait for the peer's
    CLOSED = 4
    REJECTING = 5  # the server is sending a refusing HTTP response's body


class ConnectionType(Enum):
    CLIENT = 1
    SERVER = 2


CLIENT = ConnectionType.CLIENT
SERVER = ConnectionType.SERVER

_OPEN = ConnectionState.OPEN
_CLOSE = int(Opcode.CLOSE)
_new_message = tuple.__new__
_WSFRAME_TEXT = _wsframe.TextMessage
_WSFRAME_BYTES = _wsframe.BytesMessage
_WSFRAME_CLOSE = _wsframe.CloseConnection
_BYTES_LIKE = (bytes, bytearray, memoryview)
# What wsframe's events() returns when no close or error is among them.
_LIST_ITERATOR: type[Iterator[object]] = type(iter([]))


def _close_reason(code: int) -> int:
    try:
        return CloseReason(code)
    except ValueError:
        return code


# Any: a wsframe TextMessage, BytesMessage, Ping or Pong, told apart by exact type (mypy cannot follow).
def _translate(event: Any) -> Event:
    """A wsframe event as its wsproto counterpart (closes are handled by the connection)."""
    kind = type(event)
    if kind is _WSFRAME_TEXT:
        data, finished = event
        return _new_message(TextMessage, (data, True, finished))
    if kind is _WSFRAME_BYTES:
        data, finished = event
        return _new_message(BytesMessage, (data, True, finished))
    if kind is _wsframe.Ping:
        return Ping(event.payload)
    return Pong(event.payload)


class Connection:
    """An open WebSocket connection, for a caller that did the handshake (or for :class:`~.WSConnection`).

    ``extensions`` are the negotiated ones: an enabled :class:`~.extensions.PerMessageDeflate` turns
    compression on; any other enabled extension is refused (ValueError), its frame hooks cannot run.
    ``trailing_data`` is what arrived after the handshake.
    """

    def __init__(
        self, connection_type: ConnectionType, extensions: Sequence[Extension] | None = None, trailing_data: bytes = b""
    ) -> None:
        self.client = connection_type is ConnectionType.CLIENT
        deflate = None
        for extension in extensions or ():
            if not extension.enabled():
                continue
            if not isinstance(extension, PerMessageDeflate):
                raise ValueError(f"extension {extension.name!r} is not supported: only permessage-deflate is")
            deflate = extension._agreed()
        kind = _wsframe_connection.ClientConnection if self.client else _wsframe_connection.ServerConnection
        self._conn = kind(
            opened=True,
            deflate_parameters=deflate,
            stream_messages=True,
            auto_pong=False,
            max_message_size=None,
        )
        self._state = ConnectionState.OPEN
        self._pending: list[Event] = []  # events of our own (end of stream), delivered first
        self.receive_data(trailing_data)

    @property
    def state(self) -> ConnectionState:
        return self._state

    def send(self, event: Event) -> bytes:
        """The bytes carrying ``event``; LocalProtocolError when the state does not allow it."""
        state = self._state
        try:
            if isinstance(event, Message) and state is _OPEN:
                data = event[0]
                if isinstance(data, str):
                    return self._conn.send_text(data, event[2])
                if isinstance(data, _BYTES_LIKE):
                    return self._conn.send_binary(data, event[2])
                raise TypeError("Must provide bytes or text")
            if isinstance(event, Ping) and state is _OPEN:
                return self._conn.send(_wsframe.Ping(event.payload))
            if isinstance(event, Pong) and state is _OPEN:
                return self._conn.send(_wsframe.Pong(event.payload))
        except InvalidState as exc:
            raise LocalProtocolError(str(exc)) from None
        if isinstance(event, CloseConnection) and (state is _OPEN or state is ConnectionState.REMOTE_CLOSING):
            data = self._close_frame(event.code, event.reason)
            remote_closing = state is ConnectionState.REMOTE_CLOSING
            self._state = ConnectionState.CLOSED if remote_closing else ConnectionState.LOCAL_CLOSING
            return data
        raise LocalProtocolError(f"Event {event} cannot be sent in state {state}.")

    def _close_frame(self, code: int | None, reason: str | None) -> bytes:
        # Built here rather than by wsframe's connection: that one answers the peer's close itself, and
        # wsproto's caller answers it, possibly after wsframe's connection closed.
        if code is CloseReason.NO_STATUS_RCVD:
            code = None
        if code is None:
            if reason:
                raise TypeError("cannot specify a reason without a code")
            payload = b""
        else:
            if code in LOCAL_ONLY_CLOSE_REASONS:
                code = CloseReason.NORMAL_CLOSURE
            reason = _wsframe_connection._truncate_utf8(reason or "", MAX_CLOSE_REASON)
            payload = _wsframe_connection.close_payload(code, reason)
        return encode_frame(_CLOSE, payload, mask_key=os.urandom(4) if self.client else None)

    def receive_data(self, data: bytes | None) -> None:
        """Feeds received bytes; ``None`` is the end of the stream (a 1006 CloseConnection event)."""
        if data is None:
            self._pending.append(CloseConnection(code=CloseReason.ABNORMAL_CLOSURE))
            self._state = ConnectionState.CLOSED
            return
        state = self._state
        if state is _OPEN or state is ConnectionState.LOCAL_CLOSING:
            self._conn.receive_data(data)
        elif state is ConnectionState.CLOSED:
            raise LocalProtocolError("Connection already closed.")
        # REMOTE_CLOSING: the peer said it sends nothing more; anything after its close is ignored.

    def events(self) -> Iterator[Event]:
        """An iterator over the events received so far (a close updates the state as it is reached)."""
        received = self._conn.events()
        if self._pending:
            pending, self._pending = self._pending, []
            return self._events_slowly(iter(pending), received)
        if type(received) is _LIST_ITERATOR:
            return map(_translate, received)
        return self._events_slowly(iter(()), received)

    def _events_slowly(self, pending: Iterator[Event], received: Iterator[_wsframe.Event]) -> Iterator[Event]:
        yield from pending
        try:
            for event in received:
                if type(event) is _WSFRAME_CLOSE:
                    local_closing = self._state is ConnectionState.LOCAL_CLOSING
                    self._state = ConnectionState.CLOSED if local_closing else ConnectionState.REMOTE_CLOSING
                    self._conn.data_to_send()  # wsframe's own reply: dropped, the caller answers
                    yield CloseConnection(code=_close_reason(event.code), reason=event.reason)
                else:
                    yield _translate(event)
        except ProtocolError as exc:
            self._conn.data_to_send()  # wsframe's close frame for the error: dropped, the caller sends it
            yield CloseConnection(code=_close_reason(exc.close_code), reason=str(exc))

