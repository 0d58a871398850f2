"""Types of the native hot path (src/_native.pyx); wsframe._fallback has the same API in Python."""

from typing import Any, TypeAlias

from typing_extensions import Buffer, disjoint_base

from .errors import ProtocolError

__all__ = [
    "mask",
    "mask_inplace",
    "Utf8Validator",
    "validate_utf8",
    "encode_header",
    "encode_frame",
    "FrameEncoder",
    "decode_header",
    "FrameDecoder",
]

# The same aliases as wsframe/_fallback/framing.py.
# (fin, rsv, opcode, payload_length, mask_key, header_length)
_Header: TypeAlias = tuple[bool, int, int, int, bytes | None, int]
# A frame tuple (opcode, fin, rsv, payload), or in message mode a message object (a tuple subclass).
_Item: TypeAlias = tuple[Any, ...]
_MessageTypes: TypeAlias = tuple[type[tuple[Any, ...]], type[tuple[Any, ...]]]

def mask(data: Buffer, key: Buffer, phase: int = 0) -> bytes:
    """``data`` XOR the repeating 4-byte ``key`` (starting at key byte ``phase``), as new bytes."""

def mask_inplace(buffer: Buffer, key: Buffer, phase: int = 0) -> None:
    """XORs a writable ``buffer`` with the repeating 4-byte ``key`` in place, starting at key byte ``phase``."""

@disjoint_base  # an extension type: no class can have it and another such base
class Utf8Validator:
    """Validates a UTF-8 stream fed in pieces; fails fast at the first byte that can never be valid."""

    def __init__(self) -> None: ...
    @property
    def bytes_fed(self) -> int:
        """Bytes fed since creation or the last reset, including a feed that failed."""
    def reset(self) -> None:
        """Starts over with an empty stream."""
    def feed(self, data: Buffer, final: bool = False) -> bool:
        """Validates the next piece of the stream (True: ends on a character boundary)."""

def validate_utf8(data: Buffer) -> None:
    """Raises InvalidUTF8 (with the offset of the first bad byte) unless ``data`` is complete UTF-8."""

def encode_header(
    opcode: int, length: int, *, fin: bool = True, rsv: int = 0, mask_key: Buffer | None = None
) -> bytes:
    """The header of a frame with a payload of ``length`` bytes (masked when ``mask_key`` is given)."""

def encode_frame(
    opcode: int, payload: Buffer, *, fin: bool = True, rsv: int = 0, mask_key: Buffer | None = None
) -> bytes:
    """A whole frame, header and payload (masked with ``mask_key`` if given), as one bytes object."""

@disjoint_base
class FrameEncoder:
    """Builds whole data frames (FIN set, no rsv bits) in one call per message."""

    def __init__(self, *, mask: bool) -> None: ...
    def mask_key(self) -> bytes:
        """A fresh mask key (4 bytes) from the same source, for the frames built elsewhere."""
    def text(self, text: str) -> bytes:
        """The frame of a whole text message: ``text`` (a str) encoded as UTF-8."""
    def binary(self, data: Buffer) -> bytes:
        """The frame of a whole binary message: ``data``, any contiguous bytes-like object."""
    def binary_into(self, buffer: Buffer, data: Buffer) -> int:
        """Writes the frame of a whole binary message ``data`` at the start of the writable ``buffer`` and
        returns its length (at most ``len(data) + 14``). ValueError, the buffer unchanged, when the frame
        does not fit."""

def decode_header(
    data: Buffer, offset: int = 0, *, expect_mask: bool | None = None, allowed_rsv: int = 0
) -> _Header | int:
    """Parses the frame header at ``data[offset]``: the header tuple, or the number of bytes missing."""

@disjoint_base
class FrameDecoder:
    """Decodes every complete frame of each chunk of a byte stream."""

    def __init__(
        self,
        *,
        expect_mask: bool | None,
        allowed_rsv: int = 0,
        max_frame_size: int | None = None,
        max_message_size: int | None = None,
        stream: bool = False,
        messages: _MessageTypes | None = None,
    ) -> None: ...
    @property
    def last_frame_count(self) -> int:
        """The number of frame tuples (not message objects) in the last ``decode`` result."""
    def decode(self, data: Buffer) -> tuple[list[_Item], int, ProtocolError | None]:
        """Decodes the frames in ``data`` that complete in it: ``(frames, consumed, error)``; each item is
        a frame tuple ``(opcode, fin, rsv, payload)`` or, in message mode, a message object."""
    def decode_messages(self, data: Buffer) -> list[_Item] | tuple[list[_Item], int, ProtocolError | None]:
        """``decode(data)``, or only its items when they hold no frame tuple, no error came, and all of
        ``data`` was consumed."""

def _mask_kernels() -> list[str]: ...
def _mask_kernel() -> str: ...
def _use_mask_kernel(name: str) -> None: ...
def _utf8_kernels() -> list[str]: ...
def _utf8_kernel() -> str: ...
def _use_utf8_kernel(name: str) -> None: ...
