"""Message streams, server side: wsframe's connections against the peers' own receiving and sending paths.

Every stream is built once (by this module's own reference framing, not by any library measured), split
into 64 KiB reads and fed to a fresh connection of each implementation per timed run. Each run counts
every message and sums its length, keeps the last message and counts the bytes of the pongs it
produced; the check compares that summary (count, total length, SHA-256 of the last message, pong bytes)
with the expected one, so an implementation that drops, truncates or mangles messages is an error row.

Families: ``streams`` (S, L, F), ``building`` (text frames through each library's sending API),
``deflate`` (permessage-deflate, both directions) and ``handshake`` (server opening handshakes).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import importlib.util
import logging
import random
import socket
import struct
import zlib
from dataclasses import dataclass
from typing import Callable

from .harness import Baseline, Bench, Family, Results, TargetCheck, fastest_peer, speed_check
from .kernels import SEED, UNAVAILABLE, _skip_note, ascii_text, reference_mask
from .peers import load

KiB = 1 << 10
MiB = 1 << 20
READ_SIZE = 64 * KiB
MAX_MESSAGE = 16 * MiB  # every implementation's message limit: above the largest message here
TEXT, BINARY, CONTINUATION, PING, PONG = 1, 2, 0, 9, 10
PING_PAYLOAD_SIZE = 8
# The same zlib settings for every library: aiohttp's compressor is fixed at level 1 (Z_BEST_SPEED),
# memLevel 8, 15-bit window; everyone keeps the context between messages (RFC 7692's default).
DEFLATE_LEVEL, DEFLATE_MEM_LEVEL, DEFLATE_WBITS = 1, 8, 15

NATIVE = "wsframe native"
FALLBACK = "wsframe fallback"
WSFRAME_IMPLEMENTATIONS = (NATIVE, FALLBACK)
COMPAT = "wsframe.compat.wsproto"  # wsproto's API on wsframe (active hot path): beside wsproto's rows


@dataclass(frozen=True)
class Sizes:
    """Message counts of one run mode."""

    small: int  # S and building: 32-byte text messages
    large: int  # L: 1 MiB binary messages
    fragmented: int  # F: 256-byte text messages in 4 fragments
    deflate_large: int  # compressed L: fewer than L (zlib-bound: ~6 s per run for 200 MiB at level 1 here)

    @classmethod
    def for_mode(cls, quick: bool) -> Sizes:
        return cls(2_000, 4, 400, 4) if quick else cls(200_000, 200, 20_000, 50)


def families(quick: bool = False) -> list[Family]:
    """The stream, building, permessage-deflate and handshake families."""
    sizes = Sizes.for_mode(quick)
    repeats = 3 if quick else 5
    return [
        streams_family(sizes, repeats),
        building_family(sizes, repeats),
        deflate_family(sizes, repeats),
        handshake_family(),
    ]


# --- reference framing (independent of every library measured) ---------------------------------------


def reference_frame(opcode: int, payload: bytes, *, fin: bool = True, rsv: int = 0, mask_key: bytes | None = None) -> bytes:
    """One frame (RFC 6455 section 5.2), built with struct and a big-integer XOR."""
    first = (0x80 if fin else 0) | rsv << 4 | opcode
    mask_bit = 0x80 if mask_key else 0
    n = len(payload)
    if n < 126:
        header = struct.pack("!BB", first, mask_bit | n)
    elif n < 1 << 16:
        header = struct.pack("!BBH", first, mask_bit | 126, n)
    else:
        header = struct.pack("!BBQ", first, mask_bit | 127, n)
    if mask_key:
        return header + mask_key + reference_mask(payload, mask_key)
    return header + payload


def parse_frames(data: bytes) -> list[tuple[bool, int, int, bytes]]:
    """The frames of a byte stream as (fin, rsv, opcode, unmasked payload); ValueError if it is cut short."""
    frames, pos, end = [], 0, len(data)
    while pos < end:
        first, second = data[pos], data[pos + 1]
        n, pos = second & 0x7F, pos + 2
        if n == 126:
            (n,), pos = struct.unpack_from("!H", data, pos), pos + 2
        elif n == 127:
            (n,), pos = struct.unpack_from("!Q", data, pos), pos + 8
        key = None
        if second & 0x80:
            key, pos = data[pos : pos + 4], pos + 4
        payload, pos = data[pos : pos + n], pos + n
        if len(payload) != n:
            raise ValueError("stream ends inside a frame")
        frames.append((bool(first & 0x80), first >> 4 & 7, first & 0x0F, reference_mask(payload, key) if key else payload))
    return frames


def split_reads(wire: bytes, size: int = READ_SIZE) -> list[bytes]:
    """The stream as the reads a socket would deliver: bytes objects of ``size`` (the last one shorter)."""
    return [wire[i : i + size] for i in range(0, len(wire), size)]


def small_texts(count: int, size: int = 32) -> list[str]:
    """Distinct ASCII texts of exactly ``size`` bytes."""
    return [f"message {i:010d} ".ljust(size, "abcdefghijklmnopqrstuvwxyz"[i % 26]) for i in range(count)]


MULTIBYTE_CYCLE = "é€😀ж語ß✓"  # 2, 3, 4, 2, 3, 2 and 3 bytes: 19 bytes a cycle, so borders fall at varied offsets


def multibyte_texts(count: int, size: int = 256) -> list[str]:
    """Distinct texts of exactly ``size`` UTF-8 bytes, nearly all in 2- to 4-byte characters, so that
    fragment borders every 64 bytes fall inside characters."""
    texts = []
    for i in range(count):
        text, length = f"{i:08d}", 8  # with this prefix every border (64, 128, 192) cuts a character
        for index in range(size):
            char = MULTIBYTE_CYCLE[index % len(MULTIBYTE_CYCLE)]
            if length + len(char.encode()) > size:
                break
            text += char
            length += len(char.encode())
        texts.append(text.ljust(len(text) + size - length, "x"))
    return texts


def large_payload(index: int, base: bytes) -> bytes:
    """A 1 MiB payload: the shared base with the message's number in front, so each message differs."""
    return index.to_bytes(8, "big") + base[8:]


