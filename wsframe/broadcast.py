"""Broadcast, sans-I/O: the bytes that carry one message to many connections, each distinct frame built once.

A server's frames are unmasked, so one frame serves every receiver that takes the message the same way:

* open server connections without compression or fragmentation share one plain frame, and so do
  compressed ones for messages shorter than their policy's ``min_size``;
* compressed server connections whose agreement has ``server_no_context_takeover`` share one
  compressed frame per group of equal window bits, ``compress_level`` and ``mem_level``: each message
  is compressed on its own, so whoever agreed to that can inflate it;
* every other connection (context takeover, where each message depends on that connection's earlier
  ones; ``fragment_size``; a client, whose frames are masked with fresh keys) gets its own bytes from
  its own :meth:`~wsframe.connection.Connection.send_text` / ``send_binary``.

Broadcasting to many browsers with compression is therefore cheapest with
``PerMessageDeflate(server_no_context_takeover=True)``: one compression per broadcast instead of one
per receiver.
"""

from __future__ import annotations

from ._hotpath import FrameEncoder, encode_frame
from .connection import ConnectionState
from .deflate import Compressor
from .errors import InvalidState

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import TypeVar

    from .connection import Connection
    from .deflate import PerMessageDeflate

    _Message = str | bytes | bytearray | memoryview
    _Connection = TypeVar("_Connection", bound=Connection)

__all__ = ["MessageFrames", "broadcast_data"]

_OPEN = ConnectionState.OPEN
_TEXT, _BINARY, _RSV1 = 0x1, 0x2, 4

_PLAIN_ENCODER = FrameEncoder(mask=False)  # unmasked: holds no state, so one serves every broadcast


class MessageFrames:
    """The frames of one message (a str for text, bytes-like for binary) for many connections.

    :meth:`frames_for` returns the bytes to write to one connection; frames that connections share are
    built on first use and then handed out as the same bytes object.
    """

    __slots__ = ("message", "_opcode", "_payload", "_plain", "_compressed")

    def __init__(self, message: _Message) -> None:
        if isinstance(message, str):
            self._opcode = _TEXT
        elif isinstance(message, (bytes, bytearray, memoryview)):
            self._opcode = _BINARY
        else:
            raise TypeError(f"broadcast a str or a bytes-like object, not {type(message).__name__}")
        self.message = message
        self._payload: bytes | bytearray | memoryview | None = None
        self._plain: bytes | None = None
        self._compressed: dict[tuple[int, int, int], bytes] = {}  # (window bits, level, mem_level) -> frame

    def frames_for(self, connection: Connection) -> bytes:
        """The bytes that carry the message to ``connection``; InvalidState unless it is open and between
        messages (not sending one in pieces)."""
        if connection.frame_encoder is not None and not connection._is_client:
            return self.plain_frame()
        if connection.state is not _OPEN or connection._send_opcode:
            raise InvalidState("broadcast needs an open connection that is not sending a message in pieces")
        parameters = connection.deflate_parameters
        if connection._is_client or connection.fragment_size is not None or parameters is None:
            return self._own_frames(connection)
        # Set whenever deflate_parameters are (the default policy if the connection was given none).
        policy: PerMessageDeflate = connection.deflate  # type: ignore[assignment]
        if len(self.payload()) < policy.min_size:
            return self.plain_frame()
        if not parameters.server_no_context_takeover:
            return self._own_frames(connection)
        key = (parameters.server_max_window_bits, policy.compress_level, policy.mem_level)
        frame = self._compressed.get(key)
        if frame is None:
            compressor = Compressor(parameters, is_server=True, compress_level=key[1], mem_level=key[2])
            frame = self._compressed[key] = encode_frame(self._opcode, compressor.compress(self.payload()), rsv=_RSV1)
        return frame

    def plain_frame(self) -> bytes:
        """The message as one unmasked, uncompressed frame (built once)."""
        if self._plain is None:
            # The opcode says which of str and bytes-like the message is: mypy cannot follow (here and below).
            if self._opcode == _TEXT:
                self._plain = _PLAIN_ENCODER.text(self.message)  # type: ignore[arg-type]
            else:
                self._plain = _PLAIN_ENCODER.binary(self.message)  # type: ignore[arg-type]
        return self._plain

    def payload(self) -> bytes | bytearray | memoryview:
        """The message's bytes (UTF-8 for text), for compression and ``min_size``."""
        if self._payload is None:
            self._payload = (
                self.message.encode() if self._opcode == _TEXT else self.message  # type: ignore[union-attr, assignment]
            )
        return self._payload  # type: ignore[return-value]  # set just above

    def _own_frames(self, connection: Connection) -> bytes:
        if self._opcode == _TEXT:
            return connection.send_text(self.message)  # type: ignore[arg-type]
        return connection.send_binary(self.message)  # type: ignore[arg-type]


def broadcast_data(connections: Iterable[_Connection], message: _Message) -> list[tuple[_Connection, bytes]]:
    """``[(connection, bytes to write)]`` for those of ``connections`` that can take ``message`` now:
    the open ones that are not sending a message in pieces (the others are left out)."""
    frames = MessageFrames(message)
    out = []
    for connection in connections:
        try:
            out.append((connection, frames.frames_for(connection)))
        except InvalidState:
            continue
    return out
