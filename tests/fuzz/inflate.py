"""The bounded Decompressor: never hands out more than max_size bytes of a message, and raises only
ProtocolError (MessageTooBig past the limit); what our Compressor made inflates back exactly.

Messages are compressed by the peer's Compressor (small, or a bomb: a long run of repeated bytes),
then cut into frames, and sometimes corrupted; or arbitrary bytes.
"""

from __future__ import annotations

from wsframe.deflate import Compressor, DeflateParameters, Decompressor
from wsframe.errors import MessageTooBig, ProtocolError

from .reader import FuzzInput, read_splits, split

_LIMITS = (None, 0, 1, 100, 1000, 65536, 1 << 17)


def _content(inp: FuzzInput) -> bytes:
    size = inp.byte()
    if size < 192:
        return inp.bytes(size)
    seed = inp.bytes(inp.byte() % 8 + 1) or b"\0"
    return seed * ((size - 191) * 4096 // len(seed))  # up to 256 KiB, compressing to a few hundred bytes


def test_one_input(data: bytes) -> None:
    inp = FuzzInput(data)
    spec = inp.byte()
    params = DeflateParameters(
        server_no_context_takeover=bool(spec & 1),
        client_no_context_takeover=bool(spec & 2),
        server_max_window_bits=8 + (inp.byte() & 7),
        client_max_window_bits=8 + (inp.byte() & 7),
    )
    is_server = bool(spec & 4)
    max_size = inp.choice(_LIMITS)
    decompressor = Decompressor(params, is_server=is_server, max_size=max_size)
    compressor = Compressor(params, is_server=not is_server, compress_level=inp.byte() % 10)
    in_sync = True  # the peer's compressor and our decompressor agree on the context so far
    while inp.remaining:
        kind = inp.byte() % 4
        if kind == 3:
            content, compressed = None, inp.bytes(inp.byte())
        else:
            content = _content(inp)
            compressed = bytearray(compressor.compress(content))
            if kind == 2 and compressed:  # a corrupted byte
                compressed[inp.int(2) % len(compressed)] ^= inp.byte() | 1
                content = None
        frames = split(bytes(compressed), read_splits(inp), max_reads=16)
        out = []
        try:
            for index, frame in enumerate(frames):
                out.append(decompressor.decompress(frame, index == len(frames) - 1))
                size = sum(map(len, out))
                assert max_size is None or size <= max_size, f"{size} bytes inflated, over the limit of {max_size}"
        except ProtocolError as exc:
            if content is not None and in_sync:
                assert type(exc) is MessageTooBig and len(content) > max_size, f"{len(content)} bytes: {exc!r}"
            return  # the connection fails: the decompressor is not used again
        if content is None:
            in_sync = False
        elif in_sync:
            assert max_size is None or len(content) <= max_size, f"{len(content)} bytes inflated past {max_size}"
            assert b"".join(out) == content, "the message did not inflate to what was compressed"
