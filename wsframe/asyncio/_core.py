"""What :class:`~wsframe.asyncio.protocol.WebSocket` does for every read and every message sent: the
event loop's read callbacks and :meth:`~WebSocketCore.send_nowait`, with the state they use.

Where the native extension is built, this module is also compiled by Cython, as ``_core_c``, with
``_core_c.pxd`` declaring that state as C fields of an extension type (``connection`` typed as the
compiled ``ConnectionCore``, whose ``receive_messages`` is then a C call): the checks a connection makes
per message then cost pointer comparisons, not attribute look-ups and bytecode (at 256 B per message
those were a third of a round trip's instructions). Without the extension, or with
``WSFRAME_PURE_PYTHON=1``, this same source runs as it is, so the two cannot differ in behaviour (but
for the type of ``connection``, checked when compiled). Everything else WebSocket does (events, flow
control, closing, timers) is in ``protocol.py``; what this calls of it is declared at the end of the
class.
"""

from __future__ import annotations

import sys

from ..connection import ConnectionState
from ..errors import InvalidState

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time
if TYPE_CHECKING:
    import asyncio
    import collections
    from collections.abc import Callable, Sequence
    from typing import Any

    from .._hotpath import FrameEncoder
    from ..connection import Connection

    _BytesLike = bytes | bytearray | memoryview

__all__ = ["WebSocketCore"]

CONNECTING = ConnectionState.CONNECTING

# Bytes fed to the codec at a time when a read may inflate: 1 KiB inflates to at most ~1 MiB.
SLICE = 1024

# Binary messages from this size are written beside their frame header (writelines), not copied behind it;
# a client masks them into a buffer it keeps for the next one (WebSocket._write_masked).
WRITE_APART = 16 * 1024

_sizeof = sys.getsizeof


class WebSocketCore:
    """The per-read and per-message half of :class:`~wsframe.asyncio.protocol.WebSocket` (module doc).
    Not used on its own: WebSocket sets every attribute in ``__init__`` and provides the methods at the
    end (events, flow control, closing)."""

    if TYPE_CHECKING:
        connection: Connection
        transport: asyncio.Transport
        _read_buffer: memoryview
        _on_message: Callable[[Any, str | bytes], object] | None  # WebSocket types it exactly
        _messages: collections.deque[str | bytes]
        _queued_bytes: int
        _sent_close: tuple[int, str] | None
        _write_batch: list[_BytesLike] | None

    # -- the event loop's read callbacks -----------------------------------------------------------

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._read_buffer

    def buffer_updated(self, nbytes: int) -> None:
        # A buffer that lives on, not a bytes object per read: at 1 MiB per message those (256 KiB each
        # under uvloop), freed while the message was being built, made glibc hand pages back to the OS and
        # fault them in again on every message.
        data = self._read_buffer[:nbytes]
        connection = self.connection
        if nbytes > SLICE and (connection.deflate_parameters is not None or connection.state is CONNECTING):
            self._receive_in_slices(data)
            return
        messages = connection.receive_messages(data)
        if messages is None:
            self._process()
            return
        # Only whole plain messages, the common read: none of _process's other work can be due.
        # _deliver is inlined below (a call less per message).
        on_message = self._on_message
        if on_message is None:
            # To the queue. No Python code runs in between, and our close frame is not out: the shortcut
            # takes reads only while the connection is open.
            queue = self._messages
            queued = 0
            for message in messages:
                payload = message[0]
                queue.append(payload)
                queued += _sizeof(payload)
            self._queued_bytes += queued
            self._after_delivery()
            return
        # To the callback, while it neither closed nor replaced itself; else as _deliver does. What it writes
        # for a read of several messages is held and written at once (see _write).
        batched = len(messages) > 1
        if batched:
            self._write_batch = []
        try:
            for message in messages:
                if self._sent_close is None and self._on_message is on_message:
                    try:
                        on_message(self, message[0])
                    except Exception:
                        self._on_message_failed()
                else:
                    self._deliver(message[0])
            if self._messages:  # left from before the callback was set (the on_message setter), or queued by _deliver
                self._after_delivery()
        finally:
            if batched:
                self._write_held(end=True)

    # -- sending -----------------------------------------------------------------------------------

    def send_nowait(self, message: str | _BytesLike) -> None:
        """:meth:`send` without waiting for the write buffer, for :attr:`on_message` callbacks: reading
        pauses while the buffer is above the high-water mark, and a peer that then reads nothing for
        ``close_timeout`` seconds is dropped, so what a callback answers to what it reads stays bounded."""
        connection = self.connection
        encoder = connection.frame_encoder  # set while a whole message is one plain frame: no Python call
        try:
            if type(message) is bytes:  # the common case first
                if len(message) < WRITE_APART:
                    data = encoder.binary(message) if encoder is not None else connection.send_binary(message)
                elif encoder is not None and not self._is_server():
                    self._write_masked(encoder, message)
                    return
                else:
                    parts = connection.send_binary_unjoined(message)
                    if len(parts) > 1:
                        self._write_parts(parts)
                        return
                    data = parts[0]
            elif isinstance(message, str):
                data = encoder.text(message) if encoder is not None else connection.send_text(message)
            elif isinstance(message, (bytes, bytearray, memoryview)):
                data = connection.send_binary(message)
            else:
                raise TypeError(f"send a str or a bytes-like object, not {type(message).__name__}")
        except InvalidState:  # the codec refuses data once closing has begun (or the peer is gone)
            raise self._closed_error() from None
        batch = self._write_batch  # _write, inlined
        if batch is None:
            self.transport.write(data)
        else:
            batch.append(data)

    def _write(self, data: _BytesLike) -> None:
        """Writes to the transport, or behind the writes held while a read of several messages goes to
        on_message: what the callback answers to them then costs one write (one system call) instead of
        one per message. Everything a connection writes while a read is handled goes through here, so that
        the order holds."""
        batch = self._write_batch
        if batch is None:
            self.transport.write(data)
        else:
            batch.append(data)

    def _write_parts(self, parts: Sequence[_BytesLike]) -> None:
        """:meth:`_write` of the parts of one message, without joining them."""
        batch = self._write_batch
        if batch is None:
            self.transport.writelines(parts)
        else:
            batch.extend(parts)

    def _write_held(self, *, end: bool = False) -> None:
        """Writes what :meth:`_write` holds; ``end``: holding stops."""
        batch = self._write_batch
        if end:
            self._write_batch = None
        elif batch:
            self._write_batch = []
        if batch:
            self.transport.writelines(batch)

    # -- provided by WebSocket (protocol.py) -------------------------------------------------------

    def _process(self) -> None:
        raise NotImplementedError

    def _deliver(self, data: str | bytes) -> None:
        raise NotImplementedError

    def _after_delivery(self) -> None:
        raise NotImplementedError

    def _on_message_failed(self) -> None:
        raise NotImplementedError

    def _receive_in_slices(self, data: bytes | memoryview) -> None:
        raise NotImplementedError

    def _is_server(self) -> bool:
        raise NotImplementedError

    def _write_masked(self, encoder: FrameEncoder, message: bytes) -> None:
        raise NotImplementedError

    def _closed_error(self) -> Exception:
        raise NotImplementedError
