"""The frame decoder on hostile input (issue: safe on hostile input), over both implementations.

Each test here reproduces a sequence that once made the native decoder write out of bounds or through
NULL: memory must follow the bytes received, never the lengths announced; any exception leaves the
decoder failed; construction checks and re-entry agree with the fallback.
"""

import gc
import os
import subprocess
import sys
import textwrap
import time
import tracemalloc

import pytest

from wsframe import encode_frame, encode_header, mask
from wsframe.connection import ServerConnection
from wsframe.errors import MessageTooBig
from wsframe.events import BytesMessage, TextMessage

KEY = bytes.fromhex("37fa213d")
MESSAGES = (TextMessage, BytesMessage)


def header(impl, opcode, length, fin=True, key=None):
    return impl.encode_header(opcode, length, fin=fin, mask_key=key)


def traced_peak(action):
    """The peak of memory allocated through Python's allocators while action runs, in bytes."""
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        action()
        return tracemalloc.get_traced_memory()[1] - start
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("length", [2**45, 2**63 - 1])
def test_announced_length_without_limits_reserves_nothing(impl, length):
    decoder = impl.FrameDecoder(expect_mask=False)
    assert decoder.decode(b"\x82\x7f" + length.to_bytes(8, "big")) == ([], 10, None)
    peak = traced_peak(lambda: decoder.decode(b"A" * 64))
    assert peak < 96 * 1024  # the first buffer is 64 KiB, whatever the frame announces
    assert decoder.decode(b"A" * 64) == ([], 64, None)  # still waiting for the rest, no error


def test_memory_follows_the_bytes_received(impl):
    size = 8 * 2**20
    payload = os.urandom(size)
    decoder = impl.FrameDecoder(expect_mask=True)
    wire = header(impl, 2, size, key=KEY) + impl.mask(payload, KEY)
    assert decoder.decode(wire[:14 + 4096]) == ([], 14 + 4096, None)
    # After 68 KiB of an 8 MiB frame, at most a few times what arrived is held.
    peak = traced_peak(lambda: decoder.decode(wire[14 + 4096 : 14 + 69632]))
    assert peak < 512 * 1024
    frames = []
    for start in range(14 + 69632, len(wire), 1 << 20):
        got, consumed, error = decoder.decode(wire[start : start + (1 << 20)])
        assert error is None
        frames += got
    assert frames == [(2, True, 0, payload)]


def test_native_big_frame_is_allocated_once_at_its_length():
    # Native's documented strategy (src/CONTRACT.md): the first quarter of a big binary frame arriving in
    # bytes reads is kept as those reads, uncopied; then one buffer of the frame's length takes it all.
    native = pytest.importorskip("wsframe._native")
    size = 1 << 20
    payload = os.urandom(size)
    wire = header(native, 2, size, key=KEY) + native.mask(payload, KEY)
    reads = [wire[i : i + 65536] for i in range(0, len(wire), 65536)]
    decoder = native.FrameDecoder(expect_mask=True, messages=MESSAGES)
    quarter = traced_peak(lambda: [decoder.decode(read) for read in reads[:4]])
    assert quarter < 4096  # 262130 bytes arrived, none copied
    assert traced_peak(lambda: decoder.decode(reads[4])) < size + 4096  # one buffer: no growth steps
    items = [item for read in reads[5:] for item in decoder.decode(read)[0]]
    assert items == [BytesMessage(payload)]


def test_message_mode_huge_continuation_after_a_message(impl):
    decoder = impl.FrameDecoder(expect_mask=False, messages=MESSAGES)
    frames, consumed, error = decoder.decode(b"\x81\x05hello")
    assert (frames, consumed, error) == ([TextMessage("hello")], 7, None)
    assert decoder.decode(header(impl, 1, 2**62, fin=False)) == ([], 10, None)
    peak = traced_peak(lambda: decoder.decode(b"x" * 4096))
    assert peak < 128 * 1024
    assert decoder.decode(b"y" * 4096) == ([], 4096, None)


