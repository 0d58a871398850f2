"""Buffer access shared by the pure-Python hot path: the same errors as src/buffers.pxi."""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time
if TYPE_CHECKING:
    from typing_extensions import Buffer


def contiguous_bytes(obj: Buffer) -> memoryview:
    """A flat unsigned-byte view of obj's raw bytes; TypeError for non-buffers and non-contiguous buffers."""
    view: memoryview | None
    try:
        view = memoryview(obj)
    except TypeError:
        view = None
    if view is None or not view.c_contiguous:
        raise TypeError(f"expected a contiguous bytes-like object, not {type(obj).__name__}")
    if view.format != "B" or view.ndim != 1:
        view = view.cast("B")
    return view
