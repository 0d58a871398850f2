"""The sans-I/O connection: handshake, messages, control frames, closing, limits, errors, both roles.

These tests run through ``wsframe``'s active hot path; tools/test.sh runs them once per implementation.
"""

import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wsframe import encode_frame
from wsframe.connection import MAX_DATA_BEFORE_ACCEPT, ClientConnection, ConnectionState, ServerConnection
from wsframe.errors import HandshakeError, InvalidState, InvalidUTF8, MessageTooBig, ProtocolError
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

KEY = b"\x01\x02\x03\x04"


def client_frame(opcode, payload=b"", fin=True, rsv=0):
    """A frame as a client sends it (masked)."""
    return encode_frame(opcode, payload, fin=fin, rsv=rsv, mask_key=KEY)


def server_frame(opcode, payload=b"", fin=True):
    return encode_frame(opcode, payload, fin=fin)


def drain(conn):
    return list(conn.events())


def open_pair(server_options=None, client_options=None, subprotocols=()):
    server = ServerConnection(**(server_options or {}))
    client = ClientConnection(**(client_options or {}))
    request = client.send(Request(host="example.com", target="/chat", subprotocols=subprotocols))
    server.receive_data(request)
    [req] = drain(server)
    client.receive_data(server.send(AcceptConnection()))
    [accept] = drain(client)
    assert isinstance(accept, AcceptConnection)
    return server, client


def test_handshake_round_trip_negotiates_server_preferred_subprotocol():
    server = ServerConnection(subprotocols=["chat.v2", "chat.v1"])
    client = ClientConnection()
    request = client.send(Request(host="example.com:8000", target="/ws?x=1", subprotocols=["chat.v1", "chat.v2"]))
    server.receive_data(request)
    [event] = drain(server)
    assert isinstance(event, Request)
    assert (event.host, event.target, event.subprotocols) == ("example.com:8000", "/ws?x=1", ["chat.v1", "chat.v2"])
    response = server.send(AcceptConnection())
    assert response.startswith(b"HTTP/1.1 101 ")
    client.receive_data(response)
    [accepted] = drain(client)
    assert accepted.subprotocol == "chat.v2"
    assert server.subprotocol == client.subprotocol == "chat.v2"
    assert server.state is client.state is ConnectionState.OPEN


def test_messages_both_ways():
    server, client = open_pair()
    server.receive_data(client.send(TextMessage("héllo")) + client.send(BytesMessage(b"\x00\xff")))
    assert drain(server) == [TextMessage("héllo"), BytesMessage(b"\x00\xff")]
    client.receive_data(server.send(TextMessage("back")))
    assert drain(client) == [TextMessage("back")]


def test_client_masks_every_frame_with_fresh_keys():
    server, client = open_pair()
    frames = [client.send(TextMessage("same")) for _ in range(50)]
    assert all(frame[1] & 0x80 for frame in frames)
    assert len({frame[2:6] for frame in frames}) > 45  # 32-bit random keys: collisions are rare
    server_out = server.send(TextMessage("same"))
    assert not server_out[1] & 0x80


def test_bytes_after_the_handshake_in_the_same_read_are_kept():
    server = ServerConnection()
    client = ClientConnection()
    request = client.send(Request(host="h", target="/"))
    server.receive_data(request + client_frame(1, b"early"))
    assert [type(e) for e in drain(server)] == [Request]
    response = server.send(AcceptConnection())
    assert drain(server) == [TextMessage("early")]
    client.receive_data(response + server_frame(2, b"too"))
    events = drain(client)
    assert isinstance(events[0], AcceptConnection) and events[1:] == [BytesMessage(b"too")]


def frames_of_total_size(size):
    """Client binary frames of exactly ``size`` bytes in all, and their payloads."""
    payloads = []
    while size > 65536 + 14:
        payloads.append(bytes([len(payloads)]) * 65536)  # 14 bytes of header: 64-bit length, mask key
        size -= 65536 + 14
    payloads.append(b"L" * (size - 8))  # under 64 KiB: 8 bytes of header, 16-bit length
    return b"".join(client_frame(2, payload) for payload in payloads), payloads


@pytest.mark.parametrize("chunk_size", [1000, MAX_DATA_BEFORE_ACCEPT])
def test_data_before_the_accept_is_kept_up_to_its_limit(chunk_size):
    server = ServerConnection()
    server.receive_data(ClientConnection().send(Request(host="h", target="/")))
    [request] = drain(server)
    data, payloads = frames_of_total_size(MAX_DATA_BEFORE_ACCEPT)
    assert len(data) == MAX_DATA_BEFORE_ACCEPT
    for start in range(0, len(data), chunk_size):
        server.receive_data(data[start : start + chunk_size])
    assert drain(server) == []
    assert server.send(AcceptConnection()).startswith(b"HTTP/1.1 101 ")
    assert drain(server) == [BytesMessage(payload) for payload in payloads]


@pytest.mark.parametrize("with_request", [False, True], ids=["later-reads", "same-read-as-request"])
def test_data_before_the_accept_over_its_limit_gets_400(with_request):
    server = ServerConnection()
    request = ClientConnection().send(Request(host="h", target="/"))
    data = frames_of_total_size(MAX_DATA_BEFORE_ACCEPT)[0] + client_frame(1, b"one too many")
    if with_request:
        server.receive_data(request + data)
    else:
        server.receive_data(request)
        assert isinstance(drain(server)[0], Request)
        server.receive_data(data[:4096])
        assert drain(server) == []
        server.receive_data(data[4096:])
    with pytest.raises(HandshakeError) as info:
        drain(server)  # the Request event is not delivered when its own read was over the limit
    assert info.value.status == 400
    assert server.data_to_send().startswith(b"HTTP/1.1 400 ")
    assert server.state is ConnectionState.CLOSED
    with pytest.raises(InvalidState):
        server.send(AcceptConnection())


def test_fragmented_message_with_interleaved_control_frames():
    server, _ = open_pair()
    data = (
        client_frame(1, b"Hel", fin=False)
        + client_frame(9, b"p1")
        + client_frame(0, b"l", fin=False)
        + client_frame(10, b"p2")
        + client_frame(0, b"o", fin=True)
    )
    server.receive_data(data)
    assert drain(server) == [Ping(b"p1"), Pong(b"p2"), TextMessage("Hello")]
    assert server.data_to_send() == server_frame(10, b"p1")