def test_message_mode_reassembly_grows_with_the_data(impl):
    decoder = impl.FrameDecoder(expect_mask=False, messages=MESSAGES)
    first = os.urandom(100_000)
    assert decoder.decode(header(impl, 2, len(first), fin=False) + first) == ([], 10 + len(first), None)
    assert decoder.decode(header(impl, 0, 2**40)) == ([], 10, None)
    peak = traced_peak(lambda: decoder.decode(b"z" * 1000))
    assert peak < 512 * 1024


def test_connection_without_limits_survives_a_huge_announcement():
    # An embedding server that carries on after each read, whatever happened.
    server = ServerConnection(opened=True, max_message_size=None)
    server.receive_data(encode_frame(1, b"hi", mask_key=KEY))
    assert [event.data for event in server.events()] == ["hi"]
    server.receive_data(encode_header(1, 2**62, fin=False, mask_key=KEY))
    for _ in range(2):
        server.receive_data(mask_text_piece())
        assert list(server.events()) == []


def mask_text_piece():
    return mask(b"a" * 65536, KEY)  # a multiple of 4 bytes: each piece starts at mask phase 0


def test_limits_past_what_memory_holds_are_refused_before_any_cast(impl):
    # Two frames whose total cannot be a Py_ssize_t: 1009 from the header, with no limit set.
    decoder = impl.FrameDecoder(expect_mask=False, messages=MESSAGES)
    frames, consumed, error = decoder.decode(b"\x01\x05hello" + header(impl, 0, sys.maxsize))
    assert (frames, consumed, type(error)) == ([], 7, MessageTooBig)
    assert error.close_code == 1009


def test_messages_of_another_c_layout_are_refused(impl):
    with pytest.raises(TypeError, match="messages must be None or a pair of tuple subclasses"):
        impl.FrameDecoder(expect_mask=False, messages=(time.struct_time, BytesMessage))
    with pytest.raises(TypeError, match="messages must be None or a pair of tuple subclasses"):
        impl.FrameDecoder(expect_mask=False, messages=(TextMessage, type(sys.version_info)))


def test_init_again_starts_afresh(impl):
    decoder = impl.FrameDecoder(expect_mask=False, stream=True)
    start = header(impl, 2, 1000) + b"a" * 10
    assert decoder.decode(start)[1] == len(start)  # mid-frame in stream mode
    decoder.__init__(expect_mask=False, messages=MESSAGES)
    assert decoder.decode(b"\x82\x03abc") == ([BytesMessage(b"abc")], 5, None)


def test_init_with_bad_arguments_changes_nothing(impl):
    decoder = impl.FrameDecoder(expect_mask=False)
    assert decoder.decode(b"\x82\x06abc") == ([], 5, None)
    for bad in ({"allowed_rsv": 9}, {"max_frame_size": -1}, {"messages": (int, str)}):
        with pytest.raises((TypeError, ValueError)):
            decoder.__init__(expect_mask=True, stream=True, **bad)
    assert decoder.decode(b"def") == ([(2, True, 0, b"abcdef")], 3, None)


@pytest.mark.parametrize("method", ["decode", "decode_messages"])
def test_reentry_from_python_code_run_inside_decode_is_refused(impl, method):
    decoder = impl.FrameDecoder(expect_mask=False, messages=MESSAGES)
    refused = []

    def during_collection(phase, info):
        # Both calls are harmless outside decode() (a collection may also run just before or after it).
        if phase == "start":
            calls = (
                lambda: decoder.decode(b""),
                lambda: decoder.decode_messages(b""),
                lambda: decoder.__init__(expect_mask=False, messages=MESSAGES),
            )
            for call in calls:
                try:
                    call()
                except RuntimeError as exc:
                    refused.append(str(exc))

    wire = b"".join(impl.encode_frame(2 if i % 2 else 9, b"%d" % i, fin=True) for i in range(3000))
    # The bad frame at the end makes the decoder create its ProtocolError, whose __init__ is Python code:
    # since 3.12 a collection runs only where bytecode runs, and that is the one place in the native decode.
    bad_frame = b"\x83\x00"
    threshold = gc.get_threshold()
    gc.callbacks.append(during_collection)
    gc.set_threshold(1)  # a collection at nearly every container allocation, inside decode too
    try:
        frames, consumed, error = getattr(decoder, method)(wire + bad_frame)  # an error: decode's tuple
    finally:
        gc.set_threshold(*threshold)
        gc.callbacks.remove(during_collection)
    assert (consumed, str(error)) == (len(wire), "reserved opcode 3")
    expected = [BytesMessage(b"%d" % i) if i % 2 else (9, True, 0, b"%d" % i) for i in range(3000)]
    assert frames == expected
    assert refused.count("FrameDecoder.decode() called during decode()") == 2 * refused.count(
        "FrameDecoder.__init__() called during decode()") > 0  # decode_messages refused as decode is


