"""Replays the fuzz targets' seed corpus and every input fuzzing found (tests/fuzz/corpus/<target>/).

So the normal test suite runs each target, without atheris, on inputs that reach every mode; a crash or
mismatch that fuzzing finds is added to the corpus and stays a test. The hot-path targets compare the
two implementations (the ``both`` fixture: first pass only); the layers above run in both passes.
"""

import importlib
import os
import types

import pytest

from fuzz import TARGETS
from wsframe import _fallback

CORPUS = os.path.join(os.path.dirname(__file__), "fuzz", "corpus")
HOT_PATH_TARGETS = ("frame_decoder", "utf8")


def _cases(targets):
    cases = [(target, name) for target in targets for name in sorted(os.listdir(os.path.join(CORPUS, target)))]
    return pytest.mark.parametrize(("target", "name"), cases, ids=[f"{target}/{name}" for target, name in cases])


def _replay(target, name):
    with open(os.path.join(CORPUS, target, name), "rb") as file:
        data = file.read()
    importlib.import_module(f"fuzz.{target}").test_one_input(data)


def test_every_target_has_a_seed_corpus():
    assert set(HOT_PATH_TARGETS) <= set(TARGETS)
    for target in TARGETS:
        assert len(os.listdir(os.path.join(CORPUS, target))) >= 15, target


@_cases(HOT_PATH_TARGETS)
def test_hot_path_corpus_input(target, name, both):
    _replay(target, name)


@_cases([target for target in TARGETS if target not in HOT_PATH_TARGETS])
def test_corpus_input(target, name):
    _replay(target, name)


def test_decoder_target_reports_a_decoder_that_differs(monkeypatch):
    class FrameDropper(_fallback.FrameDecoder):
        def decode(self, data):
            frames, consumed, error = super().decode(data)
            return frames[1:], consumed, error

    monkeypatch.setattr(importlib.import_module("fuzz.frame_decoder"), "_native", types.SimpleNamespace(
        FrameDecoder=FrameDropper))
    with pytest.raises(AssertionError, match="native"):
        _replay("frame_decoder", "rfc-masked-text")


def test_utf8_target_reports_a_validator_that_differs_from_the_codec(monkeypatch):
    lenient = types.SimpleNamespace(__name__="lenient", validate_utf8=lambda data: None,
                                    Utf8Validator=_fallback.Utf8Validator)
    monkeypatch.setattr(importlib.import_module("fuzz.utf8"), "IMPLEMENTATIONS", (lenient,))
    with pytest.raises(AssertionError, match="lenient.validate_utf8"):
        _replay("utf8", "invalid-ff-at-start")
