"""permessage-deflate (RFC 7692): negotiation and per-message compression, for servers and clients.

:class:`PerMessageDeflate` is the local policy: a server calls :meth:`~PerMessageDeflate.accept` with the
client's offers, a client sends :meth:`~PerMessageDeflate.offer` and checks the server's answer with
:meth:`~PerMessageDeflate.check_response`. Both get the agreed :class:`DeflateParameters`, from which each
side builds one :class:`Compressor` (its outgoing messages) and one :class:`Decompressor` (the peer's).

Window of 8 bits: zlib (since 1.2.9) refuses to deflate raw streams with a 256-byte window, and before
that silently used 512 bytes. When 8 is agreed for our side, the compressor runs zlib with a 512-byte
window and the ``Z_RLE`` strategy, whose matches all have distance 1 (documented by zlib), so any inflater
with a 256-byte window decodes its output: the messages are still compressed (Huffman coding plus
runs), only less well: ~56% of the input on JSON text, against ~12% with 9 bits. Window 8 is therefore
accepted in negotiation, never declined. (zlib with 9 bits happens to emit no distance beyond 250, which
a 256-byte window could inflate, but that is not documented, so not relied on.)

No context takeover: the compressor keeps its zlib object and ends each message with a full flush, which
forgets the window (a new object per message costs 18 us instead of 5 us for a 300-byte message, because
zlib allocates and clears ~256 KiB); the decompressor drops its zlib object after each message (a new one
costs ~0.5 us), so that direction holds no zlib memory while idle.

Memory: process RSS growth per idle Compressor+Decompressor pair (1,000 pairs, zlib 1.2.13, x86-64,
compress level 6), after one 63-byte message each, and after one 100 kB text message each (which touches
all of zlib's buffers: the steady state of a busy connection)::

    window  mem_level  context takeover   small msg   100 kB msg
      15        8            yes            96 KiB      303 KiB
      15        4            yes            32 KiB      183 KiB
      15        1            yes            24 KiB      175 KiB
      12        8            yes            98 KiB      165 KiB
       9        8            yes            85 KiB      144 KiB
       9        1            yes            14 KiB       17 KiB
      15        8            no             97 KiB      262 KiB
      15        4            no             33 KiB      143 KiB
       9        8            no             80 KiB      136 KiB
       9        1            no              9 KiB       10 KiB

Most of it is the compressor's (zlib allocates ~256 KiB at window 15, mem_level 8, and touches it as
messages come); the inflater needs 2**window bytes plus ~7 KiB. mem_level is the compressor's main knob.

Decompression is bounded: a message never inflates past the Decompressor's ``max_size`` plus one byte
before :class:`~wsframe.errors.MessageTooBig` is raised, however small its compressed form. What a
message may take on the wire, where empty frames and empty deflate blocks inflate to nothing, is bounded
by the connection (:data:`wsframe.connection.FRAME_CHARGE`), which also joins a message's frames as
they are inflated.

Expansion: an incompressible message grows under deflate, by an amount that depends on the sender's
settings, so a limit on compressed frames must leave room for it (:func:`max_compressed_size`). zlib ends
a block every ``2**(mem_level + 6) - 1`` symbols and sends it stored (5 bytes of framing) when it can; a
block longer than what the window still holds cannot be stored and is Huffman coded, which for random
bytes costs more (fixed codes: 9 bits for half of the byte values). Worst growth of 1 MiB of random
bytes, zlib 1.2.13, over compress levels 0-9, windows 9-15 and strategies (default: also over windows)::

    mem_level          1      2      3      4      5      6      7      8      9
    default, window 15 3.94%  1.96%  0.98%  0.49%  0.24%  0.12%  0.06%  0.03%  0.02%
    default, any       3.94%  1.99%  3.41%  5.13%  2.29%  1.09%  0.47%  0.22%  0.14%
    any strategy       3.94%  1.99%  3.41%  5.60%  5.53%  5.50%  5.49%  5.48%  5.48%

Senders measured: Python ``websockets`` (mem_level 5) 0.24% at its default offer, 2.28% with
``client_max_window_bits=10``; Chromium and Node ``ws`` use zlib's default mem_level 8.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from .errors import HandshakeError, MessageTooBig, ProtocolError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time
if TYPE_CHECKING:
    from collections.abc import Iterable

    from typing_extensions import Buffer

    _Params = Iterable[tuple[str, str | None]]  # an extension's parameters: [(name, value or None), ...]

__all__ = [
    "EXTENSION_NAME",
    "DeflateParameters",
    "PerMessageDeflate",
    "Compressor",
    "Decompressor",
    "max_compressed_size",
]

EXTENSION_NAME = "permessage-deflate"

def max_compressed_size(size: int) -> int:
    """The most a message of ``size`` bytes takes compressed by a zlib-based sender: 1/16 more plus 64 bytes.

    Room for the worst measured growth (5.6%: zlib at any mem_level, window and strategy, on random
    bytes; the module doc has the table) and for the sync flush's last block.
    """
    return size + size // 16 + 64


# What a sync flush ends with; stripped by the sender and appended by the receiver (RFC 7692 7.2.1/7.2.2).
_SYNC_TAIL = b"\x00\x00\xff\xff"

# What may follow a final (BFINAL) block in a message: the tail we append, after the empty block header
# byte that RFC 7692 7.2.3.5 has the sender add; and, before the message ends, the prefixes we accept.
_AFTER_FINAL_BLOCK = frozenset((b"", b"\x00", _SYNC_TAIL, b"\x00" + _SYNC_TAIL))

# RFC 7692 7.1.2: a window size is a decimal 8..15 without leading zeros; the exact spellings.
_WINDOW_BITS = {str(bits): bits for bits in range(8, 16)}

_SERVER_NO_TAKEOVER = "server_no_context_takeover"
_CLIENT_NO_TAKEOVER = "client_no_context_takeover"
_SERVER_BITS = "server_max_window_bits"
_CLIENT_BITS = "client_max_window_bits"
_KNOWN_PARAMS = (_SERVER_NO_TAKEOVER, _CLIENT_NO_TAKEOVER, _SERVER_BITS, _CLIENT_BITS)


@dataclass(frozen=True, slots=True)
class DeflateParameters:
    """The agreed permessage-deflate parameters (RFC 7692 section 7.1); window sizes in bits."""

    server_no_context_takeover: bool = False
    client_no_context_takeover: bool = False
    server_max_window_bits: int = 15
    client_max_window_bits: int = 15

    def to_header(self) -> str:
        """The ``Sec-WebSocket-Extensions`` element stating these parameters (defaults left out)."""
        return _extension_value(self, explicit_server_bits=False)


def _extension_value(params: DeflateParameters, *, explicit_server_bits: bool) -> str:
    parts = [EXTENSION_NAME]
    if params.server_no_context_takeover:
        parts.append(_SERVER_NO_TAKEOVER)
    if params.client_no_context_takeover:
        parts.append(_CLIENT_NO_TAKEOVER)
    if explicit_server_bits or params.server_max_window_bits != 15:
        parts.append(f"{_SERVER_BITS}={params.server_max_window_bits}")
    if params.client_max_window_bits != 15:
        parts.append(f"{_CLIENT_BITS}={params.client_max_window_bits}")
    return "; ".join(parts)


def _parse_params(params: _Params, *, client_bits_needs_value: bool) -> dict[str, int | None]:
    """Checks one offer's or response's parameters: ``{name: window bits or None}``; ValueError if invalid.

    Parameter names are matched case-insensitively. ``client_max_window_bits`` may lack a value only in
    an offer (``client_bits_needs_value`` False).
    """
    parsed: dict[str, int | None] = {}
    for name, value in params:
        key = name.lower()
        if key not in _KNOWN_PARAMS:
            raise ValueError(f"unknown parameter {name!r}")
        if key in parsed:
            raise ValueError(f"repeated parameter {name!r}")
        if key in (_SERVER_NO_TAKEOVER, _CLIENT_NO_TAKEOVER):
            if value is not None:
                raise ValueError(f"{key} takes no value, got {value!r}")
            parsed[key] = None
        elif value is None and key == _CLIENT_BITS and not client_bits_needs_value:
            parsed[key] = None
        elif value in _WINDOW_BITS:
            parsed[key] = _WINDOW_BITS[value]
        else:
            raise ValueError(f"{key} must be a window size of 8 to 15 bits, got {value!r}")
    return parsed


def _check_window_bits(name: str, bits: int | None) -> None:
    if bits is not None and (type(bits) is not int or not 8 <= bits <= 15):
        raise ValueError(f"{name} must be None or an int from 8 to 15, got {bits!r}")


def _check_int(name: str, value: int, low: int, high: int | None) -> None:
    if type(value) is not int or value < low or (high is not None and value > high):
        limit = f"from {low} to {high}" if high is not None else f"of at least {low}"
        raise ValueError(f"{name} must be an int {limit}, got {value!r}")


class PerMessageDeflate:
    """The local permessage-deflate policy: what a server demands and permits, what a client offers.

    ``server_no_context_takeover`` / ``client_no_context_takeover``: a server demands them of the agreement;
    a client requests the first and announces the second (it then never takes over its own context, which
    also lets a server that only compresses under that condition accept). ``server_max_window_bits`` /
    ``client_max_window_bits`` (8..15 or None): the largest windows a server agrees to / a client offers;
    a client always offers ``client_max_window_bits`` (without a value when None) so a server may limit it.
    ``compress_level`` (-1..9) and ``mem_level`` (1..9) are zlib's for the Compressor; messages shorter than
    ``min_size`` bytes are best sent uncompressed (RSV1 clear), which the connection decides.
    """

    def __init__(
        self,
        *,
        server_no_context_takeover: bool = False,
        client_no_context_takeover: bool = False,
        server_max_window_bits: int | None = None,
        client_max_window_bits: int | None = None,
        compress_level: int = 6,
        mem_level: int = 8,
        min_size: int = 0,
    ) -> None:
        _check_window_bits("server_max_window_bits", server_max_window_bits)
        _check_window_bits("client_max_window_bits", client_max_window_bits)
        _check_int("compress_level", compress_level, -1, 9)
        _check_int("mem_level", mem_level, 1, 9)
        _check_int("min_size", min_size, 0, None)
        self.server_no_context_takeover = bool(server_no_context_takeover)
        self.client_no_context_takeover = bool(client_no_context_takeover)
        self.server_max_window_bits = server_max_window_bits
        self.client_max_window_bits = client_max_window_bits
        self.compress_level = compress_level
        self.mem_level = mem_level
        self.min_size = min_size

    # -- server side -----------------------------------------------------------------------------

    def accept(self, offers: Iterable[tuple[str, _Params]]) -> tuple[str, DeflateParameters] | None:
        """Server side: answers the client's first acceptable permessage-deflate offer (RFC 7692 5.1, 7.1).

        ``offers`` is the parsed ``Sec-WebSocket-Extensions`` request header ``[(name, [(param, value or
        None)])]``. Offers of other extensions and invalid offers (unknown, repeated or malformed
        parameters) are skipped. Returns the response's extension element and the agreed parameters, or
        None when no offer is acceptable.
        """
        for name, params in offers:
            if name.lower() != EXTENSION_NAME:
                continue
            try:
                offered = _parse_params(params, client_bits_needs_value=False)
            except ValueError:
                continue
            return self._answer(offered)
        return None

    def _answer(self, offered: dict[str, int | None]) -> tuple[str, DeflateParameters]:
        server_bits = min(offered.get(_SERVER_BITS) or 15, self.server_max_window_bits or 15)
        client_bits = 15
        if _CLIENT_BITS in offered:  # otherwise the response must not limit the client's window (7.1.2.2)
            limits = (offered[_CLIENT_BITS], self.client_max_window_bits)
            client_bits = min((bits for bits in limits if bits is not None), default=15)
        agreed = DeflateParameters(
            server_no_context_takeover=_SERVER_NO_TAKEOVER in offered or self.server_no_context_takeover,
            client_no_context_takeover=_CLIENT_NO_TAKEOVER in offered or self.client_no_context_takeover,
            server_max_window_bits=server_bits,
            client_max_window_bits=client_bits,
        )
        # A requested server window must be answered even when it is the default 15 (7.1.2.1).
        return _extension_value(agreed, explicit_server_bits=_SERVER_BITS in offered), agreed

    # -- client side -----------------------------------------------------------------------------

    def offer(self) -> str:
        """Client side: the ``Sec-WebSocket-Extensions`` value offering permessage-deflate."""
        parts = [EXTENSION_NAME]
        if self.server_no_context_takeover:
            parts.append(_SERVER_NO_TAKEOVER)
        if self.client_no_context_takeover:
            parts.append(_CLIENT_NO_TAKEOVER)
        if self.server_max_window_bits is not None:
            parts.append(f"{_SERVER_BITS}={self.server_max_window_bits}")
        if self.client_max_window_bits is not None:
            parts.append(f"{_CLIENT_BITS}={self.client_max_window_bits}")
        else:
            parts.append(_CLIENT_BITS)
        return "; ".join(parts)

    def check_response(self, params: _Params) -> DeflateParameters:
        """Client side: the agreed parameters from the server's permessage-deflate ``[(param, value)]``.

        Raises HandshakeError (status None) when the response breaks RFC 7692 section 7.1 or our offer:
        unknown, repeated or malformed parameters, a window larger than offered, a server window that was
        requested but not answered, or a missing ``server_no_context_takeover`` that was requested.
        """
        try:
            answered = _parse_params(params, client_bits_needs_value=True)
        except ValueError as exc:
            raise _response_error(str(exc)) from None
        if self.server_no_context_takeover and _SERVER_NO_TAKEOVER not in answered:
            raise _response_error(f"lacks the requested {_SERVER_NO_TAKEOVER}")
        server_bits = answered.get(_SERVER_BITS)
        requested_bits = self.server_max_window_bits
        if requested_bits is not None:
            if server_bits is None:
                raise _response_error(f"lacks the requested {_SERVER_BITS}")
            if server_bits > requested_bits:
                raise _response_error(f"has {_SERVER_BITS}={server_bits}, more than {requested_bits} requested")
        client_bits = answered.get(_CLIENT_BITS)
        offered_bits = self.client_max_window_bits
        if client_bits is not None and offered_bits is not None and client_bits > offered_bits:
            raise _response_error(f"has {_CLIENT_BITS}={client_bits}, more than the {offered_bits} offered")
        return DeflateParameters(
            server_no_context_takeover=_SERVER_NO_TAKEOVER in answered,
            client_no_context_takeover=_CLIENT_NO_TAKEOVER in answered or self.client_no_context_takeover,
            server_max_window_bits=server_bits or 15,
            client_max_window_bits=client_bits or self.client_max_window_bits or 15,
        )


def _response_error(reason: str) -> HandshakeError:
    return HandshakeError(f"invalid permessage-deflate response: {reason}", status=None)


class Compressor:
    """Compresses one side's outgoing messages with the agreed parameters (RFC 7692 7.2.1).

    A server compresses with the server_* parameters, a client with the client_* ones.
    """

    __slots__ = ("_deflater", "_flush_mode")

    def __init__(
        self, params: DeflateParameters, *, is_server: bool, compress_level: int = 6, mem_level: int = 8
    ) -> None:
        if is_server:
            bits, no_takeover = params.server_max_window_bits, params.server_no_context_takeover
        else:
            bits, no_takeover = params.client_max_window_bits, params.client_no_context_takeover
        _check_int("compress_level", compress_level, -1, 9)
        _check_int("mem_level", mem_level, 1, 9)
        strategy = zlib.Z_DEFAULT_STRATEGY
        if bits == 8:  # zlib cannot deflate raw with 256 bytes: distance-1 matches only (see module doc)
            bits, strategy = 9, zlib.Z_RLE
        self._deflater = zlib.compressobj(compress_level, zlib.DEFLATED, -bits, mem_level, strategy)
        # A full flush ends with the same empty stored block as a sync flush and forgets the window.
        self._flush_mode = zlib.Z_FULL_FLUSH if no_takeover else zlib.Z_SYNC_FLUSH

    def compress(self, payload: Buffer) -> bytes:
        """The compressed payload of one whole message (a bytes-like ``payload``), sync tail stripped."""
        deflater = self._deflater
        data = deflater.compress(payload) + deflater.flush(self._flush_mode)
        return data[:-4]


class Decompressor:
    """Inflates the peer's compressed messages frame by frame (RFC 7692 7.2.2), bounded by ``max_size``.

    A server inflates with the client_* parameters, a client with the server_* ones. After an exception
    the decompressor is unusable (the connection fails anyway).
    """

    __slots__ = ("_wbits", "_no_takeover", "_inflater", "_max_size", "_max_length", "_size", "_fed")

    def __init__(self, params: DeflateParameters, *, is_server: bool, max_size: int | None) -> None:
        if is_server:
            bits, no_takeover = params.client_max_window_bits, params.client_no_context_takeover
        else:
            bits, no_takeover = params.server_max_window_bits, params.server_no_context_takeover
        if max_size is not None:
            _check_int("max_size", max_size, 0, None)
        self._wbits = -bits
        self._no_takeover = no_takeover
        self._inflater = None if no_takeover else zlib.decompressobj(-bits)
        self._max_size = max_size
        # zlib's max_length for a whole message: one byte past the limit tells it is exceeded; 0 is no limit.
        self._max_length = 0 if max_size is None else max_size + 1
        self._size = 0  # inflated bytes of the current message
        self._fed = False  # whether the current message had compressed bytes yet

    def decompress(self, data: Buffer, final: bool) -> bytes:
        """Inflates one frame's payload of a compressed message; ``final`` for its last frame.

        Raises MessageTooBig when the message inflates past ``max_size`` bytes (having produced at most one
        byte more) and ProtocolError (1002) for data that is not valid deflate.
        """
        # One zlib call per frame: the tail goes with the final frame's data.
        inflater = self._inflater
        if inflater is None:
            inflater = self._inflater = zlib.decompressobj(self._wbits)
        if final and not self._fed and data and type(data) is bytes:
            # The common case, a whole message in one frame, kept short: no size to carry over.
            max_length = self._max_length
            try:
                out = inflater.decompress(data + _SYNC_TAIL, max_length)
            except zlib.error as exc:
                raise _invalid_data(exc) from None
            if len(out) == max_length and max_length:
                del out  # the error's traceback keeps this frame's locals alive, not the inflated bytes
                raise _too_big(self._max_size)  # type: ignore[arg-type]  # max_length is 0 without a limit
            if inflater.eof:
                _check_after_final_block(inflater)
                self._inflater = None
            elif self._no_takeover:
                self._inflater = None
            return out
        # A message with no compressed bytes at all is empty: feeding the tail alone would leave the
        # inflater in the middle of a stored block.
        if final and (data or self._fed):
            data = bytes(data) + _SYNC_TAIL
        max_size = self._max_size
        try:
            if max_size is None:
                out = inflater.decompress(data)
            else:
                out = inflater.decompress(data, max_size - self._size + 1)
        except zlib.error as exc:
            raise _invalid_data(exc) from None
        if max_size is not None and self._size + len(out) > max_size:
            del out  # as above: not the inflated bytes in the traceback
            raise _too_big(max_size)
        if inflater.eof:
            _check_after_final_block(inflater)
        if final:
            self._size = 0
            self._fed = False
            if self._no_takeover or inflater.eof:
                self._inflater = None
        elif data:
            self._size += len(out)
            self._fed = True
        return out


def _invalid_data(exc: zlib.error) -> ProtocolError:
    return ProtocolError(f"invalid compressed data: {exc}")


def _too_big(max_size: int) -> MessageTooBig:
    return MessageTooBig(f"message of more than {max_size} bytes after decompression")


def _check_after_final_block(inflater: zlib._Decompress) -> None:
    # A final block (BFINAL, RFC 7692 7.2.3.5) ends the stream, and the next message starts a new one;
    # only the tail, or the part of it still to come, may follow it.
    if inflater.unused_data not in _AFTER_FINAL_BLOCK:
        raise ProtocolError("compressed data after the final deflate block")