class MaskKeys:
    """Deterministic masking keys, one per frame, as a client would draw them."""

    def __init__(self, seed: int = SEED):
        self._rng = random.Random(seed)

    def __call__(self) -> bytes:
        return self._rng.randbytes(4)


def deflater():
    """A client's compressor with the shared zlib settings (raw deflate, context kept across messages)."""
    return zlib.compressobj(DEFLATE_LEVEL, zlib.DEFLATED, -DEFLATE_WBITS, DEFLATE_MEM_LEVEL)


def compress_message(compressor, payload: bytes) -> bytes:
    """RFC 7692 7.2.1: deflate, sync flush, drop the 00 00 ff ff tail."""
    data = compressor.compress(payload) + compressor.flush(zlib.Z_SYNC_FLUSH)
    return data[:-4]


# --- what a run must produce -----------------------------------------------------------------------


@dataclass(frozen=True)
class Stream:
    """A stream fed to a server: its reads, and the summary every implementation must return."""

    reads: list[bytes]
    messages: int
    total_length: int
    last: bytes
    pong_bytes: int
    compressed: bool = False

    @property
    def wire_bytes(self) -> int:
        return sum(map(len, self.reads))


def summary_check(run: Callable, stream: Stream) -> Callable[[], None]:
    """Runs once and compares (count, total length, last message, pong bytes) with the stream's."""

    def check() -> None:
        count, total, last, pongs = run(stream.reads)
        if isinstance(last, str):
            last = last.encode("utf-8")
        elif last is not None:
            last = bytes(last)
        problems = []
        if count != stream.messages:
            problems.append(f"{count} messages, expected {stream.messages}")
        if total != stream.total_length:
            problems.append(f"{total} bytes of messages, expected {stream.total_length}")
        if last is None or hashlib.sha256(last).digest() != hashlib.sha256(stream.last).digest():
            problems.append("wrong last message")
        if pongs != stream.pong_bytes:
            problems.append(f"{pongs} bytes of pongs, expected {stream.pong_bytes}")
        if problems:
            raise AssertionError("; ".join(problems))

    return check


def stream_small(count: int, compressed: bool = False) -> Stream:
    """S: masked 32-byte text messages, one frame each."""
    keys, texts = MaskKeys(), [t.encode() for t in small_texts(count)]
    compressor = deflater() if compressed else None
    frames = []
    for text in texts:
        payload = compress_message(compressor, text) if compressed else text
        frames.append(reference_frame(TEXT, payload, rsv=4 if compressed else 0, mask_key=keys()))
    wire = b"".join(frames)
    return Stream(split_reads(wire), count, sum(map(len, texts)), texts[-1], 0, compressed)


def stream_large(count: int, compressed: bool = False) -> Stream:
    """L: masked 1 MiB binary messages, one frame each (compressible text when compressed, else random)."""
    keys = MaskKeys()
    if compressed:
        base = ascii_text(MiB)
    else:
        base = random.Random(SEED).randbytes(MiB)
    compressor = deflater() if compressed else None
    frames, payload = [], b""
    for i in range(count):
        payload = large_payload(i, base)
        body = compress_message(compressor, payload) if compressed else payload
        frames.append(reference_frame(BINARY, body, rsv=4 if compressed else 0, mask_key=keys()))
    wire = b"".join(frames)
    return Stream(split_reads(wire), count, count * MiB, payload, 0, compressed)


def stream_fragmented(count: int, ping_every: int = 100, multibyte: bool = False) -> Stream:
    """F: 256-byte text messages in four 64-byte fragments, a ping after every ``ping_every`` messages;
    ASCII, or with ``multibyte`` characters that straddle the fragment borders."""
    strings = multibyte_texts(count, 256) if multibyte else small_texts(count, 256)
    keys, texts = MaskKeys(), [t.encode() for t in strings]
    frames, pings = [], 0
    for i, text in enumerate(texts, 1):
        for part in range(4):
            opcode = TEXT if part == 0 else CONTINUATION
            frames.append(reference_frame(opcode, text[part * 64 : part * 64 + 64], fin=part == 3, mask_key=keys()))
        if i % ping_every == 0:
            frames.append(reference_frame(PING, f"p{pings:07d}".encode(), mask_key=keys()))
            pings += 1
    wire = b"".join(frames)
    # Each pong: a 2-byte header (a server does not mask) and the ping's 8-byte payload. Text lengths are
    # counted in characters, as every receiver counts the str it delivers.
    return Stream(split_reads(wire), count, sum(map(len, strings)), texts[-1], pings * (2 + PING_PAYLOAD_SIZE))


# --- wsframe ------------------------------------------------------------------------------------


