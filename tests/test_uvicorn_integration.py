"""wsframe's uvicorn protocol (wsframe.integrations.uvicorn), driven in-process by wsframe's client.

uvicorn's own WebSocket tests judge it too (tools/uvicorn_suite.sh); these check what they leave out:
the choices of this protocol (deflate windows, ws_max_size after inflating, 1006 on a lost connection,
denial responses), errors the peer causes, frames sent along with the request, and what the two tests
uvicorn's suite only runs for its own classes check (keepalive). Skipped without uvicorn installed.
"""

import asyncio
import logging

import pytest

uvicorn = pytest.importorskip("uvicorn")

from uvicorn.config import Config  # noqa: E402
from uvicorn.protocols.utils import ClientDisconnected  # noqa: E402
from uvicorn.server import ServerState  # noqa: E402

from wsframe import encode_frame  # noqa: E402
from wsframe.connection import ClientConnection  # noqa: E402
from wsframe.deflate import PerMessageDeflate  # noqa: E402
from wsframe.events import (  # noqa: E402
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    RejectConnection,
    Request,
    TextMessage,
)
from wsframe.integrations.uvicorn import WebSocketProtocol  # noqa: E402

TIMEOUT = 10.0
MASK = b"\x01\x02\x03\x04"


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, TIMEOUT))


class Transport:
    """Records what the protocol writes and does to its transport."""

    def __init__(self):
        self.written = bytearray()
        self.closed = False
        self.reading_paused = False

    def get_extra_info(self, name, default=None):
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8000)}.get(name, default)

    def write(self, data):
        assert not self.closed, "write after close"
        self.written += data

    def close(self):
        self.closed = True

    def is_closing(self):
        return self.closed

    def pause_reading(self):
        self.reading_paused = True

    def resume_reading(self):
        self.reading_paused = False


class Session:
    """wsframe's ClientConnection wired to a WebSocketProtocol of a uvicorn config (in the running loop)."""

    def __init__(self, app, *, deflate=None, **options):
        config = Config(app=app, ws=WebSocketProtocol, lifespan="off", log_config=None, **options)
        config.load()
        self.server_state = ServerState()
        self.server_state.default_headers = config.encoded_headers  # the Server sets them as it starts
        self.protocol = WebSocketProtocol(config=config, server_state=self.server_state, app_state={"shared": 1})
        self.transport = Transport()
        self.protocol.connection_made(self.transport)
        self.client = ClientConnection(deflate=deflate)

    def request(self, request=None, then=b""):
        """Sends the upgrade request, and ``then`` bytes in the same read."""
        self.protocol.data_received(self.client.send(request or Request("127.0.0.1:8000", "/")) + then)

    def send(self, event):
        self.protocol.data_received(self.client.send(event))

    def received(self):
        """The events the server's output so far carries to the client."""
        data = bytes(self.transport.written)
        self.transport.written.clear()
        self.client.receive_data(data)
        return list(self.client.events())

    async def app_finished(self):
        await asyncio.gather(*self.server_state.tasks)


async def until(condition):
    while not condition():
        await asyncio.sleep(0.005)


def test_the_cli_name_loads_the_class():
    config = Config(app=lambda scope: None, ws="wsframe.integrations.uvicorn:WebSocketProtocol", log_config=None)
    config.load()
    assert config.ws_protocol_class is WebSocketProtocol


def test_scope_echo_and_deflate_as_uvicorns_default_protocol():
    scopes = []

    async def app(scope, receive, send):
        scopes.append(scope)
        await receive()
        await send({"type": "websocket.accept", "subprotocol": "chat"})
        while (message := await receive())["type"] == "websocket.receive":
            await send({"type": "websocket.send", **{k: v for k, v in message.items() if k != "type"}})

    async def main():
        session = Session(app, deflate=PerMessageDeflate(), root_path="/root")
        request = Request("127.0.0.1:8000", "/a%20b?x=1", subprotocols=["chat", "other"], headers=[("X-Name", "é")])
        session.request(request)
        await until(lambda: session.transport.written)
        (accept,) = session.received()
        assert isinstance(accept, AcceptConnection) and accept.subprotocol == "chat"
        # The windows uvicorn's default (websockets-sansio) protocol agrees to: 4 KiB each way.
        parameters = session.client.deflate_parameters
        assert (parameters.server_max_window_bits, parameters.client_max_window_bits) == (12, 12)
        for message in (TextMessage("héllo " * 1000), BytesMessage(bytes(range(256)) * 100)):
            session.send(message)
            await until(lambda: session.transport.written)
            assert session.received() == [message]
        session.send(CloseConnection(1000))
        await session.app_finished()
        return scopes[0]

    scope = run(main())
    assert scope["type"] == "websocket"
    assert (scope["path"], scope["raw_path"], scope["query_string"]) == ("/root/a b", b"/root/a%20b", b"x=1")
    assert scope["root_path"] == "/root" and scope["scheme"] == "ws"
    assert (scope["client"], scope["server"]) == (("127.0.0.1", 50000), ("127.0.0.1", 8000))
    assert (b"x-name", "é".encode("latin-1")) in scope["headers"]
    assert scope["subprotocols"] == ["chat", "other"]
    assert scope["state"] == {"shared": 1} and scope["extensions"] == {"websocket.http.response": {}}


