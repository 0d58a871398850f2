"""The connection object both roles share: :class:`WebSocket`, an :class:`asyncio.BufferedProtocol`.

How an asyncio server embeds the sans-I/O codec: the event loop reads into a buffer the connections of
its thread share and calls :meth:`WebSocket.buffer_updated`, which feeds what was read to
:meth:`~wsframe.connection.Connection.receive_data`, turns the events into the application's
messages, and writes :meth:`~wsframe.connection.Connection.data_to_send` (automatic pongs, close
replies, the close frame after a peer's protocol error); that per-read path and
:meth:`WebSocket.send_nowait` are in ``_core.py``, compiled by Cython with the native build. The
application's coroutines (:meth:`recv`, :meth:`send`, :meth:`ping`, :meth:`close`) call
:meth:`~wsframe.connection.Connection.send` and write the bytes it returns. Everything else here is flow control and timers:

* reading pauses while more than ``max_queue`` messages, or more than ``max_queue_bytes`` bytes of them
  (as :func:`sys.getsizeof` counts: a str takes up to 4 bytes per character), wait for the application,
  and resumes when it has taken them down to a quarter of both; it also pauses while the transport's
  write buffer is above the high-water mark (a peer that floods pings without reading its pongs), and
  on a server while the application decides on the request (``process_request``);
* a read is fed to the codec 1 KiB at a time while compression is negotiated and during the handshake,
  and what is left of it once reading pauses waits here: compressed data can inflate ~1000-fold, so one
  read could otherwise queue a thousand times its size (and frames that came with the request or the
  response are decoded at once when the handshake completes);
* :meth:`send` waits while the write buffer is above the high-water mark; if the peer then reads
  nothing for ``close_timeout`` seconds the transport is dropped (two peers that stopped reading while
  blocked writing to each other would otherwise wait forever);
* a keepalive ping every ``ping_interval`` seconds; no pong within ``ping_timeout``: close with 1011;
* after our close frame (or the codec's, after a peer's error) the transport is dropped once the
  closing handshake is over, or after ``close_timeout`` seconds at the latest;
* what an :attr:`~WebSocket.on_message` callback writes while a read of several messages is handled is
  held and written at once when the read is done (one system call, not one per answer), in order with
  everything else the connection writes meanwhile (a broadcast, the close frame);
* a peer's protocol error that comes behind messages the application has not taken yet waits for them:
  reading stops, and the connection fails (the codec's close frame with the error's code) once the
  application asks for the next message with none left, closes, or after ``close_timeout`` seconds, so
  that it can answer what arrived before the error (Autobahn grades that OK, failing at once NON-STRICT).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import sys
import threading

from .._hotpath import compiled
from ..connection import ConnectionState
from ..errors import (
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    HandshakeError,
    WebSocketError,
)
from ..events import BytesMessage, CloseConnection, Ping, Pong, TextMessage

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from .._hotpath import FrameEncoder
    from ..connection import Connection
    from ..events import AcceptConnection, Event, Request

    _BytesLike = bytes | bytearray | memoryview
    # What on_message is called with: the WebSocket and a message (str for text, bytes for binary).
    _MessageCallback = Callable[["WebSocket", str | bytes], object]

if TYPE_CHECKING:
    from ._core import SLICE, WebSocketCore
else:
    _core = compiled("wsframe.asyncio._core")
    SLICE, WebSocketCore = _core.SLICE, _core.WebSocketCore

__all__ = ["WebSocket", "OK_CLOSE_CODES"]

logger = logging.getLogger("wsframe.asyncio")

# Close codes that end ``async for message in ws`` cleanly (1005: a close frame without a code, which
# is what browsers send for a plain ``ws.close()``).
OK_CLOSE_CODES = frozenset((1000, 1001, 1005))

_OPEN = ConnectionState.OPEN
_CLOSED = ConnectionState.CLOSED

DEFAULT_MAX_QUEUE = 16
DEFAULT_MAX_QUEUE_BYTES = 1024 * 1024

_MASKED_HEADER_MAX = 14
_SEND_BUFFER_KEPT = 4 * 1024 * 1024  # a bigger one is a message's own

# Reads land in one buffer per thread, which the connections of its event loop share: the loop calls
# get_buffer and buffer_updated of one connection back to back, and the codec copies what it keeps of a
# read (src/CONTRACT.md). Why not a bytes object per read (Protocol.data_received): see buffer_updated.
_READ_BUFFER_SIZE = 256 * 1024
_read_buffers = threading.local()

_sizeof = sys.getsizeof


class WebSocket(WebSocketCore, asyncio.BufferedProtocol):
    """One WebSocket connection: the application's side (``recv``/``send``/``ping``/``close``) and the
    event loop's side (the :class:`asyncio.BufferedProtocol` callbacks) of a sans-I/O ``connection``.

    ``async for message in ws`` yields str (text) and bytes (binary) messages; it ends when the
    connection closes with 1000, 1001 or 1005 and raises :class:`~wsframe.errors.ConnectionClosedError`
    otherwise. Attributes: ``subprotocol``, ``extensions``, ``request`` (server: the
    :class:`~wsframe.events.Request` event), ``response`` (client: the
    :class:`~wsframe.events.AcceptConnection` event), ``close_code`` and ``close_reason`` (None while
    open), ``remote_address``, ``transport``, ``connection`` (the sans-I/O one).

    ``max_queue`` (messages) and ``max_queue_bytes`` bound the received messages waiting for the
    application (None: no bound); see the module doc for how reading pauses.

    Instead of iterating, the application may set :attr:`on_message` to a callback that gets each message
    as it is read (no task switch per message), and answer with :meth:`send_nowait`.
    """

    def __init__(
        self,
        connection: Connection,
        *,
        max_queue: int | None = DEFAULT_MAX_QUEUE,
        max_queue_bytes: int | None = DEFAULT_MAX_QUEUE_BYTES,
        ping_interval: float | None = 20.0,
        ping_timeout: float | None = 20.0,
        close_timeout: float = 10.0,
    ) -> None:
        self.connection = connection
        self.max_queue = max_queue
        self.max_queue_bytes = max_queue_bytes
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.close_timeout = close_timeout
        self.transport: asyncio.Transport = None  # type: ignore[assignment]  # set by connection_made, before any use
        self.remote_address: Any = None  # the transport's "peername"
        self.request: Request | None = None
        self.response: AcceptConnection | None = None
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self._loop = asyncio.get_running_loop()
        self._messages: collections.deque[str | bytes] = collections.deque()
        self._on_message: _MessageCallback | None = None
        self._queued_bytes = 0  # sys.getsizeof of the messages in _messages
        self._unread = b""  # the rest of a read, kept while reading is paused
        self._read_buffer: memoryview = None  # type: ignore[assignment]  # set by connection_made, before reads
        self._send_buffer: bytearray | None = None  # a client's, for large binary messages (_write_masked)
        self._write_batch: list[_BytesLike] | None = None  # writes held while a read is handled (_write)
        self._message_waiter: asyncio.Future[None] | None = None
        self._pings: collections.deque[tuple[bytes, asyncio.Future[None]]] = collections.deque()  # in sending order
        self._drain_waiters: list[asyncio.Future[None]] = []
        self._queue_full = False
        self._writing_paused = False
        self._reading_paused = False
        self._sent_close: tuple[int, str] | None = None
        self._releasing = False  # the transport is being shut down
        self._close_frame_received = False
        self._eof = False
        self._lost = False
        self._closed: asyncio.Future[None] = self._loop.create_future()  # done at connection_lost
        self._keepalive_timer: asyncio.TimerHandle | None = None
        self._close_timer: asyncio.TimerHandle | None = None
        self._write_stall_timer: asyncio.TimerHandle | None = None
        self._failure_timer: asyncio.TimerHandle | None = None  # set while a peer's error waits (module doc)
        self._fail_now = False  # the held error's time is up
        self._write_buffer_at_check = 0  # the write buffer's size when the stall timer was set

    @property
    def subprotocol(self) -> str | None:
        """The negotiated subprotocol, or None."""
        return self.connection.subprotocol

    @property
    def extensions(self) -> list[str]:
        """The names of the negotiated extensions (``["permessage-deflate"]`` or ``[]``)."""
        return self.connection.extensions

    # -- the application's side ----------------------------------------------------------------

    @property
    def on_message(self) -> _MessageCallback | None:
        """None (messages wait for :meth:`recv`), or ``callback(ws, message)``, called from the event loop's
        read callback with each message (str or bytes) in order: the low-level API, for applications that
        answer at once (with :meth:`send_nowait`) or hand messages on themselves. Messages already waiting
        are passed to it when it is set; :meth:`recv` then only raises at the close. If it raises, the
        error is logged and the connection closed with 1011 (later messages are discarded).
        """
        return self._on_message

    @on_message.setter
    def on_message(self, callback: _MessageCallback | None) -> None:
        self._on_message = callback
        messages = self._messages
        while callback is not None and messages and self._on_message is callback and self._sent_close is None:
            message = messages.popleft()
            self._queued_bytes -= _sizeof(message)
            try:
                callback(self, message)
            except Exception:
                self._on_message_failed()
        if callback is not None and self._queue_full:
            self._queue_full = False
            self._update_reading()
        if self._failure_timer is not None:  # a peer's error waited for these messages
            self._process()

    async def recv(self) -> str | bytes:
        """The next message: str for text, bytes for binary. Raises ConnectionClosed once the connection
        is closed and every message received before the close was taken."""
        while True:
            messages = self._messages
            if messages:
                message = messages.popleft()
                self._queued_bytes -= _sizeof(message)
                if self._queue_full and self._queue_drained():
                    self._queue_full = False
                    self._update_reading()
                return message
            if self._lost or self.connection.state is _CLOSED:
                raise self._closed_error()
            if self._failure_timer is not None:  # every message before the peer's error taken: fail now
                self._process()
                continue
            if self._message_waiter is not None:
                raise RuntimeError("another coroutine is already waiting for the next message")
            waiter = self._message_waiter = self._loop.create_future()
            try:
                await waiter
            finally:
                self._message_waiter = None

    def __aiter__(self) -> WebSocket:
        return self

    async def __anext__(self) -> str | bytes:
        # A plain coroutine per message: cheaper than an async generator's asend() around recv().
        try:
            return await self.recv()
        except ConnectionClosedOK:
            raise StopAsyncIteration from None

    async def send(self, message: str | _BytesLike) -> None:
        """Sends a str as a text message, bytes-like as a binary one; waits while the write buffer is
        above the transport's high-water mark. ConnectionClosed once closing has begun."""
        self.send_nowait(message)
        if self._writing_paused:
            await self._drain()

    def _write_masked(self, encoder: FrameEncoder, message: bytes) -> None:
        """Writes a client's large binary message masked into the connection's send buffer.

        The buffer is kept for the next message while the transport holds none of it (it took every byte)
        and it is at most _SEND_BUFFER_KEPT bytes. A new buffer per message measured slower than the
        masking itself (1 MiB round trips): glibc hands freed large blocks back to the OS, and every
        page of the next one is then a page fault.
        """
        buffer = self._send_buffer
        if buffer is None or len(buffer) < len(message) + _MASKED_HEADER_MAX:
            buffer = bytearray(len(message) + _MASKED_HEADER_MAX)
        size = encoder.binary_into(buffer, message)
        if self._write_batch:  # what is held goes first: this is written at once, its buffer kept for the next
            self._write_held()
        self.transport.write(memoryview(buffer)[:size])
        kept = len(buffer) <= _SEND_BUFFER_KEPT and not self.transport.get_write_buffer_size()
        self._send_buffer = buffer if kept else None

    async def ping(self, data: str | _BytesLike = b"") -> asyncio.Future[None]:
        """Sends a ping; returns a future that completes when its pong arrives (a pong also answers every
        earlier ping, RFC 6455 section 5.5.3). ``data``: bytes or str, at most 125 bytes."""
        payload = data.encode("utf-8") if isinstance(data, str) else bytes(data)
        self._check_open()
        self._write(self.connection.send(Ping(payload)))
        pong_waiter = self._loop.create_future()
        self._pings.append((payload, pong_waiter))
        if self._writing_paused:
            await self._drain()
        return pong_waiter

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Starts the closing handshake (unless it is under way) and waits until the connection is
        closed: the peer's close frame arrived, or ``close_timeout`` passed and the transport was dropped.
        Messages that arrive after our close frame are discarded."""
        if self.connection.state is _OPEN and not self._lost:
            self._start_closing(code, reason)
        elif not self._lost and self.connection.state is ConnectionState.CONNECTING:
            self.transport.abort()
        await self.wait_closed()

    def _start_closing(self, code: int, reason: str) -> None:
        """Sends our close frame; the peer's answer, or close_timeout, ends the connection."""
        self._write(self.connection.send(CloseConnection(code, reason)))
        self._sent_close = (code, reason)  # messages that arrive from now on are discarded
        self._cancel_keepalive()
        self._start_close_timer()
        self._update_reading()  # read on, to see the peer's close frame
        if self._failure_timer is not None:  # the peer's error ended its input: no close frame will come
            self._process()

    async def wait_closed(self) -> None:
        """Waits until the TCP connection is closed."""
        await asyncio.shield(self._closed)

    def _check_open(self) -> None:
        if self._lost or self.connection.state is not _OPEN:
            raise self._closed_error()

    def _closed_error(self) -> ConnectionClosed:
        code, reason = self.close_code, self.close_reason
        if code is None:  # still closing: our close frame is out, the peer's not in
            code, reason = self._sent_close or (1006, "")
        error_class = ConnectionClosedOK if code in OK_CLOSE_CODES else ConnectionClosedError
        return error_class(code, reason)  # type: ignore[arg-type]  # close_reason is set with close_code

    async def _drain(self) -> None:
        waiter = self._loop.create_future()
        self._drain_waiters.append(waiter)
        await waiter
        if self._lost:
            raise self._closed_error()

    # -- the event loop's side -----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a stream protocol is given a Transport
        self.remote_address = transport.get_extra_info("peername")
        try:  # in the event loop's thread, which makes every read of this connection
            self._read_buffer = _read_buffers.view
        except AttributeError:
            self._read_buffer = _read_buffers.view = memoryview(bytearray(_READ_BUFFER_SIZE))

    def _receive_in_slices(self, data: bytes | memoryview) -> None:
        """Feeds ``data`` a slice at a time, keeping the rest in ``_unread`` once reading pauses."""
        view = memoryview(data)
        for start in range(0, len(view), SLICE):
            if self._reading_paused:
                self._unread = bytes(view[start:])
                return
            self.connection.receive_data(view[start : start + SLICE])
            self._process()

    def eof_received(self) -> bool:
        self._eof = True
        self.connection.receive_data(None)
        self._process()
        return False  # the transport closes itself

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        self._send_buffer = None  # an application may keep a closed connection around
        self.connection.receive_data(None)
        error = self._handle_events()
        if error is not None:  # held behind messages the application has yet to take
            self._fail(error)
        if self.close_code is None:
            self.close_code, self.close_reason = 1006, ""
        for timer in (self._keepalive_timer, self._close_timer, self._write_stall_timer, self._failure_timer):
            if timer is not None:
                timer.cancel()
        self._wake_receiver()
        self._wake_writers()
        error = self._closed_error()
        for _payload, pong_waiter in self._pings:
            if not pong_waiter.done():
                pong_waiter.set_exception(error)
                pong_waiter.exception()  # retrieved: the application need not await every ping
        self._pings.clear()
        if not self._closed.done():
            self._closed.set_result(None)

    def pause_writing(self) -> None:
        # Reading stops too, so that a peer cannot make us queue pongs without bound.
        self._writing_paused = True
        self._update_reading()
        self._start_write_stall_timer()

    def resume_writing(self) -> None:
        self._writing_paused = False
        if self._write_stall_timer is not None:
            self._write_stall_timer.cancel()
            self._write_stall_timer = None
        self._wake_writers()
        self._update_reading()

    # -- from the codec's events to the application ----------------------------------------------

    def _process(self) -> None:
        """Handles the codec's events, writes what it queued, and shuts down once it is closed."""
        connection = self.connection
        error = self._handle_events()
        if error is not None:
            self._fail(error)  # first: a server may answer a plain HTTP request instead of the codec
        data = connection.data_to_send()
        if data and not self._lost:
            self._write(data)
        closed = connection.state is _CLOSED
        if closed and not self._releasing and not self._lost:
            self._release_transport()
        if self._message_waiter is not None and (self._messages or closed):
            self._wake_receiver()

    def _handle_events(self) -> WebSocketError | None:
        """Takes the codec's events; returns the peer's error once it is not held (see _hold_failure)."""
        connection = self.connection
        deliver = self._deliver
        try:
            for event in connection.events(defer_error=True):
                kind = type(event)
                if kind is TextMessage or kind is BytesMessage:
                    deliver(event.data)  # type: ignore[attr-defined]  # a TextMessage or BytesMessage
                elif kind is Pong:
                    self._pong_received(event.payload)  # type: ignore[attr-defined]  # a Pong
                elif kind is CloseConnection:
                    self._close_frame_received = event.code != 1006  # type: ignore[attr-defined]  # a CloseConnection
                    if self.close_code is None:
                        self.close_code, self.close_reason = event.code, event.reason  # type: ignore[attr-defined]
                elif kind is not Ping:  # pings are answered by the codec itself
                    self._handshake_event(event)
            if connection.pending_error is not None and not self._hold_failure():
                for _ in connection.events():  # nothing left before the error: this raises it (and closes)
                    pass
        except WebSocketError as exc:
            return exc
        finally:
            self._check_queue()
        return None

    def _deliver(self, data: str | bytes) -> None:
        """Hands a message to on_message or the queue; discarded once our close frame is out."""
        if self._sent_close is not None:
            return
        on_message = self._on_message
        if on_message is None:
            self._messages.append(data)
            self._queued_bytes += _sizeof(data)
            return
        try:
            on_message(self, data)
        except Exception:
            self._on_message_failed()

    def _after_delivery(self) -> None:
        """After messages went to the queue: pause reading if it is full, wake recv()."""
        self._check_queue()
        if self._message_waiter is not None and self._messages:
            self._wake_receiver()

    def _check_queue(self) -> None:
        if self._messages and not self._queue_full and self._queue_over_limits():
            self._queue_full = True
            self._update_reading()

    def _on_message_failed(self) -> None:
        logger.exception("on_message callback failed")
        if self.connection.state is _OPEN and not self._lost:
            self._start_closing(1011, "")

    def _hold_failure(self) -> bool:
        """Whether the peer's pending error waits for the application to take the messages before it."""
        hold = (
            bool(self._messages)
            and not self._fail_now
            and not self._lost
            and self._sent_close is None
            and self.connection.state is _OPEN
        )
        if hold and self._failure_timer is None:
            self._failure_timer = self._loop.call_later(self.close_timeout, self._held_failure_timed_out)
            self._update_reading()  # nothing more is read: the codec ignores what follows the error
        return hold

    def _held_failure_timed_out(self) -> None:
        logger.debug("failing %s: its messages before a protocol error were not taken in time", self.remote_address)
        self._fail_now = True
        self._process()

    def _queue_over_limits(self) -> bool:
        max_queue, max_bytes = self.max_queue, self.max_queue_bytes
        return (max_queue is not None and len(self._messages) > max_queue) or (
            max_bytes is not None and self._queued_bytes > max_bytes
        )

    def _queue_drained(self) -> bool:
        """Taken down to a quarter of both limits: reading may resume."""
        max_queue, max_bytes = self.max_queue, self.max_queue_bytes
        return (max_queue is None or len(self._messages) <= max_queue // 4) and (
            max_bytes is None or self._queued_bytes <= max_bytes // 4
        )

    def _handshake_event(self, event: Event) -> None:
        """Role-specific: the server's Request, the client's AcceptConnection or RejectConnection."""
        raise NotImplementedError

    def _fail(self, error: WebSocketError) -> None:
        """The peer broke the protocol; the codec queued the close frame or HTTP error (written next)."""
        if self._failure_timer is not None:
            self._failure_timer.cancel()
            self._failure_timer = None
        if isinstance(error, HandshakeError):
            logger.debug("opening handshake failed with %s: %s", self.remote_address, error)
            return
        logger.debug("failing the connection with %s: %s", self.remote_address, error)
        if self.close_code is None:
            # a ProtocolError here (a HandshakeError returned above), which has close_code:
            self.close_code, self.close_reason = error.close_code, str(error)  # type: ignore[attr-defined]

    def _pong_received(self, payload: bytes) -> None:
        pings = self._pings
        if not any(sent == payload for sent, _ in pings):
            return  # unsolicited
        while pings:
            sent, pong_waiter = pings.popleft()
            if not pong_waiter.done():
                pong_waiter.set_result(None)
            if sent == payload:
                return

    def _wake_receiver(self) -> None:
        waiter = self._message_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _wake_writers(self) -> None:
        waiters, self._drain_waiters = self._drain_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def _update_reading(self) -> None:
        """Pauses or resumes reading; always reads while closing (to see the peer's close frame or EOF)."""
        if self._lost:
            return
        state = self.connection.state
        closing = self._sent_close is not None or state is _CLOSED
        awaiting_answer = self.request is not None and state is ConnectionState.CONNECTING
        failure_held = self._failure_timer is not None
        pause = not closing and (self._queue_full or self._writing_paused or awaiting_answer or failure_held)
        if pause != self._reading_paused:
            self._reading_paused = pause
            if pause:
                self.transport.pause_reading()
            else:
                self.transport.resume_reading()  # delivers nothing before the next loop iteration
                if self._unread:  # so what was read before the pause comes first
                    unread, self._unread = self._unread, b""
                    self._receive_in_slices(unread)

    # -- closing ---------------------------------------------------------------------------------

    def _release_transport(self) -> None:
        """The codec is closed: close the transport now, or once the peer has, within close_timeout.

        After a clean closing handshake the server closes TCP first (RFC 6455 section 7.1.1) and the
        client waits for that. After a failure or a refused handshake we half-close and read on until
        the peer's EOF, so that its last bytes do not make our kernel reset the connection before it
        read our close frame or HTTP response.
        """
        self._releasing = True
        self._cancel_keepalive()
        self._start_close_timer()
        self._update_reading()
        self._write_held(end=True)  # before the transport closes
        transport = self.transport
        clean = self._close_frame_received
        if self._eof:
            transport.close()
        elif clean:
            if self._is_server():
                transport.close()
        elif transport.can_write_eof():
            transport.write_eof()
        else:
            transport.close()

    def _is_server(self) -> bool:
        return not self.connection._is_client

    def _start_close_timer(self) -> None:
        if self._close_timer is None and not self._lost:
            self._close_timer = self._loop.call_later(self.close_timeout, self._close_timed_out)

    def _close_timed_out(self) -> None:
        logger.debug("dropping %s: no close within %s s", self.remote_address, self.close_timeout)
        self.transport.abort()

    def _start_write_stall_timer(self) -> None:
        if not self._lost:
            self._write_buffer_at_check = self.transport.get_write_buffer_size()
            self._write_stall_timer = self._loop.call_later(self.close_timeout, self._write_stall_timed_out)

    def _write_stall_timed_out(self) -> None:
        """Writing has stayed blocked for close_timeout: go on waiting while the peer reads (the buffer
        shrank), else drop it; a slow reader is thus kept, a stuck or deadlocked one is not."""
        self._write_stall_timer = None
        if self._lost or not self._writing_paused:
            return
        if self.transport.get_write_buffer_size() < self._write_buffer_at_check:
            self._start_write_stall_timer()
            return
        logger.debug("dropping %s: it read nothing for %s s of blocked writes", self.remote_address, self.close_timeout)
        self.transport.abort()

    # -- keepalive -------------------------------------------------------------------------------

    def _start_keepalive(self) -> None:
        if self.ping_interval is not None and not self._releasing:
            self._keepalive_timer = self._loop.call_later(self.ping_interval, self._send_keepalive_ping)

    def _cancel_keepalive(self) -> None:
        if self._keepalive_timer is not None:
            self._keepalive_timer.cancel()
            self._keepalive_timer = None

    def _send_keepalive_ping(self) -> None:
        self._keepalive_timer = None
        if self._lost or self.connection.state is not _OPEN:
            return
        payload = os.urandom(4)
        self.transport.write(self.connection.send(Ping(payload)))
        pong_waiter = self._loop.create_future()
        self._pings.append((payload, pong_waiter))
        pong_waiter.add_done_callback(self._keepalive_answered)
        if self.ping_timeout is not None:
            self._keepalive_timer = self._loop.call_later(self.ping_timeout, self._keepalive_timed_out)

    def _keepalive_answered(self, pong_waiter: asyncio.Future[None]) -> None:
        if pong_waiter.cancelled() or pong_waiter.exception() is not None:
            return
        self._cancel_keepalive()
        self._start_keepalive()

    def _keepalive_timed_out(self) -> None:
        self._keepalive_timer = None
        logger.debug("closing %s: no pong within %s s", self.remote_address, self.ping_timeout)
        if self.connection.state is _OPEN:
            self.transport.write(self.connection.send(CloseConnection(1011, "keepalive ping timeout")))
            self._sent_close = (1011, "keepalive ping timeout")
        self.close_code, self.close_reason = 1011, "keepalive ping timeout"
        self._releasing = True
        self._start_close_timer()
        self.transport.close()
