"""Soak ``python -m wsframe`` under load and faults, on loopback only (issue 9; issue 14 items 1, 2, 5).

    python tools/soak.py                 # a few thousand connections for --duration seconds
    python tools/soak.py --ci            # the CI preset: ~75 s in all, fewer connections

Three phases, each against a fresh ``python -m wsframe`` child process (its RSS read from /proc):

1. idle, no deflate: N connections that exchanged one small message each; RSS growth / N.
2. idle, permessage-deflate: the same with deflate agreed (the server's compressor then holds zlib state).
3. the mix, for --duration seconds: idle holders (half of them deflate) that echo a small message now and
   then, busy echo clients (text and binary, small and large, every echo checked byte for byte), slow
   readers, and hostile peers: vanishing mid-handshake and mid-frame, ping floods, oversized messages
   (1009), compressed bombs (1009), floods of empty continuation frames (compressed and not), bytes sent
   before the handshake completes (with the server accepting after a delay), and compressed messages
   sent by a peer that never reads the replies; a latency probe pings the server every 0.25 s.

Exits 1, after the report, when a well-behaved client (idle holder, echo client, slow reader) missed an
echo or got a wrong one, when a hostile peer did not get the expected answer, when the server died, when
a probe ping took over --max-stall seconds, or when the server's RSS broke a bound: per idle connection
(--max-idle-kib, --max-idle-deflate-kib), or at peak during the mix (--max-rss-mib, default:
--base-rss-mib + the idle holders at the per-connection bounds + --hostile-allowance-mib). The server is
stopped on every exit path (and dies with this process on Linux).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import contextlib
import functools
import json
import os
import random
import re
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import zlib

try:
    import wsframe
except ImportError:  # run from a source checkout without an install
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import wsframe

from wsframe import FrameDecoder, encode_frame  # noqa: E402
from wsframe.asyncio import connect  # noqa: E402
from wsframe.connection import DEFAULT_MAX_MESSAGE_SIZE  # noqa: E402
from wsframe.deflate import PerMessageDeflate  # noqa: E402

# The server runs the wsframe this script imported (an editable checkout or an installed wheel).
WSFRAME_HOME = os.path.dirname(os.path.dirname(os.path.abspath(wsframe.__file__)))

HOST = "127.0.0.1"
KIB = 1024
MIB = 1024 * 1024
CONTINUATION, BINARY, CLOSE, PING, PONG = 0, 2, 8, 9, 10
RSV1 = 4
SYNC_TAIL = b"\x00\x00\xff\xff"
OPEN_BATCH = 50  # connections opened at once: below the listen backlog, so no SYN is dropped

# Full run and CI preset: idle connections per measuring phase and in the mix, busy echo clients, slow
# readers, workers per hostile scenario, mix seconds, empty continuation frames per flood (3 M: issue 14's
# ~270 MiB on an unbounded server), bytes of small messages sent before the handshake completes.
PRESETS = {
    "full": dict(idle=2000, echo=64, slow=8, hostile=2, duration=180.0, flood_frames=3_000_000, early_bytes=16 * MIB),
    "ci": dict(idle=400, echo=12, slow=2, hostile=1, duration=50.0, flood_frames=2_000_000, early_bytes=8 * MIB),
}


# The hostile scenarios (Soak's methods of the same names): the outcomes a bounded server gives, and
# workers per --hostile (the heavy ones, ~100 MiB and more each on an unbounded server, run on fewer).
BOUNDED_FLOOD = {"echoed", "close 1009"}
HOSTILE_SCENARIOS = {
    "vanish-handshake": ({"gone"}, 2),
    "vanish-mid-frame": ({"gone"}, 2),
    "ping-flood": ({"all pongs"}, 1),
    "oversized": ({"close 1009"}, 1),
    "deflate-bomb": ({"close 1009"}, 1),
    "empty-continuations-deflate": (BOUNDED_FLOOD, 0.5),
    "empty-continuations-plain": (BOUNDED_FLOOD, 0.5),
    "early-data": ({"all echoed", "close 1008", "close 1009", "HTTP 400", "HTTP 413"}, 0.5),
    "unread-compressed": ({"held"}, 0.5),
}


# -- the server ----------------------------------------------------------------------------------


def _die_with_parent() -> None:
    """In the child: SIGKILL when the soak dies, however it dies (Linux prctl PR_SET_PDEATHSIG)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the soak, which stops the server itself
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)