def wsframe_connection_module(implementation: str):
    """wsframe.connection bound to one hot path, so one run measures both.

    The package binds the native extension when it is built; the other binding is a second copy of the
    connection module whose hot-path names are replaced by the other implementation's (the same thing
    WSFRAME_PURE_PYTHON=1 does to the package at import).
    """
    kind = "native" if implementation == NATIVE else "fallback"
    hot = load(f"wsframe._{kind}")
    active = load("wsframe._hotpath")
    module = load("wsframe.connection")
    if active.IMPLEMENTATION == kind:
        return module
    spec = importlib.util.find_spec("wsframe.connection")
    copy = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(copy)
    for name in active.__all__:
        if getattr(copy, name, None) is getattr(active, name):
            setattr(copy, name, getattr(hot, name))
    return copy


def _wsframe_deflate_policy():
    return load("wsframe.deflate").PerMessageDeflate(compress_level=DEFLATE_LEVEL, mem_level=DEFLATE_MEM_LEVEL)


def _wsframe_server(module, compressed: bool):
    """A server connection in the open state: ``opened=True``, or through a real handshake for deflate."""
    if not compressed:
        return module.ServerConnection(opened=True, max_message_size=MAX_MESSAGE)
    events = load("wsframe.events")
    conn = module.ServerConnection(deflate=_wsframe_deflate_policy(), max_message_size=MAX_MESSAGE)
    conn.receive_data(BROWSER_REQUEST)
    list(conn.events())
    conn.send(events.AcceptConnection())
    if conn.deflate_parameters is None:
        raise AssertionError("permessage-deflate was not negotiated")
    return conn


def _wsframe_client(module):
    """A client connection opened by a real handshake with a wsframe server."""
    events = load("wsframe.events")
    client, server = module.ClientConnection(), module.ServerConnection()
    server.receive_data(client.send(events.Request(host="example.com", target="/")))
    list(server.events())
    client.receive_data(server.send(events.AcceptConnection()))
    list(client.events())
    return client


def wsframe_receiver(implementation: str, compressed: bool):
    module = wsframe_connection_module(implementation)
    ping_class = load("wsframe.events").Ping

    def run(reads):
        conn = _wsframe_server(module, compressed)
        receive, events, pending = conn.receive_data, conn.events, conn.data_to_send
        count = total = pongs = 0
        last = None
        for read in reads:
            receive(read)
            for event in events():
                if event.__class__ is ping_class:
                    continue
                last = event.data
                count += 1
                total += len(last)
            pongs += len(pending())
        return count, total, last, pongs

    return run


def wsframe_builder(implementation: str, client: bool, compressed: bool):
    module = wsframe_connection_module(implementation)

    def run(messages):
        if client:
            conn = _wsframe_client(module)
        elif compressed:
            conn = _wsframe_server(module, True)
        else:
            conn = module.ServerConnection(opened=True)
        send = conn.send_text if isinstance(messages[0], str) else conn.send_binary
        return [send(message) for message in messages]

    return run


# --- websockets ---------------------------------------------------------------------------------


def _websockets_deflate():
    module = load("websockets.extensions.permessage_deflate")
    settings = {"level": DEFLATE_LEVEL, "memLevel": DEFLATE_MEM_LEVEL}
    return module.PerMessageDeflate(False, False, DEFLATE_WBITS, DEFLATE_WBITS, settings)


def _websockets_protocol(client: bool, compressed: bool):
    protocol_module = load("websockets.protocol")
    if client:
        uri = load("websockets.uri").parse_uri("ws://example.com/")
        protocol = load("websockets.client").ClientProtocol(uri, state=protocol_module.State.OPEN, max_size=MAX_MESSAGE)
    else:
        protocol = load("websockets.server").ServerProtocol(state=protocol_module.State.OPEN, max_size=MAX_MESSAGE)
    if compressed:
        protocol.extensions = [_websockets_deflate()]
    return protocol


def websockets_receiver(compressed: bool):
    """ServerProtocol in the open state; its events are frames, reassembled here as its asyncio layer does
    (fragments joined, text decoded); it queues the pongs itself."""
    opcodes = load("websockets.frames").Opcode
    text, binary, continuation = opcodes.TEXT, opcodes.BINARY, opcodes.CONT
    _websockets_protocol(False, compressed)  # fail early (Missing / AttributeError) if the API differs

    def run(reads):
        protocol = _websockets_protocol(False, compressed)
        receive, frames_received, to_send = protocol.receive_data, protocol.events_received, protocol.data_to_send
        count = total = pongs = 0
        last, pieces, opcode = None, [], None
        for read in reads:
            receive(read)
            for frame in frames_received():
                if frame.opcode is continuation:
                    pieces.append(frame.data)
                    if not frame.fin:
                        continue
                    data = b"".join(pieces)
                    pieces = []
                elif frame.opcode is text or frame.opcode is binary:
                    opcode = frame.opcode
                    if not frame.fin:
                        pieces.append(frame.data)
                        continue
                    data = frame.data
                else:
                    continue
                last = data.decode() if opcode is text else data
                count += 1
                total += len(last)
            for chunk in to_send():
                pongs += len(chunk)
        return count, total, last, pongs

    return run


def websockets_builder(client: bool, compressed: bool):
    _websockets_protocol(client, compressed)

    def run(messages):
        protocol = _websockets_protocol(client, compressed)
        send = protocol.send_text if isinstance(messages[0], str) else protocol.send_binary
        to_send, out = protocol.data_to_send, []
        encode = isinstance(messages[0], str)
        for message in messages:
            send(message.encode() if encode else message)
            out += to_send()
        return out

    return run


# --- wsproto ------------------------------------------------------------------------------------