def test_auto_pong_can_be_turned_off():
    server, _ = open_pair(server_options={"auto_pong": False})
    server.receive_data(client_frame(9, b"x"))
    assert drain(server) == [Ping(b"x")]
    assert server.data_to_send() == b""
    assert server.send(Ping(b"x").response()) == server_frame(10, b"x")


def test_sending_fragments():
    server, client = open_pair(client_options={"fragment_size": 4})
    data = client.send(TextMessage("abcdefghij"))
    assert len(data) == 3 * 6 + 10  # three masked frames of 4 + 4 + 2 payload bytes
    assert [data[0], data[10], data[20]] == [0x01, 0x00, 0x80]  # text, continuation, final continuation
    server.receive_data(data)
    assert drain(server) == [TextMessage("abcdefghij")]


def test_sending_a_message_in_pieces():
    server, client = open_pair()
    out = client.send(BytesMessage(b"ab", message_finished=False)) + client.send(BytesMessage(b"cd"))
    server.receive_data(out)
    assert drain(server) == [BytesMessage(b"abcd")]
    with pytest.raises(InvalidState):
        client.send(TextMessage("x", message_finished=False))
        client.send(BytesMessage(b"y"))


def test_close_handshake_initiated_by_client():
    server, client = open_pair()
    server.receive_data(client.send(CloseConnection(1000, "bye")))
    assert drain(server) == [CloseConnection(1000, "bye")]
    assert server.state is ConnectionState.CLOSED
    client.receive_data(server.data_to_send())
    assert drain(client) == [CloseConnection(1000, "")]
    assert client.state is ConnectionState.CLOSED
    for conn in (server, client):
        with pytest.raises(InvalidState):
            conn.send(TextMessage("late"))


def test_close_without_code_is_reported_as_1005_and_answered_without_code():
    server, client = open_pair()
    server.receive_data(client_frame(8))
    assert drain(server) == [CloseConnection(1005, "")]
    assert server.data_to_send() == server_frame(8)


def test_messages_arriving_while_closing_are_delivered():
    server, client = open_pair()
    client.send(CloseConnection(1001))
    assert client.state is ConnectionState.CLOSING
    client.receive_data(server.send(TextMessage("last")) + server_frame(8, b"\x03\xe9"))
    assert drain(client) == [TextMessage("last"), CloseConnection(1001, "")]


@pytest.mark.parametrize("code", [1005, 1006, 1015, 999, 1004, 2000, 5000])
def test_reserved_close_codes_are_never_sent(code):
    _, client = open_pair()
    with pytest.raises(ValueError):
        client.send(CloseConnection(code, "x"))


def test_close_reason_limited_to_123_bytes():
    _, client = open_pair()
    client.send(CloseConnection(1000, "é" * 61 + "x"))  # 123 bytes
    _, client = open_pair()
    with pytest.raises(ValueError):
        client.send(CloseConnection(1000, "é" * 62))  # 124 bytes


def test_end_of_stream_without_close_reports_1006():
    server, _ = open_pair()
    server.receive_data(None)
    assert drain(server) == [CloseConnection(1006, "")]


@pytest.mark.parametrize(
    "frame, error, code",
    [
        (server_frame(1, b"unmasked"), ProtocolError, 1002),
        (client_frame(1, b"\xff"), InvalidUTF8, 1007),
        (client_frame(1, b"x", rsv=4), ProtocolError, 1002),
        (client_frame(3), ProtocolError, 1002),
        (client_frame(0, b"x"), ProtocolError, 1002),
        (client_frame(9, b"x", fin=False), ProtocolError, 1002),
        (client_frame(8, b"\x03"), ProtocolError, 1002),
        (client_frame(8, b"\x03\xe7"), ProtocolError, 1002),
        (client_frame(8, b"\x03\xe8\xff"), InvalidUTF8, 1007),
        (client_frame(2, b"x" * 2000), MessageTooBig, 1009),
    ],
)
def test_peer_errors_keep_earlier_events_then_raise_with_close_frame(frame, error, code):
    server, _ = open_pair(server_options={"max_message_size": 1000})
    server.receive_data(client_frame(1, b"fine") + frame + client_frame(1, b"ignored"))
    events = server.events()
    assert next(events) == TextMessage("fine")
    with pytest.raises(error) as info:
        next(events)
    assert info.value.close_code == code
    sent = server.data_to_send()
    assert sent[:2] == bytes([0x88, len(sent) - 2]) and int.from_bytes(sent[2:4], "big") == code
    assert server.state is ConnectionState.CLOSED
    server.receive_data(client_frame(1, b"more"))
    assert drain(server) == []


def test_message_before_an_error_in_the_same_read_can_still_be_answered():
    server, _ = open_pair()
    server.receive_data(client_frame(1, b"fine") + client_frame(1, b"x", rsv=2) + client_frame(9))
    assert server.data_to_send() == b""  # nothing closes before the caller has seen the message
    events = server.events()
    assert next(events) == TextMessage("fine")
    assert server.state is ConnectionState.OPEN
    echo = server.send(TextMessage("fine"))
    with pytest.raises(ProtocolError):
        next(events)
    assert server.state is ConnectionState.CLOSED
    closing = server.data_to_send()
    assert echo == server_frame(1, b"fine") and closing[0] == 0x88 and closing[2:4] == (1002).to_bytes(2, "big")


def test_deferred_error_leaves_the_connection_open_until_a_later_events_call_raises_it():
    server, _ = open_pair()
    server.receive_data(client_frame(1, b"fine") + client_frame(1, b"x", rsv=2) + client_frame(1, b"ignored"))
    assert list(server.events(defer_error=True)) == [TextMessage("fine")]
    assert isinstance(server.pending_error, ProtocolError)
    assert server.state is ConnectionState.OPEN and server.data_to_send() == b""
    echo = server.send(TextMessage("fine"))  # answered later, as an application does
    server.receive_data(client_frame(1, b"after the error"))
    assert list(server.events(defer_error=True)) == []  # still deferred; later data is ignored
    with pytest.raises(ProtocolError) as info:
        list(server.events())
    assert info.value.close_code == 1002 and server.pending_error is None
    assert server.state is ConnectionState.CLOSED
    closing = server.data_to_send()
    assert echo == server_frame(1, b"fine") and closing[0] == 0x88 and closing[2:4] == (1002).to_bytes(2, "big")
    assert list(server.events()) == []  # raised once


def test_deferring_does_not_hold_back_the_answer_to_a_close():
    server, _ = open_pair()
    server.receive_data(client_frame(8, b"\x03\xe8"))
    assert server.pending_error is None
    assert list(server.events(defer_error=True)) == [CloseConnection(1000, "")]
    assert server.state is ConnectionState.CLOSED and server.data_to_send() == server_frame(8, b"\x03\xe8")


