"""permessage-deflate (RFC 7692): negotiation, compression, bounded decompression.

The module is pure Python (stdlib zlib) with no native twin, so these tests do not use the ``impl``
fixture; zlib's own raw inflater serves as the independent reference where one is needed.
"""

import dataclasses
import gc
import os
import random
import resource
import tracemalloc
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wsframe import encode_frame
from wsframe.connection import ServerConnection
from wsframe.deflate import Compressor, DeflateParameters, Decompressor, PerMessageDeflate, max_compressed_size
from wsframe.errors import HandshakeError, MessageTooBig, ProtocolError
from wsframe.events import AcceptConnection

P = DeflateParameters
HELLO = bytes.fromhex("f248cdc9c90700")  # RFC 7692 7.2.3.1
HELLO_AGAIN = bytes.fromhex("f200110000")  # RFC 7692 7.2.3.2, second message with context takeover
WINDOW_BITS = range(8, 16)


def sender_params(is_server, *, no_takeover=False, bits=15):
    """Parameters that set the no_context_takeover and window of the side that sends."""
    if is_server:
        return P(server_no_context_takeover=no_takeover, server_max_window_bits=bits)
    return P(client_no_context_takeover=no_takeover, client_max_window_bits=bits)


def text_corpus(size, seed=0):
    """Compressible text with repeats at all distances (a word list drawn at random)."""
    rng = random.Random(seed)
    words = [bytes(rng.choices(b"abcdefghijklmnopqrstuvwxyz", k=rng.randint(2, 9))) for _ in range(400)]
    return b" ".join(rng.choices(words, k=size // 3))[:size]


# -- RFC 7692 section 7.2.3 examples ------------------------------------------------------------------


@pytest.mark.parametrize("is_server", [True, False])
def test_rfc_hello_compressed(is_server):
    assert Compressor(P(), is_server=is_server).compress(b"Hello") == HELLO


@pytest.mark.parametrize("is_server", [True, False])
def test_rfc_context_takeover_shares_the_window(is_server):
    compressor = Compressor(sender_params(is_server), is_server=is_server)
    assert [compressor.compress(b"Hello"), compressor.compress(b"Hello")] == [HELLO, HELLO_AGAIN]


@pytest.mark.parametrize("is_server", [True, False])
def test_rfc_no_context_takeover_repeats_the_first_message(is_server):
    compressor = Compressor(sender_params(is_server, no_takeover=True), is_server=is_server)
    assert [compressor.compress(b"Hello") for _ in range(3)] == [HELLO] * 3


def test_no_context_takeover_of_the_other_side_does_not_reset():
    compressor = Compressor(P(client_no_context_takeover=True), is_server=True)
    assert [compressor.compress(b"Hello"), compressor.compress(b"Hello")] == [HELLO, HELLO_AGAIN]


@pytest.mark.parametrize(
    "payload",
    [
        HELLO,  # 7.2.3.1
        bytes.fromhex("0005 00fa ff48 656c 6c6f 00"),  # 7.2.3.3: a stored block
        bytes.fromhex("f248 0500 0000 ffff cac9 c907 00"),  # 7.2.3.4: two deflate blocks
        bytes.fromhex("f348 cdc9 c907 0000"),  # 7.2.3.5: a final block plus an empty block's header
        bytes.fromhex("f348 cdc9 c907 00"),  # a final block alone
    ],
    ids=["compressed", "stored", "two-blocks", "bfinal", "bfinal-alone"],
)
@pytest.mark.parametrize("is_server", [True, False])
def test_rfc_payloads_decompress(payload, is_server):
    decompressor = Decompressor(P(), is_server=is_server, max_size=None)
    assert decompressor.decompress(payload, True) == b"Hello"
    assert decompressor.decompress(HELLO, True) == b"Hello"  # and the next message still decodes


def test_rfc_context_takeover_decompresses():
    decompressor = Decompressor(P(), is_server=False, max_size=100)
    messages = [decompressor.decompress(HELLO, True), decompressor.decompress(HELLO_AGAIN, True)]
    assert messages == [b"Hello", b"Hello"]


@pytest.mark.parametrize("split", range(len(HELLO) + 1))
def test_rfc_fragments_decompress_as_a_stream(split):
    # 7.2.3.1 shows the split after 3 bytes; every split point must give the same message.
    decompressor = Decompressor(P(), is_server=True, max_size=5)
    pieces = [decompressor.decompress(HELLO[:split], False), decompressor.decompress(HELLO[split:], True)]
    assert b"".join(pieces) == b"Hello"
    assert decompressor.decompress(HELLO_AGAIN, True) == b"Hello"


def test_fragments_return_their_part_of_the_message():
    data = text_corpus(200_000)
    payload = Compressor(P(), is_server=True).compress(data)
    decompressor = Decompressor(P(), is_server=False, max_size=len(data))
    pieces = [decompressor.decompress(payload[i : i + 1000], False) for i in range(0, len(payload), 1000)]
    pieces.append(decompressor.decompress(b"", True))
    assert b"".join(pieces) == data
    assert sum(1 for piece in pieces if piece) > 10  # output comes as the input arrives, not at the end


@pytest.mark.parametrize("is_server", [True, False])
def test_empty_message(is_server):
    compressor = Compressor(sender_params(is_server), is_server=is_server)
    decompressor = Decompressor(sender_params(is_server), is_server=not is_server, max_size=0)
    assert compressor.compress(b"") == b"\x00"  # an empty stored block's first byte (7.2.3.6)
    assert decompressor.decompress(b"\x00", True) == b""
    decompressor = Decompressor(P(), is_server=is_server, max_size=10)
    assert decompressor.decompress(HELLO, True) == b"Hello"
    # A payload with no bytes at all (some senders do that) is an empty message that keeps the context.
    assert decompressor.decompress(b"", False) == b""
    assert decompressor.decompress(b"", True) == b""
    assert decompressor.decompress(HELLO_AGAIN, True) == b"Hello"


# -- round trips ----------------------------------------------------------------------------------


MESSAGES = [
    b"Hello",
    text_corpus(3000, seed=1),
    b"",
    os.urandom(2000),
    text_corpus(70_000, seed=2),  # longer than the largest window
    bytes(5000),
    text_corpus(200, seed=3),
    text_corpus(200, seed=3),  # a repeat within 250 bytes, which zlib finds even with a 512-byte window
]


def round_trip(params, sender_is_server, messages, *, max_size=None):
    compressor = Compressor(params, is_server=sender_is_server, compress_level=9)
    decompressor = Decompressor(params, is_server=not sender_is_server, max_size=max_size)
    sizes = []
    for message in messages:
        payload = compressor.compress(message)
        sizes.append(len(payload))
        assert decompressor.decompress(payload, True) == message
    return sizes


@pytest.mark.parametrize("server_no_takeover", [False, True])
@pytest.mark.parametrize("client_no_takeover", [False, True])
@pytest.mark.parametrize("server_bits", WINDOW_BITS)
def test_round_trip_every_parameter_combination(server_no_takeover, client_no_takeover, server_bits):
    for client_bits in WINDOW_BITS:
        params = P(server_no_takeover, client_no_takeover, server_bits, client_bits)
        for sender_is_server in (True, False):
            sizes = round_trip(params, sender_is_server, MESSAGES)
            no_takeover = server_no_takeover if sender_is_server else client_no_takeover
            bits = server_bits if sender_is_server else client_bits
            if bits > 8:  # with 8 bits matches are runs only (distance 1), never the previous message
                assert (sizes[-1] < sizes[-2] // 4) != no_takeover


@pytest.mark.parametrize("bits", WINDOW_BITS)
def test_compressor_respects_the_window(bits):
    # zlib's inflater with exactly the agreed window is the reference: a match farther back fails it.
    data = [text_corpus(100_000, seed=3), text_corpus(1000, seed=3)]
    for is_server in (True, False):
        compressor = Compressor(sender_params(is_server, bits=bits), is_server=is_server)
        reference = zlib.decompressobj(-bits)
        for message in data:
            assert reference.decompress(compressor.compress(message) + b"\x00\x00\xff\xff") == message


@pytest.mark.parametrize("bits", WINDOW_BITS)
def test_compression_actually_compresses(bits):
    data = text_corpus(50_000, seed=4)
    assert len(Compressor(sender_params(True, bits=bits), is_server=True).compress(data)) < len(data) * 0.8


@pytest.mark.parametrize("bits", range(8, 15))
def test_decompressor_keeps_only_the_agreed_window(bits):
    # zlib lets a reference reach anywhere in the output of the same inflate call, but keeps only the
    # window between calls (messages, or Python's output buffer blocks): farther references then fail.
    first = text_corpus(40_000, seed=5)
    compressor = Compressor(P(), is_server=True)  # window 15
    payloads = [compressor.compress(first), compressor.compress(first[:1000])]
    decompressor = Decompressor(P(server_max_window_bits=bits), is_server=False, max_size=None)
    with pytest.raises(ProtocolError, match="invalid distance too far back") as excinfo:
        for payload in payloads:
            decompressor.decompress(payload, True)
    assert excinfo.value.close_code == 1002
    decompressor = Decompressor(P(), is_server=False, max_size=None)
    assert [decompressor.decompress(payload, True) for payload in payloads] == [first, first[:1000]]


@pytest.mark.parametrize("is_server", [True, False])
def test_decompressor_resets_without_context_takeover(is_server):
    # The peer's no_context_takeover makes the decompressor start each message afresh: a message that
    # refers to the previous one then fails, which shows the reset really happens.
    peer = sender_params(not is_server, no_takeover=True)
    decompressor = Decompressor(peer, is_server=is_server, max_size=None)
    assert decompressor.decompress(HELLO, True) == b"Hello"
    with pytest.raises(ProtocolError, match="invalid distance"):
        decompressor.decompress(HELLO_AGAIN, True)


@settings(max_examples=150, deadline=None)
@given(
    params=st.builds(
        P,
        st.booleans(),
        st.booleans(),
        st.integers(8, 15),
        st.integers(8, 15),
    ),
    sender_is_server=st.booleans(),
    level=st.integers(-1, 9),
    mem_level=st.integers(1, 9),
    messages=st.lists(
        st.one_of(st.binary(max_size=3000), st.builds(text_corpus, st.integers(0, 5000), st.integers(0, 3))),
        max_size=6,
    ),
    cuts=st.lists(st.integers(0, 10_000), max_size=4),
)
def test_round_trip_random(params, sender_is_server, level, mem_level, messages, cuts):
    compressor = Compressor(params, is_server=sender_is_server, compress_level=level, mem_level=mem_level)
    max_size = max(map(len, messages), default=0)
    decompressor = Decompressor(params, is_server=not sender_is_server, max_size=max_size)
    for message in messages:
        payload = compressor.compress(message)
        bounds = [0, *sorted(cut % (len(payload) + 1) for cut in cuts), len(payload)]
        pieces = [payload[start:end] for start, end in zip(bounds, bounds[1:])]
        inflated = [decompressor.decompress(piece, False) for piece in pieces[:-1]]
        inflated.append(decompressor.decompress(pieces[-1], True))
        assert b"".join(inflated) == message


# -- size limit and corrupt data ---------------------------------------------------------------------


def zeros_bomb(total, chunk=1 << 20):
    """A raw deflate stream of ``total`` zero bytes, built from identical full-flushed chunks (fast)."""
    deflater = zlib.compressobj(9, zlib.DEFLATED, -15, 9)
    unit = deflater.compress(bytes(chunk)) + deflater.flush(zlib.Z_FULL_FLUSH)
    assert unit.endswith(b"\x00\x00\xff\xff")  # byte-aligned and self-contained: repeatable
    return unit * (total // chunk)


def test_message_at_the_limit_passes_and_one_more_byte_fails():
    compressor = Compressor(P(), is_server=False)
    decompressor = Decompressor(P(), is_server=True, max_size=1000)
    assert decompressor.decompress(compressor.compress(b"a" * 1000), True) == b"a" * 1000
    assert decompressor.decompress(compressor.compress(b"b" * 1000), True) == b"b" * 1000  # counter reset
    with pytest.raises(MessageTooBig) as excinfo:
        decompressor.decompress(compressor.compress(b"c" * 1001), True)
    assert excinfo.value.close_code == 1009
    assert "1000" in str(excinfo.value)


def test_limit_counts_the_whole_message_across_fragments():
    payload = Compressor(P(), is_server=False).compress(bytes(3000))
    decompressor = Decompressor(P(), is_server=True, max_size=2999)
    with pytest.raises(MessageTooBig):
        for start in range(0, len(payload), 3):
            decompressor.decompress(payload[start : start + 3], False)
        decompressor.decompress(b"", True)


def decompress_in_frames(decompressor, payload, cut):
    """One message: the whole payload as one frame (cut None), else two frames split at ``cut``."""
    if cut is None:
        return decompressor.decompress(payload, True)
    return decompressor.decompress(payload[:cut], False) + decompressor.decompress(payload[cut:], True)


@pytest.mark.parametrize("cut", [None, 0, 1, -1], ids=["one-frame", "empty-first", "cut-1", "cut-last"])
@pytest.mark.parametrize("size", [1, 2, 5, 100, 16383, 16384, 16385, 100_000])
def test_limit_is_exact(size, cut):
    # Both paths: a whole message in one frame (one zlib call) and fragments (the size carried over).
    message = text_corpus(size + 10, seed=size)[:size]
    payload = Compressor(P(), is_server=False).compress(message)
    cut = None if cut is None else cut % len(payload)
    assert decompress_in_frames(Decompressor(P(), is_server=True, max_size=size), payload, cut) == message
    with pytest.raises(MessageTooBig):
        decompress_in_frames(Decompressor(P(), is_server=True, max_size=size - 1), payload, cut)


@pytest.mark.parametrize("kind", [bytearray, memoryview])
def test_final_frame_may_be_any_bytes_like(kind):
    compressor = Compressor(P(), is_server=False)
    decompressor = Decompressor(P(), is_server=True, max_size=100)
    for message in (b"Hello", b"Hello, again"):
        assert decompressor.decompress(kind(compressor.compress(message)), True) == message


@pytest.mark.parametrize("fragmented", [False, True])
def test_bomb_is_refused_with_bounded_memory(fragmented):
    bomb = zeros_bomb(1 << 30)  # 1 GiB of zeros in about 1 MiB
    assert len(bomb) < 2 << 20
    max_size = 16 << 20
    decompressor = Decompressor(P(), is_server=True, max_size=max_size)
    maxrss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    tracemalloc.start()
    inflated = 0
    try:
        with pytest.raises(MessageTooBig):
            if fragmented:
                for start in range(0, len(bomb), 16384):
                    inflated += len(decompressor.decompress(bomb[start : start + 16384], False))
            else:
                decompressor.decompress(bomb, True)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    maxrss_growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - maxrss_before
    assert inflated <= max_size
    assert peak < 3 * max_size  # output buffer plus the returned bytes: nowhere near 1 GiB
    assert maxrss_growth < 256 << 10


@pytest.mark.parametrize(
    "payload",
    [
        b"\xff\xff\xff\xff",  # block type 3 (reserved)
        bytes.fromhex("0005 00fb ff48 656c 6c6f"),  # stored block whose length check fails
        bytes.fromhex("f200110000"),  # a back reference with nothing before it
    ],
    ids=["bad-block-type", "bad-stored-length", "distance-too-far"],
)
def test_corrupt_data_is_a_protocol_error(payload):
    decompressor = Decompressor(P(), is_server=True, max_size=None)
    with pytest.raises(ProtocolError) as excinfo:
        decompressor.decompress(payload, True)
    assert type(excinfo.value) is ProtocolError and excinfo.value.close_code == 1002


@pytest.mark.parametrize(
    "pieces",
    [
        [bytes.fromhex("f348cdc9c90700") + HELLO],  # a second stream after the final block
        [bytes.fromhex("f348cdc9c90700"), b"junk"],  # more data in a later fragment
        [bytes.fromhex("f348cdc9c90700ff")],
    ],
    ids=["second-stream", "later-fragment", "junk-byte"],
)
def test_data_after_the_final_block_is_a_protocol_error(pieces):
    decompressor = Decompressor(P(), is_server=False, max_size=None)
    with pytest.raises(ProtocolError, match="after the final deflate block"):
        for piece in pieces[:-1]:
            decompressor.decompress(piece, False)
        decompressor.decompress(pieces[-1], True)


# -- parameters and policy ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "header"),
    [
        (P(), "permessage-deflate"),
        (P(True, False, 15, 15), "permessage-deflate; server_no_context_takeover"),
        (P(False, True, 15, 15), "permessage-deflate; client_no_context_takeover"),
        (
            P(True, True, 9, 8),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
            "server_max_window_bits=9; client_max_window_bits=8",
        ),
    ],
)
def test_parameters_to_header(params, header):
    assert params.to_header() == header


def test_parameters_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        P().server_max_window_bits = 9


@pytest.mark.parametrize(
    "kwargs",
    [
        {"server_max_window_bits": 7},
        {"server_max_window_bits": 16},
        {"client_max_window_bits": 0},
        {"client_max_window_bits": True},
        {"client_max_window_bits": "9"},
        {"compress_level": 10},
        {"compress_level": -2},
        {"mem_level": 0},
        {"mem_level": 10},
        {"min_size": -1},
        {"min_size": 1.5},
    ],
)
def test_policy_validates_arguments(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        PerMessageDeflate(**kwargs)


@pytest.mark.parametrize("kwargs", [{"compress_level": 10}, {"mem_level": 0}])
def test_compressor_validates_levels(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        Compressor(P(), is_server=True, **kwargs)


@pytest.mark.parametrize("max_size", [-1, 1.5, "10"])
def test_decompressor_validates_max_size(max_size):
    with pytest.raises(ValueError, match="max_size"):
        Decompressor(P(), is_server=True, max_size=max_size)


def test_policy_keeps_its_settings():
    policy = PerMessageDeflate(compress_level=1, mem_level=5, min_size=64)
    assert (policy.compress_level, policy.mem_level, policy.min_size) == (1, 5, 64)


# -- server side negotiation ----------------------------------------------------------------------------


def deflate_offer(*params):
    return ("permessage-deflate", list(params))


@pytest.mark.parametrize(
    ("policy", "params", "header", "agreed"),
    [
        ({}, [], "permessage-deflate", P()),
        ({}, [("client_max_window_bits", None)], "permessage-deflate", P()),
        ({"client_max_window_bits": 10}, [("client_max_window_bits", None)],
         "permessage-deflate; client_max_window_bits=10", P(client_max_window_bits=10)),
        ({}, [("client_max_window_bits", "12")], "permessage-deflate; client_max_window_bits=12",
         P(client_max_window_bits=12)),
        ({"client_max_window_bits": 10}, [("client_max_window_bits", "12")],
         "permessage-deflate; client_max_window_bits=10", P(client_max_window_bits=10)),
        ({"client_max_window_bits": 14}, [("client_max_window_bits", "12")],
         "permessage-deflate; client_max_window_bits=12", P(client_max_window_bits=12)),
        # A client window may only be set when the client offered the parameter (7.1.2.2).
        ({"client_max_window_bits": 10}, [], "permessage-deflate", P()),
        ({}, [("server_max_window_bits", "10")], "permessage-deflate; server_max_window_bits=10",
         P(server_max_window_bits=10)),
        ({"server_max_window_bits": 9}, [("server_max_window_bits", "10")],
         "permessage-deflate; server_max_window_bits=9", P(server_max_window_bits=9)),
        ({"server_max_window_bits": 12}, [("server_max_window_bits", "10")],
         "permessage-deflate; server_max_window_bits=10", P(server_max_window_bits=10)),
        ({"server_max_window_bits": 12}, [], "permessage-deflate; server_max_window_bits=12",
         P(server_max_window_bits=12)),
        # A requested server window is always answered, even with the default.
        ({}, [("server_max_window_bits", "15")], "permessage-deflate; server_max_window_bits=15", P()),
        ({}, [("server_no_context_takeover", None)], "permessage-deflate; server_no_context_takeover",
         P(server_no_context_takeover=True)),
        ({"server_no_context_takeover": True}, [], "permessage-deflate; server_no_context_takeover",
         P(server_no_context_takeover=True)),
        ({}, [("client_no_context_takeover", None)], "permessage-deflate; client_no_context_takeover",
         P(client_no_context_takeover=True)),
        ({"client_no_context_takeover": True}, [], "permessage-deflate; client_no_context_takeover",
         P(client_no_context_takeover=True)),
        # Autobahn 13.3/13.5's offer: a server window of 8 bits is accepted.
        ({}, [("client_no_context_takeover", None), ("client_max_window_bits", None),
              ("server_max_window_bits", "8")],
         "permessage-deflate; client_no_context_takeover; server_max_window_bits=8",
         P(client_no_context_takeover=True, server_max_window_bits=8)),
        ({}, [("Server_Max_Window_Bits", "9")], "permessage-deflate; server_max_window_bits=9",
         P(server_max_window_bits=9)),
    ],
)
def test_accept(policy, params, header, agreed):
    assert PerMessageDeflate(**policy).accept([deflate_offer(*params)]) == (header, agreed)


INVALID_WINDOW_VALUES = [None, "", "7", "16", "07", "08", "015", "0", "-9", "+9", "9.0", "abc", "1e1", "९"]


@pytest.mark.parametrize("value", INVALID_WINDOW_VALUES)
def test_offer_with_an_invalid_server_window_is_declined(value):
    assert PerMessageDeflate().accept([deflate_offer(("server_max_window_bits", value))]) is None


@pytest.mark.parametrize("value", INVALID_WINDOW_VALUES[1:])
def test_offer_with_an_invalid_client_window_is_declined(value):
    assert PerMessageDeflate().accept([deflate_offer(("client_max_window_bits", value))]) is None


@pytest.mark.parametrize(
    "params",
    [
        [("server_no_context_takeover", "true")],
        [("client_no_context_takeover", "")],
        [("x_unknown", None)],
        [("server_no_context_takeover", None), ("server_no_context_takeover", None)],
        [("client_max_window_bits", None), ("client_max_window_bits", "10")],
        [("server_max_window_bits", "10"), ("SERVER_MAX_WINDOW_BITS", "10")],
    ],
    ids=["server-nct-value", "client-nct-value", "unknown", "repeated-flag", "repeated-bits", "repeated-name"],
)
def test_invalid_offer_is_declined(params):
    assert PerMessageDeflate().accept([deflate_offer(*params)]) is None


def test_first_acceptable_offer_wins():
    offers = [
        ("x-webkit-deflate-frame", []),
        deflate_offer(("server_max_window_bits", "16")),
        ("PerMessage-Deflate", [("client_no_context_takeover", None)]),
        deflate_offer(("server_no_context_takeover", None)),
    ]
    assert PerMessageDeflate().accept(offers) == (
        "permessage-deflate; client_no_context_takeover",
        P(client_no_context_takeover=True),
    )


@pytest.mark.parametrize("offers", [[], [("x-webkit-deflate-frame", [])], [("permessage-deflate-x", [])]])
def test_no_deflate_offer_is_declined(offers):
    assert PerMessageDeflate().accept(offers) is None


# -- client side negotiation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "offer"),
    [
        ({}, "permessage-deflate; client_max_window_bits"),
        ({"client_max_window_bits": 10}, "permessage-deflate; client_max_window_bits=10"),
        (
            dict(server_no_context_takeover=True, client_no_context_takeover=True, server_max_window_bits=9),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
            "server_max_window_bits=9; client_max_window_bits",
        ),
    ],
)
def test_offer(policy, offer):
    assert PerMessageDeflate(**policy).offer() == offer


@pytest.mark.parametrize(
    ("policy", "params", "agreed"),
    [
        ({}, [], P()),
        ({}, [("client_max_window_bits", "9")], P(client_max_window_bits=9)),
        ({}, [("server_max_window_bits", "8")], P(server_max_window_bits=8)),
        ({"client_max_window_bits": 10}, [], P(client_max_window_bits=10)),
        ({"client_max_window_bits": 10}, [("client_max_window_bits", "10")], P(client_max_window_bits=10)),
        ({"client_max_window_bits": 10}, [("client_max_window_bits", "8")], P(client_max_window_bits=8)),
        ({"server_max_window_bits": 10}, [("server_max_window_bits", "9")], P(server_max_window_bits=9)),
        ({"server_no_context_takeover": True}, [("server_no_context_takeover", None)],
         P(server_no_context_takeover=True)),
        ({}, [("server_no_context_takeover", None)], P(server_no_context_takeover=True)),
        ({}, [("client_no_context_takeover", None)], P(client_no_context_takeover=True)),
        # Announcing client_no_context_takeover binds the client whatever the server answers.
        ({"client_no_context_takeover": True}, [], P(client_no_context_takeover=True)),
    ],
)
def test_check_response(policy, params, agreed):
    assert PerMessageDeflate(**policy).check_response(params) == agreed


@pytest.mark.parametrize(
    ("policy", "params", "reason"),
    [
        ({}, [("x_unknown", None)], "unknown"),
        ({}, [("server_no_context_takeover", None), ("server_no_context_takeover", None)], "repeated"),
        ({}, [("client_no_context_takeover", "1")], "takes no value"),
        ({}, [("client_max_window_bits", None)], "window size"),  # a response must give the value
        ({}, [("server_max_window_bits", "16")], "window size"),
        ({}, [("server_max_window_bits", "09")], "window size"),
        ({"server_max_window_bits": 10}, [], "lacks the requested server_max_window_bits"),
        ({"server_max_window_bits": 10}, [("server_max_window_bits", "11")], "more than"),
        ({"client_max_window_bits": 10}, [("client_max_window_bits", "11")], "more than"),
        ({"server_no_context_takeover": True}, [], "lacks the requested server_no_context_takeover"),
    ],
)
def test_check_response_rejects(policy, params, reason):
    with pytest.raises(HandshakeError, match=reason) as excinfo:
        PerMessageDeflate(**policy).check_response(params)
    assert excinfo.value.status is None


def parse_element(header):
    """The (name, [(param, value)]) of one extension element as written by this module."""
    name, *params = (part.strip() for part in header.split(";"))
    return name, [(param.partition("=")[0], param.partition("=")[2] or None) for param in params]


policies = st.builds(
    PerMessageDeflate,
    server_no_context_takeover=st.booleans(),
    client_no_context_takeover=st.booleans(),
    server_max_window_bits=st.none() | st.integers(8, 15),
    client_max_window_bits=st.none() | st.integers(8, 15),
)


@settings(max_examples=300, deadline=None)
@given(client=policies, server=policies)
def test_negotiation_between_our_client_and_server_agrees(client, server):
    offer = parse_element(client.offer())
    header, agreed = server.accept([offer])
    name, params = parse_element(header)
    assert name == "permessage-deflate"
    assert client.check_response(params) == agreed
    # Each side's demands hold in the agreement.
    for side in ("server", "client"):
        no_takeover = f"{side}_no_context_takeover"
        bits = f"{side}_max_window_bits"
        assert getattr(agreed, no_takeover) >= getattr(client, no_takeover) | getattr(server, no_takeover)
        assert getattr(agreed, bits) <= min(getattr(client, bits) or 15, getattr(server, bits) or 15)
    # And the agreed parameters carry messages both ways.
    round_trip(agreed, True, MESSAGES[:3])
    round_trip(agreed, False, MESSAGES[:3])


def test_a_refused_bomb_leaves_no_inflated_bytes_behind():
    # The error's traceback keeps the frames it passed through: none may hold the inflated output, and
    # no reference cycle may keep it until the garbage collector runs (found by tools/soak.py).
    compressor = zlib.compressobj(wbits=-15)
    bomb = (compressor.compress(bytes(4 << 20)) + compressor.flush(zlib.Z_SYNC_FLUSH))[:-4]
    request = (
        b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        b"Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n"
    )
    gc.disable()
    tracemalloc.start()
    try:
        server = ServerConnection(deflate=PerMessageDeflate(), max_message_size=1 << 20)
        server.receive_data(request)
        list(server.events())
        server.send(AcceptConnection())
        server.receive_data(encode_frame(2, bomb, rsv=4, mask_key=b"abcd"))
        with pytest.raises(MessageTooBig):
            list(server.events())
        held = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
        gc.enable()
    assert held < 768 * 1024  # the deflate state, not the 1 MiB of inflated output


@pytest.mark.parametrize("mem_level", range(1, 10))
def test_zlib_output_for_random_bytes_fits_max_compressed_size(mem_level):
    # The default compressed-frame limit must admit any zlib sender's incompressible message.
    message = random.Random(mem_level).randbytes(1 << 17)
    worst = 0
    for wbits in range(9, 16):
        for strategy in (zlib.Z_DEFAULT_STRATEGY, zlib.Z_FILTERED, zlib.Z_RLE, zlib.Z_FIXED):
            deflater = zlib.compressobj(1, zlib.DEFLATED, -wbits, mem_level, strategy)  # level 1: the worst
            compressed = deflater.compress(message) + deflater.flush(zlib.Z_SYNC_FLUSH)
            worst = max(worst, len(compressed) - 4)
    assert len(message) < worst <= max_compressed_size(len(message))
