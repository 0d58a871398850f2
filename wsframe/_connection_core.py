"""What a :class:`~wsframe.connection.Connection` does for every read: :meth:`ConnectionCore.receive_data`
and :meth:`ConnectionCore.receive_messages`, with the state they test.

Where the native extension is built, this module is also compiled by Cython, as
``_connection_core_c``, with ``_connection_core_c.pxd`` declaring that state as C fields of an extension
type (see ``wsframe/asyncio/_core.py``, which does the same for the asyncio layer, for why); otherwise,
or with ``WSFRAME_PURE_PYTHON=1``, this source runs as it is. Everything else is in ``connection.py``;
what this calls of it is declared at the end of the class.
"""

from __future__ import annotations

from ._connection_state import ConnectionState
from .errors import InvalidState

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time
if TYPE_CHECKING:
    from typing import Any

    from ._hotpath import FrameDecoder
    from .errors import ProtocolError
    from .events import Event, Message

    _BytesLike = bytes | bytearray | memoryview

__all__ = ["ConnectionCore"]

_CONNECTING = ConnectionState.CONNECTING
_OPEN = ConnectionState.OPEN
_CLOSED = ConnectionState.CLOSED


class ConnectionCore:
    """The per-read half of :class:`~wsframe.connection.Connection` (module doc). Not used on its own:
    Connection sets every attribute in ``__init__`` and provides the methods at the end."""

    if TYPE_CHECKING:
        _state: ConnectionState
        _events: list[Event]
        _unparsed: bytes
        _input_closed: bool
        _eof: bool
        _decoder: FrameDecoder | None

    def receive_data(self, data: _BytesLike | None) -> None:
        """Feeds bytes received from the peer; ``None`` means end-of-stream (an empty read is ignored)."""
        if data is None:
            self._receive_eof()
            return
        if self._eof:
            raise InvalidState("data received after end-of-stream")
        if not data:
            return
        state = self._state  # not the property: this runs once per read
        if state is _OPEN and not self._unparsed and not self._input_closed:
            # The common read: the decoder's shortcut gives a plain list when there is nothing but whole
            # messages (or nothing, inside a big frame) and every byte was used.
            result = self._decoder.decode_messages(data)  # type: ignore[union-attr]  # open: it has a decoder
            if type(result) is list:
                if result:
                    self._events.extend(result)  # type: ignore[arg-type]  # message objects, typed as tuples
                return
            self._decoded(data, *result)  # decode's tuple
        elif state is _CONNECTING:
            self._receive_handshake(data)
        elif self._decoder is not None and not self._input_closed and state is not _CLOSED:
            self._receive_frames(data)
        # Once closed, anything more from the peer is ignored (RFC 6455 section 7.1.7).

    def receive_messages(self, data: _BytesLike) -> list[Message] | None:
        """:meth:`receive_data` for callers that hand on whole messages, with a shortcut for the common read.

        When the connection is open with nothing pending and ``data`` decodes to whole uncompressed
        messages only (no control frame, fragment, compressed message or error: what a busy connection
        mostly reads), returns them, the same :class:`~wsframe.events.TextMessage` and
        :class:`~wsframe.events.BytesMessage` events :meth:`events` would give, in order; :meth:`events`
        then has nothing. Otherwise returns None after doing what :meth:`receive_data` does: take
        :meth:`events` as usual. (The shortcut spares the event list and its iterator, about half the
        Python work per small message.)
        """
        # (End-of-stream closes the connection or comes after its input closed: no test of _eof needed.)
        if self._state is not _OPEN or self._events or self._unparsed or self._input_closed:
            self.receive_data(data)
            return None
        decoder = self._decoder
        result = decoder.decode_messages(data)  # type: ignore[union-attr]  # open: it has a decoder
        if type(result) is list:  # whole messages, every byte used: the common read
            return result  # type: ignore[return-value]  # message objects, typed as tuples
        decoded: tuple[list[Any], int, ProtocolError | None] = result  # type: ignore[assignment]  # decode's tuple
        items, used, error = decoded
        if error is None and not decoder.last_frame_count:  # type: ignore[union-attr]
            self._unparsed = bytes(data[used:])  # a partial frame header
            return items
        self._decoded(data, items, used, error)
        return None

    # -- provided by Connection (connection.py) -----------------------------------------------------

    def _receive_eof(self) -> None:
        raise NotImplementedError

    def _decoded(self, data: _BytesLike, items: list[Any], used: int, error: ProtocolError | None) -> None:
        raise NotImplementedError

    def _receive_handshake(self, data: _BytesLike) -> None:
        raise NotImplementedError

    def _receive_frames(self, data: _BytesLike) -> None:
        raise NotImplementedError