@pytest.mark.parametrize("opcode", [1, 2])
def test_empty_messages_in_message_mode(impl, opcode):
    decoder = impl.FrameDecoder(expect_mask=True, messages=MESSAGES)
    empty = impl.encode_frame(opcode, b"", mask_key=KEY)
    fragments = impl.encode_frame(opcode, b"", fin=False, mask_key=KEY) + impl.encode_frame(0, b"", mask_key=KEY)
    expected = TextMessage("") if opcode == 1 else BytesMessage(b"")
    assert decoder.decode(empty + fragments) == ([expected, expected], len(empty + fragments), None)


FAILING_ALLOCATION = textwrap.dedent(
    """
    import resource, sys
    from wsframe import _fallback
    if sys.argv[1] == "native":
        from wsframe import _native as impl
    else:
        impl = _fallback
    decoder = impl.FrameDecoder(expect_mask=False)
    decoder.decode(impl.encode_header(2, 2**40))
    with open("/proc/self/status") as status:
        vm = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmSize:"))
    resource.setrlimit(resource.RLIMIT_AS, (vm + 300 * 2**20, resource.RLIM_INFINITY))
    chunk = memoryview(bytes(16 * 2**20))
    try:
        for _ in range(64):
            assert decoder.decode(chunk) == ([], len(chunk), None)
    except MemoryError as exc:
        first = exc
    else:
        sys.exit("no MemoryError")
    for _ in range(3):
        try:
            decoder.decode(b"\\x82\\x01x")
        except MemoryError as again:
            assert again is first
        else:
            sys.exit("the failed decoder decoded again")
    print("failed and stays failed")
    """
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS and /proc are Linux's")
@pytest.mark.skipif("asan" in os.environ.get("LD_PRELOAD", ""), reason="AddressSanitizer needs address space")
def test_a_failed_allocation_leaves_the_decoder_failed(impl):
    name = "fallback" if impl.__name__.endswith("_fallback") else "native"
    result = subprocess.run([sys.executable, "-c", FAILING_ALLOCATION, name], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "failed and stays failed" in result.stdout


@pytest.mark.parametrize("rsv", [0, 4])
def test_a_flood_of_empty_continuations_costs_no_memory(impl, rsv):
    # Message mode joins uncompressed fragments as they come; compressed ones (rsv 4) stay frame tuples
    # and are emitted as they complete, so neither grows with the number of frames.
    decoder = impl.FrameDecoder(expect_mask=True, allowed_rsv=4, messages=MESSAGES)
    empty = impl.encode_frame(0, b"", fin=False, mask_key=KEY)
    decoder.decode(impl.encode_frame(1, b"", fin=False, rsv=rsv, mask_key=KEY))
    flood = empty * 20_000
    decoder.decode(flood)  # warm up: the first call's frames list is the only per-call cost

    def floods():
        for _ in range(10):
            frames, consumed, error = decoder.decode(flood)
            assert (consumed, error) == (len(flood), None)
            assert len(frames) == (20_000 if rsv else 0)

    tracemalloc.start()
    try:
        floods()
        retained, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert retained < 512 * 1024  # nothing kept per frame (a list of 200,000 empty parts was 1.6 MB)
    assert peak < 4 * 2**20
    frames, _, error = decoder.decode(impl.encode_frame(0, b"end", mask_key=KEY))
    assert error is None
    assert frames == ([(0, True, 0, b"end")] if rsv else [TextMessage("end")])
