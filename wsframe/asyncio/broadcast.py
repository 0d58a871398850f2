"""``broadcast(websockets, message)``: one message to many connections, without awaiting.

The frames come from :class:`wsframe.broadcast.MessageFrames` (each distinct frame built once, see
there for who shares what) and go straight to each transport. A receiver that does not keep up must not
make the server hold an ever longer backlog for it: one whose write buffer holds more than
``max_buffer`` bytes gets no more messages; it is closed with 1013 (try again later), its close frame
queued behind what it has not read yet, and dropped if it does not answer within its ``close_timeout``.
A slow reader thus costs at most ``max_buffer`` plus one message. (1013 rather than 1008: the client
broke no policy, the server is the one that cannot wait; a client may reconnect and catch up.)
"""

from __future__ import annotations

from ..broadcast import MessageFrames
from ..connection import ConnectionState
from ..errors import InvalidState
from .protocol import logger

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time
if TYPE_CHECKING:
    from collections.abc import Iterable

    from ..broadcast import _Message
    from .protocol import WebSocket

__all__ = ["broadcast", "DEFAULT_MAX_BUFFER", "SLOW_RECEIVER_CODE"]

DEFAULT_MAX_BUFFER = 1024 * 1024
SLOW_RECEIVER_CODE = 1013

_OPEN = ConnectionState.OPEN


def broadcast(websockets: Iterable[WebSocket], message: _Message, *, max_buffer: int = DEFAULT_MAX_BUFFER) -> int:
    """Writes ``message`` (str: text, bytes-like: binary) to every open one of ``websockets`` and returns
    to how many. Skipped: connections that are closing or closed, or sending a message in pieces. Closed
    with 1013: those whose write buffer holds more than ``max_buffer`` bytes (see the module doc)."""
    frames = MessageFrames(message)
    sent = 0
    for ws in websockets:
        if ws._lost or ws.connection.state is not _OPEN:
            continue
        transport = ws.transport
        buffered = transport.get_write_buffer_size()
        if buffered > max_buffer:
            logger.debug("closing %s with 1013: %d bytes of broadcasts unread", ws.remote_address, buffered)
            ws._start_closing(SLOW_RECEIVER_CODE, "receiving too slowly")
            continue
        try:
            data = frames.frames_for(ws.connection)
        except InvalidState:  # sending a message in pieces
            continue
        batch = ws._write_batch  # WebSocket._write, inlined: behind what a callback of ws's wrote
        if batch is None:
            transport.write(data)
        else:
            batch.append(data)
        sent += 1
    return sent
