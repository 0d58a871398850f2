"""Replays the fuzz targets' seed corpus and every input fuzzing found (tests/fuzz/corpus/<target>/).

So the normal test suite runs each target, without atheris, on inputs that reach every mode; a crash or
mismatch that fuzzing finds is added to the corpus and stays a test.
"""

import importlib
import os

import pytest

from fuzz import TARGETS

CORPUS = os.path.join(os.path.dirname(__file__), "fuzz", "corpus")
CASES = [(target, name) for target in TARGETS for name in sorted(os.listdir(os.path.join(CORPUS, target)))]


def test_every_target_has_a_seed_corpus():
    for target in TARGETS:
        assert len(os.listdir(os.path.join(CORPUS, target))) >= 15, target


@pytest.mark.parametrize(("target", "name"), CASES, ids=[f"{target}/{name}" for target, name in CASES])
def test_corpus_input(target, name):
    with open(os.path.join(CORPUS, target, name), "rb") as file:
        data = file.read()
    importlib.import_module(f"fuzz.{target}").test_one_input(data)
