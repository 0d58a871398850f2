"""UTF-8 validation (contract section 2): Utf8Validator and validate_utf8, both implementations."""

import array
import codecs

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wsframe.errors import InvalidUTF8

try:
    from wsframe import _native
except ImportError:
    _native = None

# the impl/both fixtures are stateless module choices: sharing them across examples is fine
property_settings = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

KERNELS = _native._utf8_kernels() if _native is not None else []


def outcome(impl, chunks, final=True):
    """What feeding chunks gives: ("ok", [feed results], bytes_fed) or ("error", message, offset, chunk index)."""
    validator = impl.Utf8Validator()
    results = []
    for index, chunk in enumerate(chunks):
        try:
            results.append(validator.feed(chunk, final and index == len(chunks) - 1))
        except InvalidUTF8 as exc:
            assert type(exc) is InvalidUTF8 and exc.close_code == 1007
            assert validator.bytes_fed == sum(len(bytes(c)) for c in chunks[: index + 1])
            return ("error", str(exc), exc.offset, index)
    assert validator.bytes_fed == sum(len(bytes(c)) for c in chunks)
    return ("ok", results, validator.bytes_fed)


def one_shot(impl, data):
    """validate_utf8's outcome: None, or (message, offset)."""
    try:
        impl.validate_utf8(data)
    except InvalidUTF8 as exc:
        assert type(exc) is InvalidUTF8 and exc.close_code == 1007
        return (str(exc), exc.offset)
    return None


def invalid(offset):
    return (f"invalid UTF-8 at byte {offset}", offset)


def truncated(offset):
    return (f"truncated UTF-8 sequence at byte {offset}", offset)


def has_valid_completion(prefix: bytes) -> bool:
    """Naive reference: some continuation makes prefix valid UTF-8 (only the next byte's range varies)."""
    for suffix_length in range(4):
        for first in range(0x80, 0xC0) if suffix_length else [None]:
            suffix = bytes([first]) + b"\x80" * (suffix_length - 1) if suffix_length else b""
            try:
                (prefix + suffix).decode("utf-8")
                return True
            except UnicodeDecodeError:
                pass
    return False


# ---- Markus Kuhn's decoder capability test and friends: (bytes, validate_utf8 outcome) ----

VALID = [
    b"",
    b"\x00",  # U+0000
    b"\x7f",  # U+007F
    b"\xc2\x80",  # U+0080
    b"\xdf\xbf",  # U+07FF
    b"\xe0\xa0\x80",  # U+0800
    b"\xed\x9f\xbf",  # U+D7FF
    b"\xee\x80\x80",  # U+E000
    b"\xef\xbf\xbd",  # U+FFFD
    b"\xef\xbf\xbe",  # U+FFFE noncharacter
    b"\xef\xbf\xbf",  # U+FFFF
    b"\xef\xb7\x90",  # U+FDD0 noncharacter
    b"\xf0\x90\x80\x80",  # U+10000
    b"\xf4\x8f\xbf\xbf",  # U+10FFFF
    "κόσμε".encode(),
    "a\x00b\x00".encode(),
]