def test_send_binary_unjoined_gives_the_same_bytes_in_parts():
    server, client = open_pair()
    payload = bytes(range(256)) * 200
    assert server.send_binary_unjoined(payload) == [server_frame(2, payload)[:4], payload]
    assert server.send_binary_unjoined(payload)[1] is payload  # not copied
    assert b"".join(server.send_binary_unjoined(bytearray(b"ab"))) == server_frame(2, b"ab")
    (masked,) = client.send_binary_unjoined(payload)  # a client's frame is masked: one part
    server.receive_data(masked)
    assert drain(server) == [BytesMessage(payload)]


def test_frame_encoder_is_set_exactly_while_a_whole_message_is_one_plain_frame():
    assert ServerConnection().frame_encoder is None  # connecting
    compressed, _ = open_pair({"deflate": PerMessageDeflate()}, {"deflate": PerMessageDeflate()})
    assert compressed.frame_encoder is None
    server, client = open_pair()
    encoder = server.frame_encoder
    assert encoder is not None
    assert encoder.binary(b"ab") == server.send_binary(b"ab") == server_frame(2, b"ab")
    assert encoder.text("hé") == server.send_text("hé") == server_frame(1, "hé".encode())
    server.receive_data(client.frame_encoder.binary(b"cd") + client.frame_encoder.text("é"))  # masked
    assert drain(server) == [BytesMessage(b"cd"), TextMessage("é")]
    server.fragment_size = 10
    assert server.frame_encoder is None
    server.fragment_size = None
    assert server.frame_encoder is encoder
    server.send_text("pie", message_finished=False)  # a message in pieces
    assert server.frame_encoder is None
    server.send_text("ce")
    assert server.frame_encoder is encoder
    server.send(CloseConnection(1000))
    assert server.frame_encoder is None


def test_message_before_a_close_in_the_same_read_can_still_be_answered():
    server, _ = open_pair()
    server.receive_data(client_frame(1, b"last") + client_frame(8, b"\x03\xe8") + client_frame(1, b"after"))
    events = server.events()
    assert next(events) == TextMessage("last")
    echo = server.send(TextMessage("last"))
    assert next(events) == CloseConnection(1000, "")
    assert server.state is ConnectionState.CLOSED
    assert list(events) == []
    assert echo + server.data_to_send() == server_frame(1, b"last") + server_frame(8, b"\x03\xe8")


def test_end_of_stream_after_a_pending_close_keeps_the_close():
    server, _ = open_pair()
    server.receive_data(client_frame(8, b"\x03\xe9"))
    server.receive_data(None)
    assert drain(server) == [CloseConnection(1001, "")]
    assert server.data_to_send() == server_frame(8, b"\x03\xe9")


def test_oversized_message_refused_from_its_header():
    server, _ = open_pair(server_options={"max_message_size": 1 << 20})
    huge = bytes([0x82, 0xFF]) + (1 << 40).to_bytes(8, "big") + KEY
    server.receive_data(huge)
    with pytest.raises(MessageTooBig):
        drain(server)


def test_streaming_mode_delivers_pieces():
    server, client = open_pair(server_options={"stream_messages": True})
    frame = client.send(TextMessage("é" * 1000))
    server.receive_data(frame[:500])
    server.receive_data(frame[500:])
    events = drain(server)
    assert len(events) == 2 and not events[0].message_finished and events[1].message_finished
    assert "".join(e.data for e in events) == "é" * 1000


def test_streaming_mode_delivers_single_frame_messages_whole():
    server, client = open_pair(server_options={"stream_messages": True})
    server.receive_data(
        client.send(TextMessage("κόσμε"))
        + client.send(BytesMessage(b"\x00\xff"))
        + client_frame(1, "ab".encode(), fin=False)
        + client_frame(0, "€".encode())
        + client.send(TextMessage(""))
    )
    assert drain(server) == [
        TextMessage("κόσμε"),
        BytesMessage(b"\x00\xff"),
        TextMessage("ab", False),
        TextMessage("€", True),
        TextMessage(""),
    ]


def test_server_rejects_bad_version_with_426():
    server = ServerConnection()
    server.receive_data(
        b"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n"
    )
    with pytest.raises(HandshakeError) as info:
        drain(server)
    assert info.value.status == 426
    response = server.data_to_send()
    assert response.startswith(b"HTTP/1.1 426 ") and b"Sec-WebSocket-Version: 13\r\n" in response
    assert server.state is ConnectionState.CLOSED


def test_refused_well_formed_request_carries_the_parsed_request():
    server = ServerConnection()
    server.receive_data(b"GET /page?q=1 HTTP/1.1\r\nHost: h\r\nAccept: text/html\r\n\r\n")
    with pytest.raises(HandshakeError) as info:
        drain(server)
    assert info.value.status == 426
    request = info.value.request
    assert (request.method, request.target) == ("GET", "/page?q=1")
    assert request.headers == [("Host", "h"), ("Accept", "text/html")]
    assert server.data_to_send().startswith(b"HTTP/1.1 426 ")


@pytest.mark.parametrize(
    "head",
    [
        b"GET / HTTP/1.0\r\nHost: h\r\n\r\n",  # malformed for WebSocket: 400 before a request exists
        b"GET / HTTP/1.1\r\nHost: h\r\nX-Long: " + b"x" * 70_000 + b"\r\n\r\n",  # 431
    ],
    ids=["http-1.0", "huge-header"],
)
def test_request_that_does_not_parse_carries_none(head):
    server = ServerConnection()
    server.receive_data(head)
    with pytest.raises(HandshakeError) as info:
        drain(server)
    assert info.value.request is None and info.value.status in (400, 431)


@pytest.mark.parametrize("origins", [["https://good.example"], lambda origin: origin == "https://good.example"])
def test_origin_policy(origins):
    request = ClientConnection().send(Request(host="h", target="/", origin="https://evil.example"))
    server = ServerConnection(origins=origins)
    server.receive_data(request)
    with pytest.raises(HandshakeError) as info:
        drain(server)
    assert info.value.status == 403 and server.data_to_send().startswith(b"HTTP/1.1 403 ")
    good = ClientConnection().send(Request(host="h", target="/", origin="https://good.example"))
    server = ServerConnection(origins=origins)
    server.receive_data(good)
    assert isinstance(drain(server)[0], Request)


