"""Broadcast: the sans-I/O frames of one message for many connections, and ``wsframe.asyncio.broadcast``
over loopback sockets (clients on ``wsframe.asyncio.connect`` and one raw socket that stops reading).

Runs over the active hot path (tools/test.sh runs it once per implementation).
"""

import asyncio
import os
import socket

import pytest

from wsframe.asyncio import ConnectionClosedError, broadcast, connect, serve
from wsframe.asyncio.broadcast import SLOW_RECEIVER_CODE
from wsframe.broadcast import MessageFrames, broadcast_data
from wsframe.connection import ClientConnection, ConnectionState, ServerConnection
from wsframe.deflate import PerMessageDeflate
from wsframe.errors import InvalidState
from wsframe.events import AcceptConnection, BytesMessage, CloseConnection, Request, TextMessage

TEST_TIMEOUT = 20.0
TEXT = "dashboard tick: " + "température 21.5 °C, " * 40  # compressible, not ASCII


def open_pair(server_deflate=None, client_deflate=None, **server_options):
    server = ServerConnection(deflate=server_deflate, **server_options)
    client = ClientConnection(deflate=client_deflate)
    server.receive_data(client.send(Request(host="example.com", target="/")))
    list(server.events())
    client.receive_data(server.send(AcceptConnection()))
    list(client.events())
    return server, client


def received(client, data):
    client.receive_data(data)
    return list(client.events())


NO_TAKEOVER = PerMessageDeflate(server_no_context_takeover=True)


@pytest.mark.parametrize("message", [TEXT, TEXT.encode(), bytearray(b"\x00\xff" * 300)])
def test_plain_receivers_share_one_frame(message):
    pairs = [open_pair() for _ in range(3)]
    out = broadcast_data([server for server, _ in pairs], message)
    assert [server for server, _ in out] == [server for server, _ in pairs]
    assert out[0][1] is out[1][1] is out[2][1]  # built once
    expected = TextMessage(message) if isinstance(message, str) else BytesMessage(bytes(message))
    for (_server, client), (_, data) in zip(pairs, out):
        assert received(client, data) == [expected]


def test_no_context_takeover_receivers_share_one_compressed_frame_per_group():
    small_window = PerMessageDeflate(server_no_context_takeover=True, server_max_window_bits=10)
    pairs = [
        open_pair(NO_TAKEOVER, PerMessageDeflate()),
        open_pair(NO_TAKEOVER, PerMessageDeflate()),
        open_pair(NO_TAKEOVER, small_window),
        open_pair(NO_TAKEOVER, small_window),
        open_pair(NO_TAKEOVER, None),  # offered nothing: plain
    ]
    for _ in range(2):  # twice: each message stands alone
        out = dict(broadcast_data([server for server, _ in pairs], TEXT))
        frames = [out[server] for server, _ in pairs]
        assert frames[0] is frames[1] and frames[2] is frames[3]
        assert frames[0] is not frames[2]  # another window: another group, compressed for it
        assert frames[0][0] & 0x40 and frames[2][0] & 0x40 and not frames[4][0] & 0x40  # RSV1: compressed
        assert len(frames[0]) < len(TEXT.encode()) // 4
        for (_server, client), data in zip(pairs, frames):
            assert received(client, data) == [TextMessage(TEXT)]


def test_context_takeover_receivers_get_their_own_compression_in_step_with_their_context():
    pairs = [open_pair(PerMessageDeflate(), PerMessageDeflate()) for _ in range(2)]
    for _ in range(3):
        out = broadcast_data([server for server, _ in pairs], TEXT)
        assert out[0][1] is not out[1][1]
        for (_server, client), (_, data) in zip(pairs, out):
            assert received(client, data) == [TextMessage(TEXT)]
    # The context carried over: the repeated message compressed to a few bytes each time after the first.
    assert len(out[0][1]) < 20


def test_messages_under_min_size_go_out_plain_to_compressed_receivers_too():
    plain, plain_client = open_pair()
    compressed, compressed_client = open_pair(
        PerMessageDeflate(server_no_context_takeover=True, min_size=64), PerMessageDeflate()
    )
    frames = MessageFrames("short")
    assert frames.frames_for(plain) is frames.frames_for(compressed)
    assert received(compressed_client, frames.frames_for(compressed)) == [TextMessage("short")]
    assert frames.frames_for(compressed)[0] == 0x81  # FIN, text, RSV1 clear


def test_clients_and_fragmenting_connections_get_their_own_frames():
    servers_clients = [open_pair() for _ in range(2)]
    fragmenting, fragmenting_client = open_pair(fragment_size=100)
    clients = [client for _, client in servers_clients]
    out = dict(broadcast_data(clients + [fragmenting], TEXT))
    assert out[clients[0]] != out[clients[1]]  # masked, each with its own key
    for server, client in servers_clients:
        assert received(server, out[client]) == [TextMessage(TEXT)]
    size = len(TEXT.encode())
    assert len(out[fragmenting]) >= size + 2 * (size // 100)  # a 2-byte header per 100-byte frame
    assert received(fragmenting_client, out[fragmenting]) == [TextMessage(TEXT)]


def test_closed_connections_and_those_sending_in_pieces_are_left_out():
    open_server, open_client = open_pair()
    closing, _ = open_pair()
    closing.send(CloseConnection(1000))
    in_pieces, in_pieces_client = open_pair()
    in_pieces_client.receive_data(in_pieces.send(TextMessage("first half ", message_finished=False)))
    out = broadcast_data([open_server, closing, in_pieces], "news")
    assert [server for server, _ in out] == [open_server]
    assert received(open_client, out[0][1]) == [TextMessage("news")]
    with pytest.raises(InvalidState):
        MessageFrames("news").frames_for(in_pieces)
    # The message in pieces was not interleaved with a broadcast frame:
    assert received(in_pieces_client, in_pieces.send(TextMessage("second half"))) == [
        TextMessage("first half second half")
    ]


def test_a_message_that_is_neither_str_nor_bytes_is_refused():
    with pytest.raises(TypeError):
        MessageFrames(42)


# -- wsframe.asyncio.broadcast over loopback sockets -----------------------------------------------


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, TEST_TIMEOUT))


