"""The asyncio integration: echo, negotiation, closing, timeouts, flow control and misbehaving peers.

Every test runs on asyncio's default event loop and on uvloop (skipped when it is not installed), over
the active hot path (tools/test.sh runs this module once per implementation). Servers bind port 0 on
127.0.0.1. Waits are bounded generously; nothing asserts how long something took.
"""

import asyncio
import contextlib
import gc
import logging
import random
import shutil
import socket
import ssl
import subprocess
import tracemalloc
import zlib

import pytest

from wsframe import encode_frame, handshake
from wsframe.asyncio import ConnectionClosed, ConnectionClosedError, ConnectionClosedOK, broadcast, connect, serve
from wsframe.connection import ClientConnection, ConnectionState, ServerConnection
from wsframe.deflate import PerMessageDeflate
from wsframe.errors import HandshakeError, HandshakeRejected
from wsframe.events import AcceptConnection, BytesMessage, CloseConnection, RejectConnection, Request, TextMessage

TEST_TIMEOUT = 20.0
MASK = b"\x0f\x1e\x2d\x3c"
PING, CLOSE = 0x9, 0x8

try:
    import uvloop
except ImportError:
    uvloop = None


@pytest.fixture(params=["asyncio", "uvloop"])
def run(request):
    """Runs a coroutine to completion on a fresh event loop of the parametrized kind."""
    if request.param == "uvloop":
        if uvloop is None:
            pytest.skip("uvloop is not installed")
        factory = uvloop.new_event_loop
    else:
        factory = asyncio.new_event_loop

    def run_coroutine(coroutine):
        loop = factory()
        try:
            return loop.run_until_complete(asyncio.wait_for(coroutine, TEST_TIMEOUT))
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    return run_coroutine


def client_frame(opcode, payload):
    return encode_frame(opcode, payload, mask_key=MASK)


async def echo(ws):
    async for message in ws:
        await ws.send(message)


def url(server, path="/"):
    return f"ws://127.0.0.1:{server.port}{path}"


