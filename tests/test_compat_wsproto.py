"""wsframe.compat.wsproto: wsproto's API and semantics on wsframe, beyond what wsproto's own suite checks
(tools/wsproto_suite.sh runs that one). Through the active hot path; the suite's second pass runs these
again over the fallback.
"""

import pickle
import subprocess
import sys

import pytest

from wsframe import encode_frame
from wsframe import events as wsframe_events
from wsframe.connection import ServerConnection as WsframeServer
from wsframe.deflate import PerMessageDeflate as WsframeDeflate
from wsframe.compat import wsproto
from wsframe.compat.wsproto.connection import CLIENT, SERVER, Connection, ConnectionState
from wsframe.compat.wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Message,
    Ping,
    Pong,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)
from wsframe.compat.wsproto.extensions import Extension, PerMessageDeflate
from wsframe.compat.wsproto.frame_protocol import CloseReason
from wsframe.compat.wsproto.utilities import LocalProtocolError, RemoteProtocolError, generate_accept_token

MASK = b"\x01\x02\x03\x04"


def open_pair(client_extensions=(), server_extensions=()):
    client, server = wsproto.WSConnection(CLIENT), wsproto.WSConnection(SERVER)
    server.receive_data(client.send(Request(host="example.com", target="/chat", extensions=list(client_extensions))))
    [request] = server.events()
    client.receive_data(server.send(AcceptConnection(extensions=list(server_extensions))))
    [accept] = client.events()
    assert isinstance(request, Request) and isinstance(accept, AcceptConnection)
    return client, server


def test_messages_pings_and_closing_between_two_wsconnections():
    client, server = open_pair()
    server.receive_data(client.send(TextMessage("héllo")) + client.send(Message(data=b"\x00\xff")))
    assert list(server.events()) == [TextMessage("héllo"), BytesMessage(b"\x00\xff")]
    client.receive_data(server.send(Ping(b"p")))
    [ping] = client.events()
    assert ping == Ping(b"p")
    server.receive_data(client.send(ping.response()))
    assert list(server.events()) == [Pong(b"p")]
    server.receive_data(client.send(CloseConnection(code=1001, reason="bye")))
    assert client.state is ConnectionState.LOCAL_CLOSING
    [close] = server.events()
    assert close.code is CloseReason.GOING_AWAY and close.reason == "bye"
    assert server.state is ConnectionState.REMOTE_CLOSING
    with pytest.raises(LocalProtocolError):
        server.send(TextMessage("too late"))
    client.receive_data(server.send(close.response()))
    assert server.state is ConnectionState.CLOSED
    assert list(client.events()) == [CloseConnection(code=1001, reason="bye")]
    assert client.state is ConnectionState.CLOSED


def test_pings_are_not_answered_automatically():
    client, server = open_pair()
    server.receive_data(client.send(Ping(b"x")))
    assert list(server.events()) == [Ping(b"x")]
    assert server.send(Pong(b"x")) == encode_frame(10, b"x")  # only what the caller sends goes out


def test_message_data_type_chooses_the_frame_type():
    conn = Connection(SERVER)
    assert conn.send(BytesMessage(data="text")) == encode_frame(1, b"text")
    assert conn.send(TextMessage(data=bytearray(b"bin"))) == encode_frame(2, b"bin")
    with pytest.raises(TypeError):
        conn.send(Message(data=42))


def test_pieces_arrive_as_they_come_with_message_finished():
    client, server = Connection(CLIENT), Connection(SERVER)
    data = client.send(TextMessage("ab", message_finished=False)) + client.send(TextMessage("€"))
    split = len(data) - 2  # inside the euro sign's bytes
    server.receive_data(data[:split])
    first = list(server.events())
    server.receive_data(data[split:])
    rest = list(server.events())
    assert [event.message_finished for event in first + rest] == [False] * len(first) + [True]
    assert "".join(event.data for event in first + rest) == "ab€"
    assert all(event.frame_finished for event in first + rest)


def test_protocol_error_is_a_close_event_answered_by_the_caller():
    server = Connection(SERVER)
    server.receive_data(encode_frame(1, b"\xff", mask_key=MASK))  # invalid UTF-8
    [event] = server.events()
    assert event.code is CloseReason.INVALID_FRAME_PAYLOAD_DATA and "UTF-8" in event.reason
    assert server.state is ConnectionState.OPEN  # as wsproto: the caller answers
    reply = server.send(event.response())
    assert reply == encode_frame(8, b"\x03\xef" + event.reason.encode())  # the caller's close only, 1007
    assert server.state is ConnectionState.LOCAL_CLOSING


