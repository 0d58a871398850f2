"""Frame coding (contract section 3): encode_header, encode_frame, decode_header, FrameDecoder.

Every test runs against both implementations (``impl``) or compares them (``both``). Expected wire bytes
come from RFC 6455 section 5.7 or from ``reference_frame``, a deliberately naive encoder.
"""

import array
import sys

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from wsframe.errors import InvalidUTF8, MessageTooBig, ProtocolError

KEY = bytes.fromhex("37fa213d")
DATA_OPCODES = (1, 2)
CONTROL_OPCODES = (8, 9, 10)
BOUNDARY_LENGTHS = (0, 1, 125, 126, 127, 65535, 65536, 65537)

# The fixtures are plain module references, safe to share between generated examples.
SUPPRESSED = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture]
FAST = settings(max_examples=60, deadline=None, suppress_health_check=SUPPRESSED)


class Text(tuple):
    """Message mode's item types in these tests (the decoder takes any pair of tuple subclasses)."""

    __slots__ = ()


class Binary(tuple):
    __slots__ = ()


MESSAGE_TYPES = (Text, Binary)


def reference_frame(opcode, payload, fin=True, rsv=0, key=None):
    """A frame encoded the obvious way, byte by byte."""
    mask_bit = 0x80 if key else 0
    n = len(payload)
    header = bytes([(0x80 if fin else 0) | rsv << 4 | opcode])
    if n < 126:
        header += bytes([mask_bit | n])
    elif n < 65536:
        header += bytes([mask_bit | 126]) + n.to_bytes(2, "big")
    else:
        header += bytes([mask_bit | 127]) + n.to_bytes(8, "big")
    if key:
        header += key
        payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return header + bytes(payload)


def outcome(call):
    """The result of call(), or the error as (class, message, close_code, offset) for comparisons."""
    try:
        return ("ok", call())
    except Exception as exc:
        return ("error", error_key(exc))


def error_key(exc):
    if exc is None:
        return None
    return (type(exc), str(exc), getattr(exc, "close_code", None), getattr(exc, "offset", None))


def feed(decoder, data, cuts):
    """Feeds data in pieces cut at the sorted positions cuts, re-passing unconsumed bytes like a caller.

    Returns each call's (frames, consumed, error key) and all frames; stops at the first error.
    """
    calls, frames = [], []
    pending = b""
    start = 0
    for end in [*cuts, len(data)]:
        chunk = pending + data[start:end]
        start = end
        got, consumed, error = decoder.decode(chunk)
        calls.append((got, consumed, error_key(error)))
        frames.extend(got)
        if error is not None:
            return calls, frames, error
        assert 0 <= consumed <= len(chunk)
        pending = chunk[consumed:]
        assert len(pending) < 14
    assert pending == b"", "bytes left over at the end of a whole stream"
    return calls, frames, None


def decode_all(impl, data, cuts=(), **options):
    options.setdefault("expect_mask", None)
    return feed(impl.FrameDecoder(**options), data, cuts)


def messages(frames):
    """Frames (or stream pieces) reduced to messages: data fragments joined, control frames as they come."""
    result, parts = [], []
    opcode = None
    for op, fin, rsv, payload in frames:
        if op >= 8:
            result.append((op, payload))
            continue
        if op != 0:
            opcode = (op, rsv)
        parts.append(payload)
        if fin:
            result.append((opcode, b"".join(parts)))
            parts = []
    return result


# -- RFC 6455 section 5.7 examples ---------------------------------------------------------------------

RFC_EXAMPLES = [
    ("text", [(1, True, b"Hello", None)], "810548656c6c6f"),
    ("masked text", [(1, True, b"Hello", KEY)], "818537fa213d7f9f4d5158"),
    ("fragmented", [(1, False, b"Hel", None), (0, True, b"lo", None)], "010348656c" "80026c6f"),
    ("ping", [(9, True, b"Hello", None)], "890548656c6c6f"),
    ("masked pong", [(10, True, b"Hello", KEY)], "8a8537fa213d7f9f4d5158"),
    ("256 bytes", [(2, True, bytes(range(256)), None)], "827e0100" + bytes(range(256)).hex()),
    ("64 KiB", [(2, True, bytes(65536), None)], "827f0000000000010000" + bytes(65536).hex()),
]


@pytest.mark.parametrize("name, frames, wire", RFC_EXAMPLES, ids=[e[0] for e in RFC_EXAMPLES])
def test_rfc_examples_encode(impl, name, frames, wire):
    encoded = b"".join(impl.encode_frame(op, payload, fin=fin, mask_key=key) for op, fin, payload, key in frames)
    assert encoded == bytes.fromhex(wire)


@pytest.mark.parametrize("name, frames, wire", RFC_EXAMPLES, ids=[e[0] for e in RFC_EXAMPLES])
def test_rfc_examples_decode(impl, name, frames, wire):
    data = bytes.fromhex(wire)
    got, consumed, error = impl.FrameDecoder(expect_mask=None).decode(data)
    assert (got, consumed, error) == ([(op, fin, 0, payload) for op, fin, payload, _ in frames], len(data), None)


@pytest.mark.parametrize("name, frames, wire", RFC_EXAMPLES, ids=[e[0] for e in RFC_EXAMPLES])
def test_rfc_examples_headers(impl, name, frames, wire):
    data = bytes.fromhex(wire)
    offset = 0
    for op, fin, payload, key in frames:
        header = impl.encode_header(op, len(payload), fin=fin, mask_key=key)
        assert data.startswith(header, offset)
        assert impl.decode_header(data, offset) == (fin, 0, op, len(payload), key, len(header))
        offset += len(header) + len(payload)
    assert offset == len(data)


# -- encoding ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("length", BOUNDARY_LENGTHS)
@pytest.mark.parametrize("key", [None, KEY, b"\x00\x00\x00\x00"])
def test_length_boundaries(impl, length, key):
    payload = bytes(i * 7 & 0xFF for i in range(length))
    frame = reference_frame(2, payload, key=key)
    header_length = len(frame) - length
    assert header_length == (2 if length < 126 else 4 if length < 65536 else 10) + (4 if key else 0)
    assert impl.encode_frame(2, payload, mask_key=key) == frame
    assert impl.encode_header(2, length, mask_key=key) == frame[:header_length]
    assert impl.decode_header(frame) == (True, 0, 2, length, key, header_length)
    assert impl.FrameDecoder(expect_mask=key is not None).decode(frame) == ([(2, True, 0, payload)], len(frame), None)


def test_encode_header_largest_length(impl):
    header = impl.encode_header(2, 2**63 - 1)
    assert header == b"\x82\x7f" + (2**63 - 1).to_bytes(8, "big")
    assert impl.decode_header(header) == (True, 0, 2, 2**63 - 1, None, 10)


@pytest.mark.parametrize("fin", [True, False])
@pytest.mark.parametrize("rsv", range(8))
@pytest.mark.parametrize("opcode", range(16))
def test_encode_first_byte(impl, opcode, rsv, fin):
    expected = bytes([(0x80 if fin else 0) | rsv << 4 | opcode, 3]) + b"abc"
    assert impl.encode_frame(opcode, b"abc", fin=fin, rsv=rsv) == expected
    assert impl.encode_header(opcode, 3, fin=fin, rsv=rsv) == expected[:2]


@pytest.mark.parametrize("payload", [b"abcdef", bytearray(b"abcdef"), memoryview(b"abcdef"), array.array("B", b"abcdef")])
@pytest.mark.parametrize("key", [KEY, bytearray(KEY), memoryview(KEY), array.array("B", KEY)])
def test_encode_bytes_like(impl, payload, key):
    assert impl.encode_frame(2, payload, mask_key=key) == reference_frame(2, b"abcdef", key=KEY)


def test_encode_frame_wide_items(impl):
    # A buffer's raw bytes are used, whatever its item format.
    payload = array.array("I", [0x01020304, 0x05060708])
    assert impl.encode_frame(2, payload) == reference_frame(2, payload.tobytes())


ENCODE_ERRORS = [
    (dict(opcode=16), ValueError, "invalid opcode 16"),
    (dict(opcode=-1), ValueError, "invalid opcode -1"),
    (dict(opcode=2**70), ValueError, f"invalid opcode {2**70}"),
    (dict(rsv=8), ValueError, "invalid rsv 8"),
    (dict(rsv=-1), ValueError, "invalid rsv -1"),
    (dict(opcode=16, rsv=8), ValueError, "invalid opcode 16"),
    (dict(mask_key=b"abc"), ValueError, "mask key must be 4 bytes, not 3"),
    (dict(mask_key=b"abcde"), ValueError, "mask key must be 4 bytes, not 5"),
    (dict(mask_key="abcd"), TypeError, "expected a contiguous bytes-like object, not str"),
    (dict(rsv=8, mask_key=b"abc"), ValueError, "invalid rsv 8"),
    (dict(opcode=1.0), TypeError, "'float' object cannot be interpreted as an integer"),
]