async def until(predicate, timeout=5.0):
    """Waits until ``predicate()`` holds; fails the test if it does not within ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "condition not reached"
        await asyncio.sleep(0.005)


class RawClient:
    """A client on asyncio streams that speaks through a sans-I/O ClientConnection but writes what it likes."""

    def __init__(self, reader, writer):
        self.reader, self.writer = reader, writer
        self.connection = ClientConnection(deflate=None)
        self.pending = []  # events that came along with the 101

    @classmethod
    async def open(cls, server, *, handshake=True, receive_buffer=None):
        sock = socket.socket()
        if receive_buffer is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", server.port))
        reader, writer = await asyncio.open_connection(sock=sock)
        client = cls(reader, writer)
        if handshake:
            writer.write(client.connection.send(Request(host="127.0.0.1", target="/")))
            accept, *client.pending = await client.events()
            assert isinstance(accept, AcceptConnection)
        return client

    async def events(self):
        """The events of the next read that yields any (frames after the handshake included)."""
        if self.pending:
            events, self.pending = self.pending, []
            return events
        while True:
            data = await asyncio.wait_for(self.reader.read(65536), 5)
            self.connection.receive_data(data or None)
            events = list(self.connection.events())
            if events or not data:
                return events

    async def read_until_eof(self):
        return await asyncio.wait_for(self.reader.read(), 5)


@contextlib.asynccontextmanager
async def serving(handler, **options):
    """``asyncio.start_server(handler, **options)`` for the block. At its end every connection is aborted
    before the server is closed: ``Server.wait_closed()`` waits for them (Python 3.12+), and a handler
    here may leave its connection open on purpose."""
    writers = []

    async def recording(reader, writer):
        writers.append(writer)
        await handler(reader, writer)

    server = await asyncio.start_server(recording, **options)
    try:
        yield server
    finally:
        server.close()
        for writer in writers:
            writer.transport.abort()
        await server.wait_closed()


@contextlib.asynccontextmanager
async def raw_server(on_open, *, receive_buffer=None):
    """A server on asyncio streams that answers the upgrade (no compression) through a sans-I/O
    ServerConnection, then leaves the connection to ``on_open(reader, writer)``; yields its port."""
    sock = socket.socket()
    if receive_buffer is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.bind(("127.0.0.1", 0))

    async def answer(reader, writer):
        connection = ServerConnection()
        while not any(isinstance(event, Request) for event in connection.events()):
            connection.receive_data(await reader.read(65536) or None)
        writer.write(connection.send(AcceptConnection()))
        await on_open(reader, writer)

    async with serving(answer, sock=sock):
        yield sock.getsockname()[1]


# -- messages --------------------------------------------------------------------------------------


def test_echo_text_and_binary(run):
    async def main():
        async with await serve(echo, port=0) as server:
            async with connect(url(server)) as ws:
                await ws.send("héllo")
                assert await ws.recv() == "héllo"
                await ws.send(b"\x00\xffbinary")
                assert await ws.recv() == b"\x00\xffbinary"
                await ws.send(bytearray(b"array"))
                assert await ws.recv() == b"array"
            assert ws.close_code == 1000

    run(main())


def test_cancelled_serve_forever_leaves_the_open_connections_to_close(run):
    # asyncio's own Server.serve_forever, cancelled, waits for every connection to end (Python 3.12+):
    # SIGTERM to a server with clients then hung until they left, and they never got their 1001.
    async def main():
        async with await serve(echo, port=0) as server:
            serving = asyncio.ensure_future(server.serve_forever())
            ws = await connect(url(server))
            await ws.send("x")
            assert await ws.recv() == "x"
            serving.cancel()
            with pytest.raises(asyncio.CancelledError):
                await asyncio.wait_for(serving, 5)
        await asyncio.wait_for(ws.wait_closed(), 5)
        assert ws.close_code == 1001

    run(main())


def test_a_handler_ended_by_the_peer_leaving_is_not_an_error(run, caplog):
    ended = []

    async def handler(ws):
        try:
            await ws.recv()  # the peer vanishes without a close frame: ConnectionClosed here
        finally:
            ended.append(ws.close_code)

    async def main():
        async with await serve(handler, port=0) as server:
            raw = await RawClient.open(server)
            raw.writer.transport.abort()
            for _ in range(100):
                if ended:
                    break
                await asyncio.sleep(0.01)

    with caplog.at_level(logging.ERROR, logger="wsframe.asyncio"):
        run(main())
    assert ended == [1006]
    assert [record.getMessage() for record in caplog.records if record.name == "wsframe.asyncio"] == []


@pytest.mark.parametrize("compression", [True, False])
def test_echo_large_messages(run, compression):
    text = "wsframe ✓ " * 120_000  # 1.3 MB of UTF-8
    binary = bytes(range(256)) * 5000  # 1.28 MB
    options = {"max_message_size": 2 << 20}  # over the 1 MiB default
    if not compression:
        options["compression"] = None

    async def main():
        async with await serve(echo, port=0, **options) as server:
            async with connect(url(server), **options) as ws:
                await ws.send(text)
                await ws.send(binary)
                assert await ws.recv() == text
                assert await ws.recv() == binary
                assert ws.extensions == (["permessage-deflate"] if compression else [])

    run(main())


# How real senders deflate: websockets' default offer (mem_level 5), the same with a 10-bit window and no
# context takeover, and zlib's worst measured growth on random bytes with its default strategy (window 9,
# mem_level 4: 5.1%; the table in wsframe/deflate.py).
REAL_SENDERS = {
    "websockets-default": dict(mem_level=5),
    "window-10-no-takeover": dict(client_max_window_bits=10, client_no_context_takeover=True, mem_level=5),
    "zlib-worst": dict(client_max_window_bits=9, mem_level=4),
}


@pytest.mark.parametrize("sender", REAL_SENDERS)
def test_incompressible_message_of_the_maximum_size_is_accepted_compressed(run, sender):
    # Random bytes grow under deflate; the default frame limit used to refuse them with 1009.
    message = random.randbytes(1 << 20)  # the default max_message_size

    async def main():
        async with await serve(echo, port=0) as server:
            async with connect(url(server), compression=PerMessageDeflate(**REAL_SENDERS[sender])) as ws:
                await ws.send(message)
                assert await ws.recv() == message
                assert ws.extensions == ["permessage-deflate"]
            assert ws.close_code == 1000

    run(main())


@pytest.mark.parametrize("offer", [{}, dict(client_max_window_bits=10, client_no_context_takeover=True)])
def test_websockets_client_sends_an_incompressible_message_of_the_maximum_size(run, offer):
    websockets = pytest.importorskip("websockets")  # in the bench extra
    from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory

    message = random.randbytes(1 << 20)
    extensions = [ClientPerMessageDeflateFactory(**offer, compress_settings={"memLevel": 5})] if offer else None

    async def main():
        async with await serve(echo, port=0) as server:
            async with websockets.connect(url(server), max_size=None, extensions=extensions) as ws:
                assert ws.protocol.extensions  # deflate was agreed
                await ws.send(message)
                assert await ws.recv() == message

    run(main())


def test_on_message_callback_echoes_without_recv(run):
    async def handler(ws):
        ws.on_message = lambda ws, message: ws.send_nowait(message)
        await ws.wait_closed()

    async def main():
        async with await serve(handler, port=0) as server:
            async with connect(url(server)) as ws:
                received = asyncio.Queue()
                ws.on_message = lambda ws, message: received.put_nowait(message)
                for message in ("héllo", b"\x00\xff", "x" * 100_000):
                    ws.send_nowait(message)
                assert [await received.get() for _ in range(3)] == ["héllo", b"\x00\xff", "x" * 100_000]
            assert ws.close_code == 1000

    run(main())


def test_on_message_gets_the_messages_that_were_waiting_first(run):
    async def main():
        async with await serve(echo, port=0) as server:
            async with connect(url(server)) as ws:
                for index in range(5):
                    await ws.send(str(index))
                await until(lambda: len(ws._messages) == 5)
                delivered = []
                ws.on_message = lambda ws, message: delivered.append(message)
                assert delivered == ["0", "1", "2", "3", "4"]
                await ws.send("5")
                await until(lambda: len(delivered) == 6)
                assert delivered[5] == "5"

    run(main())


def test_on_message_raising_closes_1011_and_discards_later_messages(run, caplog):
    seen = []

    def on_message(ws, message):
        seen.append(message)
        raise ValueError("application bug")

    async def handler(ws):
        ws.on_message = on_message
        await ws.wait_closed()

    async def main():
        async with await serve(handler, port=0) as server:
            raw = await RawClient.open(server)
            raw.writer.write(client_frame(1, b"first") + client_frame(1, b"second"))
            events = await events_until_close(raw)
            assert [type(event) for event in events] == [CloseConnection] and events[0].code == 1011
            raw.writer.write(raw.connection.data_to_send())  # the close answered
            assert await raw.read_until_eof() == b""
        assert seen == ["first"]
        assert "on_message callback failed" in caplog.text

    run(main())


def test_on_message_replaced_inside_a_read_hands_the_rest_of_that_read_on(run):
    # One read holds four messages: the first callback takes one and hands over to a second, which takes
    # one and unsets itself; the rest of the same read waits for recv(), in order.
    taken = []

    def second(ws, message):
        taken.append(("second", message))
        ws.on_message = None

    def first(ws, message):
        taken.append(("first", message))
        ws.on_message = second

    async def handler(ws):
        ws.on_message = first
        for _ in range(2):
            taken.append(("recv", await ws.recv()))
        await ws.send("done")

    async def main():
        async with await serve(handler, port=0) as server:
            raw = await RawClient.open(server)
            raw.writer.write(b"".join(client_frame(1, text.encode()) for text in ("a", "b", "c", "d")))
            assert (await raw.events())[0] == TextMessage("done")
            raw.writer.close()  # the server need not wait for a close frame
        assert taken == [("first", "a"), ("second", "b"), ("recv", "c"), ("recv", "d")]

    run(main())


def test_on_message_answers_to_one_read_go_out_in_one_write(run):
    # A read of many messages to a callback that answers each: one write (one system call) for all of
    # them, not one per message, and the answers in order.
    writes = []

    async def handler(ws):
        ws.transport = counting = CountingTransport(ws.transport)
        ws.on_message = lambda ws, message: ws.send_nowait(message)
        await ws.wait_closed()
        writes.append((counting.writes, counting.unjoined))

    async def main():
        async with await serve(handler, port=0, compression=None) as server:
            raw = await RawClient.open(server)
            texts = [str(index) for index in range(3000)]  # more than IOV_MAX parts in one writelines
            raw.writer.write(b"".join(client_frame(1, text.encode()) for text in texts))
            received = []
            while len(received) < len(texts):
                received += await raw.events()
            assert received == [TextMessage(text) for text in texts]
            raw.writer.write(raw.connection.send(CloseConnection(1000)))
            assert (await raw.events())[0] == CloseConnection(1000)
        assert writes[0][1][0] == [len(text) + 2 for text in texts]  # the answers: the first write, whole
        assert writes[0][0] == 2  # then the close frame

    run(main())


def test_what_a_callback_writes_amid_a_read_keeps_its_order(run, caplog):
    # Held answers, a broadcast that includes the connection itself, and the close frame after the
    # callback raised all go out in the order they were written; messages after the error are discarded.
    def on_message(ws, message):
        ws.send_nowait(message)
        if message == "3":
            broadcast([ws], "to all")
        if message == "5":
            raise ValueError("application bug")

    async def handler(ws):
        ws.on_message = on_message
        await ws.wait_closed()

    async def main():
        async with await serve(handler, port=0, compression=None) as server:
            raw = await RawClient.open(server)
            raw.writer.write(b"".join(client_frame(1, str(index).encode()) for index in range(8)))
            events = await events_until_close(raw)
            assert events == [
                *(TextMessage(text) for text in ("0", "1", "2", "3", "to all", "4", "5")),
                CloseConnection(1011, ""),
            ]
            raw.writer.write(raw.connection.data_to_send())  # the close answered
            assert await raw.read_until_eof() == b""
        assert "on_message callback failed" in caplog.text

    run(main())


def test_a_client_callback_answering_large_messages_amid_a_read_keeps_their_order(run):
    # A client writes a large binary message at once (masked into the buffer it reuses); what it held
    # for the same read goes out before it.
    replies = []
    texts = ["0", "big 1", "2", "big 3", "4"]

    async def handler(ws):
        ws.transport.write(b"".join(ws.connection.send_text(text) for text in texts))
        async for message in ws:
            replies.append(message)
            if len(replies) == len(texts):
                break

    def answer(ws, text):
        ws.send_nowait(text.encode() * (5_000 if text.startswith("big") else 1))

    async def main():
        async with await serve(handler, port=0, compression=None) as server:
            async with connect(url(server), compression=None) as ws:
                ws.on_message = answer
                await until(lambda: len(replies) == len(texts))
        assert replies == [text.encode() * (5_000 if text.startswith("big") else 1) for text in texts]
        assert len(replies[1]) >= 16 * 1024  # written apart from the held ones

    run(main())


def test_many_small_messages_in_order(run):
    async def main():
        async with await serve(echo, port=0) as server:
            async with connect(url(server)) as ws:

                async def sender():
                    for index in range(3000):
                        await ws.send(f"m{index}" if index % 2 else index.to_bytes(4, "big"))

                send_task = asyncio.ensure_future(sender())
                received = [await ws.recv() for _ in range(3000)]
                await send_task
        assert received == [f"m{index}" if index % 2 else index.to_bytes(4, "big") for index in range(3000)]

    run(main())


def test_many_clients_at_once(run):
    async def main():
        async with await serve(echo, port=0) as server:

            async def client(number):
                async with connect(url(server)) as ws:
                    for index in range(20):
                        await ws.send(f"{number}:{index}")
                        assert await ws.recv() == f"{number}:{index}"
                return number

            assert sorted(await asyncio.gather(*(client(number) for number in range(30)))) == list(range(30))

    run(main())


# -- negotiation -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "server_compression, client_compression, expected",
    [(True, True, ["permessage-deflate"]), (False, True, []), (True, False, [])],
)
def test_compression_negotiation(run, server_compression, client_compression, expected):
    seen = []

    async def handler(ws):
        seen.append(ws.extensions)
        await echo(ws)

    async def main():
        server_options = {} if server_compression else {"compression": None}
        client_options = {} if client_compression else {"compression": None}
        async with await serve(handler, port=0, **server_options) as server:
            async with connect(url(server), **client_options) as ws:
                message = '{"key": "value", "list": [1, 2, 3]}' * 100
                await ws.send(message)
                assert await ws.recv() == message
                assert ws.extensions == expected
        assert seen == [expected]

    run(main())


def test_compression_chosen_per_request(run):
    def compression(request):
        if request.target == "/fail":
            raise RuntimeError("policy failed")
        return None if request.target == "/plain" else PerMessageDeflate()

    async def main():
        async with await serve(echo, port=0, compression=compression) as server:
            for path, expected in (("/", ["permessage-deflate"]), ("/plain", [])):
                async with connect(url(server, path)) as ws:
                    assert ws.extensions == expected
                    await ws.send("x" * 1000)
                    assert await ws.recv() == "x" * 1000
            with pytest.raises(HandshakeRejected) as caught:
                await connect(url(server, "/fail"))
            assert caught.value.status == 500

    run(main())


def test_serving_on_a_given_socket(run):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))

    async def main():
        async with await serve(echo, sock=sock) as server:
            assert server.port == sock.getsockname()[1]
            async with connect(url(server)) as ws:
                await ws.send("on the given socket")
                assert await ws.recv() == "on the given socket"

    run(main())


def test_subprotocol_negotiation(run):
    async def handler(ws):
        await ws.send(str(ws.subprotocol))

    async def main():
        async with await serve(handler, port=0, subprotocols=["chat.v2", "chat.v1"]) as server:
            async with connect(url(server), subprotocols=["chat.v1", "chat.v2"]) as ws:
                assert ws.subprotocol == "chat.v2"
                assert await ws.recv() == "chat.v2"
            async with connect(url(server), subprotocols=["other"]) as ws:
                assert ws.subprotocol is None
                assert await ws.recv() == "None"

    run(main())


def test_refused_origin_gets_403(run):
    async def main():
        async with await serve(echo, port=0, origins=["https://good.example"]) as server:
            with pytest.raises(HandshakeRejected) as info:
                await connect(url(server), origin="https://evil.example")
            assert info.value.status == 403
            async with connect(url(server), origin="https://good.example") as ws:
                await ws.send("ok")
                assert await ws.recv() == "ok"

    run(main())


def test_process_request_rejects_and_accepts(run):
    seen = []

    async def process_request(request):
        seen.append((request.target, dict(request.headers).get("Authorization")))
        await asyncio.sleep(0)
        if dict(request.headers).get("Authorization") != "Bearer secret":
            return RejectConnection(401, [("WWW-Authenticate", "Bearer")], b"who are you?")
        return None

    async def handler(ws):
        await ws.send(ws.request.target)

    async def main():
        async with await serve(handler, port=0, process_request=process_request) as server:
            with pytest.raises(HandshakeRejected) as info:
                await connect(url(server, "/private"))
            assert (info.value.status, info.value.body) == (401, b"who are you?")
            assert ("WWW-Authenticate", "Bearer") in info.value.headers
            async with connect(url(server, "/private?x=1"), extra_headers=[("Authorization", "Bearer secret")]) as ws:
                assert await ws.recv() == "/private?x=1"
        assert seen == [("/private", None), ("/private?x=1", "Bearer secret")]

    run(main())


def test_reading_pauses_while_process_request_decides(run):
    decide = release = None
    payload = b"e" * 100
    frame = encode_frame(0x2, payload, mask_key=MASK)
    count = 20_000  # 2.1 MB: twice what the codec keeps before the accept

    async def process_request(request):
        await decide.wait()

    async def handler(ws):
        await release.wait()
        received = 0
        async for message in ws:
            if message == "end":
                break
            received += message == payload
        await ws.send(str(received))

    async def main():
        nonlocal decide, release
        decide, release = asyncio.Event(), asyncio.Event()
        async with await serve(handler, port=0, max_queue=4, process_request=process_request) as server:
            raw = await RawClient.open(server, handshake=False)
            request = raw.connection.send(Request(host="127.0.0.1", target="/"))
            raw.writer.write(request + frame * count + encode_frame(0x1, b"end", mask_key=MASK))
            await until(lambda: server.connections)
            [ws] = server.connections
            await until(lambda: not ws.transport.is_reading())
            await asyncio.sleep(0.2)  # time for more reads, were reading not paused
            assert not ws.transport.is_reading() and ws.connection.state is ConnectionState.CONNECTING
            assert ws.connection._data_before_accept_size <= 256 * 1024  # one read at most
            decide.set()
            # Accepted: what was read is decoded, then the full queue keeps reading paused.
            await until(lambda: ws._messages)
            await asyncio.sleep(0.2)
            assert not ws.transport.is_reading() and len(ws._messages) * len(frame) <= 256 * 1024
            release.set()
            events = []
            while not events:
                events = [event for event in await raw.events() if isinstance(event, TextMessage)]
            assert events == [TextMessage(str(count))]
            raw.writer.transport.abort()

    run(main())


def application_raising(request):
    raise RuntimeError("bug in the application")


@pytest.mark.parametrize(
    ("option", "answer"),
    [
        ("process_request", application_raising),
        ("process_request", lambda request: RejectConnection(403, [("X-Reason", "a\r\nSet-Cookie: b")])),
        ("process_request", lambda request: RejectConnection(403, body="a str")),
        ("process_request", lambda request: (403, [], b"websockets-style")),
        ("process_request", lambda request: AcceptConnection()),
        ("http_handler", application_raising),
        ("http_handler", lambda request: (200, [("X-Reason", "a\r\nSet-Cookie: b")], b"")),
        ("http_handler", lambda request: (200, [], "a str")),
        ("http_handler", lambda request: (101, [], b"")),
        ("http_handler", lambda request: (200, b"")),
        ("http_handler", lambda request: RejectConnection(403)),
    ],
    ids=[
        "raises",
        "crlf-in-header",
        "str-body",
        "tuple",
        "accept-event",
        "http-raises",
        "http-crlf-in-header",
        "http-str-body",
        "http-status-101",
        "http-short-tuple",
        "http-reject-event",
    ],
)
def test_application_failing_or_answering_invalid_gets_500_and_close(run, caplog, option, answer):
    """process_request (asked about an upgrade) or http_handler (about a plain GET)."""
    loop_errors = []

    async def main():
        asyncio.get_running_loop().set_exception_handler(lambda loop, context: loop_errors.append(context))
        server = await serve(echo, port=0, **{option: answer})
        raw = await RawClient.open(server, handshake=False)
        if option == "process_request":
            raw.writer.write(raw.connection.send(Request(host="127.0.0.1", target="/")))
        else:
            raw.writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        response = await raw.read_until_eof()
        assert response.startswith(b"HTTP/1.1 500 ")
        await asyncio.wait_for(server.close(), 5)
        raw.writer.transport.abort()
        gc.collect()  # a task that ended with an unretrieved exception would report it now

    with caplog.at_level(logging.ERROR, logger="wsframe.asyncio"):
        run(main())
    assert loop_errors == []
    assert len([record for record in caplog.records if record.name == "wsframe.asyncio"]) == 1


def test_origins_as_a_str_refused_and_a_failing_policy_gets_403(run):
    async def main():
        with pytest.raises(TypeError):
            await serve(echo, port=0, origins="https://good.example")
        async with await serve(echo, port=0, origins=lambda origin: origin.endswith(".example")) as server:
            with pytest.raises(HandshakeRejected) as info:
                await connect(url(server))  # no Origin header: the policy raises on None
            assert info.value.status == 403
            async with connect(url(server), origin="https://good.example") as ws:
                await ws.send("ok")
                assert await ws.recv() == "ok"

    run(main())


def test_http_handler_serves_plain_requests(run):
    def http_handler(request):
        if request.target == "/hello":
            return 200, [("Content-Type", "text/plain")], b"hello over HTTP"
        return None

    async def get(server, target):
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(f"GET {target} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        response = await asyncio.wait_for(reader.read(), 5)
        writer.close()
        return response

    async def main():
        async with await serve(echo, port=0, http_handler=http_handler) as server:
            response = await get(server, "/hello")
            assert response.startswith(b"HTTP/1.1 200 OK\r\n")
            assert response.endswith(b"\r\n\r\nhello over HTTP")
            assert (await get(server, "/other")).startswith(b"HTTP/1.1 426 ")
            async with connect(url(server, "/hello")) as ws:  # upgrades still reach the handler
                await ws.send("ws")
                assert await ws.recv() == "ws"
        async with await serve(echo, port=0) as server:
            assert (await get(server, "/hello")).startswith(b"HTTP/1.1 426 ")

    run(main())


def test_http_handler_gets_the_request_the_codec_parsed(run, monkeypatch):
    # One parse per request head: the server answers plain HTTP from the codec's HandshakeError.request.
    heads_parsed = []
    feed = handshake.RequestReader.feed

    def counting_feed(self, data):
        request = feed(self, data)
        if request is not None:
            heads_parsed.append(request)
        return request

    monkeypatch.setattr(handshake.RequestReader, "feed", counting_feed)
    handled = []

    def http_handler(request):
        handled.append(request)
        return 200, [], b"ok"

    async def main():
        async with await serve(echo, port=0, http_handler=http_handler) as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(b"GET /plain HTTP/1.1\r\nHost: x\r\n\r\n")
            response = await asyncio.wait_for(reader.read(), 5)
            writer.close()
            async with connect(url(server)) as ws:  # an upgrade: parsed by the codec alone as well
                await ws.send("ws")
                assert await ws.recv() == "ws"
        assert response.startswith(b"HTTP/1.1 200 OK\r\n") and b"426" not in response

    run(main())
    assert [request.target for request in heads_parsed] == ["/plain", "/"]
    assert handled == heads_parsed[:1]


def test_connect_checks_its_url():
    with pytest.raises(ValueError):
        connect("http://127.0.0.1/")
    with pytest.raises(ValueError):
        connect("ws://127.0.0.1/", ssl=ssl.create_default_context())


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ws://user:hunter2@127.0.0.1/", "credentials"),
        ("wss://user@127.0.0.1/", "credentials"),
        ("ws://127.0.0.1:0/", "port 0"),
        ("ws://[::1]:0/", "port 0"),
        ("ws://127.0.0.1:65536/", "out of range"),
        ("ws://127.0.0.1/chat#top", "fragment"),
        ("ws://b\xfccher..example/", "internationalized"),
    ],
)
def test_connect_refuses_urls_it_cannot_honour(url, reason):
    with pytest.raises(ValueError, match=reason) as info:
        connect(url)
    assert "hunter2" not in str(info.value)


def test_connect_sends_and_resolves_an_idn_host_as_punycode():
    """Host and the name resolved are the IDNA form; a stub resolver maps that name to loopback."""
    resolved, hosts = [], []

    async def process_request(request):
        hosts.append(request.host)

    async def main():
        loop = asyncio.get_running_loop()
        real_getaddrinfo = loop.getaddrinfo

        async def getaddrinfo(host, port, **kwargs):
            resolved.append(host)
            return await real_getaddrinfo("127.0.0.1", port, **kwargs)

        loop.getaddrinfo = getaddrinfo
        async with await serve(echo, port=0, process_request=process_request) as server:
            async with connect(f"ws://B\xfccher.example:{server.port}/") as ws:
                await ws.send("ok")
                assert await ws.recv() == "ok"
        return server.port

    port = asyncio.run(asyncio.wait_for(main(), TEST_TIMEOUT))  # the stub resolver needs asyncio's loop
    assert resolved == ["xn--bcher-kva.example"]
    assert hosts == [f"xn--bcher-kva.example:{port}"]


# -- ping, pong, close -----------------------------------------------------------------------------


def test_ping_returns_a_pong_waiter_both_ways(run):
    server_side = []

    async def handler(ws):
        waiter = await ws.ping(b"from server")
        await waiter
        server_side.append(waiter.done())
        await echo(ws)

    async def main():
        async with await serve(handler, port=0) as server:
            async with connect(url(server)) as ws:
                first = await ws.ping(b"1")
                second = await ws.ping("2")
                repeated = [await ws.ping() for _ in range(3)]
                await asyncio.wait_for(asyncio.gather(first, second, *repeated), 5)
                await ws.send("still fine")
                assert await ws.recv() == "still fine"
        assert server_side == [True]

    run(main())


def test_client_closes_with_a_code(run):
    seen = []

    async def handler(ws):
        try:
            await ws.recv()
        except ConnectionClosed as exc:
            seen.append((type(exc), exc.code, exc.reason, ws.close_code, ws.close_reason))

    async def main():
        async with await serve(handler, port=0) as server:
            ws = await connect(url(server))
            await ws.close(4000, "bye")
            assert ws.close_code == 4000  # the server echoes the code
            with pytest.raises(ConnectionClosedError) as info:
                await ws.send("late")
            assert info.value.code == 4000
            await until(lambda: seen)
        assert seen == [(ConnectionClosedError, 4000, "bye", 4000, "bye")]

    run(main())


@pytest.mark.parametrize("code, error", [(1000, None), (1001, None), (4001, ConnectionClosedError)])
def test_server_closes_with_a_code(run, code, error):
    async def handler(ws):
        await ws.send("before close")
        await ws.close(code, "server says")

    async def main():
        async with await serve(handler, port=0) as server:
            async with connect(url(server)) as ws:
                received = []
                if error is None:
                    received = [message async for message in ws]
                else:
                    with pytest.raises(error) as info:
                        async for message in ws:
                            received.append(message)
                    assert (info.value.code, info.value.reason) == (code, "server says")
                assert received == ["before close"]
                assert (ws.close_code, ws.close_reason) == (code, "server says")

    run(main())


def test_handler_returning_closes_1000_and_raising_closes_1011(run):
    async def handler(ws):
        message = await ws.recv()
        if message == "fail":
            raise RuntimeError("handler bug (expected by the test)")

    async def main():
        async with await serve(handler, port=0) as server:
            async with connect(url(server)) as ws:
                await ws.send("return")
                assert [message async for message in ws] == []
                assert ws.close_code == 1000
            async with connect(url(server)) as ws:
                await ws.send("fail")
                with pytest.raises(ConnectionClosedError) as info:
                    await ws.recv()
                assert info.value.code == ws.close_code == 1011

    run(main())


def test_graceful_shutdown_closes_clients_with_1001(run):
    started = []

    async def handler(ws):
        started.append(ws)
        await echo(ws)

    async def main():
        server = await serve(handler, port=0, close_timeout=2)
        clients = [await connect(url(server)) for _ in range(3)]
        await until(lambda: len(started) == 3)
        await server.close()
        await server.wait_closed()
        for ws in clients:
            with pytest.raises(ConnectionClosedOK):
                await ws.recv()
            assert ws.close_code == 1001
            await ws.wait_closed()
        assert not server.connections
        with pytest.raises(OSError):
            await connect(url(server))

    run(main())


def test_shutdown_cancels_handlers_that_ignore_the_close(run):
    cancelled = []

    async def handler(ws):
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    async def main():
        server = await serve(handler, port=0, close_timeout=0.2)
        ws = await connect(url(server))
        await until(lambda: server.connections)
        await server.close()
        assert cancelled == [True]
        assert ws.close_code == 1001

    run(main())


def test_keepalive_pings_are_answered_and_a_silent_peer_is_closed_1011(run):
    async def main():
        async with await serve(echo, port=0, ping_interval=0.05, ping_timeout=0.5) as server:
            async with connect(url(server), ping_interval=0.05, ping_timeout=0.5) as ws:
                await asyncio.sleep(0.3)  # several keepalive rounds
                await ws.send("alive")
                assert await ws.recv() == "alive"
            raw = await RawClient.open(server)  # never answers pings: reads nothing
            await until(lambda: not server.connections, timeout=10)
            data = await raw.read_until_eof()
            raw.connection.receive_data(data)
            raw.connection.receive_data(None)
            raw.writer.close()
            closes = [event for event in raw.connection.events() if isinstance(event, CloseConnection)]
            assert closes and closes[0].code == 1011

    run(main())


# -- misbehaving peers -------------------------------------------------------------------------------


def test_peer_stalling_in_the_handshake_is_dropped_after_open_timeout(run):
    async def main():
        async with await serve(echo, port=0, open_timeout=0.2) as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n")  # and never the rest
            assert await asyncio.wait_for(reader.read(), 5) == b""
            writer.close()
            async with connect(url(server)) as ws:  # others are still served
                await ws.send("ok")
                assert await ws.recv() == "ok"

    run(main())


def test_endless_interim_responses_fail_the_handshake(run):
    """A server answering 100 Continue forever: the client gives up with HandshakeError, not at open_timeout."""

    async def answer_with_interims(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n" * 10_000)
        await reader.read()  # until the client hangs up

    async def main():
        async with serving(answer_with_interims, host="127.0.0.1", port=0) as server:
            port = server.sockets[0].getsockname()[1]
            with pytest.raises(HandshakeError, match="interim"):
                await connect(f"ws://127.0.0.1:{port}/", open_timeout=TEST_TIMEOUT)

    run(main())


def test_stalled_tls_handshake_is_dropped_after_open_timeout(run):
    """The server's open timer starts after TLS; the TLS handshake itself is bounded by open_timeout too."""

    async def main():
        server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)  # no certificate needed: no ClientHello comes
        async with await serve(echo, port=0, open_timeout=0.2, ssl=server_context) as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            assert await asyncio.wait_for(reader.read(), 5) == b""  # asyncio's own default would be 60 s
            writer.close()

    run(main())


