"""wsframe/_native.pyi, the extension's types, states the fallback's signatures: the same parameters with the
same annotations. (tools/typecheck.sh checks the stub against the built extension with mypy's stubtest.)"""

import ast
import inspect
from pathlib import Path

import pytest

import wsframe
from wsframe import _fallback


def _stub_functions():
    """{"name" or "Class.method": ast function} of the stub's module-level functions and class methods."""
    tree = ast.parse(Path(wsframe.__file__).with_name("_native.pyi").read_text())
    functions = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            functions[node.name] = node
        elif isinstance(node, ast.ClassDef):
            functions[node.name] = None  # a class: its methods follow
            for member in node.body:
                if isinstance(member, ast.FunctionDef):
                    functions[f"{node.name}.{member.name}"] = member
    return functions


STUB = _stub_functions()


def _text(annotation):
    return inspect.Parameter.empty if annotation is None else ast.unparse(annotation)


def _value(default):
    return inspect.Parameter.empty if default is None else ast.literal_eval(default)


def _stub_signature(function):
    """[(name, kind, default, annotation)] and the return annotation; annotations as source text."""
    arguments = function.args
    assert arguments.vararg is None and arguments.kwarg is None, function.name  # none in this API
    positional = [(node, inspect.Parameter.POSITIONAL_ONLY) for node in arguments.posonlyargs]
    positional += [(node, inspect.Parameter.POSITIONAL_OR_KEYWORD) for node in arguments.args]
    keyword = [(node, inspect.Parameter.KEYWORD_ONLY) for node in arguments.kwonlyargs]
    defaults = [None] * (len(positional) - len(arguments.defaults)) + arguments.defaults + arguments.kw_defaults
    parameters = [
        (node.arg, kind, _value(default), _text(node.annotation))
        for (node, kind), default in zip(positional + keyword, defaults)
    ]
    return parameters, _text(function.returns)


def _fallback_signature(function):
    """The same for a fallback function: its annotations are source text (``from __future__ import annotations``)."""
    signature = inspect.signature(function)
    parameters = [(p.name, p.kind, p.default, p.annotation) for p in signature.parameters.values()]
    return parameters, signature.return_annotation


def _fallback_functions():
    """("name" or "Class.method", function) of every public function, method and property of the fallback."""
    for name in _fallback.__all__:
        obj = getattr(_fallback, name)
        if not isinstance(obj, type):
            yield name, obj
            continue
        for member, value in vars(obj).items():
            if member == "__init__" or not member.startswith("_"):
                yield f"{name}.{member}", value.fget if isinstance(value, property) else value


FALLBACK = dict(_fallback_functions())


@pytest.mark.parametrize("name", list(FALLBACK))
def test_stub_states_the_fallback_signature(name):
    assert name in STUB, f"{name} is missing from _native.pyi"
    assert _stub_signature(STUB[name]) == _fallback_signature(FALLBACK[name])


def test_stub_has_no_public_name_that_the_fallback_lacks():
    public = {name for name in STUB if not name.rpartition(".")[2].startswith("_") or name.endswith(".__init__")}
    assert public - set(_fallback.__all__) - set(FALLBACK) == set()


def test_a_differing_annotation_is_noticed():
    changed = ast.parse("def mask(data: bytes, key: Buffer, phase: int = 0) -> bytes: ...").body[0]
    assert _stub_signature(changed) != _fallback_signature(_fallback.mask)