def test_origins_given_as_one_string_are_refused():
    # A str would be a substring test: "https://a.example" would let "a" and "https://" in.
    for origins in ("https://a.example", b"https://a.example"):
        with pytest.raises(TypeError):
            ServerConnection(origins=origins)
    server = ServerConnection(origins=["https://a.example"])
    with pytest.raises(TypeError):
        server.origins = "https://a.example"
    assert server.origins == ["https://a.example"]


@pytest.mark.parametrize(
    "origins",
    [["https://good.example"], lambda origin: origin.startswith("https://")],  # the lambda raises on None
    ids=["collection", "raising-callable"],
)
def test_missing_origin_with_a_policy_gets_403(origins):
    server = ServerConnection(origins=origins)
    server.receive_data(ClientConnection().send(Request(host="h", target="/")))
    with pytest.raises(HandshakeError) as info:
        drain(server)
    assert info.value.status == 403
    response = server.data_to_send()
    assert response.startswith(b"HTTP/1.1 403 ") and b"AttributeError" not in response
    assert server.state is ConnectionState.CLOSED


def test_origin_policy_that_raises_gets_403_with_the_cause_kept():
    def policy(origin):
        raise KeyError(origin)

    server = ServerConnection(origins=policy)
    server.receive_data(ClientConnection().send(Request(host="h", target="/", origin="https://a.example")))
    with pytest.raises(HandshakeError) as info:
        drain(server)
    assert info.value.status == 403 and isinstance(info.value.__cause__, KeyError)
    assert info.value.request is not None  # well-formed HTTP, as for any refused origin


@pytest.mark.parametrize(
    "rejection, error",
    [
        (RejectConnection(403, [("X-Reason", "a\r\nSet-Cookie: b")]), ValueError),
        (RejectConnection(403, body="a str"), TypeError),
        ((403, [], b"websockets-style"), TypeError),
    ],
    ids=["crlf-in-header", "str-body", "tuple"],
)
def test_invalid_rejection_raises_and_leaves_the_request_waiting(rejection, error):
    server = ServerConnection()
    server.receive_data(ClientConnection().send(Request(host="h", target="/")))
    drain(server)
    server.receive_data(client_frame(1, b"early"))
    with pytest.raises(error):
        server.send(rejection)
    assert server.state is ConnectionState.CONNECTING
    assert server.send(RejectConnection(500)).startswith(b"HTTP/1.1 500 ")
    assert server.state is ConnectionState.CLOSED


def test_accept_after_an_invalid_rejection_still_gets_the_early_frames():
    server = ServerConnection()
    server.receive_data(ClientConnection().send(Request(host="h", target="/")) + client_frame(1, b"early"))
    drain(server)
    with pytest.raises(TypeError):
        server.send(RejectConnection(403, body="a str"))
    assert server.send(AcceptConnection()).startswith(b"HTTP/1.1 101 ")
    assert drain(server) == [TextMessage("early")]


def test_server_application_rejects_request():
    server = ServerConnection()
    client = ClientConnection()
    server.receive_data(client.send(Request(host="h", target="/private")))
    drain(server)
    response = server.send(RejectConnection(401, [("WWW-Authenticate", "Basic")], b"who are you?"))
    client.receive_data(response)
    client.receive_data(None)
    [event] = drain(client)
    assert isinstance(event, RejectConnection)
    assert event.status_code == 401 and event.body == b"who are you?"
    assert ("WWW-Authenticate", "Basic") in event.headers


@pytest.mark.parametrize(
    "refused",
    [RejectConnection(101), RejectConnection(400, [("X-Bad", "line\r\nbreak")])],
    ids=["informational-status", "header-with-crlf"],
)
def test_a_refused_rejection_leaves_the_request_waiting_for_an_answer(refused):
    server = ServerConnection()
    server.receive_data(ClientConnection().send(Request(host="h", target="/")))
    drain(server)
    with pytest.raises(ValueError):
        server.send(refused)
    assert server.state is ConnectionState.CONNECTING
    assert server.send(RejectConnection(500)).startswith(b"HTTP/1.1 500 ")
    assert server.state is ConnectionState.CLOSED


def test_close_sent_records_the_close_frame_sent():
    server, client = open_pair()
    assert server.close_sent is None
    server.send(CloseConnection(1001, "going"))
    assert server.close_sent == CloseConnection(1001, "going")
    server, client = open_pair()
    server.receive_data(client.send(CloseConnection(1000, "bye")))
    drain(server)
    assert server.close_sent == CloseConnection(1000, "")  # the reply
    server, client = open_pair()
    server.receive_data(client_frame(1, b"\xff"))
    with pytest.raises(InvalidUTF8):
        drain(server)
    assert server.close_sent.code == 1007 and server.close_sent.reason
    assert server.data_to_send()[4:] == server.close_sent.reason.encode()


def test_client_fails_on_wrong_accept():
    client = ClientConnection()
    client.send(Request(host="h", target="/"))
    client.receive_data(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
    )
    with pytest.raises(HandshakeError):
        drain(client)
    assert client.state is ConnectionState.CLOSED


