"""Both UTF-8 validators (one-shot and incremental, every native kernel) against CPython's UTF-8 codec.

The expected fail-fast offset is derived from the codec alone: the first byte after which no
continuation can make the stream valid (a prefix stays valid while some completion decodes).
"""

from __future__ import annotations

import itertools

from wsframe import _fallback
from wsframe.errors import InvalidUTF8

from .reader import FuzzInput, code_points, native_kernels, read_splits, split

try:
    from wsframe import _native
except ImportError:
    _native = None

IMPLEMENTATIONS = (_fallback,) if _native is None else (_native, _fallback)
# Enough second, third and fourth bytes to complete every valid sequence start (E0 needs A0.., F0 90..).
_COMPLETIONS = [b""] + [bytes(c) for n in (1, 2, 3) for c in itertools.product((0x80, 0x90, 0xA0), repeat=n)]


def _can_complete(sequence: bytes) -> bool:
    """Whether the start of a character can still become one valid character."""
    for completion in _COMPLETIONS:
        try:
            if len((sequence + completion).decode("utf-8")) == 1:
                return True
        except UnicodeDecodeError:
            pass
    return False


def expected_error(data: bytes):
    """None for valid UTF-8, else (message, offset) as the contract words it, from the codec."""
    try:
        data.decode("utf-8")
        return None
    except UnicodeDecodeError as exc:
        start = exc.start  # every byte before it is whole, valid characters
    for end in range(start + 1, min(start + 4, len(data)) + 1):
        if not _can_complete(data[start:end]):
            return f"invalid UTF-8 at byte {end - 1}", end - 1
    return f"truncated UTF-8 sequence at byte {len(data)}", len(data)


def _ends_on_boundary(data: bytes) -> bool:
    try:
        data.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def _feed(validator, chunk, final):
    try:
        return validator.feed(chunk, final), validator.bytes_fed
    except InvalidUTF8 as exc:
        return (str(exc), exc.offset), validator.bytes_fed


def _pattern(inp: FuzzInput, kind: int) -> bytes:
    """The data: raw bytes, or text made of the input (valid UTF-8, then maybe corrupted at one byte)."""
    raw = inp.rest()
    if kind == 0 or len(raw) < 2:
        return raw
    position, value = raw[0], raw[1]
    text = raw[2:].decode("latin-1") if kind == 1 else code_points(raw[2:])
    encoded = bytearray(text.encode("utf-8", "surrogatepass"))
    # Whole-block runs of ASCII and multi-byte text meet the SIMD kernels' 16/32/64-byte blocks.
    encoded = encoded * (1 + position % 5)
    if encoded and kind == 3:
        encoded[position * 7 % len(encoded)] = value
    return bytes(encoded)


def test_one_input(data: bytes) -> None:
    inp = FuzzInput(data)
    sizes = read_splits(inp)
    kind = inp.byte() & 3
    with native_kernels(inp):
        stream = _pattern(inp, kind)
        error = expected_error(stream)
        chunks = split(stream, sizes)
        # What each feed must return: True/False until the feed that reaches the bad byte raises.
        expected = []
        fed = 0
        for index, chunk in enumerate(chunks):
            fed += len(chunk)
            final = index == len(chunks) - 1
            if error is not None and (fed > error[1] or final):
                expected.append((error, fed))
                break
            expected.append((_ends_on_boundary(stream[:fed]), fed))
        for impl in IMPLEMENTATIONS:
            name = impl.__name__
            try:
                impl.validate_utf8(stream)
                got = None
            except InvalidUTF8 as exc:
                got = str(exc), exc.offset
            assert got == error, f"{name}.validate_utf8: {got}, codec: {error}"
            validator = impl.Utf8Validator()
            results = []
            for index, chunk in enumerate(chunks[: len(expected)]):
                results.append(_feed(validator, chunk, index == len(chunks) - 1))
            assert results == expected, f"{name}.Utf8Validator.feed: {results}, codec: {expected}"
            if error is not None:  # a failed validator keeps its error until reset
                assert _feed(validator, b"a", False)[0] == error, f"{name}: error not kept"
            validator.reset()
            assert _feed(validator, stream, True) == (error or True, len(stream)), f"{name}: after reset"