def test_client_open_timeout_covers_a_stalled_tls_handshake(run):
    async def main():
        async def silent(reader, writer):
            pass  # the connection stays open: the server never speaks TLS

        async with serving(silent, host="127.0.0.1", port=0) as server:
            port = server.sockets[0].getsockname()[1]
            with pytest.raises(asyncio.TimeoutError):
                await connect(f"wss://127.0.0.1:{port}/", open_timeout=0.2, ssl=ssl.create_default_context())

    run(main())


def test_huge_header_gets_431_and_disconnect(run):
    async def main():
        async with await serve(echo, port=0) as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200_000)
            response = await asyncio.wait_for(reader.read(), 5)
            assert response.startswith(b"HTTP/1.1 431 ")
            writer.close()

    run(main())


def test_peer_that_never_answers_close_is_dropped_after_close_timeout(run):
    closed = []

    async def handler(ws):
        await ws.close(1000)
        closed.append(ws.close_code)

    async def main():
        async with await serve(handler, port=0, close_timeout=0.2) as server:
            raw = await RawClient.open(server)
            assert await raw.events() == [CloseConnection(1000, "")]  # its reply stays unsent
            assert await raw.read_until_eof() == b""
            raw.writer.close()
            await until(lambda: closed)
        assert closed == [1006]

    run(main())