@pytest.mark.parametrize(("client_options", "allowed"), [({}, 8), ({"max_interim": 2}, 2)], ids=["default", "2"])
def test_client_skips_interim_responses_up_to_max_interim(client_options, allowed):
    def answer(interim_count):
        server = ServerConnection()
        client = ClientConnection(**client_options)
        server.receive_data(client.send(Request(host="h", target="/")))
        drain(server)
        client.receive_data(b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" * interim_count)
        client.receive_data(server.send(AcceptConnection()))
        return client

    [accepted] = drain(answer(allowed))
    assert isinstance(accepted, AcceptConnection)
    refused = answer(allowed + 1)
    with pytest.raises(HandshakeError, match=f"more than {allowed} interim"):
        drain(refused)
    assert refused.state is ConnectionState.CLOSED


def test_server_opened_directly():
    server = ServerConnection(opened=True, subprotocol="chat")
    assert server.state is ConnectionState.OPEN and server.subprotocol == "chat"
    server.receive_data(client_frame(1, b"hi"))
    assert drain(server) == [TextMessage("hi")]


def test_client_opened_directly_with_agreed_deflate_talks_to_an_opened_server():
    from wsframe.deflate import DeflateParameters

    agreed = DeflateParameters(client_no_context_takeover=True, server_max_window_bits=10)
    server = ServerConnection(opened=True, deflate_parameters=agreed)
    client = ClientConnection(opened=True, subprotocol="chat", deflate_parameters=agreed)
    assert client.state is ConnectionState.OPEN and client.subprotocol == "chat"
    assert client.deflate_parameters == agreed and client.extensions == ["permessage-deflate"]
    data = client.send(TextMessage("hello " * 50))
    assert data[0] & 0x40 and len(data) < 100  # RSV1: compressed
    server.receive_data(data)
    assert drain(server) == [TextMessage("hello " * 50)]
    client.receive_data(server.send(BytesMessage(b"x" * 1000)))
    assert drain(client) == [BytesMessage(b"x" * 1000)]


def conversation():
    """A client's whole side of a conversation as one byte string, and the events the server sees."""
    client = ClientConnection()
    data = client.send(Request(host="h", target="/"))
    return data, [
        client_frame(1, "κόσμε".encode()),
        client_frame(2, b"\x00" * 300),
        client_frame(1, "ab".encode(), fin=False),
        client_frame(9, b"ping"),
        client_frame(0, "€".encode(), fin=True),
        client_frame(2, b"x" * 70000),
        client_frame(8, b"\x03\xe8done"),
    ]


def feed_server(chunks):
    server = ServerConnection()
    events = []
    for chunk in chunks:
        server.receive_data(chunk)
        for event in server.events():
            events.append(event)
            if isinstance(event, Request):
                server.send(AcceptConnection())
    return events + drain(server), server.data_to_send()


def test_whole_conversation_byte_at_a_time_gives_the_same_events():
    request, frames = conversation()
    stream = request + b"".join(frames)
    whole_events, whole_sent = feed_server([stream])
    assert [type(e) for e in whole_events] == [
        Request, TextMessage, BytesMessage, Ping, TextMessage, BytesMessage, CloseConnection
    ]
    assert whole_events[4] == TextMessage("ab€") and whole_events[-1] == CloseConnection(1000, "done")
    one_by_one = feed_server([stream[i : i + 1] for i in range(len(stream))])
    assert one_by_one == (whole_events, whole_sent)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=80000), max_size=12))
def test_whole_conversation_in_random_splits_gives_the_same_events(cuts):
    request, frames = conversation()
    stream = request + b"".join(frames)
    bounds = sorted({min(c, len(stream)) for c in cuts} | {0, len(stream)})
    chunks = [stream[a:b] for a, b in zip(bounds, bounds[1:])]
    assert feed_server(chunks) == feed_server([stream])


# -- permessage-deflate -----------------------------------------------------------------------------

import os  # noqa: E402
import tracemalloc  # noqa: E402
import zlib  # noqa: E402

from wsframe._hotpath import Utf8Validator  # noqa: E402
from wsframe.connection import FRAME_CHARGE, WIRE_ALLOWANCE  # noqa: E402
from wsframe.deflate import PerMessageDeflate  # noqa: E402


def deflate_pair(server_policy=None, client_policy=None, **server_options):
    return open_pair(
        server_options={"deflate": server_policy or PerMessageDeflate(), **server_options},
        client_options={"deflate": client_policy or PerMessageDeflate()},
    )


def raw_deflate(data):
    compressor = zlib.compressobj(wbits=-15)
    return (compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH))[:-4]


def test_deflate_negotiated_and_messages_compressed_both_ways():
    server, client = deflate_pair()
    assert server.extensions == client.extensions == ["permessage-deflate"]
    text = "hello " * 1000
    wire = client.send(TextMessage(text))
    assert wire[0] == 0xC1 and len(wire) < 100  # FIN + RSV1 + text, compressed
    server.receive_data(wire)
    assert drain(server) == [TextMessage(text)]
    client.receive_data(server.send(BytesMessage(b"\x00" * 100000)) + server.send(TextMessage("again")))
    assert drain(client) == [BytesMessage(b"\x00" * 100000), TextMessage("again")]


def test_deflate_policy_applies_when_the_request_is_accepted():
    server = ServerConnection(deflate=PerMessageDeflate())
    client = ClientConnection(deflate=PerMessageDeflate())
    server.receive_data(client.send(Request(host="example.com", target="/plain")))
    [request] = drain(server)
    server.deflate = None  # chosen for this request, before the answer
    client.receive_data(server.send(AcceptConnection()))
    drain(client)
    assert server.extensions == client.extensions == []
    server.receive_data(client.send(TextMessage("x" * 100)))
    assert drain(server) == [TextMessage("x" * 100)]


def test_deflate_rfc7692_hello_on_the_wire():
    server, _ = deflate_pair()
    assert server.send(TextMessage("Hello")) == bytes.fromhex("c107f248cdc9c90700")


def test_deflate_not_negotiated_unless_both_want_it():
    server, client = open_pair(client_options={"deflate": PerMessageDeflate()})
    assert server.extensions == client.extensions == []
    assert client.send(TextMessage("x" * 100))[0] == 0x81


def test_deflate_fragmented_compressed_message_and_min_size():
    server, client = deflate_pair(server_policy=PerMessageDeflate(min_size=10))
    assert server.send(TextMessage("short"))[0] == 0x81  # under min_size: sent uncompressed
    compressed = raw_deflate("κόσμε ".encode() * 50)
    cut = len(compressed) // 2
    server.receive_data(client_frame(1, compressed[:cut], fin=False, rsv=4) + client_frame(0, compressed[cut:]))
    assert drain(server) == [TextMessage("κόσμε " * 50)]


@pytest.mark.parametrize(
    "frames, error, code",
    [
        ([client_frame(1, raw_deflate(b"ab"), fin=False, rsv=4), client_frame(0, b"", rsv=4)], ProtocolError, 1002),
        ([client_frame(9, b"", rsv=4)], ProtocolError, 1002),
        ([client_frame(1, raw_deflate(b"\xff\xfe"), rsv=4)], InvalidUTF8, 1007),
        ([client_frame(2, raw_deflate(b"\x00" * 5000), rsv=4)], MessageTooBig, 1009),
        ([client_frame(2, b"\xff\xff\xff", rsv=4)], ProtocolError, 1002),
    ],
)
def test_deflate_errors(frames, error, code):
    server, _ = deflate_pair(max_message_size=4096)
    server.receive_data(b"".join(frames))
    with pytest.raises(error) as info:
        drain(server)
    assert info.value.close_code == code
    assert int.from_bytes(server.data_to_send()[2:4], "big") == code