async def until(predicate, timeout=10.0):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "condition not reached"
        await asyncio.sleep(0.005)


async def hold_open(ws):
    async for _message in ws:
        pass


def opened(server):
    return sum(ws.connection.state is ConnectionState.OPEN for ws in server.connections)


def url(server):
    return f"ws://127.0.0.1:{server.port}/"


@pytest.mark.parametrize(
    "server_compression",
    [None, PerMessageDeflate(), NO_TAKEOVER],
    ids=["plain", "deflate", "deflate-no-takeover"],
)
def test_broadcast_reaches_every_client(server_compression):
    offers = [PerMessageDeflate(), PerMessageDeflate(server_max_window_bits=9), None] * 3
    messages = [TEXT, os.urandom(5000), "", b"x"]

    async def main():
        async with await serve(hold_open, port=0, compression=server_compression) as server:
            clients = [await connect(url(server), compression=offer) for offer in offers]
            await until(lambda: len(server.connections) == len(clients))
            for message in messages:
                assert broadcast(server.connections, message) == len(clients)
            for client in clients:
                assert [await client.recv() for _ in messages] == messages
            for client in clients:
                await client.close()

    run(main())


def test_closed_connections_are_skipped():
    async def main():
        async with await serve(hold_open, port=0) as server:
            staying = await connect(url(server))
            leaving = await connect(url(server))
            await until(lambda: len(server.connections) == 2)
            connections = server.connections  # taken before the close, still holding the leaving one
            await leaving.close()
            await until(lambda: len(server.connections) == 1)
            assert broadcast(connections, "still here") == 1
            assert await staying.recv() == "still here"
            await staying.close()

    run(main())


def test_a_receiver_that_stops_reading_is_closed_with_1013_and_its_backlog_stays_bounded():
    max_buffer = 256 * 1024
    message = os.urandom(64 * 1024)

    async def main():
        loop = asyncio.get_running_loop()
        async with await serve(hold_open, port=0, compression=None) as server:
            reader = await connect(url(server), compression=None)
            # The slow one: a raw socket with a small receive buffer that reads nothing for now.
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
            sock.setblocking(False)
            await loop.sock_connect(sock, ("127.0.0.1", server.port))
            slow = ClientConnection(deflate=None)
            await loop.sock_sendall(sock, slow.send(Request(host="127.0.0.1", target="/")))
            await until(lambda: opened(server) == 2)
            [slow_ws] = [ws for ws in server.connections if ws.remote_address == sock.getsockname()]
            slow_ws.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16384)
            sent = largest_backlog = 0
            while slow_ws._sent_close is None:
                assert sent < 400, "the slow receiver was never closed"
                broadcast(server.connections, sent.to_bytes(4, "big") + message, max_buffer=max_buffer)
                largest_backlog = max(largest_backlog, slow_ws.transport.get_write_buffer_size())
                sent += 1
                assert await reader.recv() == (sent - 1).to_bytes(4, "big") + message  # the fast one keeps up
            assert slow_ws._sent_close[0] == SLOW_RECEIVER_CODE
            assert largest_backlog <= max_buffer + len(message) + 64
            broadcast(server.connections, b"after the close", max_buffer=max_buffer)
            assert await reader.recv() == b"after the close"
            # Now it reads: the messages it was sent, in order, then the close frame with 1013.
            events = []
            while not any(isinstance(event, CloseConnection) for event in events):
                data = await asyncio.wait_for(loop.sock_recv(sock, 65536), 5)
                assert data, "connection closed before the close frame"
                slow.receive_data(data)
                events += [event for event in slow.events() if not isinstance(event, AcceptConnection)]
            *messages, close = events
            assert close.code == SLOW_RECEIVER_CODE
            assert 0 < len(messages) < sent
            assert [m.data for m in messages] == [i.to_bytes(4, "big") + message for i in range(len(messages))]
            sock.close()
            await reader.close()

    run(main())


def test_a_slow_receiver_closed_by_broadcast_reports_1013_to_its_client():
    async def main():
        async with await serve(hold_open, port=0, compression=None) as server:
            client = await connect(url(server), compression=None)
            await until(lambda: len(server.connections) == 1)
            client.transport.pause_reading()
            [ws] = server.connections
            while ws._sent_close is None:
                broadcast(server.connections, bytes(65536), max_buffer=0)
                await asyncio.sleep(0)
            client.transport.resume_reading()
            with pytest.raises(ConnectionClosedError) as caught:
                async for _message in client:
                    pass
            assert caught.value.code == SLOW_RECEIVER_CODE

    run(main())
