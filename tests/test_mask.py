"""XOR (un)masking (contract section 1): both implementations, every native kernel."""

import array
import ctypes
import mmap
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

try:
    from wsframe import _native
except ImportError:  # not built: the native-only tests skip
    _native = None

KEY = bytes.fromhex("37fa213d")
LENGTHS = list(range(301)) + [4095, 4096, 4097, 65536 + 7, 1024 * 1024 + 3]


def reference_mask(data, key, phase=0):
    """The definition, byte by byte."""
    data = bytes(memoryview(data).cast("B"))
    key = bytes(memoryview(key).cast("B"))
    return bytes(b ^ key[(phase + i) % 4] for i, b in enumerate(data))


def payload(length, seed=0):
    """Deterministic bytes of every value, different for each length."""
    return bytes((i * 131 + length * 7 + seed) & 0xFF for i in range(length))


@pytest.fixture(params=_native._mask_kernels() if _native is not None else [None])
def kernel(request):
    """Makes each native kernel this CPU supports active in turn; restores the default afterwards."""
    if request.param is None:
        pytest.skip("native extension not built")
    default = _native._mask_kernel()
    _native._use_mask_kernel(request.param)
    yield request.param
    _native._use_mask_kernel(default)


def test_rfc6455_hello_example(impl):
    # RFC 6455 section 5.7: a masked "Hello" from a client.
    assert impl.mask(b"Hello", KEY) == bytes.fromhex("7f9f4d5158")
    assert impl.mask(bytes.fromhex("7f9f4d5158"), KEY) == b"Hello"
    buffer = bytearray(bytes.fromhex("7f9f4d5158"))
    assert impl.mask_inplace(buffer, KEY) is None
    assert buffer == b"Hello"


@pytest.mark.parametrize("length", LENGTHS)
def test_every_length_matches_reference(impl, length):
    data = payload(length)
    expected = reference_mask(data, KEY, 1)
    result = impl.mask(data, KEY, 1)
    assert type(result) is bytes
    assert result == expected
    buffer = bytearray(data)
    impl.mask_inplace(buffer, KEY, 1)
    assert buffer == expected


@pytest.mark.parametrize("length", [0, 1, 5, 125, 300, 65536 + 7])
def test_involution(impl, length):
    data = payload(length, seed=3)
    assert impl.mask(impl.mask(data, KEY, 2), KEY, 2) == data
    buffer = bytearray(data)
    impl.mask_inplace(buffer, KEY, 3)
    assert buffer != data or length == 0
    impl.mask_inplace(buffer, KEY, 3)
    assert buffer == data


@pytest.mark.parametrize(
    "make",
    [bytes, bytearray, memoryview, lambda b: memoryview(b).toreadonly(), lambda b: array.array("B", b)],
    ids=["bytes", "bytearray", "memoryview", "readonly-memoryview", "array-B"],
)
@pytest.mark.parametrize("length", [77, 70001])  # small and large payloads may take different paths
def test_input_types(impl, make, length):
    data = payload(length)
    source = make(data)
    assert impl.mask(source, KEY, 3) == reference_mask(data, KEY, 3)
    assert bytes(source) == data  # out of place leaves the input alone


def test_multibyte_format_uses_raw_bytes(impl):
    data = array.array("I", range(1000, 1033))
    expected = reference_mask(data.tobytes(), KEY, 2)
    assert impl.mask(data, KEY, 2) == expected
    impl.mask_inplace(data, KEY, 2)
    assert data.tobytes() == expected


@pytest.mark.parametrize("make", [bytearray, memoryview, lambda b: array.array("B", b)],
                         ids=["bytearray", "memoryview", "array-B"])
@pytest.mark.parametrize("length", [99, 70001])
def test_inplace_writable_types(impl, make, length):
    data = payload(length)
    target = make(bytearray(data))
    impl.mask_inplace(target, KEY, 1)
    assert bytes(target) == reference_mask(data, KEY, 1)


@pytest.mark.parametrize("key_type", [bytes, bytearray, memoryview, lambda b: array.array("B", b)],
                         ids=["bytes", "bytearray", "memoryview", "array-B"])
def test_key_types(impl, key_type):
    data = payload(33)
    assert impl.mask(data, key_type(KEY)) == reference_mask(data, KEY)


def test_every_alignment_with_guards(impl):
    guard = 0xA5
    for offset in range(64):
        for length in (0, 1, 3, 15, 63, 64, 65, 127, 200, 257, 511, 512, 515, 1030):
            backing = bytearray([guard]) * (offset + length + 80)
            data = payload(length, seed=offset)
            backing[offset:offset + length] = data
            window = memoryview(backing)[offset:offset + length]
            expected = reference_mask(data, KEY, offset % 4)
            assert impl.mask(window, KEY, offset % 4) == expected
            impl.mask_inplace(window, KEY, offset % 4)
            assert backing[offset:offset + length] == expected
            assert backing[:offset] == bytes([guard]) * offset
            assert backing[offset + length:] == bytes([guard]) * 80


