"""The sans-I/O WebSocket connection, for servers and clients.

The caller owns the socket. It feeds received bytes to :meth:`Connection.receive_data` (``None`` at
end-of-stream), iterates :meth:`Connection.events`, turns its own events into bytes with
:meth:`Connection.send`, and writes whatever :meth:`Connection.data_to_send` holds: the bytes the
connection produced on its own (automatic pongs, the reply to a close, the close frame after a protocol
error, a handshake error response).

Errors the peer causes are raised from :meth:`Connection.events`, after the events received before
them; each carries the close code (or, during the handshake, the HTTP status) queued for sending.
The peer's close frame and a protocol error end the input at once, but the connection closes (answers
the close, or queues its close frame with the error's code) only when :meth:`Connection.events` gets
there: until then the caller can still answer the messages that arrived before, in the same read. So
call :meth:`Connection.data_to_send` after iterating the events.
"""

from __future__ import annotations

import codecs

from . import handshake
from ._connection_state import ConnectionState
from ._hotpath import (
    FrameDecoder,
    FrameEncoder,
    Utf8Validator,
    compiled,
    encode_frame,
    encode_header,
    validate_utf8,
)
from .deflate import (
    EXTENSION_NAME as DEFLATE,
    Compressor,
    Decompressor,
    DeflateParameters,
    PerMessageDeflate,
    max_compressed_size,
)
from .errors import HandshakeError, InvalidState, InvalidUTF8, MessageTooBig, ProtocolError, WebSocketError
from .events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Message,
    Ping,
    Pong,
    RejectConnection,
    Request,
    TextMessage,
)
from .frames import MAX_CLOSE_REASON, MAX_CONTROL_PAYLOAD, Opcode, is_valid_close_code

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time
if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Iterable, Iterator
    from typing import Any

    from typing_extensions import Buffer

    from .events import Event

    _BytesLike = bytes | bytearray | memoryview
    # A server's ``origins``: allowed Origin values (None: requests without one), or a callable deciding.
    _OriginPolicy = Collection[str | None] | Callable[[str | None], object] | None

if TYPE_CHECKING:
    from ._connection_core import ConnectionCore
else:
    ConnectionCore = compiled("wsframe._connection_core").ConnectionCore

__all__ = ["ConnectionState", "ServerConnection", "ClientConnection", "Connection"]

DEFAULT_MAX_MESSAGE_SIZE = 1024 * 1024

# What a compressed message may cost on the wire, which its inflated size does not bound (an empty frame,
# or an empty deflate block, inflates to nothing): each frame counts its payload plus FRAME_CHARGE bytes
# (the work of handling a frame), and a message may count at most 2 * max_message_size + WIRE_ALLOWANCE
# bytes, refused with 1009 beyond. That leaves room for a message of the maximum size, incompressible,
# in frames of 256 payload bytes or more.
# Uncompressed fragmented messages are not charged: in message mode the hot path joins their frames
# before this layer sees them (no memory per frame, and no frame count here to charge), and a flood of
# their empty frames costs no more per wire byte than a flood of unsolicited pongs, which no cap on
# messages could refuse (measured on both hot paths).
FRAME_CHARGE = 256
WIRE_ALLOWANCE = 65536

# What a server keeps of the bytes that follow the request before the application answers it. A client
# must wait for the 101 before sending (RFC 6455 section 4.1), so this only serves clients that pipeline
# their first frames; past it the request gets 400 rather than memory growing while the application
# decides. A fixed 1 MiB: several socket reads, and not tied to max_message_size.
MAX_DATA_BEFORE_ACCEPT = 1024 * 1024

_CONTINUATION = int(Opcode.CONTINUATION)
_TEXT = int(Opcode.TEXT)
_BINARY = int(Opcode.BINARY)
_CLOSE = int(Opcode.CLOSE)
_PING = int(Opcode.PING)
_PONG = int(Opcode.PONG)
_RSV1 = 4


_OPEN = ConnectionState.OPEN
_CLOSED = ConnectionState.CLOSED
_NO_EVENTS: Iterator[Event] = iter(())  # exhausted: shared by every events() call that has none

# Builds a message event as the frame decoder does, without the Python-level Message.__new__.
_new_message = tuple.__new__


