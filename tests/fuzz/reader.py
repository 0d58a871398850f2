"""Turns a fuzz input into choices: a few leading bytes pick options, the rest is data."""

from __future__ import annotations

import contextlib

try:
    from wsframe import _native
except ImportError:
    _native = None


class FuzzInput:
    """Reads choices from the front of a fuzz input; past its end every read gives zeros (or empty)."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    @property
    def remaining(self) -> int:
        return len(self._data) - self._pos

    def byte(self) -> int:
        if self._pos >= len(self._data):
            return 0
        self._pos += 1
        return self._data[self._pos - 1]

    def int(self, size: int) -> int:
        return int.from_bytes(self.bytes(size).ljust(size, b"\0"), "big")

    def bool(self) -> bool:
        return bool(self.byte() & 1)

    def choice(self, options):
        return options[self.byte() % len(options)]

    def bytes(self, size: int) -> bytes:
        data = self._data[self._pos : self._pos + size]
        self._pos += len(data)
        return data

    def rest(self) -> bytes:
        return self.bytes(self.remaining)


def code_points(raw: bytes) -> str:
    """Three bytes per code point, every one possible: encode with "surrogatepass" for ED A0..BF ..."""
    return "".join(chr(int.from_bytes(raw[i : i + 3], "big") % 0x110000) for i in range(0, len(raw) - 2, 3))


def read_splits(inp: FuzzInput) -> list[int]:
    """Read sizes for cutting data into reads: empty (one read), else sizes used in turn, 0 included."""
    sizes = [inp.byte() for _ in range(inp.byte() % 16)]
    # Mostly small reads (header boundaries are in the first few bytes), now and then a large one.
    return [size if size < 200 else (size - 200) * 64 for size in sizes]


def split(data: bytes, sizes: list[int], max_reads: int = 64) -> list[bytes]:
    """``data`` cut into reads of the given sizes in turn (0: an empty read), at most ``max_reads``."""
    chunks = []
    pos = 0
    for turn in range(max_reads - 1 if any(sizes) else 0):
        if pos >= len(data):
            return chunks
        size = sizes[turn % len(sizes)]
        chunks.append(data[pos : pos + size])
        pos += size
    chunks.append(data[pos:])
    return chunks


@contextlib.contextmanager
def native_kernels(inp: FuzzInput):
    """Makes the input's choice of native mask and UTF-8 kernels active; restores the defaults after.

    Reads its two bytes whether or not the extension is built, so that an input means the same anywhere.
    """
    mask_choice, utf8_choice = inp.byte(), inp.byte()
    if _native is None:
        yield
        return
    mask_default, utf8_default = _native._mask_kernel(), _native._utf8_kernel()
    mask_kernels, utf8_kernels = _native._mask_kernels(), _native._utf8_kernels()
    _native._use_mask_kernel(mask_kernels[mask_choice % len(mask_kernels)])
    _native._use_utf8_kernel(utf8_kernels[utf8_choice % len(utf8_kernels)])
    try:
        yield
    finally:
        _native._use_mask_kernel(mask_default)
        _native._use_utf8_kernel(utf8_default)