def wsproto_receiver(package: str = "wsproto"):
    """wsproto's Connection (the open-state object under WSConnection), or the same API of ``package``
    (wsframe.compat.wsproto); it delivers message pieces as they arrive, joined here; pings are answered
    with ``send(event.response())``."""
    connection = load(f"{package}.connection")
    events = load(f"{package}.events")
    text_class, bytes_class, ping_class = events.TextMessage, events.BytesMessage, events.Ping

    def run(reads):
        conn = connection.Connection(connection.ConnectionType.SERVER)
        receive, events_of, send = conn.receive_data, conn.events, conn.send
        count = total = pongs = 0
        last, pieces = None, []
        for read in reads:
            receive(read)
            for event in events_of():
                cls = event.__class__
                if cls is text_class or cls is bytes_class:
                    if not event.message_finished:
                        pieces.append(event.data)
                        continue
                    if pieces:
                        pieces.append(event.data)
                        data = ("" if cls is text_class else b"").join(pieces)
                        pieces = []
                    else:
                        data = event.data
                    last = data
                    count += 1
                    total += len(data)
                elif cls is ping_class:
                    pongs += len(send(event.response()))
        return count, total, last, pongs

    return run


def wsproto_builder(client: bool, package: str = "wsproto"):
    connection = load(f"{package}.connection")
    message_class = load(f"{package}.events").Message
    kind = connection.ConnectionType.CLIENT if client else connection.ConnectionType.SERVER

    def run(messages):
        send = connection.Connection(kind).send
        return [send(message_class(data=message)) for message in messages]

    return run


# --- aiohttp ------------------------------------------------------------------------------------


class SinkTransport:
    """A transport that keeps what is written (the bytes are checked) and never pushes back.

    ``get_write_buffer_size()`` answers ``buffered`` (0 by default). picows writes straight to the socket
    with send(2) when the transport's buffer is empty; here the socket is an unconnected one, so that
    path would be a failing system call per frame (an error path no application takes). Its adapters
    report buffered bytes instead, as a transport under load does: picows then hands every frame to
    ``transport.write()``, the same work the other libraries are measured doing.
    """

    def __init__(self, buffered: int = 0):
        self.buffered = buffered
        self.writes: list[bytes] = []
        self.sock = None

    def write(self, data) -> None:
        self.writes.append(bytes(data))

    def writelines(self, chunks) -> None:
        for chunk in chunks:
            self.write(chunk)

    def is_closing(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return self.buffered

    def get_extra_info(self, name, default=None):
        if name == "socket":
            if self.sock is None:  # picows sets TCP options on it; an unconnected TCP socket takes them
                self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            return self.sock
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8000)}.get(name, default)

    def set_write_buffer_limits(self, high=None, low=None) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


class AiohttpProtocol:
    """What aiohttp's reader queue and writer ask of the protocol: flow-control flags that stay off."""

    _reading_paused = False
    _paused = False

    def pause_reading(self) -> None:
        self._reading_paused = True

    def resume_reading(self) -> None:
        self._reading_paused = False


_loop = None


def event_loop():
    """One event loop for the whole run (aiohttp's writer and queue need one)."""
    global _loop
    if _loop is None or _loop.is_closed():
        _loop = asyncio.new_event_loop()
    return _loop


def aiohttp_receiver(compressed: bool):
    """aiohttp's WebSocketReader (its Cython build when present) feeding its WebSocketDataQueue; messages
    are taken from the queue's buffer as ``receive()`` would, pings answered with the writer's frame
    builder as its autoping does."""
    reader_module = load("aiohttp._websocket.reader")
    writer_class = load("aiohttp._websocket.writer").WebSocketWriter
    msg_type = load("aiohttp._websocket.models").WSMsgType
    text, binary, ping, pong = msg_type.TEXT, msg_type.BINARY, msg_type.PING, msg_type.PONG

    def run(reads):
        protocol, sink = AiohttpProtocol(), SinkTransport()
        queue = reader_module.WebSocketDataQueue(protocol, 1 << 30, loop=event_loop())
        reader = reader_module.WebSocketReader(queue, MAX_MESSAGE, compress=compressed, decode_text=True)
        write_frame = writer_class(protocol, sink)._write_websocket_frame
        feed, buffer = reader.feed_data, queue._buffer
        count = total = 0
        last = None
        for read in reads:
            feed(read)
            while buffer:
                message = buffer.popleft()[0]
                kind = message[0]
                if kind == text or kind == binary:
                    last = message[1]
                    count += 1
                    total += len(last)
                elif kind == ping:
                    write_frame(message[1], pong, 0)
        return count, total, last, sum(map(len, sink.writes))

    return run


def aiohttp_builder(client: bool, compressed: bool):
    writer_class = load("aiohttp._websocket.writer").WebSocketWriter
    msg_type = load("aiohttp._websocket.models").WSMsgType

    async def build(messages, sink):
        writer = writer_class(AiohttpProtocol(), sink, use_mask=client, compress=DEFLATE_WBITS if compressed else 0)
        send_frame = writer.send_frame
        if isinstance(messages[0], str):  # what WebSocketResponse.send_str does
            for message in messages:
                await send_frame(message.encode("utf-8"), msg_type.TEXT)
        else:
            for message in messages:
                await send_frame(message, msg_type.BINARY)

    def run(messages):
        sink = SinkTransport()
        event_loop().run_until_complete(build(messages, sink))
        return sink.writes

    return run


# --- picows -------------------------------------------------------------------------------------


PICOWS_BUFFERED = 1  # see SinkTransport: picows' path under load, transport.write() for every frame


def _picows_feed(protocol, read) -> None:
    """What the event loop does for a BufferedProtocol: copy the read into get_buffer(), buffer_updated()."""
    view, pos = memoryview(read), 0
    while pos < len(view):
        buffer = protocol.get_buffer(-1)
        n = min(len(buffer), len(view) - pos)
        buffer[:n] = view[pos : pos + n]
        protocol.buffer_updated(n)
        pos += n


