"""The hot path's selection: both implementations export one API, and the package uses the chosen one."""

import os
import subprocess
import sys

import wsframe
from wsframe import _fallback, _hotpath


def test_both_implementations_export_the_same_names(both):
    native, fallback = both
    assert sorted(native.__all__) == sorted(fallback.__all__)
    for name in fallback.__all__:
        assert hasattr(native, name) and hasattr(fallback, name), name


def test_package_reexports_the_active_implementation():
    assert wsframe.IMPLEMENTATION in ("native", "fallback")
    for name in _fallback.__all__:
        assert getattr(wsframe, name) is getattr(_hotpath, name)


def test_environment_variable_forces_the_fallback():
    code = "import wsframe, wsframe._fallback as f; print(wsframe.IMPLEMENTATION, wsframe.mask is f.mask)"
    env = dict(os.environ, WSFRAME_PURE_PYTHON="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["fallback", "True"]
