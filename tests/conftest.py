"""Test fixtures: every hot-path test runs against both implementations.

``WSFRAME_REQUIRE_EXTENSION=1`` (set by .ci/run) turns a missing native extension into an error instead
of a skip, so that a broken build can never pass as "fallback only".
"""

import os

import pytest

import wsframe
from wsframe import _fallback

try:
    from wsframe import _native
except ImportError as exc:
    _native = None
    _native_error = exc

REQUIRE_NATIVE = os.environ.get("WSFRAME_REQUIRE_EXTENSION") == "1"


def pytest_report_header(config):
    where = os.path.dirname(wsframe.__file__)
    native = "built" if _native is not None else f"NOT built ({_native_error})"
    from wsframe.connection import Connection

    layers = "compiled" if Connection.__mro__[1].__module__.endswith("_c") else "interpreted"
    lines = [
        f"wsframe from {where}; native extension {native}; default hot path: {wsframe.IMPLEMENTATION}; "
        f"per-read layers (connection and asyncio cores): {layers}"
    ]
    if _native is not None:
        # The kernel tests and fuzz targets switch through every kernel this CPU runs, and only those.
        lines.append(
            "native kernels exercised (those this CPU runs; any other is not): "
            f"mask {', '.join(_native._mask_kernels())} (dispatch picks {_native._mask_kernel()}); "
            f"UTF-8 {', '.join(_native._utf8_kernels())} (dispatch picks {_native._utf8_kernel()})"
        )
    return lines


def pytest_sessionstart(session):
    if REQUIRE_NATIVE and _native is None:
        raise pytest.UsageError(f"WSFRAME_REQUIRE_EXTENSION=1 but wsframe._native does not import: {_native_error}")


@pytest.fixture(params=["native", "fallback"])
def impl(request):
    """The hot-path module under test: ``wsframe._native`` or ``wsframe._fallback``."""
    if request.param == "fallback":
        return _fallback
    if _native is None:
        pytest.skip("native extension not built")
    return _native


@pytest.fixture
def both():
    """Both implementations, for tests that compare them; the native one is required unless not built."""
    if _native is None:
        pytest.skip("native extension not built")
    return _native, _fallback


def pytest_collection_modifyitems(config, items):
    """With WSFRAME_PURE_PYTHON=1 (the suite's second pass), run only the layers above the hot path.

    The hot-path tests already cover both implementations through the ``impl``/``both`` fixtures in
    the first pass; the second pass exists to run everything else over the pure-Python hot path.
    """
    if os.environ.get("WSFRAME_PURE_PYTHON") != "1":
        return
    hot_path = [item for item in items if {"impl", "both"} & set(getattr(item, "fixturenames", ()))]
    if hot_path:
        config.hook.pytest_deselected(items=hot_path)
        items[:] = [item for item in items if item not in hot_path]