@pytest.mark.parametrize("arguments, error, message", ENCODE_ERRORS)
def test_encode_frame_errors(impl, arguments, error, message):
    arguments = {"opcode": 2, "payload": b"x", **arguments}
    with pytest.raises(error) as caught:
        impl.encode_frame(arguments.pop("opcode"), arguments.pop("payload"), **arguments)
    assert str(caught.value) == message


@pytest.mark.parametrize("arguments, error, message", ENCODE_ERRORS)
def test_encode_header_errors(impl, arguments, error, message):
    arguments = {"opcode": 2, **arguments}
    with pytest.raises(error) as caught:
        impl.encode_header(arguments.pop("opcode"), 1, **arguments)
    assert str(caught.value) == message


@pytest.mark.parametrize("length", [-1, 2**63, 2**64, 2**100])
def test_encode_header_invalid_length(impl, length):
    with pytest.raises(ValueError) as caught:
        impl.encode_header(2, length, mask_key=b"ab")  # the length is checked before the key
    assert str(caught.value) == f"invalid payload length {length}"


@pytest.mark.parametrize("payload", ["text", None, memoryview(b"abcdef")[::2]])
def test_encode_frame_payload_type(impl, payload):
    with pytest.raises(TypeError) as caught:
        impl.encode_frame(1, payload, mask_key=b"ab")  # the payload is checked before the key
    assert str(caught.value) == f"expected a contiguous bytes-like object, not {type(payload).__name__}"


@FAST
@given(
    opcode=st.integers(0, 15),
    payload=st.binary(max_size=300) | st.sampled_from(BOUNDARY_LENGTHS).map(bytes),
    fin=st.booleans(),
    rsv=st.integers(0, 7),
    key=st.none() | st.binary(min_size=4, max_size=4),
)
def test_encode_matches_reference_and_decodes(both, opcode, payload, fin, rsv, key):
    frame = reference_frame(opcode, payload, fin, rsv, key)
    header_length = len(frame) - len(payload)
    for impl in both:
        assert impl.encode_frame(opcode, payload, fin=fin, rsv=rsv, mask_key=key) == frame
        assert impl.encode_header(opcode, len(payload), fin=fin, rsv=rsv, mask_key=key) == frame[:header_length]
        if opcode in (3, 4, 5, 6, 7, 11, 12, 13, 14, 15) or (opcode >= 8 and (not fin or len(payload) > 125)):
            continue  # encodable on purpose, but not a valid frame
        header = impl.decode_header(frame, allowed_rsv=7)
        assert header == (fin, rsv, opcode, len(payload), key, header_length)
        if opcode < 8 and not fin or opcode == 0:
            continue  # not a whole message on its own
        decoded = impl.FrameDecoder(expect_mask=key is not None, allowed_rsv=7).decode(frame)
        if opcode == 1 and not rsv & 4:
            try:
                payload.decode()
            except UnicodeDecodeError:
                assert isinstance(decoded[2], InvalidUTF8)
                continue
        assert decoded == ([(opcode, fin, rsv, payload)], len(frame), None)


# -- decode_header ---------------------------------------------------------------------------------------

HEADER_ERRORS = [
    # (first two bytes, expect_mask, allowed_rsv, message): each check, then pairs showing the order.
    ("83 00", None, 0, "reserved opcode 3"),
    ("87 00", None, 0, "reserved opcode 7"),
    ("8b 00", None, 0, "reserved opcode 11"),
    ("0f ff", True, 0, "reserved opcode 15"),
    ("f3 00", None, 0, "reserved opcode 3"),
    ("c1 00", None, 0, "reserved bits set: RSV1"),
    ("a1 00", None, 0, "reserved bits set: RSV2"),
    ("91 00", None, 0, "reserved bits set: RSV3"),
    ("f1 00", None, 0, "reserved bits set: RSV1"),
    ("f1 00", None, 4, "reserved bits set: RSV2"),
    ("f1 00", None, 6, "reserved bits set: RSV3"),
    ("b1 00", None, 4, "reserved bits set: RSV2"),
    ("d9 00", None, 0, "reserved bits set: RSV1"),
    ("09 00", None, 0, "fragmented control frame"),
    ("49 fe", True, 0, "reserved bits set: RSV1"),
    ("08 7e", None, 0, "fragmented control frame"),
    ("8a 7e", None, 0, "control frame payload over 125 bytes"),
    ("88 7f", None, 0, "control frame payload over 125 bytes"),
    ("89 7e", True, 0, "control frame payload over 125 bytes"),
    ("82 00", True, 0, "unmasked frame from a client"),
    ("82 80", False, 0, "masked frame from a server"),
    ("82 7e", True, 0, "unmasked frame from a client"),
    ("82 ff", False, 0, "masked frame from a server"),
    ("82 7e 00 7d", None, 0, "payload length not minimally encoded"),
    ("82 7e 00 00", None, 0, "payload length not minimally encoded"),
    ("82 7f 00 00 00 00 00 00 ff ff", None, 0, "payload length not minimally encoded"),
    ("82 7f 00 00 00 00 00 00 00 7d", None, 0, "payload length not minimally encoded"),
    ("82 7f 80 00 00 00 00 00 00 00", None, 0, "payload length over 2**63-1"),
    ("82 7f ff ff ff ff ff ff ff ff", None, 0, "payload length over 2**63-1"),
    ("82 ff 80 00 00 00 00 00 00 00 00 00 00 00", True, 0, "payload length over 2**63-1"),
]


@pytest.mark.parametrize("data, expect_mask, allowed_rsv, message", HEADER_ERRORS)
def test_header_errors(impl, data, expect_mask, allowed_rsv, message):
    data = bytes.fromhex(data)
    with pytest.raises(ProtocolError) as caught:
        impl.decode_header(b"xy" + data, 2, expect_mask=expect_mask, allowed_rsv=allowed_rsv)
    assert type(caught.value) is ProtocolError
    assert (str(caught.value), caught.value.close_code) == (message, 1002)
    # The decoder applies the same checks, before anything else.
    frames, consumed, error = impl.FrameDecoder(expect_mask=expect_mask, allowed_rsv=allowed_rsv).decode(data)
    assert (frames, consumed, type(error), str(error)) == ([], 0, ProtocolError, message)


def test_allowed_rsv_accepts(impl):
    for rsv in range(8):
        assert impl.decode_header(bytes([0x82 | rsv << 4, 0]), allowed_rsv=7) == (True, rsv, 2, 0, None, 2)
        assert impl.decode_header(bytes([0x82 | rsv << 4, 0]), allowed_rsv=rsv)[1] == rsv


def test_length_checked_only_when_complete(impl):
    # An incomplete extended length is "missing bytes", even if what is there can only be non-minimal.
    assert impl.decode_header(bytes.fromhex("827e00")) == 1
    assert impl.decode_header(bytes.fromhex("827f8000")) == 6
    assert impl.decode_header(bytes.fromhex("82fe007d")) == 4  # the mask key is part of the header


HEADER_FORMS = [
    reference_frame(2, bytes(n), key=key)[: (2 if n < 126 else 4 if n < 65536 else 10) + (4 if key else 0)]
    for n in (5, 300, 70000)
    for key in (None, KEY)
]


@pytest.mark.parametrize("header", HEADER_FORMS, ids=lambda h: h[:2].hex())
def test_missing_counts(impl, header):
    for available in range(len(header)):
        expected = 2 - available if available < 2 else len(header) - available
        assert impl.decode_header(header[:available]) == expected
        assert impl.decode_header(b"junk" + header[:available], 4) == expected
        assert impl.FrameDecoder(expect_mask=None).decode(header[:available]) == ([], 0, None)
    assert impl.decode_header(header)[5] == len(header)


def test_decode_header_offset(impl):
    data = b"\x00\x00\x81\x00"
    assert impl.decode_header(data, 2) == (True, 0, 1, 0, None, 2)
    assert impl.decode_header(data, 4) == 2
    assert impl.decode_header(data, 3) == 1
    for offset in (-1, 5, 2**70, -(2**70)):
        with pytest.raises(ValueError) as caught:
            impl.decode_header(data, offset)
        assert str(caught.value) == f"offset {offset} out of range"


@pytest.mark.parametrize("data", [bytearray(b"\x81\x00"), memoryview(b"\x81\x00"), array.array("B", b"\x81\x00")])
def test_decode_header_bytes_like(impl, data):
    assert impl.decode_header(data) == (True, 0, 1, 0, None, 2)


@pytest.mark.parametrize("data", ["\x81\x00", 12, memoryview(b"\x81\x00\x00\x00")[::2]])
def test_decode_header_type(impl, data):
    with pytest.raises(TypeError) as caught:
        impl.decode_header(data)
    assert str(caught.value) == f"expected a contiguous bytes-like object, not {type(data).__name__}"