INVALID = [
    # beyond U+10FFFF, and the old 5- and 6-byte forms
    (b"\xf4\x90\x80\x80", invalid(1)),
    (b"\xf7\xbf\xbf\xbf", invalid(0)),
    (b"\xf8\x88\x80\x80\x80", invalid(0)),
    (b"\xfc\x84\x80\x80\x80\x80", invalid(0)),
    # overlong '/' and NUL, and the largest overlongs
    (b"\xc0\xaf", invalid(0)),
    (b"\xe0\x80\xaf", invalid(1)),
    (b"\xf0\x80\x80\xaf", invalid(1)),
    (b"\xc0\x80", invalid(0)),
    (b"\xe0\x80\x80", invalid(1)),
    (b"\xf0\x80\x80\x80", invalid(1)),
    (b"\xc1\xbf", invalid(0)),
    (b"\xe0\x9f\xbf", invalid(1)),
    (b"\xf0\x8f\xbf\xbf", invalid(1)),
    # surrogates, single and paired
    (b"\xed\xa0\x80", invalid(1)),
    (b"\xed\xad\xbf", invalid(1)),
    (b"\xed\xae\x80", invalid(1)),
    (b"\xed\xaf\xbf", invalid(1)),
    (b"\xed\xb0\x80", invalid(1)),
    (b"\xed\xbe\x80", invalid(1)),
    (b"\xed\xbf\xbf", invalid(1)),
    (b"\xed\xa0\x80\xed\xb0\x80", invalid(1)),
    (b"ab\xed\xaf\xbf\xed\xbf\xbf", invalid(3)),
    # bytes that never appear
    *[(bytes([byte]), invalid(0)) for byte in [0xC0, 0xC1, *range(0xF5, 0x100)]],
    (b"\xfe\xfe\xff\xff", invalid(0)),
    # lone and stray continuation bytes
    (b"\x80", invalid(0)),
    (b"\xbf", invalid(0)),
    (bytes(range(0x80, 0xC0)), invalid(0)),
    (b"a\x80", invalid(1)),
    (b"\xc3\xa9\x80", invalid(2)),
    (b"\xe2\x82\xac\xbf", invalid(3)),
    (b"\xf0\x9f\x98\x80\x80", invalid(4)),
    # lonely start bytes followed by a space, and sequences missing their last byte
    (b"\xc2 ", invalid(1)),
    (b"\xe0 ", invalid(1)),
    (b"\xe1\x80 ", invalid(2)),
    (b"\xf0 ", invalid(1)),
    (b"\xf1\x80\x80 ", invalid(3)),
    (b"\xc0\xe0\x80\xf0\x80\x80\xdf\xef\xbf\xf7\xbf\xbf", invalid(0)),
    (b"\xe0\xa0\xc2\x80", invalid(2)),
    # truncated at the end
    (b"\xc2", truncated(1)),
    (b"\xe0", truncated(1)),
    (b"\xe0\xa0", truncated(2)),
    (b"\xed\x9f", truncated(2)),
    (b"\xf0\x90\x80", truncated(3)),
    (b"\xf4\x8f\xbf", truncated(3)),
    (b"a\xe2\x82", truncated(3)),
]


@pytest.mark.parametrize("data", VALID)
def test_valid_vectors(impl, data):
    assert one_shot(impl, data) is None
    assert outcome(impl, [data]) == ("ok", [True], len(data))


@pytest.mark.parametrize("data, expected", INVALID)
def test_invalid_vectors(impl, data, expected):
    assert one_shot(impl, data) == expected
    assert outcome(impl, [data])[1:3] == expected
    # with final=False only the invalid ones fail; a truncated stream is valid so far
    if expected[0].startswith("invalid"):
        assert outcome(impl, [data], final=False)[1:3] == expected
    else:
        assert outcome(impl, [data], final=False) == ("ok", [False], len(data))


@pytest.mark.parametrize(
    "data, offset",
    [(b"\xe0\x80", 1), (b"\xc0", 0), (b"\xed\xa0", 1), (b"\xf4\x90", 1), (b"\xf5", 0), (b"\xf0\x8f", 1)],
)
def test_fails_fast_on_incomplete_sequences(impl, data, offset):
    assert outcome(impl, [data], final=False)[1:3] == invalid(offset)


@pytest.mark.parametrize("data", [b"\xe0", b"\xe0\xa0", b"\xed\x9f", b"\xf4\x8f", b"\xf0\x90\x80", b"ab\xc3"])
def test_valid_prefix_not_final(impl, data):
    assert outcome(impl, [data], final=False) == ("ok", [False], len(data))


# ---- properties against CPython's decoder ----

def check_against_cpython(impl, data: bytes):
    result = one_shot(impl, data)
    try:
        data.decode("utf-8")
        valid = True
    except UnicodeDecodeError:
        valid = False
    assert (result is None) == valid
    if result is None:
        return
    message, offset = result
    if message.startswith("truncated"):
        assert offset == len(data)
        codecs.getincrementaldecoder("utf-8")().decode(data, False)  # valid so far
        assert has_valid_completion(data)
    else:
        assert message == f"invalid UTF-8 at byte {offset}" and 0 <= offset < len(data)
        codecs.getincrementaldecoder("utf-8")().decode(data[:offset], False)
        assert has_valid_completion(data[:offset])
        assert not has_valid_completion(data[: offset + 1])