def test_protocol_error_gets_1002_then_disconnect(run):
    async def main():
        async with await serve(echo, port=0) as server:
            raw = await RawClient.open(server)
            raw.writer.write(encode_frame(0x1, b"unmasked"))  # a client must mask
            events = await raw.events()
            assert len(events) == 1 and events[0].code == 1002
            assert await raw.read_until_eof() == b""
            raw.writer.close()
            async with connect(url(server)) as ws:
                await ws.send("others unaffected")
                assert await ws.recv() == "others unaffected"

    run(main())


async def events_until_close(raw):
    """The client's events up to and including the server's close frame."""
    received = []
    while not any(isinstance(event, CloseConnection) for event in received):
        events = await raw.events()
        assert events, "connection ended without a close frame"
        received += events
    return received


def test_messages_before_a_protocol_error_are_answered_before_the_close(run):
    # One read holds two messages and then a bad frame: the application echoes both, then the 1002.
    codes = []

    async def handler(ws):
        try:
            await echo(ws)
        finally:
            codes.append(ws.close_code)

    async def main():
        async with await serve(handler, port=0) as server:
            raw = await RawClient.open(server)
            raw.writer.write(client_frame(1, b"one") + client_frame(1, b"two") + encode_frame(0x1, b"unmasked"))
            *echoes, close = await events_until_close(raw)
            assert echoes == [TextMessage("one"), TextMessage("two")]
            assert close.code == 1002
            assert await raw.read_until_eof() == b""
            await until(lambda: codes)
        assert codes == [1002]

    run(main())


