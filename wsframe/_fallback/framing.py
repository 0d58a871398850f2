"""Frame coding, RFC 6455 section 5.2: header encoding and decoding, and the batch frame decoder.

The pure-Python reference for ``src/framing.pxi``: the same results and the same errors, checked in the
same order (see src/CONTRACT.md, section 3).
"""

from __future__ import annotations

import operator
import os
import struct
import sys

from ..errors import InvalidUTF8, MessageTooBig, ProtocolError
from .buffers import contiguous_bytes
from .mask import mask, xor_with_key
from .utf8 import Utf8Validator

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time
if TYPE_CHECKING:
    from typing import Any, TypeAlias

    from typing_extensions import Buffer

    # (fin, rsv, opcode, payload_length, mask_key, header_length)
    _Header: TypeAlias = tuple[bool, int, int, int, bytes | None, int]
    # A frame tuple (opcode, fin, rsv, payload), or in message mode a message object (a tuple subclass).
    _Item: TypeAlias = tuple[Any, ...]
    _MessageTypes: TypeAlias = tuple[type[tuple[Any, ...]], type[tuple[Any, ...]]]

__all__ = ["encode_header", "encode_frame", "FrameEncoder", "decode_header", "FrameDecoder"]

_HEADER_7 = struct.Struct("!BB")
_HEADER_16 = struct.Struct("!BBH")
_HEADER_64 = struct.Struct("!BBQ")
_U16 = struct.Struct("!H")
_U64 = struct.Struct("!Q")

_MAX_LENGTH = 2**63 - 1
_MASK_POOL_SIZE = 4096  # random bytes drawn per os.urandom call: 1024 mask keys
_RESERVED_OPCODES = frozenset((3, 4, 5, 6, 7, 11, 12, 13, 14, 15))


def _first_byte(opcode: int, fin: bool, rsv: int) -> int:
    """FIN, RSV1-3 and opcode as the header's first byte, after checking the argument ranges."""
    opcode = operator.index(opcode)
    if not 0 <= opcode <= 15:
        raise ValueError(f"invalid opcode {opcode}")
    rsv = operator.index(rsv)
    if not 0 <= rsv <= 7:
        raise ValueError(f"invalid rsv {rsv}")
    return (0x80 if fin else 0) | rsv << 4 | opcode


def _mask_key(mask_key: Buffer | None) -> bytes | None:
    """The 4-byte key as bytes, or None."""
    if mask_key is None:
        return None
    key = contiguous_bytes(mask_key)
    if len(key) != 4:
        raise ValueError(f"mask key must be 4 bytes, not {len(key)}")
    return bytes(key)


def _header_size(length: int, masked: bool) -> int:
    return (2 if length < 126 else 4 if length < 65536 else 10) + (4 if masked else 0)


def _header(first: int, length: int, key: bytes | None) -> bytes:
    """The header with the minimal length encoding, then the mask key if any."""
    mask_bit = 0 if key is None else 0x80
    if length < 126:
        header = _HEADER_7.pack(first, mask_bit | length)
    elif length < 65536:
        header = _HEADER_16.pack(first, mask_bit | 126, length)
    else:
        header = _HEADER_64.pack(first, mask_bit | 127, length)
    return header if key is None else header + key


def encode_header(
    opcode: int, length: int, *, fin: bool = True, rsv: int = 0, mask_key: Buffer | None = None
) -> bytes:
    """The header of a frame with a payload of ``length`` bytes (masked when ``mask_key`` is given)."""
    first = _first_byte(opcode, fin, rsv)
    length = operator.index(length)
    if not 0 <= length <= _MAX_LENGTH:
        raise ValueError(f"invalid payload length {length}")
    return _header(first, length, _mask_key(mask_key))


def encode_frame(
    opcode: int, payload: Buffer, *, fin: bool = True, rsv: int = 0, mask_key: Buffer | None = None
) -> bytes:
    """A whole frame, header and payload (masked with ``mask_key`` if given), as one bytes object."""
    first = _first_byte(opcode, fin, rsv)
    data = contiguous_bytes(payload)
    key = _mask_key(mask_key)
    header = _header(first, len(data), key)
    return header + (data if key is None else mask(data, key))


