"""The hot path's selection: both implementations export one API, and the package uses the chosen one."""

import importlib
import inspect
import os
import subprocess
import sys
import sysconfig

import pytest

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


def _public_members(obj):
    """(name, object) for obj itself and, for a class, its public methods and properties."""
    yield "", obj
    if isinstance(obj, type):
        for name in sorted(vars(obj)):
            if not name.startswith("_"):
                yield name, getattr(obj, name)


def _parameters(function):
    """Names, kinds and defaults of the parameters, without annotations (only the fallback has them)."""
    return [(p.name, p.kind, p.default) for p in inspect.signature(function).parameters.values()]


def test_both_implementations_document_and_sign_alike(both):
    native, fallback = both
    for name in fallback.__all__:
        native_members = dict(_public_members(getattr(native, name)))
        fallback_members = dict(_public_members(getattr(fallback, name)))
        assert native_members.keys() == fallback_members.keys(), name
        for member, fallback_object in fallback_members.items():
            native_object = native_members[member]
            where = f"{name}.{member}" if member else name
            assert inspect.getdoc(native_object) == inspect.getdoc(fallback_object), where
            assert inspect.getdoc(fallback_object), f"{where} has no docstring"
            if callable(fallback_object) and not isinstance(fallback_object, type):
                assert _parameters(native_object) == _parameters(fallback_object), where


def test_package_top_level_has_the_connections_events_and_errors():
    from wsframe import connection, errors, events

    for module in (connection, errors, events):
        for name in module.__all__:
            if name != "Connection":  # the shared base class stays in wsframe.connection
                assert getattr(wsframe, name) is getattr(module, name), name
                assert name in wsframe.__all__, name


# Modules of the layers above that the native build also compiles (setup.py), chosen by _hotpath.compiled;
# not on free-threaded builds.
COMPILED_LAYERS = ("wsframe._connection_core", "wsframe.asyncio._core")
FREE_THREADED = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))


@pytest.mark.parametrize("source", COMPILED_LAYERS)
def test_compiled_layers_follow_the_hot_path(source):
    """With the fallback the source runs; with the native hot path its compiled twin, wherever it was
    built (and it must be where the extension is required)."""
    chosen = _hotpath.compiled(source).__name__
    if wsframe.IMPLEMENTATION == "fallback":
        assert chosen == source
    elif os.environ.get("WSFRAME_REQUIRE_EXTENSION") == "1" and not FREE_THREADED:
        assert chosen == source + "_c"
    assert chosen in (source, source + "_c")


def test_environment_variable_forces_the_layers_source():
    code = (
        "from wsframe.connection import Connection; from wsframe.asyncio.protocol import WebSocket;"
        "print(Connection.__mro__[1].__module__, WebSocket.__mro__[1].__module__)"
    )
    env = dict(os.environ, WSFRAME_PURE_PYTHON="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == list(COMPILED_LAYERS)


@pytest.mark.parametrize("source", COMPILED_LAYERS)
def test_compiled_layer_matches_its_source(source):
    """One source, so behaviour cannot differ; this checks the build: the compiled class is an extension
    type (its state in C fields, nothing else settable) with the source's methods, docstrings and signatures."""
    original = importlib.import_module(source)
    try:
        compiled = importlib.import_module(source + "_c")
    except ImportError:
        if os.environ.get("WSFRAME_REQUIRE_EXTENSION") == "1" and not FREE_THREADED:
            raise
        pytest.skip(f"{source}_c not built")
    assert inspect.getdoc(compiled) == inspect.getdoc(original)
    assert compiled.__all__ == original.__all__
    for name in original.__all__:
        source_class, compiled_class = getattr(original, name), getattr(compiled, name)
        assert inspect.getdoc(compiled_class) == inspect.getdoc(source_class), name
        methods = [member for member, value in vars(source_class).items() if inspect.isfunction(value)]
        assert methods, name
        compiled_methods = [member for member, value in vars(compiled_class).items() if callable(value)]
        assert sorted(member for member in compiled_methods if not member.startswith("__")) == sorted(methods), name
        for member in methods:
            source_method, compiled_method = getattr(source_class, member), getattr(compiled_class, member)
            assert inspect.getdoc(compiled_method) == inspect.getdoc(source_method), f"{name}.{member}"
            assert _parameters(compiled_method) == _parameters(source_method), f"{name}.{member}"
        with pytest.raises(AttributeError):
            compiled_class().not_a_field = 1