@pytest.mark.parametrize("ending", ["close_timeout", "application_closes"])
def test_protocol_error_behind_untaken_messages_waits_at_most_close_timeout(run, ending):
    results = []
    arrived = asyncio.Event()

    async def handler(ws):
        if ending == "application_closes":
            await arrived.wait()
            await ws.close(1001)
        else:
            await asyncio.sleep(1)  # takes nothing
        results.append((ws.close_code, await ws.recv()))  # still delivered after the failure

    async def main():
        async with await serve(handler, port=0, close_timeout=0.2 if ending == "close_timeout" else 2) as server:
            raw = await RawClient.open(server)
            raw.writer.write(client_frame(1, b"untaken") + encode_frame(0x1, b"unmasked"))
            await asyncio.sleep(0.1)  # both arrive before the application closes
            arrived.set()
            started = asyncio.get_running_loop().time()
            events = await events_until_close(raw)
            assert [type(event) for event in events] == [CloseConnection]
            assert events[0].code == (1002 if ending == "close_timeout" else 1001)
            assert await raw.read_until_eof() == b""
            if ending == "application_closes":  # the held error fails at the close, not at close_timeout (2 s)
                assert asyncio.get_running_loop().time() - started < 1
            await until(lambda: results)
        assert results == [(1002, "untaken")]

    run(main())