def test_deflate_bomb_refused_within_the_limit():
    server, _ = deflate_pair(max_message_size=1 << 20)
    compressor = zlib.compressobj(wbits=-15)
    bomb = compressor.compress(b"\x00" * (64 << 20)) + compressor.flush(zlib.Z_SYNC_FLUSH)[:-4]
    assert len(bomb) < 100_000
    server.receive_data(client_frame(2, bomb, rsv=4))
    with pytest.raises(MessageTooBig):
        drain(server)


def deflate_stream(messages):
    """The raw deflate payloads of ``messages`` with context takeover (RFC 7692 7.2.1), as a client sends."""
    compressor = zlib.compressobj(wbits=-15)
    return [(compressor.compress(m) + compressor.flush(zlib.Z_SYNC_FLUSH))[:-4] for m in messages]


def compressed_frames(opcode, payload, cuts):
    """One compressed message as client frames: RSV1 on the first, split at ``cuts`` (none: one frame)."""
    bounds = [0, *cuts, len(payload)]
    pieces = [payload[a:b] for a, b in zip(bounds, bounds[1:])]
    last = len(pieces) - 1
    return b"".join(
        client_frame(opcode if i == 0 else 0, piece, fin=i == last, rsv=4 if i == 0 else 0)
        for i, piece in enumerate(pieces)
    )


def near_utf8():
    """Byte strings close to UTF-8: valid text with a byte changed, cut or inserted (adversarial)."""
    valid = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40).map(str.encode)
    edit = st.tuples(st.integers(0, 60), st.sampled_from([b"\x80", b"\xc0", b"\xe0\x80", b"\xed\xa0", b"\xf4\x90", b"\xf5", b"\xff", b"\xe2\x82"]))
    return st.one_of(
        valid,
        st.builds(lambda text, e: text[: e[0]] + e[1] + text[e[0] :], valid, edit),
        st.builds(lambda text, cut: text[:cut], valid, st.integers(0, 60)),
        st.binary(max_size=40),
    )


def expected_utf8_error(data):
    """What the incremental validator raises for ``data`` as a whole message, or None if it is valid."""
    try:
        Utf8Validator().feed(data, True)
    except InvalidUTF8 as exc:
        return str(exc), exc.offset
    return None


@settings(max_examples=300, deadline=None)
@given(data=near_utf8(), split=st.integers(0, 100), stream=st.booleans())
def test_deflate_text_utf8_checked_alike_in_one_frame_and_fragmented(data, split, stream):
    # A single-frame compressed text message is decoded in one go (fast path), a fragmented one checked
    # incrementally: same event, or same error, offset and close code, either way and in both modes.
    payload = deflate_stream([data])[0]
    expected = expected_utf8_error(data)
    for cuts in ([], [split % (len(payload) + 1)]):
        server, _ = deflate_pair(stream_messages=stream)
        server.receive_data(compressed_frames(1, payload, cuts))
        if expected is None:
            events = drain(server)
            assert "".join(event.data for event in events) == data.decode()
            assert events[-1].message_finished
        else:
            with pytest.raises(InvalidUTF8) as info:
                drain(server)
            assert (str(info.value), info.value.offset) == expected
            assert int.from_bytes(server.data_to_send()[2:4], "big") == 1007


def test_deflate_fragmented_text_fails_when_the_invalid_fragment_arrives():
    data = "ok ".encode() * 20 + b"\xff" + b" more" * 20
    server, _ = deflate_pair()
    # Fragments cut so that the first inflates to valid text only, the second to the invalid byte.
    first = zlib.compressobj(wbits=-15)
    head = first.compress(data[:60]) + first.flush(zlib.Z_SYNC_FLUSH)
    rest = (first.compress(data[60:]) + first.flush(zlib.Z_SYNC_FLUSH))[:-4]
    assert zlib.decompressobj(wbits=-15).decompress(head + rest + b"\x00\x00\xff\xff") == data
    server.receive_data(client_frame(1, head, fin=False, rsv=4))
    assert drain(server) == []
    server.receive_data(client_frame(0, rest[:5], fin=False))  # the invalid byte, final frame still to come
    with pytest.raises(InvalidUTF8) as info:
        drain(server)
    assert (str(info.value), info.value.offset) == ("invalid UTF-8 at byte 60", 60)


@pytest.mark.parametrize("server_no_takeover", [False, True])
def test_deflate_single_frame_and_fragmented_messages_share_the_context(server_no_takeover):
    # Context takeover (or its absence) holds across both paths, with pings between fragments.
    messages = [b"hello hello hello", "h\u00e9llo".encode() * 9, b"\x00\x01" * 300, b"", b"hello hello hello"]
    server, client = deflate_pair(client_policy=PerMessageDeflate(client_no_context_takeover=server_no_takeover))
    if server_no_takeover:
        compressor = zlib.compressobj(wbits=-15)
        payloads = []
        for m in messages:
            payloads.append((compressor.compress(m) + compressor.flush(zlib.Z_FULL_FLUSH))[:-4])
    else:
        payloads = deflate_stream(messages)
    wire = b""
    for i, (message, payload) in enumerate(zip(messages, payloads)):
        opcode = 2 if i == 2 else 1
        if i % 2:  # fragmented, a ping between the fragments
            cut = len(payload) // 2
            wire += client_frame(opcode, payload[:cut], fin=False, rsv=4) + client_frame(9, b"p")
            wire += client_frame(0, payload[cut:])
        else:
            wire += client_frame(opcode, payload, rsv=4)
    server.receive_data(wire)
    expected = [TextMessage(messages[0].decode()), Ping(b"p"), TextMessage(messages[1].decode())]
    expected += [BytesMessage(messages[2]), Ping(b"p"), TextMessage(""), TextMessage(messages[4].decode())]
    assert drain(server) == expected