@pytest.mark.parametrize("length", [0, 1, 7, 64, 125, 1000])
def test_pieces_with_phase_equal_one_call(impl, length):
    data = payload(length, seed=5)
    whole = impl.mask(data, KEY)
    for step in (1, 2, 3, 5, 17, 64):
        pieces = [impl.mask(data[start:start + step], KEY, start % 4) for start in range(0, length, step)]
        assert b"".join(pieces) == whole
        buffer = bytearray(data)
        view = memoryview(buffer)
        for start in range(0, length, step):
            impl.mask_inplace(view[start:start + step], KEY, start % 4)
        assert buffer == whole


@pytest.mark.parametrize(
    "length",
    [0, 1, 3, 15, 16, 17, 31, 33, 63, 64, 65, 127, 128, 129, 255, 256, 257, 511, 512, 513, 1000, 4099, 4352, 4607, 8492],
)
def test_every_native_kernel(kernel, length):
    # Every start alignment: large payloads first mask a head up to dst's vector alignment. From 4 KiB
    # plus a loop block on, the loops prefetch a page ahead, and AVX-512 takes 256-bit loads into a new
    # buffer but not in place: the tests mask each way.
    assert _native._mask_kernel() == kernel
    data = payload(length)
    expected = [reference_mask(data, KEY, phase) for phase in range(4)]
    for offset in range(64):
        phase = offset % 4
        backing = bytearray(b"\xee") * (offset + length + 70)
        backing[offset:offset + length] = data
        window = memoryview(backing)[offset:offset + length]
        assert _native.mask(window, KEY, phase) == expected[phase]
        _native.mask_inplace(window, KEY, phase)
        assert backing[offset:offset + length] == expected[phase]
        assert backing[:offset] == b"\xee" * offset
        assert backing[offset + length:] == b"\xee" * 70


@pytest.fixture
def before_unmapped_page():
    """Four writable pages, then a page that may be neither read nor written (Linux: mprotect)."""
    if not sys.platform.startswith("linux"):
        pytest.skip("uses mprotect through ctypes")
    page = mmap.PAGESIZE
    region = mmap.mmap(-1, 5 * page)
    anchor = ctypes.c_char.from_buffer(region)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    assert libc.mprotect(ctypes.addressof(anchor) + 4 * page, page, 0) == 0  # PROT_NONE
    view = memoryview(region)[: 4 * page]
    yield view
    view.release()
    del anchor
    region.close()


@pytest.mark.parametrize("length", [256, 4096, 4096 + 256, 3 * 4096 + 77])
def test_every_native_kernel_stops_at_the_payload_end(kernel, before_unmapped_page, length):
    # A payload that ends where an unreadable page starts: the kernels must not load, store or prefetch
    # there (a prefetch cannot fault, but the contract keeps it in bounds too); a load or store would
    # crash this test.
    region = before_unmapped_page
    data = payload(length)
    for gap in (0, 1, 63, 200):  # bytes between the payload's end and the unreadable page
        start = len(region) - gap - length
        window = region[start:start + length]
        window[:] = data
        assert _native.mask(window, KEY, 1) == reference_mask(data, KEY, 1)
        _native.mask_inplace(window, KEY, 1)
        assert window == reference_mask(data, KEY, 1)
        window.release()


def test_kernel_hooks():
    if _native is None:
        pytest.skip("native extension not built")
    kernels = _native._mask_kernels()
    assert kernels[0] == "scalar"
    assert _native._mask_kernel() == kernels[-1]  # the fastest available is the default
    with pytest.raises(ValueError, match="not available"):
        _native._use_mask_kernel("no-such-kernel")
    assert _native._mask_kernel() == kernels[-1]


adversarial_bytes = st.one_of(
    st.binary(max_size=600),
    st.builds(lambda n, b: bytes([b]) * n, st.integers(0, 600), st.integers(0, 255)),
)


# `both` only hands out the two modules: nothing to reset between examples.
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=adversarial_bytes, key=st.binary(min_size=4, max_size=4), phase=st.integers(0, 3),
       splits=st.lists(st.integers(0, 600), max_size=4))
def test_native_equals_fallback_equals_reference(both, data, key, phase, splits):
    native, fallback = both
    expected = reference_mask(data, key, phase)
    assert native.mask(data, key, phase) == expected
    assert fallback.mask(data, key, phase) == expected
    cuts = sorted({0, len(data), *(s for s in splits if s <= len(data))})
    for implementation in both:
        buffer = bytearray(data)
        view = memoryview(buffer)
        for start, end in zip(cuts, cuts[1:]):
            implementation.mask_inplace(view[start:end], key, (phase + start) % 4)
        assert buffer == expected


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=300), key=st.binary(min_size=4, max_size=4), phase=st.integers(0, 3),
       offset=st.integers(0, 63), kernel_index=st.integers(0, 3))
def test_native_kernels_random(data, key, phase, offset, kernel_index):
    if _native is None:
        pytest.skip("native extension not built")
    kernels = _native._mask_kernels()
    default = _native._mask_kernel()
    _native._use_mask_kernel(kernels[kernel_index % len(kernels)])
    try:
        backing = bytearray(offset) + bytearray(data) + bytearray(64)
        window = memoryview(backing)[offset:offset + len(data)]
        expected = reference_mask(data, key, phase)
        _native.mask_inplace(window, key, phase)
        assert backing == bytes(offset) + expected + bytes(64)
    finally:
        _native._use_mask_kernel(default)


