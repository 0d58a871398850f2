"""Incremental UTF-8 validation over CPython's UTF-8 codec (the same API as src/utf8.pxi)."""

from __future__ import annotations

import codecs

from ..errors import InvalidUTF8
from .buffers import contiguous_bytes

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time
if TYPE_CHECKING:
    from typing_extensions import Buffer

_utf_8_decode = codecs.utf_8_decode


def _decode_error(exc: UnicodeDecodeError, stream_start: int, stream_length: int) -> InvalidUTF8:
    """Maps the codec's error for ``exc.object`` (which starts at ``stream_start``) to the fail-fast error.

    The codec reports a maximal invalid subpart ``[start, end)``: for "invalid start byte" the bad byte is
    ``start``; for "invalid continuation byte" the prefix ``[start, end)`` was still valid and ``end`` is
    the byte that broke it; "unexpected end of data" (only with final) is a truncated stream.
    """
    if exc.reason == "unexpected end of data":
        return InvalidUTF8(f"truncated UTF-8 sequence at byte {stream_length}", stream_length)
    offset = stream_start + (exc.start if exc.reason == "invalid start byte" else exc.end)
    return InvalidUTF8(f"invalid UTF-8 at byte {offset}", offset)


def _is_surrogate_prefix(pending: bytes) -> bool:
    # The codec keeps ED A0..BF pending when not final (for the surrogatepass handler) although no
    # continuation can ever make it valid: fail fast on its second byte like the native validator.
    return len(pending) == 2 and pending[0] == 0xED and pending[1] >= 0xA0


class Utf8Validator:
    """Validates a UTF-8 stream fed in pieces; fails fast at the first byte that can never be valid."""

    # It calls the codec's utf_8_decode itself and keeps the bytes of an unfinished sequence, as codecs'
    # incremental decoder does, without that decoder's layers of Python calls per feed.

    __slots__ = ("_pending", "_bytes_fed", "_error")

    def __init__(self) -> None:
        self._pending = b""  # the start of a multi-byte sequence that the next feed continues
        self._bytes_fed = 0
        self._error: tuple[str, int] | None = None  # (message, offset) once the stream is invalid

    @property
    def bytes_fed(self) -> int:
        """Bytes fed since creation or the last reset, including a feed that failed."""
        return self._bytes_fed

    def reset(self) -> None:
        """Starts over with an empty stream."""
        self._pending = b""
        self._bytes_fed = 0
        self._error = None

    def feed(self, data: Buffer, final: bool = False) -> bool:
        """Validates the next piece of the stream.

        Returns True if everything fed so far is valid and ends on a character boundary, False if it is
        valid so far but ends inside a multi-byte sequence. Raises InvalidUTF8 (offset absolute in the
        stream) at the first invalid byte, or with ``final`` for a stream ending inside a sequence; once
        failed, every later feed raises the same error until :meth:`reset`.
        """
        if self._error is not None:
            raise InvalidUTF8(*self._error)
        if type(data) is not bytes:
            data = contiguous_bytes(data)
        fed_before = self._bytes_fed
        self._bytes_fed = fed_before + len(data)
        pending = self._pending
        if pending:
            data = pending + data
        try:
            consumed = _utf_8_decode(data, "strict", final)[1]
        except UnicodeDecodeError as exc:
            error = _decode_error(exc, fed_before - len(pending), self._bytes_fed)
        else:
            if consumed == len(data):
                self._pending = b""
                return True
            self._pending = pending = bytes(data[consumed:])
            if not _is_surrogate_prefix(pending):
                return False
            offset = self._bytes_fed - 1
            error = InvalidUTF8(f"invalid UTF-8 at byte {offset}", offset)
        self._error = (str(error), error.offset)
        raise error


def validate_utf8(data: Buffer) -> None:
    """Raises InvalidUTF8 unless data is complete, valid UTF-8: ``Utf8Validator().feed(data, final=True)``."""
    if type(data) is not bytes:
        data = contiguous_bytes(data)
    try:
        str(data, "utf-8")
    except UnicodeDecodeError as exc:
        raise _decode_error(exc, 0, len(data)) from None