class FrameEncoder:
    """Builds whole data frames (FIN set, no rsv bits) in one call per message: the fast path for the
    messages of a connection that neither fragments nor compresses.

    ``mask``: True on a client: every frame gets a fresh key from the OS CSPRNG (RFC 6455 section 10.3),
    drawn in batches so that a small frame does not cost a system call.
    """

    def __init__(self, *, mask: bool) -> None:
        self._masked = bool(mask)
        self._keys: list[bytes] = []  # unused keys of the last batch

    def __reduce__(self) -> str | tuple[object, ...]:
        # A copy would hand out the same unused keys as this encoder: masks must not repeat.
        raise TypeError(f"cannot pickle or copy a {type(self).__name__}: its mask keys must not be shared")

    def mask_key(self) -> bytes:
        """A fresh mask key (4 bytes) from the same source, for the frames built elsewhere."""
        keys = self._keys
        if not keys:
            pool = os.urandom(_MASK_POOL_SIZE)
            keys = self._keys = [pool[start : start + 4] for start in range(0, _MASK_POOL_SIZE, 4)]
        return keys.pop()

    def _frame(self, first: int, data: bytes | memoryview) -> bytes:
        if self._masked:
            key = self.mask_key()
            return _header(first, len(data), key) + mask(data, key)
        return _header(first, len(data), None) + data

    def text(self, text: str) -> bytes:
        """The frame of a whole text message: ``text`` (a str) encoded as UTF-8."""
        if not isinstance(text, str):
            raise TypeError(f"text must be str, not {type(text).__name__}")
        return self._frame(0x81, text.encode())

    def binary(self, data: Buffer) -> bytes:
        """The frame of a whole binary message: ``data``, any contiguous bytes-like object."""
        return self._frame(0x82, data if type(data) is bytes else contiguous_bytes(data))

    def binary_into(self, buffer: Buffer, data: Buffer) -> int:
        """Writes the frame of a whole binary message ``data`` at the start of the writable ``buffer`` and
        returns its length (at most ``len(data) + 14``). ValueError, the buffer unchanged, when the frame
        does not fit."""
        out = contiguous_bytes(buffer)
        if out.readonly:
            raise TypeError(f"binary_into needs a writable buffer, not {type(buffer).__name__}")
        payload = data if type(data) is bytes else contiguous_bytes(data)
        size = _header_size(len(payload), self._masked) + len(payload)
        if size > len(out):
            raise ValueError(f"a frame of {size} bytes does not fit in a buffer of {len(out)} bytes")
        out[:size] = self._frame(0x82, payload)  # built whole first: the payload may lie in the buffer
        return size


def _check_allowed_rsv(allowed_rsv: int) -> int:
    allowed_rsv = operator.index(allowed_rsv)
    if not 0 <= allowed_rsv <= 7:
        raise ValueError(f"invalid allowed_rsv {allowed_rsv}")
    return allowed_rsv


def _parse_header(view: memoryview, pos: int, expect_mask: bool | None, allowed_rsv: int) -> _Header | int:
    """decode_header on a checked view and offset: the header tuple or the count of missing bytes."""
    available = len(view) - pos
    if available < 2:
        return 2 - available
    first = view[pos]
    second = view[pos + 1]
    fin = first >= 0x80
    rsv = first >> 4 & 7
    opcode = first & 0x0F
    masked = second >= 0x80
    length = second & 0x7F
    if opcode in _RESERVED_OPCODES:
        raise ProtocolError(f"reserved opcode {opcode}")
    disallowed = rsv & ~allowed_rsv
    if disallowed:
        bit = 1 if disallowed & 4 else 2 if disallowed & 2 else 3
        raise ProtocolError(f"reserved bits set: RSV{bit}")
    if opcode >= 8:
        if not fin:
            raise ProtocolError("fragmented control frame")
        if length > 125:
            raise ProtocolError("control frame payload over 125 bytes")
    if expect_mask is not None:
        if expect_mask and not masked:
            raise ProtocolError("unmasked frame from a client")
        if not expect_mask and masked:
            raise ProtocolError("masked frame from a server")
    header_length = 2 + (2 if length == 126 else 8 if length == 127 else 0) + (4 if masked else 0)
    if available < header_length:
        return header_length - available
    if length == 126:
        (length,) = _U16.unpack_from(view, pos + 2)
        if length < 126:
            raise ProtocolError("payload length not minimally encoded")
    elif length == 127:
        (length,) = _U64.unpack_from(view, pos + 2)
        if length > _MAX_LENGTH:
            raise ProtocolError("payload length over 2**63-1")
        if length < 65536:
            raise ProtocolError("payload length not minimally encoded")
    key = bytes(view[pos + header_length - 4 : pos + header_length]) if masked else None
    return (fin, rsv, opcode, length, key, header_length)