@pytest.mark.parametrize("fragmented", [False, True])
def test_deflate_message_at_the_limit_and_one_byte_over(fragmented):
    limit = 5000
    for size, error in ((limit, None), (limit + 1, MessageTooBig)):
        server, _ = deflate_pair(max_message_size=limit)
        payload = deflate_stream([b"a" * size])[0]
        server.receive_data(compressed_frames(2, payload, [len(payload) // 2] if fragmented else []))
        if error is None:
            assert drain(server) == [BytesMessage(b"a" * size)]
        else:
            with pytest.raises(error):
                drain(server)
            assert int.from_bytes(server.data_to_send()[2:4], "big") == 1009


def test_deflate_fragmented_bomb_refused_within_the_limit():
    server, _ = deflate_pair(max_message_size=1 << 20)
    compressor = zlib.compressobj(wbits=-15)
    bomb = compressor.compress(b"\x00" * (64 << 20)) + compressor.flush(zlib.Z_SYNC_FLUSH)[:-4]
    cuts = list(range(1000, len(bomb), 1000))
    server.receive_data(compressed_frames(2, bomb, cuts))
    with pytest.raises(MessageTooBig):
        drain(server)


def one_message_in_tiny_frames(frame_size, frames):
    """A compressed message of about ``frames`` frames after the first, each ``frame_size`` (0 or 1) bytes."""
    if frame_size == 0:
        data = b"abc"
        head, rest = raw_deflate(data), []
    else:
        data = os.urandom(frames)  # incompressible: stored blocks, each byte inflating to about one byte
        payload = raw_deflate(data)
        head, rest = payload[:1], [payload[i : i + 1] for i in range(1, len(payload))]
    wire = client_frame(2, head, fin=False, rsv=4)
    wire += b"".join(client_frame(0, piece, fin=False) for piece in rest) if rest else client_frame(0, fin=False) * frames
    return wire + client_frame(0), data


@pytest.mark.parametrize("frame_size", [0, 1])
def test_deflate_message_in_many_tiny_frames_is_joined_as_it_comes(frame_size):
    # Issue 14.1: each frame of a fragmented compressed message stayed a list item until the message
    # ended (50k frames: 4.4 MiB for empty ones, 6 MiB for 1-byte ones; 3 M empty frames: 270 MiB).
    server, _ = deflate_pair(max_message_size=16 << 20)  # a wire budget of ~130k frames: not reached
    wire, data = one_message_in_tiny_frames(frame_size, 50_000)
    events = []
    tracemalloc.start()
    try:
        for start in range(0, len(wire), 16384):
            server.receive_data(wire[start : start + 16384])
            events += drain(server)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert events == [BytesMessage(data)]
    assert peak < 1.5 * 2**20


def test_deflate_message_wire_budget_refused_with_1009_past_it():
    limit = 4096
    first = raw_deflate(b"abc")
    # The first frame and the empty ones after it, the final one included, each count FRAME_CHARGE more.
    allowed = (2 * limit + WIRE_ALLOWANCE - len(first) - FRAME_CHARGE) // FRAME_CHARGE
    for empty_frames in (allowed, allowed + 1):
        server, _ = deflate_pair(max_message_size=limit)
        wire = client_frame(1, first, fin=False, rsv=4) + client_frame(0, fin=False) * (empty_frames - 1)
        server.receive_data(wire + client_frame(0))
        if empty_frames == allowed:
            assert drain(server) == [TextMessage("abc")]
            continue
        with pytest.raises(MessageTooBig) as info:
            drain(server)
        assert str(info.value) == (
            f"compressed message of more than {2 * limit + WIRE_ALLOWANCE} bytes on the wire "
            f"(each frame counting {FRAME_CHARGE} bytes more than its payload)"
        )
        assert int.from_bytes(server.data_to_send()[2:4], "big") == 1009


def test_deflate_wire_budget_leaves_room_for_the_largest_message_in_256_byte_frames():
    limit = 65536
    data = os.urandom(limit)  # incompressible: the compressed form is a little larger than the message
    payload = raw_deflate(data)
    server, _ = deflate_pair(max_message_size=limit)
    server.receive_data(compressed_frames(2, payload, range(256, len(payload), 256)))
    assert drain(server) == [BytesMessage(data)]


def test_deflate_wire_budget_not_applied_in_stream_mode():
    # Each piece is handed on as it comes: nothing accumulates, the application sees every frame.
    server, _ = deflate_pair(max_message_size=4096, stream_messages=True)
    frames = (2 * 4096 + WIRE_ALLOWANCE) // FRAME_CHARGE + 10
    server.receive_data(client_frame(1, raw_deflate(b"abc"), fin=False, rsv=4) + client_frame(0, fin=False) * frames)
    server.receive_data(client_frame(0))
    events = drain(server)
    assert len(events) == frames + 2 and "".join(event.data for event in events) == "abc"
    assert events[-1].message_finished


def test_wire_budget_not_applied_to_uncompressed_messages():
    # The hot path joins their frames as they come (no memory per frame); see FRAME_CHARGE for why
    # their frames are not charged.
    server, _ = open_pair(server_options={"max_message_size": 4096})
    frames = (2 * 4096 + WIRE_ALLOWANCE) // FRAME_CHARGE + 10
    server.receive_data(client_frame(1, b"abc", fin=False) + client_frame(0, fin=False) * frames + client_frame(0))
    assert drain(server) == [TextMessage("abc")]


# -- message events are tuples underneath ------------------------------------------------------------


def test_message_events_compare_like_events():
    import copy
    import pickle

    text = TextMessage("a")
    assert (text.data, text.message_finished, tuple(text)) == ("a", True, ("a", True))
    assert text == TextMessage("a", True) and not text != TextMessage("a")
    assert text != TextMessage("a", False) and text != BytesMessage("a")
    # Equal to no plain tuple, from either side.
    assert text != ("a", True) and ("a", True) != text and not text == ("a", True) and not ("a", True) == text
    assert repr(BytesMessage(b"x", False)) == "BytesMessage(data=b'x', message_finished=False)"
    with pytest.raises(TypeError):
        hash(text)
    for copied in (copy.copy(text), copy.deepcopy(text), pickle.loads(pickle.dumps(text))):
        assert type(copied) is TextMessage and copied == text


def _events_module_without_tuplegetter(monkeypatch):
    """A separate copy of wsframe.events, loaded as on a Python whose _collections lacks _tuplegetter."""
    import importlib.util
    import types

    monkeypatch.setitem(sys.modules, "_collections", types.ModuleType("_collections"))
    spec = importlib.util.find_spec("wsframe.events")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("accessor", ["c descriptor", "property fallback"])
def test_message_fields_read_the_items_and_are_read_only(accessor, monkeypatch):
    module = _events_module_without_tuplegetter(monkeypatch) if accessor == "property fallback" else None
    text_class = module.TextMessage if module else TextMessage
    assert isinstance(text_class.__mro__[1].__dict__["data"], property) == (accessor == "property fallback")
    message = text_class("é", False)
    assert (message.data, message.message_finished) == ("é", False)
    assert "payload" in text_class.data.__doc__ and "pieces" in text_class.message_finished.__doc__
    for name in ("data", "message_finished"):
        with pytest.raises(AttributeError):
            setattr(message, name, "x")
        with pytest.raises(AttributeError):
            delattr(message, name)
    assert tuple(message) == ("é", False)


def test_deflate_rsv1_on_a_continuation_of_an_uncompressed_message():
    # The decoder reassembles uncompressed messages itself; this one falls back to frames for the check.
    server, _ = deflate_pair()
    server.receive_data(client_frame(1, b"ab", fin=False) + client_frame(9, b"p") + client_frame(0, b"cd", rsv=4))
    events = server.events()
    assert next(events) == Ping(b"p")
    with pytest.raises(ProtocolError) as info:
        next(events)
    assert str(info.value) == "RSV1 set on a continuation frame"
    assert int.from_bytes(server.data_to_send()[-2 - len(str(info.value)):][:2], "big") == 1002


def test_send_text_and_binary_match_send_of_events_in_every_configuration():
    """send_text/send_binary take a fast path for plain frames: it must agree with the general one."""
    for options in ({}, {"fragment_size": 3}, {"deflate": PerMessageDeflate()}):
        server, client = open_pair(server_options=options, client_options=options)
        twin, _ = open_pair(server_options=options, client_options=options)  # same history, other path
        text, binary = server.send_text("héllo"), server.send_binary(b"\x00\x01\x02\x03")
        assert text == twin.send(TextMessage("héllo"))
        assert binary == twin.send(BytesMessage(b"\x00\x01\x02\x03"))
        client.receive_data(text + binary + server.send_text("compressible " * 20))
        assert drain(client) == [TextMessage("héllo"), BytesMessage(b"\x00\x01\x02\x03"), TextMessage("compressible " * 20)]
        # A message in pieces turns the fast path off until its last piece, then on again.
        pieces = server.send_text("ab", False) + server.send_text("cd", False) + server.send_text("ef")
        single = server.send_text("x")
        client.receive_data(pieces + single)
        assert drain(client)[-2:] == [TextMessage("abcdef"), TextMessage("x")]
        # Client frames are masked with fresh keys on both paths.
        frames = [client.send_text("same"), client.send(TextMessage("same"))]
        assert frames[0][2:6] != frames[1][2:6] and all(frame[1] & 0x80 for frame in frames)
        server.receive_data(b"".join(frames))
        assert drain(server) == [TextMessage("same"), TextMessage("same")]
        server.send(CloseConnection(1000))
        with pytest.raises(InvalidState):
            server.send_text("after close")


# -- receive_messages: the shortcut for reads of whole messages --------------------------------------

_FRAME_KINDS = st.one_of(
    st.tuples(st.just(1), st.text(max_size=40).map(str.encode), st.just(True)),  # text
    st.tuples(st.just(1), st.binary(max_size=8), st.just(True)),  # text, often invalid UTF-8
    st.tuples(st.just(2), st.binary(max_size=300), st.just(True)),  # binary
    st.tuples(st.sampled_from([0, 1, 2]), st.binary(max_size=20), st.booleans()),  # fragments, in or out of order
    st.tuples(st.sampled_from([9, 10]), st.binary(max_size=10), st.just(True)),  # ping, pong
    st.tuples(st.just(8), st.just(b"\x03\xe8bye"), st.just(True)),  # close
    st.tuples(st.just(3), st.binary(max_size=4), st.just(True)),  # reserved opcode: 1002
)


def _feed_opened_server(chunks, shortcut, max_message_size):
    server = ServerConnection(opened=True, max_message_size=max_message_size)
    seen = []
    for chunk in chunks:
        messages = server.receive_messages(chunk) if shortcut else None
        if messages is not None:
            seen.append(("shortcut", list(messages)))
        elif not shortcut:
            server.receive_data(chunk)
        try:
            seen.extend(server.events())
        except ProtocolError as exc:
            seen.append((type(exc), str(exc), exc.close_code))
        seen.append(server.data_to_send())
    return seen, server.state


def _without_shortcut_markers(seen):
    flat = []
    for item in seen:
        if type(item) is tuple and item and item[0] == "shortcut":
            flat.extend(item[1])
        else:
            flat.append(item)
    return flat


@settings(max_examples=300, deadline=None)
@given(
    frames=st.lists(_FRAME_KINDS, max_size=12),
    cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=6),
    max_message_size=st.sampled_from([None, 100]),
)
def test_receive_messages_gives_what_receive_data_and_events_give(frames, cuts, max_message_size):
    stream = b"".join(client_frame(opcode, payload, fin=fin) for opcode, payload, fin in frames)
    bounds = sorted({min(c, len(stream)) for c in cuts} | {0, len(stream)})
    chunks = [stream[a:b] for a, b in zip(bounds, bounds[1:])]
    plain, plain_state = _feed_opened_server(chunks, False, max_message_size)
    shortcut, shortcut_state = _feed_opened_server(chunks, True, max_message_size)
    assert _without_shortcut_markers(shortcut) == plain
    assert shortcut_state is plain_state


def test_receive_messages_takes_the_shortcut_only_for_whole_plain_messages():
    server = ServerConnection(opened=True)
    two = client_frame(1, b"hi") + client_frame(2, b"\x00\x01")
    assert server.receive_messages(two) == [TextMessage("hi"), BytesMessage(b"\x00\x01")]
    assert drain(server) == []
    assert server.receive_messages(client_frame(2, b"abc")[:1]) == []  # a partial header is kept
    assert server.receive_messages(client_frame(2, b"abc")[1:]) is None  # ... and finished the usual way
    assert drain(server) == [BytesMessage(b"abc")]
    assert server.receive_messages(client_frame(9, b"p")) is None  # a ping: answered by the usual path
    assert drain(server) == [Ping(b"p")] and server.data_to_send() == server_frame(10, b"p")


def test_big_message_read_by_read_with_split_headers_and_a_ping():
    # Reads inside the big frame give no events; headers cut across reads are kept and completed; the
    # ping after the message is answered from the same read that ends the message.
    payload = bytes(range(256)) * 1200  # 300 KiB
    wire = client_frame(0x2, payload) + client_frame(0x9, b"hi") + client_frame(0x1, b"end")
    server = ServerConnection(opened=True)
    got, pongs, start = [], b"", 0
    for end in [5, 12, 70000, 140000, 307214, 307215, 307217, len(wire)]:
        server.receive_data(wire[start:end])
        start = end
        events = list(server.events())
        assert list(server.events()) == []  # taken once
        got += [(type(event).__name__, event.data if hasattr(event, "data") else event.payload) for event in events]
        pongs += server.data_to_send()
    assert got == [("BytesMessage", payload), ("Ping", b"hi"), ("TextMessage", "end")]
    assert pongs == server_frame(0xA, b"hi")