class Connection(ConnectionCore):
    """What servers and clients share: the open connection's framing, messages and closing handshake.

    Limits: ``max_message_size`` (bytes, ``None`` for no limit) is checked from frame headers, before
    payload is buffered, and refused with 1009; ``max_frame_size`` likewise for single frames.
    ``stream_messages=True`` delivers data messages in pieces as they arrive (``Message.message_finished``
    tells the last piece) instead of buffering them whole. ``auto_pong`` answers pings by itself.
    ``fragment_size`` splits outgoing messages into frames of at most that many payload bytes.
    ``deflate`` (a :class:`~wsframe.deflate.PerMessageDeflate` policy) enables permessage-deflate: a
    server accepts a client's offer with it, a client offers it. Compressed messages are inflated frame
    by frame, bounded by ``max_message_size`` after inflating; compressed frames on the wire are limited
    by ``max_frame_size``, which defaults to what a zlib-based sender makes of a message of
    ``max_message_size`` bytes at worst (:func:`~wsframe.deflate.max_compressed_size`: 1/16 more).
    A fragmented compressed message is inflated into one buffer as its frames arrive, and its frames may
    count at most ``2 * max_message_size + 65536`` bytes on the wire, each frame its payload plus 256
    bytes (:data:`FRAME_CHARGE`; more is refused with 1009), so that neither memory nor work per message
    grows with its number of frames. (In stream mode each frame is handed on at once and not counted.)
    Uncompressed fragmented messages are joined as they come and not counted per frame.
    Messages sent in pieces (``message_finished=False``) go uncompressed. ``close_sent`` is the close frame
    sent, if any (the caller's, the reply to the peer's, or the one after the peer's error).
    ``frame_encoder`` is the hot path's :class:`FrameEncoder` while a whole message goes out as one plain
    frame (open, no compression, no ``fragment_size``, no message being sent in pieces), else None: its
    ``text(str)`` and ``binary(data)`` then give what :meth:`send_text` and :meth:`send_binary` would,
    without their Python call (the asyncio layer's per-message send).

    Memory per connection: the message being received (at most ``max_message_size`` bytes, or its frame
    in the hot path's buffer), the deflate state if negotiated (see :mod:`wsframe.deflate`), and the
    events of one :meth:`receive_data` call, which are not limited by the connection: a compressed input
    can inflate up to ~1032 times (each message within ``max_message_size``), so feed compressed
    connections in bounded pieces (the asyncio layer feeds 1 KiB at a time and stops when its queue is full).

    ``opened=True`` starts in the open state, for callers that did the HTTP upgrade themselves (see
    :mod:`wsframe.handshake` for the helpers): ``subprotocol`` says what was negotiated, and
    ``deflate_parameters`` (:class:`~wsframe.deflate.DeflateParameters`) the permessage-deflate agreed, if
    any (compressed with ``deflate``'s level, or the default policy's).
    """

    _is_client = False

    def __init__(
        self,
        *,
        max_message_size: int | None = DEFAULT_MAX_MESSAGE_SIZE,
        max_frame_size: int | None = None,
        stream_messages: bool = False,
        auto_pong: bool = True,
        fragment_size: int | None = None,
        deflate: PerMessageDeflate | None = None,
        opened: bool = False,
        subprotocol: str | None = None,
        deflate_parameters: DeflateParameters | None = None,
    ) -> None:
        self._compressor: Compressor | None = None
        self._send_opcode = 0  # opcode of a message being sent in pieces; 0 when none
        self._fragment_size: int | None = None
        self.frame_encoder: FrameEncoder | None = None  # set while sending takes the fast path (class doc)
        self.state = ConnectionState.CONNECTING
        self.max_message_size = max_message_size
        self.max_frame_size = max_frame_size
        self.stream_messages = stream_messages
        self.auto_pong = auto_pong
        self.fragment_size = fragment_size  # validated by its setter
        self.deflate = deflate
        self.deflate_parameters: DeflateParameters | None = None  # what was agreed, if anything
        self._decompressor: Decompressor | None = None
        self._compressed = False  # the message being received is compressed
        self._inflated_text: Utf8Validator | None = None  # UTF-8 check of a compressed text message
        self.subprotocol: str | None = None
        self.extensions: list[str] = []  # the names of the extensions in use
        self._events: list[Event] = []
        self._outgoing = bytearray()
        self._error: WebSocketError | None = None
        self._eof = False
        self._input_closed = False  # a close frame or an error ended the input; events() closes
        self._close_received: CloseConnection | None = None  # the peer's close, until events() answers it
        self.close_sent: CloseConnection | None = None  # the close frame we sent (ours, a reply, or after an error)
        self._decoder: FrameDecoder | None = None
        self._unparsed = b""  # a partial frame header, re-passed with the next read
        self._inflated = bytearray()  # the compressed message being reassembled, inflated
        self._wire_left = 0  # what its frames may still count on the wire (FRAME_CHARGE)
        self._message_opcode = 0  # its opcode; 0 when no message is in progress
        # Stream mode: turns text pieces into str across UTF-8 boundaries.
        self._text_decoder: codecs.IncrementalDecoder | None = None
        self._encoder = FrameEncoder(mask=self._is_client)  # whole plain frames; the client's mask keys
        if opened:
            if deflate_parameters is not None and self.deflate is None:
                self.deflate = PerMessageDeflate()
            self._open(subprotocol, [DEFLATE] if deflate_parameters is not None else [], deflate_parameters)

    @property
    def state(self) -> ConnectionState:
        return self._state

    @state.setter
    def state(self, state: ConnectionState) -> None:
        self._state = state
        self._update_fast_send()

    @property
    def fragment_size(self) -> int | None:
        return self._fragment_size

    @fragment_size.setter
    def fragment_size(self, size: int | None) -> None:
        if size is not None and size < 1:
            raise ValueError("fragment_size must be at least 1")
        self._fragment_size = size
        self._update_fast_send()

    def _update_fast_send(self) -> None:
        # Whether a whole message goes out as one plain frame, so that send_text and send_binary can skip
        # the general path: kept up to date by everything it depends on.
        fast = (
            self._state is _OPEN and self._compressor is None and self._fragment_size is None and not self._send_opcode
        )
        self.frame_encoder = self._encoder if fast else None

    # -- receiving -------------------------------------------------------------------------------
    # (receive_data and receive_messages, which run for every read, are ConnectionCore's.)

    def events(self, *, defer_error: bool = False) -> Iterator[Event]:
        """An iterator over the events received so far, which then raises the peer's error, if any (once).

        The events are taken when this is called. The connection closes as the iteration reaches the
        peer's close (queueing the reply) or raises an error (queueing its close frame), so the events
        before can still be answered: write :meth:`data_to_send` after iterating.

        ``defer_error=True`` leaves the error (:attr:`pending_error`) for a later call to raise, the
        connection open meanwhile (its input ended): for a caller that hands messages to an application
        and fails the connection once the application has answered them.
        """
        events = self._events
        if self._close_received is None and (self._error is None or defer_error):
            if not events:  # a read inside a big frame, or events() asked twice
                return _NO_EVENTS
            self._events = []
            return iter(events)  # nothing to do along the way: a plain list iterator is cheapest
        self._events = []
        return self._events_then_close(events, defer_error)

    @property
    def pending_error(self) -> WebSocketError | None:
        """The error the peer caused, which :meth:`events` has yet to raise; None if there is none."""
        return self._error

    def _events_then_close(self, events: list[Event], defer_error: bool) -> Iterator[Event]:
        for event in events:
            if event is self._close_received:
                self._answer_close()
            yield event
        if self._error is not None and not defer_error:
            error, self._error = self._error, None
            if self.state is not ConnectionState.CLOSED:  # then not a HandshakeError: those close at once
                self._close_after_error(error)  # type: ignore[arg-type]
            try:
                raise error
            finally:
                del error  # else this frame (in the traceback) and the error keep each other for the GC

    def data_to_send(self) -> bytes:
        """The bytes the connection queued on its own since the last call (pongs, close replies, ...)."""
        if not self._outgoing:  # the usual case, asked after every read
            return b""
        data = bytes(self._outgoing)
        self._outgoing.clear()
        return data

    def _receive_eof(self) -> None:
        if self._eof:
            return
        self._eof = True
        if self.state is ConnectionState.CONNECTING:
            self._receive_handshake_eof()
        elif self.state is not ConnectionState.CLOSED and not self._input_closed:
            self.state = ConnectionState.CLOSED
            self._events.append(CloseConnection(1006, ""))

    def _receive_frames(self, data: _BytesLike) -> None:
        unparsed = self._unparsed
        if unparsed:
            data = unparsed + bytes(data)
        # Called once open, so with a decoder.
        items, used, error = self._decoder.decode(data)  # type: ignore[union-attr]
        # A read inside a big frame decodes to nothing, consumed whole: nothing for _decoded to do.
        if items or error is not None or unparsed or used < len(data):
            self._decoded(data, items, used, error)

    def _decoded(self, data: _BytesLike, items: list[Any], used: int, error: ProtocolError | None) -> None:
        """Takes what the decoder made of ``data``: events, the unparsed rest, the peer's error."""
        self._unparsed = bytes(data[used:]) if used < len(data) else b""
        if items:
            if self._decoder.last_frame_count:  # type: ignore[union-attr]
                self._handle_frames(items)
            else:  # only whole messages: nothing in them can change the state
                self._events.extend(items)  # message objects
        if error is not None and not self._input_closed:
            self._fail(error)

    def _handle_frames(self, items: list[Any]) -> None:
        """Handles the decoder's items: frame tuples, and (unless streaming) whole uncompressed messages."""
        events = self._events
        whole = not self.stream_messages
        for item in items:
            if self._input_closed:
                return
            if type(item) is not tuple:
                events.append(item)
                continue
            opcode, fin, rsv, payload = item
            if rsv and fin and (opcode == _TEXT or opcode == _BINARY):
                # A compressed message in one frame, the common case: inflated, checked and delivered
                # here, the same event in both modes (the decoder already checked the sequencing).
                try:
                    data = self._decompressor.decompress(payload, True)  # type: ignore[union-attr]  # RSV1: agreed
                    if opcode == _TEXT:
                        try:
                            data = data.decode()
                        except UnicodeDecodeError:
                            validate_utf8(data)  # raises the error (offset) the incremental check would
                            raise
                        events.append(_new_message(TextMessage, (data, True)))
                    else:
                        events.append(_new_message(BytesMessage, (data, True)))
                except ProtocolError as exc:
                    self._fail(exc)
                    return
            elif fin and (opcode == _TEXT or opcode == _BINARY):
                # An uncompressed message in one piece (stream mode; message mode gets these whole from
                # the decoder): the common case, without the per-piece bookkeeping below.
                if opcode == _TEXT:
                    events.append(_new_message(TextMessage, (payload.decode(), True)))
                else:
                    events.append(_new_message(BytesMessage, (payload, True)))
            elif opcode >= _CLOSE:
                if rsv:
                    self._fail(ProtocolError("RSV1 set on a control frame"))
                    return
                self._handle_control(opcode, payload)
            else:
                try:
                    payload = self._start_or_continue(opcode, fin, rsv, payload)
                except ProtocolError as exc:
                    self._fail(exc)
                    return
                if whole:
                    self._handle_fragment(opcode, fin, payload)
                else:
                    self._handle_piece(opcode, fin, payload)

    def _start_or_continue(self, opcode: int, fin: bool, rsv: int, payload: bytes) -> bytes:
        """Inflates a data frame of a compressed message (RSV1 on its first frame); checks RSV1's use."""
        if opcode != _CONTINUATION:
            self._compressed = bool(rsv)
            if rsv and opcode == _TEXT:
                self._inflated_text = Utf8Validator()
            if self.max_message_size is not None:
                self._wire_left = 2 * self.max_message_size + WIRE_ALLOWANCE
        elif rsv:
            raise ProtocolError("RSV1 set on a continuation frame")
        if not self._compressed:
            return payload
        if self.max_message_size is not None and not self.stream_messages:
            self._wire_left -= len(payload) + FRAME_CHARGE
            if self._wire_left < 0:
                raise MessageTooBig(
                    f"compressed message of more than {2 * self.max_message_size + WIRE_ALLOWANCE} bytes on the "
                    f"wire (each frame counting {FRAME_CHARGE} bytes more than its payload)"
                )
        payload = self._decompressor.decompress(payload, fin)  # type: ignore[union-attr]  # RSV1: agreed
        if self._inflated_text is not None:
            self._inflated_text.feed(payload, fin)
            if fin:
                self._inflated_text = None
        return payload

    def _handle_fragment(self, opcode: int, fin: bool, payload: bytes) -> None:
        # Joined as the frames come: one buffer per message, however many (empty) frames it has.
        if opcode != _CONTINUATION:
            self._message_opcode = opcode
        self._inflated += payload
        if fin:
            if self._message_opcode == _TEXT:
                self._events.append(TextMessage(self._inflated.decode("utf-8")))
            else:
                self._events.append(BytesMessage(bytes(self._inflated)))
            self._inflated = bytearray()
            self._message_opcode = 0

    def _handle_piece(self, opcode: int, fin: bool, payload: bytes) -> None:
        if opcode != _CONTINUATION:
            self._message_opcode = opcode
            if opcode == _TEXT:
                self._text_decoder = codecs.getincrementaldecoder("utf-8")()
        if self._message_opcode == _TEXT:
            self._events.append(TextMessage(self._text_decoder.decode(payload, fin), fin))  # type: ignore[union-attr]
        else:
            self._events.append(BytesMessage(payload, fin))
        if fin:
            self._message_opcode = 0
            self._text_decoder = None

    def _handle_control(self, opcode: int, payload: bytes) -> None:
        if opcode == _PING:
            if self.auto_pong and self.state is ConnectionState.OPEN:
                self._outgoing += self._frame(_PONG, payload)
            self._events.append(Ping(payload))
        elif opcode == _PONG:
            self._events.append(Pong(payload))
        else:
            try:
                code, reason = parse_close_payload(payload)
            except ProtocolError as exc:
                self._fail(exc)
                return
            self._input_closed = True
            self._close_received = CloseConnection(code, reason)
            self._events.append(self._close_received)

    def _answer_close(self) -> None:
        code = self._close_received.code  # type: ignore[union-attr]  # events() reached it
        self._close_received = None
        if self.state is ConnectionState.OPEN:
            self._outgoing += self._frame(_CLOSE, close_payload(code, "") if code != 1005 else b"")
            self.close_sent = CloseConnection(code, "")
        self.state = ConnectionState.CLOSED

    def _fail(self, error: ProtocolError) -> None:
        """Fails the connection (RFC 6455 section 7.1.7) once events() raises the error: stop reading now."""
        self._input_closed = True
        self._error = error

    def _close_after_error(self, error: ProtocolError) -> None:
        """Sends a close frame with the error's code (unless we already sent ours) and closes.

        Only open connections get here with a frame to send: handshake errors close the connection
        where they happen, with an HTTP response rather than a close frame.
        """
        if self.state is _OPEN:
            reason = _truncate_utf8(str(error), MAX_CLOSE_REASON)
            self._outgoing += self._frame(_CLOSE, close_payload(error.close_code, reason))
            self.close_sent = CloseConnection(error.close_code, reason)
        self.state = ConnectionState.CLOSED

    # -- sending ---------------------------------------------------------------------------------

    def send(self, event: Event) -> bytes:
        """The bytes that carry ``event`` to the peer; raises InvalidState when the state forbids it."""
        # A TextMessage is (str, message_finished), a BytesMessage (bytes, message_finished): mypy cannot
        # follow from the event's type to its items', nor narrow on type(event).
        kind = type(event)
        if kind is TextMessage:
            return self.send_text(*event)  # type: ignore[misc]
        if kind is BytesMessage:
            return self.send_binary(*event)  # type: ignore[misc]
        if isinstance(event, Message):
            data, message_finished = event
            if isinstance(event, TextMessage):
                return self.send_text(data, message_finished)  # type: ignore[arg-type]
            if isinstance(event, BytesMessage):
                return self.send_binary(data, message_finished)  # type: ignore[arg-type]
            raise TypeError("send a TextMessage or a BytesMessage")
        if isinstance(event, (Ping, Pong)):
            self._require_open(event)
            payload = bytes(event.payload)
            if len(payload) > MAX_CONTROL_PAYLOAD:
                raise ValueError(f"{type(event).__name__.lower()} payload over {MAX_CONTROL_PAYLOAD} bytes")
            return self._frame(_PING if isinstance(event, Ping) else _PONG, payload)
        if isinstance(event, CloseConnection):
            return self._send_close(event)
        return self._send_handshake(event)

    def send_text(self, text: str, message_finished: bool = True) -> bytes:
        """The bytes of a text message (or, with ``message_finished=False``, of its next piece)."""
        encoder = self.frame_encoder
        if encoder is not None and message_finished:
            return encoder.text(text)
        if not isinstance(text, str):
            raise TypeError(f"text must be str, not {type(text).__name__}")
        return self._send_data(_TEXT, text.encode(), message_finished)

    def send_binary(self, data: _BytesLike, message_finished: bool = True) -> bytes:
        """The bytes of a binary message (or, with ``message_finished=False``, of its next piece)."""
        encoder = self.frame_encoder
        if encoder is not None and message_finished:
            return encoder.binary(data)
        return self._send_data(_BINARY, data, message_finished)

    def send_binary_unjoined(self, data: _BytesLike) -> list[bytes]:
        """:meth:`send_binary`'s bytes as a list of parts to write in order without joining them (e.g. with
        ``transport.writelines``): a server's whole plain message is its frame header and ``data`` itself,
        which spares copying a large payload behind the header; any other frame is one part."""
        if self.frame_encoder is not None and not self._is_client and type(data) is bytes:
            return [encode_header(_BINARY, len(data)), data]
        return [self.send_binary(data)]

    def _send_data(self, opcode: int, payload: _BytesLike, fin: bool) -> bytes:
        # The path of every message sent: kept to a few attribute reads in the common case.
        if self.state is not _OPEN:
            raise InvalidState(f"cannot send a message while the connection is {self.state.value}")
        if self._send_opcode:
            if opcode != self._send_opcode:
                raise InvalidState("a message of another type is being sent in pieces")
            opcode = _CONTINUATION
        elif not fin:
            self._send_opcode = opcode
            self._update_fast_send()
        rsv = 0
        if (
            self._compressor is not None
            and fin
            and opcode != _CONTINUATION
            and len(payload) >= self.deflate.min_size  # type: ignore[union-attr]  # set with the compressor
        ):
            payload = self._compressor.compress(payload)
            rsv = _RSV1
        if fin and self._send_opcode:
            self._send_opcode = 0
            self._update_fast_send()
        size = self._fragment_size
        if size is None or len(payload) <= size:
            if self._is_client:
                return encode_frame(opcode, payload, fin=fin, rsv=rsv, mask_key=self._encoder.mask_key())
            return encode_frame(opcode, payload, fin=fin, rsv=rsv)
        view = memoryview(payload)
        last = (len(payload) - 1) // size * size
        out = [self._frame(opcode, view[:size], False, rsv)]
        out += [self._frame(_CONTINUATION, view[start : start + size], False) for start in range(size, last, size)]
        out.append(self._frame(_CONTINUATION, view[last:], fin))
        return b"".join(out)

    def _send_close(self, event: CloseConnection) -> bytes:
        self._require_open(event)
        code, reason = event.code, event.reason
        if code == 1005 and not reason:
            payload = b""
        elif not is_valid_close_code(code):
            raise ValueError(f"close code {code} may not be sent")
        else:
            payload = close_payload(code, reason)
        self.state = ConnectionState.CLOSING
        self.close_sent = CloseConnection(code, reason)
        return self._frame(_CLOSE, payload)

    def _require_open(self, event: Event) -> None:
        if self.state is not _OPEN:
            raise InvalidState(f"cannot send {type(event).__name__} while the connection is {self.state.value}")

    def _frame(self, opcode: int, payload: Buffer, fin: bool = True, rsv: int = 0) -> bytes:
        if self._is_client:
            return encode_frame(opcode, payload, fin=fin, rsv=rsv, mask_key=self._encoder.mask_key())
        return encode_frame(opcode, payload, fin=fin, rsv=rsv)

    def _open(
        self, subprotocol: str | None, extensions: Iterable[str], deflate_parameters: DeflateParameters | None = None
    ) -> None:
        self.subprotocol = subprotocol
        self.extensions = list(extensions)
        max_frame_size = self.max_frame_size
        if deflate_parameters is not None:
            self.deflate_parameters = deflate_parameters
            is_server = not self._is_client
            # Set: the policy that negotiated the parameters, or the default one (opened=True).
            policy: PerMessageDeflate = self.deflate  # type: ignore[assignment]
            self._compressor = Compressor(
                deflate_parameters, is_server=is_server, compress_level=policy.compress_level, mem_level=policy.mem_level
            )
            self._decompressor = Decompressor(deflate_parameters, is_server=is_server, max_size=self.max_message_size)
            if max_frame_size is None and self.max_message_size is not None:
                # Incompressible messages grow under deflate: room for what real senders produce.
                max_frame_size = max_compressed_size(self.max_message_size)
        self._decoder = FrameDecoder(
            expect_mask=not self._is_client,
            allowed_rsv=_RSV1 if deflate_parameters is not None else 0,
            max_frame_size=max_frame_size,
            max_message_size=self.max_message_size,
            stream=self.stream_messages,
            messages=None if self.stream_messages else (TextMessage, BytesMessage),
        )
        self.state = ConnectionState.OPEN  # last: the fast send path depends on the compressor

    # -- handshake hooks, per role ---------------------------------------------------------------

    def _receive_handshake(self, data: _BytesLike) -> None:
        raise NotImplementedError

    def _receive_handshake_eof(self) -> None:
        raise NotImplementedError

    def _send_handshake(self, event: Event) -> bytes:
        raise TypeError(f"cannot send {type(event).__name__}")


