"""Writes the seed corpus, tests/fuzz/corpus/<target>/<name>: ``python tests/fuzz/make_corpus.py``.

Each seed is spelled in its target's input format (see the targets' ``test_one_input``): a few option
bytes, then a frame program (wire.py) or raw bytes. It rewrites only the files it names; inputs that
fuzzing found (kept as crash-* or regress-* files) stay.
"""

from __future__ import annotations

import os
import sys
import zlib

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # tests/: the fuzz package

from fuzz import TARGETS, frame_decoder, inflate, wire  # noqa: E402
from fuzz.connection import _LIMITS as CONNECTION_LIMITS  # noqa: E402

CORPUS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
KEY = b"\x37\xfa\x21\x3d"


def splits(*sizes: int) -> bytes:
    """The split program for reads of these sizes (each < 200, or a multiple of 64 up to 3520)."""
    encoded = [size if size < 200 else 200 + size // 64 for size in sizes]
    return bytes([len(encoded)] + encoded)


def frame(opcode, payload=b"", *, fin=True, rsv=0, masked=True, encoding=0, kind=0, huge=None, key=KEY) -> bytes:
    """One frame of a wire.frame_stream program; ``huge`` announces that length without a payload.

    A payload is under 250 bytes, or a whole number of 16 KiB units (of its first 256 bytes repeated).
    """
    spec = (0x80 if fin else 0) | rsv << 4 | wire._OPCODES.index(opcode)
    if huge is not None:
        encoding = 7
    form = (2 if masked else 3) | encoding << 2 | (0x20 if rsv else 0) | kind << 6
    out = bytes((spec, form))
    if huge is not None:
        out += bytes((wire.HUGE_LENGTHS.index(huge),))
    elif len(payload) >= 250:
        units, rest = divmod(len(payload), 16384)
        assert rest == 0 and payload == (payload[:256] * units * 64)[: len(payload)], "not a long payload"
        out += bytes((249 + units, len(payload[:256]) - 1)) + payload[:256]
    else:
        out += bytes((len(payload),)) + payload
    return out + (key if masked else b"")


def decoder_seed(frames: bytes = b"", *, expect_mask=True, allowed_rsv=0, stream=False, messages=False,
                 max_frame_size=None, max_message_size=None, buffer=0, raw=None, reads=b"\x00", kernels=b"\x00\x00"):
    limits = frame_decoder.LIMITS
    options = bytes((
        (True, False, None).index(expect_mask), allowed_rsv, 0 if stream else 1, 1 if messages else 0,
        limits.index(max_frame_size), limits.index(max_message_size), buffer, 0 if raw is not None else 1,
    ))
    return options + reads + kernels + (raw if raw is not None else frames)


def frame_decoder_seeds():
    hello = frame(1, b"Hello")
    fragmented = frame(1, b"Hel", fin=False) + frame(9, b"ping") + frame(0, b"lo")
    long_binary = frame(2, bytes(range(256)) * 256)
    utf8 = "κόσμε €𝄞".encode()
    seeds = {
        "rfc-masked-text": decoder_seed(hello),
        "rfc-unmasked-text-client": decoder_seed(frame(1, b"Hello", masked=False), expect_mask=False),
        "rfc-fragmented-ping-between": decoder_seed(fragmented, reads=splits(1)),
        "rfc-256-binary-16bit": decoder_seed(frame(2, bytes(range(128, 256)), kind=1), expect_mask=None),
        "binary-64kib-64bit-reads": decoder_seed(long_binary, reads=splits(3, 1000, 7)),
        "messages-mode-mixed": decoder_seed(hello + fragmented + frame(2, b"\x00\xff") + frame(10, b""),
                                            messages=True, reads=splits(2, 5)),
        "messages-empty": decoder_seed(frame(1, b"") + frame(2, b"", fin=False) + frame(0, b""), messages=True),
        "stream-mode-pieces": decoder_seed(fragmented + frame(2, bytes(16384)), stream=True, reads=splits(4)),
        "stream-with-messages-ignored": decoder_seed(fragmented, stream=True, messages=True, reads=splits(1)),
        "utf8-multibyte-split": decoder_seed(frame(1, utf8[:5], fin=False) + frame(0, utf8[5:]), reads=splits(1)),
        "utf8-codepoints": decoder_seed(frame(1, bytes(range(60)), kind=2), messages=True, kernels=b"\x02\x03"),
        "utf8-latin1": decoder_seed(frame(1, bytes(range(256))[:200], kind=1), reads=splits(17)),
        "utf8-invalid-mid-frame": decoder_seed(frame(1, b"abc\xc0\xafdef"), reads=splits(8)),
        "utf8-truncated-at-end": decoder_seed(frame(1, b"ab\xe2\x82")),
        "utf8-surrogate": decoder_seed(frame(1, b"\xed\xa0\x80"), messages=True),
        "close-with-reason": decoder_seed(frame(8, b"\x03\xe8bye")),
        "deflate-rsv1-allowed": decoder_seed(frame(1, b"hello hello", rsv=4, kind=3) + frame(1, b"x"),
                                             allowed_rsv=4, messages=True),
        "deflate-rsv1-continuation": decoder_seed(frame(1, b"ab", fin=False) + frame(0, b"cd", rsv=4),
                                                  allowed_rsv=4, messages=True),
        "rsv-not-allowed": decoder_seed(frame(2, b"x", rsv=2)),
        "reserved-opcode": decoder_seed(frame(3, b"x")),
        "control-too-long": decoder_seed(frame(9, bytes(126))),
        "control-fragmented": decoder_seed(frame(10, b"", fin=False)),
        "unmasked-from-client": decoder_seed(frame(2, b"x", masked=False)),
        "masked-from-server": decoder_seed(frame(2, b"x"), expect_mask=False),
        "nonminimal-16": decoder_seed(frame(2, b"x" * 5, encoding=5)),
        "nonminimal-64": decoder_seed(frame(2, b"x" * 5, encoding=6)),
        "continuation-without-message": decoder_seed(frame(0, b"x")),
        "new-message-inside-fragmented": decoder_seed(frame(1, b"a", fin=False) + frame(2, b"b")),
        "frame-over-limit": decoder_seed(hello + frame(2, bytes(200)), max_frame_size=125, reads=splits(1)),
        "message-over-limit": decoder_seed(frame(2, bytes(100), fin=False) + frame(0, bytes(100)),
                                           max_message_size=127, messages=True),
        "limit-zero": decoder_seed(frame(2, b"") + frame(2, b"x"), max_frame_size=0, max_message_size=0),
        "bytearray": decoder_seed(hello + fragmented, buffer=1, reads=splits(3)),
        "memoryview": decoder_seed(hello, buffer=2, messages=True, reads=splits(0, 2)),
        "length-2-63-refused": decoder_seed(frame(2, huge=2**63)),
        # Issue 9 defect 1: huge announced lengths with no limits, then payload bytes (native crashes).
        "issue9-2-45-then-data-client": decoder_seed(
            raw=b"\x82\x7f" + (2**45).to_bytes(8, "big") + b"A" * 64, expect_mask=False, reads=splits(10)),
        "issue9-2-63-minus-1-then-data-client": decoder_seed(
            raw=b"\x82\x7f" + (2**63 - 1).to_bytes(8, "big") + b"A" * 64, expect_mask=False, reads=splits(10)),
        "issue9-messages-2-62-after-text-client": decoder_seed(
            raw=b"\x81\x05hello\x01\x7f" + (2**62).to_bytes(8, "big") + b"A" * 4096, expect_mask=False,
            messages=True, reads=splits(7, 10, 3520)),
    }
    for huge in (2**31 - 1, 2**31, 2**32, 2**32 + 1, 2**40, 2**62, 2**64 - 1):
        for mode, extra in (("frames", {}), ("messages", {"messages": True}), ("stream", {"stream": True})):
            seeds[f"huge-{huge:x}-{mode}"] = decoder_seed(frame(2, huge=huge) + frame(2, bytes(200)), **extra)
    seeds["huge-limited"] = decoder_seed(frame(2, huge=2**32), max_frame_size=65536, max_message_size=2**31 - 1)
    return seeds


def utf8_seed(data: bytes, reads=b"\x00", kind=0, kernels=b"\x00\x00") -> bytes:
    return reads + bytes((kind,)) + kernels + data


def utf8_seeds():
    text = "Hello κόσμε €𝄞 ".encode()
    seeds = {
        "ascii": utf8_seed(b"plain ascii text " * 8),
        "multibyte": utf8_seed(text * 3),
        "multibyte-split-1": utf8_seed(text, reads=splits(1)),
        "latin1-blocks": utf8_seed(b"\x03\x00" + bytes(range(256)), kind=1, kernels=b"\x03\x03"),
        "codepoints": utf8_seed(b"\x01\x00" + bytes(range(255)), kind=2, kernels=b"\x00\x02"),
        "corrupted": utf8_seed(b"\x09\xff" + b"abcdefgh\xe9" * 20, kind=3, kernels=b"\x01\x01"),
        "empty": utf8_seed(b""),
        "nul-and-noncharacters": utf8_seed("\x00\ufffe\uffff\U0010ffff".encode()),
        "ends-in-sequence": utf8_seed(b"abc\xe2\x82", reads=splits(4)),
    }
    bad = {
        "overlong-2": b"\xc0\xaf", "overlong-3": b"\xe0\x80\xaf", "overlong-4": b"\xf0\x80\x80\xaf",
        "surrogate": b"\xed\xa0\x80", "over-10ffff": b"\xf4\x90\x80\x80", "f5": b"\xf5\x80", "ff": b"\xff",
        "stray-continuation": b"a\x80", "truncated-then-ascii": b"\xe2\x82a",
    }
    for name, sequence in bad.items():
        seeds[f"invalid-{name}"] = utf8_seed(b"x" * 61 + sequence + b"y" * 70, reads=splits(63))
        seeds[f"invalid-{name}-at-start"] = utf8_seed(sequence, kernels=b"\x01\x01")
    return seeds


REQUEST = (
    b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: http://example.com\r\n"
    b"Sec-WebSocket-Protocol: chat, superchat\r\nSec-WebSocket-Version: 13\r\n"
    b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits, x-webkit-deflate-frame\r\n\r\n"
)
RESPONSE = (
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: chat\r\n"
    b"Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_max_window_bits=10\r\n\r\n"
)


def handshake_seed(data: bytes, *, server: bool, limits=0, policy=0, reads=b"\x00") -> bytes:
    return bytes((1 if server else 0, limits, policy)) + reads + data


def handshake_seeds():
    return {
        "request": handshake_seed(REQUEST + b"\x81\x80" + KEY, server=True),
        "request-split": handshake_seed(REQUEST, server=True, reads=splits(1, 7, 30)),
        "request-bare-lf": handshake_seed(REQUEST.replace(b"\r\n", b"\n"), server=True, policy=1),
        "request-small-limits": handshake_seed(REQUEST, server=True, limits=1),
        "request-head-limit": handshake_seed(REQUEST, server=True, limits=2, reads=splits(10)),
        "request-post": handshake_seed(REQUEST.replace(b"GET", b"POST"), server=True),
        "request-version-8": handshake_seed(REQUEST.replace(b"Version: 13", b"Version: 8"), server=True),
        "request-no-upgrade": handshake_seed(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", server=True),
        "request-http-1-0": handshake_seed(REQUEST.replace(b"HTTP/1.1", b"HTTP/1.0"), server=True),
        "request-obs-fold": handshake_seed(REQUEST.replace(b"Origin:", b" Origin:"), server=True),
        "request-quoted-extension": handshake_seed(REQUEST.replace(
            b"client_max_window_bits,", b'client_max_window_bits="10"; server_no_context_takeover,'), server=True),
        "request-truncated": handshake_seed(REQUEST[:50], server=True),
        "response-101": handshake_seed(RESPONSE + b"\x81\x02hi", server=False, policy=1),
        "response-101-split": handshake_seed(RESPONSE, server=False, reads=splits(3, 11)),
        "response-101-wrong-accept": handshake_seed(RESPONSE.replace(b"s3pP", b"AAAA"), server=False),
        "response-interim-100": handshake_seed(b"HTTP/1.1 100 Continue\r\n\r\n" + RESPONSE, server=False),
        "response-404-body": handshake_seed(
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 5\r\n\r\nnope!extra", server=False),
        "response-403-to-eof": handshake_seed(b"HTTP/1.0 403 Forbidden\r\n\r\nbody until eof", server=False),
        "response-chunked": handshake_seed(
            b"HTTP/1.1 500 Oops\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", server=False),
        "response-bad-content-length": handshake_seed(
            b"HTTP/1.1 400 Bad\r\nContent-Length: 1, 2\r\n\r\n", server=False),
        "response-small-limits": handshake_seed(RESPONSE, server=False, limits=3, reads=splits(5)),
    }


def connection_seed(frames: bytes = b"", *, server=True, max_message_size=2**24, max_frame_size=None, stream=False,
                    auto_pong=True, fragment=0, deflate=0, reject=False, eof=False, raw=None, reads=b"\x00",
                    handshake=1, offer=None, answer=0) -> bytes:
    """handshake: 0 the input is the request or response, 1 a valid one first, 2 a server opened=True;
    offer / answer: the index of the deflate offer (server side) or answer (client side) in connection.py."""
    limits = CONNECTION_LIMITS
    options = bytes((
        1 if server else 0, limits.index(max_message_size), limits.index(max_frame_size), 1 if stream else 0,
        1 if auto_pong else 0, fragment, deflate, 0 if reject else 1, 1 if eof else 0, 0 if raw is not None else 1,
    )) + reads
    if server:
        setup = bytes((handshake,))
        if handshake == 1:
            setup += b"\x00" if offer is None else bytes((1, offer))
    else:
        setup = bytes((handshake,)) + (bytes((answer,)) if handshake and deflate else b"")
    return options + setup + (raw if raw is not None else frames)


def connection_seeds():
    seeds = {}
    for side, masked in (("server", True), ("client", False)):
        def f(opcode, payload=b"", **options):
            return frame(opcode, payload, masked=masked, **options)

        hello = f(1, b"Hello")
        messages = hello + f(2, bytes(range(40)), fin=False) + f(9, b"p") + f(0, b"end") + f(10, b"")
        close = f(8, b"\x03\xe8bye")
        compressed = f(1, b"compressed text " * 10, rsv=4, kind=3) + f(2, bytes(16384), rsv=4, kind=3)
        common = dict(server=masked)
        seeds.update({
            f"{side}-echo": connection_seed(messages + close, **common),
            f"{side}-echo-split": connection_seed(messages + close, reads=splits(1, 3), **common),
            f"{side}-stream": connection_seed(messages + f(2, bytes(16384)), stream=True, reads=splits(100), **common),
            f"{side}-fragmented-echo": connection_seed(messages + f(2, bytes(200)) + close, fragment=2, **common),
            f"{side}-no-auto-pong": connection_seed(f(9, b"ping") + close, auto_pong=False, **common),
            f"{side}-eof-mid-frame": connection_seed(hello + f(2, bytes(100))[:20], eof=True, **common),
            f"{side}-deflate": connection_seed(compressed + close, deflate=1, offer=0, answer=0, **common),
            f"{side}-deflate-no-takeover": connection_seed(compressed * 2, deflate=2, offer=1, answer=1, stream=True,
                                                           **common),
            f"{side}-deflate-small-windows": connection_seed(compressed, deflate=1, offer=2, answer=2, **common),
            f"{side}-deflate-bomb": connection_seed(f(2, bytes(65536), rsv=4, kind=3), deflate=1, offer=0,
                                                    max_message_size=1000, **common),
            f"{side}-rsv1-on-continuation": connection_seed(f(1, b"a", fin=False) + f(0, b"b", rsv=4), deflate=1,
                                                            offer=0, **common),
            f"{side}-close-invalid-code": connection_seed(f(8, b"\x03\xed"), **common),
            f"{side}-close-invalid-utf8": connection_seed(f(8, b"\x03\xe8\xff"), **common),
            f"{side}-close-1-byte": connection_seed(f(8, b"\x03"), **common),
            f"{side}-invalid-utf8-streamed": connection_seed(f(1, b"ok\xff"), stream=True, **common),
            f"{side}-over-limit": connection_seed(f(2, bytes(16384)), max_message_size=1000, **common),
            f"{side}-wrong-masking": connection_seed(frame(1, b"hi", masked=not masked), **common),
        })
    seeds.update({
        "server-reject": connection_seed(frame(1, b"Hello"), reject=True),
        "server-deflate-not-negotiated": connection_seed(frame(1, b"x", rsv=4, kind=3), deflate=1),
        "server-opened-no-limit": connection_seed(
            frame(1, b"hi") + frame(1, huge=2**62, fin=False) + frame(2, bytes(16384)), handshake=2,
            max_message_size=None),
        "server-raw-request": connection_seed(raw=REQUEST + b"\x81\x85" + KEY + b"\x7f\x9f\x4d\x51\x58",
                                              handshake=0, reads=splits(40)),
        "server-raw-request-deflate": connection_seed(raw=REQUEST, handshake=0, deflate=1),
        "server-raw-garbage": connection_seed(raw=b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", handshake=0),
        "client-raw-response": connection_seed(raw=RESPONSE, server=False, handshake=0),
        "client-raw-404": connection_seed(raw=b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nno",
                                          server=False, handshake=0, eof=True),
    })
    return seeds


def inflate_seed(messages: bytes, *, spec=0, server_bits=7, client_bits=7, limit=None, level=6) -> bytes:
    return bytes((spec, server_bits, client_bits, inflate._LIMITS.index(limit), level)) + messages


def message(content: bytes = b"", *, kind=0, reads=b"\x00", bomb=None, corrupt=b"") -> bytes:
    """One message of the inflate program: content (or a bomb: seed, size in 4 KiB units), frames."""
    if bomb is not None:
        seed, units = bomb
        body = bytes((191 + units, len(seed) - 1)) + seed
    else:
        body = bytes((len(content),)) + content
    return bytes((kind,)) + body + corrupt + reads


def raw_message(compressed: bytes) -> bytes:
    """A message of the inflate program made of these bytes as they are, in one frame."""
    return bytes((3, len(compressed))) + compressed + b"\x00"


def inflate_seeds():
    text = b"A compressed message, a compressed message. " * 4
    deflater = zlib.compressobj(6, zlib.DEFLATED, -15)
    final_block = deflater.compress(b"abcabc") + deflater.flush(zlib.Z_FINISH)  # BFINAL set: RFC 7692 7.2.3.5
    return {
        "one-message": inflate_seed(message(text)),
        "messages-context-takeover": inflate_seed(message(text) + message(text) + message(b"")),
        "no-context-takeover": inflate_seed(message(text) * 3, spec=3),
        "frames": inflate_seed(message(text, reads=splits(1, 5)) + message(text, reads=splits(0, 3))),
        "window-8": inflate_seed(message(text) * 2, server_bits=0, client_bits=0, spec=4),
        "window-9-level-1": inflate_seed(message(text), server_bits=1, client_bits=1, level=1),
        "level-0-stored": inflate_seed(message(bytes(range(150))), level=0),
        "bomb-under-limit": inflate_seed(message(bomb=(b"\x00", 16)), limit=1 << 17),
        "bomb-over-limit": inflate_seed(message(bomb=(b"\x00", 64)), limit=65536),
        "bomb-at-limit-frames": inflate_seed(message(bomb=(b"ab", 16), reads=splits(3)), limit=65536),
        "small-limit": inflate_seed(message(text) + message(b"x"), limit=100),
        "limit-zero": inflate_seed(message(b"") + message(b"a"), limit=0),
        "limit-one": inflate_seed(message(b"a") + message(b"ab"), limit=1),
        "corrupted": inflate_seed(message(text, kind=2, corrupt=b"\x00\x03\x40")),
        "raw-bytes": inflate_seed(raw_message(bytes(range(16)))),
        "raw-final-block": inflate_seed(raw_message(final_block)),
        "raw-final-block-empty-block-after": inflate_seed(raw_message(final_block + b"\x00")),
        "raw-data-after-final-block": inflate_seed(raw_message(final_block + b"\x01\x02")),
        "raw-stored-block": inflate_seed(raw_message(b"\x00\x03\x00\xfc\xffabc"), limit=1),
    }


def main() -> None:
    generators = {
        "frame_decoder": frame_decoder_seeds,
        "utf8": utf8_seeds,
        "handshake": handshake_seeds,
        "connection": connection_seeds,
        "inflate": inflate_seeds,
    }
    assert set(generators) == set(TARGETS)
    for target, generate in generators.items():
        directory = os.path.join(CORPUS, target)
        os.makedirs(directory, exist_ok=True)
        seeds = generate()
        for name, data in seeds.items():
            with open(os.path.join(directory, name), "wb") as file:
                file.write(data)
        print(f"{target}: {len(seeds)} seeds")


if __name__ == "__main__":
    main()