def test_oversized_message_gets_1009(run):
    async def main():
        async with await serve(echo, port=0, max_message_size=1000) as server:
            async with connect(url(server)) as ws:
                await ws.send("x" * 1000)
                assert await ws.recv() == "x" * 1000
                await ws.send("x" * 1001)
                with pytest.raises(ConnectionClosedError) as info:
                    await ws.recv()
                assert info.value.code == 1009

    run(main())


def test_ping_flood_without_reading_pauses_the_server_and_stays_bounded(run):
    flooded = []

    async def handler(ws):
        if flooded:
            await echo(ws)
        else:
            flooded.append(ws)
            await ws.wait_closed()

    async def main():
        async with await serve(handler, port=0, ping_interval=None) as server:
            for listener in server.sockets:  # small kernel buffers fill sooner: a quicker test
                listener.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 32768)
            raw = await RawClient.open(server, receive_buffer=4096)
            await until(lambda: flooded)
            ws = flooded[0]
            chunk = encode_frame(PING, b"p" * 125, mask_key=MASK) * 512
            sent = 0
            while ws.transport.is_reading():
                assert sent < 512 * 2**20, "the server never paused reading"
                raw.writer.write(chunk)
                sent += len(chunk)
                try:
                    await asyncio.wait_for(raw.writer.drain(), 0.05)
                except asyncio.TimeoutError:
                    pass
            assert ws.transport.get_write_buffer_size() < 4 * 2**20
            # Meanwhile another client is served as usual.
            async with connect(url(server)) as other:
                await other.send("served")
                assert await other.recv() == "served"
            raw.writer.write(chunk * 4)
            await asyncio.sleep(0.2)
            assert not ws.transport.is_reading()
            assert ws.transport.get_write_buffer_size() < 4 * 2**20
            raw.writer.transport.abort()
            await asyncio.wait_for(ws.wait_closed(), 5)

    run(main())


def test_ping_flood_without_reading_pauses_the_client_then_drops_the_server(run):
    flooding = []

    async def flood(reader, writer):
        flooding.append(writer)

    async def main():
        async with raw_server(flood, receive_buffer=4096) as port:
            ws = await connect(f"ws://127.0.0.1:{port}/", ping_interval=None, close_timeout=1.0)
            ws.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 32768)
            await until(lambda: flooding)
            writer = flooding[0]
            chunk = encode_frame(PING, b"p" * 125) * 512
            sent = 0
            while ws.transport.is_reading():
                assert sent < 64 * 2**20, "the client never paused reading"
                writer.write(chunk)
                sent += len(chunk)
                try:
                    await asyncio.wait_for(writer.drain(), 0.05)
                except asyncio.TimeoutError:
                    pass
            assert ws.transport.get_write_buffer_size() < 4 * 2**20
            writer.write(chunk * 4)
            await asyncio.sleep(0.2)
            assert not ws.transport.is_reading()
            assert ws.transport.get_write_buffer_size() < 4 * 2**20
            # Both sides stopped reading: after close_timeout without the server reading anything, the
            # client drops the connection rather than wait forever.
            await asyncio.wait_for(ws.wait_closed(), 5)
            assert ws.close_code == 1006
            writer.transport.abort()

    run(main())


def test_slow_reader_making_progress_is_not_dropped(run):
    size = 512 * 1024
    frame_size = size + 14  # masked, 64-bit length
    received = None

    async def slow_reader(reader, writer):
        count = 0
        while count < frame_size:
            data = await reader.read(32768)
            if not data:
                break
            count += len(data)
            await asyncio.sleep(0.05)
        received.set_result(count)

    async def main():
        nonlocal received
        received = asyncio.get_running_loop().create_future()
        async with raw_server(slow_reader, receive_buffer=32768) as port:
            ws = await connect(f"ws://127.0.0.1:{port}/", ping_interval=None, close_timeout=0.25, compression=None)
            ws.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 32768)
            sending = asyncio.ensure_future(ws.send(b"x" * size))
            await until(lambda: not ws.transport.is_reading())  # write pressure pauses the client's reading
            await sending  # several close_timeouts later: the server read on, slowly
            assert await asyncio.wait_for(received, 5) == frame_size
            assert ws.close_code is None and ws.transport.is_reading()
            ws.transport.abort()

    run(main())