def decode_header(
    data: Buffer, offset: int = 0, *, expect_mask: bool | None = None, allowed_rsv: int = 0
) -> _Header | int:
    """Parses the frame header at ``data[offset]``.

    Returns ``(fin, rsv, opcode, payload_length, mask_key, header_length)``, or the number of bytes still
    missing (an int > 0) when the header is incomplete. Raises ProtocolError for an invalid header.
    """
    view = contiguous_bytes(data)
    offset = operator.index(offset)
    if not 0 <= offset <= len(view):
        raise ValueError(f"offset {offset} out of range")
    return _parse_header(view, offset, expect_mask, _check_allowed_rsv(allowed_rsv))


def _check_limit(name: str, limit: int | None) -> int:
    """A size limit: None (no limit) and limits past sys.maxsize become sys.maxsize, the most bytes a
    buffer can hold (the native decoder casts every length within the limit to Py_ssize_t)."""
    if limit is None:
        return sys.maxsize
    limit = operator.index(limit)
    if limit < 0:
        raise ValueError(f"{name} must be None or >= 0, not {limit}")
    return min(limit, sys.maxsize)


def _check_message_types(messages: _MessageTypes | None) -> _MessageTypes | None:
    """The pair (text_type, bytes_type), or None. A type is accepted when tuple.__new__ may build it
    (Python's own safety check): tuple subclasses of another C layout, like time.struct_time, are not."""
    if messages is None:
        return None
    if type(messages) is tuple and len(messages) == 2 and all(
            isinstance(cls, type) and issubclass(cls, tuple) for cls in messages):
        try:
            for cls in messages:
                tuple.__new__(cls, ())
            return messages
        except TypeError:
            pass
    raise TypeError(f"messages must be None or a pair of tuple subclasses, not {messages!r}")