def test_messages_before_a_close_in_the_same_read_can_be_answered():
    client, server = Connection(CLIENT), Connection(SERVER)
    server.receive_data(client.send(TextMessage("one")) + client.send(CloseConnection(code=1000)))
    replies = []
    for event in server.events():
        if isinstance(event, TextMessage):
            replies.append(server.send(TextMessage(event.data)))  # still OPEN until the close is reached
        else:
            assert server.state is ConnectionState.REMOTE_CLOSING
            replies.append(server.send(event.response()))
    assert server.state is ConnectionState.CLOSED
    client.receive_data(b"".join(replies))
    assert list(client.events()) == [TextMessage("one"), CloseConnection(code=1000, reason="")]


def test_end_of_stream_is_1006_then_data_is_refused():
    conn = Connection(SERVER)
    conn.receive_data(None)
    assert list(conn.events()) == [CloseConnection(code=CloseReason.ABNORMAL_CLOSURE)]
    assert conn.state is ConnectionState.CLOSED
    with pytest.raises(LocalProtocolError):
        conn.receive_data(b"x")


@pytest.mark.parametrize(
    "code, reason, payload",
    [
        (None, None, b""),
        (CloseReason.NO_STATUS_RCVD, None, b""),
        (1006, "lost", b"\x03\xe8lost"),  # local-only codes go out as 1000
    ],
)
def test_close_frames_as_wsproto_sends_them(code, reason, payload):
    assert Connection(SERVER).send(CloseConnection(code=code, reason=reason)) == encode_frame(8, payload)


def test_close_reason_cut_to_123_bytes_at_a_character_boundary():
    sent = Connection(SERVER).send(CloseConnection(code=4000, reason="é" * 62))  # 124 bytes of UTF-8
    assert sent == encode_frame(8, b"\x0f\xa0" + ("é" * 61).encode())
    with pytest.raises(TypeError):
        Connection(SERVER).send(CloseConnection(code=None, reason="no code"))


def test_compressed_messages_with_a_wsframe_server():
    client = wsproto.WSConnection(CLIENT)
    server = WsframeServer(deflate=WsframeDeflate())
    server.receive_data(client.send(Request(host="h", target="/", extensions=[PerMessageDeflate()])))
    [request] = server.events()
    client.receive_data(server.send(wsframe_events.AcceptConnection()))
    [accept] = client.events()
    assert [extension.name for extension in accept.extensions] == ["permessage-deflate"]
    data = client.send(TextMessage("compress me " * 40))
    assert data[0] & 0x40 and len(data) < 100
    server.receive_data(data)
    assert list(server.events()) == [wsframe_events.TextMessage("compress me " * 40)]
    client.receive_data(server.send(wsframe_events.BytesMessage(b"z" * 5000)))
    assert list(client.events()) == [BytesMessage(b"z" * 5000)]


def test_compressed_messages_between_wsconnections_with_negotiated_windows():
    client_side = PerMessageDeflate(client_max_window_bits=10, server_no_context_takeover=True)
    server_side = PerMessageDeflate(server_max_window_bits=12)
    client, server = open_pair([client_side], [server_side])
    assert (server_side.client_max_window_bits, server_side.server_max_window_bits) == (10, 12)
    assert client_side.server_max_window_bits == 12 and client_side.server_no_context_takeover
    for text in ["a" * 3000, "b" * 3000]:
        server.receive_data(client.send(TextMessage(text)))
        assert list(server.events()) == [TextMessage(text)]
        client.receive_data(server.send(TextMessage(text)))
        assert list(client.events()) == [TextMessage(text)]


def test_server_window_is_the_smaller_of_offer_and_setting():
    server_side = PerMessageDeflate(client_max_window_bits=10, server_max_window_bits=10)
    answer = server_side.accept("permessage-deflate; server_max_window_bits=12")
    # The client did not offer client_max_window_bits: its window may not be limited, so 15 is agreed.
    assert answer == "server_max_window_bits=10"
    assert (server_side.server_max_window_bits, server_side.client_max_window_bits) == (10, 15)
    assert PerMessageDeflate().accept("permessage-deflate; client_max_window_bits=8") is None


def test_an_enabled_extension_other_than_deflate_is_refused():
    class Custom(Extension):
        name = "x-custom"

        def enabled(self):
            return True

        def offer(self):
            return True

    with pytest.raises(ValueError, match="x-custom"):
        Connection(SERVER, [Custom()])


def test_server_keeps_frames_sent_before_it_accepts():
    client, server = wsproto.WSConnection(CLIENT), wsproto.WSConnection(SERVER)
    request = client.send(Request(host="h", target="/"))
    early = encode_frame(1, b"early", mask_key=MASK)
    server.receive_data(request + early[:3])
    [event] = server.events()
    server.receive_data(early[3:])
    server.send(AcceptConnection())
    assert list(server.events()) == [TextMessage("early")]