EXTENDED_LENGTHS = [0, 1, 125, 126, 127, 65535, 65536, 2**32, 2**63 - 1, 2**63, 2**64 - 1]


@st.composite
def adversarial_headers(draw):
    """Bytes around a header: any first two bytes, extended lengths near every boundary, truncations."""
    first = draw(st.integers(0, 255))
    second = draw(st.integers(0, 255) | st.sampled_from([0x7E, 0x7F, 0xFE, 0xFF, 0x7D, 0xFD]))
    length = draw(st.sampled_from(EXTENDED_LENGTHS) | st.integers(0, 2**64 - 1))
    extended = length.to_bytes(8, "big") if second & 0x7F == 127 else (length & 0xFFFF).to_bytes(2, "big")
    data = bytes([first, second]) + extended + draw(st.binary(min_size=4, max_size=4))
    data = data[: draw(st.integers(0, len(data)))] + draw(st.binary(max_size=3))
    prefix = draw(st.binary(max_size=3))
    return prefix + data, len(prefix)


@settings(max_examples=600, deadline=None, suppress_health_check=SUPPRESSED)
@given(case=adversarial_headers(), expect_mask=st.sampled_from([None, True, False]), allowed_rsv=st.integers(0, 7))
def test_decode_header_native_matches_fallback(both, case, expect_mask, allowed_rsv):
    data, offset = case
    native, fallback = (
        outcome(lambda: impl.decode_header(data, offset, expect_mask=expect_mask, allowed_rsv=allowed_rsv))
        for impl in both
    )
    assert native == fallback
    if native[0] == "ok" and not isinstance(native[1], int):
        # A valid header is exactly what the encoder makes of its fields.
        fin, rsv, opcode, length, key, header_length = native[1]
        header = data[offset : offset + header_length]
        assert both[0].encode_header(opcode, length, fin=fin, rsv=rsv, mask_key=key) == header
        assert reference_frame(opcode, b"", fin, rsv, key)[:1] == header[:1]


# -- FrameDecoder ------------------------------------------------------------------------------------------


def test_many_frames_in_one_call(impl):
    frames = [(1 + i % 2, True, 0, f"frame {i}".encode()) for i in range(2000)]
    data = b"".join(reference_frame(op, payload, key=KEY) for op, _, _, payload in frames)
    assert impl.FrameDecoder(expect_mask=True).decode(data) == (frames, len(data), None)


def test_control_frames_inside_fragmented_messages(impl):
    frames = [
        (1, False, 0, "caf".encode()),
        (9, True, 0, b"ping"),
        (0, False, 0, "\xe9".encode()[:1]),  # the message's text splits a character across frames
        (10, True, 0, b""),
        (0, False, 0, "\xe9".encode()[1:]),
        (8, True, 0, b"\x03\xe8"),
        (0, True, 0, b"!"),
        (2, False, 0, b"\xff"),
        (9, True, 0, b"\xff\xfe"),
        (0, True, 0, b"\xfe"),
    ]
    data = b"".join(reference_frame(op, payload, fin) for op, fin, _, payload in frames)
    assert impl.FrameDecoder(expect_mask=False).decode(data) == (frames, len(data), None)


SEQUENCE_ERRORS = [
    ([(0, True, b"x")], "continuation frame without a message to continue"),
    ([(1, True, b"a"), (0, True, b"x")], "continuation frame without a message to continue"),
    ([(2, False, b"a"), (0, True, b"b"), (0, False, b"x")], "continuation frame without a message to continue"),
    ([(1, False, b"a"), (1, True, b"x")], "new message started inside a fragmented message"),
    ([(1, False, b"a"), (9, True, b""), (2, True, b"x")], "new message started inside a fragmented message"),
    ([(2, False, b"a"), (0, False, b"b"), (2, False, b"x")], "new message started inside a fragmented message"),
]


@pytest.mark.parametrize("frames, message", SEQUENCE_ERRORS)
def test_sequencing_errors(impl, frames, message):
    encoded = [reference_frame(op, payload, fin) for op, fin, payload in frames]
    decoder = impl.FrameDecoder(expect_mask=False)
    got, consumed, error = decoder.decode(b"".join(encoded) + b"\x81\x01z")
    # The frames before the failing one are returned, consumed stops at it.
    assert got == [(op, fin, 0, payload) for op, fin, payload in frames[:-1]]
    assert consumed == sum(map(len, encoded[:-1]))
    assert (type(error), str(error), error.close_code) == (ProtocolError, message, 1002)
    # The decoder is dead from then on.
    assert decoder.decode(b"\x81\x00") == ([], 0, error)
    assert decoder.decode(b"")[2] is error


def test_max_frame_size_boundary(impl):
    decoder = impl.FrameDecoder(expect_mask=False, max_frame_size=300)
    ok = reference_frame(2, bytes(300))
    frames, consumed, error = decoder.decode(ok + ok + reference_frame(2, bytes(301)))
    assert (frames, consumed) == ([(2, True, 0, bytes(300))] * 2, 2 * len(ok))
    assert (type(error), str(error), error.close_code) == (
        MessageTooBig, "frame of 301 bytes exceeds the limit of 300 bytes", 1009)


def test_max_frame_size_zero_and_control_frames(impl):
    decoder = impl.FrameDecoder(expect_mask=False, max_frame_size=0)
    frames, consumed, error = decoder.decode(b"\x82\x00\x89\x00\x89\x01x")
    assert (frames, consumed) == ([(2, True, 0, b""), (9, True, 0, b"")], 4)
    assert str(error) == "frame of 1 bytes exceeds the limit of 0 bytes"


def test_max_message_size_boundary(impl):
    decoder = impl.FrameDecoder(expect_mask=False, max_message_size=10)
    ok = [(1, False, b"abcd"), (9, True, b"control frames do not count"), (0, True, b"efghij")]
    data = b"".join(reference_frame(op, payload, fin) for op, fin, payload in ok)
    bad = reference_frame(2, b"12345", False) + reference_frame(0, b"123456", False)
    frames, consumed, error = decoder.decode(data + bad + b"more")
    assert frames == [(op, fin, 0, payload) for op, fin, payload in ok] + [(2, False, 0, b"12345")]
    assert consumed == len(data) + 7
    assert (type(error), str(error), error.close_code) == (
        MessageTooBig, "message of 11 bytes or more exceeds the limit of 10 bytes", 1009)


def test_max_message_size_single_frame(impl):
    decoder = impl.FrameDecoder(expect_mask=False, max_message_size=3)
    frames, consumed, error = decoder.decode(b"\x82\x03abc\x81\x04abcd")
    assert (frames, consumed) == ([(2, True, 0, b"abc")], 5)
    assert str(error) == "message of 4 bytes or more exceeds the limit of 3 bytes"


def test_max_message_size_skips_compressed_messages(impl):
    decoder = impl.FrameDecoder(expect_mask=False, allowed_rsv=4, max_message_size=3, max_frame_size=5)
    data = reference_frame(2, b"abcde", False, rsv=4) + reference_frame(0, b"fghij") + reference_frame(1, b"abcdef")
    frames, consumed, error = decoder.decode(data)
    assert frames == [(2, False, 4, b"abcde"), (0, True, 0, b"fghij")]
    assert str(error) == "frame of 6 bytes exceeds the limit of 5 bytes"


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("limit", ["max_frame_size", "max_message_size"])
def test_limits_checked_from_the_header(impl, limit, stream):
    # Only the header of a 2**40-byte frame is there: the limit fails at once, nothing is allocated.
    decoder = impl.FrameDecoder(expect_mask=True, stream=stream, **{limit: 1000})
    header = impl.encode_header(2, 2**40, mask_key=KEY)
    frames, consumed, error = decoder.decode(reference_frame(1, b"hi", key=KEY) + header)
    assert (frames, consumed, type(error)) == ([(1, True, 0, b"hi")], 8, MessageTooBig)
    assert str(error).startswith(f"{'frame' if limit == 'max_frame_size' else 'message'} of {2**40} bytes")


def test_huge_limits(impl):
    decoder = impl.FrameDecoder(expect_mask=None, max_frame_size=2**80, max_message_size=2**80)
    assert decoder.decode(b"\x82\x01x") == ([(2, True, 0, b"x")], 3, None)
    # A total past sys.maxsize cannot be held: limits above it (None included) are sys.maxsize.
    for limit in (2**63, None):
        decoder = impl.FrameDecoder(expect_mask=None, max_message_size=limit)
        frames, consumed, error = decoder.decode(b"\x02\x05abcde" + impl.encode_header(0, 2**63 - 1))
        assert (frames, consumed, type(error)) == ([(2, False, 0, b"abcde")], 7, MessageTooBig)
        assert str(error) == f"message of {2**63 + 4} bytes or more exceeds the limit of {sys.maxsize} bytes"