text_bytes = st.text(st.characters(codec="utf-8"), max_size=80).map(lambda s: s.encode())


@st.composite
def mutated_text(draw):
    """Encoded text with a few bytes replaced, inserted or deleted, possibly truncated."""
    data = bytearray(draw(text_bytes))
    for _ in range(draw(st.integers(0, 3))):
        position = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["replace", "insert", "delete"]))
        byte = draw(st.sampled_from([0x00, 0x41, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF,
                                     0xE0, 0xED, 0xEF, 0xF0, 0xF4, 0xF5, 0xFF]) | st.integers(0, 255))
        if action == "insert":
            data.insert(position, byte)
        elif position < len(data):
            if action == "replace":
                data[position] = byte
            else:
                del data[position]
    return bytes(data[: draw(st.integers(0, len(data)))] if draw(st.booleans()) else data)


adversarial = st.one_of(st.binary(max_size=60), text_bytes, mutated_text())


@property_settings
@given(data=adversarial)
def test_agrees_with_cpython(impl, data):
    check_against_cpython(impl, data)


@st.composite
def chunked(draw, source=adversarial):
    data = draw(source)
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=6)))
    bounds = [0, *cuts, len(data)]
    return data, [data[a:b] for a, b in zip(bounds, bounds[1:])]


@property_settings
@given(case=chunked(), final=st.booleans())
def test_chunking_does_not_matter(impl, case, final):
    data, chunks = case
    whole = outcome(impl, [data], final)
    pieces = outcome(impl, chunks, final)
    if whole[0] == "ok":
        assert pieces[0] == "ok" and pieces[1][-1] == whole[1][0] and pieces[2] == len(data)
    else:
        assert pieces[1:3] == whole[1:3]
        failing = pieces[3]
        fed_before = sum(map(len, chunks[:failing]))
        # the error comes from the feed that delivers its byte (or the final feed, for truncation)
        assert fed_before <= whole[2] <= fed_before + len(chunks[failing])
    if final:
        assert (whole[0] == "ok") == (one_shot(impl, data) is None)


@property_settings
@given(case=chunked(), final=st.booleans(), kind=st.sampled_from([bytes, bytearray, memoryview]))
def test_native_matches_fallback(both, case, final, kind):
    native, fallback = both
    data, chunks = case
    chunks = [kind(chunk) for chunk in chunks]
    assert outcome(native, chunks, final) == outcome(fallback, chunks, final)
    assert one_shot(native, kind(data)) == one_shot(fallback, kind(data))


# ---- the validator's life cycle and arguments ----

def test_error_repeats_until_reset(impl):
    validator = impl.Utf8Validator()
    assert validator.feed(b"ab\xc3") is False
    with pytest.raises(InvalidUTF8) as first:
        validator.feed(b"\xa9\xff")
    assert (str(first.value), first.value.offset) == invalid(4)
    assert validator.bytes_fed == 5
    for later in [b"", b"valid", b"\xff"]:
        with pytest.raises(InvalidUTF8) as again:
            validator.feed(later, final=True)
        assert (str(again.value), again.value.offset) == invalid(4)
        assert again.value is not first.value
    validator.reset()
    assert validator.bytes_fed == 0
    with pytest.raises(InvalidUTF8) as fresh:  # a fresh stream: now a stray continuation byte
        validator.feed(b"\xa9")
    assert fresh.value.offset == 0
    validator.reset()
    assert validator.feed("é".encode()) is True and validator.bytes_fed == 2


def test_truncation_error_repeats(impl):
    validator = impl.Utf8Validator()
    with pytest.raises(InvalidUTF8) as first:
        validator.feed(b"\xe2\x82", final=True)
    assert (str(first.value), first.value.offset) == truncated(2)
    with pytest.raises(InvalidUTF8) as again:
        validator.feed(b"\xac")
    assert (str(again.value), again.value.offset) == truncated(2)


def test_reset_clears_a_partial_sequence(impl):
    validator = impl.Utf8Validator()
    assert validator.feed(b"\xf0\x9f") is False
    validator.reset()
    with pytest.raises(InvalidUTF8) as exc:
        validator.feed(b"\x98\x80")
    assert exc.value.offset == 0