def _picows_listener_class(picows):
    text, binary, continuation = picows.WSMsgType.TEXT, picows.WSMsgType.BINARY, picows.WSMsgType.CONTINUATION

    class Counter(picows.WSListener):
        """Counts messages as a picows application does: frames, fragments joined, text decoded."""

        def __init__(self):
            self.count = self.total = 0
            self.last = None
            self.pieces = []
            self.opcode = None

        def on_ws_frame(self, transport, frame):
            opcode = frame.msg_type
            if opcode is continuation:
                self.pieces.append(frame.get_payload_as_bytes())
                if not frame.fin:
                    return
                data = b"".join(self.pieces)
                self.pieces = []
                data = data.decode() if self.opcode is text else data
            elif opcode is text or opcode is binary:
                self.opcode = opcode
                if not frame.fin:
                    self.pieces.append(frame.get_payload_as_bytes())
                    return
                data = frame.get_payload_as_utf8_text() if opcode is text else frame.get_payload_as_bytes()
            else:
                return
            self.last = data
            self.count += 1
            self.total += len(data)

    return Counter


def picows_receiver():
    """picows' WSProtocol (the asyncio BufferedProtocol holding its parser) driven in-process: a handshake,
    then the reads copied into its buffer, as an event loop would; it answers pings itself (auto pong)."""
    picows = load("picows")
    protocol_class = load("picows.picows").WSProtocol
    listener_class = _picows_listener_class(picows)
    logger = logging.getLogger("benchmarks.picows")

    async def connect(listener, sink):
        protocol = protocol_class(
            None, None, False, lambda request: listener, logger, True, 5.0,
            False, 10.0, 10.0, picows.WSAutoPingStrategy.PING_WHEN_IDLE, True, MAX_MESSAGE, None, 1024,
        )  # fmt: skip
        protocol.connection_made(sink)
        _picows_feed(protocol, BROWSER_REQUEST)
        return protocol

    def run(reads):
        listener, sink = listener_class(), SinkTransport(buffered=PICOWS_BUFFERED)
        protocol = event_loop().run_until_complete(connect(listener, sink))
        if not sink.writes or not sink.writes[0].startswith(b"HTTP/1.1 101"):
            raise AssertionError("picows did not accept the handshake")
        sink.writes.clear()
        for read in reads:
            _picows_feed(protocol, read)
        sink.close()
        return listener.count, listener.total, listener.last, sum(map(len, sink.writes))

    return run


def picows_builder(client: bool):
    picows = load("picows")
    logger = logging.getLogger("benchmarks.picows")

    def run(messages):
        sink = SinkTransport(buffered=PICOWS_BUFFERED)
        transport = picows.WSTransport(client, sink, logger, event_loop())
        send, text = transport.send, picows.WSMsgType.TEXT
        for message in messages:
            send(text, message.encode())
        sink.close()
        return sink.writes

    return run


# --- families -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Implementation:
    name: str
    setup: Callable[[], Callable]  # returns the run function; raises UNAVAILABLE
    peer: bool = False


def _stream_bench(workload: str, implementation: Implementation, stream: Callable[[], Stream], run: Callable) -> Bench:
    """A bench feeding the stream (built on first use: ``stream`` is cached) to run()."""

    def prepare(bench: Bench) -> None:
        bench.namespace["reads"] = stream().reads
        bench.nbytes = stream().wire_bytes
        bench.items = stream().messages

    return Bench(
        workload=workload,
        implementation=implementation.name,
        nbytes=0,
        stmt="run(reads)",
        namespace={"run": run},
        check=lambda: summary_check(run, stream())(),
        peer=implementation.peer,
        prepare=prepare,
    )


def _benches(workloads, implementations_for) -> tuple[list[Bench], list[str]]:
    """Benches for every (workload, implementation) pair that sets up; the others become skip notes."""
    benches, skipped = [], []
    for workload, make_bench in workloads:
        for implementation in implementations_for(workload):
            try:
                run = implementation.setup()
            except UNAVAILABLE as exc:
                note = _skip_note(implementation.name, exc)
                if note not in skipped:
                    skipped.append(note)
                continue
            benches.append(make_bench(implementation, run))
    return benches, skipped


def _receivers(compressed: bool) -> list[Implementation]:
    implementations = [Implementation(name, lambda name=name: wsframe_receiver(name, compressed)) for name in WSFRAME_IMPLEMENTATIONS]
    implementations += [
        Implementation("websockets", lambda: websockets_receiver(compressed), peer=True),
        Implementation("aiohttp", lambda: aiohttp_receiver(compressed), peer=True),
    ]
    if not compressed:  # neither speaks permessage-deflate here (picows has none; wsproto is not a target)
        implementations += [
            Implementation("picows", picows_receiver, peer=True),
            Implementation("wsproto", wsproto_receiver, peer=True),
            Implementation(COMPAT, lambda: wsproto_receiver(COMPAT)),
        ]
    return implementations


S_WORKLOAD = "stream S: 32 B text"
L_WORKLOAD = "stream L: 1 MiB binary"
F_WORKLOAD = "stream F: 256 B text in 4 fragments + pings"
F_MULTIBYTE_WORKLOAD = "stream F multi-byte: 256 B text of 2-4 byte characters split inside characters, in 4 fragments + pings"