class EchoServer:
    """``python -m wsframe`` as a child process; its stderr goes to a file, summarised in the report."""

    def __init__(self, options: list[str]) -> None:
        self.options = options
        self.stderr = tempfile.TemporaryFile(mode="w+")
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [WSFRAME_HOME, os.environ.get("PYTHONPATH")])))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "wsframe", "--host", HOST, "--port", "0", *options],
            cwd=WSFRAME_HOME,
            env=env,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
            preexec_fn=_die_with_parent,
        )
        banner = self.process.stdout.readline()
        match = re.search(r"\((\w+) hot path\): http://[^:]+:(\d+)/", banner)
        if match is None:
            self.stop()
            raise RuntimeError(f"python -m wsframe did not start: {banner!r} {self.errors()}")
        self.implementation, self.port = match[1], int(match[2])
        self.url = f"ws://{HOST}:{self.port}/"

    def memory(self) -> dict[str, int]:
        """VmRSS and VmHWM (peak RSS) in KiB, from /proc/<pid>/status."""
        with open(f"/proc/{self.process.pid}/status") as status:
            fields = dict(line.split(":", 1) for line in status)
        return {key: int(fields[key].split()[0]) for key in ("VmRSS", "VmHWM")}

    def cpu_seconds(self) -> float:
        """User + system CPU time so far, from /proc/<pid>/stat."""
        with open(f"/proc/{self.process.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> int:
        """SIGTERM (the server closes its connections with 1001), SIGKILL after 10 s; the exit status."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process.stdout.close()
        return self.process.returncode

    def errors(self) -> list[str]:
        """The distinct lines the server wrote to stderr, with counts (tracebacks, warnings)."""
        self.stderr.seek(0)
        counts = collections.Counter(line.rstrip() for line in self.stderr if line.strip())
        return [f"{count} x {line}" for line, count in counts.most_common(12)]


# -- messages ------------------------------------------------------------------------------------

TEXT_ALPHABET = "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJ 0123456789 .,;:!? é ß ñ € ✓ 中文 𝄞 😀\n"


@functools.lru_cache(maxsize=None)
def corpus() -> tuple[str, bytes]:
    """A 1 MiB-ish text of mixed 1-4 byte UTF-8 characters and 1 MiB of compressible binary to slice from."""
    rng = random.Random(9)
    text = "".join(rng.choices(TEXT_ALPHABET, k=MIB // 2))
    binary = b"".join(rng.choice((b"wsframe ", b"\x00\x01\x02\x03", bytes(range(256)))) for _ in range(MIB // 64))
    return text, binary


def make_message(rng: random.Random, large_share: float) -> str | bytes:
    """Text or binary, 0-200 units or 64-256 Ki, random (incompressible) or sliced from the corpus."""
    size = rng.randint(64 * KIB, 256 * KIB) if rng.random() < large_share else rng.randint(0, 200)
    text, binary = corpus()
    kind = rng.randrange(3)
    if kind == 0:
        start = rng.randrange(len(text) - size)
        return text[start : start + size]
    if kind == 1:
        start = rng.randrange(len(binary) - size)
        return binary[start : start + size]
    return rng.randbytes(size)


@functools.lru_cache(maxsize=None)
def compressed_zeros(size: int) -> bytes:
    """The permessage-deflate payload of ``size`` zero bytes (no context takeover: reusable)."""
    deflater = zlib.compressobj(9, zlib.DEFLATED, -15)
    data = deflater.compress(bytes(size)) + deflater.flush(zlib.Z_SYNC_FLUSH)
    assert data.endswith(SYNC_TAIL)
    return data[: -len(SYNC_TAIL)]


def compressed(data: bytes) -> bytes:
    deflater = zlib.compressobj(6, zlib.DEFLATED, -15)
    return (deflater.compress(data) + deflater.flush(zlib.Z_SYNC_FLUSH))[: -len(SYNC_TAIL)]


def masked(opcode: int, payload: bytes = b"", *, fin: bool = True, rsv: int = 0) -> bytes:
    return encode_frame(opcode, payload, fin=fin, rsv=rsv, mask_key=os.urandom(4))


def masked_header(opcode: int, length: int, *, rsv: int = 0) -> bytes:
    """A final frame's header announcing ``length`` bytes, with an all-zero mask key (payload as sent)."""
    first = 0x80 | rsv << 4 | opcode
    if length < 126:
        return bytes([first, 0x80 | length]) + bytes(4)
    if length < 65536:
        return bytes([first, 0xFE]) + length.to_bytes(2, "big") + bytes(4)
    return bytes([first, 0xFF]) + length.to_bytes(8, "big") + bytes(4)


@functools.lru_cache(maxsize=None)
def numbered_messages(count: int, size: int) -> bytes:
    """``count`` masked binary frames holding 0, 1, 2, ... as ``size``-byte big-endian numbers."""
    return b"".join(masked(BINARY, i.to_bytes(size, "big")) for i in range(count))


# -- a hand-driven peer ----------------------------------------------------------------------------


class Refused(Exception):
    """The server answered the upgrade with an HTTP error."""


class RawPeer:
    """A client whose bytes on the wire are written by hand; the server's frames are decoded with the
    hot path's FrameDecoder (and inflated here), pings answered. Deflate offers ask for
    client_no_context_takeover, so that a compressed payload built once can be sent again and again."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.deflate = False
        self._decoder = FrameDecoder(expect_mask=False, allowed_rsv=RSV1)
        self._unparsed = b""
        self._inflater = None
        self._fragments: list[bytes] = []
        self._message_opcode = self._message_rsv = 0
        self._ready: collections.deque = collections.deque()

    @classmethod
    async def open(cls, port: int) -> RawPeer:
        return cls(*await asyncio.open_connection(HOST, port))

    @staticmethod
    def request(port: int, deflate: bool) -> bytes:
        key = base64.b64encode(os.urandom(16)).decode()
        extensions = "Sec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover\r\n" if deflate else ""
        return (
            f"GET / HTTP/1.1\r\nHost: {HOST}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{extensions}\r\n"
        ).encode()

    async def handshake(self, port: int, *, deflate: bool = False, early: bytes = b"") -> None:
        """Sends the upgrade request (followed at once by ``early``) and reads the answer."""
        self.writer.write(self.request(port, deflate) + early)
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            raise ConnectionError("the server closed the connection during the handshake") from None
        status = head.split(b" ", 2)[1]
        if status != b"101":
            raise Refused(int(status))
        self.deflate = b"permessage-deflate" in head.lower()
        if deflate and not self.deflate:
            raise Refused(101)  # the server declined deflate: the scenario cannot run
        self._inflater = zlib.decompressobj(-15)

    def send(self, data: bytes) -> None:
        self.writer.write(data)

    async def drain(self) -> None:
        await self.writer.drain()

    async def receive(self, read_size: int = 256 * KIB) -> tuple[int, bytes] | None:
        """The next data message, pong or close as (opcode, payload); None at EOF."""
        while not self._ready:
            data = await self.reader.read(read_size)
            if not data:
                return None
            self._feed(self._unparsed + data if self._unparsed else data)
        return self._ready.popleft()

    def _feed(self, data: bytes) -> None:
        frames, consumed, error = self._decoder.decode(data)
        self._unparsed = data[consumed:]
        for opcode, fin, rsv, payload in frames:
            if opcode == PING:
                self.send(masked(PONG, payload))
            elif opcode >= CLOSE:
                self._ready.append((opcode, payload))
            else:
                if opcode != CONTINUATION:
                    self._message_opcode, self._message_rsv = opcode, rsv
                self._fragments.append(payload)
                if fin:
                    payload = b"".join(self._fragments)
                    self._fragments = []
                    if self._message_rsv & RSV1:
                        payload = self._inflater.decompress(payload + SYNC_TAIL)
                    self._ready.append((self._message_opcode, payload))
        if error is not None:
            raise error

    async def close_code(self, timeout: float) -> int | None:
        """Reads (and drops) messages until the server's close frame: its code (1005 without one);
        None when the server ends the connection without one."""
        async with _deadline(timeout):
            while (item := await self.receive()) is not None:
                opcode, payload = item
                if opcode == CLOSE:
                    return int.from_bytes(payload[:2], "big") if payload else 1005
        return None

    async def send_while_receiving(self, chunks: list[bytes], timeout: float) -> tuple[int, bytes] | None:
        """Writes ``chunks`` (waiting on flow control) while waiting for the server's first answer, which
        may come before the last chunk (a close): that answer, or None at EOF."""

        async def write() -> None:
            for chunk in chunks:
                self.send(chunk)
                await self.drain()

        writer = asyncio.ensure_future(write())
        try:
            async with _deadline(timeout):
                item = await self.receive()
                if item is not None and item[0] != CLOSE:
                    await writer  # an echo comes after the last chunk: the writes are done
                return item
        finally:
            writer.cancel()
            with contextlib.suppress(BaseException):
                await writer

    def abort(self) -> None:
        self.writer.transport.abort()

    async def close(self, code: int = 1000, timeout: float = 10.0) -> int | None:
        """Our close frame, then the server's code; the socket is dropped whatever happens."""
        try:
            self.send(masked(CLOSE, code.to_bytes(2, "big")))
            return await self.close_code(timeout)
        finally:
            self.abort()


@contextlib.asynccontextmanager
async def _deadline(seconds: float):
    """asyncio.timeout for Python 3.10."""
    loop = asyncio.get_running_loop()
    handle = loop.call_later(seconds, asyncio.current_task().cancel)
    try:
        yield
    except asyncio.CancelledError:
        if handle.cancelled() or loop.time() < handle.when():  # cancelled from outside, not by the deadline
            raise
        raise TimeoutError(f"no answer within {seconds} s") from None
    finally:
        handle.cancel()


# -- the load --------------------------------------------------------------------------------------


class Tally:
    """What happened, by scenario: outcomes counted, echoes expected and verified."""

    def __init__(self) -> None:
        self.outcomes: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
        self.echoes_expected = collections.Counter()
        self.echoes_verified = collections.Counter()
        self.echo_bytes = collections.Counter()

    def outcome(self, scenario: str, outcome: str) -> None:
        self.outcomes[scenario][outcome] += 1

    def echo(self, scenario: str, sent, received) -> bool:
        """Counts one expected echo; True when ``received`` is ``sent``, byte for byte and of its type."""
        self.echoes_expected[scenario] += 1
        if type(received) is not type(sent) or received != sent:
            return False
        self.echoes_verified[scenario] += 1
        self.echo_bytes[scenario] += len(sent)
        return True


def cause(error: BaseException) -> str:
    """A failure's cause as a short, aggregatable string."""
    code = getattr(error, "code", None)
    text = f"{type(error).__name__} {code}" if isinstance(code, int) else type(error).__name__
    detail = re.sub(r"\d+", "N", str(error))[:60]
    return f"{text}: {detail}" if detail else text


class Soak:
    def __init__(self, args, server: EchoServer, tally: Tally) -> None:
        self.args = args
        self.server = server
        self.port = server.port
        self.tally = tally
        self.limit = args.max_message_size or DEFAULT_MAX_MESSAGE_SIZE
        self.deadline = 0.0

    def running(self) -> bool:
        return time.monotonic() < self.deadline and self.server.alive()

    # Well-behaved clients: wsframe's own asyncio client, every echo compared with what was sent.

    def open_client(self, deflate: bool) -> connect:
        """Awaitable (the open WebSocket) and an async context manager (closing it)."""
        return connect(
            self.server.url, compression=PerMessageDeflate() if deflate else None, ping_interval=None, open_timeout=60
        )

    async def echo_once(self, ws, scenario: str, message) -> None:
        await ws.send(message)
        async with _deadline(self.args.echo_timeout):
            reply = await ws.recv()
        if not self.tally.echo(scenario, message, reply):
            raise AssertionError(f"echo differs: sent {len(message)} {type(message).__name__}, got {len(reply)}")

    async def idle_holder(self, ws, scenario: str, rng: random.Random, ready: asyncio.Event) -> None:
        """Holds its connection, echoing a small message now and then, until ``ready`` is set, then closes."""
        try:
            while not ready.is_set():
                with contextlib.suppress(asyncio.TimeoutError, TimeoutError):
                    await asyncio.wait_for(ready.wait(), rng.uniform(0.5, 1.5) * self.args.idle_interval)
                if not ready.is_set() and self.server.alive():
                    await self.echo_once(ws, scenario, make_message(rng, 0.0))
            await ws.close()
            self.tally.outcome(scenario, "closed" if ws.close_code == 1000 else f"close {ws.close_code}")
        except Exception as error:
            self.tally.outcome(scenario, cause(error))

    async def echo_client(self, index: int) -> None:
        scenario = "echo-deflate" if index % 2 else "echo"
        rng = random.Random(index)
        try:
            async with self.open_client(deflate=bool(index % 2)) as ws:
                while self.running():
                    await self.echo_once(ws, scenario, make_message(rng, self.args.large_share))
                    await asyncio.sleep(self.args.echo_pause)
            self.tally.outcome(scenario, "closed" if ws.close_code == 1000 else f"close {ws.close_code}")
        except Exception as error:
            self.tally.outcome(scenario, cause(error))

    async def latency_probe(self, latencies: list[tuple[float, float]]) -> None:
        """A ping every 0.25 s on one connection: the round trips tell how long the server's event loop
        stalls (a stall past the server's open_timeout drops the handshakes in progress)."""
        try:
            async with self.open_client(deflate=False) as ws:
                while self.running():
                    sent = time.monotonic()
                    async with _deadline(self.args.echo_timeout):
                        await (await ws.ping())
                    latencies.append((sent, time.monotonic() - sent))
                    await asyncio.sleep(0.25)
            self.tally.outcome("latency-probe", "closed" if ws.close_code == 1000 else f"close {ws.close_code}")
        except Exception as error:
            self.tally.outcome("latency-probe", cause(error))

    async def loop_lag(self, lags: list[tuple[float, float]]) -> None:
        """This process's own event loop lag (oversleeping a 0.1 s sleep): the share of a slow ping
        round trip that is the load's, not the server's."""
        while self.running():
            slept = time.monotonic()
            await asyncio.sleep(0.1)
            lags.append((slept, time.monotonic() - slept - 0.1))

    async def slow_reader(self, index: int) -> None:
        """Sends 64 KiB messages while reading the echoes at --slow-rate bytes/s: all must come back."""
        rng = random.Random(10_000 + index)
        while self.running():
            try:
                await self.slow_round(rng)
                self.tally.outcome("slow-reader", "all echoed")
            except Exception as error:
                self.tally.outcome("slow-reader", cause(error))

    async def slow_round(self, rng: random.Random) -> None:
        peer = await RawPeer.open(self.port)
        try:
            await peer.handshake(self.port)
            messages = [rng.randbytes(64 * KIB) for _ in range(self.args.slow_messages)]

            async def write() -> None:
                for message in messages:
                    peer.send(masked(BINARY, message))
                    await peer.drain()

            writer = asyncio.ensure_future(write())
            read_size = 16 * KIB
            try:
                async with _deadline(self.args.slow_messages * 64 * KIB / self.args.slow_rate * 3 + 30):
                    for message in messages:
                        while True:
                            item = await peer.receive(read_size)
                            if item is None:
                                raise ConnectionError("server closed before echoing everything")
                            await asyncio.sleep(read_size / self.args.slow_rate)
                            if item[0] == BINARY:
                                break
                        if not self.tally.echo("slow-reader", message, item[1]):
                            raise AssertionError("slow reader: echo differs")
                    await writer
            finally:
                writer.cancel()
            code = await peer.close()
            if code != 1000:
                raise ConnectionError(f"close answered with {code}")
        finally:
            peer.abort()

    # Hostile peers: each round opens a connection, misbehaves, and names what the server did.

    async def hostile(self, name: str, worker: int) -> None:
        round_ = self.hostile_round(name)
        rng = random.Random(f"{name} {worker}")
        while self.running():
            peer = None
            try:
                peer = await RawPeer.open(self.port)
                outcome = await round_(peer, rng)
            except Refused as refused:
                outcome = f"HTTP {refused.args[0]}"
            except Exception as error:
                outcome = cause(error)
            finally:
                if peer is not None:
                    peer.abort()
            self.tally.outcome(name, outcome)
            await asyncio.sleep(rng.uniform(0.05, 0.3))

    async def vanish_handshake(self, peer: RawPeer, rng: random.Random) -> str:
        request = peer.request(self.port, rng.random() < 0.5)
        peer.send(request[: rng.randrange(1, len(request))])
        await asyncio.sleep(rng.uniform(0, 0.2))
        return "gone"

    async def vanish_mid_frame(self, peer: RawPeer, rng: random.Random) -> str:
        await peer.handshake(self.port, deflate=rng.random() < 0.5)
        size = min(self.limit, MIB)
        start = masked_header(BINARY, size, rsv=RSV1 if peer.deflate else 0) + rng.randbytes(size // 2)
        peer.send(start[: rng.randrange(1, len(start))])  # in the header or in the payload
        await peer.drain()
        await asyncio.sleep(rng.uniform(0, 0.2))
        return "gone"

    async def ping_flood(self, peer: RawPeer, rng: random.Random) -> str:
        """--ping-flood pings written without reading for a while, then every pong read back."""
        await peer.handshake(self.port)
        count = self.args.ping_flood
        pings = b"".join(masked(PING, i.to_bytes(4, "big") + bytes(121)) for i in range(count))

        async def write() -> None:
            for start in range(0, len(pings), 64 * KIB):
                peer.send(pings[start : start + 64 * KIB])
                await peer.drain()

        writer = asyncio.ensure_future(write())
        try:
            await asyncio.sleep(1.0)  # the server's writes back up meanwhile
            pongs = 0
            async with _deadline(60):
                while pongs < count:
                    item = await peer.receive()
                    if item is None:
                        return f"closed after {pongs} of {count} pongs"
                    if item[0] == PONG:
                        if int.from_bytes(item[1][:4], "big") != pongs:
                            return "pong out of order"
                        pongs += 1
                await writer
        finally:
            writer.cancel()
        code = await peer.close()
        return "all pongs" if code == 1000 else f"all pongs, close {code}"

    async def oversized(self, peer: RawPeer, rng: random.Random) -> str:
        """A header announcing 4x the message limit, and some of its payload: 1009 from the header."""
        await peer.handshake(self.port)
        peer.send(masked_header(BINARY, 4 * self.limit) + bytes(64 * KIB))
        return f"close {await peer.close_code(30)}"

    async def deflate_bomb(self, peer: RawPeer, rng: random.Random) -> str:
        """A compressed message (~4x limit / 1000 on the wire) that inflates to 4x the limit: 1009."""
        await peer.handshake(self.port, deflate=True)
        peer.send(masked(BINARY, compressed_zeros(4 * self.limit), rsv=RSV1))
        return f"close {await peer.close_code(30)}"

    async def empty_continuations_deflate(self, peer: RawPeer, rng: random.Random) -> str:
        return await self.empty_continuations(peer, deflate=True)

    async def empty_continuations_plain(self, peer: RawPeer, rng: random.Random) -> str:
        return await self.empty_continuations(peer, deflate=False)

    async def empty_continuations(self, peer: RawPeer, deflate: bool) -> str:
        """Issue 14 item 1: a message of --flood-frames empty frames, then a final one with a few
        bytes. A bounded server answers 1009 (a frame or wire-size cap) or echoes the small message."""
        await peer.handshake(self.port, deflate=deflate)
        tail = b"flood over"
        first = masked(BINARY, b"", fin=False, rsv=RSV1 if deflate else 0)
        empties = masked(CONTINUATION, b"", fin=False) * 10_000
        last = masked(CONTINUATION, compressed(tail) if deflate else tail)
        chunks = [first] + [empties] * (self.args.flood_frames // 10_000) + [last]
        item = await peer.send_while_receiving(chunks, 60)
        if item is None:
            return "dropped"
        if item[0] == CLOSE:
            return f"close {int.from_bytes(item[1][:2], 'big')}"
        return "echoed" if item == (BINARY, tail) else f"wrong echo: {item[0]} {item[1][:20]!r}"

    async def early_data(self, peer: RawPeer, rng: random.Random) -> str:
        """Issue 14 item 2: --early-bytes of small messages right behind the upgrade request, before
        the (delayed) 101. A bounded server echoes them all, or refuses with a close code or HTTP error."""
        frames, count, payload_size = self.early_frames()
        await peer.handshake(self.port, early=frames)
        echoed = 0
        async with _deadline(120):
            while echoed < count:
                item = await peer.receive()
                if item is None:
                    return f"dropped after {echoed} of {count}"
                if item[0] == CLOSE:
                    return f"close {int.from_bytes(item[1][:2], 'big')}"
                if item != (BINARY, echoed.to_bytes(payload_size, "big")):
                    return "wrong echo"
                echoed += 1
                if echoed % 1024 == 0:
                    await asyncio.sleep(0)  # buffered reads do not yield: let the other clients run
        return "all echoed" if await peer.close() == 1000 else "all echoed, bad close"

    def early_frames(self) -> tuple[bytes, int, int]:
        """early_data's frames (built once), how many, and their payload size."""
        payload_size = 16
        count = self.args.early_bytes // (payload_size + 6)
        return numbered_messages(count, payload_size), count, payload_size

    async def unread_compressed(self, peer: RawPeer, rng: random.Random) -> str:
        """Issue 14 item 5: --unread-messages compressed messages just under the limit, the replies
        never read; the connection held for --unread-hold seconds, then dropped."""
        await peer.handshake(self.port, deflate=True)
        message = masked(BINARY, compressed_zeros(self.limit - KIB), rsv=RSV1)
        for _ in range(self.args.unread_messages):
            peer.send(message)
        await peer.drain()
        await asyncio.sleep(self.args.unread_hold)
        return "held"

    def hostile_round(self, name: str):
        """The coroutine function of a scenario in HOSTILE_SCENARIOS."""
        return getattr(self, name.replace("-", "_"))


# -- the phases ------------------------------------------------------------------------------------


async def open_idle(soak: Soak, count: int, deflate_share: float, scenario_of) -> list:
    """Opens ``count`` connections OPEN_BATCH at a time, each echoing one small message; their sockets."""
    sockets = []
    rng = random.Random(count)

    async def one(index: int):
        ws = await soak.open_client(deflate=index < count * deflate_share)
        await soak.echo_once(ws, scenario_of(ws), make_message(rng, 0.0))
        return ws

    for start in range(0, count, OPEN_BATCH):
        batch = range(start, min(count, start + OPEN_BATCH))
        results = await asyncio.gather(*map(one, batch), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                soak.tally.outcome("idle-open", cause(result))
            else:
                sockets.append(result)
    return sockets


def idle_scenario(ws) -> str:
    return "idle-deflate" if ws.extensions else "idle"


async def settle(server: EchoServer, seconds: float = 1.0) -> int:
    """The server's RSS (KiB) once it stops moving (or after a few tries)."""
    last = server.memory()["VmRSS"]
    for _ in range(5):
        await asyncio.sleep(seconds)
        now = server.memory()["VmRSS"]
        if abs(now - last) < 256:
            return now
        last = now
    return last


async def measure_idle(args, deflate: bool, tally: Tally, servers: list) -> dict:
    """A fresh server; its RSS growth per connection for --idle connections that echoed one message."""
    server = EchoServer(server_options(args, accept_delay=0))
    servers.append(server)
    soak = Soak(args, server, tally)
    name = "idle-deflate" if deflate else "idle"
    warmup = await open_idle(soak, 4, 1.0 if deflate else 0.0, lambda ws: "warm-up")
    before = await settle(server)
    started = time.monotonic()
    sockets = await open_idle(soak, args.idle, 1.0 if deflate else 0.0, lambda ws: name)
    opened = time.monotonic() - started
    after = await settle(server)
    agreed = sum(bool(ws.extensions) for ws in sockets)
    await asyncio.gather(*(ws.close() for ws in sockets + warmup), return_exceptions=True)
    server.stop()
    opened_count = len(sockets)
    return {
        "connections": opened_count,
        "deflate_agreed": agreed,
        "rss_before_kib": before,
        "rss_after_kib": after,
        "kib_per_connection": round((after - before) / max(opened_count, 1), 1),
        "open_seconds": round(opened, 1),
        "server_errors": server.errors(),
    }


async def run_mix(args, tally: Tally, servers: list) -> dict:
    """The mix on a fresh server for --duration seconds, RSS sampled every 0.25 s."""
    server = EchoServer(server_options(args, accept_delay=args.accept_delay))
    servers.append(server)
    soak = Soak(args, server, tally)
    compressed_zeros(4 * soak.limit), compressed_zeros(soak.limit - KIB), soak.early_frames()  # before the clock
    start_rss = await settle(server, 0.5)
    ready = asyncio.Event()
    holders = await open_idle(soak, args.idle, 0.5, idle_scenario)
    opened_rss = await settle(server, 0.5)
    holding = [
        asyncio.ensure_future(soak.idle_holder(ws, idle_scenario(ws), random.Random(i), ready))
        for i, ws in enumerate(holders)
    ]
    soak.deadline = time.monotonic() + args.duration
    started = time.monotonic()
    latencies: list[tuple[float, float]] = []  # (when sent, round trip)
    lags: list[tuple[float, float]] = []  # (when, this process's lag)
    server_cpu, load_cpu = server.cpu_seconds(), time.process_time()
    tasks = [asyncio.ensure_future(soak.latency_probe(latencies)), asyncio.ensure_future(soak.loop_lag(lags))]
    tasks += [asyncio.ensure_future(soak.echo_client(i)) for i in range(args.echo)]
    tasks += [asyncio.ensure_future(soak.slow_reader(i)) for i in range(args.slow)]
    for name, (_expected, weight) in HOSTILE_SCENARIOS.items():
        if name not in args.skip and (not args.only or name in args.only):
            workers = max(1, round(args.hostile * weight))
            tasks += [asyncio.ensure_future(soak.hostile(name, i)) for i in range(workers)]
    samples = []
    while time.monotonic() < soak.deadline and server.alive():
        samples.append((round(time.monotonic() - started, 2), server.memory()["VmRSS"]))
        await asyncio.sleep(0.25)
    # Every round in flight finishes by its own timeouts; a last resort beyond them.
    _done, stuck = await asyncio.wait(tasks, timeout=180)
    for task in stuck:
        task.cancel()
    elapsed = time.monotonic() - started
    cpu = {
        "server": round(server.cpu_seconds() - server_cpu, 1) if server.alive() else None,
        "load": round(time.process_time() - load_cpu, 1),
    }
    ready.set()
    await asyncio.wait(holding, timeout=60)
    alive = server.alive()
    memory = server.memory() if alive else {"VmRSS": 0, "VmHWM": 0}
    peak = max([rss for _t, rss in samples] + [memory["VmHWM"]])
    peak_at = max(samples, key=lambda sample: sample[1])[0] if samples else 0.0
    final_echo = "server died" if not alive else await final_echo_check(soak)
    exit_status = server.stop()
    return {
        "seconds": round(elapsed, 1),
        "idle_holders": len(holders),
        "stuck_tasks": len(stuck),
        "rss_start_kib": start_rss,
        "rss_with_idle_kib": opened_rss,
        "rss_peak_kib": peak,
        "peak_at_seconds": peak_at,
        "rss_end_kib": memory["VmRSS"],
        "ping_rtt_seconds": {
            "median": round(statistics.median(rtt for _sent, rtt in latencies), 4) if latencies else None,
            "max": round(max(rtt for _sent, rtt in latencies), 4) if latencies else None,
            "server_max": round(server_stall(latencies, lags), 4) if latencies else None,
            "count": len(latencies),
        },
        "load_loop_lag_max_seconds": round(max(lag for _when, lag in lags), 3) if lags else None,
        "cpu_seconds": cpu,
        "final_echo": final_echo,
        "server_alive": alive,
        "server_exit_status": exit_status,
        "server_errors": server.errors(),
        "rss_samples": samples[:: max(1, len(samples) // 60)],
    }


def server_stall(latencies: list[tuple[float, float]], lags: list[tuple[float, float]]) -> float:
    """The longest ping round trip less this process's own loop lag around it: the server's share."""
    worst = 0.0
    for sent, rtt in latencies:
        own = max((lag for when, lag in lags if sent - 0.2 <= when <= sent + rtt), default=0.0)
        worst = max(worst, rtt - max(own, 0.0))
    return worst


async def final_echo_check(soak: Soak) -> str:
    try:
        async with soak.open_client(deflate=True) as ws:
            await soak.echo_once(ws, "final", "still there?")
        return "ok"
    except Exception as error:
        return cause(error)


def server_options(args, *, accept_delay: float) -> list[str]:
    options = ["--accept-delay", str(accept_delay)]
    if args.max_message_size is not None:
        options += ["--max-message-size", str(args.max_message_size)]
    if args.max_queue is not None:
        options += ["--max-queue", str(args.max_queue)]
    return options


# -- the verdict -----------------------------------------------------------------------------------


def verdict(args, report: dict, tally: Tally, expected: dict) -> list[str]:
    """The failures, as sentences; empty when the soak passed."""
    failures = []
    for scenario, outcomes in sorted(tally.outcomes.items()):
        allowed = expected.get(scenario, {"closed"})
        for outcome, count in outcomes.items():
            if outcome not in allowed:
                failures.append(f"{scenario}: {count} x {outcome} (expected {' or '.join(sorted(allowed))})")
    for scenario, count in sorted(tally.echoes_expected.items()):
        if tally.echoes_verified[scenario] != count:
            failures.append(f"{scenario}: {tally.echoes_verified[scenario]} of {count} echoes verified")
    for key, bound in (("idle", args.max_idle_kib), ("idle_deflate", args.max_idle_deflate_kib)):
        measured = report[key]["kib_per_connection"]
        if measured > bound:
            failures.append(f"{key}: {measured} KiB of server RSS per idle connection, bound {bound} KiB")
    mix = report["mix"]
    bound = report["bounds"]["max_rss_kib"]
    if mix["rss_peak_kib"] > bound:
        failures.append(f"mix: server peak RSS {mix['rss_peak_kib'] / KIB:.0f} MiB, bound {bound / KIB:.0f} MiB")
    if not mix["server_alive"]:
        failures.append(f"mix: the server died (exit status {mix['server_exit_status']})")
    if mix["final_echo"] != "ok":
        failures.append(f"mix: the echo after the mix failed: {mix['final_echo']}")
    stall = mix["ping_rtt_seconds"]["server_max"]
    if stall is not None and stall > args.max_stall:
        failures.append(f"mix: the server took {stall} s to answer a ping, bound {args.max_stall} s (loop stalls)")
    if mix["stuck_tasks"]:
        failures.append(f"mix: {mix['stuck_tasks']} clients still running 180 s after the end, cancelled")
    return failures


def rss_bound_kib(args, idle_holders: int) -> int:
    """--max-rss-mib, or base + the idle holders (half deflate) at their per-connection bounds + allowance."""
    if args.max_rss_mib is not None:
        return int(args.max_rss_mib * KIB)
    idle = idle_holders / 2 * (args.max_idle_kib + args.max_idle_deflate_kib)
    return int((args.base_rss_mib + args.hostile_allowance_mib) * KIB + idle)


def milliseconds(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.1f} ms"


def print_report(report: dict, tally: Tally, failures: list[str]) -> None:
    out = sys.stdout
    print(f"\n== soak report ({report['implementation']} hot path on the server)", file=out)
    for key, label in (("idle", "no deflate"), ("idle_deflate", "permessage-deflate")):
        idle = report[key]
        print(
            f"idle, {label}: {idle['connections']} connections, {idle['kib_per_connection']} KiB server RSS each "
            f"({idle['rss_before_kib'] / KIB:.1f} -> {idle['rss_after_kib'] / KIB:.1f} MiB; deflate agreed on "
            f"{idle['deflate_agreed']}; opened in {idle['open_seconds']} s)",
            file=out,
        )
    mix = report["mix"]
    print(
        f"mix: {mix['seconds']} s, {mix['idle_holders']} idle holders; server RSS {mix['rss_start_kib'] / KIB:.0f} MiB "
        f"at start, {mix['rss_with_idle_kib'] / KIB:.0f} MiB with the holders, "
        f"peak {mix['rss_peak_kib'] / KIB:.0f} MiB "
        f"(at {mix['peak_at_seconds']} s; bound {report['bounds']['max_rss_kib'] / KIB:.0f} MiB), "
        f"{mix['rss_end_kib'] / KIB:.0f} MiB at the end",
        file=out,
    )
    rtt = mix["ping_rtt_seconds"]
    print(
        f"latency probe: {rtt['count']} pings, round trip median {milliseconds(rtt['median'])}, max "
        f"{milliseconds(rtt['max'])}, max less this process's own loop lag {milliseconds(rtt['server_max'])} "
        f"(bound {milliseconds(report['options']['max_stall'])}); "
        "CPU seconds in the mix: "
        f"server {mix['cpu_seconds']['server']}, load {mix['cpu_seconds']['load']}",
        file=out,
    )
    throughput = report["throughput"]
    print(
        f"throughput (well-behaved echoes): {throughput['echoes_per_second']} msg/s, "
        f"{throughput['mib_per_second']} MiB/s each way",
        file=out,
    )
    print("scenario                        outcomes", file=out)
    for scenario in sorted(set(tally.outcomes) | set(tally.echoes_expected)):
        outcomes = ", ".join(f"{count} x {outcome}" for outcome, count in tally.outcomes[scenario].most_common())
        echoes = tally.echoes_expected[scenario]
        echoed = f" [{tally.echoes_verified[scenario]}/{echoes} echoes]" if echoes else ""
        print(f"  {scenario:30}{outcomes}{echoed}", file=out)
    for phase in ("idle", "idle_deflate", "mix"):
        for line in report[phase]["server_errors"]:
            print(f"  server stderr ({phase}): {line[:160]}", file=out)
    print("PASSED" if not failures else "FAILED:\n  " + "\n  ".join(failures), file=out, flush=True)


def raise_fd_limit(needed: int) -> None:
    """Raises the soft RLIMIT_NOFILE (inherited by the server) to ``needed``, within the hard limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= needed:
        return
    if hard != resource.RLIM_INFINITY and hard < needed:
        raise SystemExit(f"soak: needs {needed} file descriptors, the hard RLIMIT_NOFILE is {hard} (lower --idle)")
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


async def soak_main(args, servers: list) -> int:
    tally = Tally()
    report = {"implementation": None, "options": {k: v for k, v in vars(args).items() if k != "json"}}
    report["idle"] = await measure_idle(args, deflate=False, tally=tally, servers=servers)
    report["idle_deflate"] = await measure_idle(args, deflate=True, tally=tally, servers=servers)
    report["mix"] = await run_mix(args, tally, servers)
    report["implementation"] = servers[-1].implementation
    report["bounds"] = {"max_rss_kib": rss_bound_kib(args, report["mix"]["idle_holders"])}
    echo_seconds = report["mix"]["seconds"]
    busy = ("echo", "echo-deflate", "slow-reader")
    report["throughput"] = {
        "echoes_per_second": round(sum(tally.echoes_verified[s] for s in busy) / echo_seconds),
        "mib_per_second": round(sum(tally.echo_bytes[s] for s in busy) / MIB / echo_seconds, 1),
    }
    report["outcomes"] = {scenario: dict(outcomes) for scenario, outcomes in tally.outcomes.items()}
    report["echoes"] = {s: [tally.echoes_verified[s], tally.echoes_expected[s]] for s in tally.echoes_expected}
    expected = {name: allowed for name, (allowed, _workers) in HOSTILE_SCENARIOS.items()}
    expected["slow-reader"] = {"all echoed"}
    failures = verdict(args, report, tally, expected)
    report["failures"] = failures
    print_report(report, tally, failures)
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as file:
            json.dump(report, file, indent=1)
    return 1 if failures else 0


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ci", action="store_true", help="the CI preset (~75 s): fewer connections, shorter mix")
    parser.add_argument("--idle", type=int, help="idle connections per measuring phase, and held during the mix")
    parser.add_argument("--echo", type=int, help="busy echo clients in the mix (half of them deflate)")
    parser.add_argument("--slow", type=int, help="slow readers in the mix")
    parser.add_argument("--hostile", type=int, help="workers per hostile scenario (twice that for the vanishing ones)")
    parser.add_argument("--duration", type=float, help="seconds of mix")
    parser.add_argument("--skip", action="append", default=[], metavar="SCENARIO", help="leave a hostile scenario out")
    parser.add_argument("--only", action="append", default=[], metavar="SCENARIO", help="run only these (repeatable)")
    parser.add_argument("--flood-frames", type=int, help="empty continuation frames per flood")
    parser.add_argument("--early-bytes", type=int, help="bytes of frames sent behind the upgrade request")
    parser.add_argument("--accept-delay", type=float, default=0.5, help="the mix server's wait before each accept (s)")
    parser.add_argument("--ping-flood", type=int, default=20_000, help="pings per flood")
    parser.add_argument("--unread-messages", type=int, default=40, help="compressed messages the unread peer sends")
    parser.add_argument("--unread-hold", type=float, default=10.0, help="seconds the unread peer holds on")
    parser.add_argument("--slow-messages", type=int, default=16, help="64 KiB messages per slow reader round")
    parser.add_argument("--slow-rate", type=float, default=512 * KIB, help="a slow reader's bytes per second")
    parser.add_argument("--large-share", type=float, default=0.05, help="share of 64-256 KiB echo messages")
    parser.add_argument("--echo-pause", type=float, default=0.02, help="seconds between an echo client's messages")
    parser.add_argument("--echo-timeout", type=float, default=60.0, help="seconds an echo may take")
    parser.add_argument("--idle-interval", type=float, default=10.0, help="seconds between an idle holder's echoes")
    parser.add_argument("--max-message-size", type=int, help="passed to the server (default: the server's default)")
    parser.add_argument("--max-queue", type=int, help="passed to the server (default: the server's default)")
    parser.add_argument("--max-idle-kib", type=float, default=48.0, help="bound: server RSS per idle connection")
    parser.add_argument(
        "--max-idle-deflate-kib", type=float, default=160.0, help="bound: the same with permessage-deflate"
    )
    parser.add_argument("--base-rss-mib", type=float, default=48.0, help="the server's RSS allowed before connections")
    parser.add_argument(
        "--hostile-allowance-mib", type=float, default=128.0, help="RSS allowed on top for the hostile peers in flight"
    )
    parser.add_argument(
        "--max-stall",
        type=float,
        default=2.0,
        help="bound: seconds the server may take to answer the latency probe's ping (less the load's own lag)",
    )
    parser.add_argument("--max-rss-mib", type=float, help="bound: peak RSS in the mix (default: from the three above)")
    parser.add_argument("--json", help="also write the report to this file")
    args = parser.parse_args(argv)
    for key, value in PRESETS["ci" if args.ci else "full"].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    unknown = set(args.skip + args.only) - set(HOSTILE_SCENARIOS)
    if unknown:
        parser.error(f"unknown scenario {', '.join(sorted(unknown))}; known: {', '.join(HOSTILE_SCENARIOS)}")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    raise_fd_limit(2 * (args.idle + args.echo + args.slow + 20 * args.hostile) + 256)
    servers: list[EchoServer] = []

    async def run() -> int:
        task = asyncio.current_task()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        budget = 300 + 2 * args.duration + args.idle * 0.1  # phases end by their own deadlines; a last resort
        return await asyncio.wait_for(soak_main(args, servers), budget)

    try:
        return asyncio.run(run())
    except asyncio.TimeoutError:
        print("soak: FAILED: over its time budget", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("soak: interrupted", file=sys.stderr)
        return 130
    finally:
        for server in servers:
            server.stop()


if __name__ == "__main__":
    sys.exit(main())