def test_bytes_fed_counts_every_feed(impl):
    validator = impl.Utf8Validator()
    assert validator.bytes_fed == 0
    for chunk, expected in [(b"", True), (b"\xf0", False), (b"\x9f\x98", False), (b"", False), (b"\x80x", True)]:
        assert validator.feed(chunk) is expected
    assert validator.bytes_fed == 5
    with pytest.raises(AttributeError):
        validator.bytes_fed = 0


def test_final_on_complete_stream(impl):
    validator = impl.Utf8Validator()
    assert validator.feed(b"\xe2\x82") is False
    assert validator.feed(b"\xac", final=True) is True
    assert validator.feed(b"", final=True) is True


@pytest.mark.parametrize(
    "make", [bytearray, memoryview, lambda b: memoryview(bytearray(b)), lambda b: array.array("B", b)]
)
def test_bytes_like_inputs(impl, make):
    data = "€uro".encode() + b"\xff"
    assert one_shot(impl, make(data)) == invalid(6)
    assert outcome(impl, [make(data[:2]), make(data[2:])])[1:3] == invalid(6)


def test_raw_bytes_of_wide_formats(impl):
    words = array.array("H", [0xA9C3, 0x0041])  # little- or big-endian: the raw bytes count
    raw = words.tobytes()
    expected = one_shot(impl, raw)
    assert one_shot(impl, words) == expected
    assert outcome(impl, [words]) == outcome(impl, [raw])


@pytest.mark.parametrize("bad", ["text", 42, None, [1, 2], memoryview(b"abcdef")[::2]])
def test_rejects_non_buffers(impl, bad):
    message = f"expected a contiguous bytes-like object, not {type(bad).__name__}"
    with pytest.raises(TypeError) as exc:
        impl.validate_utf8(bad)
    assert str(exc.value) == message
    validator = impl.Utf8Validator()
    with pytest.raises(TypeError) as exc:
        validator.feed(bad)
    assert str(exc.value) == message
    assert validator.bytes_fed == 0 and validator.feed(b"ok") is True


# ---- every native kernel on this CPU, around its block boundaries ----

@pytest.fixture(params=KERNELS)
def kernel(request):
    """Switches the native validator to one kernel; restores the default afterwards."""
    default = _native._utf8_kernel()
    _native._use_utf8_kernel(request.param)
    assert _native._utf8_kernel() == request.param
    yield request.param
    _native._use_utf8_kernel(default)


def test_unknown_kernel():
    if _native is None:
        pytest.skip("native extension not built")
    with pytest.raises(ValueError):
        _native._use_utf8_kernel("no-such-kernel")
    assert _native._utf8_kernel() in _native._utf8_kernels()


LONG_ASCII = bytes(range(32, 127)) * 5
LONG_MIXED = ("Latin é ü Кириллица 中文字符 😀🎉 " * 12).encode()
ERROR_PATTERNS = [b"\xff", b"\x80", b"\xc0\xaf", b"\xe0\x80", b"\xed\xa0\x80", b"\xf4\x90\x80\x80",
                  b"\xc3A", b"\xe2\x82A", b"\xf0\x9f\x98A", b"\xf8"]


def boundaries(data: bytes):
    return [i for i in range(len(data) + 1) if i == len(data) or (data[i] & 0xC0) != 0x80]


def test_kernel_on_valid_texts(both, kernel):
    native, fallback = both
    for text in [LONG_ASCII, LONG_MIXED, LONG_ASCII + LONG_MIXED + LONG_ASCII]:
        for end in range(len(text) + 1):  # every length, including those ending inside a sequence
            piece = text[:end]
            assert outcome(native, [piece], final=False) == outcome(fallback, [piece], final=False)
            assert one_shot(native, piece) == one_shot(fallback, piece)


@pytest.mark.parametrize("pattern", ERROR_PATTERNS)
def test_kernel_errors_at_every_offset(both, kernel, pattern):
    native, fallback = both
    for text in [LONG_ASCII, LONG_MIXED]:
        starts = boundaries(text)
        for position in range(131):
            start = min(s for s in starts if s >= position)  # a character boundary, so the error is the pattern's
            data = text[:start] + pattern + text[start:]
            expected = one_shot(fallback, data)
            assert expected is not None
            assert one_shot(native, data) == expected
            assert outcome(native, [data], final=False) == outcome(fallback, [data], final=False)
            # also with the bulk part starting after a sequence carried over from a previous feed
            lead = "中".encode()
            assert outcome(native, [lead[:1], lead[1:] + data]) == outcome(fallback, [lead[:1], lead[1:] + data])