def test_slow_consumer_pauses_reading_then_resumes(run):
    release = None
    server_side = []

    async def handler(ws):
        server_side.append(ws)
        await release.wait()
        received = [await ws.recv() for _ in range(200)]
        await ws.send("got " + ",".join(received[:3]) + f" ... {len(received)}")
        server_side.append(ws.transport.is_reading())

    async def main():
        nonlocal release
        release = asyncio.Event()
        async with await serve(handler, port=0, max_queue=4) as server:
            async with connect(url(server)) as ws:
                for index in range(200):
                    await ws.send(str(index))
                await until(lambda: server_side and not server_side[0].transport.is_reading())
                assert len(server_side[0]._messages) < 200  # reading stopped with most still unread
                release.set()
                assert await ws.recv() == "got 0,1,2 ... 200"
        assert server_side[1] is True

    run(main())


def test_queued_bytes_pause_reading(run):
    release = None
    server_side = []

    async def handler(ws):
        server_side.append(ws)
        await release.wait()

    async def main():
        nonlocal release
        release = asyncio.Event()
        async with await serve(handler, port=0, compression=None, max_queue=None) as server:
            async with connect(url(server), compression=None) as ws:
                for _ in range(3):
                    await ws.send(b"x" * 600_000)
                await until(lambda: server_side and not server_side[0].transport.is_reading())
                await asyncio.sleep(0.05)
                # 1.2 MB queued is over the 1 MiB default: the third message stays out (a read is 256 KiB).
                assert len(server_side[0]._messages) == 2
                release.set()

    run(main())


@pytest.mark.parametrize("kind", ["binary", "text"])
def test_unread_compressed_messages_pin_at_most_the_documented_bound(run, kind):
    # Issue 14.5: 40 small compressed messages the application never read took 300 MiB with the old
    # defaults (16 MiB messages, a queue of 16, whole reads inflated at once). Each here is 1 MiB, the
    # default limit, and about 1 KiB on the wire; text takes 4 bytes per character as a str (the emoji).
    def message(index):
        if kind == "binary":
            return bytes([index]) + b"\x00" * ((1 << 20) - 1)
        return f"{index:02}" + "a" * ((1 << 20) - 6) + "\U0001f600"

    bound = (4.7 if kind == "binary" else 10.7) * 2**20  # the README's worst case per connection
    release = None
    received = []

    async def handler(ws):
        await release.wait()
        for index in range(40):
            received.append(await ws.recv() == message(index))

    async def main():
        nonlocal release
        release = asyncio.Event()
        async with await serve(handler, port=0) as server:
            async with connect(url(server)) as ws:
                [server_ws] = server.connections
                tracemalloc.start()
                try:
                    before = tracemalloc.get_traced_memory()[0]
                    for index in range(40):
                        await ws.send(message(index))
                    await until(lambda: not server_ws.transport.is_reading())
                    await asyncio.sleep(0.05)
                    pinned = tracemalloc.get_traced_memory()[0] - before
                finally:
                    tracemalloc.stop()
                assert pinned < bound
                assert len(server_ws._messages) < 40
                release.set()  # then every message arrives, in order, the rest of the read included
                await until(lambda: len(received) == 40)
                assert all(received)

    run(main())


def test_client_takes_messages_sent_with_the_101_within_its_queue_limits(run):
    # The response and 40 compressed 1 MiB messages (~40 KB) in one write: fed 1 KiB at a time, the
    # client stops once its queue is over the limit and keeps the rest of the read, in order.
    def message(index):
        return bytes([index]) + b"\x00" * ((1 << 20) - 1)

    async def answer_with_messages(reader, writer):
        conn = ServerConnection(deflate=PerMessageDeflate())
        while not list(conn.events()):
            conn.receive_data(await reader.read(65536))
        wire = conn.send(AcceptConnection()) + b"".join(conn.send(BytesMessage(message(i))) for i in range(40))
        writer.write(wire)
        await reader.read()  # until the client leaves

    async def main():
        async with serving(answer_with_messages, host="127.0.0.1", port=0) as server:
            ws = await connect(f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/")
            await until(lambda: not ws.transport.is_reading())
            assert ws.extensions == ["permessage-deflate"] and len(ws._messages) < 40
            for index in range(40):
                assert await ws.recv() == message(index)
            ws.transport.abort()

    run(main())


def test_recv_from_two_coroutines_is_refused(run):
    async def main():
        async with await serve(echo, port=0) as server:
            async with connect(url(server)) as ws:
                first = asyncio.ensure_future(ws.recv())
                await asyncio.sleep(0.01)
                with pytest.raises(RuntimeError):
                    await ws.recv()
                await ws.send("one")
                assert await first == "one"

    run(main())


def test_send_type_checked(run):
    async def main():
        async with await serve(echo, port=0) as server:
            async with connect(url(server)) as ws:
                with pytest.raises(TypeError):
                    await ws.send(42)
                with pytest.raises(ValueError):
                    await ws.ping(b"x" * 126)

    run(main())


def test_client_sees_abrupt_disconnect_as_1006(run):
    async def handler(ws):
        ws.transport.abort()

    async def main():
        async with await serve(handler, port=0) as server:
            ws = await connect(url(server))
            with pytest.raises(ConnectionClosedError) as info:
                await ws.recv()
            assert info.value.code == ws.close_code == 1006
            with pytest.raises(ConnectionClosedError):
                await ws.send("nobody there")

    run(main())


def test_frames_pipelined_behind_the_request_are_served(run):

    async def main():
        async with await serve(echo, port=0) as server:
            raw = await RawClient.open(server, handshake=False)
            request = raw.connection.send(Request(host="127.0.0.1", target="/"))
            # Sent before the 101 arrives: the client connection is not open yet, so the frame is built by hand.
            raw.writer.write(request + encode_frame(0x1, b"early", mask_key=MASK))
            events = await raw.events()
            while len(events) < 2:
                events += await raw.events()
            assert events[1] == TextMessage("early")
            raw.writer.transport.abort()

    run(main())


def test_compressed_frames_pipelined_behind_the_request_stay_within_the_queue_limits(run):
    # Sent with the request, 40 compressed 1 MiB messages (~40 KB): reading stops within 1 KiB of the
    # request's end while process_request decides, so the accept decodes little, the rest as the queue allows.
    def message(index):
        return bytes([index]) + b"\x00" * ((1 << 20) - 1)

    def compressed(data):
        compressor = zlib.compressobj(wbits=-15)
        return (compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH))[:-4]

    release = None
    server_side = []

    async def process_request(request):
        await asyncio.sleep(0.05)

    async def handler(ws):
        server_side.append(ws)
        await release.wait()
        for index in range(40):
            server_side.append(await ws.recv() == message(index))

    async def main():
        nonlocal release
        release = asyncio.Event()
        async with await serve(handler, port=0, process_request=process_request) as server:
            raw = await RawClient.open(server, handshake=False)
            raw.connection = ClientConnection(deflate=PerMessageDeflate())
            request = raw.connection.send(Request(host="127.0.0.1", target="/"))
            frames = b"".join(encode_frame(0x2, compressed(message(i)), rsv=4, mask_key=MASK) for i in range(40))
            raw.writer.write(request + frames)
            await until(lambda: server_side)
            ws = server_side[0]
            assert ws.extensions == ["permessage-deflate"]
            await until(lambda: not ws.transport.is_reading())
            assert len(ws._messages) < 40
            release.set()
            await until(lambda: len(server_side) == 41)
            assert all(server_side[1:])
            raw.writer.transport.abort()

    run(main())