def test_frames_sent_with_the_request_reach_the_app_after_accept():
    received = []

    async def app(scope, receive, send):
        await receive()
        await send({"type": "websocket.accept"})
        received.append(await receive())

    async def main():
        session = Session(app)
        session.request(then=encode_frame(0x1, b"early", mask_key=MASK))
        await session.app_finished()

    run(main())
    assert received == [{"type": "websocket.receive", "text": "early"}]


def test_a_burst_in_one_read_arrives_in_order_and_pauses_reading_until_consumed():
    async def app(scope, receive, send):
        await receive()
        await send({"type": "websocket.accept"})
        while (message := await receive())["type"] == "websocket.receive":
            await send({"type": "websocket.send", "text": message["text"]})

    async def main():
        session = Session(app)
        session.request()
        await until(lambda: session.transport.written)
        session.received()
        burst = b"".join(session.client.send(TextMessage(str(n))) for n in range(50))
        session.protocol.data_received(burst)
        assert session.transport.reading_paused
        await until(lambda: not session.transport.reading_paused)
        assert session.received() == [TextMessage(str(n)) for n in range(50)]

    run(main())


def test_ws_max_size_bounds_messages_after_inflating():
    disconnects = []

    async def app(scope, receive, send):
        await receive()
        await send({"type": "websocket.accept"})
        disconnects.append(await receive())

    async def main():
        session = Session(app, deflate=PerMessageDeflate(), ws_max_size=1000)
        session.request()
        await until(lambda: session.transport.written)
        session.received()
        session.send(TextMessage("a" * 5000))  # a few bytes on the wire, 5000 once inflated
        await session.app_finished()
        assert session.transport.closed
        return session.received()

    (close,) = run(main())
    assert close.code == 1009
    assert disconnects == [{"type": "websocket.disconnect", "code": 1009, "reason": close.reason}]


@pytest.mark.parametrize(
    "frame, code",
    [
        (encode_frame(0x1, b"\xff", mask_key=MASK), 1007),  # invalid UTF-8
        (encode_frame(0x1, b"unmasked"), 1002),  # a client must mask
    ],
    ids=["invalid-utf8", "unmasked"],
)
def test_a_peer_breaking_the_protocol_gets_the_close_code_and_the_app_a_disconnect(frame, code):
    outcome = []

    async def app(scope, receive, send):
        await receive()
        await send({"type": "websocket.accept"})
        outcome.append(await receive())
        try:
            await send({"type": "websocket.send", "text": "too late"})
        except ClientDisconnected:
            outcome.append("ClientDisconnected")

    async def main():
        session = Session(app)
        session.request()
        await until(lambda: session.transport.written)
        session.received()
        session.protocol.data_received(frame)
        await session.app_finished()
        assert session.transport.closed
        return session.received()

    (close,) = run(main())
    assert close.code == code
    assert outcome == [{"type": "websocket.disconnect", "code": code, "reason": close.reason}, "ClientDisconnected"]


def test_a_connection_lost_without_a_close_frame_is_1006():
    disconnects = []

    async def app(scope, receive, send):
        await receive()
        await send({"type": "websocket.accept"})
        disconnects.append(await receive())

    async def main():
        session = Session(app)
        session.request()
        await until(lambda: session.transport.written)
        session.protocol.connection_lost(None)
        await session.app_finished()
        assert session.protocol not in session.server_state.connections

    run(main())
    assert disconnects == [{"type": "websocket.disconnect", "code": 1006}]


def denial(status, headers, *bodies, end=True):
    """An app answering the handshake with a denial response of ``bodies`` (the last one unfinished unless end)."""

    async def app(scope, receive, send):
        await receive()
        await send({"type": "websocket.http.response.start", "status": status, "headers": headers})
        for index, body in enumerate(bodies):
            more = index < len(bodies) - 1 or not end
            await send({"type": "websocket.http.response.body", "body": body, "more_body": more})

    app.__name__ = "finished" if end else "unfinished"
    return app


