"""wsproto.frame_protocol: the opcodes, close codes and RSV bits of wsproto's public API.

wsproto's frame parser and serializer (FrameProtocol, FrameDecoder) are not here: wsframe's connection
does that work (see :mod:`wsframe.compat.wsproto.connection`).
"""

from __future__ import annotations

from enum import IntEnum
from typing import NamedTuple

__all__ = [
    "Opcode",
    "CloseReason",
    "RsvBits",
    "LOCAL_ONLY_CLOSE_REASONS",
    "MIN_CLOSE_REASON",
    "MIN_PROTOCOL_CLOSE_REASON",
    "MAX_PROTOCOL_CLOSE_REASON",
    "MIN_LIBRARY_CLOSE_REASON",
    "MAX_LIBRARY_CLOSE_REASON",
    "MIN_PRIVATE_CLOSE_REASON",
    "MAX_PRIVATE_CLOSE_REASON",
    "MAX_CLOSE_REASON",
]


class Opcode(IntEnum):
    """RFC 6455 section 5.2 opcodes."""

    CONTINUATION = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA

    def iscontrol(self) -> bool:
        return bool(self & 0x08)


class CloseReason(IntEnum):
    """RFC 6455 section 7.4.1 close codes, with wsproto's names."""

    NORMAL_CLOSURE = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    NO_STATUS_RCVD = 1005
    ABNORMAL_CLOSURE = 1006
    INVALID_FRAME_PAYLOAD_DATA = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    MANDATORY_EXT = 1010
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    TLS_HANDSHAKE_FAILED = 1015


# Codes that say something about the connection locally and never appear in a close frame.
LOCAL_ONLY_CLOSE_REASONS = (
    CloseReason.NO_STATUS_RCVD,
    CloseReason.ABNORMAL_CLOSURE,
    CloseReason.TLS_HANDSHAKE_FAILED,
)

# RFC 6455 section 7.4.2 ranges.
MIN_CLOSE_REASON = 1000
MIN_PROTOCOL_CLOSE_REASON = 1000
MAX_PROTOCOL_CLOSE_REASON = 2999
MIN_LIBRARY_CLOSE_REASON = 3000
MAX_LIBRARY_CLOSE_REASON = 3999
MIN_PRIVATE_CLOSE_REASON = 4000
MAX_PRIVATE_CLOSE_REASON = 4999
MAX_CLOSE_REASON = 4999


class RsvBits(NamedTuple):
    rsv1: bool
    rsv2: bool
    rsv3: bool