def test_payload_arriving_in_pieces(impl):
    payload = bytes(range(256)) * 40
    frame = reference_frame(2, payload, key=KEY)
    decoder = impl.FrameDecoder(expect_mask=True)
    assert decoder.decode(frame[:3]) == ([], 0, None)  # a partial header is left for the next call
    assert decoder.decode(frame[:20]) == ([], 20, None)  # payload bytes are consumed and kept
    assert decoder.decode(frame[20:1001]) == ([], 981, None)
    assert decoder.decode(frame[1001:] + b"\x81") == ([(2, True, 0, payload)], len(frame) - 1001, None)


def test_text_fails_fast_inside_a_frame(impl):
    # The invalid byte is in the first part of a long frame: the call that delivers it fails.
    text = "d\xe9j\xe0 ".encode() + b"\xc3\x28" + b"x" * 100
    frame = reference_frame(1, text, key=KEY)
    decoder = impl.FrameDecoder(expect_mask=True)
    before = reference_frame(2, b"ok", key=KEY)
    frames, consumed, error = decoder.decode(before + frame[:6 + 12])
    assert (frames, consumed) == ([(2, True, 0, b"ok")], len(before))
    assert (type(error), str(error), error.close_code, error.offset) == (
        InvalidUTF8, "invalid UTF-8 at byte 8 of the text message", 1007, 8)
    assert decoder.decode(frame[18:]) == ([], 0, error)


def test_text_fails_fast_in_a_later_call(impl):
    frame = reference_frame(1, b"abcdef\xffgh")
    decoder = impl.FrameDecoder(expect_mask=False)
    assert decoder.decode(frame[:8]) == ([], 8, None)
    frames, consumed, error = decoder.decode(frame[8:])
    assert (frames, consumed, error.offset, str(error)) == ([], 0, 6, "invalid UTF-8 at byte 6 of the text message")


@pytest.mark.parametrize("stream", [False, True])
def test_text_errors_across_fragments(impl, stream):
    first = reference_frame(1, b"abc\xe2\x82", False)
    ping = reference_frame(9, b"\xff")  # not part of the text
    bad = reference_frame(0, b"\x28", False)
    decoder = impl.FrameDecoder(expect_mask=False, stream=stream)
    frames, consumed, error = decoder.decode(first + ping + bad)
    assert frames == [(1, False, 0, b"abc\xe2\x82"), (9, True, 0, b"\xff")]
    assert consumed == len(first + ping)
    assert (str(error), error.offset) == ("invalid UTF-8 at byte 5 of the text message", 5)


@pytest.mark.parametrize("last", [b"", b"\x82\xac\xf0\x9f\x98"])
def test_text_truncated_at_the_final_fragment(impl, last):
    decoder = impl.FrameDecoder(expect_mask=False)
    data = reference_frame(1, b"abc\xf0\x9f", False) + reference_frame(0, b"\x98\x80\xe2", False)
    frames, consumed, error = decoder.decode(data + reference_frame(0, last))
    assert frames == [(1, False, 0, b"abc\xf0\x9f"), (0, False, 0, b"\x98\x80\xe2")]
    assert consumed == len(data)
    offset = 8 + len(last)
    assert (type(error), str(error), error.offset) == (
        InvalidUTF8, f"truncated UTF-8 sequence at byte {offset} of the text message", offset)


def test_text_offsets_restart_with_each_message(impl):
    decoder = impl.FrameDecoder(expect_mask=False)
    data = reference_frame(1, "\u20ac".encode()) + reference_frame(1, b"ab\xed\xa0\x80")
    frames, consumed, error = decoder.decode(data)
    assert (frames, consumed, error.offset) == ([(1, True, 0, "\u20ac".encode())], 5, 3)


def test_only_uncompressed_text_is_validated(impl):
    decoder = impl.FrameDecoder(expect_mask=False, allowed_rsv=4)
    frames = [(2, True, 0, b"\xff\xc0"), (1, False, 4, b"\xff\xc0"), (0, True, 0, b"\xfe"), (9, True, 0, b"\xff")]
    data = b"".join(reference_frame(op, payload, fin, rsv) for op, fin, rsv, payload in frames)
    assert decoder.decode(data) == (frames, len(data), None)


def test_expect_mask(impl):
    masked, unmasked = reference_frame(2, b"x", key=KEY), reference_frame(2, b"x")
    assert impl.FrameDecoder(expect_mask=None).decode(masked + unmasked)[0] == [(2, True, 0, b"x")] * 2
    frames, consumed, error = impl.FrameDecoder(expect_mask=True).decode(masked + unmasked)
    assert (frames, consumed, str(error)) == ([(2, True, 0, b"x")], len(masked), "unmasked frame from a client")
    frames, consumed, error = impl.FrameDecoder(expect_mask=False).decode(unmasked + masked)
    assert (frames, consumed, str(error)) == ([(2, True, 0, b"x")], len(unmasked), "masked frame from a server")


@pytest.mark.parametrize("wrap", [bytes, bytearray, memoryview, lambda b: array.array("B", b)])
def test_decode_bytes_like(impl, wrap):
    data = reference_frame(1, b"hello", key=KEY) + b"\x81"
    assert impl.FrameDecoder(expect_mask=True).decode(wrap(data)) == ([(1, True, 0, b"hello")], 11, None)


def test_decode_type_error(impl):
    decoder = impl.FrameDecoder(expect_mask=None)
    for data in ("text", None, memoryview(b"abcd")[::2]):
        with pytest.raises(TypeError) as caught:
            decoder.decode(data)
        assert str(caught.value) == f"expected a contiguous bytes-like object, not {type(data).__name__}"
    assert decoder.decode(b"\x81\x00") == ([(1, True, 0, b"")], 2, None)  # an argument error is not fatal


@pytest.mark.parametrize("arguments, message", [
    (dict(allowed_rsv=8), "invalid allowed_rsv 8"),
    (dict(allowed_rsv=-1), "invalid allowed_rsv -1"),
    (dict(max_frame_size=-1), "max_frame_size must be None or >= 0, not -1"),
    (dict(max_message_size=-(2**70)), f"max_message_size must be None or >= 0, not {-(2**70)}"),
])
def test_decoder_argument_errors(impl, arguments, message):
    with pytest.raises(ValueError) as caught:
        impl.FrameDecoder(expect_mask=None, **arguments)
    assert str(caught.value) == message


def test_stream_pieces(impl):
    payload = b"0123456789"
    frame = reference_frame(1, payload, False, key=KEY)
    decoder = impl.FrameDecoder(expect_mask=True, stream=True)
    assert decoder.decode(frame[:6]) == ([], 6, None)  # the header alone: no empty piece
    assert decoder.decode(frame[6:9]) == ([(1, False, 0, b"012")], 3, None)
    assert decoder.decode(frame[9:10]) == ([(0, False, 0, b"3")], 1, None)
    ping = reference_frame(9, b"ping", key=KEY)
    last = reference_frame(0, b"ab", key=KEY)
    # A control frame is never split: it comes whole once complete.
    assert decoder.decode(frame[10:] + ping[:7]) == ([(0, False, 0, b"456789")], 6 + 7, None)
    assert decoder.decode(ping[7:] + last + reference_frame(2, b"", key=KEY)) == (
        [(9, True, 0, b"ping"), (0, True, 0, b"ab"), (2, True, 0, b"")], 3 + len(last) + 6, None)


def test_stream_last_piece_has_the_frame_fin(impl):
    frame = reference_frame(2, b"abcdef", rsv=4)
    decoder = impl.FrameDecoder(expect_mask=False, allowed_rsv=4, stream=True)
    assert decoder.decode(frame[:4]) == ([(2, False, 4, b"ab")], 4, None)
    assert decoder.decode(frame[4:]) == ([(0, True, 0, b"cdef")], 4, None)


# -- whole conversations -----------------------------------------------------------------------------------


@st.composite
def conversations(draw, max_messages=6):
    """(frames, wire bytes, expect_mask): random messages, fragmented at random (text even inside
    characters) with control frames between fragments, masked as a client, a server or a mix would."""
    side = draw(st.sampled_from([True, False, None]))
    keys = st.binary(min_size=4, max_size=4) if side else st.none() if side is False else (
        st.none() | st.binary(min_size=4, max_size=4))
    sizes = st.integers(0, 40) | st.sampled_from([125, 126, 127, 300, 65535, 65536])
    frames, wire = [], []

    def add(opcode, fin, rsv, payload):
        frames.append((opcode, fin, rsv, payload))
        wire.append(reference_frame(opcode, payload, fin, rsv, draw(keys)))

    def control():
        add(draw(st.sampled_from(CONTROL_OPCODES)), True, 0, draw(st.binary(max_size=125)))

    for _ in range(draw(st.integers(1, max_messages))):
        kind = draw(st.sampled_from(["text", "binary", "control"]))
        if kind == "control":
            control()
            continue
        if kind == "text":
            payload = draw(st.text(max_size=30)).encode() * draw(st.sampled_from([1, 1, 1, 50]))
        else:
            payload = draw(sizes.map(lambda n: bytes(i * 13 & 0xFF for i in range(n))))
        rsv = draw(st.sampled_from([0, 0, 4]))
        cuts = sorted(draw(st.lists(st.integers(0, len(payload)), max_size=3)))
        parts = [payload[a:b] for a, b in zip([0, *cuts], [*cuts, len(payload)])]
        for i, part in enumerate(parts):
            if i and draw(st.booleans()):
                control()
            add(0 if i else (1 if kind == "text" else 2), i == len(parts) - 1, 0 if i else rsv, part)
    return frames, b"".join(wire), side