def streams_family(sizes: Sizes, repeats: int) -> Family:
    """S, L and F fed to each implementation's server side in 64 KiB reads."""
    streams = {
        S_WORKLOAD: functools.cache(lambda: stream_small(sizes.small)),
        L_WORKLOAD: functools.cache(lambda: stream_large(sizes.large)),
        F_WORKLOAD: functools.cache(lambda: stream_fragmented(sizes.fragmented)),
        F_MULTIBYTE_WORKLOAD: functools.cache(lambda: stream_fragmented(sizes.fragmented, multibyte=True)),
    }
    workloads = [(w, lambda impl, run, w=w: _stream_bench(w, impl, streams[w], run)) for w in streams]
    benches, skipped = _benches(workloads, lambda w: _receivers(False))
    return Family(
        name="streams",
        title=f"Message streams, server side (S: {sizes.small:,} × 32 B text; L: {sizes.large:,} × 1 MiB binary; "
        f"F: {sizes.fragmented:,} × 256 B text in 4 fragments, a ping every 100)",
        benches=benches,
        baselines=[Baseline("× fastest peer", fastest_peer)],
        targets=stream_targets,
        notes=STREAM_NOTES,
        skipped=skipped,
        repeats=repeats,
        rate_unit="msg/s",
        show_faults=True,
    )


STREAM_NOTES = [
    "Input: masked client frames built once by the benchmark's own reference framing, split into 64 KiB reads "
    "(bytes objects); each timed run opens a fresh server connection and feeds every read. Every run counts the "
    "messages, sums their lengths, keeps the last one and counts pong bytes; the check compares that with the "
    "expected summary (count, length, SHA-256 of the last message, pongs), so a wrong row is an ERROR row.",
    "Messages are delivered whole: text as str, binary as bytes. wsframe, aiohttp and wsproto reassemble "
    "fragments themselves (wsproto delivers pieces as they arrive: joined here); websockets' sans-I/O protocol "
    "and picows deliver frames: joined and decoded here, as their own layers or applications do.",
    "websockets: ServerProtocol(state=OPEN); its pongs come from data_to_send(). wsproto: connection.Connection "
    "(the open-state object under WSConnection), pings answered with send(ping.response()). aiohttp: "
    "WebSocketReader (Cython build) into a WebSocketDataQueue whose buffer is drained after each read, pings "
    "answered by WebSocketWriter._write_websocket_frame (what its autoping's send_frame calls). picows: its "
    "WSProtocol (the asyncio BufferedProtocol holding its parser) driven in-process with a dummy transport: a "
    "handshake, then each read copied into get_buffer() and buffer_updated(), as an event loop does (its buffer "
    "may take a read in several pieces); its auto pong writes to the dummy transport (which reports buffered "
    "bytes: picows then calls transport.write(), its path under load, not send(2) on an unconnected socket).",
    "page faults/call: minor page faults (ru_minflt) of this process over the timed repeats, per call (one whole stream) (the allocator note in the header "
    "says how glibc's mmap threshold is set).",
]


def stream_targets(results: Results) -> list[TargetCheck]:
    checks = []
    for workload, factor in ((S_WORKLOAD, 3.0), (F_WORKLOAD, 1.5), (F_MULTIBYTE_WORKLOAD, 2.0), (L_WORKLOAD, 2.5)):
        peer = fastest_peer(results.of_workload(workload))
        checks.append(speed_check(f"{workload}: native ≥ {factor}× the fastest peer", results.get(workload, NATIVE), peer, factor))
    for workload in (S_WORKLOAD, F_WORKLOAD):
        checks.append(speed_check(f"{workload}: fallback ≥ websockets", results.get(workload, FALLBACK), results.get(workload, "websockets"), 1.0))
        checks.append(speed_check(f"{workload}: {COMPAT} ≥ 5× wsproto", results.get(workload, COMPAT), results.get(workload, "wsproto"), 5.0))
    return checks


# --- building -----------------------------------------------------------------------------------


def build_check(run: Callable, messages: list, *, masked: bool, compressed: bool) -> Callable[[], None]:
    """Parses the frames run() built and compares them, unmasked and inflated, with the messages sent."""
    expected = [m.encode() if isinstance(m, str) else m for m in messages]
    opcode = TEXT if isinstance(messages[0], str) else BINARY

    def check() -> None:
        frames = parse_frames(b"".join(run(messages)))
        if len(frames) != len(expected):
            raise AssertionError(f"{len(frames)} frames for {len(expected)} messages")
        inflater = zlib.decompressobj(-DEFLATE_WBITS)
        for i, ((fin, rsv, op, payload), message) in enumerate(zip(frames, expected)):
            if not fin or op != opcode or rsv != (4 if compressed else 0):
                raise AssertionError(f"frame {i}: fin {fin}, opcode {op}, rsv {rsv}")
            if compressed:
                payload = inflater.decompress(payload + b"\x00\x00\xff\xff")
            if payload != message:
                raise AssertionError(f"frame {i}: wrong payload")
        # The mask bit is checked on the first frame: a server must not mask, a client must.
        stream = b"".join(run(messages[:1]))
        if bool(stream[1] & 0x80) != masked:
            raise AssertionError("masked frames from a server" if not masked else "unmasked frames from a client")

    return check


def _builders(client: bool, compressed: bool) -> list[Implementation]:
    implementations = [
        Implementation(name, lambda name=name: wsframe_builder(name, client, compressed)) for name in WSFRAME_IMPLEMENTATIONS
    ]
    implementations += [
        Implementation("websockets", lambda: websockets_builder(client, compressed), peer=True),
        Implementation("aiohttp", lambda: aiohttp_builder(client, compressed), peer=True),
    ]
    if not compressed:
        implementations += [
            Implementation("picows", lambda: picows_builder(client), peer=True),
            Implementation("wsproto", lambda: wsproto_builder(client), peer=True),
            Implementation(COMPAT, lambda: wsproto_builder(client, COMPAT)),
        ]
    return implementations


