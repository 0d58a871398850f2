"""Incremental UTF-8 validation over CPython's incremental UTF-8 decoder (the same API as src/utf8.pxi)."""

import codecs

from ..errors import InvalidUTF8
from .buffers import contiguous_bytes

_IncrementalDecoder = codecs.getincrementaldecoder("utf-8")


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

    __slots__ = ("_decoder", "_decode", "_bytes_fed", "_error")

    def __init__(self) -> None:
        self._decoder = _IncrementalDecoder()
        self._decode = self._decoder.decode
        self._bytes_fed = 0
        self._error = None  # (message, offset) once the stream is invalid

    @property
    def bytes_fed(self) -> int:
        """Bytes fed since creation or the last reset, including a feed that failed."""
        return self._bytes_fed

    def reset(self) -> None:
        """Starts over with an empty stream."""
        self._decoder.reset()
        self._bytes_fed = 0
        self._error = None

    def feed(self, data, final: bool = False) -> bool:
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
        try:
            self._decode(data, final)
        except UnicodeDecodeError as exc:
            # the codec decoded its pending bytes + data: exc.object
            error = _decode_error(exc, fed_before - (len(exc.object) - len(data)), self._bytes_fed)
        else:
            if data and data[-1] < 0x80:  # cheaper than asking the codec: nothing is pending
                return True
            pending = self._decoder.getstate()[0]
            if not pending:
                return True
            if not _is_surrogate_prefix(pending):
                return False
            offset = self._bytes_fed - 1
            error = InvalidUTF8(f"invalid UTF-8 at byte {offset}", offset)
        self._error = (str(error), error.offset)
        raise error


def validate_utf8(data) -> None:
    """Raises InvalidUTF8 unless data is complete, valid UTF-8: ``Utf8Validator().feed(data, final=True)``."""
    if type(data) is not bytes:
        data = contiguous_bytes(data)
    try:
        str(data, "utf-8")
    except UnicodeDecodeError as exc:
        raise _decode_error(exc, 0, len(data)) from None