def test_request_event_and_bad_requests():
    server = wsproto.WSConnection(SERVER)
    headers = [
        (b"Host", b"xn--7ks3rz39bh7u"),
        (b"Connection", b"Upgrade"),
        (b"Upgrade", b"WebSocket"),
        (b"Sec-WebSocket-Version", b"13"),
        (b"Sec-WebSocket-Key", b"dGhlIHNhbXBsZSBub25jZQ=="),
        (b"Sec-WebSocket-Protocol", b"a, b"),
        (b"X-Y", b"z"),
    ]
    server.initiate_upgrade_connection(headers, b"/p?q")
    [request] = server.events()
    assert (request.host, request.target, request.subprotocols) == ("芝士汉堡", "/p?q", ["a", "b"])
    assert (b"x-y", b"z") in request.extra_headers and not any(n == b"host" for n, _ in request.extra_headers)
    response = server.send(AcceptConnection(subprotocol="b", extra_headers=[(b"Set-Cookie", b"k=v")]))
    assert b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n" in response
    assert b"Sec-WebSocket-Protocol: b\r\n" in response and b"Set-Cookie: k=v\r\n" in response
    with pytest.raises(RemoteProtocolError, match="Bad HTTP message") as info:
        wsproto.WSConnection(SERVER).receive_data(b"GET / HTTP/1.1\r\nHost: h\r\n" + b"X: " + b"y" * 70000)
    assert info.value.event_hint == RejectConnection(status_code=431)


def test_server_rejection_with_a_chunked_body():
    client, server = wsproto.WSConnection(CLIENT), wsproto.WSConnection(SERVER)
    server.receive_data(client.send(Request(host="h", target="/")))
    list(server.events())
    head = server.send(RejectConnection(status_code=403, headers=[(b"X-Why", b"no")], has_body=True))
    assert head == b"HTTP/1.1 403 \r\nX-Why: no\r\ntransfer-encoding: chunked\r\n\r\n"
    assert server.state is ConnectionState.REJECTING
    body = server.send(RejectData(b"nope", body_finished=False)) + server.send(RejectData(b"!"))
    assert body == b"4\r\nnope\r\n1\r\n!\r\n0\r\n\r\n" and server.state is ConnectionState.CLOSED
    with pytest.raises(LocalProtocolError):
        server.send(RejectData(b"more"))


def test_client_sees_an_interim_response_as_a_bodiless_rejection():
    client = wsproto.WSConnection(CLIENT)
    client.send(Request(host="h", target="/"))
    client.receive_data(b"HTTP/1.1 100 Continue\r\nX: y\r\n\r\n")
    assert list(client.events()) == [RejectConnection(status_code=100, headers=[(b"x", b"y")], has_body=False)]
    assert client.state is ConnectionState.CLOSED


def test_client_rejection_body_and_frames_after_the_101_in_one_read():
    client = wsproto.WSConnection(CLIENT)
    request = client.send(Request(host="h", target="/"))
    key = request.split(b"Sec-WebSocket-Key: ")[1].split(b"\r\n")[0]
    response = (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + generate_accept_token(key) + b"\r\n\r\n"
    )
    client.receive_data(response + encode_frame(1, b"hi"))
    assert list(client.events()) == [AcceptConnection(), TextMessage("hi")]
    refused = wsproto.WSConnection(CLIENT)
    refused.send(Request(host="h", target="/"))
    refused.receive_data(b"HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nabc")
    assert list(refused.events()) == [
        RejectConnection(status_code=404, headers=[(b"content-length", b"3")], has_body=True),
        RejectData(b"abc", body_finished=False),
        RejectData(b"", body_finished=True),
    ]


def test_messages_compare_copy_and_print_like_wsproto_events():
    message = TextMessage("x", message_finished=False)
    assert message == TextMessage(data="x", frame_finished=True, message_finished=False)
    assert message != BytesMessage("x", True, False) and message != ("x", True, False)
    assert hash(message) == hash(TextMessage("x", True, False))
    assert pickle.loads(pickle.dumps(message)) == message
    assert repr(message) == "TextMessage(data='x', frame_finished=True, message_finished=False)"
    with pytest.raises(AttributeError):
        message.data = "y"
    assert Message[str] is not None


def test_install_aliases_wsproto_and_its_submodules():
    code = (
        "import wsframe.compat.wsproto as compat\n"
        "compat.install()\n"
        "import wsproto, wsproto.events, wsproto.extensions\n"
        "from wsproto.connection import ConnectionType\n"
        "assert wsproto is compat and wsproto.events is compat.events\n"
        "assert ConnectionType is compat.ConnectionType\n"
        "compat.install()\n"  # again: harmless
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    refused = "import sys, types\nsys.modules['wsproto'] = types.ModuleType('wsproto')\n" + code
    result = subprocess.run([sys.executable, "-c", refused], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "imported already" in result.stderr
