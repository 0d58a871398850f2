"""Frame-level constants of RFC 6455: opcodes, close codes and payload limits."""

from enum import IntEnum

__all__ = [
    "Opcode",
    "CloseCode",
    "MAX_CONTROL_PAYLOAD",
    "MAX_CLOSE_REASON",
    "is_valid_close_code",
]


class Opcode(IntEnum):
    CONTINUATION = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA


class CloseCode(IntEnum):
    NORMAL_CLOSURE = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    NO_STATUS_RCVD = 1005  # never sent: "the close frame had no code"
    ABNORMAL_CLOSURE = 1006  # never sent: "no close frame at all"
    INVALID_DATA = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    MANDATORY_EXTENSION = 1010
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    BAD_GATEWAY = 1014
    TLS_HANDSHAKE = 1015  # never sent


MAX_CONTROL_PAYLOAD = 125
MAX_CLOSE_REASON = MAX_CONTROL_PAYLOAD - 2

# Codes an endpoint may put in a close frame: the ones IANA has registered for use on the wire and
# the ranges for libraries (3000-3999) and applications (4000-4999).
_WIRE_CODES = frozenset({1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014})


def is_valid_close_code(code: int) -> bool:
    """Whether ``code`` may appear in a close frame (sent or received)."""
    return code in _WIRE_CODES or 3000 <= code <= 4999