def _build_bench(
    workload: str, implementation: Implementation, run: Callable, messages: Callable[[], list], *, masked: bool, compressed: bool
) -> Bench:
    """A bench sending the messages (made on first use: ``messages`` is cached) through run()."""

    def prepare(bench: Bench) -> None:
        bench.namespace["messages"] = messages()
        bench.nbytes = sum(len(m) for m in messages())
        bench.items = len(messages())

    return Bench(
        workload=workload,
        implementation=implementation.name,
        nbytes=0,
        stmt="run(messages)",
        namespace={"run": run},
        check=lambda: build_check(run, messages(), masked=masked, compressed=compressed)(),
        peer=implementation.peer,
        prepare=prepare,
    )


BUILD_SERVER = "build 32 B text, server (unmasked)"
BUILD_CLIENT = "build 32 B text, client (masked)"


def building_family(sizes: Sizes, repeats: int) -> Family:
    messages = functools.cache(lambda: small_texts(sizes.small))
    workloads = []
    for workload, client in ((BUILD_SERVER, False), (BUILD_CLIENT, True)):
        workloads.append(
            (
                workload,
                lambda impl, run, w=workload, c=client: _build_bench(w, impl, run, messages, masked=c, compressed=False),
            )
        )
    client_of = {BUILD_SERVER: False, BUILD_CLIENT: True}
    benches, skipped = _benches(workloads, lambda w: _builders(client_of[w], False))
    return Family(
        name="building",
        title=f"Building frames: {sizes.small:,} × 32 B text messages through each library's sending API",
        benches=benches,
        baselines=[Baseline("× fastest peer", fastest_peer)],
        targets=building_targets,
        notes=[
            "From str messages to wire bytes, kept in a list: wsframe conn.send_text(text); websockets "
            "protocol.send_text(text.encode()) + data_to_send(); wsproto Connection.send(Message(data=text)); "
            "aiohttp `await WebSocketWriter.send_frame(text.encode(), TEXT)` (what send_str does) on a dummy "
            "transport, in one event-loop run; picows WSTransport(is_client_side, dummy transport).send(TEXT, "
            "text.encode()) — picows' frame builder is WSTransport's send, which needs a transport: a dummy one here, "
            "reporting buffered bytes so that picows takes its path under load (transport.write() per frame) rather "
            "than a send(2) on the dummy's unconnected socket that fails for every frame.",
            "Client rows mask with each library's own key source (wsframe: os.urandom in batches; websockets: "
            "os.urandom per frame; aiohttp: random.getrandbits; picows: its own PRNG; wsproto: os.urandom). "
            "The check parses every frame and compares the unmasked payloads with the messages.",
        ],
        skipped=skipped,
        repeats=repeats,
        rate_unit="msg/s",
        show_faults=True,
    )


def building_targets(results: Results) -> list[TargetCheck]:
    checks = []
    for workload in (BUILD_SERVER, BUILD_CLIENT):
        peer = fastest_peer(results.of_workload(workload))
        checks.append(speed_check(f"{workload}: native ≥ the fastest peer", results.get(workload, NATIVE), peer, 1.0))
    return checks


# --- permessage-deflate -------------------------------------------------------------------------

DEFLATE_S = "deflate stream S: 32 B text"
DEFLATE_L = "deflate stream L: 1 MiB binary"
DEFLATE_BUILD_S = "deflate build 32 B text, server"
DEFLATE_BUILD_L = "deflate build 1 MiB binary, server"


def deflate_family(sizes: Sizes, repeats: int) -> Family:
    small_stream = functools.cache(lambda: stream_small(sizes.small, True))
    large_stream = functools.cache(lambda: stream_large(sizes.deflate_large, True))
    small = functools.cache(lambda: small_texts(sizes.small))
    large = functools.cache(lambda: [large_payload(i, ascii_text(MiB)) for i in range(sizes.deflate_large)])
    workloads = [
        (DEFLATE_S, lambda impl, run: _stream_bench(DEFLATE_S, impl, small_stream, run)),
        (DEFLATE_L, lambda impl, run: _stream_bench(DEFLATE_L, impl, large_stream, run)),
        (DEFLATE_BUILD_S, lambda impl, run: _build_bench(DEFLATE_BUILD_S, impl, run, small, masked=False, compressed=True)),
        (DEFLATE_BUILD_L, lambda impl, run: _build_bench(DEFLATE_BUILD_L, impl, run, large, masked=False, compressed=True)),
    ]
    benches, skipped = _benches(workloads, lambda w: _receivers(True) if "stream" in w else _builders(False, True))
    return Family(
        name="deflate",
        title=f"permessage-deflate (S: {sizes.small:,} × 32 B text; L: {sizes.deflate_large:,} × 1 MiB compressible binary)",
        benches=benches,
        baselines=[Baseline("× fastest peer", fastest_peer)],
        targets=deflate_targets,
        notes=[
            f"Same zlib settings everywhere: level {DEFLATE_LEVEL} (aiohttp's fixed Z_BEST_SPEED), memLevel "
            f"{DEFLATE_MEM_LEVEL}, {DEFLATE_WBITS}-bit windows, context takeover in both directions. Input: client "
            "messages compressed once with those settings (one compressor for the stream), masked. L's payload is "
            "1 MiB of random lowercase letters and spaces (it deflates to ~60%).",
            "wsframe: ServerConnection(deflate=PerMessageDeflate(compress_level=1, mem_level=8)) opened by a real "
            "handshake per run; websockets: ServerProtocol(state=OPEN) with extensions=[PerMessageDeflate(False, "
            "False, 15, 15, {'level': 1, 'memLevel': 8})]; aiohttp: WebSocketReader(compress=True) and "
            "WebSocketWriter(compress=15) — which compresses messages over 16 KiB in the event loop's default "
            "executor (a thread), its normal path. GB/s: compressed wire bytes for the streams, message bytes for building.",
            "picows has no permessage-deflate; wsproto's is not a target here.",
        ],
        skipped=skipped,
        repeats=repeats,
        rate_unit="msg/s",
        show_faults=True,
    )