class FrameDecoder:
    """Decodes every complete frame of each chunk of a byte stream: header checks, unmasking,
    message sequencing, size limits and UTF-8 validation of text messages.

    ``expect_mask``: True on a server (frames must be masked), False on a client, None for either.
    ``allowed_rsv``: the RSV bits that negotiated extensions allow (4 = RSV1).
    ``max_frame_size`` / ``max_message_size``: limits in payload bytes, None for no limit.
    ``stream``: emit data frames piece by piece as their bytes arrive instead of whole.
    ``messages``: None, or a pair ``(text_type, bytes_type)`` of tuple subclasses for message mode
    (ignored with ``stream``): each data message whose frames all have rsv 0 is emitted, once its final
    frame is in, as ONE item ``text_type((text: str, True))`` or ``bytes_type((payload: bytes, True))``
    instead of its frames (reassembled in the decoder, bounded by ``max_message_size``); control frames,
    also between fragments, and the frames of messages with rsv bits on their first frame stay
    ``(opcode, fin, rsv, payload)`` tuples, every item in the order its last byte arrived. A
    continuation frame with rsv bits in a message being reassembled ends the reassembly: what came
    before is emitted as one non-final frame tuple ``(opcode, False, 0, payload so far)``, then the
    message goes on as frame tuples. ``last_frame_count`` is the number of frame tuples (not messages)
    in the last ``decode`` result.
    """

    _busy = False  # inside decode(): a call from code run there (a GC callback, a thread) is refused

    def __init__(
        self,
        *,
        expect_mask: bool | None,
        allowed_rsv: int = 0,
        max_frame_size: int | None = None,
        max_message_size: int | None = None,
        stream: bool = False,
        messages: _MessageTypes | None = None,
    ) -> None:
        # Every argument is checked before any state changes: a failed call leaves the decoder as it was.
        allowed_rsv = _check_allowed_rsv(allowed_rsv)
        max_frame_size = _check_limit("max_frame_size", max_frame_size)
        max_message_size = _check_limit("max_message_size", max_message_size)
        message_types = _check_message_types(messages)
        if self._busy:
            raise RuntimeError("FrameDecoder.__init__() called during decode()")
        self._expect_mask = None if expect_mask is None else bool(expect_mask)
        self._allowed_rsv = allowed_rsv
        self._max_frame_size = max_frame_size  # at most sys.maxsize (None is that)
        self._max_message_size = max_message_size
        self._stream = bool(stream)
        self._message_types = None if self._stream else message_types
        self._error: ProtocolError | None = None
        # Any other exception that escaped decode(): raised again by every later call.
        self._failure: BaseException | None = None
        self._last_frame_count = 0
        # The frame in progress: between its header and the end of its payload.
        self._in_frame = False
        self._fin = self._rsv = self._opcode = 0
        self._remaining = 0  # payload bytes still to come
        self._key: bytes | None = None
        self._phase = 0  # payload bytes received so far, modulo 4
        self._chunks: list[bytes] = []  # unmasked payload received so far (whole-frame mode)
        self._piece_sent = False  # stream mode: a piece of this frame was emitted
        self._validate = False  # this frame's payload is text to validate
        # The data message in progress.
        self._in_message = False  # a non-final data frame was received: continuations must follow
        self._compressed = False  # RSV1 on its first frame
        self._text = False  # uncompressed text: validated as UTF-8
        self._message_opcode = 0  # its first frame's opcode
        self._assembling = False  # message mode: its payload is collected in _parts, to emit it whole
        self._parts = bytearray()  # joined as frames come: a flood of empty fragments costs nothing
        self._message_size = 0  # payload bytes announced so far
        self._utf8 = Utf8Validator()  # over the whole message, when it is uncompressed text
        self._utf8_complete = True  # the text so far ends on a character boundary

    def decode(self, data: Buffer) -> tuple[list[_Item], int, ProtocolError | None]:
        """Decodes the frames in ``data`` (bytes-like) that complete in it.

        Returns ``(frames, consumed, error)``: frames as ``(opcode, fin, rsv, payload)`` tuples; consumed,
        the bytes of data used (the rest, a partial header, must be passed again with more data); error,
        None or the ProtocolError that ended the stream (then consumed counts the bytes before the frame
        that failed, and every later call returns ``([], 0, error)``). Any other exception (MemoryError)
        leaves the decoder failed: every later call raises it again.
        """
        view = contiguous_bytes(data)
        if self._failure is not None:
            raise self._failure.with_traceback(None)
        if self._busy:
            raise RuntimeError("FrameDecoder.decode() called during decode()")
        self._busy = True
        try:
            return self._decode(view)
        except BaseException as exc:
            self._failure = exc
            raise
        finally:
            self._busy = False

    def decode_messages(self, data: Buffer) -> list[_Item] | tuple[list[_Item], int, ProtocolError | None]:
        """``decode(data)`` shortened for the common read: the list of items alone when it holds no frame
        tuples (only message items, or nothing), no error, and every byte of data was consumed; else the
        tuple ``decode`` returns. Same state changes and exceptions as ``decode``."""
        view = contiguous_bytes(data)
        result = self.decode(view)
        items, consumed, error = result
        if error is None and not self._last_frame_count and consumed == len(view):
            return items
        return result

    def _decode(self, view: memoryview) -> tuple[list[_Item], int, ProtocolError | None]:
        self._last_frame_count = 0
        if self._error is not None:
            return [], 0, self._error
        frames: list[_Item] = []
        pos = 0
        end = len(view)
        while True:
            frame_start = pos
            try:
                if not self._in_frame:
                    header = _parse_header(view, pos, self._expect_mask, self._allowed_rsv)
                    if type(header) is int:
                        break
                    # The header tuple here; mypy does not narrow by type(...) is int (int is not final).
                    self._start_frame(header, frames)  # type: ignore[arg-type]
                    pos += header[5]  # type: ignore[index]
                size = self._remaining
                if size > end - pos:
                    size = end - pos
                self._receive(view[pos : pos + size], frames)
            except ProtocolError as exc:
                self._error = exc
                return frames, frame_start, exc
            pos += size
            if self._in_frame:  # the rest of the payload is in later data
                break
        return frames, pos, None

    @property
    def last_frame_count(self) -> int:
        """The number of frame tuples (not message objects) in the last ``decode`` result."""
        return self._last_frame_count

    def _start_frame(self, header: _Header, frames: list[_Item]) -> None:
        """Checks a valid header against the message in progress and the limits, then starts the frame."""
        fin, rsv, opcode, length, key, _ = header
        data_frame = opcode < 8
        if data_frame:
            if opcode == 0 and not self._in_message:
                raise ProtocolError("continuation frame without a message to continue")
            if opcode != 0 and self._in_message:
                raise ProtocolError("new message started inside a fragmented message")
        if length > self._max_frame_size:
            raise MessageTooBig(f"frame of {length} bytes exceeds the limit of {self._max_frame_size} bytes")
        if data_frame:
            if opcode != 0:
                self._compressed = bool(rsv & 4)
                self._message_size = 0
                self._utf8.reset()
                self._utf8_complete = True
            if not self._compressed:
                total = self._message_size + length
                if total > self._max_message_size:
                    raise MessageTooBig(
                        f"message of {total} bytes or more exceeds the limit of {self._max_message_size} bytes"
                    )
                self._message_size = total
            self._in_message = not fin
            # A continuation frame keeps the message's text flag from its first frame.
            if opcode != 0:
                self._text = opcode == 1 and not self._compressed
                self._message_opcode = opcode
                self._assembling = self._message_types is not None and rsv == 0
            elif rsv and self._assembling:
                # This message cannot be one message item: what came so far goes out as one frame.
                self._assembling = False
                frames.append((self._message_opcode, False, 0, bytes(self._parts)))
                self._last_frame_count += 1
                self._parts = bytearray()
        self._in_frame = True
        self._fin, self._rsv, self._opcode = fin, rsv, opcode
        self._remaining = length
        self._key = key
        self._phase = 0
        self._chunks = []
        self._piece_sent = False
        self._validate = data_frame and self._text

    def _receive(self, chunk: memoryview, frames: list[_Item]) -> None:
        """Takes the next bytes of the frame's payload; appends the frame (or a stream piece) to frames."""
        size = len(chunk)
        if self._key is None:
            payload = bytes(chunk)
        else:
            payload = xor_with_key(chunk, self._key, self._phase)  # chunk and key are checked already
            self._phase = (self._phase + size) & 3
        self._remaining -= size
        done = self._remaining == 0
        # A text message that is this one chunk is checked by _assemble, which decodes it anyway.
        whole_message = done and self._fin and self._opcode and not self._chunks and self._assembling
        if self._validate and not whole_message:
            self._check_text(payload, done and self._fin)  # type: ignore[arg-type]  # _fin: 0 only before a frame
        if self._stream and self._opcode < 8:
            if size or done:
                if self._piece_sent:
                    frames.append((0, done and self._fin, 0, payload))
                else:
                    frames.append((self._opcode, done and self._fin, self._rsv, payload))
                self._last_frame_count += 1
                self._piece_sent = True
        elif done:
            if self._chunks:
                self._chunks.append(payload)
                payload = b"".join(self._chunks)
            if self._assembling and self._opcode < 8:
                self._assemble(payload, frames)
            else:
                frames.append((self._opcode, self._fin, self._rsv, payload))
                self._last_frame_count += 1
        else:
            self._chunks.append(payload)
        if done:
            self._in_frame = False
            self._chunks = []

    def _assemble(self, payload: bytes | bytearray, frames: list[_Item]) -> None:
        """Message mode: keeps a data frame's payload; after the final frame, appends the message item."""
        if not self._fin:
            self._parts += payload
            return
        if self._parts:  # a fragmented message: _parts is emptied here, so it is empty at every start
            self._parts += payload
            payload = self._parts if self._text else bytes(self._parts)  # text is decoded from it anyway
            self._parts = bytearray()
        text_type, bytes_type = self._message_types  # type: ignore[misc]  # set: _assembling needs them
        if self._text:
            try:
                text = payload.decode("utf-8")
            except UnicodeDecodeError:  # only a message in one chunk was not checked as it came
                self._check_text(payload, True)
                raise
            frames.append(tuple.__new__(text_type, (text, True)))
        else:
            frames.append(tuple.__new__(bytes_type, (payload, True)))

    def _check_text(self, payload: bytes | bytearray, message_end: bool) -> None:
        """Validates the next bytes of a text message; at its end, checks it ends on a character."""
        if payload:
            try:
                self._utf8_complete = self._utf8.feed(payload)
            except InvalidUTF8 as exc:
                offset = exc.offset
                raise InvalidUTF8(f"invalid UTF-8 at byte {offset} of the text message", offset) from None
        if message_end and not self._utf8_complete:
            offset = self._utf8.bytes_fed
            raise InvalidUTF8(f"truncated UTF-8 sequence at byte {offset} of the text message", offset)