@pytest.mark.parametrize(
    "app, status, body",
    [
        # Sent whole, with the Content-Length of the body sent (the app's is not repeated).
        (denial(401, [(b"content-length", b"5"), (b"x-why", b"token")], b"he", b"llo"), 401, b"hello"),
        (denial(404, [], b"no length"), 404, b"no length"),
        # The app ended before the body did: sent when its declared Content-Length says it is complete...
        (denial(404, [(b"Content-Length", b"0")], end=False), 404, b""),
        (denial(400, [(b"content-length", b"2")], b"ok", end=False), 400, b"ok"),
        # ... else the client gets a 500 rather than a truncated response.
        (denial(400, [(b"content-length", b"10")], b"part", end=False), 500, b"Internal Server Error"),
        (denial(400, [], b"part", end=False), 500, b"Internal Server Error"),
        # A response wsframe refuses to send (1xx is not a final status) becomes a 500 too.
        (denial(101, [], b""), 500, b"Internal Server Error"),
    ],
    ids=["whole", "no-length", "declared-empty", "declared-complete", "declared-longer", "unfinished", "1xx"],
)
def test_denial_responses(app, status, body, caplog):
    async def main():
        session = Session(app)
        session.request()
        await session.app_finished()
        assert session.transport.closed
        return session.received()

    (reject,) = run(main())
    assert isinstance(reject, RejectConnection)
    assert (reject.status_code, reject.body) == (status, body)
    assert [value for name, value in reject.headers if name.lower() == "content-length"] == [str(len(body))]
    assert ("server", "uvicorn") in reject.headers
    unfinished = "denial response" in caplog.text
    assert unfinished == (app.__name__ == "unfinished")


def test_accepting_a_subprotocol_the_client_did_not_offer_is_a_500():
    async def app(scope, receive, send):
        await receive()
        await send({"type": "websocket.accept", "subprotocol": "unoffered"})

    async def main():
        session = Session(app)
        session.request()
        await session.app_finished()
        return session.received()

    (reject,) = run(main())
    assert isinstance(reject, RejectConnection) and reject.status_code == 500


async def idle_app(scope, receive, send):
    await receive()
    await send({"type": "websocket.accept"})
    while (await receive())["type"] != "websocket.disconnect":
        pass


async def no_ping_scheduled(session):
    assert session.protocol.ping_timer is None


async def pings_answered_in_time_keep_the_connection(session):
    session.received()
    pings = 0
    while pings < 3:  # each answered ping schedules the next
        await until(lambda: session.transport.written)
        events = session.received()
        assert all(isinstance(event, Ping) for event in events)
        pings += len(events)
        session.protocol.data_received(session.client.data_to_send())  # the client's automatic pongs
    assert not session.transport.closed
    assert session.protocol.last_ping_rtt >= 0.0


async def a_late_pong_closes_with_1011(session):
    await until(lambda: session.transport.closed)
    assert session.received()[-1] == CloseConnection(1011, "keepalive ping timeout")


@pytest.mark.parametrize(
    ("options", "check"),
    [
        ({"ws_ping_interval": None}, no_ping_scheduled),
        ({"ws_ping_interval": 0.02, "ws_ping_timeout": 5.0}, pings_answered_in_time_keep_the_connection),
        ({"ws_ping_interval": 0.01, "ws_ping_timeout": 0.01}, a_late_pong_closes_with_1011),
    ],
    ids=["disabled", "answered", "late"],
)
def test_keepalive(options, check):
    async def main():
        session = Session(idle_app, **options)
        session.request()
        await until(lambda: session.transport.written)
        await check(session)
        session.protocol.connection_lost(None)
        await session.app_finished()

    run(main())


def test_access_log_lines(caplog):
    async def accepting(scope, receive, send):
        await receive()
        await send({"type": "websocket.accept"})

    async def refusing(scope, receive, send):
        await receive()
        await send({"type": "websocket.close"})

    async def main(app, target):
        session = Session(app)
        session.request(Request("127.0.0.1:8000", target))
        await session.app_finished()
        return session.received()

    with caplog.at_level(logging.INFO, logger="uvicorn.error"):
        run(main(accepting, "/chat?room=1"))
        (reject,) = run(main(refusing, "/private"))
    assert reject.status_code == 403
    messages = [record.getMessage() for record in caplog.records]
    assert '127.0.0.1:50000 - "WebSocket /chat?room=1" [accepted]' in messages
    assert '127.0.0.1:50000 - "WebSocket /private" 403' in messages