class ServerConnection(Connection):
    """The server side: parses and checks the client's upgrade request, then speaks WebSocket.

    ``subprotocols`` lists the ones the server speaks, in its order of preference. ``origins`` is the
    Origin policy: ``None`` allows any, else a collection of allowed Origin values (include ``None`` to
    allow requests without Origin; a single ``str`` is refused with TypeError, as ``in`` would test for
    a substring) or a callable taking the Origin (or None) and returning whether to allow it; a refused
    Origin, or a callable that raises, is answered with 403. The :class:`Request` event is the hook where
    the server authenticates: it answers with :class:`AcceptConnection` or :class:`RejectConnection`.
    Frames that arrive before that answer are kept, up to ``MAX_DATA_BEFORE_ACCEPT`` bytes (1 MiB; the
    request is answered with 400 beyond), and decoded at once when the connection is accepted: with
    permessage-deflate that can inflate ~1000-fold, so stop feeding bytes after the :class:`Request`
    until it is answered (the asyncio layer stops within 1 KiB of the request's end). The ``deflate``
    policy is applied when the request is accepted, so a server may set it per request until then
    (None declines compression).

    A request that is not an acceptable upgrade is answered automatically (its HandshakeError's status,
    queued in :meth:`data_to_send`). When the head was well-formed HTTP, the error raised from
    :meth:`events` carries it as ``request``: a server that also serves plain HTTP on the same port can
    take :meth:`data_to_send` without writing it and send its own response instead.
    """

    def __init__(
        self,
        *,
        subprotocols: Iterable[str] = (),
        origins: _OriginPolicy = None,
        max_request_line: int = 8192,
        max_request_head: int = 65536,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        self.supported_subprotocols = list(subprotocols)
        self.origins = origins
        self._reader = handshake.RequestReader(max_line=max_request_line, max_head=max_request_head)
        self._request: handshake.ClientHandshake | None = None
        self._data_before_accept: list[bytes] = []  # frames received while the request waits for an answer
        self._data_before_accept_size = 0

    @property
    def origins(self) -> _OriginPolicy:
        return self._origins

    @origins.setter
    def origins(self, policy: _OriginPolicy) -> None:
        self._origins = check_origin_policy(policy)

    def _receive_handshake(self, data: _BytesLike) -> None:
        if self._request is not None:
            self._hold_until_answered(data)
            return
        try:
            request = self._reader.feed(data)
        except HandshakeError as exc:
            self._reject_automatically(exc)
            return
        if request is None:
            return
        try:
            checked = handshake.check_request(request)
            self._check_origin(checked.origin)
        except HandshakeError as exc:
            exc.request = request  # well-formed HTTP: a server may answer it itself (see the class doc)
            self._reject_automatically(exc)
            return
        self._request = checked
        self._hold_until_answered(self._reader.remaining)
        if self.state is _CLOSED:
            return  # refused already: too much data came with the request
        self._events.append(
            Request(
                host=checked.host,
                target=checked.target,
                origin=checked.origin,
                subprotocols=checked.subprotocols,
                extensions=checked.extensions,
                headers=checked.headers,
            )
        )

    def _receive_handshake_eof(self) -> None:
        self.state = ConnectionState.CLOSED
        if self._request is None:
            self._error = HandshakeError("connection closed during the handshake", 400)

    def _hold_until_answered(self, data: _BytesLike) -> None:
        """Keeps frames that arrive before the answer to the request, up to MAX_DATA_BEFORE_ACCEPT bytes."""
        if not data:
            return
        self._data_before_accept_size += len(data)
        if self._data_before_accept_size > MAX_DATA_BEFORE_ACCEPT:
            self._data_before_accept = []
            error = HandshakeError(f"over {MAX_DATA_BEFORE_ACCEPT} bytes received before the handshake was answered")
            self._reject_automatically(error)
            return
        self._data_before_accept.append(bytes(data))  # a list: appending to one bytes object is quadratic

    def _check_origin(self, origin: str | None) -> None:
        policy = self._origins
        if policy is None:
            return
        try:
            allowed = policy(origin) if callable(policy) else origin in policy
        except Exception as exc:  # fail closed; the cause stays on the error, out of the response body
            raise HandshakeError(f"origin {origin!r} not allowed (the origin policy failed)", 403) from exc
        if not allowed:
            raise HandshakeError(f"origin {origin!r} not allowed", 403)

    def _reject_automatically(self, exc: HandshakeError) -> None:
        self._outgoing += handshake.build_rejection(
            exc.status, headers=exc.headers, body=str(exc).encode()  # type: ignore[arg-type]  # None: client side only
        )
        self.state = ConnectionState.CLOSED
        self._error = exc

    def _send_handshake(self, event: Event) -> bytes:
        if self.state is not ConnectionState.CONNECTING or self._request is None:
            raise InvalidState(f"cannot send {type(event).__name__} now: no request is waiting for an answer")
        if isinstance(event, AcceptConnection):
            offered = self._request.subprotocols
            subprotocol = event.subprotocol
            if subprotocol is None:
                subprotocol = handshake.select_subprotocol(offered, self.supported_subprotocols)
            elif subprotocol not in offered:
                raise ValueError(f"subprotocol {subprotocol!r} was not offered by the client")
            # The policy in effect now decides: the application may change ``deflate`` until it answers.
            answer = self.deflate.accept(self._request.extensions) if self.deflate is not None else None
            extensions, parameters = answer or (None, None)
            response = handshake.build_accept(
                self._request.key, subprotocol=subprotocol, extensions=extensions, extra_headers=event.extra_headers
            )
            self._open(subprotocol, [DEFLATE] if parameters else [], parameters)
            pending, self._data_before_accept = self._data_before_accept, []
            if pending:
                self._receive_frames(b"".join(pending))
            return response
        if isinstance(event, RejectConnection):
            # Built first: an invalid rejection raises with the request still waiting for a valid answer.
            response = handshake.build_rejection(event.status_code, headers=event.headers, body=event.body)
            self.state = ConnectionState.CLOSED
            self._data_before_accept = []
            return response
        raise TypeError(f"cannot send {type(event).__name__}")


class ClientConnection(Connection):
    """The client side: sends the upgrade request (``send(Request(...))``), checks the 101 response.

    The server's answer arrives as :class:`AcceptConnection` (with the negotiated subprotocol) or
    :class:`RejectConnection` (its status, headers and body); an invalid response raises HandshakeError.
    Limits of the response (see :class:`~wsframe.handshake.ResponseReader`): ``max_response_head``
    (bytes of all its heads together), ``max_response_body`` (bytes of a refusal's body kept), and
    ``max_interim`` (interim 1xx responses skipped before it; one more raises HandshakeError).
    """

    _is_client = True

    def __init__(
        self,
        *,
        max_response_head: int = 65536,
        max_response_body: int = 65536,
        max_interim: int = 8,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        self._reader = handshake.ResponseReader(
            max_head=max_response_head, max_body=max_response_body, max_interim=max_interim
        )
        self._key: str | None = None
        self._offered_subprotocols: list[str] = []

    def _send_handshake(self, event: Event) -> bytes:
        if not isinstance(event, Request):
            raise TypeError(f"cannot send {type(event).__name__}")
        if self._key is not None or self.state is not ConnectionState.CONNECTING:
            raise InvalidState("the upgrade request was already sent")
        self._key = handshake.generate_key()
        self._offered_subprotocols = list(event.subprotocols)
        return handshake.build_request(
            event.host,
            event.target,
            self._key,
            origin=event.origin,
            subprotocols=event.subprotocols,
            extensions=self.deflate.offer() if self.deflate is not None else None,
            extra_headers=event.headers,
        )

    def _receive_handshake(self, data: _BytesLike) -> None:
        if self._key is None:
            raise InvalidState("data received before the upgrade request was sent")
        try:
            response = self._reader.feed(data)
        except HandshakeError as exc:
            self._client_handshake_failed(exc)
            return
        if response is not None:
            self._handle_response(response)

    def _receive_handshake_eof(self) -> None:
        try:
            response = self._reader.feed_eof()
        except HandshakeError as exc:
            self._client_handshake_failed(exc)
            return
        self._handle_response(response)

    def _handle_response(self, response: handshake.HTTPResponse) -> None:
        if response.status != 101:
            self.state = ConnectionState.CLOSED
            self._events.append(RejectConnection(response.status, response.headers, response.body))
            return
        try:
            subprotocol, extensions = handshake.check_response(
                response,
                self._key,  # type: ignore[arg-type]  # a response is read only after the request was sent
                subprotocols=self._offered_subprotocols,
                extensions_offered=[DEFLATE] if self.deflate is not None else [],
            )
            parameters = None
            for name, params in extensions:
                if parameters is not None:
                    raise HandshakeError(f"extension {name} accepted twice", status=None)
                parameters = self.deflate.check_response(params)  # type: ignore[union-attr]  # only if offered
        except HandshakeError as exc:
            self._client_handshake_failed(exc)
            return
        self._open(subprotocol, [name for name, _ in extensions], parameters)
        self._events.append(AcceptConnection(subprotocol, extensions, response.headers))
        remaining = self._reader.remaining
        if remaining:
            self._receive_frames(remaining)

    def _client_handshake_failed(self, exc: HandshakeError) -> None:
        self.state = ConnectionState.CLOSED
        self._error = exc


def check_origin_policy(policy: _OriginPolicy) -> _OriginPolicy:
    """Returns ``policy`` if it can be a server's ``origins`` policy; TypeError for a string.

    ``origin in "https://a.example"`` would test for a substring and let ``Origin: a`` in.
    """
    if isinstance(policy, (str, bytes, bytearray, memoryview)):
        raise TypeError(f"origins must be a collection of Origin values or a callable, not {type(policy).__name__}")
    return policy


def parse_close_payload(payload: bytes) -> tuple[int, str]:
    """The code and reason of a received close frame; ProtocolError (1002) or InvalidUTF8 (1007)."""
    if not payload:
        return 1005, ""
    if len(payload) == 1:
        raise ProtocolError("close frame with a 1-byte payload")
    code = int.from_bytes(payload[:2], "big")
    if not is_valid_close_code(code):
        raise ProtocolError(f"invalid close code {code}")
    reason = payload[2:]
    try:
        validate_utf8(reason)
    except InvalidUTF8 as exc:
        raise InvalidUTF8(f"invalid UTF-8 in the close reason at byte {exc.offset}", exc.offset) from None
    return code, reason.decode("utf-8")


def close_payload(code: int, reason: str) -> bytes:
    """A close frame's payload; ValueError for a reason over 123 bytes of UTF-8."""
    encoded = reason.encode("utf-8")
    if len(encoded) > MAX_CLOSE_REASON:
        raise ValueError(f"close reason over {MAX_CLOSE_REASON} bytes")
    return code.to_bytes(2, "big") + encoded


def _truncate_utf8(text: str, limit: int) -> str:
    return text.encode("utf-8")[:limit].decode("utf-8", "ignore")