def deflate_targets(results: Results) -> list[TargetCheck]:
    checks = []
    for workload in (DEFLATE_S, DEFLATE_L, DEFLATE_BUILD_S, DEFLATE_BUILD_L):
        peer = fastest_peer(results.of_workload(workload))
        checks.append(speed_check(f"{workload}: native no slower than the fastest peer", results.get(workload, NATIVE), peer, 1.0))
    return checks


# --- opening handshake --------------------------------------------------------------------------

BROWSER_REQUEST = (
    b"GET /chat?room=42 HTTP/1.1\r\n"
    b"Host: example.com:8000\r\n"
    b"Connection: Upgrade\r\n"
    b"Pragma: no-cache\r\n"
    b"Cache-Control: no-cache\r\n"
    b"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36\r\n"
    b"Upgrade: websocket\r\n"
    b"Origin: https://example.com\r\n"
    b"Sec-WebSocket-Version: 13\r\n"
    b"Accept-Encoding: gzip, deflate, br, zstd\r\n"
    b"Accept-Language: en-US,en;q=0.9\r\n"
    b"Cookie: session=5f2b8c1e9a7d4e3f; theme=dark\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
    b"\r\n"
)
ACCEPT_TOKEN = b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="  # RFC 6455's example key's answer


def wsframe_handshake(implementation: str):
    module = wsframe_connection_module(implementation)
    accept = load("wsframe.events").AcceptConnection

    def handshake(request):
        conn = module.ServerConnection()
        conn.receive_data(request)
        for _ in conn.events():  # the Request event
            pass
        return conn.send(accept())

    return handshake


def websockets_handshake():
    server_protocol = load("websockets.server").ServerProtocol

    def handshake(request):
        protocol = server_protocol()
        protocol.receive_data(request)
        (event,) = protocol.events_received()
        protocol.send_response(protocol.accept(event))
        return b"".join(protocol.data_to_send())

    return handshake


def wsproto_handshake():
    wsproto = load("wsproto")
    accept = load("wsproto.events").AcceptConnection
    server = load("wsproto.connection").ConnectionType.SERVER

    def handshake(request):
        conn = wsproto.WSConnection(server)
        conn.receive_data(request)
        for _ in conn.events():  # the Request event
            pass
        return conn.send(accept())

    return handshake


def handshake_check(handshake: Callable) -> Callable[[], None]:
    def check() -> None:
        response = handshake(BROWSER_REQUEST)
        head = response.split(b"\r\n\r\n", 1)[0].lower()
        if not response.startswith(b"HTTP/1.1 101"):
            raise AssertionError(f"response starts {response[:20]!r}")
        if b"sec-websocket-accept: " + ACCEPT_TOKEN.lower() not in head:
            raise AssertionError("no correct Sec-WebSocket-Accept")

    return check


HANDSHAKE = "handshake: browser upgrade request → 101"


def handshake_family() -> Family:
    implementations = [Implementation(name, lambda name=name: wsframe_handshake(name)) for name in WSFRAME_IMPLEMENTATIONS]
    implementations += [
        Implementation("websockets", websockets_handshake, peer=True),
        Implementation("wsproto", wsproto_handshake, peer=True),
    ]

    def bench(implementation, handshake):
        return Bench(
            workload=HANDSHAKE,
            implementation=implementation.name,
            nbytes=len(BROWSER_REQUEST),
            stmt="handshake(request)",
            namespace={"handshake": handshake, "request": BROWSER_REQUEST},
            check=handshake_check(handshake),
            peer=implementation.peer,
            items=1,
        )

    benches, skipped = _benches([(HANDSHAKE, bench)], lambda w: implementations)
    return Family(
        name="handshake",
        title="Opening handshake, server side (parse a browser's upgrade request, build the 101 response)",
        benches=benches,
        baselines=[Baseline("× fastest peer", fastest_peer)],
        targets=lambda results: [],
        notes=[
            f"The request: Chrome's headers (User-Agent, Origin, Cookie, Accept-*, a permessage-deflate offer), "
            f"{len(BROWSER_REQUEST)} bytes; a new connection per handshake, deflate not enabled (every library declines "
            "the offer). websockets: ServerProtocol → receive_data → accept(request) → send_response → "
            "data_to_send (its response adds Date and Server headers); wsproto: WSConnection(SERVER) → "
            "send(AcceptConnection()); wsframe: ServerConnection() → send(AcceptConnection()).",
            "aiohttp: skipped — its handshake (WebSocketResponse.prepare/_handshake) takes a web.Request from its "
            "HTTP server; there is no sans-I/O function from request bytes to response bytes. picows: skipped — "
            "its handshake runs inside WSProtocol, whose constructor needs a running event loop and a transport "
            "(its handshake cost is part of the echo workload's connection setup, not measured separately).",
        ],
        skipped=skipped,
        rate_unit="handshakes/s",
    )