@pytest.fixture(scope="module")
def tls_contexts(tmp_path_factory):
    """A server and a client SSL context around a fresh self-signed certificate for 127.0.0.1."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("no openssl command to make a test certificate")
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert, key)
    client_context = ssl.create_default_context(cafile=str(cert))
    return server_context, client_context


def test_wss_round_trip_and_close(run, tls_contexts):
    server_context, client_context = tls_contexts

    async def main():
        async with await serve(echo, port=0, ssl=server_context) as server:
            async with connect(f"wss://127.0.0.1:{server.port}/", ssl=client_context) as ws:
                await ws.send("secure")
                assert await ws.recv() == "secure"
                await ws.send(b"z" * 300_000)
                assert await ws.recv() == b"z" * 300_000
            assert ws.close_code == 1000
            with pytest.raises(ssl.SSLCertVerificationError):  # the default context does not trust it
                await connect(f"wss://127.0.0.1:{server.port}/")

    run(main())


class CountingTransport:
    """Forwards to a transport and counts its writes."""

    def __init__(self, transport):
        self._transport = transport
        self.writes = 0
        self.unjoined = []  # the part sizes of each writelines call

    def write(self, data):
        self.writes += 1
        self._transport.write(data)

    def writelines(self, parts):
        self.writes += 1
        self.unjoined.append([len(part) for part in parts])
        self._transport.writelines(parts)

    def __getattr__(self, name):
        return getattr(self._transport, name)


def test_one_transport_write_per_message_and_none_per_read(run):
    # Each message is one write (one segment for small ones: no Nagle wait on a second piece), and
    # reading data messages writes nothing. A server writes a large binary payload beside its header.
    server_writes = []
    server_unjoined = []

    async def handler(ws):
        ws.transport = counting = CountingTransport(ws.transport)
        async for message in ws:
            await ws.send(message)
            server_writes.append(counting.writes)
        server_unjoined.extend(counting.unjoined)

    async def main():
        async with await serve(handler, port=0, compression=None) as server:
            async with connect(url(server), compression=None) as ws:
                ws.transport = counting = CountingTransport(ws.transport)
                for message in ("text", b"binary", b"x" * 100_000):
                    await ws.send(message)
                    assert await ws.recv() == message
                assert counting.writes == 3 and counting.unjoined == []  # a client masks: one frame, one write
        assert server_writes == [1, 2, 3]
        assert server_unjoined == [[10, 100_000]]  # the header (64-bit length), then the payload itself

    run(main())


def test_client_large_messages_stay_intact_while_the_transport_holds_them(run):
    # A client masks large binary messages into a buffer it reuses only once the transport has taken
    # every byte: here the server reads nothing at first, so the transport holds frames while later
    # ones are built, and every message must still arrive as sent.
    sizes = [3 << 20, 20_000, 2 << 20, 1 << 20, 5 << 20, 3 << 20, 64 << 10, 3 << 20]
    messages = [bytes([index]) * 7 + random.Random(index).randbytes(size - 7) for index, size in enumerate(sizes)]
    received = []
    resume = asyncio.Event()

    async def handler(ws):
        ws.transport.pause_reading()
        await resume.wait()
        ws.transport.resume_reading()
        async for message in ws:
            received.append(message)
            if len(received) == len(messages):
                break

    async def main():
        async with await serve(handler, port=0, compression=None, max_message_size=8 << 20) as server:
            async with connect(url(server), compression=None) as ws:
                for message in messages:
                    ws.send_nowait(message)
                assert ws.transport.get_write_buffer_size() > 0  # the transport held frames
                resume.set()
                await until(lambda: len(received) == len(messages), timeout=TEST_TIMEOUT / 2)
        assert [len(message) for message in received] == sizes
        assert received == messages

    run(main())


def test_a_client_keeps_its_send_buffer_while_open_and_lets_go_once_closed(run):
    def big_buffers(ws):
        return [o for o in gc.get_referents(ws.__dict__) if isinstance(o, bytearray) and len(o) >= 1 << 20]

    async def main():
        async with await serve(echo, port=0, compression=None, max_message_size=2 << 20) as server:
            ws = await connect(url(server), compression=None)
            kept = []
            for fill in (b"a", b"b"):
                await ws.send(fill * (1 << 20))
                assert await ws.recv() == fill * (1 << 20)
                kept.append(big_buffers(ws))
            assert len(kept[0]) == 1 and kept[1][0] is kept[0][0]  # one buffer, reused for the second message
            await ws.close()
            assert big_buffers(ws) == []

    run(main())


def test_connections_sharing_the_read_buffer_keep_their_partial_frames(run):
    # The connections of a loop read into one buffer: what a connection keeps of a read (a partial
    # header, a part of a payload) must be its own copy when another connection's read overwrites it.
    async def main():
        async with await serve(echo, port=0, compression=None) as server:
            first, second = await RawClient.open(server), await RawClient.open(server)
            frames = [client_frame(2, bytes([n]) * 70_000 + b"end") for n in (1, 2)]
            cuts = [5, 40_000]  # inside the first frame's header, inside the second one's payload
            for client, frame, cut in zip((first, second), frames, cuts):
                client.writer.write(frame[:cut])
                await asyncio.sleep(0.05)  # read on its own, before the other connection's
            for client, frame, cut in zip((first, second), frames, cuts):
                client.writer.write(frame[cut:])
                await asyncio.sleep(0.05)
            for client, n in ((first, 1), (second, 2)):
                received = []
                while not received:
                    received += await client.events()
                assert received == [BytesMessage(bytes([n]) * 70_000 + b"end")]
                client.writer.close()

    run(main())


def test_sockets_have_nodelay(run):
    nodelay = []

    async def handler(ws):
        nodelay.append(ws.transport.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

    async def main():
        async with await serve(handler, port=0) as server:
            async with connect(url(server)) as ws:
                nodelay.append(ws.transport.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
                await until(lambda: len(nodelay) == 2)
        assert all(nodelay)

    run(main())


def test_send_after_close_raises_connection_closed_ok(run):
    async def main():
        async with await serve(echo, port=0) as server:
            ws = await connect(url(server))
            await ws.close()
            with pytest.raises(ConnectionClosedOK) as info:
                await ws.send(b"too late")
            assert info.value.code == 1000
            with pytest.raises(ConnectionClosedOK):
                await ws.send("too late")

    run(main())