class NotABuffer:
    pass


def generic_message(obj):
    return f"expected a contiguous bytes-like object, not {type(obj).__name__}"


ERROR_CASES = [
    # (function, args, exception type, message)
    ("mask", ("text", KEY), TypeError, generic_message("text")),
    ("mask", (12345, KEY), TypeError, generic_message(12345)),
    ("mask", (NotABuffer(), KEY), TypeError, generic_message(NotABuffer())),
    ("mask", (memoryview(bytearray(10))[::2], KEY), TypeError, generic_message(memoryview(b""))),
    ("mask", (b"data", b"abc"), ValueError, "mask key must be 4 bytes, not 3"),
    ("mask", (b"data", b"abcde"), ValueError, "mask key must be 4 bytes, not 5"),
    ("mask", (b"data", bytearray(b"abcde")), ValueError, "mask key must be 4 bytes, not 5"),
    ("mask", (b"data", array.array("I", [1, 2])), ValueError, "mask key must be 4 bytes, not 8"),
    ("mask", (b"data", "abcd"), TypeError, generic_message("abcd")),
    ("mask", (b"data", None), TypeError, generic_message(None)),
    ("mask", (b"data", memoryview(bytearray(8))[::2]), TypeError, generic_message(memoryview(b""))),
    ("mask", (b"data", KEY, -1), ValueError, "mask phase must be 0..3, not -1"),
    ("mask", (b"data", KEY, 4), ValueError, "mask phase must be 0..3, not 4"),
    ("mask", (b"data", KEY, 2**70), ValueError, f"mask phase must be 0..3, not {2**70}"),
    ("mask", (b"data", KEY, 1.0), ValueError, "mask phase must be 0..3, not 1.0"),
    ("mask", (b"data", KEY, None), ValueError, "mask phase must be 0..3, not None"),
    ("mask", (bytearray(b"data"), KEY, 4), ValueError, "mask phase must be 0..3, not 4"),
    ("mask_inplace", (b"data", KEY), TypeError, "mask_inplace needs a writable buffer, not bytes"),
    ("mask_inplace", (memoryview(bytearray(4)).toreadonly(), KEY), TypeError,
     "mask_inplace needs a writable buffer, not memoryview"),
    ("mask_inplace", ("text", KEY), TypeError, generic_message("text")),
    ("mask_inplace", (memoryview(bytearray(10))[::2], KEY), TypeError, generic_message(memoryview(b""))),
    ("mask_inplace", (bytearray(4), b"abc"), ValueError, "mask key must be 4 bytes, not 3"),
    ("mask_inplace", (bytearray(4), b"abcde"), ValueError, "mask key must be 4 bytes, not 5"),
    ("mask_inplace", (bytearray(4), 7), TypeError, generic_message(7)),
    ("mask_inplace", (bytearray(4), KEY, -1), ValueError, "mask phase must be 0..3, not -1"),
    ("mask_inplace", (bytearray(4), KEY, 4), ValueError, "mask phase must be 0..3, not 4"),
    # Order of checks: data type, writability, key type, key length, phase.
    ("mask", ("text", b"abc", 9), TypeError, generic_message("text")),
    ("mask", (b"data", "abc", 9), TypeError, generic_message("abc")),
    ("mask", (b"data", b"abc", 9), ValueError, "mask key must be 4 bytes, not 3"),
    ("mask_inplace", (b"data", "abc", 9), TypeError, "mask_inplace needs a writable buffer, not bytes"),
    ("mask_inplace", (bytearray(4), b"abc", 9), ValueError, "mask key must be 4 bytes, not 3"),
]


@pytest.mark.parametrize("function, args, error, message", ERROR_CASES)
def test_errors(impl, function, args, error, message):
    with pytest.raises(error) as info:
        getattr(impl, function)(*args)
    assert type(info.value) is error
    assert str(info.value) == message


def test_failed_inplace_leaves_buffer_alone(impl):
    buffer = bytearray(b"payload")
    with pytest.raises(ValueError):
        impl.mask_inplace(buffer, KEY, 4)
    assert buffer == b"payload"


def test_keyword_arguments(impl):
    data = payload(10)
    assert impl.mask(data=data, key=KEY, phase=3) == reference_mask(data, KEY, 3)
    buffer = bytearray(data)
    impl.mask_inplace(buffer=buffer, key=KEY, phase=3)
    assert buffer == reference_mask(data, KEY, 3)


def test_int_subclass_phase(impl):
    # bool is an int: both implementations take True as phase 1.
    data = payload(9)
    assert impl.mask(data, KEY, True) == reference_mask(data, KEY, 1)
    with pytest.raises(ValueError) as info:
        impl.mask(data, KEY, -2**70)
    assert str(info.value) == f"mask phase must be 0..3, not {-2**70}"