@settings(max_examples=150, deadline=None, suppress_health_check=SUPPRESSED)
@given(conversation=conversations(), data=st.data())
def test_conversation_any_split(both, conversation, data):
    frames, wire, side = conversation
    cuts = sorted(set(data.draw(st.lists(st.integers(0, len(wire)), max_size=12))))
    for impl in both:
        assert decode_all(impl, wire, expect_mask=side, allowed_rsv=4)[1:] == (frames, None)
        assert decode_all(impl, wire, cuts, expect_mask=side, allowed_rsv=4)[1:] == (frames, None)
        _, pieces, error = decode_all(impl, wire, cuts, expect_mask=side, allowed_rsv=4, stream=True)
        assert error is None
        assert messages(pieces) == messages(frames)
        # No empty pieces: only the zero-length frames come empty.
        assert sum(not piece[3] for piece in pieces) == sum(not frame[3] for frame in frames)
    calls = [decode_all(impl, wire, cuts, expect_mask=side, allowed_rsv=4, stream=True)[0] for impl in both]
    assert calls[0] == calls[1]


@settings(max_examples=30, deadline=None, suppress_health_check=SUPPRESSED)
@given(conversation=conversations(max_messages=4))
def test_conversation_every_byte_boundary(both, conversation):
    frames, wire, side = conversation
    assume(len(wire) < 3000)
    every = list(range(1, len(wire)))
    for impl in both:
        # One byte per call: every boundary at once, then each boundary on its own.
        assert decode_all(impl, wire, every, expect_mask=side, allowed_rsv=4)[1:] == (frames, None)
        _, pieces, error = decode_all(impl, wire, every, expect_mask=side, allowed_rsv=4, stream=True)
        assert (messages(pieces), error) == (messages(frames), None)
        for cut in every[:: max(1, len(every) // 200)]:
            assert decode_all(impl, wire, [cut], expect_mask=side, allowed_rsv=4)[1] == frames


@st.composite
def damaged(draw):
    """A conversation's bytes with random damage: flipped, inserted or deleted bytes, or random bytes."""
    frames, wire, side = draw(conversations(max_messages=4))
    wire = bytearray(wire[:4000])
    for _ in range(draw(st.integers(0, 4))):
        position = draw(st.integers(0, len(wire)))
        action = draw(st.sampled_from(["flip", "insert", "delete"]))
        if action == "insert" or not wire:
            wire[position:position] = draw(st.binary(min_size=1, max_size=3))
        elif action == "flip":
            wire[min(position, len(wire) - 1)] ^= 1 << draw(st.integers(0, 7))
        else:
            del wire[min(position, len(wire) - 1)]
    if draw(st.integers(0, 9)) == 0:
        wire = bytearray(draw(st.binary(max_size=60)))
    return bytes(wire), side


@settings(max_examples=500, deadline=None, suppress_health_check=SUPPRESSED)
@given(
    case=damaged(),
    allowed_rsv=st.integers(0, 7),
    # None too: damage can announce frames of up to 2**63-1 bytes; both decoders wait for the bytes.
    max_frame_size=st.none() | st.integers(0, 400) | st.just(1 << 20),
    max_message_size=st.none() | st.integers(0, 400),
    stream=st.booleans(),
    messages=st.sampled_from([None, (Text, Binary)]),
    data=st.data(),
)
def test_native_matches_fallback_on_damaged_streams(both, case, allowed_rsv, max_frame_size, max_message_size,
                                                    stream, messages, data):
    wire, side = case
    cuts = sorted(set(data.draw(st.lists(st.integers(0, len(wire)), max_size=8))))
    options = dict(expect_mask=side, allowed_rsv=allowed_rsv, max_frame_size=max_frame_size,
                   max_message_size=max_message_size, stream=stream, messages=messages)
    native, fallback = ([call for call in feed_tolerant(impl.FrameDecoder(**options), wire, cuts)] for impl in both)
    assert native == fallback


def feed_tolerant(decoder, data, cuts):
    """Like feed, but goes on after errors and leftovers (to compare dead decoders too)."""
    pending = b""
    start = 0
    for end in [*cuts, len(data)]:
        chunk = pending + data[start:end]
        start = end
        frames, consumed, error = decoder.decode(chunk)
        yield typed(frames), consumed, error_key(error), decoder.last_frame_count
        pending = chunk[consumed:]


@settings(max_examples=300, deadline=None, suppress_health_check=SUPPRESSED)
@given(
    case=damaged(),
    max_message_size=st.none() | st.integers(0, 400),
    messages=st.sampled_from([None, (Text, Binary)]),
    data=st.data(),
)
def test_decode_messages_is_decode_shortened_to_its_items(impl, case, max_message_size, messages, data):
    # The items alone exactly when they hold no frame tuple, no error came and all of the input was used;
    # else decode's tuple. A second decoder fed the same inputs through decode is the reference.
    wire, side = case
    cuts = sorted(set(data.draw(st.lists(st.integers(0, len(wire)), max_size=8))))
    options = dict(expect_mask=side, allowed_rsv=4, max_message_size=max_message_size, messages=messages)
    plain, shortened = impl.FrameDecoder(**options), impl.FrameDecoder(**options)
    pending, start = b"", 0
    for end in [*cuts, len(wire)]:
        chunk = pending + wire[start:end]
        start = end
        expected = plain.decode(chunk)
        got = shortened.decode_messages(bytearray(chunk))
        items, consumed, error = expected
        if error is None and not plain.last_frame_count and consumed == len(chunk):
            assert type(got) is list and typed(got) == typed(items)
        else:
            assert type(got) is tuple and (typed(got[0]), got[1], error_key(got[2])) == (
                typed(items), consumed, error_key(error))
        assert shortened.last_frame_count == plain.last_frame_count
        pending = chunk[consumed:]


def test_decode_messages_returns_the_list_only_for_whole_messages(impl):
    decoder = impl.FrameDecoder(expect_mask=True, messages=MESSAGE_TYPES)
    two = reference_frame(1, b"hi", key=b"abcd") + reference_frame(2, b"\x00", key=b"abcd")
    assert typed(decoder.decode_messages(two)) == typed([Text(("hi", True)), Binary((b"\x00", True))])
    assert decoder.decode_messages(b"") == []
    assert decoder.decode_messages(two[:1]) == ([], 0, None)  # a partial header: decode's tuple
    ping = reference_frame(9, b"p", key=b"abcd")
    assert decoder.decode_messages(ping) == ([(9, True, 0, b"p")], len(ping), None)
    words = array.array("I", reference_frame(2, b"abcdefghij", key=b"abcd"))  # 16 bytes: counted as bytes
    assert typed(decoder.decode_messages(words)) == typed([Binary((b"abcdefghij", True))])
    frames = impl.FrameDecoder(expect_mask=True)  # frame mode: frames are never shortened
    assert frames.decode_messages(two) == ([(1, True, 0, b"hi"), (2, True, 0, b"\x00")], len(two), None)
    with pytest.raises(TypeError, match="expected a contiguous bytes-like object, not str"):
        decoder.decode_messages("text")
    items, consumed, error = decoder.decode_messages(two + b"\x83\x80abcd")  # reserved opcode 3
    assert (typed(items), consumed, str(error)) == (
        typed([Text(("hi", True)), Binary((b"\x00", True))]), len(two), "reserved opcode 3")
    assert decoder.decode_messages(two) == ([], 0, error)  # dead, as decode is


# -- message mode ------------------------------------------------------------------------------------------


def reassembled(frames):
    """What message mode makes of frame mode's frames, computed the naive way: whole rsv-0 messages as
    Text/Binary items, control frames and the frames of other messages as they are."""
    items, parts = [], None  # parts: the payloads of the message being reassembled
    opcode = None
    for op, fin, rsv, payload in frames:
        if op >= 8:
            items.append((op, fin, rsv, payload))
            continue
        if op != 0:
            opcode, parts = op, ([] if rsv == 0 else None)
        if parts is not None and rsv:  # rsv bits on a continuation: what came so far goes out as a frame
            items.append((opcode, False, 0, b"".join(parts)))
            parts = None
        if parts is None:
            items.append((op, fin, rsv, payload))
        else:
            parts.append(payload)
            if fin:
                data = b"".join(parts)
                items.append(Text((data.decode(), True)) if opcode == 1 else Binary((data, True)))
                parts = None
    return items


def typed(items):
    """Items with their types, since a tuple subclass compares equal to a plain tuple."""
    return [(type(item).__name__, tuple(item)) for item in items]


def frame_count(items):
    return sum(type(item) is tuple for item in items)


def feed_messages(decoder, data, cuts):
    """feed() in message mode; also checks last_frame_count after each call."""
    calls, items = [], []
    pending = b""
    start = 0
    for end in [*cuts, len(data)]:
        chunk = pending + data[start:end]
        start = end
        got, consumed, error = decoder.decode(chunk)
        assert decoder.last_frame_count == frame_count(got)
        calls.append((typed(got), consumed, error_key(error), decoder.last_frame_count))
        items.extend(got)
        if error is not None:
            return calls, items, error
        pending = chunk[consumed:]
    assert pending == b""
    return calls, items, None


@settings(max_examples=120, deadline=None, suppress_health_check=SUPPRESSED)
@given(conversation=conversations(), data=st.data())
def test_message_mode_conversation_any_split(both, conversation, data):
    frames, wire, side = conversation
    cuts = sorted(set(data.draw(st.lists(st.integers(0, len(wire)), max_size=12))))
    expected = typed(reassembled(frames))
    calls = []
    for impl in both:
        for where in ([], cuts):
            decoder = impl.FrameDecoder(expect_mask=side, allowed_rsv=4, messages=MESSAGE_TYPES)
            got_calls, items, error = feed_messages(decoder, wire, where)
            assert (typed(items), error) == (expected, None)
        calls.append(got_calls)
    assert calls[0] == calls[1]


@settings(max_examples=25, deadline=None, suppress_health_check=SUPPRESSED)
@given(conversation=conversations(max_messages=4))
def test_message_mode_every_byte_boundary(both, conversation):
    frames, wire, side = conversation
    assume(len(wire) < 3000)
    expected = typed(reassembled(frames))
    calls = []
    for impl in both:
        decoder = impl.FrameDecoder(expect_mask=side, allowed_rsv=4, messages=MESSAGE_TYPES)
        got_calls, items, error = feed_messages(decoder, wire, range(1, len(wire)))
        assert (typed(items), error) == (expected, None)
        calls.append(got_calls)
    assert calls[0] == calls[1]


@st.composite
def rsv_conversations(draw):
    """Frames with any rsv bits on any data frame (allowed_rsv=7), masked or not, to exercise the
    end of reassembly on a continuation with rsv bits."""
    frames = []
    for _ in range(draw(st.integers(1, 5))):
        parts = draw(st.integers(1, 4))
        for i in range(parts):
            if i and draw(st.booleans()):
                frames.append((9, True, 0, draw(st.binary(max_size=5))))
            opcode = 0 if i else draw(st.sampled_from(DATA_OPCODES))
            payload = b"ab\xc3\xa9" if draw(st.booleans()) else draw(st.binary(max_size=5)).hex().encode()
            frames.append((opcode, i == parts - 1, draw(st.sampled_from([0, 0, 0, 1, 2, 4])), payload))
    key = draw(st.none() | st.binary(min_size=4, max_size=4))
    wire = b"".join(reference_frame(op, payload, fin, rsv, key) for op, fin, rsv, payload in frames)
    return frames, wire, key is not None


@settings(max_examples=150, deadline=None, suppress_health_check=SUPPRESSED)
@given(conversation=rsv_conversations(), data=st.data())
def test_message_mode_rsv_bits_on_continuations(both, conversation, data):
    frames, wire, masked = conversation
    cuts = sorted(set(data.draw(st.lists(st.integers(0, len(wire)), max_size=6))))
    expected = typed(reassembled(frames))
    calls = []
    for impl in both:
        decoder = impl.FrameDecoder(expect_mask=masked, allowed_rsv=7, messages=MESSAGE_TYPES)
        got_calls, items, error = feed_messages(decoder, wire, cuts)
        assert (typed(items), error) == (expected, None)
        calls.append(got_calls)
    assert calls[0] == calls[1]


def test_message_mode_items(impl):
    decoder = impl.FrameDecoder(expect_mask=True, allowed_rsv=4, messages=MESSAGE_TYPES)
    wire = b"".join(reference_frame(op, payload, fin, rsv, KEY) for op, fin, rsv, payload in [
        (1, False, 0, "d\xe9".encode()[:2]), (9, True, 0, b"p"), (0, True, 0, "d\xe9j\xe0".encode()[2:]),
        (2, True, 0, b"\x00\xff"), (1, True, 0, b""), (2, True, 4, b"z"), (1, True, 0, "\u20ac".encode()),
    ])
    items, consumed, error = decoder.decode(wire)
    assert (consumed, error, decoder.last_frame_count) == (len(wire), None, 2)
    assert typed(items) == [
        ("tuple", (9, True, 0, b"p")), ("Text", ("d\xe9j\xe0", True)), ("Binary", (b"\x00\xff", True)),
        ("Text", ("", True)), ("tuple", (2, True, 4, b"z")), ("Text", ("\u20ac", True)),
    ]
    assert type(items[1][0]) is str and type(items[2][0]) is bytes and items[1][1] is True
    assert decoder.decode(b"") == ([], 0, None) and decoder.last_frame_count == 0


def test_message_mode_ignored_when_streaming(impl):
    frame = reference_frame(1, b"hello")
    decoder = impl.FrameDecoder(expect_mask=False, stream=True, messages=MESSAGE_TYPES)
    assert decoder.decode(frame) == ([(1, True, 0, b"hello")], len(frame), None)
    assert typed(decoder.decode(frame)[0]) == [("tuple", (1, True, 0, b"hello"))]
    assert decoder.last_frame_count == 1


@pytest.mark.parametrize("messages", [(Text,), (Text, Binary, Text), [Text, Binary], (Text, str), (Text, 1), Text])
def test_message_types_argument(both, messages):
    errors = []
    for impl in both:
        with pytest.raises(TypeError) as caught:
            impl.FrameDecoder(expect_mask=None, messages=messages)
        errors.append(str(caught.value))
    assert errors[0] == errors[1] == f"messages must be None or a pair of tuple subclasses, not {messages!r}"


UTF8_EDGES = [b"\xed\xa0\x80", b"\xc0\xaf", b"\xf4\x90\x80\x80", b"\xe2\x82", b"\xf0\x9f\x98\x80", b"\xc3\xa9", b"\x80", b"\xe2\x82\xac", b"\xc4\x80", b"\xef\xbf\xbf", b"\xc3\xbf"]


@settings(max_examples=300, deadline=None, suppress_health_check=SUPPRESSED)
@given(pieces=st.lists(st.sampled_from(UTF8_EDGES) | st.binary(max_size=8) | st.text(max_size=8).map(str.encode), max_size=8))
def test_message_mode_single_frame_text_checked_like_fragments(both, pieces):
    # A text message in one frame is checked by decoding it, a reassembled one decoded by the lead bytes'
    # width (native): the same item or the same error (message, offset) as the fallback and Python's
    # decoder (str equality also compares the width: a wider str than needed is unequal).
    payload = b"".join(pieces)
    whole = reference_frame(2, b"before") + reference_frame(1, payload)
    half = len(payload) // 2
    fragmented = reference_frame(2, b"before") + reference_frame(1, payload[:half], False) + reference_frame(0, payload[half:])
    results = []
    for impl in both:
        for wire in (whole, fragmented):
            items, consumed, error = impl.FrameDecoder(expect_mask=False, messages=MESSAGE_TYPES).decode(wire)
            results.append((typed(items), consumed if error else None, error_key(error)))
    try:
        expected = [("Text", (payload.decode(), True))]
    except UnicodeDecodeError:
        assert results[0][2][0] is InvalidUTF8
    else:
        assert results[0][0][1:] == results[1][0][1:] == expected
    assert results[0] == results[2]
    assert results[1] == results[3]
    assert results[0][2] == results[1][2]


@pytest.mark.parametrize("key", [KEY, None])
@pytest.mark.parametrize(
    "opcode, payload, error_offset",
    [(1, b"", None), (1, b"plain ascii, 32 bytes long......", None), (1, "caf\u00e9 \u20ac \U0001f600".encode() * 9, None),
     (1, b"x" * 200 + b"\xc3\x28", 201), (1, b"abc\xe2\x82", 5), (2, b"", None), (2, bytes(range(256)) * 3, None)],
)
def test_message_mode_whole_frames_in_one_input(impl, key, opcode, payload, error_offset):
    # A single-frame message wholly in the input (native: built straight from it, no buffers): the same
    # items, consumed counts and errors as when the same frames arrive a byte at a time.
    frames = reference_frame(2, b"before", key=key) + reference_frame(opcode, payload, key=key)
    wire = frames + reference_frame(9, b"p", key=key) + reference_frame(1, b"after", key=key)
    whole = impl.FrameDecoder(expect_mask=key is not None, messages=MESSAGE_TYPES).decode(wire)
    items, consumed, error = whole
    if error_offset is not None:
        assert typed(items) == [("Binary", (b"before", True))] and consumed == len(reference_frame(2, b"before", key=key))
        assert type(error) is InvalidUTF8 and error.offset == error_offset
    else:
        assert typed(items) == [
            ("Binary", (b"before", True)),
            ("Text", (payload.decode(), True)) if opcode == 1 else ("Binary", (payload, True)),
            ("tuple", (9, True, 0, b"p")),
            ("Text", ("after", True)),
        ]
        assert (consumed, error) == (len(wire), None)
    by_byte = impl.FrameDecoder(expect_mask=key is not None, messages=MESSAGE_TYPES)
    byte_items, pending, byte_error = [], b"", None
    for byte in wire:
        got, used, byte_error = by_byte.decode(pending + bytes([byte]))
        byte_items += got
        pending = (pending + bytes([byte]))[used:]
        if byte_error:
            break
    assert typed(byte_items) == typed(items) and error_key(byte_error) == error_key(error)


@pytest.mark.parametrize("limit", ["max_frame_size", "max_message_size"])
def test_message_mode_whole_frame_at_and_over_the_limits(impl, limit):
    at = reference_frame(2, b"x" * 10, key=KEY)
    over = reference_frame(1, b"y" * 11, key=KEY)
    items, consumed, error = impl.FrameDecoder(expect_mask=True, messages=MESSAGE_TYPES, **{limit: 10}).decode(at + over)
    assert (typed(items), consumed, type(error)) == ([("Binary", (b"x" * 10, True))], len(at), MessageTooBig)
    fragment = reference_frame(1, b"ab", fin=False, key=KEY)
    items, consumed, error = impl.FrameDecoder(expect_mask=True, messages=MESSAGE_TYPES).decode(fragment + at)
    assert (items, consumed, str(error)) == ([], len(fragment), "new message started inside a fragmented message")


def test_message_mode_error_mid_message_keeps_earlier_items(impl):
    decoder = impl.FrameDecoder(expect_mask=False, messages=MESSAGE_TYPES)
    done = reference_frame(2, b"whole")
    first = reference_frame(1, b"abc\xe2\x82", False) + reference_frame(9, b"p")
    bad = reference_frame(0, b"\x28")
    items, consumed, error = decoder.decode(done + first + bad)
    assert typed(items) == [("Binary", (b"whole", True)), ("tuple", (9, True, 0, b"p"))]
    assert (consumed, decoder.last_frame_count) == (len(done + first), 1)
    assert (type(error), str(error), error.offset) == (InvalidUTF8, "invalid UTF-8 at byte 5 of the text message", 5)
    assert decoder.decode(b"\x81\x00") == ([], 0, error) and decoder.last_frame_count == 0


def test_message_mode_text_fails_fast_inside_a_frame(impl):
    text = b"x" * 10 + b"\xc3\x28" + b"y" * 100
    frame = reference_frame(1, text, key=KEY)
    decoder = impl.FrameDecoder(expect_mask=True, messages=MESSAGE_TYPES)
    assert decoder.decode(frame[:12]) == ([], 12, None)
    items, consumed, error = decoder.decode(frame[12:20])
    assert (items, consumed, error.offset) == ([], 0, 11)


def test_message_mode_truncated_text(impl):
    decoder = impl.FrameDecoder(expect_mask=False, messages=MESSAGE_TYPES)
    data = reference_frame(1, b"ok") + reference_frame(1, b"abc\xf0\x9f", False) + reference_frame(0, b"\x98")
    items, consumed, error = decoder.decode(data)
    assert typed(items) == [("Text", ("ok", True))] and consumed == len(data) - 3
    assert str(error) == "truncated UTF-8 sequence at byte 6 of the text message"


@pytest.mark.parametrize("limit", ["max_frame_size", "max_message_size"])
def test_message_mode_limits(impl, limit):
    decoder = impl.FrameDecoder(expect_mask=None, messages=MESSAGE_TYPES, **{limit: 10})
    ok = reference_frame(1, b"0123456789")
    first = reference_frame(2, b"01234", False)
    items, consumed, error = decoder.decode(ok + first + reference_frame(0, b"5678901234x") + b"rest")
    assert (typed(items), consumed, type(error)) == ([("Text", ("0123456789", True))], len(ok + first), MessageTooBig)
    assert str(error) == ("message of 16 bytes or more exceeds the limit of 10 bytes" if limit == "max_message_size"
                          else "frame of 11 bytes exceeds the limit of 10 bytes")
    # A frame announced far past the limit fails from its header: nothing is allocated.
    decoder = impl.FrameDecoder(expect_mask=True, messages=MESSAGE_TYPES, **{limit: 1000})
    items, consumed, error = decoder.decode(impl.encode_header(1, 2**40, mask_key=KEY))
    assert (items, consumed, type(error)) == ([], 0, MessageTooBig)


def test_message_mode_large_fragmented_messages(impl):
    # Messages past the size the reassembly buffer keeps between messages, in frames of every length form.
    payloads = [bytes(i * 7 & 0xFF for i in range(n)) for n in (70000, 65536, 300, 0, 200000)]
    wire = b""
    for payload in payloads:
        parts = [payload[:126], payload[126:70000], payload[70000:]]
        wire += b"".join(reference_frame(0 if i else 2, part, i == 2, key=KEY) for i, part in enumerate(parts))
    decoder = impl.FrameDecoder(expect_mask=True, messages=MESSAGE_TYPES, max_message_size=200000)
    _, items, error = feed_messages(decoder, wire, range(0, len(wire), 4093))
    assert (typed(items), error) == ([("Binary", (payload, True)) for payload in payloads], None)


class Extensible(tuple):
    """A tuple subclass with a __dict__: instances must still be built right."""


def test_message_types_with_a_dict(both):
    import gc

    data = reference_frame(1, b"text") + reference_frame(2, b"bin")
    results = []
    for impl in both:
        items, _, _ = impl.FrameDecoder(expect_mask=None, messages=(Extensible, Extensible)).decode(data)
        for item in items:
            assert type(item) is Extensible and item.__dict__ == {}
            assert gc.is_tracked(item)  # it could take part in a cycle through its __dict__
            item.note = 1
            assert item.note == 1
        results.append([tuple(item) for item in items])
    assert results[0] == results[1] == [("text", True), (b"bin", True)]


def test_message_objects_reference_counts_and_gc(both):
    import gc
    import sys

    data = reference_frame(1, b"text", key=KEY) + reference_frame(2, b"bin", key=KEY) + reference_frame(
        1, b"fr", False, key=KEY) + reference_frame(0, b"ag", key=KEY)
    native, fallback = (impl.FrameDecoder(expect_mask=True, messages=MESSAGE_TYPES) for impl in both)
    gc.collect()
    type_counts = (sys.getrefcount(Text), sys.getrefcount(Binary))
    for round in range(2000):
        items = native.decode(data)[0]
        if round % 200 == 0:
            gc.collect()
    del items
    gc.collect()
    assert (sys.getrefcount(Text), sys.getrefcount(Binary)) == type_counts
    native_items, fallback_items = native.decode(data)[0], fallback.decode(data)[0]
    assert typed(native_items) == typed(fallback_items)
    for ours, reference in zip(native_items, fallback_items):
        # Same ownership as tuple.__new__'s instances: the item holds its data once. Without a __dict__
        # it holds nothing the GC could find, and the native decoder does not track it.
        assert sys.getrefcount(ours) == sys.getrefcount(reference)
        assert sys.getrefcount(ours[0]) == sys.getrefcount(reference[0])
        assert gc.is_tracked(reference) and not gc.is_tracked(ours)
        assert [type(x) for x in gc.get_referents(ours)] == [type(x) for x in gc.get_referents(reference)]


# -- FrameEncoder ------------------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None, suppress_health_check=SUPPRESSED)
@given(text=st.text(max_size=300), data=st.binary(max_size=70_000) | st.sampled_from([b"", b"x" * 65536]))
@pytest.mark.parametrize("masked", [False, True])
def test_frame_encoder_builds_whole_frames(impl, masked, text, data):
    encoder = impl.FrameEncoder(mask=masked)
    decoder = impl.FrameDecoder(expect_mask=masked)
    wire = encoder.text(text) + encoder.binary(data) + encoder.binary(bytearray(data)) + encoder.binary(memoryview(data))
    frames, consumed, error = decoder.decode(wire)
    assert (consumed, error) == (len(wire), None)
    assert frames == [(1, True, 0, text.encode())] + [(2, True, 0, data)] * 3
    if not masked:  # deterministic: exactly what encode_frame builds
        assert wire == b"".join([impl.encode_frame(1, text.encode())] + [impl.encode_frame(2, data)] * 3)


def test_frame_encoder_mask_keys_are_fresh(impl):
    encoder = impl.FrameEncoder(mask=True)
    keys = [encoder.mask_key() for _ in range(3000)] + [encoder.text("x")[2:6] for _ in range(3000)]
    assert all(type(key) is bytes and len(key) == 4 for key in keys)
    assert len(set(keys)) > 5990  # 6000 random 32-bit keys: a few collisions at most


def test_frame_encoder_errors(both):
    for impl in both:
        encoder = impl.FrameEncoder(mask=False)
        with pytest.raises(TypeError, match="^text must be str, not bytes$"):
            encoder.text(b"x")
        with pytest.raises(UnicodeEncodeError, match="surrogates not allowed"):
            encoder.text("a\ud800")
        with pytest.raises(TypeError, match="^expected a contiguous bytes-like object, not str$"):
            encoder.binary("x")


@settings(max_examples=200, deadline=None, suppress_health_check=SUPPRESSED)
@given(
    data=st.binary(max_size=70_000) | st.sampled_from([b"", b"x" * 125, b"x" * 126, b"x" * 65535, b"x" * 65536]),
    slack=st.integers(0, 20),
    kind=st.sampled_from(["bytearray", "memoryview", "array"]),
)
@pytest.mark.parametrize("masked", [False, True])
def test_frame_encoder_binary_into_writes_the_binary_frame(impl, masked, data, slack, kind):
    encoder = impl.FrameEncoder(mask=masked)
    frame = encoder.binary(data)
    storage = bytearray(b"\xee" * (len(frame) + slack))
    buffer = {"bytearray": storage, "memoryview": memoryview(storage), "array": array.array("B", storage)}[kind]
    size = encoder.binary_into(buffer, data)
    written = bytes(memoryview(buffer)[:size])
    assert size == len(frame)
    assert bytes(memoryview(buffer)[size:]) == b"\xee" * slack  # nothing past the frame
    if masked:  # a fresh key: the same header but for the key, and the same message
        header_without_key = size - len(data) - 4
        assert written[:header_without_key] == frame[:header_without_key]
        assert impl.FrameDecoder(expect_mask=True).decode(written) == ([(2, True, 0, data)], size, None)
    else:
        assert written == frame


@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("start", [0, 1, 4, 10, 14, 40])
def test_frame_encoder_binary_into_takes_data_from_the_buffer_itself(impl, masked, start):
    # The header is written first: a payload lying in the buffer must not be overwritten before it is read.
    payload = bytes(range(256)) * 300
    buffer = bytearray(start) + bytearray(payload) + bytearray(20)
    size = impl.FrameEncoder(mask=masked).binary_into(buffer, memoryview(buffer)[start : start + len(payload)])
    decoded = impl.FrameDecoder(expect_mask=masked).decode(bytes(buffer[:size]))
    assert decoded == ([(2, True, 0, payload)], size, None)


def test_frame_encoder_binary_into_errors(both):
    for impl in both:
        encoder = impl.FrameEncoder(mask=True)
        buffer = bytearray(b"\xee" * 16)
        with pytest.raises(ValueError, match="^a frame of 17 bytes does not fit in a buffer of 16 bytes$"):
            encoder.binary_into(buffer, b"x" * 11)
        with pytest.raises(ValueError, match="^a frame of 138 bytes does not fit in a buffer of 16 bytes$"):
            encoder.binary_into(buffer, b"x" * 130)
        assert buffer == b"\xee" * 16  # unchanged
        with pytest.raises(TypeError, match="^binary_into needs a writable buffer, not bytes$"):
            encoder.binary_into(b"\0" * 32, b"x")
        with pytest.raises(TypeError, match="^binary_into needs a writable buffer, not memoryview$"):
            encoder.binary_into(memoryview(bytes(32)), b"x")
        with pytest.raises(TypeError, match="^expected a contiguous bytes-like object, not str$"):
            encoder.binary_into("x" * 32, b"x")
        with pytest.raises(TypeError, match="^expected a contiguous bytes-like object, not str$"):
            encoder.binary_into(bytearray(32), "x")


def test_frame_encoder_cannot_be_copied(impl):
    # A copy would hand out the same unused mask keys as the original.
    import copy
    import pickle

    encoder = impl.FrameEncoder(mask=True)
    encoder.mask_key()
    for duplicate in (copy.copy, copy.deepcopy, pickle.dumps):
        with pytest.raises(TypeError, match="mask keys must not be shared"):
            duplicate(encoder)


# -- a big binary frame arriving in reads -------------------------------------------------------------
# The native decoder keeps the first pieces of such a frame uncopied (the caller's bytes) until a quarter
# of it has arrived, then unmasks them into a buffer of the frame's length: these cut the frame at every
# kind of place that path distinguishes.

BIG = 300_001  # odd: pieces end at every mask phase
BIG_PAYLOAD = bytes((i * 131 + (i >> 9)) & 0xFF for i in range(BIG))
BIG_HEADER = 14  # masked, 64-bit length
QUARTER = BIG_HEADER + BIG // 4  # where a quarter of the payload has arrived


def big_frame_cuts(wire_length, before):
    """Named cut lists for a stream of `before` bytes of other frames, then the big frame, then a ping."""
    start = before + BIG_HEADER
    return {
        "64 KiB reads": list(range(65536, wire_length, 65536)),
        "header ends a read": [start, *range(start + 65536, wire_length, 65536)],
        "1 payload byte ends a read": [start + 1, *range(start + 1 + 65536, wire_length, 65536)],
        "header split": [before + 3, start + 100, start + 200_000],
        "4093-byte reads": list(range(4093, wire_length, 4093)),
        "1-byte reads then one": [*range(start, start + 12), start + 70_000],
        "around a quarter": [start + 1000, before + QUARTER - 1, before + QUARTER, before + QUARTER + 1],
        "odd reads": [start + 3, start + 65539, start + 65540, start + 131077, start + 250_000],
        "whole": [],
    }


@pytest.mark.parametrize("key", [KEY, None], ids=["masked", "unmasked"])
@pytest.mark.parametrize("reads", ["bytes", "bytearray", "alternating"])
@pytest.mark.parametrize("messages", [None, MESSAGE_TYPES], ids=["frames", "messages"])
def test_big_frame_split_every_way(impl, key, reads, messages):
    before = reference_frame(2, b"ab", key=key) + reference_frame(1, "dé".encode(), key=key)
    ping = reference_frame(9, b"p", key=key)
    wire = before + reference_frame(2, BIG_PAYLOAD, key=key) + ping
    header_length = BIG_HEADER if key else BIG_HEADER - 4
    expected = [(2, True, 0, b"ab"), (1, True, 0, "dé".encode()), (2, True, 0, BIG_PAYLOAD), (9, True, 0, b"p")]
    if messages:
        expected = [("Binary", (b"ab", True)), ("Text", ("dé", True)), ("Binary", (BIG_PAYLOAD, True)),
                    ("tuple", (9, True, 0, b"p"))]
    for name, cuts in big_frame_cuts(len(wire), len(before) - (BIG_HEADER - header_length)).items():
        decoder = impl.FrameDecoder(expect_mask=key is not None, messages=messages)
        got, pending, start = [], b"", 0
        for index, end in enumerate([*cuts, len(wire)]):
            chunk = pending + wire[start:end]
            start = end
            if reads == "bytearray" or (reads == "alternating" and index % 2):
                chunk = bytearray(chunk)
            frames, consumed, error = decoder.decode(chunk)
            assert error is None, name
            got += frames
            pending = bytes(chunk[consumed:])
            if isinstance(chunk, bytearray):
                chunk[:] = b"\xee" * len(chunk)  # the caller reuses its buffer: nothing of it may be kept
        assert (typed(got) if messages else got) == expected, name


def test_big_frame_releases_the_reads_it_kept(impl):
    wire = reference_frame(2, BIG_PAYLOAD, key=KEY)
    reads = [wire[i : i + 16384] for i in range(0, len(wire), 16384)]
    counts = [sys.getrefcount(read) for read in reads]
    decoder = impl.FrameDecoder(expect_mask=True)
    assert decoder.decode(reads[0]) == ([], len(reads[0]), None)
    assert decoder.decode(reads[1]) == ([], len(reads[1]), None)
    decoder.__init__(expect_mask=True)  # a fresh start drops the frame in progress
    assert [sys.getrefcount(read) for read in reads] == counts
    results = [decoder.decode(read) for read in reads]
    assert [result[1:] for result in results] == [(len(read), None) for read in reads]
    assert [frame for result in results for frame in result[0]] == [(2, True, 0, BIG_PAYLOAD)]
    assert [sys.getrefcount(read) for read in reads] == counts