def test_kernel_offset_inside_broken_sequence(both, kernel):
    """A multi-byte sequence cut short by ASCII at every position of a long text."""
    native, fallback = both
    for position in range(len(LONG_MIXED) - 1):
        if (LONG_MIXED[position] & 0xC0) == 0x80:
            data = LONG_MIXED[:position] + b"A" + LONG_MIXED[position + 1:]
            assert one_shot(native, data) == one_shot(fallback, data) == invalid(position)


@pytest.mark.parametrize("pattern", ERROR_PATTERNS)
def test_kernels_errors_around_group_boundaries(both, pattern):
    """Errors beside each 64-byte boundary of texts long enough for several groups of blocks (the bulk
    kernels test a group of up to 4 blocks at once and skip ASCII runs): every kernel gives the exact offset."""
    native, fallback = both
    default = native._utf8_kernel()
    try:
        for text in [LONG_MIXED * 3, LONG_ASCII * 3 + LONG_MIXED + LONG_ASCII * 3]:
            starts = boundaries(text)
            for target in sorted({base + d for base in range(64, len(text) - 64, 64) for d in (-3, -2, -1, 0, 1)}):
                start = min(s for s in starts if s >= target)
                data = text[:start] + pattern + text[start:]
                expected = one_shot(fallback, data)
                assert expected is not None
                for name in KERNELS:
                    native._use_utf8_kernel(name)
                    assert one_shot(native, data) == expected, (name, start)
    finally:
        native._use_utf8_kernel(default)


def test_kernels_at_every_address_alignment(both):
    """The bulk kernels go on from the first aligned address after their first block, by a block that
    overlaps it: texts starting at each of 64 addresses in a row, valid and with errors in, between and
    after those first blocks, give every kernel the fallback's outcome."""
    native, fallback = both
    default = native._utf8_kernel()
    buffer = bytearray(64 + 1024)
    try:
        for text in [LONG_ASCII, LONG_MIXED]:
            starts = boundaries(text)
            cases = [text]
            for pattern in (b"\xff", b"\xe2\x82A", b"\xed\xa0\x80"):
                for position in range(0, 200, 3):
                    start = min(s for s in starts if s >= position)
                    cases.append(text[:start] + pattern + text[start:])
            for data in cases:
                expected = one_shot(fallback, data)
                for name in KERNELS:
                    native._use_utf8_kernel(name)
                    for shift in range(64):
                        buffer[shift : shift + len(data)] = data
                        view = memoryview(buffer)[shift : shift + len(data)]
                        assert one_shot(native, view) == expected, (name, shift, data)
    finally:
        native._use_utf8_kernel(default)


@settings(property_settings, max_examples=100)
@given(data=st.data())
def test_kernel_chunked_long_inputs(both, data):
    native, fallback = both
    text = data.draw(st.text(st.characters(codec="utf-8"), min_size=100, max_size=600)).encode()
    text = data.draw(st.sampled_from([text, LONG_ASCII + text, text + LONG_MIXED]))
    if data.draw(st.booleans()):
        position = data.draw(st.integers(0, len(text) - 1))
        text = text[:position] + bytes([data.draw(st.integers(0x80, 0xFF))]) + text[position + 1:]
    cuts = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=4)))
    bounds = [0, *cuts, len(text)]
    chunks = [text[a:b] for a, b in zip(bounds, bounds[1:])]
    expected = outcome(fallback, chunks)
    default = native._utf8_kernel()
    try:
        for name in KERNELS:
            native._use_utf8_kernel(name)
            assert outcome(native, chunks) == expected, name
            assert one_shot(native, text) == one_shot(fallback, text), name
    finally:
        native._use_utf8_kernel(default)


def test_surrogate_prefix_fails_in_the_feed_that_completes_it(impl):
    validator = impl.Utf8Validator()
    assert validator.feed(b"ok\xed") is False
    with pytest.raises(InvalidUTF8) as exc:
        validator.feed(b"\xa0")
    assert exc.value.offset == 3

