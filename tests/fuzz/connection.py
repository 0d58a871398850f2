"""ServerConnection and ClientConnection fed the peer's bytes at random splits, with and without
permessage-deflate: raw from the first byte, or after a valid opening handshake.

receive_data never raises; events() yields only documented events and raises only the peer's
ProtocolError or HandshakeError, after which the connection is closed; everything the connection
sends once open (echoes of the messages, pongs, close frames) decodes as valid frames.
"""

from __future__ import annotations

import re

from wsframe import handshake
from wsframe._fallback import FrameDecoder
from wsframe.connection import ClientConnection, ConnectionState, ServerConnection
from wsframe.deflate import PerMessageDeflate
from wsframe.errors import HandshakeError, ProtocolError
from wsframe.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    Pong,
    RejectConnection,
    Request,
    TextMessage,
)
from wsframe.frames import MAX_CONTROL_PAYLOAD

from .reader import FuzzInput, read_splits, split
from .wire import frame_stream

_LIMITS = (None, 16 * 1024 * 1024, 0, 1, 125, 1000, 65536)
_POLICIES = (None, PerMessageDeflate(), PerMessageDeflate(client_no_context_takeover=True, min_size=20))
# What a client offers, and what a server answers, when the input picks a valid handshake.
_OFFERS = (
    "permessage-deflate; client_max_window_bits",
    "permessage-deflate; client_no_context_takeover; server_max_window_bits=10",
    "permessage-deflate; client_max_window_bits=8",
)
_ANSWERS = (
    "permessage-deflate",
    "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
    "permessage-deflate; server_max_window_bits=9; client_max_window_bits=8",
)
_OPEN_STATES = (ConnectionState.OPEN, ConnectionState.CLOSING)


def _check_event(event, stream_messages: bool) -> None:
    kind = type(event)
    if kind is TextMessage or kind is BytesMessage:
        assert type(event.data) is (str if kind is TextMessage else bytes), event
        assert event.message_finished is True or (stream_messages and event.message_finished is False), event
    elif kind is Ping or kind is Pong:
        assert type(event.payload) is bytes and len(event.payload) <= MAX_CONTROL_PAYLOAD, event
    elif kind is CloseConnection:
        assert event.code in (1005, 1006) or 1000 <= event.code < 5000, event
        assert type(event.reason) is str, event
    else:
        assert kind in (Request, AcceptConnection, RejectConnection), f"undocumented event {event!r}"


class _Peer:
    """Drives one connection as an application would: answers requests, echoes messages."""

    def __init__(self, connection, reject: bool) -> None:
        self.connection = connection
        self.reject = reject
        self.opened = False
        self.sent_frames = []  # what the connection sent once open: frames only

    def step(self, chunk) -> bool:
        """Feeds a read (None: end of stream) and handles the events; False once the peer's error came."""
        self.connection.receive_data(chunk)  # the peer's bytes never raise here
        try:
            # Accepting a request delivers the frames that came with it: events again until there are none.
            while self._handle_events():
                pass
        except (ProtocolError, HandshakeError):
            assert self.connection.state is ConnectionState.CLOSED, f"{self.connection.state} after the peer's error"
            self._collect()
            return False
        self._collect()
        return True

    def _handle_events(self) -> bool:
        connection = self.connection
        handled = False
        for event in connection.events():
            handled = True
            _check_event(event, connection.stream_messages)
            if type(event) is Request:
                answer = RejectConnection(403) if self.reject else AcceptConnection()
                response = connection.send(answer)
                assert response.startswith(b"HTTP/1.1 "), response
            elif type(event) in (TextMessage, BytesMessage) and connection.state is ConnectionState.OPEN:
                self.sent_frames.append(connection.send(event))
            self._note_state()
        return handled

    def _note_state(self) -> None:
        self.opened = self.opened or self.connection.state in _OPEN_STATES

    def _collect(self) -> None:
        self._note_state()
        data = self.connection.data_to_send()
        if data and self.opened:
            self.sent_frames.append(data)

    def check_sent_frames(self) -> None:
        connection = self.connection
        decoder = FrameDecoder(
            expect_mask=isinstance(connection, ClientConnection),
            allowed_rsv=4 if connection.deflate_parameters is not None else 0,
        )
        data = b"".join(self.sent_frames)
        _, consumed, error = decoder.decode(data)
        assert error is None and consumed == len(data), f"the connection sent invalid frames: {error}"


def _server(inp: FuzzInput, options: dict):
    """The connection, and the valid request that starts the stream (None: the input is the request)."""
    opened = inp.byte() % 3
    if opened == 2:
        return ServerConnection(opened=True, **options), b""
    connection = ServerConnection(**options)
    if not opened:
        return connection, None
    extensions = inp.choice(_OFFERS) if inp.bool() else None
    request = handshake.build_request("example.com", "/chat", handshake.generate_key(), extensions=extensions)
    return connection, request


def _client(inp: FuzzInput, options: dict):
    """The connection, its request sent, and a valid response to it (None: the input is the response)."""
    connection = ClientConnection(**options)
    request = connection.send(Request("example.com", "/chat"))
    if not inp.bool():
        return connection, None
    key = re.search(rb"Sec-WebSocket-Key: (\S+)\r\n", request).group(1).decode()
    extensions = inp.choice(_ANSWERS) if options["deflate"] is not None else None
    return connection, handshake.build_accept(key, extensions=extensions)


def test_one_input(data: bytes) -> None:
    inp = FuzzInput(data)
    server = inp.bool()
    options = dict(
        max_message_size=inp.choice(_LIMITS),
        max_frame_size=inp.choice(_LIMITS),
        stream_messages=inp.bool(),
        auto_pong=inp.byte() % 4 != 0,
        fragment_size=inp.choice((None, None, 64, 1000)),  # 1-byte fragments of a 90 KiB echo: too slow
        deflate=inp.choice(_POLICIES),
    )
    reject = inp.byte() % 8 == 0
    eof = inp.bool()
    structured = inp.byte() % 4 != 0
    sizes = read_splits(inp)
    connection, prefix = (_server if server else _client)(inp, options)
    if prefix is None or not structured:
        stream = (prefix or b"") + inp.rest()
    else:
        stream = prefix + frame_stream(inp, masked_by_default=server)
    peer = _Peer(connection, reject)
    for chunk in split(stream, sizes) + ([None] if eof else []):
        if not peer.step(chunk):
            break
    peer.check_sent_frames()
