"""wsframe: a fast and strict sans-I/O WebSocket (RFC 6455, RFC 7692) codec.

``wsframe.IMPLEMENTATION`` says which hot path is active: ``"native"`` (the Cython extension) or
``"fallback"`` (pure Python; forced with the environment variable ``WSFRAME_PURE_PYTHON=1``).
"""

from . import errors
from ._hotpath import (
    IMPLEMENTATION,
    FrameDecoder,
    FrameEncoder,
    Utf8Validator,
    decode_header,
    encode_frame,
    encode_header,
    mask,
    mask_inplace,
    validate_utf8,
)
from .errors import (
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    HandshakeError,
    HandshakeRejected,
    InvalidState,
    InvalidUTF8,
    MessageTooBig,
    ProtocolError,
    WebSocketError,
)
# What users import first, as wsproto and websockets offer it: the connections and their events.
from .connection import ClientConnection, ConnectionState, ServerConnection
from .events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Event,
    Message,
    Ping,
    Pong,
    RejectConnection,
    Request,
    TextMessage,
)

__version__ = "0.1.0"

__all__ = [
    "IMPLEMENTATION",
    "errors",
    "WebSocketError",
    "ProtocolError",
    "InvalidUTF8",
    "MessageTooBig",
    "HandshakeError",
    "HandshakeRejected",
    "InvalidState",
    "ConnectionClosed",
    "ConnectionClosedOK",
    "ConnectionClosedError",
    "ServerConnection",
    "ClientConnection",
    "ConnectionState",
    "Event",
    "Request",
    "AcceptConnection",
    "RejectConnection",
    "Message",
    "TextMessage",
    "BytesMessage",
    "Ping",
    "Pong",
    "CloseConnection",
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
